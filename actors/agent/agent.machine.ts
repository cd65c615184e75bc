/**
 * The agent: finds the leading master, registers (re-registers once it has an id) with jittered
 * backoff, launches executors for the tasks it is given, relays kills, framework messages and
 * status updates, and retries unacknowledged updates until the master confirms them.
 *
 * Four regions run side by side: `recovery` (a restarted agent taking back the executors its
 * predecessor left running, tagged `recovered` once over: only then does the runtime look for a
 * master), `connection` (talking to the master), `executors` (talking to executor processes, which
 * goes on while the master is away) and `sweeper` (one timer for every deadline, instead of a
 * timer per update or executor).
 *
 * The master's pings keep a registration alive: when they stop for the total ping timeout the
 * master gave (or a ping says the master no longer counts the agent as registered), the agent
 * re-registers. While it re-registers with a master that knows it, that master's tasks, kills and
 * acknowledgements are handled, not dropped; status updates wait until it is registered again.
 *
 * @see Mesos `src/slave/slave.cpp`.
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { AgentInfo } from '../../protocols/records.ts';
import type { TaskReason } from '../../protocols/task-states.ts';
import { backoffMs, isFromMaster, jitter, log, send, type ActorDeps, type Inbound, type KnownMaster } from '../common.ts';
import {
  DEFAULT_AGENT_FLAGS,
  acknowledged,
  disconnected,
  executorExited,
  executorLaunched,
  executorStatusUpdate,
  executorToFramework,
  frameworkToExecutor,
  recover,
  recoveryDone,
  recoveryTimedOut,
  reregisterExecutor,
  initialAgentState,
  killTask,
  leave,
  ping,
  pingsStopped,
  registerExecutor,
  registered,
  reportUsage,
  registrationMessage,
  runTask,
  shutdownFramework,
  sweep,
  updateFramework,
  type AgentEmitted,
  type AgentEnv,
  type AgentFlags,
  type AgentState,
  type RecoveredAgent,
} from './state.ts';

/** What the agent is started with. */
export interface AgentInput {
  self: string;
  info: AgentInfo;
  flags?: Partial<AgentFlags>;
  /** The id an earlier run of this agent was given (from its checkpoint): it re-registers with it. */
  agentId?: string;
  /** What the agent's checkpoints hold (a restart): recovered before it registers. */
  recovered?: RecoveredAgent;
  /** The agent's OS process. */
  osPid?: number;
}

/** The agent machine's context. */
export interface AgentContext {
  self: string;
  info: AgentInfo;
  flags: AgentFlags;
  attempt: number;
  state: AgentState;
  /** Read from the checkpoints, until the recovery took it. */
  recovered?: RecoveredAgent;
  osPid?: number;
}

/** Local events from the runtime (and the one the sweeper raises). */
export type AgentLocalEvent =
  | { type: 'detector.leaderChanged'; leader?: KnownMaster }
  /** The runtime made the container (its sandbox is `directory`). */
  | { type: 'executor.launched'; frameworkId: string; executorId: string; containerId: string; directory: string }
  | { type: 'executor.exited'; frameworkId: string; executorId: string; containerId: string; status: number; message?: string; limitation?: { reason: TaskReason; message: string } }
  /** Stop cleanly: shut every executor down so each task ends with an update. */
  | { type: 'agent.leave' }
  /** Tell the master the agent is gone for good (after `agent.leave` settled). */
  | { type: 'agent.unregister' }
  | { type: 'agent.pingTimeout' };

/** Every event the agent accepts. */
export type AgentEvent =
  | AgentLocalEvent
  | Inbound<
      | 'AgentRegistered' | 'AgentReregistered' | 'RunTask' | 'KillTask' | 'ShutdownFramework' | 'UpdateFramework'
      | 'StatusUpdateAcknowledgement' | 'FrameworkToExecutor' | 'Ping' | 'RegisterExecutor' | 'StatusUpdate'
      | 'ExecutorToFramework' | 'ReregisterExecutor' | 'GetContainerStatistics' | 'ShutdownAgent'
    >;

/** Builds the agent machine. */
export function createAgentMachine(deps: ActorDeps) {
  const env = (c: AgentContext): AgentEnv => ({ self: c.self, ...(c.osPid ? { osPid: c.osPid } : {}), info: c.info, flags: c.flags, now: deps.now(), newId: deps.newId });
  /** Wraps a pure handler as an action that emits its output. */
  const run = (fn: (s: AgentState, ev: any, e: AgentEnv) => AgentEmitted[]) =>
    enqueueActions<AgentContext, AgentEvent, undefined, AgentEvent, never, never, never, never, AgentEmitted>(({ context, event, enqueue }) => {
      let out: AgentEmitted[];
      try {
        out = fn(context.state, event, env(context));
      } catch (err) {
        // A bug must not take the agent (and its executors' updates) down: report it and go on.
        context.state.metrics['slave/handler_errors'] = (context.state.metrics['slave/handler_errors'] ?? 0) + 1;
        out = [log('error', `Failed to handle ${event.type}`, { error: String(err) })];
      }
      for (const o of out) enqueue.emit(o);
      enqueue.assign({ state: { ...context.state } });
    });

  return setup({
    types: {
      context: {} as AgentContext,
      input: {} as AgentInput,
      events: {} as AgentEvent,
      emitted: {} as AgentEmitted,
    },
    guards: {
      isFromMaster: ({ context, event }) => 'from' in event && isFromMaster(context.state.master, event),
      /** The agent has an id: it re-registers. */
      hasAgentId: ({ context }) => context.state.agentId !== undefined,
      /** From our master, and we have an id it knows us by (we are re-registering, not new). */
      isFromMasterKnowingUs: ({ context, event }) =>
        'from' in event && isFromMaster(context.state.master, event) && context.state.agentId !== undefined,
      /** Mesos `PingSlaveMessage.connected = false`: the master does not count us as registered. */
      isDisconnectedPing: ({ context, event }) =>
        event.type === 'Ping' && isFromMaster(context.state.master, event) && !event.body.connected,
      isNewLeader: ({ context, event }) =>
        event.type === 'detector.leaderChanged' && event.leader !== undefined &&
        (event.leader.pid !== context.state.master?.pid || event.leader.epoch !== context.state.master?.epoch),
      hasNoLeader: ({ event }) => event.type === 'detector.leaderChanged' && event.leader === undefined,
      recoveryDone: ({ context }) => recoveryDone(context.state),
    },
    actions: {
      recordMaster: assign(({ context, event }) => {
        if (event.type !== 'detector.leaderChanged') return {};
        context.state.master = event.leader;
        return { state: { ...context.state }, attempt: 0 };
      }),
      forgetMaster: assign(({ context }) => {
        context.state.master = undefined;
        disconnected(context.state);
        return { state: { ...context.state } };
      }),
      markDisconnected: assign(({ context }) => {
        disconnected(context.state);
        return { state: { ...context.state } };
      }),
      sendRegistration: enqueueActions(({ context, enqueue }) => {
        const m = context.state.master;
        if (m) enqueue.emit(send(m.pid, registrationMessage(context.state, env(context))));
      }),
      bumpAttempt: assign({ attempt: ({ context }) => context.attempt + 1 }),
      recordRegistered: run((s, ev: Inbound<'AgentRegistered' | 'AgentReregistered'>, e) => [
        log('info', `${ev.type === 'AgentRegistered' ? 'Registered' : 'Re-registered'} with master as ${ev.body.agentId}`, { master: ev.from }),
        ...registered(s, ev, e),
      ]),
      resetAttempts: assign({ attempt: 0 }),
      runTask: run(runTask),
      killTask: run(killTask),
      shutdownFramework: run(shutdownFramework),
      updateFramework: run(updateFramework),
      acknowledged: run(acknowledged),
      frameworkToExecutor: run((s, ev) => frameworkToExecutor(s, ev)),
      answerPing: run(ping),
      logForcedReregistration: enqueueActions(({ enqueue }) => {
        enqueue.emit(log('info', 'The master no longer counts this agent as registered; re-registering'));
      }),
      logPingTimeout: enqueueActions(({ context, enqueue }) => {
        enqueue.emit(log('warn', `No ping from the master for ${context.state.masterPingTimeoutMs / 1000} s; re-registering`, { master: context.state.master?.pid }));
      }),
      checkPings: enqueueActions(({ context, enqueue }) => {
        if (pingsStopped(context.state, env(context))) enqueue.raise({ type: 'agent.pingTimeout' });
      }),
      logDroppedBeforeRegistration: enqueueActions(({ context, event, enqueue }) => {
        context.state.metrics['slave/dropped_before_registration'] = (context.state.metrics['slave/dropped_before_registration'] ?? 0) + 1;
        if ('from' in event) enqueue.emit(log('warn', `Dropping ${event.type}: this agent has not registered with that master yet`, { from: event.from }));
      }),
      leave: run((s, _ev, e) => leave(s, e)),
      /** Mesos `Slave::shutdown`: the master marked us gone; every executor ends and the process exits. */
      shutDown: run((s, ev: Inbound<'ShutdownAgent'>, e) => [
        log('error', `The master asked this agent to shut down: ${ev.body.message}`, { master: ev.from }),
        ...leave(s, e),
        { type: 'effect.shutdown', message: ev.body.message },
      ]),
      sendUnregister: enqueueActions(({ context, enqueue }) => {
        const { master, agentId } = context.state;
        if (master && agentId) enqueue.emit(send(master.pid, { type: 'UnregisterAgent', body: { agentId } }));
      }),
      registerExecutor: run(registerExecutor),
      reregisterExecutor: run(reregisterExecutor),
      reportUsage: run((s, ev) => reportUsage(s, ev)),
      recover: enqueueActions(({ context, enqueue }) => {
        const r = context.recovered;
        if (!r) return;
        for (const o of recover(context.state, r, env(context))) enqueue.emit(o);
        enqueue.assign({ state: { ...context.state }, recovered: undefined });
      }),
      recoveryTimedOut: run((s, _ev, e) => recoveryTimedOut(s, e)),
      logRecovered: enqueueActions(({ enqueue }) => enqueue.emit(log('info', 'Finished recovery'))),
      executorStatusUpdate: run(executorStatusUpdate),
      executorToFramework: run((s, ev) => executorToFramework(s, ev)),
      executorExited: run(executorExited),
      executorLaunched: run(executorLaunched),
      sweep: run((s, _ev, e) => sweep(s, e)),
      logNotFromMaster: enqueueActions(({ event, enqueue }) => {
        if ('from' in event) enqueue.emit(log('warn', `Ignoring ${event.type} because it was not sent by the leading master`, { from: event.from }));
      }),
    },
    delays: {
      registrationBackoff: ({ context }) =>
        backoffMs(context.attempt, context.flags.registrationBackoffMs, context.flags.registrationBackoffMaxMs) * jitter(context.self, context.attempt),
      firstAttemptDelay: ({ context }) => context.flags.registrationBackoffMs * (jitter(context.self, -1 - context.attempt) - 0.5),
      sweepInterval: ({ context }) => context.flags.sweepIntervalMs,
      executorReregistrationTimeout: ({ context }) => context.flags.executorReregistrationTimeoutMs,
    },
  }).createMachine({
    id: 'agent',
    context: ({ input }) => ({
      self: input.self,
      info: input.info,
      flags: { ...DEFAULT_AGENT_FLAGS, ...input.flags },
      attempt: 0,
      state: input.agentId ? { ...initialAgentState(), agentId: input.agentId } : initialAgentState(),
      ...(input.recovered ? { recovered: input.recovered } : {}),
      ...(input.osPid ? { osPid: input.osPid } : {}),
    }),
    type: 'parallel',
    on: {
      'agent.leave': { actions: 'leave' },
      'agent.unregister': { actions: 'sendUnregister' },
    },
    states: {
      /**
       * Recovery, on every start (nothing to recover on a fresh work dir): executors found running
       * have `executorReregistrationTimeout` to re-register. @see Mesos `Slave::recover`
       */
      recovery: {
        initial: 'recovering',
        states: {
          recovering: {
            entry: 'recover',
            always: { guard: 'recoveryDone', target: 'recovered' },
            after: { executorReregistrationTimeout: { target: 'recovered', actions: 'recoveryTimedOut' } },
          },
          recovered: { tags: ['recovered'], entry: 'logRecovered' },
        },
      },
      connection: {
        initial: 'disconnected',
        on: {
          'detector.leaderChanged': [
            { guard: 'isNewLeader', target: '.registering', actions: 'recordMaster' },
            { guard: 'hasNoLeader', target: '.disconnected', actions: 'forgetMaster' },
          ],
        },
        states: {
          /** No master yet (or recovering): what a master sends is dropped, and said so. */
          disconnected: {
            on: {
              RunTask: { actions: 'logDroppedBeforeRegistration' },
              KillTask: { actions: 'logDroppedBeforeRegistration' },
              ShutdownFramework: { actions: 'logDroppedBeforeRegistration' },
              StatusUpdateAcknowledgement: { actions: 'logDroppedBeforeRegistration' },
              FrameworkToExecutor: { actions: 'logDroppedBeforeRegistration' },
              UpdateFramework: { actions: 'logDroppedBeforeRegistration' },
              Ping: { actions: 'logDroppedBeforeRegistration' },
            },
          },
          registering: {
            entry: 'markDisconnected',
            initial: 'choosing',
            states: {
              choosing: {
                always: [{ guard: 'hasAgentId', target: 'spreading' }, { target: 'attempting' }],
              },
              /**
               * Re-registering: the first attempt waits a random part of one backoff (Mesos does the
               * same), so that thousands of agents that lost their master together do not all
               * arrive at the new one in the same instant.
               */
              spreading: { after: { firstAttemptDelay: 'attempting' } },
              attempting: {
                entry: 'sendRegistration',
                after: { registrationBackoff: { target: 'attempting', reenter: true, actions: 'bumpAttempt' } },
              },
            },
            on: {
              AgentRegistered: [
                { guard: 'isFromMaster', target: 'registered', actions: ['recordRegistered', 'resetAttempts'] },
                { actions: 'logNotFromMaster' },
              ],
              AgentReregistered: [
                { guard: 'isFromMaster', target: 'registered', actions: ['recordRegistered', 'resetAttempts'] },
                { actions: 'logNotFromMaster' },
              ],
              // A master that already knows us may go on sending work while we re-register.
              RunTask: [{ guard: 'isFromMasterKnowingUs', actions: 'runTask' }, { actions: 'logDroppedBeforeRegistration' }],
              KillTask: [{ guard: 'isFromMasterKnowingUs', actions: 'killTask' }, { actions: 'logDroppedBeforeRegistration' }],
              ShutdownFramework: [{ guard: 'isFromMasterKnowingUs', actions: 'shutdownFramework' }, { actions: 'logDroppedBeforeRegistration' }],
              StatusUpdateAcknowledgement: [{ guard: 'isFromMasterKnowingUs', actions: 'acknowledged' }, { actions: 'logDroppedBeforeRegistration' }],
              FrameworkToExecutor: [{ guard: 'isFromMasterKnowingUs', actions: 'frameworkToExecutor' }, { actions: 'logDroppedBeforeRegistration' }],
              UpdateFramework: [{ guard: 'isFromMasterKnowingUs', actions: 'updateFramework' }, { actions: 'logDroppedBeforeRegistration' }],
              Ping: [{ guard: 'isFromMaster', actions: 'answerPing' }, { actions: 'logNotFromMaster' }],
              ShutdownAgent: [{ guard: 'isFromMaster', target: 'shutDown', actions: 'shutDown' }, { actions: 'logNotFromMaster' }],
            },
          },
          registered: {
            tags: ['registered'],
            on: {
              // A repeat from our master (it answered a retry twice) changes nothing.
              AgentRegistered: [{ guard: 'isFromMaster' }, { actions: 'logNotFromMaster' }],
              AgentReregistered: [{ guard: 'isFromMaster' }, { actions: 'logNotFromMaster' }],
              RunTask: [{ guard: 'isFromMaster', actions: 'runTask' }, { actions: 'logNotFromMaster' }],
              KillTask: [{ guard: 'isFromMaster', actions: 'killTask' }, { actions: 'logNotFromMaster' }],
              ShutdownFramework: [{ guard: 'isFromMaster', actions: 'shutdownFramework' }, { actions: 'logNotFromMaster' }],
              UpdateFramework: [{ guard: 'isFromMaster', actions: 'updateFramework' }, { actions: 'logNotFromMaster' }],
              StatusUpdateAcknowledgement: [{ guard: 'isFromMaster', actions: 'acknowledged' }, { actions: 'logNotFromMaster' }],
              FrameworkToExecutor: [{ guard: 'isFromMaster', actions: 'frameworkToExecutor' }, { actions: 'logNotFromMaster' }],
              Ping: [
                { guard: 'isDisconnectedPing', target: 'registering', actions: ['answerPing', 'logForcedReregistration', 'resetAttempts'] },
                { guard: 'isFromMaster', actions: 'answerPing' },
                { actions: 'logNotFromMaster' },
              ],
              'agent.pingTimeout': { target: 'registering', actions: ['logPingTimeout', 'resetAttempts'] },
              ShutdownAgent: [{ guard: 'isFromMaster', target: 'shutDown', actions: 'shutDown' }, { actions: 'logNotFromMaster' }],
            },
          },
          /** Told to shut down by the master: no more registering, whoever leads. */
          shutDown: {
            tags: ['shutDown'],
            on: { 'detector.leaderChanged': {} },
          },
        },
      },
      executors: {
        on: {
          RegisterExecutor: { actions: 'registerExecutor' },
          ReregisterExecutor: { actions: 'reregisterExecutor' },
          GetContainerStatistics: { actions: 'reportUsage' },
          StatusUpdate: { actions: 'executorStatusUpdate' },
          ExecutorToFramework: { actions: 'executorToFramework' },
          'executor.launched': { actions: 'executorLaunched' },
          'executor.exited': { actions: 'executorExited' },
        },
      },
      sweeper: {
        initial: 'waiting',
        states: {
          waiting: { after: { sweepInterval: { target: 'waiting', reenter: true, actions: ['sweep', 'checkPings'] } } },
        },
      },
    },
  });
}

/** The agent machine type. */
export type AgentMachine = ReturnType<typeof createAgentMachine>;
