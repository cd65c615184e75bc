/**
 * Allocation policy through the master on a simulated cluster: revocation for a guarantee, the
 * requests API, operator whitelist, and offer timeouts.
 */
import test from 'ava';
import { parseResources, scalar } from '../../protocols/resources.ts';
import type { Offer, TaskInfo } from '../../protocols/records.ts';
import { RecordingScheduler, SimCluster, commandTask } from '../helpers/sim-cluster.ts';

const sleepTask = (offer: Offer, id: string, resources = 'cpus:1;mem:512'): TaskInfo => commandTask(offer, id, 'sleep 1000', resources);

test('a role guaranteed half the cluster gets exactly that much back from a full cluster, after the grace period', async (t) => {
  // Four agents of cpus 2, mem 1024: 8 cpus, 4096 mem in all.
  const sim = await SimCluster.start({ agents: 4, agentResources: 'cpus:2;mem:1024', masterFlags: { revocationGracePeriodMs: 5000 } });
  t.teardown(() => sim.stop());
  const batch = new RecordingScheduler();
  const db = sim.driver(batch, { name: 'batch', roles: ['batch'] });
  await sim.settle();
  // batch fills the cluster: two tasks of cpus 1, mem 512 per agent, one agent per 100 ms, so the
  // tasks on later agents are younger.
  const offers = batch.takeOffers();
  t.is(offers.length, 4);
  const launched: string[] = [];
  for (const [i, o] of offers.entries()) {
    db.launchTasks([o.id], [sleepTask(o, `b${i}a`), sleepTask(o, `b${i}b`)]);
    launched.push(`b${i}a`, `b${i}b`);
    await sim.advance(100);
  }
  t.true(launched.every((id) => batch.statesOf(id).at(-1) === 'TASK_RUNNING'));

  // prod is guaranteed half: cpus 4, mem 2048. Nothing is free, so holding back cannot help.
  sim.operator({ type: 'UpdateQuota', body: { role: 'prod', guarantees: { cpus: 4, mem: 2048 } } });
  const prod = new RecordingScheduler();
  sim.driver(prod, { name: 'prod', roles: ['prod'] });
  await sim.advance(1000);
  // deficit = (4, 2048) − free (0, 0) → the 4 youngest tasks (4 × (1, 512)) and no more.
  t.is(batch.revocations.length, 1);
  const doomed = batch.revocations[0]!.tasks.map((x) => x.taskId).sort();
  t.deepEqual(doomed, ['b2a', 'b2b', 'b3a', 'b3b']);
  t.is(batch.revocations[0]!.gracePeriodMs, 5000);
  // Told first: nothing is killed during the grace period.
  await sim.advance(3000);
  t.true(launched.every((id) => batch.statesOf(id).at(-1) === 'TASK_RUNNING'));
  await sim.advance(3000);
  for (const id of launched) t.is(batch.statesOf(id).at(-1), doomed.includes(id) ? 'TASK_KILLED' : 'TASK_RUNNING', id);
  await sim.advance(2000);
  // The freed resources went to prod: exactly its guarantee.
  const got = prod.offers;
  t.is(got.reduce((n, o) => n + scalar(o.resources, 'cpus'), 0), 4);
  t.is(got.reduce((n, o) => n + scalar(o.resources, 'mem'), 0), 2048);
  // And nothing more is taken later.
  await sim.advance(20_000, 500);
  t.is(batch.revocations.length, 1);
  t.is(launched.filter((id) => batch.statesOf(id).at(-1) === 'TASK_RUNNING').length, 4);
});

test('no revocation while free resources can cover the guarantee', async (t) => {
  const sim = await SimCluster.start({ agents: 2, agentResources: 'cpus:2;mem:1024' });
  t.teardown(() => sim.stop());
  const batch = new RecordingScheduler();
  const db = sim.driver(batch, { name: 'batch', roles: ['batch'] });
  await sim.settle();
  const [o] = batch.takeOffers();
  db.launchTasks([o!.id], [sleepTask(o!, 'only', 'cpus:2;mem:1024')]);
  sim.operator({ type: 'UpdateQuota', body: { role: 'prod', guarantees: { cpus: 2, mem: 1024 } } });
  const prod = new RecordingScheduler();
  sim.driver(prod, { name: 'prod', roles: ['prod'] });
  await sim.advance(10_000, 500);
  t.is(batch.revocations.length, 0);
  t.is(batch.statesOf('only').at(-1), 'TASK_RUNNING');
  t.is(scalar(prod.offers[0]!.resources, 'cpus'), 2);
});

test('requests: an excluded agent is never offered; an offer below the minimum is not made', async (t) => {
  const sim = await SimCluster.start({ agents: 2, agentResources: 'cpus:2;mem:1024' });
  t.teardown(() => sim.stop());
  const s = new RecordingScheduler();
  const d = sim.driver(s);
  await sim.settle();
  const initial = s.takeOffers();
  t.is(initial.length, 2);
  const excluded = initial[0]!.agentId;
  // Ask never to see `excluded`, decline everything with no filter, and revive.
  d.requestResources({ excludedAgents: [excluded] });
  for (const o of initial) d.declineOffer(o.id, { refuseSeconds: 0 });
  d.reviveOffers();
  await sim.advance(3000);
  t.true(s.offers.length > 0);
  t.false(s.offers.some((o) => o.agentId === excluded));
  for (const o of s.takeOffers()) d.declineOffer(o.id, { refuseSeconds: 0 });
  d.requestResources({ minOffer: parseResources('cpus:3') });
  await sim.advance(3000);
  t.is(s.offers.length, 0, 'no agent has 3 cpus');
});

test('operator whitelist: only listed hosts are offered', async (t) => {
  const sim = await SimCluster.start({ agents: 2, agentResources: 'cpus:2;mem:1024' });
  t.teardown(() => sim.stop());
  sim.operator({ type: 'UpdateWhitelist', body: { hostnames: ['a1.sim'] } });
  await sim.settle();
  const s = new RecordingScheduler();
  sim.driver(s);
  await sim.advance(3000);
  t.deepEqual([...new Set(s.offers.map((o) => o.hostname))], ['a1.sim']);
});

test('an unanswered offer is rescinded after the offer timeout and offered again (MasterTest.OfferTimeout)', async (t) => {
  const sim = await SimCluster.start({ masterFlags: { offerTimeoutMs: 30_000 } });
  t.teardown(() => sim.stop());
  const s = new RecordingScheduler();
  sim.driver(s);
  await sim.settle();
  const [first] = s.takeOffers();
  await sim.advance(29_000, 1000);
  t.deepEqual(s.rescinded, []);
  await sim.advance(2000, 1000);
  t.deepEqual(s.rescinded, [first!.id]);
  await sim.advance(1000, 1000);
  t.is(s.offers.length, 1);
  t.deepEqual(s.offers[0]!.resources, first!.resources);
  const m = sim.masterState.metrics;
  t.is(m['master/offers_sent'], 2);
  t.is(m['master/offers_rescinded'], 1);
  t.is(m['master/offers_accepted'] ?? 0, 0);
});
