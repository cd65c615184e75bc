/**
 * Leadership: the leader lease over JetStream KV (the ZooKeeper replacement, DESIGN.md §4) and an
 * in-memory lease with the same interfaces for simulations.
 *
 * KV protocol (STACK.md, measured on nats-server 2.9): bucket `mesos_<cluster>`, key `leader`,
 * bucket max-age = lease, history 1.
 * - acquire: `create` (error 10071 ⇒ held by someone else); the revision R of the winning create is
 *   the epoch (fencing token). The winner then immediately `update`s the value to carry
 *   `epoch: R` and only reports `lease.acquired` once that stamped value is stored, so detectors
 *   (which ignore values without `epoch`) and the new leader agree on who leads;
 * - renew every lease/3 with `update(key, value, revision)`; 10071 ⇒ `lease.lost` at once; other
 *   errors are retried, and `lease.lost` fires once 0.8 × lease has passed since the last successful
 *   renewal was sent;
 * - standbys watch the key: each renewal by the holder arms a timer at receipt + lease + 50 ms
 *   (expiry itself sends no watch event on 2.9), after which they try `create`; a delete or purge
 *   makes them try at once;
 * - clean resign: `delete(key, { previousSeq: revision })`.
 */
import { Kvm } from '@nats-io/kv';
import type { KV, KvEntry, KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection, QueuedIterator } from '@nats-io/transport-node';
import { realClock } from './clock.ts';
import { silentLogger } from './transport-nats.ts';
import type { LoggerLike } from './transport-nats.ts';
import type { Clock, LeaderDetector, LeaderInfo, LeaseCandidate, LeaseEvent, TimerId } from './types.ts';

/** The KV key holding the leader's {@link LeaderInfo}. */
export const LEADER_KEY = 'leader';

/** Extra wait after a lease should have expired before acting on it (covers server expiry jitter). */
export const EXPIRY_MARGIN_MS = 50;

/** Default lease length (bucket TTL) in ms. */
export const DEFAULT_LEASE_MS = 3000;

/**
 * The KV bucket holding a cluster's lease: `mesos_<cluster>`, with characters that bucket names
 * do not allow (anything but letters, digits, `_` and `-`) replaced by `_`.
 */
export function leaseBucketName(cluster: string): string {
  return `mesos_${cluster.replace(/[^\w-]/g, '_')}`;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encodeInfo(info: Omit<LeaderInfo, 'epoch'> & { epoch?: number }): Uint8Array {
  return encoder.encode(JSON.stringify(info));
}

/** Decodes a stored lease value; `undefined` unless it is a LeaderInfo with a positive epoch. */
function decodeInfo(data: Uint8Array): LeaderInfo | undefined {
  const v: unknown = JSON.parse(decoder.decode(data));
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.pid !== 'string' || typeof o.epoch !== 'number' || !(o.epoch > 0)) return undefined;
  const info: LeaderInfo = { pid: o.pid, hostname: typeof o.hostname === 'string' ? o.hostname : '', epoch: o.epoch };
  if (typeof o.http === 'string') info.http = o.http;
  return info;
}

/** True for the JetStream "wrong last sequence" API errors (10071, and 10164 on newer servers). */
function isWrongLastSequence(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 10071 || code === 10164;
}

function isStreamNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null;
  return e?.code === 10059 || e?.name === 'StreamNotFoundError' || /stream not found/i.test(String(e?.message));
}

function sameLeader(a: LeaderInfo | undefined, b: LeaderInfo | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.pid === b.pid && a.epoch === b.epoch);
}

/** Options of {@link KvLeaseCandidate}. */
export interface KvLeaseCandidateOptions {
  /** An open NATS connection with JetStream. Not closed by the candidate. */
  nc: NatsConnection;
  /** Cluster name; selects the bucket ({@link leaseBucketName}). */
  cluster: string;
  /**
   * Lease length in ms, used as the bucket TTL when the bucket is created. When the bucket
   * already exists with another TTL, the bucket's TTL is used instead (and a warning logged).
   * Default {@link DEFAULT_LEASE_MS}.
   */
  leaseMs?: number;
  /** What to publish as leader; the epoch is added on acquisition. */
  value: Omit<LeaderInfo, 'epoch'>;
  /** Clock for renewal and standby timers. Default {@link realClock}. */
  clock?: Clock;
  /** Logger; silent by default. */
  logger?: LoggerLike;
}

type CandidateState = 'idle' | 'starting' | 'standby' | 'acquiring' | 'leading' | 'lost' | 'stopped';

/**
 * A master's candidacy for the leader lease in JetStream KV (see the module comment for the
 * protocol). Emits `lease.acquired` once, then at most one `lease.lost`; after `lease.lost` the
 * candidate no longer contends (Mesos: the master exits and a supervisor restarts it as standby) —
 * call `stop()` and create a new candidate to contend again.
 */
export class KvLeaseCandidate implements LeaseCandidate {
  readonly #nc: NatsConnection;
  readonly #bucket: string;
  readonly #value: Omit<LeaderInfo, 'epoch'>;
  readonly #clock: Clock;
  readonly #log: LoggerLike;
  #leaseMs: number;
  #state: CandidateState = 'idle';
  #onEvent: (e: LeaseEvent) => void = () => {};
  #kv: KV | undefined;
  #watch: QueuedIterator<KvWatchEntry> | undefined;
  /** Revision of the last write of ours known to have succeeded. */
  #heldRev: number | undefined;
  #epoch = 0;
  /** True once the value carrying the epoch is stored and `lease.acquired` was emitted. */
  #stamped = false;
  #renewing = false;
  /** Clock time at which the last successful renewal (or the winning create) was sent. */
  #lastRenewSentAt = 0;
  #inflight: Promise<unknown> | undefined;
  #renewTimer: TimerId | undefined;
  #deadlineTimer: TimerId | undefined;
  #standbyTimer: TimerId | undefined;
  #initTimer: TimerId | undefined;
  /** Counts watch events, to tell whether one arrived during an acquisition attempt. */
  #eventSeq = 0;
  #lastEvent: { seq: number; op: 'PUT' | 'DEL'; at: number } | undefined;

  /** Creates an idle candidate; nothing happens until {@link KvLeaseCandidate.start}. */
  constructor(opts: KvLeaseCandidateOptions) {
    this.#nc = opts.nc;
    this.#bucket = leaseBucketName(opts.cluster);
    this.#leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
    this.#value = { ...opts.value };
    this.#clock = opts.clock ?? realClock;
    this.#log = opts.logger ?? silentLogger;
  }

  /** The effective lease length (the bucket TTL once started). */
  get leaseMs(): number {
    return this.#leaseMs;
  }

  /** The epoch of the held lease, or 0 before acquisition. */
  get epoch(): number {
    return this.#epoch;
  }

  /** True while leading (after `lease.acquired`, before `lease.lost`/`stop`). */
  get isLeader(): boolean {
    return this.#state === 'leading' && this.#stamped;
  }

  #retryMs(): number {
    return Math.max(25, Math.floor(this.#leaseMs / 20));
  }

  /** Starts contending: opens (or creates) the bucket, watches the key and tries to acquire. */
  start(onEvent: (e: LeaseEvent) => void): void {
    if (this.#state !== 'idle') throw new Error(`KvLeaseCandidate.start: already ${this.#state}`);
    this.#onEvent = onEvent;
    this.#state = 'starting';
    void this.#init();
  }

  async #init(): Promise<void> {
    try {
      const kv = await new Kvm(this.#nc).create(this.#bucket, { ttl: this.#leaseMs, history: 1 });
      const status = await kv.status();
      if (status.ttl > 0 && status.ttl !== this.#leaseMs) {
        this.#log.warn(
          { bucket: this.#bucket, bucketTtl: status.ttl, leaseMs: this.#leaseMs },
          'lease bucket exists with another TTL; using the bucket TTL as the lease',
        );
        this.#leaseMs = status.ttl;
      }
      if (this.#state !== 'starting') return;
      this.#kv = kv;
      this.#state = 'standby';
      const watch = await kv.watch({ key: LEADER_KEY });
      if ((this.#state as CandidateState) === 'stopped') {
        watch.stop();
        return;
      }
      this.#watch = watch;
      void this.#consumeWatch(watch);
      void this.#tryAcquire();
    } catch (err) {
      if (this.#state !== 'starting' && this.#state !== 'standby') return;
      this.#log.warn({ err, bucket: this.#bucket }, 'lease candidate init failed; retrying');
      this.#state = 'starting';
      this.#initTimer = this.#clock.setTimeout(() => {
        this.#initTimer = undefined;
        if (this.#state === 'starting') void this.#init();
      }, Math.max(250, this.#retryMs()));
    }
  }

  async #consumeWatch(watch: QueuedIterator<KvWatchEntry>): Promise<void> {
    try {
      for await (const e of watch) this.#onWatch(e);
    } catch (err) {
      if (this.#state !== 'stopped') this.#log.warn({ err }, 'lease watch ended with an error');
    }
  }

  #onWatch(e: KvEntry): void {
    const op = e.operation === 'PUT' ? 'PUT' : 'DEL';
    this.#lastEvent = { seq: ++this.#eventSeq, op, at: this.#clock.now() };
    if (this.#state !== 'standby') return; // while acquiring, the attempt's outcome looks at #lastEvent
    if (op === 'PUT') this.#armStandby(this.#lastEvent.at + this.#leaseMs + EXPIRY_MARGIN_MS);
    else {
      this.#clearStandby();
      void this.#tryAcquire();
    }
  }

  #armStandby(at: number): void {
    this.#clearStandby();
    this.#standbyTimer = this.#clock.setTimeout(() => {
      this.#standbyTimer = undefined;
      void this.#tryAcquire();
    }, Math.max(0, at - this.#clock.now()));
  }

  #clearStandby(): void {
    if (this.#standbyTimer !== undefined) this.#clock.clearTimeout(this.#standbyTimer);
    this.#standbyTimer = undefined;
  }

  async #tryAcquire(): Promise<void> {
    const kv = this.#kv;
    if (this.#state !== 'standby' || kv === undefined) return;
    this.#state = 'acquiring';
    this.#clearStandby();
    const attemptSeq = this.#eventSeq;
    const sentAt = this.#clock.now();
    let rev: number;
    try {
      const p = kv.create(LEADER_KEY, encodeInfo(this.#value));
      this.#inflight = p;
      rev = await p;
    } catch (err) {
      if (this.#state !== 'acquiring') return;
      this.#state = 'standby';
      const now = this.#clock.now();
      const last = this.#lastEvent;
      if (!isWrongLastSequence(err)) {
        this.#log.warn({ err }, 'lease create failed; retrying');
        this.#armStandby(now + this.#retryMs());
      } else if (last !== undefined && last.seq > attemptSeq && last.op === 'DEL') {
        void Promise.resolve().then(() => this.#tryAcquire());
      } else {
        // Held by someone else: wait for its expiry as last seen, but never spin faster than retryMs.
        const due = last?.op === 'PUT' ? last.at + this.#leaseMs + EXPIRY_MARGIN_MS : 0;
        this.#armStandby(Math.max(due, now + this.#retryMs()));
      }
      return;
    }
    this.#heldRev = rev;
    if (this.#state !== 'acquiring') return; // stopped meanwhile: stop() resigns with #heldRev
    this.#log.info({ epoch: rev, bucket: this.#bucket }, 'lease won; stamping epoch');
    this.#state = 'leading';
    this.#epoch = rev;
    this.#stamped = false;
    this.#lastRenewSentAt = sentAt;
    this.#armDeadline();
    void this.#renew();
  }

  #armDeadline(): void {
    if (this.#deadlineTimer !== undefined) this.#clock.clearTimeout(this.#deadlineTimer);
    const at = this.#lastRenewSentAt + 0.8 * this.#leaseMs;
    this.#deadlineTimer = this.#clock.setTimeout(() => {
      this.#deadlineTimer = undefined;
      if (this.#state !== 'leading') return;
      if (this.#stamped) {
        this.#lose('lease not renewed within 0.8 × lease');
      } else {
        // Never announced: quietly return to standby; our key expires within a lease.
        this.#log.warn({ epoch: this.#epoch }, 'could not stamp the won lease in time; back to standby');
        this.#clearRenew();
        this.#state = 'standby';
        this.#armStandby(this.#clock.now() + this.#leaseMs + EXPIRY_MARGIN_MS);
      }
    }, Math.max(0, at - this.#clock.now()));
  }

  #clearRenew(): void {
    if (this.#renewTimer !== undefined) this.#clock.clearTimeout(this.#renewTimer);
    this.#renewTimer = undefined;
  }

  #scheduleRenew(delay: number): void {
    this.#clearRenew();
    this.#renewTimer = this.#clock.setTimeout(() => {
      this.#renewTimer = undefined;
      void this.#renew();
    }, Math.max(0, delay));
  }

  async #renew(): Promise<void> {
    const kv = this.#kv;
    const rev = this.#heldRev;
    if (this.#state !== 'leading' || this.#renewing || kv === undefined || rev === undefined) return;
    this.#renewing = true;
    const sentAt = this.#clock.now();
    const timeout = Math.max(250, Math.floor(this.#leaseMs / 3));
    let next: number;
    try {
      const p = kv.update(LEADER_KEY, encodeInfo({ ...this.#value, epoch: this.#epoch }), rev, timeout);
      this.#inflight = p;
      next = await p;
    } catch (err) {
      this.#renewing = false;
      if (this.#state !== 'leading') return;
      if (isWrongLastSequence(err)) {
        if (this.#stamped) this.#lose('lease revision changed (taken over)');
        else {
          this.#clearTimers();
          this.#state = 'standby';
          this.#armStandby(this.#clock.now() + this.#retryMs());
        }
        return;
      }
      this.#log.warn({ err, epoch: this.#epoch }, 'lease renewal failed; retrying');
      this.#scheduleRenew(this.#retryMs());
      return;
    }
    this.#renewing = false;
    this.#heldRev = next;
    if (this.#state !== 'leading') return;
    this.#lastRenewSentAt = sentAt;
    this.#armDeadline();
    this.#scheduleRenew(sentAt + this.#leaseMs / 3 - this.#clock.now());
    if (!this.#stamped) {
      this.#stamped = true;
      this.#log.info({ epoch: this.#epoch, bucket: this.#bucket }, 'lease acquired');
      this.#emit({ type: 'lease.acquired', epoch: this.#epoch });
    }
  }

  #lose(reason: string): void {
    this.#log.warn({ epoch: this.#epoch, reason }, 'lease lost');
    this.#clearTimers();
    this.#state = 'lost';
    this.#stopWatch();
    this.#emit({ type: 'lease.lost', reason });
  }

  #emit(e: LeaseEvent): void {
    try {
      this.#onEvent(e);
    } catch (err) {
      this.#log.error({ err, event: e.type }, 'lease event handler threw');
    }
  }

  #clearTimers(): void {
    this.#clearRenew();
    this.#clearStandby();
    if (this.#deadlineTimer !== undefined) this.#clock.clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
    if (this.#initTimer !== undefined) this.#clock.clearTimeout(this.#initTimer);
    this.#initTimer = undefined;
  }

  #stopWatch(): void {
    try {
      this.#watch?.stop();
    } catch (err) {
      this.#log.debug({ err }, 'stopping lease watch failed');
    }
    this.#watch = undefined;
  }

  /**
   * Stops contending. If the lease may still be ours, deletes the key guarded by our last revision
   * (clean resign, so standbys take over at once); errors (e.g. a closed connection) are logged.
   */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    this.#clearTimers();
    this.#stopWatch();
    if (this.#inflight) await this.#inflight.catch(() => {});
    const kv = this.#kv;
    const rev = this.#heldRev;
    this.#heldRev = undefined;
    if (kv === undefined || rev === undefined || this.#nc.isClosed()) return;
    try {
      await kv.delete(LEADER_KEY, { previousSeq: rev });
      this.#log.info({ epoch: this.#epoch }, 'lease resigned');
    } catch (err) {
      if (isWrongLastSequence(err)) this.#log.debug({ epoch: this.#epoch }, 'lease already superseded at resign');
      else this.#log.warn({ err, epoch: this.#epoch }, 'lease resign failed');
    }
  }
}

/** Options of {@link KvLeaderDetector}. */
export interface KvLeaderDetectorOptions {
  /** An open NATS connection with JetStream. Not closed by the detector. */
  nc: NatsConnection;
  /** Cluster name; selects the bucket ({@link leaseBucketName}). */
  cluster: string;
  /** Clock for the expiry timer. Default {@link realClock}. */
  clock?: Clock;
  /** Logger; silent by default. */
  logger?: LoggerLike;
  /**
   * When given, the bucket is created with this TTL if missing. Otherwise the detector waits
   * (retrying every `retryMs`) until a candidate creates it.
   */
  leaseMs?: number;
  /** Retry interval while the bucket does not exist. Default 500 ms. */
  retryMs?: number;
}

/**
 * Follows the leader lease in JetStream KV. Reports the leader (with its epoch, from the stored
 * value; values without an epoch are ignored) at start and whenever pid or epoch change, and
 * `undefined` on delete/purge or when no renewal arrived for bucket TTL + 50 ms (expiry sends no
 * watch event on server 2.9).
 */
export class KvLeaderDetector implements LeaderDetector {
  readonly #nc: NatsConnection;
  readonly #bucket: string;
  readonly #clock: Clock;
  readonly #log: LoggerLike;
  readonly #createTtl: number | undefined;
  readonly #retryMs: number;
  #running = false;
  #onChange: (leader: LeaderInfo | undefined) => void = () => {};
  #ttl = 0;
  #watch: QueuedIterator<KvWatchEntry> | undefined;
  #lastRev = 0;
  #current: LeaderInfo | undefined;
  #reported = false;
  #expiryTimer: TimerId | undefined;
  #retryTimer: TimerId | undefined;

  /** Creates an idle detector; nothing happens until {@link KvLeaderDetector.start}. */
  constructor(opts: KvLeaderDetectorOptions) {
    this.#nc = opts.nc;
    this.#bucket = leaseBucketName(opts.cluster);
    this.#clock = opts.clock ?? realClock;
    this.#log = opts.logger ?? silentLogger;
    this.#createTtl = opts.leaseMs;
    this.#retryMs = opts.retryMs ?? 500;
  }

  /** The leader as last reported. */
  get current(): LeaderInfo | undefined {
    return this.#current;
  }

  /** Starts following; `onChange` is called once at start (possibly with `undefined`), then on changes. */
  start(onChange: (leader: LeaderInfo | undefined) => void): void {
    if (this.#running) throw new Error('KvLeaderDetector.start: already started');
    this.#running = true;
    this.#onChange = onChange;
    void this.#init();
  }

  async #init(): Promise<void> {
    let kv: KV;
    try {
      const kvm = new Kvm(this.#nc);
      kv =
        this.#createTtl !== undefined
          ? await kvm.create(this.#bucket, { ttl: this.#createTtl, history: 1 })
          : await kvm.open(this.#bucket);
      this.#ttl = (await kv.status()).ttl;
    } catch (err) {
      if (!this.#running) return;
      if (isStreamNotFound(err)) this.#log.debug({ bucket: this.#bucket }, 'lease bucket missing; waiting');
      else this.#log.warn({ err, bucket: this.#bucket }, 'leader detector init failed; retrying');
      this.#report(undefined);
      this.#retryTimer = this.#clock.setTimeout(() => {
        this.#retryTimer = undefined;
        if (this.#running) void this.#init();
      }, this.#retryMs);
      return;
    }
    try {
      const watch = await kv.watch({ key: LEADER_KEY });
      if (!this.#running) {
        watch.stop();
        return;
      }
      this.#watch = watch;
      void this.#consume(watch);
      const e = await kv.get(LEADER_KEY);
      if (!this.#running) return;
      if (e !== null) this.#onEntry(e);
      this.#report(this.#current);
    } catch (err) {
      if (!this.#running) return;
      this.#log.warn({ err, bucket: this.#bucket }, 'leader detector watch failed; retrying');
      this.#watch?.stop();
      this.#watch = undefined;
      this.#retryTimer = this.#clock.setTimeout(() => {
        this.#retryTimer = undefined;
        if (this.#running) void this.#init();
      }, this.#retryMs);
    }
  }

  async #consume(watch: QueuedIterator<KvWatchEntry>): Promise<void> {
    try {
      for await (const e of watch) this.#onEntry(e);
    } catch (err) {
      if (this.#running) this.#log.warn({ err }, 'leader watch ended with an error');
    }
  }

  #onEntry(e: KvEntry): void {
    if (!this.#running || e.revision <= this.#lastRev) return;
    this.#lastRev = e.revision;
    if (e.operation !== 'PUT') {
      this.#clearExpiry();
      this.#report(undefined);
      return;
    }
    let info: LeaderInfo | undefined;
    try {
      info = decodeInfo(e.value);
    } catch (err) {
      this.#log.warn({ err, revision: e.revision }, 'unreadable leader value ignored');
      return;
    }
    if (info === undefined) return; // not stamped with an epoch yet
    this.#armExpiry();
    this.#report(info);
  }

  #armExpiry(): void {
    this.#clearExpiry();
    if (!(this.#ttl > 0)) return;
    this.#expiryTimer = this.#clock.setTimeout(() => {
      this.#expiryTimer = undefined;
      this.#log.info({ leader: this.#current }, 'leader lease expired');
      this.#report(undefined);
    }, this.#ttl + EXPIRY_MARGIN_MS);
  }

  #clearExpiry(): void {
    if (this.#expiryTimer !== undefined) this.#clock.clearTimeout(this.#expiryTimer);
    this.#expiryTimer = undefined;
  }

  #report(leader: LeaderInfo | undefined): void {
    const changed = !this.#reported || !sameLeader(this.#current, leader);
    this.#current = leader;
    if (!changed || !this.#running) return;
    this.#reported = true;
    try {
      this.#onChange(leader);
    } catch (err) {
      this.#log.error({ err }, 'leader change handler threw');
    }
  }

  /** Stops following; no more `onChange` calls. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#clearExpiry();
    if (this.#retryTimer !== undefined) this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    try {
      this.#watch?.stop();
    } catch (err) {
      this.#log.debug({ err }, 'stopping leader watch failed');
    }
    this.#watch = undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// In-memory lease for simulations
// ---------------------------------------------------------------------------------------------

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

/**
 * A shared in-memory leader lease for simulated clusters. Candidates contend in start order; the
 * lease passes to the longest-waiting standby as soon as it is released ({@link
 * MemoryLeaseStore.expire} or a holder's `stop()`); epochs count 1, 2, 3, … Events and detector
 * callbacks are delivered on microtasks, in order.
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
   * `lease.lost` and leaves the contest, detectors see the change, the next standby acquires.
   * @returns the expired leader, if any.
   */
  expire(reason = 'lease expired'): LeaderInfo | undefined {
    const h = this.#holder;
    if (!h) return undefined;
    queueMicrotask(() => h.c.onEvent({ type: 'lease.lost', reason }));
    this.#release();
    return { ...h.info };
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
      if (!d.active || (d.reported && sameLeader(d.last, leader))) return;
      d.reported = true;
      d.last = leader;
      d.onChange(leader);
    });
  }
}
