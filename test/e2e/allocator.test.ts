/**
 * The allocator through the master on a real NATS server: declines and their filters as a
 * framework sees them (SchedulerTest.Decline / Revive in Mesos' suite).
 */
import test from 'ava';
import type { InspectionEvent } from 'xstate';
import type { NatsConnection } from '@nats-io/transport-node';
import { acquireNats, type AcquiredNats } from '../helpers/nats.ts';
import { connectNats, NatsTransport } from '../../runtime/transport-nats.ts';
import { KvLeaderDetector, KvLeaseCandidate } from '../../runtime/lease.ts';
import { startMaster, type MasterHandle } from '../../runtime/master.ts';
import { startAgent, type AgentHandle } from '../../runtime/agent.ts';
import { SchedulerDriver } from '../../runtime/scheduler-driver.ts';
import { silentLogger } from '../../runtime/log.ts';
import { parseResources } from '../../protocols/resources.ts';
import type { Offer } from '../../protocols/records.ts';

const CLUSTER = `alloc${process.pid}`;
let nats: AcquiredNats;
let nc: NatsConnection;
let transport: NatsTransport;
let master: MasterHandle;
const agents: AgentHandle[] = [];
const drivers: SchedulerDriver[] = [];
/** Batch allocations the master has run so far (counted from its inspection stream). */
let batches = 0;

test.before(async () => {
  nats = await acquireNats();
  nc = await connectNats({ servers: nats.url, name: 'allocator-test' });
  transport = new NatsTransport(nc);
  const inspect = (e: InspectionEvent) => {
    if (e.type === '@xstate.event' && e.event.type.startsWith('xstate.after.allocationInterval')) batches += 1;
  };
  master = startMaster({
    transport,
    cluster: CLUSTER,
    logger: silentLogger(),
    flags: { allocationIntervalMs: 300 },
    inspect,
    lease: (value) => new KvLeaseCandidate({ nc, cluster: CLUSTER, leaseMs: 10_000, value }),
  });
  await master.elected();
  for (let i = 0; i < 2; i++) {
    agents.push(startAgent({
      transport,
      cluster: CLUSTER,
      logger: silentLogger(),
      detector: new KvLeaderDetector({ nc, cluster: CLUSTER }),
      resources: parseResources('cpus:2;mem:1024;disk:1024;ports:[31000-32000]'),
      workDir: `/tmp/${CLUSTER}-a${i}`,
      commandExecutor: [],
    }));
  }
  await Promise.all(agents.map((a) => a.registered()));
});

test.after.always(async () => {
  for (const d of drivers) await d.stop().catch(() => {});
  for (const a of agents) await a.stop();
  await master?.stop();
  await transport?.close();
  await nats?.stop();
});

/** A framework whose offers land in a queue the test reads from. */
function framework(name: string): TestFramework {
  const queue: Offer[] = [];
  let wake: (() => void) | undefined;
  let onRegistered: () => void = () => {};
  const registered = new Promise<void>((resolve) => { onRegistered = resolve; });
  const driver: SchedulerDriver = new SchedulerDriver({
    registered: () => onRegistered(),
    resourceOffers: (_d, offers) => {
      queue.push(...offers);
      wake?.();
    },
  }, { name, roles: ['*'] }, { transport, cluster: CLUSTER, detector: new KvLeaderDetector({ nc, cluster: CLUSTER }), logger: silentLogger() });
  drivers.push(driver);
  driver.start();
  /** Resolves with the next offers received (bounded wait). */
  const next = (timeoutMs = 15_000): Promise<Offer[]> => new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      wake = undefined;
      resolve(queue.splice(0));
    };
    const timer = setTimeout(() => {
      // Say what the master was doing, so that a failure under load explains itself.
      const snap = master.host.actor.getSnapshot();
      const s = snap.context.state;
      reject(new Error(`${name}: no offer within ${timeoutMs} ms; master ${JSON.stringify(snap.value)}, epoch ${snap.context.epoch}, ` +
        `allocation ${JSON.stringify({ ...s.allocation, dirty: s.allocation.dirty.size, pass: s.allocation.pass?.agents.length })}, ` +
        `agents ${s.agents.size}, frameworks ${[...s.frameworks.values()].map((f) => `${f.info.name}:${f.connected ? 'connected' : 'disconnected'}:${f.active ? 'active' : 'inactive'}`).join(',')}, offers ${s.offers.size}, batches ${batches}`));
    }, timeoutMs);
    if (queue.length > 0) done();
    else wake = done;
  });
  const handle: TestFramework = { driver, next, queue, registered };
  frameworks.push(handle);
  return handle;
}
interface TestFramework {
  driver: SchedulerDriver;
  next: (timeoutMs?: number) => Promise<Offer[]>;
  queue: Offer[];
  registered: Promise<void>;
}
const frameworks: TestFramework[] = [];

/** Resolves after `n` more batch allocations have run. */
async function batchesPass(n: number, timeoutMs = 15_000): Promise<void> {
  const target = batches + n;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('batch allocations stopped')), timeoutMs);
    const check = () => (batches >= target ? (clearTimeout(timer), resolve()) : setTimeout(check, 20));
    check();
  });
}

test.serial('two frameworks declining with refuse_seconds=0 are offered again at the next batch allocation', async (t) => {
  const a = framework('a');
  // a subscribed first, alone: it is offered both agents.
  const firstA = await a.next();
  t.is(firstA.length, 2);
  // b subscribes while a holds everything, so it is offered nothing yet. Waiting for its
  // registration first keeps the next step independent of how fast the master answers.
  const b = framework('b');
  await b.registered;
  t.deepEqual(b.queue, []);
  // a declines both: the next allocation sees shares 0 and 0, b has had fewer allocations → b
  // takes one agent, then a (share 0 < b's 2/4) takes the other.
  for (const o of firstA) a.driver.declineOffer(o.id, { refuseSeconds: 0 });
  const [oa, ob] = [await a.next(), await b.next()];
  t.is(oa.length, 1);
  t.is(ob.length, 1);
  t.not(oa[0]!.agentId, ob[0]!.agentId);

  const before = batches;
  a.driver.declineOffer(oa[0]!.id, { refuseSeconds: 0 });
  b.driver.declineOffer(ob[0]!.id, { refuseSeconds: 0 });
  const [againA, againB] = [await a.next(), await b.next()];
  t.is(againA.length, 1);
  t.is(againB.length, 1);
  // Declines start no allocation of their own: the re-offers came from the next batch, at most one
  // allocation interval later.
  t.true(batches - before <= 1, `${batches - before} batch allocations passed before the re-offers`);
  a.driver.declineOffer(againA[0]!.id, { refuseSeconds: 3600 });
  b.driver.declineOffer(againB[0]!.id, { refuseSeconds: 3600 });
});

test.serial('with a 1 h filter nothing is offered until the framework revives', async (t) => {
  const [a, b] = frameworks;
  // Each framework declined one agent for an hour in the previous test; the other agent (declined
  // by the other framework) is offered to it now. Declining that too leaves both filtered everywhere.
  const [oa, ob] = [await a!.next(), await b!.next()];
  for (const o of oa) a!.driver.declineOffer(o.id, { refuseSeconds: 3600 });
  for (const o of ob) b!.driver.declineOffer(o.id, { refuseSeconds: 3600 });
  await batchesPass(5);
  t.deepEqual(a!.queue, [], 'no offer to a in five batch allocations');
  t.deepEqual(b!.queue, [], 'no offer to b in five batch allocations');
  // Revive removes a's filters and allocates at once.
  a!.driver.reviveOffers();
  const offers = await a!.next();
  t.true(offers.length >= 1);
  t.deepEqual(b!.queue, [], 'b is still filtered');
});
