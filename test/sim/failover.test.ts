/**
 * Master failover on a simulated cluster: a standby takes over from the registry, agents and
 * frameworks come back with everything they have, and nothing is lost or run twice
 * (Mesos `master_tests.cpp`, `reconciliation_tests.cpp`, `fault_tolerance_tests.cpp`).
 */
import test from 'ava';
import { parseResources } from '../../protocols/resources.ts';
import type { ExecutorInfo, Offer, TaskInfo } from '../../protocols/records.ts';
import { RecordingScheduler, SimCluster, commandTask } from '../helpers/sim-cluster.ts';

const executor: ExecutorInfo = { executorId: 'long-lived', command: { value: 'my-executor' }, resources: parseResources('cpus:0.1;mem:32') };
const onExecutor = (offer: Offer, id: string): TaskInfo => ({ taskId: id, name: id, agentId: offer.agentId, resources: parseResources('cpus:0.5;mem:64'), executor });

/** A cluster with a standby master `m2` behind the leader `m1`. */
async function withStandby(opts: Parameters<typeof SimCluster.start>[0] = {}) {
  const sim = await SimCluster.start(opts);
  sim.startMaster('m2');
  await sim.settle();
  return sim;
}

test('a standby takes over: the framework and agent come back, the task keeps running, a new task joins its executor (MasterTest.MasterFailoverLongLivedExecutor)', async (t) => {
  const sim = await withStandby();
  t.teardown(() => sim.stop());
  const sched = new RecordingScheduler();
  const d = sim.driver(sched);
  await sim.settle();
  const fwId = sched.frameworkId!;
  let [offer] = sched.takeOffers();
  d.launchTasks([offer!.id], [onExecutor(offer!, 't1')]);
  await sim.settle();
  t.is(sched.statesOf('t1').at(-1), 'TASK_RUNNING');
  const agentId = offer!.agentId;

  const old = await sim.killLeader();
  t.is(old?.runId, 'm1');
  await sim.advance(3000, 100);
  const leader = sim.leader()!;
  t.is(leader.runId, 'm2');
  t.true(leader.host.actor.getSnapshot().hasTag('serving'), 'every registered agent came back');
  t.is(sched.frameworkId, fwId, 'same framework id');
  t.is(sched.disconnects, 1);
  t.deepEqual([...sim.masterState.agents.keys()], [agentId], 'same agent id');
  t.is(sim.metrics()['master/tasks_running'], 1);
  t.is(sched.statesOf('t1').filter((s) => s !== 'TASK_RUNNING' && s !== 'TASK_STARTING').length, 0, 'nothing happened to t1');

  [offer] = sched.takeOffers().filter((o) => o.agentId === agentId);
  t.truthy(offer, 'the new leader offers what is free');
  t.deepEqual(offer!.executorIds, ['long-lived'], 'it knows the running executor');
  d.launchTasks([offer!.id], [onExecutor(offer!, 't2')]);
  await sim.settle();
  t.is(sched.statesOf('t2').at(-1), 'TASK_RUNNING');
  t.is(sim.containerizer.launched.length, 1, 'the second task ran on the same executor');
  t.is(sim.metrics()['master/tasks_running'], 2);
});

test('messages that arrive while the new leader reads its registry are kept and handled, not dropped', async (t) => {
  const sim = await withStandby();
  t.teardown(() => sim.stop());
  const rereg = sim.count('ReregisterAgent');
  sim.registry.failing = true; // the registry read retries until it answers
  await sim.killLeader();
  // The agent re-registers within a random part of one backoff (1 s).
  while (rereg.n === 0) await sim.advance(10, 10);
  const m2 = sim.leader()!;
  t.true(m2.host.actor.getSnapshot().matches({ leading: { phase: { recovering: 'loadingRegistry' } } }));
  t.is(rereg.n, 1, 'the agent re-registered while the registry was still being read');
  sim.registry.failing = false;
  await sim.advance(300, 50);
  t.true(m2.host.actor.getSnapshot().hasTag('serving'));
  t.is(rereg.n, 1, 'its first attempt was enough');
  t.is(m2.metrics()['master/messages_deferred'], 1);
  t.is(sim.masterState.agents.size, 1);
});

test('a task that finished while its update was unacknowledged is reported FINISHED after a failover, not LOST', async (t) => {
  const sim = await withStandby();
  t.teardown(() => sim.stop());
  const { sched, d, offer } = await sim.framework();
  // The scheduler's acknowledgements of t1 are lost, so the agent still holds TASK_FINISHED.
  const stopDropping = sim.drop('AcknowledgeStatusUpdate');
  d.launchTasks([offer!.id], [commandTask(offer!, 't1', 'exit 0')]);
  await sim.settle();
  t.is(sched.statesOf('t1').at(-1), 'TASK_STARTING', 'one update outstanding at a time');
  await sim.killLeader();
  await sim.advance(2000, 100);
  t.true(sim.leader()!.host.actor.getSnapshot().hasTag('serving'), 'the agent came back');
  const entry = sim.masterState.frameworks.get(sched.frameworkId!)?.tasks.get('t1');
  t.is(entry?.task.state, 'TASK_FINISHED', 'the new master knows the task finished');
  // Reconciliation after the failover, with the updates still unacknowledged: not lost.
  const before = sched.updates.length;
  d.reconcileTasks([{ taskId: 't1', agentId: offer!.agentId }]);
  await sim.settle();
  const answer = sched.updates.slice(before).find((u) => u.taskId === 't1' && u.reason === 'REASON_RECONCILIATION');
  t.is(answer?.state, 'TASK_STARTING', 'the state of the update in flight, as Mesos answers');
  stopDropping();
  await sim.advance(60_000, 1000);
  const states = sched.statesOf('t1');
  t.false(states.some((s) => s === 'TASK_LOST' || s === 'TASK_GONE' || s === 'TASK_UNKNOWN'), states.join(', '));
  t.is(states.at(-1), 'TASK_FINISHED');
  t.is(sim.containerizer.launched.length, 1, 'it ran once');
});

test('after a failover, an agent that does not come back is lost after agent_reregister_timeout, and may come back later (MasterTest.RecoveredSlaveCanReregister)', async (t) => {
  const sim = await withStandby({ masterFlags: { agentReregisterTimeoutMs: 60_000 } });
  t.teardown(() => sim.stop());
  const agent = sim.agents[0]!;
  const agentId = agent.host.actor.getSnapshot().context.state.agentId!;
  const heal = sim.partition(agent.pid);
  await sim.killLeader();
  const sched = new RecordingScheduler();
  sim.driver(sched);
  await sim.advance(1000, 100);
  t.truthy(sched.frameworkId);
  t.true(sim.leader()!.host.actor.getSnapshot().hasTag('recovering'));
  await sim.advance(58_000, 1000);
  t.deepEqual(sched.lostAgents, []);
  await sim.advance(2000, 1000);
  t.deepEqual(sched.lostAgents, [agentId]);
  t.true(sim.leader()!.host.actor.getSnapshot().hasTag('serving'));
  const m = sim.metrics();
  t.is(m['master/recovery_slave_removals'], 1);
  t.is(m['master/slave_removals'], 1);
  t.is(m['master/slave_removals/reason_unhealthy'], 1);
  t.is(m['master/slave_removals/reason_unregistered'] ?? 0, 0);
  t.is(m['master/slave_unreachable_completed'], 1);
  t.is(m['master/slave_unreachable_scheduled'], 1);
  // The agent comes back: re-admitted, and its resources are offered.
  heal();
  await sim.advance(100_000, 1000);
  t.true(agent.host.actor.getSnapshot().hasTag('registered'));
  t.true(sched.offers.some((o) => o.agentId === agentId));
});

test('a task on an agent lost after a failover: no update, reconciliation says TASK_LOST with the time, then RUNNING when the agent returns (MasterTest.UnreachableTaskAfterFailover)', async (t) => {
  const sim = await withStandby({ masterFlags: { agentReregisterTimeoutMs: 60_000 } });
  t.teardown(() => sim.stop());
  const { sched, d, offer } = await sim.framework();
  d.launchTasks([offer!.id], [commandTask(offer!, 't1', 'sleep 1000')]);
  await sim.settle();
  const heal = sim.partition(sim.agents[0]!.pid);
  await sim.killLeader();
  await sim.advance(60_000, 1000);
  const timedOutAt = sim.clock.now();
  await sim.advance(1000, 1000);
  t.deepEqual(sched.lostAgents, [offer!.agentId]);
  t.deepEqual(sched.statesOf('t1'), ['TASK_STARTING', 'TASK_RUNNING'], 'the new master never knew the task: no update');
  d.reconcileTasks([{ taskId: 't1', agentId: offer!.agentId }]);
  await sim.settle();
  const lost = sched.updates.at(-1)!;
  t.is(lost.state, 'TASK_LOST');
  t.is(lost.reason, 'REASON_RECONCILIATION');
  t.true(Math.abs(lost.unreachableTime! - timedOutAt) <= 1000, `unreachable since ${lost.unreachableTime}, timeout at ${timedOutAt}`);
  heal();
  await sim.advance(100_000, 1000);
  const back = sched.updates.filter((u) => u.taskId === 't1').at(-1)!;
  t.is(back.state, 'TASK_RUNNING');
  t.is(back.reason, 'REASON_AGENT_REREGISTERED');
  const m = sim.metrics();
  t.is(m['master/tasks_lost'] ?? 0, 0, 'reconciliation reported the loss; no task changed state in the master');
  t.is(m['master/tasks_unreachable'], 0);
  t.is(m['master/tasks_running'], 1);
  t.is(m['master/recovery_slave_removals'], 1);
});

test('while an agent is recovering, reconciliation of its tasks gets no answer (ReconciliationTest.RecoveredAgent)', async (t) => {
  const sim = await withStandby();
  t.teardown(() => sim.stop());
  const { sched, d, offer } = await sim.framework();
  d.launchTasks([offer!.id], [commandTask(offer!, 't1', 'sleep 1000')]);
  await sim.settle();
  sim.partition(sim.agents[0]!.pid);
  await sim.killLeader();
  await sim.advance(2000, 100);
  t.true(sim.leader()!.host.actor.getSnapshot().hasTag('recovering'));
  const before = sched.updates.length;
  d.reconcileTasks([{ taskId: 't1', agentId: offer!.agentId }]);
  d.reconcileTasks([{ taskId: 't1' }]);
  await sim.settle();
  t.is(sched.updates.length, before, 'no answer while the agent may still come back');
  t.is(sim.metrics()['master/reconciliations_deferred'], 2);
});
