/**
 * Follows who leads, for agents, scheduler drivers and anything else that must talk to the leading
 * master. It reads the lease key, watches it, and listens to the leader's announcements; a leader
 * is known until its lease should have run out without a renewal being seen (`tracking.ts` has
 * the rules). It reports `detector.changed` at start (after the first read, or once the bucket
 * turns out to be missing) and on every change.
 *
 * @see Mesos `MasterDetector` (ZooKeeper), `src/master/detector/`.
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { ActorDeps } from '../common.ts';
import type { KvEvent } from './candidate.machine.ts';
import { confirmRead, emptyTracker, expire, expiresAt, observeAnnouncement, observeEntry, retryDelayMs, sameLeader, type LeaderRecord, type LeaderTracker } from './tracking.ts';

/** What the detector reports. */
export interface DetectorReport {
  type: 'detector.changed';
  leader?: LeaderRecord;
}

/** What the detector is started with. */
export interface DetectorInput {
  /** The lease length to assume until the bucket's TTL is known. */
  leaseMs: number;
}

/** The detector's context. */
export interface DetectorContext {
  leaseMs: number;
  tracker: LeaderTracker;
  /** What was last reported (`reported` false until the first report). */
  last?: LeaderRecord;
  reported: boolean;
}

/** Every event the detector accepts. */
export type DetectorEvent = KvEvent | { type: 'detector.stop' };

/** Builds the detector machine. */
export function createDetectorMachine(deps: Pick<ActorDeps, 'now'>) {
  return setup({
    types: {
      context: {} as DetectorContext,
      input: {} as DetectorInput,
      events: {} as DetectorEvent,
      emitted: {} as DetectorReport | { type: 'kv.open' } | { type: 'kv.get' },
    },
    guards: {
      hasLeader: ({ context }) => context.tracker.leader !== undefined,
      readRenewed: ({ context, event }) => event.type === 'kv.read' && confirmRead(context.tracker, event.entry) === 'renewed',
      /** The entry is still stored, and not for longer than a second lease past its expiry. */
      readHeld: ({ context, event }) =>
        event.type === 'kv.read' && confirmRead(context.tracker, event.entry) === 'held' &&
        deps.now() < expiresAt(context.tracker, context.leaseMs) + context.leaseMs,
    },
    actions: {
      openBucket: enqueueActions(({ enqueue }) => enqueue.emit({ type: 'kv.open' })),
      recordTtl: assign(({ context, event }) => (event.type === 'kv.opened' && event.ttlMs > 0 ? { leaseMs: event.ttlMs } : { leaseMs: context.leaseMs })),
      readKey: enqueueActions(({ enqueue }) => enqueue.emit({ type: 'kv.get' })),
      observe: assign(({ context, event }) => {
        const t = { ...context.tracker };
        const now = deps.now();
        if (event.type === 'kv.entry') observeEntry(t, event.entry, now);
        else if (event.type === 'kv.read' && event.entry) observeEntry(t, event.entry, now);
        else if (event.type === 'leader.announced') observeAnnouncement(t, event.info, now);
        return { tracker: t };
      }),
      forgetLeader: assign(({ context }) => {
        const t = { ...context.tracker };
        expire(t);
        return { tracker: t };
      }),
      /** Reports the leader when it differs from what was last reported (or nothing was yet). */
      report: enqueueActions(({ context, enqueue }) => {
        const leader = context.tracker.leader;
        if (context.reported && sameLeader(context.last, leader)) return;
        enqueue.assign({ last: leader, reported: true });
        enqueue.emit(leader ? { type: 'detector.changed', leader } : { type: 'detector.changed' });
      }),
    },
    delays: {
      retry: ({ context }) => retryDelayMs(context.leaseMs),
      expiry: ({ context }) => Math.max(0, expiresAt(context.tracker, context.leaseMs) - deps.now()),
    },
  }).createMachine({
    id: 'leaderDetector',
    context: ({ input }) => ({ leaseMs: input.leaseMs, tracker: emptyTracker(), reported: false }),
    initial: 'opening',
    on: {
      'detector.stop': { target: '.stopped' },
    },
    states: {
      opening: {
        entry: 'openBucket',
        on: {
          'kv.opened': { target: 'reading', actions: 'recordTtl' },
          // Without a bucket nobody has led yet (or the store was lost): say so, and keep trying.
          'kv.failed': { target: 'reopening', actions: 'report' },
          'leader.announced': { target: 'following', actions: ['observe', 'report'] },
        },
      },
      reopening: {
        after: { retry: 'opening' },
        on: { 'leader.announced': { target: 'following', actions: ['observe', 'report'] } },
      },
      reading: {
        entry: 'readKey',
        on: {
          'kv.read': { target: 'following', actions: ['observe', 'report'] },
          'kv.failed': { target: 'following', actions: 'report' },
          'kv.entry': { actions: 'observe' },
          'leader.announced': { actions: 'observe' },
        },
      },
      following: {
        initial: 'checking',
        on: {
          'kv.entry': { target: '.checking', actions: ['observe', 'report'] },
          'leader.announced': { target: '.checking', actions: ['observe', 'report'] },
          'kv.read': { target: '.checking', actions: ['observe', 'report'] },
          'kv.failed': {},
        },
        states: {
          checking: {
            always: [{ guard: 'hasLeader', target: 'leaderKnown' }, { target: 'leaderUnknown' }],
          },
          leaderKnown: {
            tags: ['leaderKnown'],
            after: { expiry: 'confirming' },
          },
          // The lease seems to have run out; the key is read before the leader is given up. A
          // follower whose event loop stalled runs this timer before the renewals waiting in its
          // socket, and the read's answer comes after them: a stall of any length is no loss.
          confirming: {
            tags: ['leaderKnown'],
            entry: 'readKey',
            on: {
              'kv.read': [
                { guard: 'readRenewed', target: 'checking', actions: ['observe', 'report'] },
                { guard: 'readHeld', target: 'holding' },
                { target: 'leaderUnknown', actions: ['observe', 'forgetLeader', 'report'] },
              ],
              'kv.failed': { target: 'leaderUnknown', actions: ['forgetLeader', 'report'] },
            },
          },
          // The store still holds the entry: its expiry is a moment away; read again shortly.
          holding: {
            tags: ['leaderKnown'],
            after: { retry: 'confirming' },
          },
          leaderUnknown: { tags: ['leaderUnknown'] },
        },
      },
      stopped: { type: 'final' },
    },
  });
}

/** The detector machine type. */
export type DetectorMachine = ReturnType<typeof createDetectorMachine>;
