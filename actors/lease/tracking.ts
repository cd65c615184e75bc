/**
 * Following who leads, from two sources: the lease key in JetStream KV (its watch and reads) and
 * the leader's announcements on a plain NATS subject after each renewal. Both the detector and a
 * standby candidate use it.
 *
 * Why two sources: a KV watch goes silent for good when its bucket is deleted or the server comes
 * back with an empty store, and revisions start again at 1 in a new bucket; the announcements do
 * not depend on JetStream. The rules:
 * - a leader is known until no renewal of it (a PUT of its value, or its announcement) has been
 *   seen for one lease plus a margin (KV expiry sends no event on server 2.9), and a read of the key
 *   then confirms that it was not renewed ({@link confirmRead});
 * - a KV entry replaces the known leader only if its revision is newer than the last one seen, or
 *   when no leader is known (after an expiry, revisions may have started over) and it is not the
 *   very entry last seen;
 * - an announcement replaces the known leader if none is known, or if it carries a higher epoch.
 *
 * Values without an epoch (a create not yet stamped) are not a leader yet.
 */

/** Who leads, as written in the lease. */
export interface LeaderRecord {
  pid: string;
  hostname: string;
  http?: string;
  epoch: number;
}

/** One change of the lease key as the KV reports it. */
export interface LeaseEntry {
  revision: number;
  operation: 'PUT' | 'DEL' | 'PURGE';
  /** The stored leader, when the value is one (stamped with an epoch). */
  info?: LeaderRecord;
}

/** What a follower knows. */
export interface LeaderTracker {
  leader?: LeaderRecord;
  /** Local time of the last sign the leader renewed (ms). */
  seenAt: number;
  /** Highest KV revision seen in this bucket. */
  lastRevision: number;
  /** Highest epoch ever seen (epochs stay monotonic across a lost store: see the candidate). */
  highestEpoch: number;
}

/** Extra wait after a lease should have expired before acting on it (server expiry jitter). */
export const EXPIRY_MARGIN_MS = 50;

/** A tracker that knows nothing. */
export function emptyTracker(): LeaderTracker {
  return { seenAt: 0, lastRevision: 0, highestEpoch: 0 };
}

/** True when `a` and `b` name the same leadership. */
export function sameLeader(a: LeaderRecord | undefined, b: LeaderRecord | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.pid === b.pid && a.epoch === b.epoch);
}

/** When the known leader's lease runs out, as far as this follower can tell. */
export function expiresAt(t: LeaderTracker, leaseMs: number): number {
  return t.leader ? t.seenAt + leaseMs + EXPIRY_MARGIN_MS : 0;
}

/**
 * Applies a KV entry. Returns `'changed'` when the known leader changed (or became unknown),
 * `'renewed'` when the same leader renewed, `'ignored'` otherwise.
 */
export function observeEntry(t: LeaderTracker, e: LeaseEntry, now: number): 'changed' | 'renewed' | 'ignored' {
  // While a leader is known only newer revisions count. Once none is, a lower revision means the
  // bucket started over; the very revision last seen is the expired entry itself.
  if (t.leader !== undefined ? e.revision <= t.lastRevision : e.revision === t.lastRevision) return 'ignored';
  t.lastRevision = e.revision;
  if (e.operation !== 'PUT') {
    if (!t.leader) return 'ignored';
    t.leader = undefined;
    return 'changed';
  }
  if (!e.info) return 'ignored';
  t.highestEpoch = Math.max(t.highestEpoch, e.info.epoch);
  const same = sameLeader(t.leader, e.info);
  t.leader = e.info;
  t.seenAt = now;
  return same ? 'renewed' : 'changed';
}

/** Applies an announcement from a leader; same results as {@link observeEntry}. */
export function observeAnnouncement(t: LeaderTracker, info: LeaderRecord, now: number): 'changed' | 'renewed' | 'ignored' {
  t.highestEpoch = Math.max(t.highestEpoch, info.epoch);
  if (sameLeader(t.leader, info)) {
    t.seenAt = now;
    return 'renewed';
  }
  if (t.leader !== undefined && info.epoch <= t.leader.epoch) return 'ignored';
  t.leader = info;
  t.seenAt = now;
  return 'changed';
}

/**
 * What a read of the key, made when the known leader's lease seemed to run out, says about it:
 * - `renewed`: a newer entry than the last seen (the leader renewed, or another took over, and the
 *   renewal was only late to arrive: a busy follower runs its timers before it reads its socket);
 * - `held`: the very entry last seen is still stored — the store has not expired it yet;
 * - `gone`: no entry, a deletion, or an entry that names nobody: the lease did run out.
 */
export function confirmRead(t: LeaderTracker, e: LeaseEntry | undefined): 'renewed' | 'held' | 'gone' {
  if (!e || e.operation !== 'PUT' || !e.info) return 'gone';
  if (e.revision > t.lastRevision) return 'renewed';
  return e.revision === t.lastRevision && sameLeader(t.leader, e.info) ? 'held' : 'gone';
}

/** The known leader's lease ran out: nobody is known to lead. */
export function expire(t: LeaderTracker): boolean {
  if (!t.leader) return false;
  t.leader = undefined;
  return true;
}

/** Pause between attempts after a failure: a thirtieth of the lease, at least 50 ms. */
export function retryDelayMs(leaseMs: number): number {
  return Math.max(50, Math.floor(leaseMs / 30));
}

/**
 * How long one KV request may take before it counts as failed: a twelfth of the lease (150 ms to
 * 1 s). Short, so that a lease holder tries again soon after the bus comes back from an outage.
 */
export function requestTimeoutMs(leaseMs: number): number {
  return Math.max(150, Math.min(1000, Math.floor(leaseMs / 12)));
}
