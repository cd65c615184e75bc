import test from 'ava';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { KvLeaderDetector, KvLeaseCandidate, LEADER_KEY, leaseBucketName } from '../../runtime/lease.ts';
import { MemoryLeaseStore } from '../../runtime/lease-memory.ts';
import { connectNats } from '../../runtime/transport-nats.ts';
import type { LeaderInfo, LeaseCandidate, LeaseEvent, LeaderDetector } from '../../runtime/types.ts';
import { acquireNats, type AcquiredNats } from '../helpers/nats.ts';

/** Resolves with `promise`, or rejects once `ms` pass first. */
function waitFor<T>(promise: Promise<T>, ms: number, what = 'event'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Records values and lets a test await the first (past or future) one matching a predicate. */
class Recorder<T> {
  readonly items: T[] = [];
  #waiters: Array<{ pred: (v: T) => boolean; resolve: (v: T) => void }> = [];
  push = (v: T): void => {
    this.items.push(v);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.pred(v)) return true;
      w.resolve(v);
      return false;
    });
  };
  /** First item after index `from` matching `pred`. */
  next(pred: (v: T) => boolean, ms: number, what: string, from = 0): Promise<T> {
    const found = this.items.slice(from).find(pred);
    if (found !== undefined) return Promise.resolve(found);
    return waitFor(new Promise<T>((resolve) => this.#waiters.push({ pred, resolve })), ms, what);
  }
}

const LEASE_MS = 1000;
let nats: AcquiredNats | undefined;
const conns: NatsConnection[] = [];
const stoppables: Array<LeaseCandidate | LeaderDetector> = [];

test.before(async () => {
  nats = await acquireNats();
});

test.after.always(async () => {
  await Promise.allSettled(stoppables.map((s) => s.stop()));
  await Promise.allSettled(conns.map((nc) => (nc.isClosed() ? undefined : nc.close())));
  await nats?.stop();
});

async function conn(name: string): Promise<NatsConnection> {
  const nc = await connectNats({ servers: nats!.url, name });
  conns.push(nc);
  return nc;
}

async function candidate(cluster: string, pid: string): Promise<{ c: KvLeaseCandidate; ev: Recorder<LeaseEvent>; nc: NatsConnection }> {
  const nc = await conn(pid);
  const c = new KvLeaseCandidate({ nc, cluster, leaseMs: LEASE_MS, value: { pid, hostname: 'localhost' } });
  stoppables.push(c);
  const ev = new Recorder<LeaseEvent>();
  c.start(ev.push);
  return { c, ev, nc };
}

async function detector(cluster: string): Promise<Recorder<LeaderInfo | undefined>> {
  const d = new KvLeaderDetector({ nc: await conn(`detector-${cluster}`), cluster, leaseMs: LEASE_MS });
  stoppables.push(d);
  const seen = new Recorder<LeaderInfo | undefined>();
  d.start(seen.push);
  return seen;
}

const acquired = (e: LeaseEvent): e is Extract<LeaseEvent, { type: 'lease.acquired' }> => e.type === 'lease.acquired';

test('acquire, standby, clean resign hands over with a larger epoch', async (t) => {
  const cluster = 'resign';
  const a = await candidate(cluster, 'master-a');
  const first = await a.ev.next(acquired, 5000, 'a acquires');
  t.true(first.type === 'lease.acquired' && first.epoch > 0);
  const epochA = (first as { epoch: number }).epoch;
  t.true(a.c.isLeader);

  const seen = await detector(cluster);
  const reportedA = await seen.next((l) => l?.pid === 'master-a', 5000, 'detector reports a');
  t.is(reportedA!.epoch, epochA);

  const b = await candidate(cluster, 'master-b');
  // b must stay standby while a renews: wait across several renewals and more than a lease.
  const bLead = b.ev.next(acquired, 1500, 'b acquires early').then(
    () => true,
    () => false,
  );
  t.false(await bLead, 'standby acquired while the leader was renewing');
  t.false(b.c.isLeader);

  const before = Date.now();
  await a.c.stop();
  const second = await b.ev.next(acquired, 5000, 'b acquires after resign');
  const handover = Date.now() - before;
  const epochB = (second as { epoch: number }).epoch;
  t.true(epochB > epochA);
  const reportedB = await seen.next((l) => l?.pid === 'master-b', 5000, 'detector reports b');
  t.is(reportedB!.epoch, epochB);
  t.deepEqual(a.ev.items, [first], 'a clean resign emits no lease.lost');
  t.log(`clean resign handover: ${handover} ms (epochs ${epochA} → ${epochB})`);
});

test('a crashed leader (connection closed, no resign) is replaced after the lease runs out', async (t) => {
  const cluster = 'crash';
  const a = await candidate(cluster, 'master-a');
  const first = await a.ev.next(acquired, 5000, 'a acquires');
  const epochA = (first as { epoch: number }).epoch;
  const seen = await detector(cluster);
  await seen.next((l) => l?.pid === 'master-a', 5000, 'detector reports a');
  const b = await candidate(cluster, 'master-b');
  // let b see at least one renewal by a before the crash
  await b.ev.next(acquired, 500, 'b acquires early').then(
    () => t.fail('standby acquired while the leader was renewing'),
    () => {},
  );

  const crashAt = Date.now();
  await a.nc.close(); // no stop(): the key is left to expire
  const second = await b.ev.next(acquired, 5000, 'b acquires after the crash');
  const failover = Date.now() - crashAt;
  const epochB = (second as { epoch: number }).epoch;
  t.true(epochB > epochA);
  const reportedB = await seen.next((l) => l?.pid === 'master-b', 5000, 'detector reports b');
  t.is(reportedB!.epoch, epochB);
  // the crashed side notices too: its renewals fail and it steps down
  const lost = await a.ev.next((e) => e.type === 'lease.lost', 5000, 'a reports lease.lost');
  t.is(lost.type, 'lease.lost');
  t.log(`crash failover with a ${LEASE_MS} ms lease: ${failover} ms (epochs ${epochA} → ${epochB})`);
});

test('the detector reports undefined when the lease ages out with nobody to take over', async (t) => {
  const cluster = 'expire';
  const a = await candidate(cluster, 'master-a');
  await a.ev.next(acquired, 5000, 'a acquires');
  const seen = await detector(cluster);
  await seen.next((l) => l?.pid === 'master-a', 5000, 'detector reports a');
  const from = seen.items.length;
  await a.nc.close();
  const none = await seen.next((l) => l === undefined, 5000, 'detector reports no leader', from);
  t.is(none, undefined);
});

test('a leader whose revision is overwritten loses the lease at its next renewal', async (t) => {
  const cluster = 'steal';
  const a = await candidate(cluster, 'master-a');
  await a.ev.next(acquired, 5000, 'a acquires');
  const kv = await new Kvm(await conn('intruder')).open(leaseBucketName(cluster));
  const entry = await kv.get(LEADER_KEY);
  await kv.update(LEADER_KEY, new TextEncoder().encode('{"pid":"intruder","hostname":"x","epoch":999}'), entry!.revision);
  const lost = await a.ev.next((e) => e.type === 'lease.lost', 2000, 'a loses the lease');
  t.regex((lost as { reason: string }).reason, /another master holds the lease|no longer holds this master/);
  t.false(a.c.isLeader);
});

test('MemoryLeaseStore: election order, epochs from 1, expire, resign and contending again', async (t) => {
  const store = new MemoryLeaseStore();
  const evA = new Recorder<LeaseEvent>();
  const evB = new Recorder<LeaseEvent>();
  const evC = new Recorder<LeaseEvent>();
  const seen = new Recorder<LeaderInfo | undefined>();
  const det = store.detector();
  det.start(seen.push);
  const a = store.candidate({ pid: 'a', hostname: 'h' });
  const b = store.candidate({ pid: 'b', hostname: 'h' });
  const c = store.candidate({ pid: 'c', hostname: 'h' });
  a.start(evA.push);
  b.start(evB.push);
  c.start(evC.push);
  t.deepEqual(store.current(), { pid: 'a', hostname: 'h', epoch: 1 });
  await Promise.resolve();
  t.deepEqual(evA.items, [{ type: 'lease.acquired', epoch: 1 }]);
  t.deepEqual(evB.items, []);

  // An expired holder is told, and contends again from the back of the queue.
  t.deepEqual(store.expire(), { pid: 'a', hostname: 'h', epoch: 1 });
  t.deepEqual(store.current(), { pid: 'b', hostname: 'h', epoch: 2 });
  await Promise.resolve();
  t.deepEqual(evA.items.at(-1), { type: 'lease.lost', reason: 'lease expired' });
  t.deepEqual(evB.items, [{ type: 'lease.acquired', epoch: 2 }]);

  await b.stop(); // clean resign: b leaves the contest
  t.deepEqual(store.current(), { pid: 'c', hostname: 'h', epoch: 3 });
  await Promise.resolve();
  t.deepEqual(evB.items, [{ type: 'lease.acquired', epoch: 2 }]);
  t.deepEqual(evC.items, [{ type: 'lease.acquired', epoch: 3 }]);

  c.resign('broken invariant'); // c gives up, and waits behind a
  t.deepEqual(store.current(), { pid: 'a', hostname: 'h', epoch: 4 });
  await Promise.resolve();
  t.deepEqual(evA.items.at(-1), { type: 'lease.acquired', epoch: 4 });
  t.deepEqual(evC.items.at(-1), { type: 'lease.lost', reason: 'broken invariant' });

  await a.stop();
  await c.stop();
  t.is(store.current(), undefined);
  await Promise.resolve();
  t.deepEqual(
    seen.items.map((l) => (l ? `${l.pid}@${l.epoch}` : 'none')),
    ['none', 'a@1', 'none', 'b@2', 'none', 'c@3', 'none', 'a@4', 'none', 'c@5', 'none'].filter((x, i, all) => i === 0 || x !== all[i - 1]),
    'the detector reports the empty lease at start, then every change',
  );
  await det.stop();
});
