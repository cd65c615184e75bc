/**
 * Runs a master: hosts the master machine at its PID, feeds it leadership events from a lease
 * candidate, and performs its effects — reading and writing the registry, answering metrics
 * requests, resigning the lease. A master that loses the lease goes back to standing by in the
 * same process and contends again; nothing needs to restart it.
 *
 * Registry writes are retried until they are stored or the leadership they belong to ends: a
 * NATS outage shorter than the lease delays them, it does not fail them.
 */
import { randomUUID } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { waitFor } from 'xstate';
import { createMasterMachine, type MasterMachine, type MetricsEffect, type ResignEffect } from '../actors/master/master.machine.ts';
import type { RegistryEffect } from '../actors/master/registry.ts';
import { masterMetrics } from '../actors/master/leadership.ts';
import type { MasterFlags, OperatorAnswerEffect, OperatorEvent, OperatorEventEffect } from '../actors/master/state.ts';
import type { Message } from '../protocols/messages.ts';
import { pid as makePid } from '../protocols/pid.ts';
import { depsFor, hostActor, type ActorHost } from './actor-host.ts';
import { realClock } from './clock.ts';
import type { Inspect } from './inspect.ts';
import type { ActorRecorder } from './inspection.ts';
import type { Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import { RateLimiter, type RateLimits } from './rate-limits.ts';
import { MemoryRegistry, type RegistryStore } from './registry.ts';
import type { Clock, LeaderInfo, LeaseCandidate, Transport } from './types.ts';

/**
 * A verbatim repeat of a (re-)registration answered less than this long ago is not decoded: it is
 * an agent's retry sent before our answer reached it, and gets the same answer again. The
 * master's own retry window, for the same reason.
 */
const REGISTRATION_REPEAT_WINDOW_MS = 10_000;

/**
 * Registrations arriving together are handled as one event: after a failover thousands arrive at
 * once, and the statechart's own cost per event was a fifth of the new leader's work.
 */
const COALESCED: ReadonlySet<string> = new Set(['RegisterAgent', 'ReregisterAgent']);

/** How to start a master. */
export interface MasterOptions {
  /** Handle inbound messages at most this many ms at a time (`ActorHostOptions.inboundSliceMs`); off when absent. */
  inboundSliceMs?: number;
  /** The principal it connects to the bus as (its PID names it). Default `anonymous`. */
  principal?: string;
  transport: Transport;
  cluster: string;
  logger: Logger;
  /** Builds this master's lease candidacy from the value it should publish. */
  lease: (value: Omit<LeaderInfo, 'epoch'>) => LeaseCandidate;
  /** Where the registry lives; in memory (this process only) by default. */
  registry?: RegistryStore;
  hostname?: string;
  flags?: Partial<MasterFlags>;
  clock?: Clock;
  /** XState's inspection (`--inspect=log`, `ws://…`), at XState's price. */
  inspect?: Inspect;
  /** Records the machine's events and states for the statechart view, without XState's inspection. */
  inspection?: ActorRecorder;
  runId?: string;
  /** Called with every operator event the master announces (for `SUBSCRIBE` streams). */
  onOperatorEvent?: (event: OperatorEvent) => void;
  /** The master's HTTP address (`host:port`), advertised in the lease for standbys' redirects. */
  httpAddress?: string;
  /** `--rate_limits`: messages from scheduler and operator principals over their rate are dropped (`rate-limits.ts`). */
  rateLimits?: RateLimits;
}

/** A running master. */
export interface MasterHandle {
  readonly pid: string;
  readonly runId: string;
  readonly host: ActorHost<MasterMachine>;
  readonly candidate: LeaseCandidate;
  /** Resolves when this master leads. */
  elected(timeoutMs?: number): Promise<void>;
  /** Resolves when this master leads and has recovered (every agent re-registered or timed out). */
  serving(timeoutMs?: number): Promise<void>;
  /** Process metrics merged with the machine's (as `GetMetrics` answers). */
  metrics(): Record<string, number>;
  /**
   * Hands `msg` (an operator call: `TeardownFramework`, `UpdateQuota`, `UpdateWeights`,
   * `MarkAgentGone`) to this master as an operator acting for `principal` (anonymous when
   * undefined), and resolves with the master's answer; `timeout` when none came within
   * `timeoutMs` (this master stopped leading, or the registry could not be written).
   */
  operatorCall(msg: Message, principal: string | undefined, timeoutMs?: number): Promise<OperatorAnswer>;
  /** Resigns (if leading) and stops. */
  stop(): Promise<void>;
}

/** The master's answer to an operator call. */
export interface OperatorAnswer {
  outcome: OperatorAnswerEffect['outcome'] | 'timeout';
  message?: string;
}

/** How long an operator call waits for the master's answer by default, ms. */
export const OPERATOR_CALL_TIMEOUT_MS = 30_000;

/** How far back `…/event_loop_delay_recent_max_ms` looks, ms (see {@link LoopMonitor}). */
export const RECENT_STALL_WINDOW_MS = 10_000;
/** Stalls are kept as one maximum per bucket of this length, ms: the window reaches this much further. */
export const RECENT_STALL_BUCKET_MS = 1_000;

/**
 * The worst stall among those that ended in the last {@link RECENT_STALL_WINDOW_MS}: one maximum
 * per {@link RECENT_STALL_BUCKET_MS} bucket, in a ring of buckets covering the window and the
 * bucket now filling. What it reports therefore covers at least the last 10 s and at most 11 s.
 */
export class RecentStalls {
  readonly #slots = Math.ceil(RECENT_STALL_WINDOW_MS / RECENT_STALL_BUCKET_MS) + 1;
  /** Which bucket (`floor(at / RECENT_STALL_BUCKET_MS)`) each slot holds; -1 for none. */
  readonly #bucketOf = new Float64Array(this.#slots).fill(-1);
  readonly #worstMs = new Float64Array(this.#slots);

  /** A stall of `stallMs` that ended at `at` (ms on any monotonic clock). */
  observe(at: number, stallMs: number): void {
    const bucket = Math.floor(at / RECENT_STALL_BUCKET_MS);
    const slot = bucket % this.#slots;
    if (this.#bucketOf[slot] !== bucket) {
      this.#bucketOf[slot] = bucket;
      this.#worstMs[slot] = 0;
    }
    this.#worstMs[slot] = Math.max(this.#worstMs[slot]!, stallMs);
  }

  /** The worst stall that ended in the buckets still in the window at `now`; 0 when none did. */
  max(now: number): number {
    const oldest = Math.floor(now / RECENT_STALL_BUCKET_MS) - this.#slots + 1;
    let worst = 0;
    for (let i = 0; i < this.#slots; i++) if (this.#bucketOf[i]! >= oldest) worst = Math.max(worst, this.#worstMs[i]!);
    return worst;
  }

  /** Forgets every stall. */
  clear(): void {
    this.#bucketOf.fill(-1);
    this.#worstMs.fill(0);
  }
}

/**
 * Tracks how long the event loop is held: percentiles from Node's monitor, and the worst stall.
 *
 * `…/event_loop_delay_max_ms` is the worst stall of the whole leadership (the monitor is reset
 * when it begins). A figure that only grows cannot show whether something an operator does now
 * (say, polling `/master/state`) stalls the loop, so `…/event_loop_delay_recent_max_ms` is the
 * worst stall that ended in the last {@link RECENT_STALL_WINDOW_MS} (10 to 11 s: see
 * {@link RecentStalls}). It is a rolling window rather than a maximum reset on each read: reading
 * it changes nothing, so a benchmark, a dashboard and an operator with `curl` can all read it and
 * each sees the whole window, and Prometheus scrapes stay idempotent. A reader that wants the
 * worst stall over a longer stretch reads it at least every 10 s and takes the maximum.
 *
 * A stall is recorded when the monitor's timer next runs, as it ends: a read never includes its
 * own work (counting the tasks for the other metrics), the next read does.
 */
export class LoopMonitor {
  readonly #h: IntervalHistogram;
  readonly #recent = new RecentStalls();
  #worst = 0;
  #last = 0;
  #timer: NodeJS.Timeout;

  constructor(readonly intervalMs = 20) {
    this.#h = monitorEventLoopDelay({ resolution: 10 });
    this.#h.enable();
    this.#last = performance.now();
    // The lateness of a short interval timer is the longest the loop was held in between.
    this.#timer = setInterval(() => {
      const now = performance.now();
      const stallMs = Math.max(0, now - this.#last - this.intervalMs);
      this.#worst = Math.max(this.#worst, stallMs);
      this.#recent.observe(now, stallMs);
      this.#last = now;
    }, this.intervalMs);
    this.#timer.unref();
  }

  /**
   * `event_loop_delay_max_ms`, `…_p99_ms`, `…_p50_ms` since start (or the last reset), and
   * `…_recent_max_ms` over the last {@link RECENT_STALL_WINDOW_MS}.
   */
  metrics(prefix: string): Record<string, number> {
    return {
      [`${prefix}/event_loop_delay_max_ms`]: Math.max(this.#worst, this.#h.max / 1e6),
      [`${prefix}/event_loop_delay_p99_ms`]: this.#h.percentile(99) / 1e6,
      [`${prefix}/event_loop_delay_p50_ms`]: this.#h.percentile(50) / 1e6,
      [`${prefix}/event_loop_delay_recent_max_ms`]: this.#recent.max(performance.now()),
    };
  }

  /** Starts measuring afresh (each leadership is measured on its own). */
  reset(): void {
    this.#h.reset();
    this.#recent.clear();
    this.#worst = 0;
    this.#last = performance.now();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#h.disable();
  }
}

/** Starts a master and its candidacy. */
export function startMaster(opts: MasterOptions): MasterHandle {
  const runId = opts.runId ?? randomUUID().slice(0, 8);
  const pid = makePid(opts.cluster, 'master', runId, opts.principal);
  const hostname = opts.hostname ?? osHostname();
  const clock = opts.clock ?? realClock;
  const registry: RegistryStore = opts.registry ?? new MemoryRegistry();
  const log = opts.logger.child({ actor: pid });
  const loop = clock === realClock ? new LoopMonitor() : undefined;

  /** The epoch an effect was emitted under still leads. */
  const current = (epoch: number) => host.actor.getSnapshot().context.epoch === epoch && host.actor.getSnapshot().hasTag('leading');

  /** Retries `fn` with backoff while the term lasts; resolves `undefined` once it ended. */
  const retrying = async <T>(what: string, epoch: number, fn: () => Promise<T>): Promise<{ value: T } | undefined> => {
    let delay = 50;
    for (let attempt = 1; ; attempt++) {
      if (!current(epoch)) return undefined;
      try {
        return { value: await fn() };
      } catch (err) {
        if (attempt === 1 || attempt % 20 === 0) log.warn({ err, attempt }, `${what} failed; retrying`);
        await new Promise<void>((resolve) => clock.setTimeout(resolve, delay));
        delay = Math.min(2000, delay * 2);
      }
    }
  };

  /** Operator calls made through {@link MasterHandle.operatorCall}, by the PID they were made as. */
  const waiting = new Map<string, (a: OperatorAnswer) => void>();
  let callSeq = 0;

  const onEffect = (ev: { type: string }) => {
    const epoch = host.actor.getSnapshot().context.epoch;
    switch (ev.type) {
      case 'effect.operatorAnswer': {
        // An answer to an operator on the bus has nobody waiting here: its log line is the answer.
        const e = ev as OperatorAnswerEffect;
        waiting.get(e.to)?.({ outcome: e.outcome, ...(e.message !== undefined ? { message: e.message } : {}) });
        break;
      }
      case 'effect.operatorEvent':
        opts.onOperatorEvent?.((ev as OperatorEventEffect).event);
        break;
      case 'effect.registryLoad':
        void retrying('registry read', epoch, () => registry.load()).then((r) => {
          if (r) host.send({ type: 'registry.loaded', epoch, snapshot: r.value });
        });
        break;
      case 'effect.registry': {
        const e = ev as RegistryEffect;
        // An agent leaves: the answers given to its earlier registrations no longer hold, so its
        // next copy of one must reach the machine (which then admits it again).
        if (e.op.op === 'markUnreachable' || e.op.op === 'remove' || e.op.op === 'markGone') host.forgetRepeats();
        void retrying(`registry write (${e.op.op})`, epoch, () => registry.apply(e.op)).then((r) => {
          if (r) host.send({ type: 'registry.applied', epoch, opId: e.opId });
        });
        break;
      }
      case 'effect.metrics': {
        const e = ev as MetricsEffect;
        host.sendMessage(e.to, { type: 'MetricsSnapshot', body: { metrics: { ...e.metrics, ...processMetrics() } } });
        break;
      }
      case 'effect.resign':
        host.forgetRepeats();
        candidate.resign((ev as ResignEffect).reason);
        break;
      default:
        break;
    }
  };

  const processMetrics = (): Record<string, number> => {
    const m: Record<string, number> = { ...host.metrics.snapshot() };
    Object.assign(m, loop?.metrics('master') ?? {});
    m['system/mem_rss_bytes'] = process.memoryUsage().rss;
    return m;
  };

  const metrics = new Metrics();
  const limiter = opts.rateLimits ? new RateLimiter(opts.rateLimits, () => clock.now(), metrics, log) : undefined;
  const host: ActorHost<MasterMachine> = hostActor(createMasterMachine(depsFor(clock)), { self: pid, runId, hostname, flags: opts.flags }, {
    pid,
    transport: opts.transport,
    logger: opts.logger,
    clock,
    metrics,
    inspect: opts.inspect,
    ...(opts.inspection ? { inspection: opts.inspection } : {}),
    ...(limiter ? { admit: (subject: string) => limiter.admit(subject) } : {}),
    onEmit: onEffect,
    repeatWindowMs: REGISTRATION_REPEAT_WINDOW_MS,
    coalesce: COALESCED,
    ...(opts.inboundSliceMs !== undefined ? { inboundSliceMs: opts.inboundSliceMs } : {}),
  });
  // A standby keeps its copy of the registry current, so that it can lead without reading it all.
  registry.follow?.();
  const candidate = opts.lease({ pid, hostname, ...(opts.httpAddress ? { http: opts.httpAddress } : {}) });
  candidate.start((e) => {
    if (e.type === 'lease.acquired') {
      log.info({ epoch: e.epoch }, 'elected leading master');
      // The loop metrics describe this leadership, not the start-up or the time standing by.
      loop?.reset();
    }
    // A new term answers nothing on behalf of an earlier one, and a standby answers nothing.
    if (e.type === 'lease.acquired' || e.type === 'lease.lost') host.forgetRepeats();
    host.send(e);
  });
  return {
    pid,
    runId,
    host,
    candidate,
    elected: async (timeoutMs = 30_000) => {
      await waitFor(host.actor, (s) => s.hasTag('leading'), { timeout: timeoutMs });
    },
    serving: async (timeoutMs = 30_000) => {
      await waitFor(host.actor, (s) => s.hasTag('serving'), { timeout: timeoutMs });
    },
    metrics: () => {
      const s = host.actor.getSnapshot();
      const env = { self: pid, runId, hostname, epoch: s.context.epoch, now: clock.now(), flags: s.context.flags };
      return { ...masterMetrics(s.context.state, env, s.hasTag('leading')), ...processMetrics() };
    },
    operatorCall: (msg, principal, timeoutMs = OPERATOR_CALL_TIMEOUT_MS) => {
      const from = makePid(opts.cluster, 'operator', `${runId}-call${++callSeq}`, principal);
      return new Promise<OperatorAnswer>((resolve) => {
        const timer = clock.setTimeout(() => finish({ outcome: 'timeout', message: `no answer from the master within ${timeoutMs / 1000} s` }), timeoutMs);
        const finish = (a: OperatorAnswer) => {
          clock.clearTimeout(timer);
          waiting.delete(from);
          resolve(a);
        };
        waiting.set(from, finish);
        host.send({ ...msg, from } as never);
      });
    },
    stop: async () => {
      await candidate.stop();
      host.stop();
      loop?.stop();
      registry.stop?.();
    },
  };
}
