/**
 * The agent's side of fault tolerance on a simulated cluster: work that arrives while it
 * re-registers, kills of queued tasks, updates of removed frameworks, and a clean leave.
 */
import test from 'ava';
import { parseResources } from '../../protocols/resources.ts';
import type { ExecutorInfo, Offer, TaskInfo } from '../../protocols/records.ts';
import { Codec, envelope } from '../../protocols/envelope.ts';
import { subjectFor } from '../../protocols/pid.ts';
import { RecordingScheduler, SimCluster, commandTask } from '../helpers/sim-cluster.ts';

const executor: ExecutorInfo = { executorId: 'shared', command: { value: 'my-executor' }, resources: parseResources('cpus:0.1;mem:32') };
const onExecutor = (offer: Offer, id: string): TaskInfo => ({ taskId: id, name: id, agentId: offer.agentId, resources: parseResources('cpus:0.5;mem:64'), executor });

/** Makes the agent re-register by telling it the master no longer counts it as registered. */
function forceReregistration(sim: SimCluster): void {
  const agent = sim.agents[0]!;
  sim.bus.transport().publish(subjectFor(agent.pid, 'Ping', 'master'), new Codec().encode(envelope(sim.master.pid, 'p', { type: 'Ping', body: { connected: false } }, sim.lease.current()!.epoch)));
}

test('killing one of two tasks queued on a launching executor leaves the other to run', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  sim.containerizer.holdRegistrations = true;
  const { sched, d, offer } = await sim.framework();
  d.launchTasks([offer!.id], [onExecutor(offer!, 'a'), onExecutor(offer!, 'b')]);
  await sim.settle();
  d.killTask('a');
  await sim.settle();
  t.is(sched.statesOf('a').at(-1), 'TASK_KILLED');
  t.deepEqual(sim.containerizer.killed, [], 'the executor is still wanted by b');
  sim.containerizer.releaseRegistrations();
  await sim.settle();
  t.is(sched.statesOf('b').at(-1), 'TASK_RUNNING');
});

test('a launch that reaches the agent while it re-registers is run, and reported once it is back', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const { sched, d, offer } = await sim.framework();
  // The master's answers to the re-registration are lost for a while.
  const stop = sim.drop('AgentReregistered');
  forceReregistration(sim);
  await sim.settle();
  t.false(sim.agents[0]!.host.actor.getSnapshot().hasTag('registered'));
  d.launchTasks([offer!.id], [commandTask(offer!, 't1', 'sleep 1000')]);
  await sim.settle();
  t.is(sim.containerizer.launched.length, 1, 'the agent ran it while re-registering');
  t.deepEqual(sched.statesOf('t1'), [], 'its updates wait until the agent is registered again');
  stop();
  await sim.advance(5000, 100);
  t.deepEqual(sched.statesOf('t1'), ['TASK_STARTING', 'TASK_RUNNING']);
  t.is(sim.agents[0]!.host.actor.getSnapshot().context.state.metrics['slave/dropped_before_registration'] ?? 0, 0);
});

test('updates of a framework the master removed are settled: the agent is told to shut it down and stops retrying', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const { d, offer } = await sim.framework();
  d.launchTasks([offer!.id], [commandTask(offer!, 't1', 'sleep 1000')]);
  await sim.settle();
  // The teardown's ShutdownFramework never reaches the agent: it does not know.
  const stopDropping = sim.drop('ShutdownFramework');
  await d.stop();
  await sim.settle();
  stopDropping();
  // The executor dies; the agent reports TASK_FAILED for a framework the master removed.
  const container = sim.containerizer.launched[0]!.containerId;
  const fromAgent = sim.count('StatusUpdate');
  sim.containerizer.crash(container);
  await sim.advance(20 * 60_000, 10_000);
  const agentState = sim.agents[0]!.host.actor.getSnapshot().context.state;
  t.is(agentState.streams.size, 0, 'no update left to retry');
  t.true(fromAgent.n <= 2, `the agent sent ${fromAgent.n} update(s), then stopped`);
  t.true(agentState.metrics['slave/status_updates_discarded']! >= 1);
});

test('an agent that leaves cleanly ends its tasks first (TASK_KILLED), then unregisters: nothing is reported lost', async (t) => {
  const sim = await SimCluster.start({ agents: 2 });
  t.teardown(() => sim.stop());
  const sched = new RecordingScheduler();
  const d = sim.driver(sched);
  await sim.settle();
  const offers = sched.takeOffers();
  const leaving = sim.agents[0]!;
  const leavingId = leaving.host.actor.getSnapshot().context.state.agentId!;
  const offer = offers.find((o) => o.agentId === leavingId)!;
  d.launchTasks([offer.id], [commandTask(offer, 't1', 'sleep 1000')]);
  await sim.settle();
  const left = leaving.leave(30_000);
  await sim.advance(1000, 100);
  t.true(await left, 'every update was acknowledged before unregistering');
  await sim.settle();
  t.is(sched.statesOf('t1').at(-1), 'TASK_KILLED');
  t.false(sched.statesOf('t1').includes('TASK_LOST'));
  t.deepEqual(sched.lostAgents, [leavingId]);
  t.false(sim.masterState.agents.has(leavingId));
  t.is(sim.metrics()['master/slave_removals/reason_unregistered'], 1);
  t.is(sim.registry.snapshot().agents.some((a) => a.agentId === leavingId), false, 'gone from the registry too');
});
