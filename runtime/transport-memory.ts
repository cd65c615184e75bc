/**
 * An in-process message bus for deterministic tests and simulations: NATS subject semantics,
 * FIFO delivery driven by {@link MemoryBus.settle}, and Mesos-style fault filters
 * (`DROP_PROTOBUF`, `FUTURE_PROTOBUF`, delays on an injected {@link Clock}).
 */
import { realClock } from './clock.ts';
import type { LoggerLike } from './transport-nats.ts';
import type { Clock, RawHandler, Subscription, Transport } from './types.ts';

/** A message on the bus. `data` is the bus's own copy of the published bytes. */
export interface BusMessage {
  subject: string;
  data: Uint8Array;
}

/**
 * What a fault filter decides for a published message: deliver it, drop it, deliver it after
 * `delayMs` on the bus clock, or deliver it twice.
 */
export type FilterDecision = 'deliver' | 'drop' | { delayMs: number } | 'duplicate';

/**
 * A fault filter, consulted for every published message in the order filters were added; the
 * first decision other than `'deliver'` wins.
 */
export type BusFilter = (msg: BusMessage) => FilterDecision;

/** Counters of a {@link MemoryBus}. */
export interface BusStats {
  /** Messages passed to `publish` (including ones later dropped). */
  published: number;
  /** Handler invocations (one message reaching two subscriptions counts twice). */
  delivered: number;
  /** Messages dropped by a filter, published on a closed transport, or over the payload limit. */
  dropped: number;
  /** Messages dropped for exceeding `maxPayload` (NATS refuses them at publish). */
  oversized: number;
  /** Messages dequeued with no matching subscription. */
  unrouted: number;
  /** Messages waiting in the queue now. */
  queued: number;
  /** Delayed messages whose delay has not elapsed yet. */
  delayed: number;
}

/** Options of {@link MemoryBus}. */
export interface MemoryBusOptions {
  /**
   * When true, messages are only delivered by explicit {@link MemoryBus.settle} calls.
   * Otherwise the bus also settles itself on a microtask after each publish.
   */
  manual?: boolean;
  /** Clock used for delayed messages. Default {@link realClock}. */
  clock?: Clock;
  /** Where handler exceptions are logged. Silent by default. */
  logger?: LoggerLike;
  /** Maximum deliveries in one `settle()` before it gives up (livelock guard). Default 1e6. */
  maxSettle?: number;
  /** Largest message published, like NATS' `max_payload`; larger ones are dropped. Default 1 MiB. */
  maxPayload?: number;
}

/** Returns true when a NATS subject matches a subscription pattern (`*` = one token, `>` = the rest). */
export function subjectMatches(pattern: string, subject: string): boolean {
  return matchTokens(pattern.split('.'), subject.split('.'));
}

function matchTokens(pattern: readonly string[], subject: readonly string[]): boolean {
  const n = pattern.length;
  for (let i = 0; i < n; i++) {
    const p = pattern[i];
    if (p === '>') return i === n - 1 && subject.length > i;
    if (i >= subject.length) return false;
    if (p !== '*' && p !== subject[i]) return false;
  }
  return subject.length === n;
}

interface BusSub {
  tokens: readonly string[];
  /** Fast path for patterns without wildcards. */
  literal: string | undefined;
  handler: RawHandler;
  active: boolean;
}

interface Intercept {
  predicate: (msg: BusMessage) => boolean;
  resolve: (msg: BusMessage) => void;
}

/**
 * The shared medium that {@link MemoryTransport}s attach to. Publishing enqueues; delivery happens
 * in {@link MemoryBus.settle} (FIFO, including messages published by handlers while settling) and,
 * unless the bus is `manual`, automatically on a microtask. A message goes to exact-subject
 * subscriptions first, then to wildcard ones, each group in subscription order.
 */
export class MemoryBus {
  readonly #manual: boolean;
  readonly #clock: Clock;
  readonly #log: LoggerLike | undefined;
  readonly #maxSettle: number;
  /** The payload limit transports report; larger publishes are dropped (counted as `oversized`). */
  readonly maxPayload: number;
  /** Subscriptions without wildcards, by subject. Arrays are replaced, never mutated. */
  readonly #literal = new Map<string, BusSub[]>();
  /** Wildcard subscriptions. Replaced, never mutated. */
  #wild: BusSub[] = [];
  readonly #filters: BusFilter[] = [];
  #intercepts: Intercept[] = [];
  #queue: BusMessage[] = [];
  #head = 0;
  #settling = false;
  #scheduled = false;
  readonly #delayTimers = new Set<unknown>();
  readonly #stats = { published: 0, delivered: 0, dropped: 0, unrouted: 0, oversized: 0 };

  /** Creates an empty bus. */
  constructor(opts: MemoryBusOptions = {}) {
    this.#manual = opts.manual ?? false;
    this.#clock = opts.clock ?? realClock;
    this.#log = opts.logger;
    this.#maxSettle = opts.maxSettle ?? 1_000_000;
    this.maxPayload = opts.maxPayload ?? 1024 * 1024;
  }

  /** A new transport attached to this bus. */
  transport(): MemoryTransport {
    return new MemoryTransport(this);
  }

  /**
   * Adds a fault filter (Mesos `DROP_PROTOBUF` and friends).
   * @returns a function that removes the filter.
   */
  addFilter(filter: BusFilter): () => void {
    this.#filters.push(filter);
    return () => {
      const i = this.#filters.indexOf(filter);
      if (i >= 0) this.#filters.splice(i, 1);
    };
  }

  /**
   * Resolves with the first message published from now on that satisfies `predicate` (Mesos
   * `FUTURE_PROTOBUF`). Sees every published message, before filters; does not affect delivery.
   */
  intercept(predicate: (msg: BusMessage) => boolean): Promise<BusMessage> {
    return new Promise((resolve) => {
      this.#intercepts.push({ predicate, resolve });
    });
  }

  /** Current counters. */
  stats(): BusStats {
    return {
      ...this.#stats,
      queued: this.#queue.length - this.#head,
      delayed: this.#delayTimers.size,
    };
  }

  /** Number of messages waiting in the queue (delayed ones not included). */
  pending(): number {
    return this.#queue.length - this.#head;
  }

  /**
   * Delivers queued messages in FIFO order until the queue is empty, including messages that
   * handlers publish meanwhile. Re-entrant calls from a handler return 0 immediately.
   * @returns the number of handler invocations.
   * @throws when more than `maxSettle` deliveries happen in one call (a publish loop).
   */
  settle(): number {
    if (this.#settling) return 0;
    this.#settling = true;
    let count = 0;
    try {
      while (this.#head < this.#queue.length) {
        const msg = this.#queue[this.#head]!;
        this.#queue[this.#head] = undefined as unknown as BusMessage;
        this.#head++;
        if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
          this.#queue = this.#queue.slice(this.#head);
          this.#head = 0;
        }
        count += this.#deliver(msg);
        if (count > this.#maxSettle) {
          throw new Error(`MemoryBus.settle: more than ${this.#maxSettle} deliveries; publish loop?`);
        }
      }
    } finally {
      this.#settling = false;
    }
    return count;
  }

  /** Cancels delayed messages and drops everything queued. Subscriptions stay. */
  clear(): void {
    for (const t of this.#delayTimers) this.#clock.clearTimeout(t);
    this.#delayTimers.clear();
    this.#queue = [];
    this.#head = 0;
  }

  /** @internal Used by {@link MemoryTransport}. */
  _publish(subject: string, data: Uint8Array): void {
    this.#stats.published++;
    if (data.byteLength > this.maxPayload) {
      this.#stats.dropped++;
      this.#stats.oversized++;
      this.#log?.warn({ subject, bytes: data.byteLength }, 'payload exceeds the bus limit; dropped');
      return;
    }
    const msg: BusMessage = { subject, data: data.slice() };
    if (this.#intercepts.length > 0) this.#runIntercepts(msg);
    let decision: FilterDecision = 'deliver';
    for (const f of this.#filters) {
      decision = f(msg);
      if (decision !== 'deliver') break;
    }
    if (decision === 'deliver') {
      this.#enqueue(msg);
    } else if (decision === 'drop') {
      this.#stats.dropped++;
    } else if (decision === 'duplicate') {
      this.#enqueue(msg);
      this.#enqueue({ subject, data: msg.data.slice() });
    } else {
      const timer = this.#clock.setTimeout(() => {
        this.#delayTimers.delete(timer);
        this.#enqueue(msg);
      }, decision.delayMs);
      this.#delayTimers.add(timer);
    }
  }

  /** @internal Counts a message published on a closed transport. */
  _dropClosed(): void {
    this.#stats.published++;
    this.#stats.dropped++;
  }

  /** @internal Used by {@link MemoryTransport}. */
  _subscribe(pattern: string, handler: RawHandler): BusSub {
    const tokens = pattern.split('.');
    const literal = tokens.includes('*') || tokens.includes('>') ? undefined : pattern;
    const sub: BusSub = { tokens, literal, handler, active: true };
    if (literal === undefined) this.#wild = [...this.#wild, sub];
    else this.#literal.set(literal, [...(this.#literal.get(literal) ?? []), sub]);
    return sub;
  }

  /** @internal Used by {@link MemoryTransport}. */
  _unsubscribe(sub: BusSub): void {
    if (!sub.active) return;
    sub.active = false;
    if (sub.literal === undefined) {
      this.#wild = this.#wild.filter((s) => s !== sub);
    } else {
      const rest = (this.#literal.get(sub.literal) ?? []).filter((s) => s !== sub);
      if (rest.length > 0) this.#literal.set(sub.literal, rest);
      else this.#literal.delete(sub.literal);
    }
  }

  #runIntercepts(msg: BusMessage): void {
    const remaining: Intercept[] = [];
    for (const i of this.#intercepts) {
      let hit = false;
      try {
        hit = i.predicate(msg);
      } catch (err) {
        this.#log?.error({ err, subject: msg.subject }, 'intercept predicate threw');
      }
      if (hit) i.resolve(msg);
      else remaining.push(i);
    }
    this.#intercepts = remaining;
  }

  #enqueue(msg: BusMessage): void {
    this.#queue.push(msg);
    if (!this.#manual && !this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => {
        this.#scheduled = false;
        try {
          this.settle();
        } catch (err) {
          this.#log?.error({ err }, 'MemoryBus auto-settle failed');
          if (!this.#log) throw err;
        }
      });
    }
  }

  #deliver(msg: BusMessage): number {
    // Subscription arrays are replaced, never mutated, so iterating them is safe while handlers
    // subscribe or unsubscribe; `active` skips subscriptions removed during this delivery.
    let n = 0;
    const literal = this.#literal.get(msg.subject);
    if (literal !== undefined) {
      for (const s of literal) if (s.active) n += this.#call(s, msg);
    }
    const wild = this.#wild;
    if (wild.length > 0) {
      const tokens = msg.subject.split('.');
      for (const s of wild) if (s.active && matchTokens(s.tokens, tokens)) n += this.#call(s, msg);
    }
    if (n === 0) this.#stats.unrouted++;
    this.#stats.delivered += n;
    return n;
  }

  #call(s: BusSub, msg: BusMessage): 1 {
    try {
      s.handler(msg.subject, msg.data);
    } catch (err) {
      this.#log?.error({ err, subject: msg.subject }, 'message handler threw');
    }
    return 1;
  }
}

/**
 * A {@link Transport} attached to a {@link MemoryBus}. Publishing after `close()` is a counted
 * drop; `close()` removes this transport's subscriptions.
 */
export class MemoryTransport implements Transport {
  readonly #bus: MemoryBus;
  readonly #subs = new Set<BusSub>();
  #closed = false;

  /** Prefer {@link MemoryBus.transport}. */
  constructor(bus: MemoryBus) {
    this.#bus = bus;
  }

  /** The bus this transport is attached to. */
  get bus(): MemoryBus {
    return this.#bus;
  }

  /** The bus's payload limit. */
  get maxPayload(): number {
    return this.#bus.maxPayload;
  }

  /** Enqueues a copy of `data` on the bus (subject to the bus's filters). */
  publish(subject: string, data: Uint8Array): void {
    if (this.#closed) {
      this.#bus._dropClosed();
      return;
    }
    this.#bus._publish(subject, data);
  }

  /** Subscribes `handler` to a subject pattern (`*` one token, `>` one or more trailing tokens). */
  subscribe(subject: string, handler: RawHandler): Subscription {
    if (this.#closed) return { unsubscribe: () => {} };
    const sub = this.#bus._subscribe(subject, handler);
    this.#subs.add(sub);
    return {
      unsubscribe: () => {
        this.#subs.delete(sub);
        this.#bus._unsubscribe(sub);
      },
    };
  }

  /** Resolves at once: a published message is already on the bus. */
  flush(): Promise<void> {
    return Promise.resolve();
  }

  /** Removes this transport's subscriptions; later publishes are dropped. */
  close(): Promise<void> {
    this.#closed = true;
    for (const s of this.#subs) this.#bus._unsubscribe(s);
    this.#subs.clear();
    return Promise.resolve();
  }
}
