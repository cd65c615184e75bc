/**
 * The master's life as a statechart.
 *
 * - `standby`: another master leads (or nobody does yet). Messages are ignored; the leader is
 *   logged as the lease reports it. Entering `standby` drops all soft state: a master that lost
 *   its lease never serves again on what it held.
 * - `leading` (parallel):
 *   - `phase`: `recovering.loadingRegistry` reads the registry; messages arriving meanwhile are
 *     kept and handled once it is read, so nothing is lost between winning the lease and serving.
 *     `recovering.awaitingAgents`: the registry's agents are *recovering* until they re-register;
 *     after `agentReregisterTimeout` the rest are marked unreachable. Then `serving`.
 *   - `allocator`: event-triggered allocation, batched — handlers only mark what they touched, and
 *     one step per turn of the loop serves every mark (`offers.ts`).
 *   - `batch`: the periodic allocation every `allocationInterval`.
 *   - `sweeper`: one timer for every per-agent and per-framework deadline (pings, heartbeats,
 *     failover timeouts), instead of a timer per entity.
 *
 * Every handler is a pure function over the soft state (`agents.ts`, `frameworks.ts`, `tasks.ts`,
 * `offers.ts`, `leadership.ts`). Handlers validate before they change anything; one that throws
 * found a broken invariant, and the leadership ends (`master.abdicate`, Mesos' `CHECK`) rather than
 * serve half-updated state. The runtime then resigns the lease and contends again.
 *
 * @see Mesos `src/master/master.cpp`.
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { MessageType } from '../../protocols/messages.ts';
import { kindOf } from '../../protocols/pid.ts';
import { log, type ActorDeps, type Inbound } from '../common.ts';
import { pong, registerAgent, reregisterAgent, recoveredAgentsTimedOut, unregisterAgent } from './agents.ts';
import { deactivateFramework, frameworkOf, subscribeFramework, teardownFramework, touchFramework } from './frameworks.ts';
import { masterMetrics, registryApplied, registryLoaded, sweep } from './leadership.ts';
import { markAgentGone, teardownByOperator, updateByOperator } from './operator.ts';
import { allocationStep, declineOffers, expireOffers, planRevocations, requestResources, reviveOffers, startBatch, suppressOffers } from './offers.ts';
import { reassemble } from './reassembly.ts';
import { emptyQueue, hasWaitingFrom, keep, take, waiting, type DeferredQueue } from './inbox.ts';
import type { RegistryEffect, RegistryLoadEffect, RegistrySnapshot } from './registry.ts';
import {
  DEFAULT_MASTER_FLAGS,
  allocationToRequest,
  bump,
  initialMasterState,
  type FrameworkEntry,
  type MasterEmitted,
  type MasterEnv,
  type MasterFlags,
  type MasterState,
  type Out,
} from './state.ts';
import {
  acknowledgeStatusUpdate,
  executorToFramework,
  exitedExecutor,
  frameworkToExecutor,
  killTask,
  launchTasks,
  reconcileTasks,
  statusUpdate,
} from './tasks.ts';

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
  /** Leadership epoch (the lease's fencing token); 0 while standing by. */
  epoch: number;
  state: MasterState;
  /** Messages that arrived while the registry was being read, in order (`inbox.ts`). */
  deferred: DeferredQueue;
}

/** Local events from the runtime. */
export type MasterLocalEvent =
  | { type: 'lease.acquired'; epoch: number }
  | { type: 'lease.lost'; reason: string }
  /** Who leads, as a standby's lease sees it. */
  | { type: 'lease.leader'; leader?: { pid: string; epoch: number; http?: string } }
  | { type: 'registry.loaded'; epoch: number; snapshot: RegistrySnapshot }
  | { type: 'registry.applied'; epoch: number; opId: number }
  | { type: 'registry.failed'; epoch: number; opId?: number; error: string }
  | { type: 'allocation.requested' }
  | { type: 'master.abdicate'; reason: string };

/** Messages the master handles. */
export type MasterMessageType =
  | 'RegisterAgent' | 'ReregisterAgent' | 'UnregisterAgent' | 'Pong' | 'StatusUpdate' | 'ExitedExecutor'
  | 'ExecutorToFramework' | 'SubscribeFramework' | 'TeardownFramework' | 'DeactivateFramework' | 'LaunchTasks'
  | 'DeclineOffers' | 'ReviveOffers' | 'SuppressOffers' | 'KillTask' | 'AcknowledgeStatusUpdate' | 'ReconcileTasks'
  | 'FrameworkToExecutor' | 'UpdateAgentResources' | 'RequestResources' | 'UpdateQuota' | 'UpdateWeights'
  | 'UpdateWhitelist' | 'Heartbeat' | 'GetMetrics' | 'MarkAgentGone';

/** Every event the master accepts. */
export type MasterEvent = MasterLocalEvent | Inbound<MasterMessageType>;

/** Asks the runtime to answer `to` with the master's metrics (it adds the process's own). */
export interface MetricsEffect {
  type: 'effect.metrics';
  to: string;
  metrics: Record<string, number>;
}

/** Asks the runtime to give the lease up (the leadership ended on a broken invariant or a registry failure). */
export interface ResignEffect {
  type: 'effect.resign';
  reason: string;
}

type Emitted = MasterEmitted | MetricsEffect | ResignEffect | RegistryEffect | RegistryLoadEffect;

/** Calls a scheduler makes for a framework: accepted only from that framework's scheduler PID. */
type FrameworkCall = 'TeardownFramework' | 'DeactivateFramework' | 'LaunchTasks' | 'DeclineOffers' | 'ReviveOffers'
  | 'SuppressOffers' | 'KillTask' | 'AcknowledgeStatusUpdate' | 'ReconcileTasks' | 'FrameworkToExecutor'
  | 'RequestResources' | 'Heartbeat';

/** How the master handles a call of `T` from its framework's scheduler. */
type FrameworkHandler<T extends FrameworkCall> = (s: MasterState, fw: FrameworkEntry, ev: Inbound<T>, env: MasterEnv) => Out;

const FRAMEWORK_HANDLERS: { [T in FrameworkCall]: FrameworkHandler<T> } = {
  TeardownFramework: (s, fw, _ev, env) => teardownFramework(s, fw, env),
  DeactivateFramework: (s, fw, _ev, env) => deactivateFramework(s, fw, env),
  LaunchTasks: launchTasks,
  DeclineOffers: declineOffers,
  ReviveOffers: (s, fw, ev) => reviveOffers(s, fw, ev.body.roles),
  SuppressOffers: (s, fw, ev) => suppressOffers(s, fw, ev.body.roles),
  KillTask: killTask,
  AcknowledgeStatusUpdate: acknowledgeStatusUpdate,
  ReconcileTasks: reconcileTasks,
  FrameworkToExecutor: frameworkToExecutor,
  RequestResources: requestResources,
  Heartbeat: () => [],
};

/** The bus messages an event carries: itself and those delivered with it (`Inbound.more`), one by one. */
function messagesOf(event: MasterEvent): MasterEvent[] {
  if (!('more' in event) || event.more === undefined) return [event];
  const { more, ...first } = event;
  return [first as MasterEvent, ...(more as MasterEvent[])];
}

/** Builds the master machine. `deps` supplies time and ids so that the machine stays pure. */
export function createMasterMachine(deps: ActorDeps) {
  const env = (c: MasterContext): MasterEnv => ({
    self: c.self, runId: c.runId, hostname: c.hostname, epoch: c.epoch, now: deps.now(), flags: c.flags,
  });

  /**
   * Wraps a handler as an action: runs it, emits what it returns, asks for an allocation step when
   * it marked anything, and ends the leadership if it threw (a broken invariant). Handlers change
   * `context.state` in place — the machine is its only holder — so there is nothing to assign: a
   * copy per message was a tenth of the cost of a re-registration storm.
   */
  const handle = <E>(fn: (s: MasterState, ev: E, e: MasterEnv, c: MasterContext) => Out) =>
    enqueueActions<MasterContext, MasterEvent, unknown, MasterEvent, never, never, never, never, Emitted>(({ context, event, enqueue }) => {
      const s = context.state;
      const e = env(context);
      for (const ev of messagesOf(event)) {
        let out: Out;
        try {
          out = fn(s, ev as E, e, context);
        } catch (err) {
          bump(s, 'master/invariant_failures');
          enqueue.emit(log('error', `Ending leadership: handling ${ev.type} broke an invariant`, { error: String(err) }));
          enqueue.raise({ type: 'master.abdicate', reason: `${ev.type}: ${String(err)}` });
          return;
        }
        for (const o of out) enqueue.emit(o);
      }
      if (allocationToRequest(s)) enqueue.raise({ type: 'allocation.requested' });
    });

  /** A scheduler's call: handled for the framework it names, once its PID is checked. */
  const frameworkCall = <T extends FrameworkCall>(type: T) =>
    handle<Inbound<T>>((s, ev, e) => {
      const fw = frameworkOf(s, ev.body.frameworkId, ev.from)!;
      touchFramework(fw, e);
      return FRAMEWORK_HANDLERS[type](s, fw, ev, e);
    });

  const fromScheduler = (type: FrameworkCall) => [
    { guard: 'isFromItsScheduler' as const, actions: `handle${type}` as const },
    { actions: 'logNotFromItsScheduler' as const },
  ];

  return setup({
    types: {
      context: {} as MasterContext,
      input: {} as MasterInput,
      events: {} as MasterEvent,
      emitted: {} as Emitted,
    },
    guards: {
      /** A bus message (not a local event). */
      isBusMessage: ({ event }) => 'from' in event,
      /**
       * A bus message that just arrived from a sender with messages still kept (it waits its
       * turn); messages delivered together wait too (some may be behind kept ones).
       */
      isBehindKeptMessages: ({ context, event }) =>
        'from' in event && !(event as { replayed?: true }).replayed && (event.more !== undefined || hasWaitingFrom(context.deferred, event.from)),
      /** Mesos `Master::validateFrameworkId`-style check: the call names a framework its sender schedules. */
      isFromItsScheduler: ({ context, event }) =>
        'from' in event && 'frameworkId' in event.body && frameworkOf(context.state, (event.body as { frameworkId: string }).frameworkId, event.from) !== undefined,
      /** Sent by an operator (the operator API tears frameworks down too). */
      isFromOperator: ({ event }) => 'from' in event && kindOf(event.from) === 'operator',
      hasNoDeferred: ({ context }) => waiting(context.deferred) === 0,
      /** Every agent the registry listed has re-registered (or been marked unreachable). */
      hasNoRecoveringAgents: ({ context }) => context.state.recovered.size === 0,
      /** A registry answer for this leadership (not one of an earlier term). */
      isCurrentTerm: ({ context, event }) => 'epoch' in event && event.epoch === context.epoch,
    },
    actions: {
      recordEpoch: assign(({ context, event }) => {
        if (event.type !== 'lease.acquired') return {};
        const state = initialMasterState(context.flags);
        state.electedAt = deps.now();
        return { epoch: event.epoch, state, deferred: emptyQueue() };
      }),
      dropSoftState: assign(({ context }) => ({ epoch: 0, state: initialMasterState(context.flags), deferred: emptyQueue() })),
      logElected: enqueueActions(({ context, enqueue }) => {
        enqueue.emit(log('info', `Elected as the leading master (epoch ${context.epoch}); recovering the registry`));
      }),
      logServing: enqueueActions(({ context, enqueue }) => {
        const s = context.state;
        enqueue.emit(log('info', `Serving: ${s.agents.size} agent(s) registered, ${s.registry.unreachable.size} unreachable, recovered in ${deps.now() - s.electedAt} ms`));
      }),
      logLeader: enqueueActions(({ event, enqueue }) => {
        if (event.type !== 'lease.leader') return;
        const l = event.leader;
        enqueue.emit(l
          ? log('info', `Standing by; the leading master is ${l.pid} (epoch ${l.epoch})${l.http ? `, HTTP at ${l.http}` : ''}`, { leader: l.pid, ...(l.http ? { http: l.http } : {}) })
          : log('info', 'Standing by; no master leads at the moment'));
      }),
      logIgnoredWhileStandby: enqueueActions(({ context, event, enqueue }) => {
        for (const ev of messagesOf(event)) {
          context.state.metrics['master/dropped_messages_standby'] = (context.state.metrics['master/dropped_messages_standby'] ?? 0) + 1;
          if ('from' in ev) enqueue.emit(log('debug', `Ignoring ${ev.type} because this master is not the leader`, { from: ev.from }));
        }
      }),
      logLeaseLost: enqueueActions(({ event, enqueue }) => {
        if (event.type === 'lease.lost') enqueue.emit(log('error', 'Lost the leadership; dropping all state and standing by', { reason: event.reason }));
      }),
      resignLease: enqueueActions(({ event, enqueue }) => {
        const reason = event.type === 'master.abdicate' ? event.reason : event.type === 'registry.failed' ? `registry: ${event.error}` : event.type;
        enqueue.emit(log('error', 'Giving up the leadership', { reason }));
        enqueue.emit({ type: 'effect.resign', reason });
      }),
      loadRegistry: enqueueActions(({ enqueue }) => enqueue.emit({ type: 'effect.registryLoad' })),
      applyRegistry: handle<Extract<MasterEvent, { type: 'registry.loaded' }>>((s, ev) => registryLoaded(s, ev.snapshot)),
      deferMessage: enqueueActions(({ context, event, enqueue }) => {
        if (!('from' in event)) return;
        const m = context.state.metrics;
        for (const ev of messagesOf(event) as Array<typeof event>) {
          const r = keep(context.deferred, ev, context.flags.maxDeferredMessages);
          if (r === 'full') {
            m['master/dropped_messages_recovering'] = (m['master/dropped_messages_recovering'] ?? 0) + 1;
            enqueue.emit(log('warn', `Dropping ${ev.type}: too many messages waiting for the registry`, { from: ev.from }));
            continue;
          }
          const k = r === 'queued' ? 'master/messages_deferred' : 'master/messages_deferred_replaced';
          m[k] = (m[k] ?? 0) + 1;
        }
      }),
      /**
       * Hands the next kept messages (at most `replayChunk`) to their handlers, in order. What
       * arrived meanwhile waits behind them; a long queue is taken over several turns of the loop.
       */
      replayDeferred: enqueueActions(({ context, enqueue }) => {
        for (const ev of take(context.deferred, context.flags.replayChunk)) enqueue.raise({ ...ev, replayed: true } as unknown as MasterEvent);
      }),
      registryApplied: handle<Extract<MasterEvent, { type: 'registry.applied' }>>((s, ev, e) => registryApplied(s, ev.opId, e)),
      markRecoveringAgentsUnreachable: handle<MasterEvent>((s, _ev, e) => recoveredAgentsTimedOut(s, e)),
      allocateStep: handle<MasterEvent>((s, _ev, e) => allocationStep(s, e)),
      startBatch: handle<MasterEvent>((s, _ev, e) => {
        const out = expireOffers(s, e);
        for (const o of planRevocations(s, e)) out.push(o);
        startBatch(s);
        return out;
      }),
      sweep: handle<MasterEvent>((s, _ev, e) => sweep(s, e)),
      reportMetrics: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'GetMetrics') return;
        enqueue.emit({ type: 'effect.metrics', to: event.from, metrics: masterMetrics(context.state, env(context), context.epoch > 0) });
      }),
      logNotFromItsScheduler: enqueueActions(({ context, event, enqueue }) => {
        if (!('from' in event)) return;
        const fwId = 'frameworkId' in event.body ? (event.body as { frameworkId: string }).frameworkId : '?';
        context.state.metrics['master/dropped_messages'] = (context.state.metrics['master/dropped_messages'] ?? 0) + 1;
        enqueue.emit(log('warn', `Ignoring ${event.type} for framework ${fwId} because it was not sent by its scheduler`, { from: event.from }));
      }),
      // Agents.
      handleRegisterAgent: handle<Inbound<'RegisterAgent'>>(registerAgent),
      handleReregisterAgent: handle<Inbound<'ReregisterAgent'>>((s, ev, e) => {
        const whole = reassemble(s, ev.from, ev.body, e);
        return whole ? reregisterAgent(s, ev.from, whole, e) : [];
      }),
      handleUnregisterAgent: handle<Inbound<'UnregisterAgent'>>(unregisterAgent),
      handlePong: handle<Inbound<'Pong'>>(pong),
      handleStatusUpdate: handle<Inbound<'StatusUpdate'>>(statusUpdate),
      handleExitedExecutor: handle<Inbound<'ExitedExecutor'>>(exitedExecutor),
      handleExecutorToFramework: handle<Inbound<'ExecutorToFramework'>>(executorToFramework),
      // Schedulers.
      handleSubscribeFramework: handle<Inbound<'SubscribeFramework'>>(subscribeFramework),
      handleTeardownFramework: frameworkCall('TeardownFramework'),
      handleDeactivateFramework: frameworkCall('DeactivateFramework'),
      handleLaunchTasks: frameworkCall('LaunchTasks'),
      handleDeclineOffers: frameworkCall('DeclineOffers'),
      handleReviveOffers: frameworkCall('ReviveOffers'),
      handleSuppressOffers: frameworkCall('SuppressOffers'),
      handleKillTask: frameworkCall('KillTask'),
      handleAcknowledgeStatusUpdate: frameworkCall('AcknowledgeStatusUpdate'),
      handleReconcileTasks: frameworkCall('ReconcileTasks'),
      handleFrameworkToExecutor: frameworkCall('FrameworkToExecutor'),
      handleRequestResources: frameworkCall('RequestResources'),
      handleHeartbeat: frameworkCall('Heartbeat'),
      // Operators.
      handleOperatorUpdate: handle<Inbound<'UpdateQuota' | 'UpdateWeights' | 'UpdateWhitelist'>>(updateByOperator),
      handleTeardownByOperator: handle<Inbound<'TeardownFramework'>>(teardownByOperator),
      handleMarkAgentGone: handle<Inbound<'MarkAgentGone'>>(markAgentGone),
    },
    delays: {
      allocationInterval: ({ context }) => context.flags.allocationIntervalMs,
      /** The next turn of the event loop: every event of this turn has marked what it touched. */
      allocationStep: 0,
      replayStep: 0,
      agentReregisterTimeout: ({ context }) => context.flags.agentReregisterTimeoutMs,
      sweepInterval: ({ context }) => sweepIntervalMs(context.flags),
    },
  }).createMachine({
    id: 'master',
    context: ({ input }) => {
      const flags = { ...DEFAULT_MASTER_FLAGS, ...input.flags };
      return { self: input.self, runId: input.runId, hostname: input.hostname, flags, epoch: 0, state: initialMasterState(flags), deferred: emptyQueue() };
    },
    initial: 'standby',
    states: {
      standby: {
        tags: ['standby'],
        entry: 'dropSoftState',
        on: {
          'lease.acquired': { target: 'leading', actions: ['recordEpoch', 'logElected'] },
          'lease.leader': { actions: 'logLeader' },
          GetMetrics: { actions: 'reportMetrics' },
          '*': { guard: 'isBusMessage', actions: 'logIgnoredWhileStandby' },
        },
      },
      leading: {
        tags: ['leading'],
        type: 'parallel',
        on: {
          'lease.lost': { target: 'standby', actions: 'logLeaseLost' },
          'master.abdicate': { target: 'standby', actions: 'resignLease' },
          'registry.failed': { guard: 'isCurrentTerm', target: 'standby', actions: 'resignLease' },
          'lease.acquired': {},
        },
        states: {
          phase: {
            initial: 'recovering',
            // Messages are handled in every phase but `recovering.loadingRegistry`, which keeps them.
            on: {
              RegisterAgent: { actions: 'handleRegisterAgent' },
              ReregisterAgent: { actions: 'handleReregisterAgent' },
              UnregisterAgent: { actions: 'handleUnregisterAgent' },
              Pong: { actions: 'handlePong' },
              StatusUpdate: { actions: 'handleStatusUpdate' },
              ExitedExecutor: { actions: 'handleExitedExecutor' },
              ExecutorToFramework: { actions: 'handleExecutorToFramework' },
              UpdateAgentResources: {},
              SubscribeFramework: { actions: 'handleSubscribeFramework' },
              TeardownFramework: [
                { guard: 'isFromItsScheduler', actions: 'handleTeardownFramework' },
                { guard: 'isFromOperator', actions: 'handleTeardownByOperator' },
                { actions: 'logNotFromItsScheduler' },
              ],
              DeactivateFramework: fromScheduler('DeactivateFramework'),
              LaunchTasks: fromScheduler('LaunchTasks'),
              DeclineOffers: fromScheduler('DeclineOffers'),
              ReviveOffers: fromScheduler('ReviveOffers'),
              SuppressOffers: fromScheduler('SuppressOffers'),
              KillTask: fromScheduler('KillTask'),
              AcknowledgeStatusUpdate: fromScheduler('AcknowledgeStatusUpdate'),
              ReconcileTasks: fromScheduler('ReconcileTasks'),
              FrameworkToExecutor: fromScheduler('FrameworkToExecutor'),
              RequestResources: fromScheduler('RequestResources'),
              Heartbeat: fromScheduler('Heartbeat'),
              UpdateQuota: { actions: 'handleOperatorUpdate' },
              UpdateWeights: { actions: 'handleOperatorUpdate' },
              UpdateWhitelist: { actions: 'handleOperatorUpdate' },
              MarkAgentGone: { actions: 'handleMarkAgentGone' },
              GetMetrics: { actions: 'reportMetrics' },
              'registry.applied': { guard: 'isCurrentTerm', actions: 'registryApplied' },
            },
            states: {
              recovering: {
                tags: ['recovering'],
                initial: 'loadingRegistry',
                states: {
                  loadingRegistry: {
                    entry: 'loadRegistry',
                    on: {
                      'registry.loaded': { guard: 'isCurrentTerm', target: 'replaying', actions: 'applyRegistry' },
                      GetMetrics: { actions: 'reportMetrics' },
                      '*': { guard: 'isBusMessage', actions: 'deferMessage' },
                    },
                  },
                  /** Handles the kept messages a chunk per turn of the loop, still keeping new ones behind them. */
                  replaying: {
                    always: { guard: 'hasNoDeferred', target: 'awaitingAgents' },
                    after: { replayStep: { target: 'replaying', reenter: true, actions: 'replayDeferred' } },
                    on: {
                      GetMetrics: { actions: 'reportMetrics' },
                      '*': { guard: 'isBehindKeptMessages', actions: 'deferMessage' },
                    },
                  },
                  awaitingAgents: {
                    always: { guard: 'hasNoRecoveringAgents', target: '#master.leading.phase.serving' },
                    after: {
                      agentReregisterTimeout: { target: '#master.leading.phase.serving', actions: 'markRecoveringAgentsUnreachable' },
                    },
                  },
                },
              },
              serving: { tags: ['serving'], entry: 'logServing' },
            },
          },
          allocator: {
            initial: 'idle',
            states: {
              idle: { on: { 'allocation.requested': 'stepping' } },
              stepping: { after: { allocationStep: { target: 'idle', actions: 'allocateStep' } } },
            },
          },
          batch: {
            initial: 'waiting',
            states: {
              waiting: { after: { allocationInterval: { target: 'waiting', reenter: true, actions: 'startBatch' } } },
            },
          },
          sweeper: {
            initial: 'waiting',
            states: {
              waiting: { after: { sweepInterval: { target: 'waiting', reenter: true, actions: 'sweep' } } },
            },
          },
        },
      },
    },
  });
}

/** How often the sweep runs: often enough for the shortest deadline it watches. */
export function sweepIntervalMs(flags: MasterFlags): number {
  return Math.max(10, Math.min(1000, flags.agentPingTimeoutMs / 5, flags.frameworkHeartbeatIntervalMs / 5));
}

/** The master machine type. */
export type MasterMachine = ReturnType<typeof createMasterMachine>;

/** Kept for callers that name message types the master accepts. */
export type { MessageType };
