/**
 * What every actor shares: the shape of inbound bus events, the outbound `send` event the runtime
 * delivers, and the effect-free dependencies a machine factory is given.
 */
import type { Body, Message, MessageType } from '../protocols/messages.ts';
import type { TaskStatus } from '../protocols/records.ts';

/** A validated bus message as an actor receives it. */
export type Inbound<T extends MessageType = MessageType> = {
  [K in T]: {
    type: K;
    from: string;
    epoch?: number;
    body: Body<K>;
    /** Messages of the same type that arrived right after this one, delivered with it (the host's `coalesce`). */
    more?: Array<{ type: K; from: string; epoch?: number; body: Body<K> }>;
  };
}[T];

/** An emitted request to deliver `msg` to the actor at `to`; the master stamps its `epoch`. */
export interface SendEvent {
  type: 'send';
  to: string;
  msg: Message;
  epoch?: number;
}

/** Builds a {@link SendEvent}. */
export function send(to: string, msg: Message, epoch?: number): SendEvent {
  return epoch === undefined ? { type: 'send', to, msg } : { type: 'send', to, msg, epoch };
}

/**
 * An emitted request to deliver the same `msg` to every actor in `to`: the runtime encodes it
 * once (a teardown tells every agent of a framework at once).
 */
export interface SendAllEvent {
  type: 'sendAll';
  to: string[];
  msg: Message;
  epoch?: number;
}

/** Builds a {@link SendAllEvent}. */
export function sendAll(to: string[], msg: Message, epoch?: number): SendAllEvent {
  return epoch === undefined ? { type: 'sendAll', to, msg } : { type: 'sendAll', to, msg, epoch };
}

/**
 * The only ways machines learn the time or make unique ids: passed in by the runtime so that a
 * simulated clock and seeded ids make runs repeatable.
 */
export interface ActorDeps {
  /** Current time, epoch ms (the same clock that drives `after` delays). */
  now(): number;
  /** A new unique id (status update uuids, offer ids). */
  newId(): string;
}

/** The leader as agents, drivers and executors track it. */
export interface KnownMaster {
  pid: string;
  epoch: number;
}

/**
 * Mesos sched.cpp / slave.cpp "Ignoring … because it was not sent by the leading master": true when
 * `ev` came from the leader we follow, with an epoch no older than its.
 */
export function isFromMaster(master: KnownMaster | undefined, ev: { from: string; epoch?: number }): boolean {
  return master !== undefined && ev.from === master.pid && (ev.epoch ?? -1) >= master.epoch;
}

/** Exponential backoff with a cap: `baseMs × factor^attempt`, at most `maxMs`. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, factor = 2): number {
  return Math.min(maxMs, baseMs * factor ** Math.min(attempt, 30));
}

/** A status with fields filled the way Mesos' `createTaskStatus` does. */
export function taskStatus(
  taskId: string,
  state: TaskStatus['state'],
  timestamp: number,
  extra: Partial<Omit<TaskStatus, 'taskId' | 'state' | 'timestamp'>> = {},
): TaskStatus {
  return { taskId, state, timestamp, ...extra };
}

/** An emitted request to log a decision ("Ignoring … because …"); the runtime writes it with pino. */
export interface LogEvent {
  type: 'log';
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  fields?: Record<string, unknown>;
}

/** Builds a {@link LogEvent}. */
export function log(level: LogEvent['level'], msg: string, fields?: Record<string, unknown>): LogEvent {
  return fields ? { type: 'log', level, msg, fields } : { type: 'log', level, msg };
}

/**
 * A factor in [0.5, 1.5) that spreads retries of many peers apart, derived from `seed` (the
 * peer's PID) and the attempt number instead of a random source, so runs stay repeatable. Used as
 * `backoffMs(…) × jitter(…)`: a storm of agents retrying together does not come back together.
 */
export function jitter(seed: string, attempt: number): number {
  let h = 0x811c9dc5 ^ attempt;
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h ^= h >>> 12;
  return 0.5 + (h >>> 0) / 0x1_0000_0000;
}
