/**
 * The offer cycle on a simulated cluster: registration, offers, launch, status updates and
 * acknowledgements, declines and their filters, kills and teardown.
 */
import test from 'ava';
import { equals, parseResources, scalar } from '../../protocols/resources.ts';
import { RecordingScheduler, SimCluster, TEST_AGENT_RESOURCES, commandTask } from '../helpers/sim-cluster.ts';

const task = commandTask;

test('an agent registers with jittered exponential backoff while the master does not answer', async (t) => {
  const sim = await SimCluster.start({ agents: 0 });
  t.teardown(() => sim.stop());
  const sends = sim.count('RegisterAgent');
  const stopDropping = sim.drop('RegisterAgent');
  const agent = sim.addAgent(TEST_AGENT_RESOURCES, { registrationBackoffMs: 1000 });
  await sim.settle();
  // First attempt at once; retry k waits 1 s × 2^k, scaled by a factor in [0.5, 1.5) drawn from
  // the agent's PID (so thousands of agents that lost their master do not come back together).
  t.is(sends.n, 1);
  const at: number[] = [];
  const start = sim.clock.now();
  let seen = 1;
  while (sim.clock.now() - start < 20_000) {
    await sim.advance(50, 50);
    if (sends.n > seen) {
      seen = sends.n;
      at.push(sim.clock.now() - start);
    }
  }
  t.true(at.length >= 3, `retries at ${at.join(', ')} ms`);
  const gaps = at.map((x, i) => x - (at[i - 1] ?? 0));
  for (const [k, gap] of gaps.entries()) {
    const base = 1000 * 2 ** k;
    t.true(gap >= 0.5 * base - 50 && gap <= 1.5 * base + 50, `retry ${k + 1} after ${gap} ms, expected ${0.5 * base}–${1.5 * base} ms`);
  }
  stopDropping();
  await sim.advance(70_000, 1000);
  t.true(agent.host.actor.getSnapshot().hasTag('registered'));
  t.is(sim.masterState.agents.size, 1);
});

test('offer → launch → TASK_RUNNING → TASK_FINISHED, acknowledged, resources re-offered', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const sched = new RecordingScheduler();
  sim.driver(sched);
  await sim.settle();
  t.truthy(sched.frameworkId);
  const [offer] = sched.takeOffers();
  t.truthy(offer);
  // The whole agent is offered: cpus:2;gpus:0;mem:1024;disk:1024;ports:[31000-32000].
  t.true(equals(offer!.resources, parseResources(TEST_AGENT_RESOURCES)));

  sim.drivers[0]!.launchTasks([offer!.id], [task(offer!, 't1', 'exit 0')]);
  await sim.settle();
  t.deepEqual(sched.statesOf('t1'), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
  // Every update was acknowledged: the agent holds no pending stream, the master no task.
  t.is(sim.agents[0]!.host.actor.getSnapshot().context.state.streams.size, 0);
  const fw = sim.masterState.frameworks.get(sched.frameworkId!)!;
  t.is(fw.tasks.size, 0);
  t.is(fw.completedTasks[0]?.state, 'TASK_FINISHED');
  // The launch declined the unused part with the default 5 s filter; once it and the task's
  // resources are back, the whole agent is offered again.
  await sim.advance(6000);
  const again = sched.takeOffers();
  t.is(again.length, 1);
  t.true(equals(again[0]!.resources, parseResources(TEST_AGENT_RESOURCES)));
});

test('a failing command ends TASK_FAILED with its exit status', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const sched = new RecordingScheduler();
  sim.driver(sched);
  await sim.settle();
  const [offer] = sched.takeOffers();
  sim.drivers[0]!.launchTasks([offer!.id], [task(offer!, 't1', 'exit 3')]);
  await sim.settle();
  const last = sched.updates.at(-1)!;
  t.is(last.state, 'TASK_FAILED');
  t.regex(last.message ?? '', /status 3/);
});

test('decline with refuse_seconds=0 is re-offered within one allocation interval (SchedulerTest.Decline)', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const { sched, d, offer } = await sim.framework();
  d.declineOffer(offer!.id, { refuseSeconds: 0 });
  await sim.settle();
  t.is(sched.offers.length, 0);
  await sim.advance(1000);
  t.is(sched.offers.length, 1);
  t.true(equals(sched.offers[0]!.resources, offer!.resources));
});

test('a decline filter holds for refuse_seconds, then expires; revive clears it at once', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const sched = new RecordingScheduler();
  const d = sim.driver(sched);
  await sim.settle();
  let [offer] = sched.takeOffers();
  d.declineOffer(offer!.id, { refuseSeconds: 5 });
  await sim.settle();
  await sim.advance(4900);
  t.is(sched.offers.length, 0, 'filtered for 5 s');
  await sim.advance(1100);
  t.is(sched.offers.length, 1, 'offered again after the filter expired');

  [offer] = sched.takeOffers();
  d.declineOffer(offer!.id, { refuseSeconds: 3600 });
  await sim.advance(30_000);
  t.is(sched.offers.length, 0, 'a 1 h filter holds');
  d.reviveOffers();
  await sim.settle();
  t.is(sched.offers.length, 1, 'revive removes the filter');
});

test('suppress stops offers until revive', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const { sched, d, offer } = await sim.framework();
  d.suppressOffers();
  d.declineOffer(offer!.id, { refuseSeconds: 0 });
  await sim.advance(10_000);
  t.is(sched.offers.length, 0);
  d.reviveOffers();
  await sim.settle();
  t.is(sched.offers.length, 1);
});

test('kill of a running task → TASK_KILLED; kill of an unknown task → TASK_LOST (MasterTest.KillTask/KillUnknownTask)', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const { sched, d, offer } = await sim.framework();
  d.launchTasks([offer!.id], [task(offer!, 'long', 'sleep 1000')]);
  await sim.settle();
  t.is(sched.statesOf('long').at(-1), 'TASK_RUNNING');
  d.killTask('long');
  await sim.settle();
  t.is(sched.statesOf('long').at(-1), 'TASK_KILLED');
  d.killTask('2');
  await sim.settle();
  t.is(sched.statesOf('2').at(-1), 'TASK_LOST');
});

test('launch with an unknown offer or the same offer twice → TASK_LOST, REASON_INVALID_OFFERS', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const { sched, d, offer } = await sim.framework();
  d.launchTasks([offer!.id, offer!.id], [task(offer!, 'dup', 'exit 0')]);
  d.launchTasks(['no-such-offer'], [task(offer!, 'bogus', 'exit 0')]);
  await sim.settle();
  for (const id of ['dup', 'bogus']) {
    const u = sched.updates.find((s) => s.taskId === id)!;
    t.is(u.state, 'TASK_LOST');
    t.is(u.reason, 'REASON_INVALID_OFFERS');
    t.is(u.source, 'SOURCE_MASTER');
  }
  t.is(sim.containerizer.launched.length, 0, 'nothing ran');
  // The master stayed up and still allocates.
  await sim.advance(6000);
  t.is(sched.offers.length, 1);
});

test('a task asking for more than offered → TASK_ERROR, the rest of the launch goes on', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const { sched, d, offer } = await sim.framework();
  d.launchTasks([offer!.id], [task(offer!, 'big', 'exit 0', 'cpus:4;mem:128'), task(offer!, 'ok', 'exit 0')]);
  await sim.settle();
  t.is(sched.statesOf('big')[0], 'TASK_ERROR');
  t.is(sched.statesOf('ok').at(-1), 'TASK_FINISHED');
});

test('teardown kills the framework’s executors, completes its tasks as TASK_KILLED and frees its resources', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const a = new RecordingScheduler();
  const da = sim.driver(a, { name: 'a' });
  await sim.settle();
  const [offer] = a.takeOffers();
  da.launchTasks([offer!.id], [task(offer!, 'long', 'sleep 1000')]);
  await sim.settle();
  t.is(a.statesOf('long').at(-1), 'TASK_RUNNING');
  const fwId = a.frameworkId!;
  const b = new RecordingScheduler();
  sim.driver(b, { name: 'b' });
  await sim.settle();
  t.is(b.offers.length, 1);
  // b holds the rest of the agent; declining it for a long time leaves the field to the teardown.
  sim.drivers[1]!.declineOffer(b.takeOffers()[0]!.id, { refuseSeconds: 0 });
  await da.stop();
  await sim.settle();
  t.is(sim.containerizer.killed.length, 1, "the framework's executor was killed");
  t.false(sim.masterState.frameworks.has(fwId));
  const done = sim.masterState.completedFrameworks.find((f) => f.id === fwId)!;
  t.truthy(done);
  t.is(done.completedTasks.find((x) => x.taskId === 'long')?.state, 'TASK_KILLED');
  await sim.advance(2000);
  // Framework b is now offered the whole agent again: cpus 2.
  const offers = b.takeOffers();
  t.is(offers.length, 1);
  t.is(scalar(offers[0]!.resources, 'cpus'), 2);
});

test('an executor that dies fails its command task (REASON_EXECUTOR_TERMINATED)', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const { sched, d, offer } = await sim.framework();
  d.launchTasks([offer!.id], [task(offer!, 'victim', 'sleep 1000')]);
  await sim.settle();
  sim.containerizer.crash(sim.containerizer.launched[0]!.containerId, 137);
  await sim.settle();
  const last = sched.updates.at(-1)!;
  t.is(last.taskId, 'victim');
  t.is(last.state, 'TASK_FAILED');
  t.is(last.reason, 'REASON_EXECUTOR_TERMINATED');
  t.is(last.source, 'SOURCE_AGENT');
});

test('an executor that never registers: TASK_FAILED after the registration timeout (SlaveTest.ShutdownUnregisteredExecutor)', async (t) => {
  const sim = await SimCluster.start({ agentFlags: { executorRegistrationTimeoutMs: 60_000 } });
  t.teardown(() => sim.stop());
  sim.containerizer.register = false;
  const { sched, d, offer } = await sim.framework();
  d.launchTasks([offer!.id], [task(offer!, 'stuck', 'exit 0')]);
  await sim.advance(59_000, 1000);
  t.deepEqual(sched.statesOf('stuck'), []);
  await sim.advance(2000, 1000);
  const u = sched.updates.find((s) => s.taskId === 'stuck')!;
  t.is(u.state, 'TASK_FAILED');
  t.is(u.reason, 'REASON_EXECUTOR_REGISTRATION_TIMEOUT');
  t.is(u.source, 'SOURCE_AGENT');
  t.is(sim.containerizer.killed.length, 1);
});
