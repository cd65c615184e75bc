/**
 * The scheduler driver: the framework's side of the master conversation. It finds the leader,
 * subscribes (fails over with its framework id once it has one) with jittered backoff, turns
 * master messages into scheduler callbacks and scheduler calls into master messages, and
 * acknowledges status updates.
 *
 * Liveness runs both ways while subscribed: the driver sends the master a `Heartbeat` every
 * interval the master asked for (so the master can tell a dead scheduler from an idle one), and
 * re-subscribes when it has heard nothing from its master for `maxHeartbeatMisses` intervals.
 *
 * Callbacks are emitted as `callback.*` events; the runtime's `SchedulerDriver` invokes the
 * framework's callbacks object (or forwards them to a scheduler written as an XState actor).
 *
 * @see Mesos `src/sched/sched.cpp` (`SchedulerProcess`).
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { Filters, FrameworkInfo, MasterInfo, Offer, TaskInfo, TaskStatus } from '../../protocols/records.ts';
import type { Resources } from '../../protocols/resources.ts';
import { backoffMs, isFromMaster, jitter, log, send, type ActorDeps, type Inbound, type KnownMaster, type LogEvent, type SendEvent } from '../common.ts';

/** Driver flags. */
export interface DriverFlags {
  /** First subscription retry; doubles up to `registrationBackoffMaxMs`. */
  registrationBackoffMs: number;
  registrationBackoffMaxMs: number;
  /** Acknowledge each status update after the `statusUpdate` callback. @see `implicitAcknowledgements` */
  implicitAcknowledgements: boolean;
  /** Heartbeat interval until the master names one. */
  heartbeatIntervalMs: number;
  /** Intervals without a word from the master before the driver re-subscribes. */
  maxHeartbeatMisses: number;
}

/** Mesos' defaults. */
export const DEFAULT_DRIVER_FLAGS: DriverFlags = {
  registrationBackoffMs: 2000,
  registrationBackoffMaxMs: 60_000,
  implicitAcknowledgements: true,
  heartbeatIntervalMs: 15_000,
  maxHeartbeatMisses: 5,
};

/** What the driver is started with. */
export interface DriverInput {
  self: string;
  framework: FrameworkInfo;
  flags?: Partial<DriverFlags>;
}

/** The driver machine's context. */
export interface DriverContext {
  self: string;
  framework: FrameworkInfo;
  flags: DriverFlags;
  frameworkId?: string;
  master?: KnownMaster;
  attempt: number;
  /** Whether `registered` was ever called: later subscriptions are re-registrations. */
  everRegistered: boolean;
  /** The heartbeat interval the master asked for. */
  heartbeatIntervalMs: number;
  /** When the master was last heard from. */
  lastHeardAt: number;
}

/** Calls a framework makes. @see `SchedulerDriver` */
export type DriverCall =
  | { type: 'driver.launchTasks'; offerIds: string[]; tasks: TaskInfo[]; filters?: Filters }
  | { type: 'driver.declineOffer'; offerId: string; filters?: Filters }
  | { type: 'driver.declineOffers'; offerIds: string[]; filters?: Filters }
  | { type: 'driver.killTask'; taskId: string }
  | { type: 'driver.reviveOffers' }
  | { type: 'driver.suppressOffers' }
  | { type: 'driver.acknowledgeStatusUpdate'; status: TaskStatus }
  | { type: 'driver.sendFrameworkMessage'; executorId: string; agentId: string; data: Uint8Array }
  | { type: 'driver.reconcileTasks'; statuses: Array<{ taskId: string; agentId?: string }> }
  | { type: 'driver.requestResources'; request: { minOffer?: Resources; preferredAgents?: string[]; excludedAgents?: string[] } }
  | { type: 'driver.stop'; failover: boolean };

/** Callbacks the driver delivers. @see `Scheduler` */
export type DriverCallback =
  | { type: 'callback.registered'; frameworkId: string; master: MasterInfo }
  | { type: 'callback.reregistered'; master: MasterInfo }
  | { type: 'callback.disconnected' }
  | { type: 'callback.resourceOffers'; offers: Offer[] }
  | { type: 'callback.offerRescinded'; offerId: string }
  | { type: 'callback.statusUpdate'; status: TaskStatus }
  | { type: 'callback.frameworkMessage'; executorId: string; agentId: string; data: Uint8Array }
  | { type: 'callback.agentLost'; agentId: string }
  | { type: 'callback.executorLost'; executorId: string; agentId: string; status: number }
  | { type: 'callback.error'; message: string }
  | { type: 'callback.revocationScheduled'; tasks: Array<{ taskId: string; agentId: string }>; gracePeriodMs: number };

/** Every event the driver accepts. */
export type DriverEvent =
  | DriverCall
  | { type: 'detector.leaderChanged'; leader?: KnownMaster }
  | { type: 'driver.masterSilent' }
  | Inbound<
      | 'FrameworkRegistered' | 'FrameworkReregistered' | 'FrameworkError' | 'ResourceOffers' | 'OffersRescinded'
      | 'StatusUpdate' | 'ExecutorToFramework' | 'AgentLost' | 'ExitedExecutor' | 'RevocationScheduled' | 'Heartbeat'
    >;

/** What the driver emits. */
export type DriverEmitted = SendEvent | LogEvent | DriverCallback;

/** Builds the scheduler-driver machine. */
export function createSchedulerDriverMachine(deps: ActorDeps) {
  return setup({
    types: {
      context: {} as DriverContext,
      input: {} as DriverInput,
      events: {} as DriverEvent,
      emitted: {} as DriverEmitted,
    },
    guards: {
      isFromLeadingMaster: ({ context, event }) => 'from' in event && isFromMaster(context.master, event),
      isNewLeader: ({ context, event }) =>
        event.type === 'detector.leaderChanged' && event.leader !== undefined &&
        (event.leader.pid !== context.master?.pid || event.leader.epoch !== context.master?.epoch),
      hasNoLeader: ({ event }) => event.type === 'detector.leaderChanged' && event.leader === undefined,
    },
    actions: {
      recordMaster: assign(({ event }) => (event.type === 'detector.leaderChanged' ? { master: event.leader, attempt: 0 } : {})),
      forgetMaster: assign({ master: undefined }),
      bumpAttempt: assign({ attempt: ({ context }) => context.attempt + 1 }),
      resetAttempts: assign({ attempt: 0 }),
      sendSubscribe: enqueueActions(({ context, enqueue }) => {
        if (!context.master) return;
        const framework = context.frameworkId ? { ...context.framework, id: context.frameworkId } : context.framework;
        enqueue.emit(send(context.master.pid, { type: 'SubscribeFramework', body: { framework } }));
      }),
      notifyRegistered: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'FrameworkRegistered' && event.type !== 'FrameworkReregistered') return;
        const first = !context.everRegistered;
        const interval = event.body.heartbeatIntervalSeconds;
        enqueue.assign({
          frameworkId: event.body.frameworkId,
          everRegistered: true,
          attempt: 0,
          lastHeardAt: deps.now(),
          heartbeatIntervalMs: interval !== undefined ? interval * 1000 : context.flags.heartbeatIntervalMs,
        });
        if (first) enqueue.emit({ type: 'callback.registered', frameworkId: event.body.frameworkId, master: event.body.master });
        else enqueue.emit({ type: 'callback.reregistered', master: event.body.master });
      }),
      notifyDisconnected: enqueueActions(({ enqueue }) => enqueue.emit({ type: 'callback.disconnected' })),
      /** Anything from the leading master shows it is alive. */
      recordHeard: assign({ lastHeardAt: () => deps.now() }),
      /** Sends the master a `Heartbeat`, or notices that it has gone silent. */
      heartbeat: enqueueActions(({ context, enqueue }) => {
        const silentFor = deps.now() - context.lastHeardAt;
        if (silentFor >= context.heartbeatIntervalMs * context.flags.maxHeartbeatMisses) {
          enqueue.emit(log('warn', `No word from the master for ${Math.round(silentFor / 1000)} s; subscribing again`, { master: context.master?.pid }));
          enqueue.raise({ type: 'driver.masterSilent' });
          return;
        }
        if (context.master && context.frameworkId) {
          enqueue.emit(send(context.master.pid, { type: 'Heartbeat', body: { frameworkId: context.frameworkId, intervalSeconds: context.heartbeatIntervalMs / 1000 } }));
        }
      }),
      notifyError: enqueueActions(({ event, enqueue }) => {
        if (event.type === 'FrameworkError') enqueue.emit({ type: 'callback.error', message: event.body.message });
      }),
      deliverMasterMessage: enqueueActions(({ context, event, enqueue }) => {
        switch (event.type) {
          case 'ResourceOffers':
            enqueue.emit({ type: 'callback.resourceOffers', offers: event.body.offers });
            break;
          case 'OffersRescinded':
            for (const offerId of event.body.offerIds) enqueue.emit({ type: 'callback.offerRescinded', offerId });
            break;
          case 'StatusUpdate': {
            const { update } = event.body;
            const status: TaskStatus = { ...update.status };
            // Only updates that came through an agent expect an acknowledgement.
            if (status.source !== 'SOURCE_MASTER') status.uuid = update.uuid;
            else delete status.uuid;
            if (update.agentId && !status.agentId) status.agentId = update.agentId;
            enqueue.emit({ type: 'callback.statusUpdate', status });
            if (context.flags.implicitAcknowledgements && status.uuid && status.agentId && context.master && context.frameworkId) {
              enqueue.emit(send(context.master.pid, {
                type: 'AcknowledgeStatusUpdate',
                body: { frameworkId: context.frameworkId, agentId: status.agentId, taskId: status.taskId, uuid: status.uuid },
              }));
            }
            break;
          }
          case 'ExecutorToFramework':
            enqueue.emit({ type: 'callback.frameworkMessage', executorId: event.body.executorId, agentId: event.body.agentId, data: event.body.data });
            break;
          case 'AgentLost':
            enqueue.emit({ type: 'callback.agentLost', agentId: event.body.agentId });
            break;
          case 'ExitedExecutor':
            enqueue.emit({ type: 'callback.executorLost', executorId: event.body.executorId, agentId: event.body.agentId, status: event.body.status });
            break;
          case 'RevocationScheduled':
            enqueue.emit({ type: 'callback.revocationScheduled', tasks: event.body.tasks, gracePeriodMs: event.body.gracePeriodSeconds * 1000 });
            break;
          default:
            break;
        }
      }),
      logNotFromMaster: enqueueActions(({ event, enqueue }) => {
        if ('from' in event) enqueue.emit(log('warn', `Ignoring ${event.type} because it was not sent by the leading master`, { from: event.from }));
      }),
      /** Sends a call to the master while subscribed. */
      sendCall: enqueueActions(({ context, event, enqueue }) => {
        const to = context.master?.pid;
        const frameworkId = context.frameworkId;
        if (!to || !frameworkId) return;
        switch (event.type) {
          case 'driver.launchTasks':
            enqueue.emit(send(to, { type: 'LaunchTasks', body: { frameworkId, offerIds: event.offerIds, tasks: event.tasks, ...(event.filters ? { filters: event.filters } : {}) } }));
            break;
          case 'driver.declineOffer':
            enqueue.emit(send(to, { type: 'DeclineOffers', body: { frameworkId, offerIds: [event.offerId], ...(event.filters ? { filters: event.filters } : {}) } }));
            break;
          case 'driver.declineOffers':
            if (event.offerIds.length > 0) enqueue.emit(send(to, { type: 'DeclineOffers', body: { frameworkId, offerIds: event.offerIds, ...(event.filters ? { filters: event.filters } : {}) } }));
            break;
          case 'driver.killTask':
            enqueue.emit(send(to, { type: 'KillTask', body: { frameworkId, taskId: event.taskId } }));
            break;
          case 'driver.reviveOffers':
            enqueue.emit(send(to, { type: 'ReviveOffers', body: { frameworkId } }));
            break;
          case 'driver.suppressOffers':
            enqueue.emit(send(to, { type: 'SuppressOffers', body: { frameworkId } }));
            break;
          case 'driver.acknowledgeStatusUpdate': {
            const { status } = event;
            if (status.uuid && status.agentId) {
              enqueue.emit(send(to, { type: 'AcknowledgeStatusUpdate', body: { frameworkId, agentId: status.agentId, taskId: status.taskId, uuid: status.uuid } }));
            }
            break;
          }
          case 'driver.sendFrameworkMessage':
            enqueue.emit(send(to, { type: 'FrameworkToExecutor', body: { frameworkId, agentId: event.agentId, executorId: event.executorId, data: event.data } }));
            break;
          case 'driver.reconcileTasks':
            enqueue.emit(send(to, { type: 'ReconcileTasks', body: { frameworkId, statuses: event.statuses } }));
            break;
          case 'driver.requestResources':
            enqueue.emit(send(to, { type: 'RequestResources', body: { frameworkId, ...event.request } }));
            break;
          case 'driver.stop':
            enqueue.emit(send(to, event.failover
              ? { type: 'DeactivateFramework', body: { frameworkId } }
              : { type: 'TeardownFramework', body: { frameworkId } }));
            break;
          default:
            break;
        }
      }),
      /**
       * Mesos sched.cpp: a launch while disconnected cannot reach the master, so the driver answers
       * it itself — TASK_LOST (TASK_DROPPED for partition-aware frameworks), REASON_MASTER_DISCONNECTED.
       */
      loseTasksLocally: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'driver.launchTasks') return;
        const pa = context.framework.capabilities?.includes('PARTITION_AWARE') ?? false;
        for (const t of event.tasks) {
          enqueue.emit({
            type: 'callback.statusUpdate',
            status: {
              taskId: t.taskId,
              state: pa ? 'TASK_DROPPED' : 'TASK_LOST',
              reason: 'REASON_MASTER_DISCONNECTED',
              source: 'SOURCE_MASTER',
              message: 'Master disconnected',
              timestamp: deps.now(),
            },
          });
        }
      }),
    },
    delays: {
      registrationBackoff: ({ context }) =>
        backoffMs(context.attempt, context.flags.registrationBackoffMs, context.flags.registrationBackoffMaxMs) * jitter(context.self, context.attempt),
      heartbeatInterval: ({ context }) => context.heartbeatIntervalMs,
    },
  }).createMachine({
    id: 'schedulerDriver',
    context: ({ input }) => ({
      self: input.self,
      framework: input.framework,
      flags: { ...DEFAULT_DRIVER_FLAGS, ...input.flags },
      frameworkId: input.framework.id,
      attempt: 0,
      everRegistered: false,
      heartbeatIntervalMs: input.flags?.heartbeatIntervalMs ?? DEFAULT_DRIVER_FLAGS.heartbeatIntervalMs,
      lastHeardAt: 0,
    }),
    initial: 'disconnected',
    on: {
      'detector.leaderChanged': [
        { guard: 'isNewLeader', target: '.subscribing', actions: 'recordMaster' },
        { guard: 'hasNoLeader', target: '.disconnected', actions: ['forgetMaster'] },
      ],
      'driver.launchTasks': { actions: 'loseTasksLocally' },
      'driver.stop': { target: '.stopped' },
    },
    states: {
      disconnected: {
        tags: ['disconnected'],
      },
      subscribing: {
        entry: 'sendSubscribe',
        after: { registrationBackoff: { target: 'subscribing', reenter: true, actions: 'bumpAttempt' } },
        on: {
          FrameworkRegistered: [{ guard: 'isFromLeadingMaster', target: 'subscribed', actions: 'notifyRegistered' }, { actions: 'logNotFromMaster' }],
          FrameworkReregistered: [{ guard: 'isFromLeadingMaster', target: 'subscribed', actions: 'notifyRegistered' }, { actions: 'logNotFromMaster' }],
          FrameworkError: [{ guard: 'isFromLeadingMaster', target: 'aborted', actions: 'notifyError' }, { actions: 'logNotFromMaster' }],
        },
      },
      subscribed: {
        tags: ['subscribed'],
        after: { heartbeatInterval: { target: 'subscribed', reenter: true, actions: 'heartbeat' } },
        on: {
          'detector.leaderChanged': [
            { guard: 'isNewLeader', target: 'subscribing', actions: ['notifyDisconnected', 'recordMaster'] },
            { guard: 'hasNoLeader', target: 'disconnected', actions: ['notifyDisconnected', 'forgetMaster'] },
          ],
          'driver.masterSilent': { target: 'subscribing', actions: ['notifyDisconnected', 'resetAttempts'] },
          FrameworkError: [{ guard: 'isFromLeadingMaster', target: 'aborted', actions: 'notifyError' }, { actions: 'logNotFromMaster' }],
          FrameworkRegistered: { guard: 'isFromLeadingMaster', actions: 'recordHeard' },
          FrameworkReregistered: { guard: 'isFromLeadingMaster', actions: 'recordHeard' },
          Heartbeat: [{ guard: 'isFromLeadingMaster', actions: 'recordHeard' }, { actions: 'logNotFromMaster' }],
          ResourceOffers: [{ guard: 'isFromLeadingMaster', actions: ['recordHeard', 'deliverMasterMessage'] }, { actions: 'logNotFromMaster' }],
          OffersRescinded: [{ guard: 'isFromLeadingMaster', actions: ['recordHeard', 'deliverMasterMessage'] }, { actions: 'logNotFromMaster' }],
          StatusUpdate: [{ guard: 'isFromLeadingMaster', actions: ['recordHeard', 'deliverMasterMessage'] }, { actions: 'logNotFromMaster' }],
          ExecutorToFramework: [{ guard: 'isFromLeadingMaster', actions: ['recordHeard', 'deliverMasterMessage'] }, { actions: 'logNotFromMaster' }],
          AgentLost: [{ guard: 'isFromLeadingMaster', actions: ['recordHeard', 'deliverMasterMessage'] }, { actions: 'logNotFromMaster' }],
          ExitedExecutor: [{ guard: 'isFromLeadingMaster', actions: ['recordHeard', 'deliverMasterMessage'] }, { actions: 'logNotFromMaster' }],
          RevocationScheduled: [{ guard: 'isFromLeadingMaster', actions: ['recordHeard', 'deliverMasterMessage'] }, { actions: 'logNotFromMaster' }],
          'driver.launchTasks': { actions: 'sendCall' },
          'driver.declineOffer': { actions: 'sendCall' },
          'driver.declineOffers': { actions: 'sendCall' },
          'driver.killTask': { actions: 'sendCall' },
          'driver.reviveOffers': { actions: 'sendCall' },
          'driver.suppressOffers': { actions: 'sendCall' },
          'driver.acknowledgeStatusUpdate': { actions: 'sendCall' },
          'driver.sendFrameworkMessage': { actions: 'sendCall' },
          'driver.reconcileTasks': { actions: 'sendCall' },
          'driver.requestResources': { actions: 'sendCall' },
          'driver.stop': { target: '#schedulerDriver.stopped', actions: 'sendCall' },
        },
      },
      /** The master refused the framework (failed over elsewhere, or removed). */
      aborted: { tags: ['aborted'], type: 'final' },
      stopped: { tags: ['stopped'], type: 'final' },
    },
  });
}

/** The scheduler-driver machine type. */
export type SchedulerDriverMachine = ReturnType<typeof createSchedulerDriverMachine>;
