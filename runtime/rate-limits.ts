/**
 * Per-principal rate limits at the master (`mesos-master --rate_limits`), so that one framework
 * cannot flood it.
 *
 * The configuration is Mesos' `RateLimits` as JSON:
 *
 * ```json
 * { "limits": [{ "principal": "foo", "qps": 55.5, "capacity": 100 }, { "principal": "bar" }],
 *   "aggregate_default_qps": 33.3, "aggregate_default_capacity": 1000 }
 * ```
 *
 * - A listed principal with `qps` gets a bucket of its own, refilled at `qps` messages a second.
 * - A listed principal without `qps` is not limited at all (its `capacity`, if any, is ignored).
 * - Every principal not listed draws from ONE shared bucket refilled at `aggregate_default_qps`;
 *   without `aggregate_default_qps` they are not limited (and `aggregate_default_capacity` is
 *   ignored).
 *
 * Only messages from schedulers and operators are limited: what masters and agents send is always
 * delivered. The sender's kind and principal are the last two tokens of the subject
 * (`<to>.<type>.<kind>.<principal>`, `protocols/pid.ts`), which the bus's permissions pin.
 *
 * **Capacity.** In Mesos, `capacity` is how many messages of a principal may wait at the master
 * for their turn; messages past it are refused. Here nothing waits: a message over the rate is
 * dropped at once, and its sender is not told. So `capacity` is the size of the principal's
 * token bucket instead — how many messages it may send in a burst after being quiet — and a
 * bucket without one holds `max(1, qps)` tokens: one second's worth. A message sent in parts
 * (too large for one bus message) costs one token per part.
 *
 * **Metrics**, for limited principals only: `master/frameworks/<principal>/messages_received`,
 * `…/messages_processed` (let through) and `…/messages_dropped`, plus the total
 * `master/rate_limited`. Only listed principals get names of their own (spelled as in subjects,
 * `toToken`); the shared bucket counts as `default`, which is therefore reserved, not a principal
 * one may list. So there are never more names than the configuration has lines. Drops are logged
 * at most once a second per bucket, with the count dropped since the last line.
 *
 * Buckets are refilled lazily from `now()` when a message arrives: no timers.
 *
 * @see Mesos `RateLimits`/`RateLimit` (`mesos.proto`), the master's `--rate_limits` flag.
 */
import { toToken } from '../protocols/pid.ts';
import type { Logger } from './log.ts';
import type { Metrics } from './metrics.ts';

/** One principal's limit. Without `qps` the principal is not limited. */
export interface RateLimit {
  readonly principal: string;
  /** Messages a second. */
  readonly qps?: number;
  /** Burst size: tokens the bucket holds (default `max(1, qps)`). Ignored without `qps`. */
  readonly capacity?: number;
}

/** Parsed `--rate_limits`. */
export interface RateLimits {
  readonly limits: readonly RateLimit[];
  /** Rate shared by every principal not in `limits`; unlimited when absent. */
  readonly aggregateDefaultQps?: number;
  /** Burst size of that shared bucket (default `max(1, aggregateDefaultQps)`). */
  readonly aggregateDefaultCapacity?: number;
}

/** The name the shared bucket counts under (`master/frameworks/default/…`). */
const AGGREGATE = 'default';

/** Drops of one bucket are logged at most this often. */
const WARN_INTERVAL_MS = 1000;

const TOP_FIELDS = new Set(['limits', 'aggregate_default_qps', 'aggregate_default_capacity']);
const LIMIT_FIELDS = new Set(['principal', 'qps', 'capacity']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A positive finite number, or `undefined` when absent; throws naming `what` otherwise. */
function positive(v: unknown, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`${what} must be a positive number, not ${JSON.stringify(v)}`);
  return v;
}

/** A whole number of at least 1, or `undefined` when absent; throws naming `what` otherwise. */
function count(v: unknown, what: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new Error(`${what} must be a whole number of at least 1, not ${JSON.stringify(v)}`);
  return v;
}

/**
 * Parses `--rate_limits` JSON. Throws an Error with a one-line message on bad JSON, an unknown
 * field, a missing or repeated principal (or the reserved `default`), or a `qps`/`capacity` that
 * is not a positive number (a capacity must also be whole).
 */
export function parseRateLimits(text: string): RateLimits {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`not JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!isObject(raw)) throw new Error('expected a JSON object');
  for (const k of Object.keys(raw)) {
    if (!TOP_FIELDS.has(k)) throw new Error(`unknown field '${k}' (expected ${[...TOP_FIELDS].join(', ')})`);
  }
  if (raw.limits !== undefined && !Array.isArray(raw.limits)) throw new Error("'limits' must be an array");
  const seen = new Set<string>();
  const limits = ((raw.limits ?? []) as unknown[]).map((l, i): RateLimit => {
    const at = `limits[${i}]`;
    if (!isObject(l)) throw new Error(`${at} must be an object`);
    for (const k of Object.keys(l)) {
      if (!LIMIT_FIELDS.has(k)) throw new Error(`${at}: unknown field '${k}' (expected ${[...LIMIT_FIELDS].join(', ')})`);
    }
    if (typeof l.principal !== 'string' || l.principal === '') throw new Error(`${at}: 'principal' must be a non-empty string`);
    const token = toToken(l.principal);
    if (token === AGGREGATE) throw new Error(`${at}: principal '${AGGREGATE}' is reserved (the shared bucket's metrics are named after it)`);
    if (seen.has(token)) throw new Error(`${at}: principal '${l.principal}' is listed twice`);
    seen.add(token);
    const qps = positive(l.qps, `${at}.qps`);
    const capacity = count(l.capacity, `${at}.capacity`);
    return { principal: l.principal, ...(qps !== undefined ? { qps } : {}), ...(capacity !== undefined ? { capacity } : {}) };
  });
  const aggregateDefaultQps = positive(raw.aggregate_default_qps, 'aggregate_default_qps');
  const aggregateDefaultCapacity = count(raw.aggregate_default_capacity, 'aggregate_default_capacity');
  return {
    limits,
    ...(aggregateDefaultQps !== undefined ? { aggregateDefaultQps } : {}),
    ...(aggregateDefaultCapacity !== undefined ? { aggregateDefaultCapacity } : {}),
  };
}

/** A token bucket and the names it counts under. */
interface Bucket {
  /** `default` for the shared bucket. */
  readonly name: string;
  readonly qps: number;
  readonly perMs: number;
  readonly burst: number;
  tokens: number;
  /** When `tokens` was last brought up to date. */
  last: number;
  /** When a drop was last logged (`-Infinity`: never). */
  warnedAt: number;
  /** Drops since that line. */
  unlogged: number;
  readonly received: string;
  readonly processed: string;
  readonly dropped: string;
}

/**
 * Decides, message by message, whether a message reaching the master is delivered (see the
 * module doc). Cheap on the hot path: two `lastIndexOf`s, a map lookup and arithmetic.
 */
export class RateLimiter {
  /** Listed principals (as subject tokens): their bucket, or `null` when they are not limited. */
  readonly #listed = new Map<string, Bucket | null>();
  /** The bucket every principal not listed shares; `null` when they are not limited. */
  readonly #aggregate: Bucket | null;

  constructor(
    limits: RateLimits,
    private readonly now: () => number,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {
    const start = now();
    for (const l of limits.limits) {
      const token = toToken(l.principal);
      this.#listed.set(token, l.qps === undefined ? null : bucket(token, l.qps, l.capacity, start));
    }
    this.#aggregate = limits.aggregateDefaultQps === undefined ? null : bucket(AGGREGATE, limits.aggregateDefaultQps, limits.aggregateDefaultCapacity, start);
  }

  /** True when the message on `subject` should be delivered; a refused one is counted and (at times) logged. */
  admit(subject: string): boolean {
    const p = subject.lastIndexOf('.');
    const k = subject.lastIndexOf('.', p - 1);
    if (k < 0) return true;
    // Only schedulers and operators are limited: compare the kind token in place.
    const kindLength = p - k - 1;
    if (!((kindLength === 9 && subject.startsWith('scheduler', k + 1)) || (kindLength === 8 && subject.startsWith('operator', k + 1)))) return true;
    const principal = subject.slice(p + 1);
    const listed = this.#listed.get(principal);
    const b = listed === undefined ? this.#aggregate : listed;
    if (b === null) return true;

    this.metrics.inc(b.received);
    const now = this.now();
    if (now > b.last) {
      b.tokens = Math.min(b.burst, b.tokens + (now - b.last) * b.perMs);
      b.last = now;
    } else if (now < b.last) {
      // The clock went back: start counting from here, without adding tokens.
      b.last = now;
    }
    // (A hair under 1 still counts as a whole token: rounding must not drop a message in time.)
    if (b.tokens > 1 - 1e-9) {
      b.tokens -= 1;
      this.metrics.inc(b.processed);
      return true;
    }
    this.metrics.inc(b.dropped);
    this.metrics.inc('master/rate_limited');
    b.unlogged += 1;
    if (now - b.warnedAt >= WARN_INTERVAL_MS || now < b.warnedAt) {
      this.logger.warn(
        { principal, bucket: b.name, qps: b.qps, capacity: b.burst, dropped: b.unlogged, type: subject.slice(subject.lastIndexOf('.', k - 1) + 1, k) },
        'rate limit exceeded; dropping messages',
      );
      b.warnedAt = now;
      b.unlogged = 0;
    }
    return false;
  }
}

/** A full bucket for `name` at `qps`, holding `capacity` tokens (default one second's worth). */
function bucket(name: string, qps: number, capacity: number | undefined, now: number): Bucket {
  const burst = capacity ?? Math.max(1, qps);
  const prefix = `master/frameworks/${name}`;
  return {
    name,
    qps,
    perMs: qps / 1000,
    burst,
    tokens: burst,
    last: now,
    warnedAt: -Infinity,
    unlogged: 0,
    received: `${prefix}/messages_received`,
    processed: `${prefix}/messages_processed`,
    dropped: `${prefix}/messages_dropped`,
  };
}
