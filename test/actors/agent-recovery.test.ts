/**
 * The recovery decision of a restarted agent, per checkpointed executor, as a table: what it finds
 * (container alive or dead; executor re-registers, registers anew, or stays silent) → the updates
 * it produces and their reasons. Pure handlers, no runtime.
 *
 * Mirrors Mesos `SlaveRecoveryTest.RecoverTerminatedExecutor`, `RecoverUnregisteredExecutor`,
 * `ReconnectExecutor`, `RecoverCompletedExecutor` and the re-registration timeout.
 */
import test from 'ava';
import {
  DEFAULT_AGENT_FLAGS,
  executorExited,
  initialAgentState,
  isIdle,
  recover,
  recoveryDone,
  recoveryTimedOut,
  registerExecutor,
  reregisterExecutor,
  type AgentEmitted,
  type AgentEnv,
  type RecoveredAgent,
  type RecoveredExecutor,
} from '../../actors/agent/state.ts';
import type { StatusUpdateRecord, TaskInfo } from '../../protocols/records.ts';
import { executorPid } from '../../protocols/pid.ts';

const SELF = 'mesos.t.agent.anonymous.a1';
let ids = 0;
const env = (): AgentEnv => ({
  self: SELF,
  info: { hostname: 'h', resources: [], attributes: [] },
  flags: DEFAULT_AGENT_FLAGS,
  now: 1000,
  newId: () => `id-${++ids}`,
});

const task = (taskId: string): TaskInfo => ({ taskId, name: taskId, agentId: 'S1', resources: [], command: { value: 'sleep 1' } });
const update = (taskId: string, state: StatusUpdateRecord['status']['state'], uuid: string): StatusUpdateRecord => ({
  frameworkId: 'F1', status: { taskId, state, timestamp: 1 }, uuid,
});

function executor(alive: boolean, tasks: RecoveredExecutor['tasks'], containerId = 'c1'): RecoveredExecutor {
  return { frameworkId: 'F1', info: { executorId: 't1', command: { value: '' }, resources: [] }, commandExecutor: true, containerId, alive, tasks };
}

function start(r: RecoveredAgent) {
  const s = { ...initialAgentState(), agentId: 'S1' };
  const out = recover(s, r, env());
  return { s, out };
}

const framework = { id: 'F1', name: 'f', checkpoint: true };
const updatesOf = (out: AgentEmitted[]) => out.flatMap((o) => (o.type === 'send' && o.msg.type === 'StatusUpdate' ? [o.msg.body.update] : []));
const sendsOf = (out: AgentEmitted[], type: string) => out.filter((o) => o.type === 'send' && o.msg.type === type);

test('a dead executor: its running task fails with REASON_EXECUTOR_TERMINATED; recovery has nobody to wait for', (t) => {
  const { s } = start({ frameworks: [framework], executors: [executor(false, [{ info: task('t1'), updates: [update('t1', 'TASK_RUNNING', 'u1')], acked: ['u1'] }])] });
  const st = s.streams.get('F1/t1')!;
  t.is(st.pending.length, 1);
  t.is(st.pending[0]!.status.state, 'TASK_FAILED');
  t.is(st.pending[0]!.status.reason, 'REASON_EXECUTOR_TERMINATED');
  t.true(recoveryDone(s));
});

test('a dead executor whose task had finished (update acknowledged): nothing to report, nothing kept', (t) => {
  const { s } = start({ frameworks: [framework], executors: [executor(false, [{ info: task('t1'), updates: [update('t1', 'TASK_FINISHED', 'u1')], acked: ['u1'] }])] });
  t.is(s.streams.get('F1/t1')?.pending.length ?? 0, 0);
  t.true(isIdle(s));
});

test('a dead executor with a terminal update not yet acknowledged: that update is resent, no other is made', (t) => {
  const { s } = start({ frameworks: [framework], executors: [executor(false, [{ info: task('t1'), updates: [update('t1', 'TASK_RUNNING', 'u1'), update('t1', 'TASK_FINISHED', 'u2')], acked: ['u1'] }])] });
  t.deepEqual(s.streams.get('F1/t1')!.pending.map((u) => u.status.state), ['TASK_FINISHED']);
});

test('a live executor is asked to re-register at its derived PID; recovery waits for it', (t) => {
  const { s, out } = start({ frameworks: [framework], executors: [executor(true, [{ info: task('t1'), updates: [update('t1', 'TASK_RUNNING', 'u1')], acked: ['u1'] }])] });
  const reconnect = sendsOf(out, 'ReconnectExecutor');
  t.is(reconnect.length, 1);
  t.is(reconnect[0]!.type === 'send' ? reconnect[0]!.to : '', executorPid('t', 'c1'));
  t.false(recoveryDone(s));
});

test('a live executor that re-registers with an unacknowledged update: the update is taken (checkpointed first), acknowledged, and recovery is over', (t) => {
  const { s } = start({ frameworks: [framework], executors: [executor(true, [{ info: task('t1'), updates: [update('t1', 'TASK_RUNNING', 'u1')], acked: ['u1'] }])] });
  const from = executorPid('t', 'c1');
  const out = reregisterExecutor(s, { type: 'ReregisterExecutor', from, body: { frameworkId: 'F1', executorId: 't1', tasks: [task('t1')], updates: [update('t1', 'TASK_FINISHED', 'u2')] } } as never, env());
  t.true(recoveryDone(s));
  const kinds = out.map((o) => (o.type === 'send' ? o.msg.type : o.type === 'effect.checkpoint' ? `checkpoint:${o.op}` : o.type));
  t.true(kinds.indexOf('checkpoint:update') < kinds.indexOf('StatusUpdateAcknowledgement'), 'on disk before it is acknowledged');
  t.is(sendsOf(out, 'ExecutorReregistered').length, 1);
  t.deepEqual(s.streams.get('F1/t1')!.pending.map((u) => u.status.state), ['TASK_FINISHED']);
});

test('a re-registering executor resending an update the agent had checkpointed: a duplicate, dropped but acknowledged', (t) => {
  const { s } = start({ frameworks: [framework], executors: [executor(true, [{ info: task('t1'), updates: [update('t1', 'TASK_RUNNING', 'u1')], acked: [] }])] });
  const out = reregisterExecutor(s, { type: 'ReregisterExecutor', from: executorPid('t', 'c1'), body: { frameworkId: 'F1', executorId: 't1', tasks: [task('t1')], updates: [update('t1', 'TASK_RUNNING', 'u1')] } } as never, env());
  t.is(s.streams.get('F1/t1')!.pending.length, 1, 'still one');
  t.is(sendsOf(out, 'StatusUpdateAcknowledgement').length, 1);
  t.is(updatesOf(out).length, 0, 'nothing new to forward (the agent is not registered yet)');
});

test('a task still staging that the re-registering executor never got is lost (dropped for partition-aware frameworks)', (t) => {
  for (const [caps, state] of [[[], 'TASK_LOST'], [['PARTITION_AWARE'], 'TASK_DROPPED']] as const) {
    const { s } = start({ frameworks: [{ ...framework, capabilities: [...caps] }], executors: [executor(true, [{ info: task('t1'), updates: [], acked: [] }])] });
    reregisterExecutor(s, { type: 'ReregisterExecutor', from: executorPid('t', 'c1'), body: { frameworkId: 'F1', executorId: 't1', tasks: [], updates: [] } } as never, env());
    const st = s.streams.get('F1/t1')!;
    t.is(st.pending[0]!.status.state, state);
    t.is(st.pending[0]!.status.reason, 'REASON_AGENT_RESTARTED');
  }
});

test('a live executor that had never registered registers anew and gets the tasks it never got', (t) => {
  const { s } = start({ frameworks: [framework], executors: [executor(true, [{ info: task('t1'), updates: [], acked: [] }])] });
  const out = registerExecutor(s, { type: 'RegisterExecutor', from: executorPid('t', 'c1'), body: { frameworkId: 'F1', executorId: 't1' } } as never, env());
  t.is(sendsOf(out, 'RunTask').length, 1);
  t.true(recoveryDone(s));
});

test('a live executor silent past the re-registration timeout is destroyed; its task fails with REASON_EXECUTOR_REREGISTRATION_TIMEOUT on exit', (t) => {
  const { s } = start({ frameworks: [framework], executors: [executor(true, [{ info: task('t1'), updates: [update('t1', 'TASK_RUNNING', 'u1')], acked: ['u1'] }])] });
  const out = recoveryTimedOut(s, env());
  const kill = out.find((o) => o.type === 'effect.killExecutor');
  t.truthy(kill);
  t.is(kill?.type === 'effect.killExecutor' ? kill.graceMs : -1, 0);
  executorExited(s, { frameworkId: 'F1', executorId: 't1', containerId: 'c1', status: 137 }, env());
  const st = s.streams.get('F1/t1')!;
  t.is(st.pending[0]!.status.state, 'TASK_FAILED');
  t.is(st.pending[0]!.status.reason, 'REASON_EXECUTOR_REREGISTRATION_TIMEOUT');
});

test('an impostor re-registering from another PID is told to shut down and changes nothing', (t) => {
  const { s } = start({ frameworks: [framework], executors: [executor(true, [{ info: task('t1'), updates: [], acked: [] }])] });
  const out = reregisterExecutor(s, { type: 'ReregisterExecutor', from: 'mesos.t.executor.anonymous.other', body: { frameworkId: 'F1', executorId: 't1', tasks: [], updates: [update('t1', 'TASK_FINISHED', 'x')] } } as never, env());
  t.is(sendsOf(out, 'ShutdownExecutor').length, 1);
  t.false(recoveryDone(s));
  t.false(s.streams.has('F1/t1'));
});

test('a re-registration repeated (the answer was lost) is answered again, and its updates are not taken twice', (t) => {
  const { s } = start({ frameworks: [framework], executors: [executor(true, [{ info: task('t1'), updates: [update('t1', 'TASK_RUNNING', 'u1')], acked: ['u1'] }])] });
  const msg = { type: 'ReregisterExecutor', from: executorPid('t', 'c1'), body: { frameworkId: 'F1', executorId: 't1', tasks: [task('t1')], updates: [update('t1', 'TASK_FINISHED', 'u2')] } } as never;
  reregisterExecutor(s, msg, env());
  const again = reregisterExecutor(s, msg, env());
  t.is(sendsOf(again, 'ExecutorReregistered').length, 1);
  t.is(sendsOf(again, 'StatusUpdateAcknowledgement').length, 1, 'acknowledged again');
  t.deepEqual(s.streams.get('F1/t1')!.pending.map((u) => u.uuid), ['u2'], 'taken once');
});
