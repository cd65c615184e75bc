/**
 * Framework liveness on a simulated cluster: schedulers that die or fall silent, the failover
 * timeout, and failover to a new scheduler (Mesos `fault_tolerance_tests.cpp`).
 */
import test from 'ava';
import { RecordingScheduler, SimCluster, commandTask } from '../helpers/sim-cluster.ts';

/** Heartbeats every second; a scheduler silent for 3 s is disconnected. */
const FAST = { frameworkHeartbeatIntervalMs: 1000, maxFrameworkHeartbeatMisses: 3 };

test("a dead scheduler's offers are rescinded within the heartbeat timeout and go to another framework", async (t) => {
  const sim = await SimCluster.start({ masterFlags: FAST });
  t.teardown(() => sim.stop());
  const dead = new RecordingScheduler();
  const d = sim.driver(dead, { name: 'dead' });
  await sim.settle();
  t.is(dead.offers.length, 1, 'the first framework holds the only agent');
  const other = new RecordingScheduler();
  sim.driver(other, { name: 'other' });
  await sim.advance(1000, 100);
  t.is(other.offers.length, 0, 'nothing left for the other framework');
  // SIGKILL: the process is gone without a word.
  d.actor!.stop();
  await sim.advance(2500, 100);
  t.is(other.offers.length, 0, 'still within the heartbeat timeout');
  await sim.advance(1500, 100);
  t.is(other.offers.length, 1, "the dead framework's resources went to the other one");
  t.is(sim.metrics()['master/framework_disconnections'], 1);
  t.is(sim.metrics()['master/offers_rescinded'], 1);
});

test('a framework whose scheduler does not come back within its failover timeout is removed and its tasks killed', async (t) => {
  const sim = await SimCluster.start({ masterFlags: FAST });
  t.teardown(() => sim.stop());
  const sched = new RecordingScheduler();
  const d = sim.driver(sched, { failoverTimeoutSeconds: 10 });
  await sim.settle();
  const [offer] = sched.takeOffers();
  d.launchTasks([offer!.id], [commandTask(offer!, 't1', 'sleep 1000')]);
  await sim.settle();
  d.actor!.stop();
  await sim.advance(4000, 100);
  t.is(sim.metrics()['master/frameworks_disconnected'], 1, 'disconnected, not yet removed');
  t.is(sim.containerizer.killed.length, 0, 'its task still runs during the failover timeout');
  await sim.advance(10_000, 100);
  t.is(sim.containerizer.killed.length, 1, 'removed: its executor was shut down');
  t.is(sim.masterState.frameworks.size, 0);
  t.is(sim.masterState.completedFrameworks[0]?.completedTasks[0]?.state, 'TASK_KILLED');
  // A scheduler subscribing with the removed id is refused.
  const late = new RecordingScheduler();
  sim.driver(late, { id: sched.frameworkId! });
  await sim.settle();
  t.deepEqual(late.errors, ['Framework has been removed']);
  t.is(late.frameworkId, undefined);
});

test('a scheduler that comes back within its failover timeout keeps everything', async (t) => {
  const sim = await SimCluster.start({ masterFlags: FAST });
  t.teardown(() => sim.stop());
  const sched = new RecordingScheduler();
  const d = sim.driver(sched, { failoverTimeoutSeconds: 60 });
  await sim.settle();
  const [offer] = sched.takeOffers();
  d.launchTasks([offer!.id], [commandTask(offer!, 't1', 'sleep 1000')]);
  await sim.settle();
  d.actor!.stop();
  await sim.advance(10_000, 500);
  const again = new RecordingScheduler();
  sim.driver(again, { id: sched.frameworkId!, failoverTimeoutSeconds: 60 });
  await sim.settle();
  t.is(again.frameworkId, sched.frameworkId);
  t.is(sim.containerizer.killed.length, 0);
  again.updates = [];
  sim.drivers.at(-1)!.reconcileTasks([]);
  await sim.settle();
  t.deepEqual(again.updates.map((u) => [u.taskId, u.state]), [['t1', 'TASK_RUNNING']]);
});

test('with failover_timeout 0 a disconnected framework is removed at once; its old scheduler gets an error when it returns (FaultToleranceTest.SchedulerReregisterAfterFailoverTimeout)', async (t) => {
  const sim = await SimCluster.start({ masterFlags: FAST });
  t.teardown(() => sim.stop());
  const sched1 = new RecordingScheduler();
  const d1 = sim.driver(sched1, {}, { heartbeatIntervalMs: 1000, maxHeartbeatMisses: 3 });
  await sim.settle();
  // sched1 is cut off (its heartbeats never arrive) for longer than the heartbeat timeout.
  const heal = sim.partition(d1.pid);
  await sim.advance(4000, 100);
  t.is(sim.masterState.frameworks.size, 0, 'removed: the default failover timeout is 0');
  heal();
  await sim.advance(5000, 100);
  t.deepEqual(sched1.errors, ['Framework has been removed'], 'sched1 learns it when it subscribes again');
  const sched2 = new RecordingScheduler();
  sim.driver(sched2, { id: sched1.frameworkId! });
  await sim.settle();
  t.deepEqual(sched2.errors, ['Framework has been removed']);
  t.is(sched2.frameworkId, undefined, 'never registered');
});

test('an update lost on its way to a scheduler that then fails over reaches the new scheduler (FaultToleranceTest.SchedulerFailoverStatusUpdate)', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const sched1 = new RecordingScheduler();
  const d1 = sim.driver(sched1);
  await sim.settle();
  const [offer] = sched1.takeOffers();
  let dropped = 0;
  // The master's first TASK_STARTING to sched1 is lost, so the agent never gets an acknowledgement.
  sim.drop('StatusUpdate', (e) => e.from.includes('.master.') && e.body.update.status.state === 'TASK_STARTING' && dropped++ === 0);
  d1.launchTasks([offer!.id], [commandTask(offer!, 't1', 'sleep 1000')]);
  await sim.settle();
  t.deepEqual(sched1.statesOf('t1'), []);
  const sched2 = new RecordingScheduler();
  sim.driver(sched2, { id: sched1.frameworkId! });
  await sim.settle();
  t.deepEqual(sched1.errors, ['Framework failed over']);
  // The agent resends at once when told the framework's scheduler changed (at the latest after
  // the 10 s retry).
  await sim.advance(10_000, 500);
  t.deepEqual(sched2.statesOf('t1'), ['TASK_STARTING', 'TASK_RUNNING']);
});

test('the driver re-subscribes when its master falls silent, and the master keeps the framework', async (t) => {
  const sim = await SimCluster.start({ masterFlags: { frameworkHeartbeatIntervalMs: 1000, maxFrameworkHeartbeatMisses: 10 } });
  t.teardown(() => sim.stop());
  const sched = new RecordingScheduler();
  sim.driver(sched, { failoverTimeoutSeconds: 3600 }, { heartbeatIntervalMs: 1000, maxHeartbeatMisses: 3 });
  await sim.settle();
  const subs = sim.count('SubscribeFramework');
  // Everything the master sends to the scheduler is lost for a while.
  const stop = sim.bus.addFilter((m) => (m.subject.split('.')[2] === 'scheduler' ? 'drop' : 'deliver'));
  await sim.advance(5000, 100);
  t.true(subs.n >= 1, 'the driver noticed the silence and subscribed again');
  t.is(sched.disconnects, 1);
  stop();
  await sim.advance(10_000, 500);
  t.true(sim.drivers[0]!.actor!.getSnapshot().hasTag('subscribed'));
  t.is(sim.masterState.frameworks.size, 1);
  t.is(sim.masterState.frameworks.get(sched.frameworkId!)?.connected, true);
});
