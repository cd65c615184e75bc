/**
 * A master's candidacy for the leader lease, as a machine driven by the injected clock. It talks
 * to the KV only through effects (`kv.*`), whose results come back as events, so the same machine
 * runs against JetStream KV (`runtime/lease.ts`) and against an in-memory KV that can fail, stall
 * and lose its data on a simulated clock.
 *
 * The protocol (bucket `mesos_<cluster>`, key `leader`, bucket max-age = the lease):
 * - `standby`: follows the leader (`tracking.ts`); when its lease should have run out (or the key
 *   is deleted) it tries to take it.
 * - `acquiring`: `create` — it fails if the key exists. The winner leads at once (`lease.acquired`)
 *   with epoch = max(create revision, highest epoch ever seen + 1): revisions start over when a
 *   store is lost, epochs must not.
 * - `leading`: renews six times a lease with a compare-and-set `update`, the first of which stamps the
 *   epoch into the value (followers ignore unstamped values). After each renewal it announces
 *   itself on a plain subject, which followers trust even when JetStream lost its store.
 *   A renewal that times out is *ambiguous* — the server may have applied it — so it is sent again
 *   with the same revision; if that conflicts, the candidate reads the key: its own newer value
 *   means the earlier renewal held; anyone else's (or none) means the lease is gone. It steps down
 *   (`lease.lost`) when it
 *   cannot renew by lease − margin after the last renewal known to have been sent, which is before
 *   the server can expire the key or a standby can act.
 * - After `lease.lost` it goes back to `standby` and contends again: the master process lives on.
 * - On `candidate.resign` (the master gave up on a broken invariant) the key is deleted so others
 *   take over now, and the candidate is `resting` for one lease before contending again.
 *
 * @see Mesos `LeaderContender` / ZooKeeper `Group`; the protocol was measured on nats-server 2.9.
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { ActorDeps } from '../common.ts';
import { EXPIRY_MARGIN_MS, emptyTracker, expire, expiresAt, observeAnnouncement, observeEntry, retryDelayMs, type LeaderRecord, type LeaderTracker, type LeaseEntry } from './tracking.ts';

/** Which KV operation a result or failure belongs to. */
export type KvOp = 'open' | 'create' | 'update' | 'get' | 'delete';

/** Results of the KV effects, and what the runtime observes. */
export type KvEvent =
  /** `created`: this open made the bucket (it was missing: never made, or lost with its data). */
  | { type: 'kv.opened'; ttlMs: number; created: boolean }
  | { type: 'kv.created'; revision: number; sentAt: number }
  | { type: 'kv.updated'; revision: number; sentAt: number }
  | { type: 'kv.read'; entry?: LeaseEntry; sentAt: number }
  | { type: 'kv.deleted' }
  /** `conflict`: the compare-and-set failed (JetStream error 10071); `missing`: no bucket. */
  | { type: 'kv.failed'; op: KvOp; conflict: boolean; missing: boolean; error: string; sentAt: number }
  | { type: 'kv.entry'; entry: LeaseEntry }
  | { type: 'leader.announced'; info: LeaderRecord };

/** Effects the runtime performs. */
export type KvEffect =
  | { type: 'kv.open' }
  | { type: 'kv.create'; value: Omit<LeaderRecord, 'epoch'> }
  | { type: 'kv.update'; value: LeaderRecord; revision: number }
  | { type: 'kv.get' }
  | { type: 'kv.delete'; revision: number }
  | { type: 'lease.announce'; info: LeaderRecord };

/** What the candidate reports to its master. */
export type CandidateReport =
  | { type: 'lease.acquired'; epoch: number }
  | { type: 'lease.lost'; reason: string }
  /** Who leads, while standing by; `http` is the HTTP address it advertised, when it did. */
  | { type: 'lease.leader'; leader?: { pid: string; epoch: number; http?: string } };

/** A log line for the runtime to write. */
export interface CandidateLog {
  type: 'log';
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  fields?: Record<string, unknown>;
}

/** What the candidate is started with. */
export interface CandidateInput {
  value: Omit<LeaderRecord, 'epoch'>;
  /** The lease; the bucket's TTL replaces it once opened. */
  leaseMs: number;
  /**
   * Watch one lease before the first attempt to acquire (default true). Whenever the bucket is
   * found missing, the candidate waits one lease again. Why: when a bucket is lost with its data, a
   * master may go on believing it holds the lease it had there until its own deadline, and nothing
   * in a new bucket can say so — whoever made the new bucket may not even know it did (its reply
   * lost). Only a store known to be brand new (a cluster that starts its own NATS server) may skip
   * the first wait.
   */
  watchFirst?: boolean;
}

/** The candidate's context. */
export interface CandidateContext {
  value: Omit<LeaderRecord, 'epoch'>;
  leaseMs: number;
  watchFirst: boolean;
  tracker: LeaderTracker;
  /** Do not try to acquire before this time (after a conflict). */
  notBefore: number;
  epoch: number;
  /** Revision of our last write known to be stored. */
  heldRev: number;
  /** When the last renewal known to be stored was sent. */
  lastOkSentAt: number;
  /**
   * When the first renewal attempt not yet known to be stored was sent. Attempts after a timeout
   * carry the same expected revision, so at most one of them applies, and it may be any of them:
   * a read that shows one did must date the lease from the earliest.
   */
  renewSentAt: number | undefined;
}

/** Every event the candidate accepts. */
export type CandidateEvent =
  | KvEvent
  | { type: 'candidate.resign'; reason: string }
  | { type: 'candidate.stop' }
  /** Raised after each stored renewal, to re-arm the step-down deadline. */
  | { type: 'lease.renewed' };

type Emitted = KvEffect | CandidateReport | CandidateLog;

/** One lease, plus the margins on both sides: after it, no lease granted before can still be held. */
export function waitOneLeaseMs(leaseMs: number): number {
  return leaseMs + stepDownMarginMs(leaseMs) + EXPIRY_MARGIN_MS;
}

/** Step down this long before the lease could expire at the server. */
export function stepDownMarginMs(leaseMs: number): number {
  return Math.max(100, Math.floor(leaseMs / 30));
}

/** How often the holder renews: six times a lease, so that an outage of most of a lease is ridden out. */
export function renewIntervalMs(leaseMs: number): number {
  return Math.max(100, Math.floor(leaseMs / 6));
}


/** Builds the candidate machine. */
export function createCandidateMachine(deps: Pick<ActorDeps, 'now'>) {
  const stamped = (c: CandidateContext): LeaderRecord => ({ ...c.value, epoch: c.epoch });

  return setup({
    types: {
      context: {} as CandidateContext,
      input: {} as CandidateInput,
      events: {} as CandidateEvent,
      emitted: {} as Emitted,
    },
    guards: {
      isConflict: ({ event }) => event.type === 'kv.failed' && event.conflict,
      isMissingBucket: ({ event }) => event.type === 'kv.failed' && event.missing,
      /** A watch entry or announcement shows someone else holds the lease. */
      isOtherHolder: ({ context, event }) => {
        if (event.type === 'kv.entry') {
          const e = event.entry;
          return e.revision > context.heldRev && (e.operation !== 'PUT' || (e.info !== undefined && e.info.pid !== context.value.pid));
        }
        return event.type === 'leader.announced' && event.info.pid !== context.value.pid && event.info.epoch > context.epoch;
      },
      /** A watch entry or announcement names another master as the leader (stamped, so it won). */
      isOtherLeader: ({ context, event }) =>
        (event.type === 'kv.entry' && event.entry.operation === 'PUT' && event.entry.info !== undefined && event.entry.info.pid !== context.value.pid) ||
        (event.type === 'leader.announced' && event.info.pid !== context.value.pid),
      /** The key was deleted: try at once. */
      isDeletion: ({ event }) => event.type === 'kv.entry' && event.entry.operation !== 'PUT',
      /** The read shows our renewal was applied (our stamped value at a newer revision). */
      isOurNewerValue: ({ context, event }) =>
        event.type === 'kv.read' && event.entry !== undefined && event.entry.operation === 'PUT' && event.entry.revision > context.heldRev &&
        event.entry.info?.pid === context.value.pid && event.entry.info.epoch === context.epoch,
      /** The read shows our last stored value: the renewal did not apply. */
      isOurHeldValue: ({ context, event }) =>
        event.type === 'kv.read' && event.entry !== undefined && event.entry.operation === 'PUT' && event.entry.revision === context.heldRev,
    },
    actions: {
      openBucket: enqueueActions(({ enqueue }) => enqueue.emit({ type: 'kv.open' })),
      recordOpened: assign(({ context, event }) => (event.type === 'kv.opened' && event.ttlMs > 0 ? { leaseMs: event.ttlMs } : { leaseMs: context.leaseMs })),
      /**
       * A request failed, or the bucket had to be made: what this candidate knows of the lease has
       * a gap (it may have missed renewals, or the loss of a bucket with a live lease in it). It
       * watches one more lease before it may acquire.
       */
      waitOutGap: enqueueActions(({ context, event, enqueue }) => {
        const gap = (event.type === 'kv.failed' && !event.conflict) || (event.type === 'kv.opened' && event.created);
        if (!gap) return;
        const until = deps.now() + waitOneLeaseMs(context.leaseMs);
        if (until <= context.notBefore) return;
        enqueue.assign({ notBefore: until });
        enqueue.emit({ type: 'log', level: 'debug', msg: 'the lease could not be observed; watching one more lease before contending' });
      }),
      /** Follows a watch entry or an announcement; reports a change of leader. */
      observe: enqueueActions(({ context, event, enqueue }) => {
        const t = context.tracker;
        let r: 'changed' | 'renewed' | 'ignored' = 'ignored';
        if (event.type === 'kv.entry') r = observeEntry(t, event.entry, deps.now());
        else if (event.type === 'leader.announced') r = observeAnnouncement(t, event.info, deps.now());
        else if (event.type === 'kv.read' && event.entry) r = observeEntry(t, event.entry, deps.now());
        if (r === 'changed' && !(t.leader?.pid === context.value.pid)) {
          enqueue.emit({ type: 'lease.leader', ...(t.leader ? { leader: { pid: t.leader.pid, epoch: t.leader.epoch, ...(t.leader.http ? { http: t.leader.http } : {}) } } : {}) });
        }
        enqueue.assign({ tracker: { ...t } });
      }),
      forgetLeader: assign(({ context }) => {
        const t = { ...context.tracker };
        expire(t);
        return { tracker: t };
      }),
      holdOff: assign({ notBefore: ({ context }) => Math.max(context.notBefore, deps.now() + retryDelayMs(context.leaseMs)) }),
      /**
       * The key is held (the create conflicted) by a holder whose renewals we did not see: it may
       * hold it for a whole lease from now.
       */
      assumeHeld: assign(({ context }) => ({
        notBefore: Math.max(context.notBefore, deps.now() + waitOneLeaseMs(context.leaseMs)),
      })),
      tryCreate: enqueueActions(({ context, enqueue }) => enqueue.emit({ type: 'kv.create', value: context.value })),
      recordWin: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'kv.created') return;
        const epoch = Math.max(event.revision, context.tracker.highestEpoch + 1);
        enqueue.assign({
          epoch,
          heldRev: event.revision,
          lastOkSentAt: event.sentAt,
          renewSentAt: undefined,
          tracker: { ...context.tracker, highestEpoch: epoch },
        });
        enqueue.emit({ type: 'log', level: 'info', msg: 'lease won', fields: { epoch, revision: event.revision } });
        enqueue.emit({ type: 'lease.acquired', epoch });
      }),
      sendRenewal: enqueueActions(({ context, enqueue }) => {
        if (context.renewSentAt === undefined) enqueue.assign({ renewSentAt: deps.now() });
        enqueue.emit({ type: 'kv.update', value: stamped(context), revision: context.heldRev });
      }),
      recordRenewal: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'kv.updated') return;
        enqueue.assign({ heldRev: event.revision, lastOkSentAt: event.sentAt, renewSentAt: undefined });
        enqueue.emit({ type: 'lease.announce', info: stamped(context) });
      }),
      adoptReadRevision: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'kv.read' || !event.entry) return;
        enqueue.assign({ heldRev: event.entry.revision, lastOkSentAt: context.renewSentAt ?? context.lastOkSentAt, renewSentAt: undefined });
        enqueue.emit({ type: 'log', level: 'info', msg: 'lease renewal timed out but had been applied', fields: { revision: event.entry.revision } });
        enqueue.emit({ type: 'lease.announce', info: stamped(context) });
      }),
      readKey: enqueueActions(({ enqueue }) => enqueue.emit({ type: 'kv.get' })),
      rearmDeadline: enqueueActions(({ enqueue }) => enqueue.raise({ type: 'lease.renewed' })),
      loseLease: enqueueActions(({ context, event, enqueue }) => {
        const reason =
          event.type === 'kv.entry' || event.type === 'leader.announced' ? 'another master holds the lease'
            : event.type === 'kv.read' ? 'the lease key no longer holds this master'
              : event.type === 'kv.failed' ? `the lease bucket is gone (${event.error})`
                : 'the lease could not be renewed in time';
        enqueue.emit({ type: 'log', level: 'warn', msg: 'lease lost', fields: { epoch: context.epoch, reason } });
        enqueue.emit({ type: 'lease.lost', reason });
        // Whoever holds it now holds it for a lease at least; and if nobody does, what this candidate
        // saw has a gap (its renewals failed): either way, watch one lease first.
        enqueue.assign({ epoch: 0, heldRev: 0, notBefore: deps.now() + waitOneLeaseMs(context.leaseMs) });
      }),
      deleteKey: enqueueActions(({ context, event, enqueue }) => {
        enqueue.emit({ type: 'kv.delete', revision: context.heldRev });
        const reason = event.type === 'candidate.resign' ? event.reason : 'stopped';
        enqueue.emit({ type: 'log', level: 'info', msg: 'lease resigned', fields: { epoch: context.epoch, reason } });
        if (event.type === 'candidate.resign') enqueue.emit({ type: 'lease.lost', reason: `resigned: ${reason}` });
        enqueue.assign({ epoch: 0, heldRev: 0 });
      }),
      deleteCreatedKey: enqueueActions(({ event, enqueue }) => {
        if (event.type !== 'kv.created') return;
        enqueue.emit({ type: 'kv.delete', revision: event.revision });
        enqueue.emit({ type: 'log', level: 'warn', msg: 'another master leads: giving back a lease won meanwhile', fields: { revision: event.revision } });
      }),
      logFailure: enqueueActions(({ event, enqueue }) => {
        if (event.type === 'kv.failed') enqueue.emit({ type: 'log', level: 'warn', msg: `lease ${event.op} failed; retrying`, fields: { error: event.error } });
      }),
    },
    delays: {
      retry: ({ context }) => retryDelayMs(context.leaseMs),
      /** Until the known leader's lease runs out (at once if none is known), but not before `notBefore`. */
      standbyExpiry: ({ context }) => Math.max(0, Math.max(expiresAt(context.tracker, context.leaseMs), context.notBefore) - deps.now()),
      renewDue: ({ context }) => Math.max(0, context.lastOkSentAt + renewIntervalMs(context.leaseMs) - deps.now()),
      deadline: ({ context }) => Math.max(0, context.lastOkSentAt + context.leaseMs - stepDownMarginMs(context.leaseMs) - deps.now()),
      rest: ({ context }) => context.leaseMs,
    },
  }).createMachine({
    id: 'leaseCandidate',
    context: ({ input }) => ({
      value: input.value,
      leaseMs: input.leaseMs,
      watchFirst: input.watchFirst ?? true,
      tracker: emptyTracker(),
      notBefore: (input.watchFirst ?? true) ? deps.now() + waitOneLeaseMs(input.leaseMs) : 0,
      epoch: 0,
      heldRev: 0,
      lastOkSentAt: 0,
      renewSentAt: undefined,
    }),
    initial: 'opening',
    on: {
      'candidate.stop': { target: '.stopped' },
    },
    states: {
      opening: {
        entry: 'openBucket',
        on: {
          'kv.opened': { target: 'standby', actions: ['recordOpened', 'waitOutGap'] },
          'kv.failed': { target: 'reopening', actions: ['logFailure', 'waitOutGap'] },
          'kv.entry': { actions: 'observe' },
          'leader.announced': { actions: 'observe' },
        },
      },
      reopening: {
        after: { retry: 'opening' },
        on: {
          'kv.entry': { actions: 'observe' },
          'leader.announced': { actions: 'observe' },
        },
      },
      standby: {
        tags: ['standby'],
        after: { standbyExpiry: { target: 'acquiring', actions: 'forgetLeader' } },
        on: {
          'kv.entry': [
            { guard: 'isDeletion', target: 'acquiring', actions: 'observe' },
            { target: 'standby', reenter: true, actions: 'observe' },
          ],
          'leader.announced': { target: 'standby', reenter: true, actions: 'observe' },
        },
      },
      acquiring: {
        entry: 'tryCreate',
        on: {
          'kv.created': { target: 'leading', actions: 'recordWin' },
          'kv.failed': [
            { guard: 'isConflict', target: 'standby', actions: 'assumeHeld' },
            // No answer, or no bucket: make sure the bucket is there before trying again.
            { target: 'reopening', actions: ['logFailure', 'holdOff', 'waitOutGap'] },
          ],
          // Another master leads while our create is in flight: if the create lands anyway (in a
          // bucket made anew after a loss), this win cannot be trusted.
          'kv.entry': [{ guard: 'isOtherLeader', target: 'abandoning', actions: ['observe', 'assumeHeld'] }, { actions: 'observe' }],
          'leader.announced': [{ guard: 'isOtherLeader', target: 'abandoning', actions: ['observe', 'assumeHeld'] }, { actions: 'observe' }],
        },
      },
      /** Waits for the untrusted create's answer; a key it made is deleted again. */
      abandoning: {
        on: {
          'kv.created': { target: 'standby', actions: 'deleteCreatedKey' },
          'kv.failed': 'standby',
          'kv.entry': { actions: 'observe' },
          'leader.announced': { actions: 'observe' },
        },
      },
      leading: {
        tags: ['leading'],
        type: 'parallel',
        on: {
          'kv.entry': [{ guard: 'isOtherHolder', target: 'standby', actions: ['loseLease', 'observe'] }],
          'leader.announced': [{ guard: 'isOtherHolder', target: 'standby', actions: ['loseLease', 'observe'] }],
          'candidate.resign': { target: 'resting', actions: 'deleteKey' },
          'candidate.stop': { target: 'stopped', actions: 'deleteKey' },
        },
        states: {
          renewal: {
            initial: 'renewing',
            states: {
              renewing: {
                entry: 'sendRenewal',
                on: {
                  'kv.updated': { target: 'holding', actions: ['recordRenewal', 'rearmDeadline'] },
                  'kv.failed': [
                    { guard: 'isMissingBucket', target: '#leaseCandidate.reopening', actions: ['loseLease', 'waitOutGap'] },
                    // The revision changed: perhaps a renewal that timed out was applied after all.
                    { guard: 'isConflict', target: 'resolving' },
                    // No answer (it may still be applied): try again; a conflict then tells.
                    { target: 'waiting', actions: 'logFailure' },
                  ],
                },
              },
              /** A renewal conflicted: read the key to learn whether our own earlier renewal was applied. */
              resolving: {
                entry: 'readKey',
                on: {
                  'kv.read': [
                    { guard: 'isOurNewerValue', target: 'holding', actions: ['adoptReadRevision', 'rearmDeadline'] },
                    { guard: 'isOurHeldValue', target: 'waiting' },
                    { target: '#leaseCandidate.standby', actions: ['loseLease', 'observe'] },
                  ],
                  'kv.failed': [
                    { guard: 'isMissingBucket', target: '#leaseCandidate.reopening', actions: ['loseLease', 'waitOutGap'] },
                    { target: 'rereading', actions: 'logFailure' },
                  ],
                },
              },
              rereading: { after: { retry: 'resolving' } },
              waiting: { after: { retry: 'renewing' } },
              holding: { after: { renewDue: 'renewing' } },
            },
          },
          /** Steps down before the server can expire the key: re-armed by every stored renewal. */
          deadline: {
            initial: 'armed',
            states: {
              armed: {
                after: { deadline: { target: '#leaseCandidate.standby', actions: 'loseLease' } },
                on: { 'lease.renewed': { target: 'armed', reenter: true } },
              },
            },
          },
        },
      },
      resting: {
        after: { rest: 'standby' },
        on: {
          'kv.entry': { actions: 'observe' },
          'leader.announced': { actions: 'observe' },
        },
      },
      stopped: { type: 'final' },
    },
  });
}

/** The candidate machine type. */
export type CandidateMachine = ReturnType<typeof createCandidateMachine>;
