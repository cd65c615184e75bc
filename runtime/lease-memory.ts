/**
 * Leadership without NATS, for deterministic tests and simulations:
 *
 * - {@link MemoryKvStore}: a KV bucket with the semantics the lease relies on (create fails on an
 *   existing key, compare-and-set update, TTL expiry without a watch event, revisions), whose
 *   clients can be cut off, slowed, or made to lose a reply after the write was applied, and whose
 *   data can be lost (revisions start over). The real candidate and detector machines run against
 *   it on a simulated clock.
 * - {@link MemoryLeaseStore}: a lease that elects instantly, for cluster simulations that are about
 *   something else than leadership itself.
 */
import { realClock } from './clock.ts';
import { KvError, type LeaseKv } from './lease.ts';
import { requestTimeoutMs } from '../actors/lease/tracking.ts';
import type { Clock, LeaderDetector, LeaderInfo, LeaseCandidate, LeaseEvent } from './types.ts';

type Op = 'PUT' | 'DEL' | 'PURGE';
interface Stored {
  value: Uint8Array;
  revision: number;
  operation: Op;
  writtenAt: number;
}

/** What a client's fault policy decides for one operation. */
export type KvFault =
  | 'ok'
  /** The operation fails (as a timeout would), without reaching the store. */
  | 'fail'
  /** The operation is applied, but its reply is lost: the client sees a timeout. */
  | 'lostReply'
  /**
   * The operation is applied after `delayMs`, and answered then if that is within the request
   * timeout; otherwise the client sees a timeout, and the request is applied later all the same.
   */
  | { delayMs: number };

/** A client of a {@link MemoryKvStore}, with its own faults. */
export class MemoryKvClient implements LeaseKv {
  /** Decides each operation's fate; `ok` by default. */
  fault: (op: 'open' | 'create' | 'update' | 'get' | 'delete') => KvFault = () => 'ok';
  /** When true, announcements are neither sent nor received (a partitioned client). */
  partitioned = false;
  /**
   * When true, watch entries and announcements are not delivered, while requests still go through:
   * a process too busy to read what waits in its socket.
   */
  deaf = false;
  #watch: ((e: Stored) => void) | undefined;
  #announce: ((data: Uint8Array) => void) | undefined;
  #closed = false;

  constructor(private readonly store: MemoryKvStore, readonly createBucket: boolean) {}

  #run<T>(op: 'open' | 'create' | 'update' | 'get' | 'delete', fn: () => T): Promise<T> {
    const f = this.#closed ? 'fail' : this.fault(op);
    const clock = this.store.clock;
    return new Promise<T>((resolve, reject) => {
      const apply = () => {
        try {
          return { ok: true as const, v: fn() };
        } catch (err) {
          return { ok: false as const, err };
        }
      };
      const settle = (r: { ok: true; v: T } | { ok: false; err: unknown }) => (r.ok ? resolve(r.v) : reject(r.err));
      if (f === 'fail') {
        clock.setTimeout(() => reject(new KvError(`${op}: timeout`)), this.store.timeoutMs);
      } else if (f === 'lostReply') {
        apply();
        clock.setTimeout(() => reject(new KvError(`${op}: timeout`)), this.store.timeoutMs);
      } else if (f === 'ok') {
        queueMicrotask(() => settle(apply()));
      } else if (f.delayMs < this.store.timeoutMs) {
        clock.setTimeout(() => settle(apply()), f.delayMs);
      } else {
        // Slower than the client waits: it gives up, and the request is applied later anyway.
        clock.setTimeout(() => apply(), f.delayMs);
        clock.setTimeout(() => reject(new KvError(`${op}: timeout`)), this.store.timeoutMs);
      }
    });
  }

  open(): Promise<{ ttlMs: number; created: boolean }> {
    return this.#run('open', () => {
      let created = false;
      if (!this.store.exists) {
        if (!this.createBucket) throw new KvError('stream not found', false, true);
        this.store.exists = true;
        created = true;
      }
      return { ttlMs: this.store.ttlMs, created };
    });
  }

  create(value: Uint8Array): Promise<number> {
    return this.#run('create', () => {
      const cur = this.store.read();
      if (cur && cur.operation === 'PUT') throw new KvError('wrong last sequence', true);
      return this.store.write(value, 'PUT');
    });
  }

  update(value: Uint8Array, revision: number): Promise<number> {
    return this.#run('update', () => {
      const cur = this.store.read();
      if (!cur || cur.revision !== revision) throw new KvError('wrong last sequence', true);
      return this.store.write(value, 'PUT');
    });
  }

  get(): Promise<{ revision: number; operation: Op; value: Uint8Array } | null> {
    return this.#run('get', () => {
      const cur = this.store.read();
      return cur ? { revision: cur.revision, operation: cur.operation, value: cur.value } : null;
    });
  }

  delete(revision: number): Promise<void> {
    return this.#run('delete', () => {
      const cur = this.store.read();
      if (!cur || cur.revision !== revision) throw new KvError('wrong last sequence', true);
      this.store.write(new Uint8Array(), 'DEL');
    });
  }

  watch(onEntry: (e: { revision: number; operation: Op; value: Uint8Array }) => void): void {
    this.store.unwatch(this.#watch);
    this.#watch = (e) => {
      if (!this.#closed && !this.deaf) onEntry({ revision: e.revision, operation: e.operation, value: e.value });
    };
    this.store.addWatch(this.#watch);
  }

  announce(data: Uint8Array): void {
    if (!this.partitioned && !this.#closed) this.store.broadcast(data, this);
  }

  onAnnouncement(handler: (data: Uint8Array) => void): void {
    this.#announce = handler;
  }

  /** @internal */
  _deliver(data: Uint8Array): void {
    if (!this.partitioned && !this.deaf && !this.#closed) this.#announce?.(data);
  }

  close(): void {
    this.#closed = true;
    this.store.unwatch(this.#watch);
    this.store.forget(this);
  }
}

/**
 * An in-memory KV bucket holding the lease key. Expiry is lazy and silent (as on nats-server 2.9):
 * a value older than the TTL reads as absent, and no watch event says so.
 */
export class MemoryKvStore {
  exists = false;
  #entry: Stored | undefined;
  #revision = 0;
  readonly #watches = new Set<(e: Stored) => void>();
  readonly #clients = new Set<MemoryKvClient>();

  constructor(readonly clock: Clock = realClock, readonly ttlMs = 3000, readonly timeoutMs = requestTimeoutMs(ttlMs)) {}

  /** A client; `createBucket` for candidates (they create a missing bucket), not for detectors. */
  client(createBucket = true): MemoryKvClient {
    const c = new MemoryKvClient(this, createBucket);
    this.#clients.add(c);
    return c;
  }

  /** The live entry (expired values read as absent). */
  read(): Stored | undefined {
    if (!this.exists) throw new KvError('stream not found', false, true);
    const e = this.#entry;
    if (e && e.operation === 'PUT' && this.clock.now() - e.writtenAt >= this.ttlMs) return undefined;
    return e;
  }

  /** Writes the key; watches see it. @returns the new revision. */
  write(value: Uint8Array, operation: Op): number {
    if (!this.exists) throw new KvError('stream not found', false, true);
    this.#entry = { value, revision: ++this.#revision, operation, writtenAt: this.clock.now() };
    const e = this.#entry;
    for (const w of [...this.#watches]) queueMicrotask(() => w(e));
    return e.revision;
  }

  /** The stored value of the key, for assertions (`undefined` when absent or expired). */
  current(): { revision: number; value: string } | undefined {
    const e = this.exists ? this.read() : undefined;
    return e && e.operation === 'PUT' ? { revision: e.revision, value: new TextDecoder().decode(e.value) } : undefined;
  }

  /**
   * The bucket and its data are lost (the bucket deleted, or the server back with an empty store):
   * revisions start over and existing watches go silent for good.
   */
  lose(): void {
    this.exists = false;
    this.#entry = undefined;
    this.#revision = 0;
    this.#watches.clear();
  }

  /** @internal */
  addWatch(w: (e: Stored) => void): void {
    this.#watches.add(w);
  }

  /** @internal */
  unwatch(w: ((e: Stored) => void) | undefined): void {
    if (w) this.#watches.delete(w);
  }

  /** @internal */
  broadcast(data: Uint8Array, from: MemoryKvClient): void {
    for (const c of this.#clients) if (c !== from) queueMicrotask(() => c._deliver(data));
  }

  /** @internal */
  forget(c: MemoryKvClient): void {
    this.#clients.delete(c);
  }
}

interface MemCandidate {
  value: Omit<LeaderInfo, 'epoch'>;
  onEvent: (e: LeaseEvent) => void;
}

interface MemDetector {
  onChange: (leader: LeaderInfo | undefined) => void;
  last: LeaderInfo | undefined;
  reported: boolean;
  active: boolean;
}

function same(a: LeaderInfo | undefined, b: LeaderInfo | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.pid === b.pid && a.epoch === b.epoch);
}

/**
 * A shared in-memory leader lease for simulated clusters. Candidates contend in start order; the
 * lease passes to the longest-waiting standby as soon as it is released ({@link
 * MemoryLeaseStore.expire}, a resign or a holder's `stop()`); epochs count 1, 2, 3, … A holder
 * that loses the lease contends again from the back of the queue, as masters do. Events and
 * detector callbacks are delivered on microtasks, in order.
 */
export class MemoryLeaseStore {
  #holder: { c: MemCandidate; info: LeaderInfo } | undefined;
  #nextEpoch = 1;
  readonly #standbys: MemCandidate[] = [];
  readonly #detectors = new Set<MemDetector>();

  /** A candidate publishing `value` when it leads. */
  candidate(value: Omit<LeaderInfo, 'epoch'>): LeaseCandidate {
    let me: MemCandidate | undefined;
    let stopped = false;
    return {
      start: (onEvent) => {
        if (me || stopped) throw new Error('MemoryLease candidate: start called twice or after stop');
        me = { value: { ...value }, onEvent };
        this.#standbys.push(me);
        this.#elect();
      },
      resign: (reason) => {
        if (me && this.#holder?.c === me) this.#lose(reason);
      },
      stop: async () => {
        if (stopped) return;
        stopped = true;
        if (me === undefined) return;
        const i = this.#standbys.indexOf(me);
        if (i >= 0) this.#standbys.splice(i, 1);
        if (this.#holder?.c === me) this.#release();
      },
    };
  }

  /** A detector following this lease. */
  detector(): LeaderDetector {
    let d: MemDetector | undefined;
    return {
      start: (onChange) => {
        if (d) throw new Error('MemoryLease detector: start called twice');
        d = { onChange, last: undefined, reported: false, active: true };
        this.#detectors.add(d);
        this.#notify(d, this.current());
      },
      stop: async () => {
        if (d) {
          d.active = false;
          this.#detectors.delete(d);
        }
      },
    };
  }

  /** The current leader, or `undefined` when nobody holds the lease. */
  current(): LeaderInfo | undefined {
    return this.#holder ? { ...this.#holder.info } : undefined;
  }

  /**
   * Simulates expiry of the current lease (e.g. the leader stalled or crashed): the holder gets
   * `lease.lost` and goes to the back of the queue, detectors see the change, the next standby
   * acquires.
   * @returns the expired leader, if any.
   */
  expire(reason = 'lease expired'): LeaderInfo | undefined {
    const h = this.#holder;
    if (!h) return undefined;
    this.#lose(reason);
    return { ...h.info };
  }

  /** Removes the holder without a word to it (its process died): the next standby acquires. */
  crash(): LeaderInfo | undefined {
    const h = this.#holder;
    if (!h) return undefined;
    this.#release();
    return { ...h.info };
  }

  #lose(reason: string): void {
    const h = this.#holder!;
    queueMicrotask(() => h.c.onEvent({ type: 'lease.lost', reason }));
    this.#holder = undefined;
    this.#notifyAll();
    this.#elect();
    this.#standbys.push(h.c);
  }

  #release(): void {
    this.#holder = undefined;
    this.#notifyAll();
    this.#elect();
  }

  #elect(): void {
    if (this.#holder) return;
    const c = this.#standbys.shift();
    if (!c) return;
    const epoch = this.#nextEpoch++;
    this.#holder = { c, info: { ...c.value, epoch } };
    queueMicrotask(() => c.onEvent({ type: 'lease.acquired', epoch }));
    this.#notifyAll();
  }

  #notifyAll(): void {
    const leader = this.current();
    for (const d of this.#detectors) this.#notify(d, leader);
  }

  #notify(d: MemDetector, leader: LeaderInfo | undefined): void {
    queueMicrotask(() => {
      if (!d.active || (d.reported && same(d.last, leader))) return;
      d.reported = true;
      d.last = leader;
      d.onChange(leader);
    });
  }
}
