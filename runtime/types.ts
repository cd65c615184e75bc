/**
 * The runtime's seams: the transport actors publish on, the clock that drives time, and the
 * leadership interfaces. Each has a NATS-backed and an in-memory implementation so that the same
 * machines run on a real server and in a deterministic simulation.
 */

/** A subscription that can be cancelled. */
export interface Subscription {
  unsubscribe(): void;
}

/** Handler for raw inbound bytes. Must never throw; implementations guard it anyway. */
export type RawHandler = (subject: string, data: Uint8Array) => void;

/**
 * Publish/subscribe of raw bytes on NATS-style subjects (`*` matches one token, `>` the rest).
 * @see libprocess `ProcessBase::send` / `install`.
 */
export interface Transport {
  /** The largest message the bus carries, in bytes (NATS: the server's `max_payload`). */
  readonly maxPayload: number;
  publish(subject: string, data: Uint8Array): void;
  subscribe(subject: string, handler: RawHandler): Subscription;
  /** Resolves once everything published so far has left this process. */
  flush(): Promise<void>;
  /** Drains subscriptions and releases the connection. */
  close(): Promise<void>;
}

/** A cancellable timer handle. */
export type TimerId = unknown;

/**
 * Time as the whole system sees it. XState's `SimulatedClock` and the real clock both satisfy it;
 * XState actors are given the same object as their `clock`.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerId;
  clearTimeout(id: TimerId): void;
}

/** Who leads, as written in the lease. */
export interface LeaderInfo {
  /** The leading master's PID. */
  pid: string;
  hostname: string;
  /** Master HTTP address, when it serves one. */
  http?: string;
  /**
   * Fencing token: the lease revision of the winning create, or one more than the highest epoch
   * seen when that is larger (revisions start over when the bucket is made again).
   */
  epoch: number;
}

/** Events a lease candidate reports. */
export type LeaseEvent =
  | { type: 'lease.acquired'; epoch: number }
  /** The lease is gone; the candidate contends again. */
  | { type: 'lease.lost'; reason: string }
  /** Who leads, as a standing-by candidate sees it (`undefined`: nobody known). */
  | { type: 'lease.leader'; leader?: { pid: string; epoch: number; http?: string } };

/**
 * One master's candidacy for the leader lease.
 * @see Mesos `LeaderContender` (ZooKeeper).
 */
export interface LeaseCandidate {
  /** Starts contending; events arrive through `onEvent`. After `lease.lost` it contends again. */
  start(onEvent: (e: LeaseEvent) => void): void;
  /** Gives a held lease up (so another master takes over now) and contends again later. */
  resign(reason: string): void;
  /** Gives the lease up if held (clean resign) and stops contending. */
  stop(): Promise<void>;
}

/**
 * Follows who leads. Calls `onChange` with the current leader at start and on every change
 * (`undefined` while nobody holds the lease).
 * @see Mesos `MasterDetector`.
 */
export interface LeaderDetector {
  start(onChange: (leader: LeaderInfo | undefined) => void): void;
  stop(): Promise<void>;
}
