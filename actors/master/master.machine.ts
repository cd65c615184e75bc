/**
 * The master: contends for leadership, then keeps the soft state of agents, frameworks, offers and
 * tasks, runs the allocator every allocation interval and after events that free or add resources,
 * and relays launches, kills, status updates and acknowledgements.
 *
 * All decisions are in `state.ts` and the allocator; this machine routes events to them and emits
 * what they return.
 *
 * @see Mesos `src/master/master.cpp`.
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { MessageType } from '../../protocols/messages.ts';
import { log, type ActorDeps, type Inbound, type LogEvent, type SendEvent } from '../common.ts';
import {
  DEFAULT_MASTER_FLAGS,
  acknowledgeStatusUpdate,
  allocateOffers,
  deactivateFramework,
  declineOffers,
  executorToFramework,
  exitedExecutor,
  expireOffers,
  frameworkOf,
  frameworkToExecutor,
  initialMasterState,
  killTask,
  launchTasks,
  operatorUpdate,
  planRevocations,
  reconcileTasks,
  requestResources,
  registerAgent,
  reregisterAgent,
  reviveOffers,
  statusUpdate,
  subscribeFramework,
  suppressOffers,
  teardownFramework,
  unregisterAgent,
  type FrameworkEntry,
  type MasterEnv,
  type MasterFlags,
  type MasterState,
} from './state.ts';

/** What the master is started with. */
export interface MasterInput {
  /** This master's PID. */
  self: string;
  /** Unique per master run; prefixes the ids it assigns. */
  runId: string;
  hostname: string;
  flags?: Partial<MasterFlags>;
}

/** The master machine's context. */
export interface MasterContext {
  self: string;
  runId: string;
  hostname: string;
  flags: MasterFlags;
  /** Leadership epoch (the lease revision); 0 until leading. */
  epoch: number;
  state: MasterState;
}

/** Local events from the runtime. */
export type MasterLocalEvent =
  | { type: 'lease.acquired'; epoch: number }
  | { type: 'lease.lost'; reason: string };

/** Messages the master handles. */
export type MasterMessageType =
  | 'RegisterAgent' | 'ReregisterAgent' | 'UnregisterAgent' | 'Pong' | 'StatusUpdate' | 'ExitedExecutor'
  | 'ExecutorToFramework' | 'SubscribeFramework' | 'TeardownFramework' | 'DeactivateFramework' | 'LaunchTasks'
  | 'DeclineOffers' | 'ReviveOffers' | 'SuppressOffers' | 'KillTask' | 'AcknowledgeStatusUpdate' | 'ReconcileTasks'
  | 'FrameworkToExecutor' | 'UpdateAgentResources' | 'RequestResources' | 'UpdateQuota' | 'UpdateWeights'
  | 'UpdateWhitelist';

/** Every event the master accepts. */
export type MasterEvent = MasterLocalEvent | Inbound<MasterMessageType>;

type Emitted = SendEvent | LogEvent;

/** Messages a scheduler sends on behalf of a framework id (checked against the sender's PID). */
const FRAMEWORK_CALLS = new Set<MessageType>([
  'TeardownFramework', 'DeactivateFramework', 'LaunchTasks', 'DeclineOffers', 'ReviveOffers', 'SuppressOffers',
  'KillTask', 'AcknowledgeStatusUpdate', 'ReconcileTasks', 'FrameworkToExecutor', 'RequestResources',
]);

/**
 * Builds the master machine. `deps` supplies time and ids so that the machine stays pure.
 */
export function createMasterMachine(deps: ActorDeps) {
  const env = (c: MasterContext): MasterEnv => ({
    self: c.self, runId: c.runId, hostname: c.hostname, epoch: c.epoch, now: deps.now(), flags: c.flags,
  });

  return setup({
    types: {
      context: {} as MasterContext,
      input: {} as MasterInput,
      events: {} as MasterEvent,
      emitted: {} as Emitted,
    },
    actions: {
      recordEpoch: assign({
        epoch: ({ event }) => (event.type === 'lease.acquired' ? event.epoch : 0),
      }),
      /** Routes an agent or scheduler message to its handler and allocates when resources changed. */
      handleMessage: enqueueActions(({ context, event, enqueue }) => {
        if (!('from' in event)) return;
        const s = context.state;
        const e = env(context);
        let out: SendEvent[] = [];
        let reallocate: Set<string> | 'all' | undefined;
        let fw: FrameworkEntry | undefined;
        if (FRAMEWORK_CALLS.has(event.type) && 'frameworkId' in event.body) {
          fw = frameworkOf(s, event.body.frameworkId, event.from);
          if (!fw) {
            enqueue.emit(log('warn', `Ignoring ${event.type} for framework ${event.body.frameworkId} because it was not sent by its scheduler`, { from: event.from }));
            s.metrics['master/dropped_messages'] = (s.metrics['master/dropped_messages'] ?? 0) + 1;
            return;
          }
        }
        try {
        switch (event.type) {
          case 'RegisterAgent': {
            out = registerAgent(s, event, e);
            // Event-triggered allocation over the new agent only.
            const id = s.agentsByPid.get(event.from);
            reallocate = id ? new Set([id]) : undefined;
            break;
          }
          case 'ReregisterAgent': out = reregisterAgent(s, event, e); reallocate = 'all'; break;
          case 'UnregisterAgent': out = unregisterAgent(s, event, e); reallocate = 'all'; break;
          case 'SubscribeFramework': out = subscribeFramework(s, event, e); reallocate = 'all'; break;
          case 'TeardownFramework': out = teardownFramework(s, fw!, e); reallocate = 'all'; break;
          case 'DeactivateFramework': out = deactivateFramework(s, fw!, e); reallocate = 'all'; break;
          case 'LaunchTasks': out = launchTasks(s, fw!, event, e); break;
          case 'DeclineOffers': out = declineOffers(s, fw!, event, e); break;
          case 'ReviveOffers': out = reviveOffers(s, fw!, event.body.roles); reallocate = 'all'; break;
          case 'SuppressOffers': out = suppressOffers(s, fw!, event.body.roles); break;
          case 'KillTask': out = killTask(s, fw!, event, e); break;
          case 'AcknowledgeStatusUpdate': out = acknowledgeStatusUpdate(s, fw!, event, e); break;
          case 'ReconcileTasks': out = reconcileTasks(s, fw!, event, e); break;
          case 'FrameworkToExecutor': out = frameworkToExecutor(s, fw!, event, e); break;
          case 'ExecutorToFramework': out = executorToFramework(s, event, e); break;
          case 'RequestResources': out = requestResources(s, fw!, event); break;
          case 'UpdateQuota':
          case 'UpdateWeights':
          case 'UpdateWhitelist':
            out = operatorUpdate(s, event);
            break;
          case 'StatusUpdate': {
            const r = statusUpdate(s, event, e);
            out = r.out;
            if (r.freedOn) reallocate = new Set([r.freedOn]);
            break;
          }
          case 'ExitedExecutor': {
            const r = exitedExecutor(s, event, e);
            out = r.out;
            if (r.freedOn) reallocate = new Set([r.freedOn]);
            break;
          }
          default:
            break;
        }
        if (reallocate) out.push(...allocateOffers(s, e, reallocate === 'all' ? undefined : reallocate));
        } catch (err) {
          // A bug must not take the master down with it: report it and keep serving.
          s.metrics['master/handler_errors'] = (s.metrics['master/handler_errors'] ?? 0) + 1;
          enqueue.emit(log('error', `Failed to handle ${event.type}`, { error: String(err), from: event.from }));
        }
        for (const o of out) enqueue.emit(o);
        enqueue.assign({ state: { ...s } });
      }),
      /** The periodic batch: rescind timed-out offers, then allocate over every agent. */
      allocateBatch: enqueueActions(({ context, enqueue }) => {
        const s = context.state;
        const e = env(context);
        for (const o of expireOffers(s, e)) enqueue.emit(o);
        for (const o of allocateOffers(s, e, undefined, true)) enqueue.emit(o);
        for (const o of planRevocations(s, e)) enqueue.emit(o);
        enqueue.assign({ state: { ...s } });
      }),
      logIgnoredWhileStandby: enqueueActions(({ event, enqueue }) => {
        if ('from' in event) enqueue.emit(log('debug', `Ignoring ${event.type} because this master is not the leader`, { from: event.from }));
      }),
      logLeaseLost: enqueueActions(({ event, enqueue }) => {
        if (event.type === 'lease.lost') enqueue.emit(log('error', 'Lost leadership; stepping down', { reason: event.reason }));
      }),
    },
    delays: {
      allocationInterval: ({ context }) => context.flags.allocationIntervalMs,
    },
  }).createMachine({
    id: 'master',
    context: ({ input }) => {
      const flags = { ...DEFAULT_MASTER_FLAGS, ...input.flags };
      return { self: input.self, runId: input.runId, hostname: input.hostname, flags, epoch: 0, state: initialMasterState(flags) };
    },
    initial: 'contending',
    states: {
      contending: {
        on: {
          'lease.acquired': { target: 'leading', actions: 'recordEpoch' },
          '*': { actions: 'logIgnoredWhileStandby' },
        },
      },
      leading: {
        tags: ['leading'],
        initial: 'allocating',
        states: {
          allocating: {
            after: { allocationInterval: { target: 'allocating', reenter: true, actions: 'allocateBatch' } },
          },
        },
        on: {
          'lease.lost': { target: 'resigned', actions: 'logLeaseLost' },
          'lease.acquired': {},
          '*': { actions: 'handleMessage' },
        },
      },
      /** Mesos "commits suicide" when it loses leadership: the runtime exits and a supervisor restarts it. */
      resigned: { type: 'final' },
    },
  });
}

/** The master machine type. */
export type MasterMachine = ReturnType<typeof createMasterMachine>;
