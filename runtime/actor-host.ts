/**
 * libprocess over a transport: binds a machine to a PID, turns validated inbound messages into
 * events, publishes the messages the machine emits, logs what it asks to log and hands every
 * other emitted event (effects, callbacks) to the caller.
 *
 * The edge is where bad input stops: anything that fails to decode or validate is logged with its
 * reason, counted under `bus/dropped/<reason>`, and dropped. Nothing inbound can throw into the
 * machine's receive loop.
 *
 * @see libprocess `spawn`, `ProcessBase::install`, `ProcessBase::send`.
 */
import { randomUUID } from 'node:crypto';
import { createActor, type Actor, type AnyStateMachine, type EventFromLogic, type InputFrom } from 'xstate';
import { Codec, envelope } from '../protocols/envelope.ts';
import { splitToFit } from '../protocols/chunking.ts';
import type { Message } from '../protocols/messages.ts';
import { inboxOf, parsePid, subjectFrom } from '../protocols/pid.ts';
import type { LogEvent, SendAllEvent, SendEvent } from '../actors/common.ts';
import type { Clock, Subscription, Transport } from './types.ts';
import type { Logger } from './log.ts';
import { Metrics } from './metrics.ts';
import type { Inspect } from './inspect.ts';
import type { ActorRecorder } from './inspection.ts';
import { realClock } from './clock.ts';
import { RETRIED_VERBATIM, RepeatFilter, contentId, type RecordedAnswer } from './repeats.ts';

/** How to host one actor. */
export interface HostOptions {
  pid: string;
  transport: Transport;
  logger: Logger;
  clock?: Clock;
  codec?: Codec;
  metrics?: Metrics;
  /** XState's inspection (`--inspect=log`, `ws://…`): every record XState makes, at its price. */
  inspect?: Inspect;
  /**
   * Where the actor's events and states are recorded without XState's inspection (the process's
   * `InspectionHub`, for the statechart view): cheap enough to stay on.
   */
  inspection?: ActorRecorder;
  /**
   * A verbatim repeat of a retried request (a registration retry, `repeats.ts`) that the machine
   * answered at once less than this many ms ago is not decoded: it gets the same answer bytes
   * again (`bus/repeats_answered`). Off when absent or 0.
   */
  repeatWindowMs?: number;
  /**
   * Message types delivered together: messages of these types that arrive in one burst (one read
   * of the connection) are handed to the machine as one event — the first message, with the
   * others of the same type that follow it in `more` — instead of one event each. Order is kept:
   * a message of another type, or a local event, first delivers what waits. The machine must
   * handle `more` wherever these types can arrive. For storms of one request (re-registrations
   * after a failover), where the statechart's cost per event is a fifth of the work.
   */
  coalesce?: ReadonlySet<string>;
  /**
   * Asked first about every inbound message, by subject, before anything else looks at it: one
   * it refuses is dropped there (it counts and logs its refusals itself). The master's
   * `--rate_limits` (`rate-limits.ts`).
   */
  admit?: (subject: string) => boolean;
  /** Called with every emitted event that is not `send` or `log`. */
  onEmit?: (event: { type: string } & Record<string, unknown>) => void;
  /**
   * Inbound messages are queued as they arrive and handled at most this many ms at a time, the
   * event loop given back between slices: a read of the connection can bring thousands of
   * messages (10,000 agents answering pings), which would otherwise all be decoded and handled
   * before anything else (a timer, an HTTP answer) runs. A message waits at most for the slices
   * before it. Off when absent (messages are handled as they are read: the simulated cluster
   * needs that to be deterministic).
   */
  inboundSliceMs?: number;
}

/** A validated inbound message on its way to the machine. */
interface Received {
  event: { type: string; from: string; epoch?: number; body: unknown };
  /** The answer's type when it is a retried request (`repeats.ts`). */
  answerType?: string;
  /** Its content key, when repeats are watched. */
  repeatKey?: number;
}

/** A hosted actor. */
export interface ActorHost<TLogic extends AnyStateMachine> {
  readonly pid: string;
  readonly actor: Actor<TLogic>;
  readonly metrics: Metrics;
  readonly clock: Clock;
  /** Sends a local event (lease, detector, driver call) to the machine. */
  send(event: EventFromLogic<TLogic>): void;
  /** Publishes a bus message from this actor (split into parts when it exceeds the payload limit). */
  sendMessage(to: string, msg: Message, epoch?: number): void;
  /** Forgets the requests handled so far, so that none of their repeats is dropped (see `repeatWindowMs`). */
  forgetRepeats(): void;
  /** Unsubscribes and stops the machine. */
  stop(): void;
}

let processCodec: Codec | undefined;
/** The process-wide codec (one msgpack packer per process is the fast default). */
export function defaultCodec(): Codec {
  processCodec ??= new Codec();
  return processCodec;
}

/** A per-process id source for message ids and machine `newId`. */
export function idSource(prefix = randomUUID().slice(0, 8)): () => string {
  let seq = 0;
  return () => `${prefix}-${(++seq).toString(36)}`;
}

/** `ActorDeps` backed by a clock: what every machine factory is given. */
export function depsFor(clock: Clock): { now: () => number; newId: () => string } {
  return { now: () => clock.now(), newId: () => randomUUID() };
}

/**
 * Hosts `machine` at `opts.pid`: subscribes to the PID's inbox, starts the actor and wires its
 * emitted events. The actor starts before the subscription, so no message is lost to a race.
 */
export function hostActor<TLogic extends AnyStateMachine>(
  machine: TLogic,
  input: InputFrom<TLogic>,
  opts: HostOptions,
): ActorHost<TLogic> {
  const codec = opts.codec ?? defaultCodec();
  const metrics = opts.metrics ?? new Metrics();
  const clock = opts.clock ?? realClock;
  const log = opts.logger.child({ actor: opts.pid });
  const self = parsePid(opts.pid);
  if (!self) throw new Error(`invalid PID '${opts.pid}'`);
  const nextMsgId = idSource();
  // Subjects repeat (few peers, few types): build each once.
  const subjects = new Map<string, Map<string, string>>();
  const subjectOf = (to: string, type: string): string => {
    let byType = subjects.get(to);
    if (!byType) {
      if (subjects.size >= 4096) subjects.clear();
      byType = new Map();
      subjects.set(to, byType);
    }
    let subject = byType.get(type);
    if (!subject) {
      subject = subjectFrom(to, type, self);
      byType.set(type, subject);
    }
    return subject;
  };

  const actor = createActor(machine, {
    input,
    clock: clock as never,
    ...(opts.inspect ? { inspect: opts.inspect } : {}),
    id: opts.pid,
  } as never) as Actor<TLogic>;
  opts.inspection?.record(actor);

  actor.subscribe({
    error: (err) => {
      metrics.inc('actor/errors');
      log.error({ err }, 'machine failed');
    },
  });

  /** Requests being handled whose immediate answers are recorded for their repeats, by sender. */
  const answering = new Map<string, { type: string; answer?: RecordedAnswer }>();
  /**
   * Encodes and publishes `msg`. A message over the bus's payload limit is split into parts that
   * fit (`protocols/chunking.ts`); one that cannot be split is logged, counted and not sent.
   */
  const publish = (to: string, msg: Message, epoch?: number): void => {
    // A retried request gets an id from its content, so that a retry with nothing new is a verbatim copy.
    const id = RETRIED_VERBATIM.has(msg.type) ? contentId('r', codec.encode(envelope(opts.pid, 'r', msg, epoch))) : nextMsgId();
    const bytes = codec.encode(envelope(opts.pid, id, msg, epoch));
    const max = opts.transport.maxPayload;
    if (bytes.byteLength <= max) {
      const subject = subjectOf(to, msg.type);
      if (answering.size > 0) {
        const a = answering.get(to);
        if (a && a.type === msg.type) a.answer = { subject, bytes };
      }
      opts.transport.publish(subject, bytes);
      metrics.inc('bus/sent');
      return;
    }
    let parts: Message[];
    try {
      parts = splitToFit(msg, max, (m) => codec.encode(envelope(opts.pid, id, m, epoch)).byteLength, id);
    } catch (err) {
      metrics.inc('bus/unsendable');
      log.error({ err, type: msg.type, to, bytes: bytes.byteLength, maxPayload: max }, 'message too large for the bus; not sent');
      return;
    }
    const verbatim = RETRIED_VERBATIM.has(msg.type);
    for (const [i, part] of parts.entries()) {
      opts.transport.publish(subjectOf(to, part.type), codec.encode(envelope(opts.pid, verbatim ? `${id}.${i}` : nextMsgId(), part, epoch)));
      metrics.inc('bus/sent');
    }
    metrics.inc('bus/split_messages');
  };

  /**
   * Publishes `msg` to each of `to`, encoded once (one message id for all: each gets its own copy).
   * One too large for the bus goes through `publish`, which splits it for each.
   */
  const publishToAll = (to: readonly string[], msg: Message, epoch?: number): void => {
    const bytes = codec.encode(envelope(opts.pid, nextMsgId(), msg, epoch));
    if (bytes.byteLength > opts.transport.maxPayload) {
      for (const t of to) publish(t, msg, epoch);
      return;
    }
    for (const t of to) opts.transport.publish(subjectOf(t, msg.type), bytes);
    metrics.inc('bus/sent', to.length);
  };

  actor.on('*', (ev: { type: string } & Record<string, unknown>) => {
    try {
      if (ev.type === 'send') {
        const s = ev as unknown as SendEvent;
        publish(s.to, s.msg, s.epoch);
      } else if (ev.type === 'sendAll') {
        const s = ev as unknown as SendAllEvent;
        publishToAll(s.to, s.msg, s.epoch);
      } else if (ev.type === 'log') {
        const l = ev as unknown as LogEvent;
        log[l.level](l.fields ?? {}, l.msg);
      } else {
        opts.onEmit?.(ev);
      }
    } catch (err) {
      metrics.inc('actor/emit_errors');
      log.error({ err, type: ev.type }, 'failed to handle emitted event');
    }
  });

  actor.start();

  const repeats = opts.repeatWindowMs ? new RepeatFilter(opts.repeatWindowMs) : undefined;
  const coalesce = opts.coalesce && opts.coalesce.size > 0 ? opts.coalesce : undefined;
  /** Messages of coalesced types received in this burst, not yet delivered. */
  let pending: Received[] = [];
  const typeAt = inboxOf(opts.pid).length - 1;
  const admit = opts.admit;
  /** Messages read and not handled yet (with `inboundSliceMs`), from `next` on. */
  let inbox: Array<[string, Uint8Array]> = [];
  let next = 0;
  let draining = false;
  /** Handles queued messages for one slice, then comes back for the rest on a later turn. */
  const drain = () => {
    draining = false;
    const until = performance.now() + opts.inboundSliceMs!;
    while (next < inbox.length) {
      const [subject, data] = inbox[next]!;
      inbox[next++] = undefined as never;
      receive(subject, data);
      if (performance.now() >= until) break;
    }
    flush();
    if (next < inbox.length) {
      draining = true;
      setImmediate(drain);
    } else {
      inbox = [];
      next = 0;
    }
  };
  const sub: Subscription = opts.transport.subscribe(inboxOf(opts.pid), (subject, data) => {
    if (opts.inboundSliceMs === undefined) return receive(subject, data);
    inbox.push([subject, data]);
    if (!draining) {
      draining = true;
      setImmediate(drain);
    }
  });

  /** Checks, decodes and hands one inbound message to the machine (or to the burst it belongs to). */
  function receive(subject: string, data: Uint8Array): void {
    if (admit && !admit(subject)) return;
    let repeatKey: number | undefined;
    const answerType = repeats ? RETRIED_VERBATIM.get(subject.slice(typeAt, subject.indexOf('.', typeAt))) : undefined;
    if (answerType) {
      repeatKey = repeats!.key(subject, data);
      const answer = repeats!.answerOf(repeatKey, clock.now());
      if (answer) {
        opts.transport.publish(answer.subject, answer.bytes);
        metrics.inc('bus/repeats_answered');
        return;
      }
    }
    const d = codec.decode(data, opts.pid, subject);
    if (!d.ok) {
      metrics.inc('bus/dropped');
      metrics.inc(`bus/dropped/${d.reason}`);
      log.warn({ reason: d.reason, detail: d.detail, subject, type: d.type, from: d.from }, 'dropped inbound message');
      return;
    }
    metrics.inc('bus/received');
    const { type, from, epoch, body } = d.envelope;
    const inbound: Received = { event: epoch === undefined ? { type, from, body } : { type, from, epoch, body }, answerType, repeatKey };
    if (coalesce?.has(type)) {
      if (pending.length === 0) queueMicrotask(flush);
      pending.push(inbound);
      return;
    }
    flush();
    deliver([inbound]);
  }

  /** Hands `batch` (messages of one type, in order) to the machine as one event. */
  function deliver(batch: Received[]): void {
    const first = batch[0]!;
    for (const r of batch) {
      if (r.answerType) answering.set(r.event.from, { type: r.answerType });
      else repeats?.heardFrom(r.event.from);
    }
    try {
      const event = batch.length === 1 ? first.event : { ...first.event, more: batch.slice(1).map((r) => r.event) };
      actor.send(event as never);
      if (repeats) {
        const now = clock.now();
        for (const r of batch) {
          const answer = r.repeatKey !== undefined ? answering.get(r.event.from)?.answer : undefined;
          if (answer) repeats.handled(r.repeatKey!, now, r.event.from, answer);
        }
      }
    } catch (err) {
      metrics.inc('actor/errors');
      log.error({ err, type: first.event.type }, 'machine rejected event');
    } finally {
      answering.clear();
    }
  }

  /** Delivers the messages waiting for the end of their burst: runs of one type as one event each. */
  function flush(): void {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    let i = 0;
    while (i < batch.length) {
      let j = i + 1;
      while (j < batch.length && batch[j]!.event.type === batch[i]!.event.type) j++;
      if (j - i > 1) metrics.inc('bus/coalesced', j - i - 1);
      deliver(i === 0 && j === batch.length ? batch : batch.slice(i, j));
      i = j;
    }
  }

  return {
    pid: opts.pid,
    actor,
    metrics,
    clock,
    send: (event) => {
      flush();
      actor.send(event);
    },
    sendMessage: publish,
    forgetRepeats: () => repeats?.clear(),
    stop: () => {
      sub.unsubscribe();
      pending = [];
      inbox = [];
      next = 0;
      actor.stop();
    },
  };
}
