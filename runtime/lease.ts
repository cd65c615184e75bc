/**
 * Leadership at runtime: the lease candidate and leader detector machines
 * (`actors/lease/`) hosted against a KV — JetStream KV on NATS, or an in-memory KV for
 * simulations that can fail, stall, lose its data and apply a write whose reply is lost.
 *
 * The KV the machines need ({@link LeaseKv}): the bucket `mesos_<cluster>` with the single key
 * `leader` (bucket max-age = the lease, history 1), plus the leader's announcements on the plain
 * subject `mesos.<cluster>.leader`, which followers trust when JetStream lost its store.
 *
 * Measured on nats-server 2.9: `create` on an existing key and `update` with a stale revision fail
 * with JetStream error 10071; expiry sends no watch event; a watch goes silent for good when its
 * bucket is deleted; after a restart with an empty store, requests time out until the bucket is
 * created again.
 */
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { createActor, type Actor } from 'xstate';
import { createCandidateMachine, type CandidateMachine, type KvEffect, type KvEvent, type KvOp } from '../actors/lease/candidate.machine.ts';
import { createDetectorMachine, type DetectorMachine } from '../actors/lease/detector.machine.ts';
import { requestTimeoutMs, type LeaderRecord, type LeaseEntry } from '../actors/lease/tracking.ts';
import { realClock } from './clock.ts';
import type { Inspect } from './inspect.ts';
import type { ActorRecorder } from './inspection.ts';
import { silentLogger, type LoggerLike } from './transport-nats.ts';
import type { Clock, LeaderDetector, LeaderInfo, LeaseCandidate, LeaseEvent } from './types.ts';

/** The KV key holding the leader's {@link LeaderInfo}. */
export const LEADER_KEY = 'leader';

/** Default lease length (bucket TTL) in ms. */
export const DEFAULT_LEASE_MS = 3000;

/**
 * The KV bucket holding a cluster's lease: `mesos_<cluster>`, with characters that bucket names
 * do not allow (anything but letters, digits, `_` and `-`) replaced by `_`.
 */
export function leaseBucketName(cluster: string): string {
  return `mesos_${cluster.replace(/[^\w-]/g, '_')}`;
}

/** The subject a leader announces itself on after each renewal. */
export function leaderSubject(cluster: string): string {
  return `mesos.${cluster.replace(/[^\w-]/g, '_')}.leader`;
}

/** A failed KV operation: `conflict` for a failed compare-and-set, `missing` for no bucket. */
export class KvError extends Error {
  override name = 'KvError';
  constructor(message: string, readonly conflict = false, readonly missing = false) {
    super(message);
  }
}

/** What the lease machines need from a KV. */
export interface LeaseKv {
  /**
   * Opens the bucket; a candidate's KV makes it when missing (then `created` is true). Resolves
   * its TTL.
   */
  open(): Promise<{ ttlMs: number; created: boolean }>;
  create(value: Uint8Array): Promise<number>;
  update(value: Uint8Array, revision: number): Promise<number>;
  get(): Promise<{ revision: number; operation: 'PUT' | 'DEL' | 'PURGE'; value: Uint8Array } | null>;
  delete(revision: number): Promise<void>;
  /** Watches the key; a new call replaces the previous watch. */
  watch(onEntry: (e: { revision: number; operation: 'PUT' | 'DEL' | 'PURGE'; value: Uint8Array }) => void): void;
  announce(data: Uint8Array): void;
  onAnnouncement(handler: (data: Uint8Array) => void): void;
  /** Stops the watch and the announcement subscription. */
  close(): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encodeValue(v: Omit<LeaderRecord, 'epoch'> & { epoch?: number }): Uint8Array {
  return encoder.encode(JSON.stringify(v));
}

/** Decodes a stored lease value; `undefined` unless it names a leader with a positive epoch. */
export function decodeLeader(data: Uint8Array): LeaderRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(data));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.pid !== 'string' || typeof o.epoch !== 'number' || !(o.epoch > 0)) return undefined;
  const info: LeaderRecord = { pid: o.pid, hostname: typeof o.hostname === 'string' ? o.hostname : '', epoch: o.epoch };
  if (typeof o.http === 'string') info.http = o.http;
  return info;
}

function toEntry(e: { revision: number; operation: 'PUT' | 'DEL' | 'PURGE'; value: Uint8Array }): LeaseEntry {
  const entry: LeaseEntry = { revision: e.revision, operation: e.operation };
  if (e.operation === 'PUT') {
    const info = decodeLeader(e.value);
    if (info) entry.info = info;
  }
  return entry;
}

// ── hosting the machines ───────────────────────────────────────────────────────────────────

/** Runs the KV effects of a lease machine and feeds their results back as events. */
function performKv(kv: LeaseKv, e: KvEffect, clock: Clock, send: (ev: KvEvent) => void, onOpened: () => void): Promise<unknown> | undefined {
  const sentAt = clock.now();
  const fail = (op: KvOp) => (err: unknown) => {
    const k = err instanceof KvError ? err : new KvError(String((err as Error)?.message ?? err));
    send({ type: 'kv.failed', op, conflict: k.conflict, missing: k.missing, error: k.message, sentAt });
  };
  switch (e.type) {
    case 'kv.open':
      kv.open().then((r) => {
        onOpened();
        send({ type: 'kv.opened', ttlMs: r.ttlMs, created: r.created });
      }, fail('open'));
      break;
    case 'kv.create':
      kv.create(encodeValue(e.value)).then((revision) => send({ type: 'kv.created', revision, sentAt }), fail('create'));
      break;
    case 'kv.update':
      kv.update(encodeValue(e.value), e.revision).then((revision) => send({ type: 'kv.updated', revision, sentAt }), fail('update'));
      break;
    case 'kv.get':
      kv.get().then((r) => send(r ? { type: 'kv.read', entry: toEntry(r), sentAt } : { type: 'kv.read', sentAt }), fail('get'));
      break;
    case 'kv.delete':
      return kv.delete(e.revision).then(() => send({ type: 'kv.deleted' }), fail('delete'));
    case 'lease.announce':
      kv.announce(encoder.encode(JSON.stringify(e.info)));
      break;
    default:
      break;
  }
  return undefined;
}

/** Watches the key and the announcements, feeding both to a machine. */
function follow(kv: LeaseKv, send: (ev: KvEvent) => void): void {
  kv.watch((e) => send({ type: 'kv.entry', entry: toEntry(e) }));
}

function listen(kv: LeaseKv, send: (ev: KvEvent) => void): void {
  kv.onAnnouncement((data) => {
    const info = decodeLeader(data);
    if (info) send({ type: 'leader.announced', info });
  });
}

/** Options of {@link LeaseCandidateHost}. */
export interface LeaseCandidateOptions {
  kv: LeaseKv;
  value: Omit<LeaderInfo, 'epoch'>;
  /** Lease length in ms (the bucket's TTL wins once it is opened). Default {@link DEFAULT_LEASE_MS}. */
  leaseMs?: number;
  /** See `CandidateInput.watchFirst` (default true). */
  watchFirst?: boolean;
  clock?: Clock;
  logger?: LoggerLike;
  /** XState's inspection of the candidate machine (actor id `lease-candidate`). */
  inspect?: Inspect;
  /** Records the candidate machine for the statechart view, without XState's inspection. */
  inspection?: ActorRecorder;
}

/**
 * A master's candidacy: the candidate machine hosted against a KV. Reports `lease.acquired`,
 * `lease.lost` (after which it contends again) and, while standing by, `lease.leader`.
 */
export class LeaseCandidateHost implements LeaseCandidate {
  readonly #opts: LeaseCandidateOptions;
  #actor: Actor<CandidateMachine> | undefined;
  #onEvent: (e: LeaseEvent) => void = () => {};
  #stopped: Promise<void> | undefined;
  /** The clean resign's delete, while in flight (stop waits for it, briefly). */
  #deleting: Promise<unknown> | undefined;
  #stopping = false;

  constructor(opts: LeaseCandidateOptions) {
    this.#opts = opts;
  }

  /** True while this candidate holds the lease. */
  get isLeader(): boolean {
    return this.#actor?.getSnapshot().hasTag('leading') ?? false;
  }

  /** The machine actor (tests inspect its state). */
  get actor(): Actor<CandidateMachine> | undefined {
    return this.#actor;
  }

  start(onEvent: (e: LeaseEvent) => void): void {
    if (this.#actor) throw new Error('LeaseCandidateHost.start: already started');
    this.#onEvent = onEvent;
    const clock = this.#opts.clock ?? realClock;
    const log = this.#opts.logger ?? silentLogger;
    const kv = this.#opts.kv;
    const actor = createActor(createCandidateMachine({ now: () => clock.now() }), {
      input: { value: this.#opts.value, leaseMs: this.#opts.leaseMs ?? DEFAULT_LEASE_MS, watchFirst: this.#opts.watchFirst ?? true },
      clock: clock as never,
      id: 'lease-candidate',
      ...(this.#opts.inspect ? { inspect: this.#opts.inspect } : {}),
    });
    // Nothing else watches the machine's errors: they stay unhandled (and end the process).
    this.#opts.inspection?.record(actor, { reportErrors: true });
    this.#actor = actor;
    const send = (ev: KvEvent) => {
      if (actor.getSnapshot().status === 'active') actor.send(ev);
    };
    actor.on('*', (ev) => {
      try {
        switch (ev.type) {
          case 'lease.acquired':
          case 'lease.lost':
          case 'lease.leader':
            this.#onEvent(ev);
            break;
          case 'log':
            log[ev.level]({ ...ev.fields, pid: this.#opts.value.pid }, ev.msg);
            break;
          default: {
            const p = performKv(kv, ev, clock, send, () => follow(kv, send));
            if (ev.type === 'kv.delete' && this.#stopping) this.#deleting = p;
          }
        }
      } catch (err) {
        log.error({ err, event: ev.type }, 'lease event handler threw');
      }
    });
    listen(kv, send);
    actor.start();
  }

  /** Gives the lease up (deletes the key) and contends again after one lease. */
  resign(reason: string): void {
    this.#actor?.send({ type: 'candidate.resign', reason });
  }

  /** Stops contending; a held lease is resigned (the key deleted, so standbys take over at once). */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      const actor = this.#actor;
      if (!actor) return;
      this.#stopping = true;
      actor.send({ type: 'candidate.stop' });
      if (this.#deleting) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([this.#deleting.catch(() => {}), new Promise<void>((r) => (timer = setTimeout(r, 2000)))]);
        clearTimeout(timer);
      }
      actor.stop();
      this.#opts.kv.close();
    })();
    return this.#stopped;
  }
}

/** Options of {@link LeaderDetectorHost}. */
export interface LeaderDetectorOptions {
  kv: LeaseKv;
  /** Lease length to assume until the bucket's TTL is known. Default {@link DEFAULT_LEASE_MS}. */
  leaseMs?: number;
  clock?: Clock;
  logger?: LoggerLike;
  /** XState's inspection of the detector machine (actor id `leader-detector`). */
  inspect?: Inspect;
  /** Records the detector machine for the statechart view, without XState's inspection. */
  inspection?: ActorRecorder;
}

/** Follows who leads: the detector machine hosted against a KV. */
export class LeaderDetectorHost implements LeaderDetector {
  readonly #opts: LeaderDetectorOptions;
  #actor: Actor<DetectorMachine> | undefined;
  #current: LeaderInfo | undefined;

  constructor(opts: LeaderDetectorOptions) {
    this.#opts = opts;
  }

  /** The leader as last reported. */
  get current(): LeaderInfo | undefined {
    return this.#current;
  }

  start(onChange: (leader: LeaderInfo | undefined) => void): void {
    if (this.#actor) throw new Error('LeaderDetectorHost.start: already started');
    const clock = this.#opts.clock ?? realClock;
    const log = this.#opts.logger ?? silentLogger;
    const kv = this.#opts.kv;
    const actor = createActor(createDetectorMachine({ now: () => clock.now() }), {
      input: { leaseMs: this.#opts.leaseMs ?? DEFAULT_LEASE_MS },
      clock: clock as never,
      id: 'leader-detector',
      ...(this.#opts.inspect ? { inspect: this.#opts.inspect } : {}),
    });
    // Nothing else watches the machine's errors: they stay unhandled (and end the process).
    this.#opts.inspection?.record(actor, { reportErrors: true });
    this.#actor = actor;
    const send = (ev: KvEvent) => {
      if (actor.getSnapshot().status === 'active') actor.send(ev);
    };
    actor.on('*', (ev) => {
      try {
        if (ev.type === 'detector.changed') {
          this.#current = ev.leader ? { ...ev.leader } : undefined;
          onChange(this.#current);
        } else {
          performKv(kv, ev, clock, send, () => follow(kv, send));
        }
      } catch (err) {
        log.error({ err, event: ev.type }, 'leader change handler threw');
      }
    });
    listen(kv, send);
    actor.start();
  }

  async stop(): Promise<void> {
    this.#actor?.send({ type: 'detector.stop' });
    this.#actor?.stop();
    this.#opts.kv.close();
  }
}

// ── JetStream KV ───────────────────────────────────────────────────────────────────────────

/** True for the JetStream "wrong last sequence" API errors (10071, and 10164 on newer servers). */
function isWrongLastSequence(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  const apiCode = (err as { api_error?: { err_code?: unknown } } | null)?.api_error?.err_code;
  return code === 10071 || code === 10164 || apiCode === 10071 || apiCode === 10164 || /wrong last sequence/i.test(String((err as Error)?.message));
}

/** The bucket is not there: its stream is unknown, or nothing answers on its subjects. */
function isStreamNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown; message?: unknown } | null;
  return e?.code === 10059 || e?.code === 503 || e?.name === 'StreamNotFoundError' || e?.name === 'NoRespondersError' || /stream not found|no responders/i.test(String(e?.message));
}

function kvError(err: unknown): KvError {
  return new KvError(String((err as Error)?.message ?? err).slice(0, 300), isWrongLastSequence(err), isStreamNotFound(err));
}

/** Options of {@link NatsLeaseKv}. */
export interface NatsLeaseKvOptions {
  nc: NatsConnection;
  cluster: string;
  /** Create the bucket with this TTL when missing (candidates); detectors only open it. */
  createTtlMs?: number;
  /** Timeout of each request (`requestTimeoutMs` of the lease). Default 1 s. */
  timeoutMs?: number;
  logger?: LoggerLike;
}

/** {@link LeaseKv} over JetStream KV and a plain NATS subject. */
export class NatsLeaseKv implements LeaseKv {
  readonly #o: NatsLeaseKvOptions;
  readonly #bucket: string;
  readonly #subject: string;
  #kv: KV | undefined;
  #watchStop: (() => void) | undefined;
  #sub: { unsubscribe(): void } | undefined;
  #closed = false;

  constructor(opts: NatsLeaseKvOptions) {
    this.#o = opts;
    this.#bucket = leaseBucketName(opts.cluster);
    this.#subject = leaderSubject(opts.cluster);
  }

  async open(): Promise<{ ttlMs: number; created: boolean }> {
    try {
      // Every request of the lease times out quickly, so a holder retries several times within a lease.
      const kvm = new Kvm(jetstream(this.#o.nc, { timeout: this.#o.timeoutMs ?? 1000 }));
      let kv = await kvm.open(this.#bucket);
      let created = false;
      let status;
      try {
        status = await kv.status();
      } catch (err) {
        if (!isStreamNotFound(err) || this.#o.createTtlMs === undefined) throw err;
        kv = await kvm.create(this.#bucket, { ttl: this.#o.createTtlMs, history: 1, timeout: this.#o.timeoutMs ?? 1000 });
        status = await kv.status();
        created = true;
      }
      this.#kv = kv;
      return { ttlMs: status.ttl, created };
    } catch (err) {
      throw kvError(err);
    }
  }

  #need(): KV {
    if (!this.#kv) throw new KvError('bucket not open', false, true);
    return this.#kv;
  }

  async create(value: Uint8Array): Promise<number> {
    try {
      return await this.#need().create(LEADER_KEY, value);
    } catch (err) {
      throw kvError(err);
    }
  }

  async update(value: Uint8Array, revision: number): Promise<number> {
    try {
      return await this.#need().update(LEADER_KEY, value, revision, this.#o.timeoutMs ?? 1000);
    } catch (err) {
      throw kvError(err);
    }
  }

  async get(): Promise<{ revision: number; operation: 'PUT' | 'DEL' | 'PURGE'; value: Uint8Array } | null> {
    try {
      const e = await this.#need().get(LEADER_KEY);
      return e ? { revision: e.revision, operation: e.operation, value: e.value } : null;
    } catch (err) {
      throw kvError(err);
    }
  }

  async delete(revision: number): Promise<void> {
    if (this.#o.nc.isClosed()) return;
    try {
      await this.#need().delete(LEADER_KEY, { previousSeq: revision });
    } catch (err) {
      throw kvError(err);
    }
  }

  watch(onEntry: (e: { revision: number; operation: 'PUT' | 'DEL' | 'PURGE'; value: Uint8Array }) => void): void {
    this.#watchStop?.();
    const kv = this.#kv;
    if (!kv || this.#closed) return;
    let stopped = false;
    let iter: { stop(): void } | undefined;
    this.#watchStop = () => {
      stopped = true;
      try {
        iter?.stop();
      } catch {
        /* already stopped */
      }
    };
    void (async () => {
      try {
        const w = await kv.watch({ key: LEADER_KEY, include: 'updates' });
        iter = w;
        if (stopped) return w.stop();
        for await (const e of w) onEntry({ revision: e.revision, operation: e.operation, value: e.value });
      } catch (err) {
        if (!stopped) (this.#o.logger ?? silentLogger).debug({ err }, 'lease watch ended');
      }
    })();
  }

  announce(data: Uint8Array): void {
    try {
      this.#o.nc.publish(this.#subject, data);
    } catch (err) {
      (this.#o.logger ?? silentLogger).debug({ err }, 'lease announcement not sent');
    }
  }

  onAnnouncement(handler: (data: Uint8Array) => void): void {
    this.#sub?.unsubscribe();
    if (this.#closed || this.#o.nc.isClosed()) return;
    this.#sub = this.#o.nc.subscribe(this.#subject, {
      callback: (err, msg) => {
        if (!err) handler(msg.data);
      },
    });
  }

  close(): void {
    this.#closed = true;
    this.#watchStop?.();
    try {
      this.#sub?.unsubscribe();
    } catch {
      /* connection closed */
    }
  }
}

/** Options of {@link KvLeaseCandidate}. */
export interface KvLeaseCandidateOptions {
  /** An open NATS connection with JetStream. Not closed by the candidate. */
  nc: NatsConnection;
  cluster: string;
  /** Lease length in ms, the bucket TTL when the candidate creates the bucket. Default {@link DEFAULT_LEASE_MS}. */
  leaseMs?: number;
  value: Omit<LeaderInfo, 'epoch'>;
  /** See `CandidateInput.watchFirst` (default true). */
  watchFirst?: boolean;
  clock?: Clock;
  logger?: LoggerLike;
  inspect?: Inspect;
  inspection?: ActorRecorder;
}

/** A candidacy for the lease in JetStream KV on `nc` (see {@link LeaseCandidateHost}). */
export class KvLeaseCandidate extends LeaseCandidateHost {
  constructor(opts: KvLeaseCandidateOptions) {
    const leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
    super({
      kv: new NatsLeaseKv({ nc: opts.nc, cluster: opts.cluster, createTtlMs: leaseMs, timeoutMs: requestTimeoutMs(leaseMs), logger: opts.logger }),
      value: opts.value,
      leaseMs,
      ...(opts.watchFirst !== undefined ? { watchFirst: opts.watchFirst } : {}),
      clock: opts.clock,
      logger: opts.logger,
      ...(opts.inspect ? { inspect: opts.inspect } : {}),
      ...(opts.inspection ? { inspection: opts.inspection } : {}),
    });
  }
}

/** Options of {@link KvLeaderDetector}. */
export interface KvLeaderDetectorOptions {
  nc: NatsConnection;
  cluster: string;
  clock?: Clock;
  logger?: LoggerLike;
  /** The lease to assume until the bucket's TTL is known. A detector never makes the bucket. */
  leaseMs?: number;
  inspect?: Inspect;
  inspection?: ActorRecorder;
}

/** Follows the lease in JetStream KV on `nc` (see {@link LeaderDetectorHost}). */
export class KvLeaderDetector extends LeaderDetectorHost {
  constructor(opts: KvLeaderDetectorOptions) {
    super({
      kv: new NatsLeaseKv({ nc: opts.nc, cluster: opts.cluster, timeoutMs: requestTimeoutMs(opts.leaseMs ?? DEFAULT_LEASE_MS), logger: opts.logger }),
      leaseMs: opts.leaseMs,
      clock: opts.clock,
      logger: opts.logger,
      ...(opts.inspect ? { inspect: opts.inspect } : {}),
      ...(opts.inspection ? { inspection: opts.inspection } : {}),
    });
  }
}
