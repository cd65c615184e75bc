/**
 * Reconciliation by Mesos' decision table (`reconciliation_tests.cpp`,
 * `master_slave_reconciliation_tests.cpp`), on a simulated cluster.
 */
import test from 'ava';
import type { TaskStatus } from '../../protocols/records.ts';
import * as helpers from '../helpers/sim-cluster.ts';
import { RecordingScheduler, SimCluster, commandTask } from '../helpers/sim-cluster.ts';

async function running(framework: Parameters<SimCluster['driver']>[1] = {}, command = 'sleep 1000') {
  const sim = await SimCluster.start({ masterFlags: { agentPingTimeoutMs: 5000, maxAgentPingTimeouts: 2 } });
  const sched = new RecordingScheduler();
  const d = sim.driver(sched, framework);
  await sim.settle();
  const [offer] = sched.takeOffers();
  d.launchTasks([offer!.id], [commandTask(offer!, 't1', command)]);
  await sim.settle();
  return { sim, sched, d, agentId: offer!.agentId };
}

/** The answers a reconciliation produced. */
async function reconcile(sim: SimCluster, sched: RecordingScheduler, statuses: Array<{ taskId: string; agentId?: string }>): Promise<TaskStatus[]> {
  const before = sched.updates.length;
  sim.drivers[0]!.reconcileTasks(statuses);
  await sim.settle();
  return sched.updates.slice(before);
}

test('a running task the framework thinks is staging is reported RUNNING (TaskStateMismatch)', async (t) => {
  const { sim, sched, agentId } = await running();
  t.teardown(() => sim.stop());
  const [u] = await reconcile(sim, sched, [{ taskId: 't1', agentId }]);
  t.is(u?.state, 'TASK_RUNNING');
  t.is(u?.reason, 'REASON_RECONCILIATION');
  t.is(u?.source, 'SOURCE_MASTER');
});

test('an unknown task on a registered agent is TASK_LOST (UnknownTask), TASK_GONE when partition-aware (UnknownTaskPartitionAware)', async (t) => {
  const plain = await running();
  t.teardown(() => plain.sim.stop());
  t.deepEqual((await reconcile(plain.sim, plain.sched, [{ taskId: 'ghost', agentId: plain.agentId }])).map((u) => [u.state, u.reason]), [['TASK_LOST', 'REASON_RECONCILIATION']]);
  const pa = await running({ capabilities: ['PARTITION_AWARE'] });
  t.teardown(() => pa.sim.stop());
  t.deepEqual((await reconcile(pa.sim, pa.sched, [{ taskId: 'ghost', agentId: pa.agentId }])).map((u) => u.state), ['TASK_GONE']);
});

test('a task on an unknown agent is TASK_UNKNOWN for a partition-aware framework, without an unreachable time (UnknownSlave)', async (t) => {
  const { sim, sched } = await running({ capabilities: ['PARTITION_AWARE'] });
  t.teardown(() => sim.stop());
  const [u] = await reconcile(sim, sched, [{ taskId: 'ghost', agentId: 'no-such-agent' }]);
  t.is(u?.state, 'TASK_UNKNOWN');
  t.is(u?.unreachableTime, undefined);
  const [noAgent] = await reconcile(sim, sched, [{ taskId: 'ghost' }]);
  t.is(noAgent?.state, 'TASK_UNKNOWN');
});

test('a task on an unreachable agent is TASK_UNREACHABLE with the time it became so (PartitionedAgent)', async (t) => {
  const { sim, sched, agentId } = await running({ capabilities: ['PARTITION_AWARE'] });
  t.teardown(() => sim.stop());
  sim.partition(sim.agents[0]!.pid);
  await sim.advance(20_000, 500);
  const marked = sched.updates.find((u) => u.state === 'TASK_UNREACHABLE')!;
  const [u] = await reconcile(sim, sched, [{ taskId: 't1', agentId }]);
  t.is(u?.state, 'TASK_UNREACHABLE');
  t.is(u?.unreachableTime, marked.unreachableTime);
});

test('implicit reconciliation reports every non-terminal task (ImplicitNonTerminalTask)', async (t) => {
  const { sim, sched } = await running();
  t.teardown(() => sim.stop());
  t.deepEqual((await reconcile(sim, sched, [])).map((u) => [u.taskId, u.state]), [['t1', 'TASK_RUNNING']]);
});

test('a finished, acknowledged task is not reported by implicit reconciliation (ImplicitTerminalTask)', async (t) => {
  const { sim, sched } = await running({}, 'exit 0');
  t.teardown(() => sim.stop());
  t.is(sched.statesOf('t1').at(-1), 'TASK_FINISHED');
  t.deepEqual(await reconcile(sim, sched, []), []);
});

test('a finished task whose acknowledgement was lost is reported FINISHED (UnacknowledgedTerminalTask)', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const { sched, d, offer } = await sim.framework();
  // Only the acknowledgement of the terminal update is lost.
  const finished = new Set<string>();
  sim.bus.addFilter((m) => {
    const { envelopeOf: env } = helpers;
    if (m.subject.split('.')[5] === 'StatusUpdate') {
      const u = env(m).body.update;
      if (u.status.state === 'TASK_FINISHED') finished.add(u.uuid);
    }
    return 'deliver';
  });
  sim.drop('AcknowledgeStatusUpdate', (e) => finished.has(e.body.uuid));
  d.launchTasks([offer!.id], [commandTask(offer!, 't1', 'exit 0')]);
  await sim.advance(60_000, 1000);
  t.true(sched.statesOf('t1').includes('TASK_FINISHED'));
  const answers = await reconcile(sim, sched, []);
  t.deepEqual(answers.map((u) => [u.taskId, u.state, u.reason]), [['t1', 'TASK_FINISHED', 'REASON_RECONCILIATION']]);
});

for (const [title, capabilities, expected] of [
  ['a task whose launch never reached the agent is reported LOST by the agent when it re-registers (MasterSlaveReconciliationTest.ReconcileLostTask)', [], 'TASK_LOST'],
  ['… and DROPPED for a partition-aware framework (MasterSlaveReconciliationTest.ReconcileDroppedTask)', ['PARTITION_AWARE'], 'TASK_DROPPED'],
] as const) {
  test(title, async (t) => {
    const sim = await SimCluster.start();
    t.teardown(() => sim.stop());
    const sched = new RecordingScheduler();
    const d = sim.driver(sched, { capabilities: [...capabilities] });
    await sim.settle();
    const [offer] = sched.takeOffers();
    const stop = sim.drop('RunTask');
    d.launchTasks([offer!.id], [commandTask(offer!, 't1', 'sleep 1000')]);
    await sim.settle();
    stop();
    t.deepEqual(sched.statesOf('t1'), []);
    // The agent is made to re-register (the master tells it it no longer counts it as connected).
    const agent = sim.agents[0]!;
    sim.masterState.agents.get(offer!.agentId)!.awaitingPong = false;
    const { Codec, envelope } = await import('../../protocols/envelope.ts');
    const { subjectFor } = await import('../../protocols/pid.ts');
    sim.bus.transport().publish(subjectFor(agent.pid, 'Ping', 'master'), new Codec().encode(envelope(sim.master.pid, 'p', { type: 'Ping', body: { connected: false } }, sim.lease.current()!.epoch)));
    await sim.advance(1000, 100);
    const u = sched.updates.find((x) => x.taskId === 't1')!;
    t.is(u.state, expected);
    t.is(u.source, 'SOURCE_AGENT');
    t.is(u.reason, 'REASON_RECONCILIATION');
    t.is(sim.masterState.frameworks.get(sched.frameworkId!)!.tasks.size, 0, 'acknowledged: the master forgot it');
    // The resources came back.
    await sim.advance(1000);
    t.true(sched.offers.length >= 1);
  });
}

test('a task held aside as unreachable is answered TASK_UNREACHABLE even without its agent id (not UNKNOWN, which would invite a second run)', async (t) => {
  const { sim, sched } = await running({ capabilities: ['PARTITION_AWARE'] });
  t.teardown(() => sim.stop());
  sim.partition(sim.agents[0]!.pid);
  await sim.advance(20_000, 500);
  const [u] = await reconcile(sim, sched, [{ taskId: 't1' }]);
  t.is(u?.state, 'TASK_UNREACHABLE');
  t.truthy(u?.unreachableTime);
});
