/**
 * The agent's state documents, from the agent's own handlers driven through a task's life: the
 * sandbox and the agent's HTTP address stamped on its updates, the task in its executor while it
 * runs, then among the executor's completed tasks, the executor among the framework's completed
 * executors, and the framework among the completed ones once shut down (Mesos keeps the same
 * history: `Executor::completedTasks`, `Framework::completedExecutors`, `completedFrameworks`).
 * Pure: no runtime, no clock.
 */
import test from 'ava';
import type { AgentContext } from '../../../actors/agent/agent.machine.ts';
import {
  acknowledged,
  COMPLETED_LIMITS,
  DEFAULT_AGENT_FLAGS,
  executorExited,
  executorLaunched,
  executorStatusUpdate,
  initialAgentState,
  registerExecutor,
  runTask,
  shutdownFramework,
  type AgentEmitted,
  type AgentEnv,
  type AgentState,
} from '../../../actors/agent/state.ts';
import type { StatusUpdateRecord } from '../../../protocols/records.ts';
import type { TaskState } from '../../../protocols/task-states.ts';
import { agentMetrics, agentStateJson, monitorJson, v1Containers, v1State } from '../../../runtime/http/agent-state.ts';
import { viewFilter } from '../../../runtime/http/view-filter.ts';
import { parseAcls } from '../../../actors/master/acls.ts';

const MASTER = 'mesos.t.master.master.m1';
const SELF = 'mesos.t.agent.agent.a1';
const EXECUTOR = 'mesos.t.executor.local.c';
let ids = 0;
const env = (): AgentEnv => ({
  self: SELF,
  info: { hostname: 'h1', resources: [{ name: 'cpus', type: 'SCALAR', scalar: 2 }, { name: 'mem', type: 'SCALAR', scalar: 1024 }], attributes: [{ name: 'rack', type: 'TEXT', text: 'r1' }], http: '127.0.0.1:5051' },
  flags: DEFAULT_AGENT_FLAGS,
  now: 5000,
  newId: () => `id-${++ids}`,
});
const ctx = (s: AgentState): AgentContext => ({ self: SELF, info: env().info, flags: DEFAULT_AGENT_FLAGS, attempt: 0, state: s });
const META = { version: '0.1.0', startTime: 1000, flags: { work_dir: '/w' } };

const updatesOf = (out: AgentEmitted[]): StatusUpdateRecord[] =>
  out.flatMap((o) => (o.type === 'send' && o.msg.type === 'StatusUpdate' ? [o.msg.body.update] : []));

function registeredAgent(): AgentState {
  return { ...initialAgentState(), agentId: 'S1', master: { pid: MASTER, epoch: 1 }, connected: true };
}

/** Launches command task `taskId` of F1 and brings its executor up in sandbox `/w/<taskId>`. */
function launch(s: AgentState, taskId: string): string {
  runTask(s, { type: 'RunTask', from: MASTER, body: { frameworkId: 'F1', framework: { name: 'fw', roles: ['web'], principal: 'p' }, task: { taskId, name: taskId, agentId: 'S1', resources: [{ name: 'cpus', type: 'SCALAR', scalar: 0.5 }], command: { value: 'sleep 1' } } } }, env());
  const e = s.executors.get(`F1/${taskId}`)!;
  executorLaunched(s, { frameworkId: 'F1', executorId: taskId, containerId: e.containerId, directory: `/w/${taskId}` });
  registerExecutor(s, { type: 'RegisterExecutor', from: `${EXECUTOR}-${taskId}`, body: { frameworkId: 'F1', executorId: taskId } }, env());
  return e.containerId;
}

/** The executor of `taskId` reports `state`; returns the update the agent sends the master. */
function report(s: AgentState, taskId: string, state: TaskState): StatusUpdateRecord {
  const out = executorStatusUpdate(s, { type: 'StatusUpdate', from: `${EXECUTOR}-${taskId}`, body: { update: { frameworkId: 'F1', status: { taskId, state, timestamp: 4 }, uuid: `u-${taskId}-${state}` } } }, env());
  return updatesOf(out)[0]!;
}

const ack = (s: AgentState, taskId: string, state: TaskState) =>
  acknowledged(s, { type: 'StatusUpdateAcknowledgement', from: MASTER, body: { agentId: 'S1', frameworkId: 'F1', taskId, uuid: `u-${taskId}-${state}` } }, env());

test('a running task: its update names the sandbox and the agent that serves it; the state shows it in its executor', (t) => {
  const s = registeredAgent();
  const container = launch(s, 't1');
  const u = report(s, 't1', 'TASK_RUNNING');
  t.like(u.status, { containerStatus: { containerId: container }, sandbox: '/w/t1', agentHttp: '127.0.0.1:5051' });

  const doc = agentStateJson(ctx(s), META);
  t.like(doc, { id: 'S1', pid: SELF, hostname: 'h1', start_time: 1, resources: { cpus: 2, mem: 1024 }, attributes: { rack: 'r1' }, flags: { work_dir: '/w' }, completed_frameworks: [] });
  const [f] = doc.frameworks as any[];
  t.like(f, { id: 'F1', name: 'fw', role: 'web', principal: 'p', completed_executors: [] });
  const [e] = f.executors;
  // cpus: the task's 0.5 (a command executor has none of its own)
  t.like(e, { id: 't1', source: 't1', container, directory: '/w/t1', role: 'web', resources: { cpus: 0.5 }, queued_tasks: [], completed_tasks: [] });
  t.like(e.tasks[0], { id: 't1', state: 'TASK_RUNNING', framework_id: 'F1', slave_id: 'S1', resources: { cpus: 0.5 }, sandbox: '/w/t1' });
  t.is(e.tasks[0].statuses[0].state, 'TASK_RUNNING', 'the update not yet acknowledged');

  // tasks_running = 1; cpus_used = .5 of 2
  const m = agentMetrics(ctx(s), { 'bus/sent': 3 }, 1000, 11_000);
  t.like(m, { 'slave/registered': 1, 'slave/uptime_secs': 10, 'slave/tasks_running': 1, 'slave/tasks_staging': 0, 'slave/executors_running': 1, 'slave/cpus_used': 0.5, 'slave/cpus_percent': 0.25, 'bus/sent': 3 });

  const stats = monitorJson(s, (id) => (id === container ? { timestamp: 9, cpusUserTimeSecs: 1.5, cpusSystemTimeSecs: 0.5, memRssBytes: 4096 } : undefined));
  t.deepEqual(stats, [{ executor_id: 't1', executor_name: 'Command Executor (Task: t1)', framework_id: 'F1', source: 't1', container_id: container, statistics: { timestamp: 9, cpus_user_time_secs: 1.5, cpus_system_time_secs: 0.5, mem_rss_bytes: 4096 } }]);
  t.like(v1Containers(s, () => undefined), { containers: [{ container_id: { value: container }, executor_id: { value: 't1' }, framework_id: { value: 'F1' } }] });
  const v1 = v1State(s) as any;
  t.like(v1.get_tasks.launched_tasks[0], { task_id: { value: 't1' }, state: 'TASK_RUNNING', resources: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.5 } }] });
  t.like(v1.get_frameworks.frameworks[0], { framework_info: { id: { value: 'F1' }, name: 'fw', roles: ['web'] } });
});

test('an ended task moves to its executor\'s completed tasks, the executor to the completed executors, the framework to the completed frameworks', (t) => {
  const s = registeredAgent();
  const container = launch(s, 't1');
  report(s, 't1', 'TASK_RUNNING');
  ack(s, 't1', 'TASK_RUNNING');
  report(s, 't1', 'TASK_FINISHED');
  // Finished but not yet acknowledged: already among the completed tasks.
  let e = (agentStateJson(ctx(s), META).frameworks as any[])[0].executors[0];
  t.deepEqual([e.tasks.length, e.completed_tasks.map((x: any) => x.state)], [0, ['TASK_FINISHED']]);

  ack(s, 't1', 'TASK_FINISHED');
  executorExited(s, { frameworkId: 'F1', executorId: 't1', containerId: container, status: 0 }, env());
  let f = (agentStateJson(ctx(s), META).frameworks as any[])[0];
  t.deepEqual(f.executors, []);
  e = f.completed_executors[0];
  t.like(e, { id: 't1', container, directory: '/w/t1', tasks: [], queued_tasks: [] });
  t.like(e.completed_tasks[0], { id: 't1', state: 'TASK_FINISHED' });
  t.like((v1State(s) as any).get_tasks, { launched_tasks: [], completed_tasks: [{ task_id: { value: 't1' }, state: 'TASK_FINISHED' }] });

  shutdownFramework(s, { type: 'ShutdownFramework', from: MASTER, body: { frameworkId: 'F1' } }, env());
  const doc = agentStateJson(ctx(s), META);
  t.deepEqual(doc.frameworks, []);
  f = (doc.completed_frameworks as any[])[0];
  t.like(f, { id: 'F1', name: 'fw', executors: [] });
  t.like(f.completed_executors[0], { id: 't1', directory: '/w/t1' });
  t.like(f.completed_executors[0].completed_tasks[0], { id: 't1', state: 'TASK_FINISHED' });
});

test(`completed executors are bounded per framework (${COMPLETED_LIMITS.executorsPerFramework}, as Mesos): the oldest go first`, (t) => {
  const s = registeredAgent();
  const n = COMPLETED_LIMITS.executorsPerFramework + 2;
  for (let i = 0; i < n; i++) {
    const id = `t${i}`;
    const container = launch(s, id);
    report(s, id, 'TASK_FINISHED');
    ack(s, id, 'TASK_FINISHED');
    executorExited(s, { frameworkId: 'F1', executorId: id, containerId: container, status: 0 }, env());
  }
  const kept = s.completedExecutors.get('F1')!.map((e) => e.info.executorId);
  t.is(kept.length, COMPLETED_LIMITS.executorsPerFramework);
  t.deepEqual([kept[0], kept.at(-1)], ['t2', `t${n - 1}`]);
});

test('the state shows a restricted reader only what its view_* ACLs allow', (t) => {
  const s = registeredAgent();
  launch(s, 't1');
  report(s, 't1', 'TASK_RUNNING');
  // Frameworks and executors visible to anyone; tasks and flags to no one (permissive false, no rule).
  const some = viewFilter(parseAcls(`{"permissive":false,
    "view_frameworks":[{"principals":{"type":"ANY"},"users":{"type":"ANY"}}],
    "view_executors":[{"principals":{"type":"ANY"},"users":{"type":"ANY"}}]}`), 'viewer');
  const doc = agentStateJson(ctx(s), META, some);
  t.false('flags' in doc);
  const [f] = doc.frameworks as any[];
  t.like(f, { id: 'F1' });
  t.is(f.executors.length, 1);
  t.deepEqual([f.executors[0].tasks, f.executors[0].queued_tasks, f.executors[0].completed_tasks], [[], [], []]);
  // Nothing at all.
  const none = agentStateJson(ctx(s), META, viewFilter(parseAcls('{"permissive":false}'), 'viewer'));
  t.deepEqual([none.frameworks, none.completed_frameworks], [[], []]);
  // The unrestricted reader's document is unchanged.
  t.deepEqual(agentStateJson(ctx(s), META, viewFilter(parseAcls('{}'), 'viewer')), agentStateJson(ctx(s), META));
});
