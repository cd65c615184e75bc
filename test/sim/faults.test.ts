/**
 * Fault handling on a simulated cluster: lost and duplicated messages, spoofed masters, a
 * disconnected driver, scheduler failover and reconciliation.
 */
import test from 'ava';
import { Codec, envelope } from '../../protocols/envelope.ts';
import { pid, subjectFor } from '../../protocols/pid.ts';
import { RecordingScheduler, SimCluster, commandTask, envelopeOf } from '../helpers/sim-cluster.ts';

const task = commandTask;

async function runningTask(sim: SimCluster, sched: RecordingScheduler, id: string, command = 'sleep 1000') {
  const d = sim.driver(sched);
  await sim.settle();
  const [offer] = sched.takeOffers();
  d.launchTasks([offer!.id], [task(offer!, id, command)]);
  return { d, offer: offer! };
}

test('a status update lost on its way to the master is retried after 10 s (TaskStatusUpdateManagerTest.RetryStatusUpdate)', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const sched = new RecordingScheduler();
  let dropped = 0;
  const stop = sim.drop('StatusUpdate', (e) => e.from.includes('.agent.') && e.body.update.status.state === 'TASK_STARTING' && dropped++ === 0);
  await runningTask(sim, sched, 't1');
  await sim.settle();
  // One update outstanding per task: nothing after STARTING moves until it is acknowledged.
  t.deepEqual(sched.statesOf('t1'), []);
  await sim.advance(9_900);
  t.deepEqual(sched.statesOf('t1'), []);
  await sim.advance(200);
  t.deepEqual(sched.statesOf('t1'), ['TASK_STARTING', 'TASK_RUNNING']);
  stop();
});

test('while an update is unacknowledged the retry carries the latest state (TaskStatusUpdateManagerTest.LatestTaskState)', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const sched = new RecordingScheduler();
  // Drop the scheduler's first two acknowledgements: the agent keeps TASK_STARTING outstanding
  // while TASK_RUNNING and TASK_FINISHED queue behind it.
  let drops = 0;
  sim.drop('AcknowledgeStatusUpdate', () => drops++ < 2);
  const toMaster: Array<{ state: string; latest?: string }> = [];
  sim.bus.addFilter((m) => {
    if (m.subject.split('.')[2] === 'master' && m.subject.split('.')[5] === 'StatusUpdate') {
      const { update } = envelopeOf(m).body;
      toMaster.push({ state: update.status.state, latest: update.latestState });
    }
    return 'deliver';
  });
  await runningTask(sim, sched, 't1', 'exit 0');
  await sim.settle();
  t.deepEqual(sched.statesOf('t1'), ['TASK_STARTING']);
  await sim.advance(10_100);
  // The retry is still TASK_STARTING, now saying the task has since finished.
  t.deepEqual(toMaster.at(-1), { state: 'TASK_STARTING', latest: 'TASK_FINISHED' });
  await sim.advance(30_000, 1000);
  t.deepEqual(sched.statesOf('t1'), ['TASK_STARTING', 'TASK_STARTING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
});

test('a duplicate status update (same uuid) is dropped by the agent (DuplicateUpdateBeforeAck)', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const sched = new RecordingScheduler();
  // Every executor → agent StatusUpdate is delivered twice (receiver kind is the third token).
  sim.bus.addFilter((m) => (m.subject.split('.')[2] === 'agent' && m.subject.split('.')[5] === 'StatusUpdate' ? 'duplicate' : 'deliver'));
  await runningTask(sim, sched, 't1', 'exit 0');
  await sim.settle();
  t.deepEqual(sched.statesOf('t1'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
});

test('the driver drops messages from a master that is not the leader (FaultToleranceTest.SplitBrainMasters)', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const sched = new RecordingScheduler();
  const { d } = await runningTask(sim, sched, 't1');
  await sim.settle();
  const driverPid = d.pid;
  // A TASK_LOST forged by another "master".
  const fake = pid('sim', 'master', 'impostor');
  const codec = new Codec();
  const body = { update: { frameworkId: sched.frameworkId!, uuid: 'forged', status: { taskId: 't1', state: 'TASK_LOST' as const, timestamp: 0 } } };
  sim.bus.transport().publish(subjectFor(driverPid, 'StatusUpdate', 'master'), codec.encode(envelope(fake, 'x1', { type: 'StatusUpdate', body })));
  await sim.settle();
  t.false(sched.statesOf('t1').includes('TASK_LOST'));
  d.killTask('t1');
  await sim.settle();
  t.is(sched.statesOf('t1').at(-1), 'TASK_KILLED');
});

test('a launch while disconnected is answered by the driver itself: TASK_LOST, REASON_MASTER_DISCONNECTED', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const { sched, d, offer } = await sim.framework();
  sim.lease.expire('test');
  await sim.settle();
  t.is(sched.disconnects, 1);
  d.launchTasks([offer!.id], [task(offer!, 'orphan', 'exit 0')]);
  await sim.settle();
  const u = sched.updates.find((s) => s.taskId === 'orphan')!;
  t.is(u.state, 'TASK_LOST');
  t.is(u.reason, 'REASON_MASTER_DISCONNECTED');
  t.is(u.source, 'SOURCE_MASTER');
});

test('a second scheduler with the same framework id takes over; the first gets an error (FaultToleranceTest.SchedulerFailover)', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const first = new RecordingScheduler();
  sim.driver(first);
  await sim.settle();
  const [stale] = first.takeOffers();
  const second = new RecordingScheduler();
  sim.driver(second, { id: first.frameworkId! });
  await sim.settle();
  t.is(second.frameworkId, first.frameworkId);
  t.deepEqual(first.errors, ['Framework failed over']);
  t.false(sim.masterState.offers.has(stale!.id), "the first scheduler's offer was rescinded");
  await sim.advance(1000);
  t.true(second.offers.length >= 1, 'offers now go to the new scheduler');
});

test('reconciliation: known task → its state, unknown task → TASK_LOST, implicit → every task (ReconciliationTest)', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const sched = new RecordingScheduler();
  const { d, offer } = await runningTask(sim, sched, 'r1');
  await sim.settle();
  sched.updates = [];
  d.reconcileTasks([{ taskId: 'r1' }, { taskId: 'ghost', agentId: offer.agentId }]);
  await sim.settle();
  const r1 = sched.updates.find((u) => u.taskId === 'r1')!;
  t.is(r1.state, 'TASK_RUNNING');
  t.is(r1.reason, 'REASON_RECONCILIATION');
  t.is(sched.updates.find((u) => u.taskId === 'ghost')?.state, 'TASK_LOST');
  sched.updates = [];
  d.reconcileTasks([]);
  await sim.settle();
  t.deepEqual(sched.updates.map((u) => [u.taskId, u.state]), [['r1', 'TASK_RUNNING']]);
});

test('messages for a framework from another scheduler are ignored', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const sched = new RecordingScheduler();
  await runningTask(sim, sched, 'keep');
  await sim.settle();
  const codec = new Codec();
  const intruder = pid('sim', 'scheduler', 'intruder');
  const body = { frameworkId: sched.frameworkId!, taskId: 'keep' };
  sim.bus.transport().publish(subjectFor(sim.master.pid, 'KillTask', 'scheduler'), codec.encode(envelope(intruder, 'k1', { type: 'KillTask', body })));
  await sim.settle();
  t.is(sched.statesOf('keep').at(-1), 'TASK_RUNNING');
  t.is(sim.masterState.metrics['master/dropped_messages'], 1);
});
