/**
 * Agent health and partitions on a simulated cluster (Mesos `partition_tests.cpp`,
 * `slave_tests.cpp`): pings, missed pongs, agents marked unreachable and coming back.
 */
import test from 'ava';
import { RecordingScheduler, SimCluster, commandTask } from '../helpers/sim-cluster.ts';

/** 5 s pings, 2 misses: an agent is lost after at most 15 s of silence. */
const FAST = { agentPingTimeoutMs: 5000, maxAgentPingTimeouts: 2 };

async function withRunningTask(sim: SimCluster, framework: Parameters<SimCluster['driver']>[1] = {}) {
  const sched = new RecordingScheduler();
  const d = sim.driver(sched, framework);
  await sim.settle();
  const [offer] = sched.takeOffers();
  d.launchTasks([offer!.id], [commandTask(offer!, 't1', 'sleep 1000')]);
  await sim.settle();
  return { sched, d, offer: offer! };
}

test('an agent that stops answering pings is lost after max_agent_ping_timeouts (PartitionTest.PartitionedSlave)', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const sched = new RecordingScheduler();
  sim.driver(sched);
  await sim.settle();
  const agentId = sim.agents[0]!.host.actor.getSnapshot().context.state.agentId!;
  const pings = sim.count('Ping');
  sim.drop('Pong');
  // The first ping comes within the first interval (spread by agent), then one every 15 s; the
  // agent is lost once 5 in a row go unanswered.
  while (pings.n === 0) await sim.advance(100, 100);
  await sim.advance(15_000 * 5 - 1000, 1000);
  t.deepEqual(sched.lostAgents, [], 'not lost before the fifth timeout');
  t.true(pings.n >= 5);
  await sim.advance(2000, 1000);
  t.deepEqual(sched.lostAgents, [agentId]);
  const m = sim.metrics();
  t.is(m['master/slave_unreachable_scheduled'], 1);
  t.is(m['master/slave_unreachable_completed'], 1);
  t.is(m['master/slave_removals'], 1);
  t.is(m['master/slave_removals/reason_unhealthy'], 1);
  t.is(m['master/slave_removals/reason_unregistered'] ?? 0, 0);
  // Its resources left the allocator: no offers of it any more.
  sched.takeOffers();
  await sim.advance(5000, 1000);
  t.deepEqual(sched.offers, []);
  t.is(sim.registry.snapshot().agents.find((a) => a.agentId === agentId)?.state, 'unreachable');
});

test('a partition-aware framework sees TASK_UNREACHABLE, then TASK_RUNNING when the agent comes back (PartitionTest.ReregisterSlavePartitionAware)', async (t) => {
  const sim = await SimCluster.start({ masterFlags: FAST });
  t.teardown(() => sim.stop());
  const { sched } = await withRunningTask(sim, { capabilities: ['PARTITION_AWARE'] });
  t.is(sched.statesOf('t1').at(-1), 'TASK_RUNNING');
  const agent = sim.agents[0]!;
  const heal = sim.partition(agent.pid);
  const cutAt = sim.clock.now();
  await sim.advance(20_000, 500);
  const unreachable = sched.updates.find((u) => u.taskId === 't1' && u.state === 'TASK_UNREACHABLE');
  if (!unreachable) return t.fail(`updates: ${JSON.stringify(sched.statesOf('t1'))}`);
  t.is(unreachable.reason, 'REASON_AGENT_REMOVED');
  t.is(unreachable.source, 'SOURCE_MASTER');
  t.true(unreachable.unreachableTime! > cutAt && unreachable.unreachableTime! <= sim.clock.now());
  t.is(sched.lostAgents.length, 1, 'slaveLost too, even for a partition-aware framework');
  let m = sim.metrics();
  t.is(m['master/tasks_unreachable'], 1);
  t.is(m['master/tasks_lost'] ?? 0, 0);
  t.is(m['master/slaves_unreachable'], 1);
  // The partition heals; the agent's own ping timeout (10 s here) makes it re-register.
  heal();
  await sim.advance(30_000, 500);
  const back = sched.updates.filter((u) => u.taskId === 't1').at(-1)!;
  t.is(back.state, 'TASK_RUNNING');
  t.is(back.reason, 'REASON_AGENT_REREGISTERED');
  m = sim.metrics();
  t.is(m['master/tasks_running'], 1);
  t.is(m['master/tasks_unreachable'], 0);
  t.is(m['master/slaves_unreachable'], 0);
  t.is(m['master/slaves_active'], 1);
  t.is(sim.containerizer.killed.length, 0, 'the task was never killed');
});

test('a framework that is not partition-aware sees TASK_LOST with the time, and the task is kept (PartitionTest.ReregisterSlaveNotPartitionAware)', async (t) => {
  const sim = await SimCluster.start({ masterFlags: FAST });
  t.teardown(() => sim.stop());
  const { sched } = await withRunningTask(sim);
  const heal = sim.partition(sim.agents[0]!.pid);
  await sim.advance(20_000, 500);
  const lost = sched.updates.find((u) => u.taskId === 't1' && u.state === 'TASK_LOST');
  if (!lost) return t.fail(`updates: ${JSON.stringify(sched.statesOf('t1'))}`);
  t.is(lost.reason, 'REASON_AGENT_REMOVED');
  t.truthy(lost.unreachableTime);
  t.is(sim.metrics()['master/tasks_lost'], 1);
  heal();
  await sim.advance(30_000, 500);
  t.is(sched.statesOf('t1').at(-1), 'TASK_RUNNING');
  const m = sim.metrics();
  t.is(m['master/tasks_running'], 1);
  t.is(m['master/tasks_lost'], 1, 'the counter keeps the loss');
  t.is(m['master/tasks_killed'] ?? 0, 0);
  t.is(sim.containerizer.killed.length, 0);
});

test('the agent learns the total ping timeout at registration and re-registers when pings stop (SlaveTest.PingTimeoutNoPings)', async (t) => {
  const sim = await SimCluster.start({ masterFlags: { agentPingTimeoutMs: 5000, maxAgentPingTimeouts: 2 }, agents: 0 });
  t.teardown(() => sim.stop());
  const registered = sim.bus.intercept((m) => m.subject.split('.')[5] === 'AgentRegistered');
  sim.addAgent('cpus:1;mem:512');
  await sim.settle();
  const { envelopeOf } = await import('../helpers/sim-cluster.ts');
  t.is(envelopeOf(await registered).body.connection.totalPingTimeoutSeconds, 10);
  const rereg = sim.count('ReregisterAgent');
  sim.drop('Ping');
  await sim.advance(9000, 500);
  t.is(rereg.n, 0);
  await sim.advance(3000, 500);
  t.true(rereg.n >= 1, 'no pings for 10 s: the agent re-registered');
});

test('a ping saying the master no longer counts the agent makes it re-register (OneWayPartitionTest.MasterToSlave)', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const agent = sim.agents[0]!;
  const rereg = sim.count('ReregisterAgent');
  // The master's view of the agent is lost (as after a one-way partition it noticed).
  const { Codec, envelope } = await import('../../protocols/envelope.ts');
  const { subjectFor } = await import('../../protocols/pid.ts');
  const codec = new Codec();
  const state = sim.masterState;
  state.agentsByPid.delete(agent.pid);
  sim.bus.transport().publish(subjectFor(agent.pid, 'Ping', 'master'), codec.encode(envelope(sim.master.pid, 'p1', { type: 'Ping', body: { connected: false } }, sim.lease.current()!.epoch)));
  await sim.advance(1000, 100);
  t.is(rereg.n, 1);
  t.true(agent.host.actor.getSnapshot().hasTag('registered'));
});
