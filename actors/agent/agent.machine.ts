/**
 * The agent: finds the leading master, registers (re-registers once it has an id) with backoff,
 * launches executors for the tasks it is given, relays kills, framework messages and status
 * updates, and retries unacknowledged updates until the master confirms them.
 *
 * Three regions run side by side: `connection` (talking to the master), `executors` (talking to
 * executor processes, which goes on while the master is away) and `sweeper` (one timer for every
 * deadline, instead of a timer per update or executor).
 *
 * @see Mesos `src/slave/slave.cpp`.
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { AgentInfo } from '../../protocols/records.ts';
import { backoffMs, isFromMaster, log, send, type ActorDeps, type Inbound, type KnownMaster } from '../common.ts';
import {
  DEFAULT_AGENT_FLAGS,
  acknowledged,
  executorExited,
  executorStatusUpdate,
  executorToFramework,
  frameworkToExecutor,
  initialAgentState,
  killTask,
  registerExecutor,
  registered,
  registrationMessage,
  runTask,
  shutdownFramework,
  sweep,
  type AgentEmitted,
  type AgentEnv,
  type AgentFlags,
  type AgentState,
} from './state.ts';

/** What the agent is started with. */
export interface AgentInput {
  self: string;
  info: AgentInfo;
  flags?: Partial<AgentFlags>;
}

/** The agent machine's context. */
export interface AgentContext {
  self: string;
  info: AgentInfo;
  flags: AgentFlags;
  attempt: number;
  state: AgentState;
}

/** Local events from the runtime. */
export type AgentLocalEvent =
  | { type: 'detector.leaderChanged'; leader?: KnownMaster }
  | { type: 'executor.exited'; frameworkId: string; executorId: string; containerId: string; status: number; message?: string };

/** Every event the agent accepts. */
export type AgentEvent =
  | AgentLocalEvent
  | Inbound<
      | 'AgentRegistered' | 'AgentReregistered' | 'RunTask' | 'KillTask' | 'ShutdownFramework'
      | 'StatusUpdateAcknowledgement' | 'FrameworkToExecutor' | 'Ping' | 'RegisterExecutor' | 'StatusUpdate'
      | 'ExecutorToFramework'
    >;

/** Builds the agent machine. */
export function createAgentMachine(deps: ActorDeps) {
  const env = (c: AgentContext): AgentEnv => ({ self: c.self, info: c.info, flags: c.flags, now: deps.now(), newId: deps.newId });
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
      isNewLeader: ({ context, event }) =>
        event.type === 'detector.leaderChanged' && event.leader !== undefined &&
        (event.leader.pid !== context.state.master?.pid || event.leader.epoch !== context.state.master?.epoch),
      hasNoLeader: ({ event }) => event.type === 'detector.leaderChanged' && event.leader === undefined,
    },
    actions: {
      recordMaster: assign(({ context, event }) => {
        if (event.type !== 'detector.leaderChanged') return {};
        context.state.master = event.leader;
        return { state: { ...context.state }, attempt: 0 };
      }),
      forgetMaster: assign(({ context }) => {
        context.state.master = undefined;
        return { state: { ...context.state } };
      }),
      sendRegistration: enqueueActions(({ context, enqueue }) => {
        const m = context.state.master;
        if (m) enqueue.emit(send(m.pid, registrationMessage(context.state, env(context))));
      }),
      bumpAttempt: assign({ attempt: ({ context }) => context.attempt + 1 }),
      recordRegistered: run((s, ev: Inbound<'AgentRegistered' | 'AgentReregistered'>, e) => [
        log('info', `Registered with master as ${ev.body.agentId}`, { master: ev.from }),
        ...registered(s, ev.body.agentId, e),
      ]),
      runTask: run(runTask),
      killTask: run(killTask),
      shutdownFramework: run(shutdownFramework),
      acknowledged: run(acknowledged),
      frameworkToExecutor: run((s, ev) => frameworkToExecutor(s, ev)),
      sendPong: enqueueActions(({ context, event, enqueue }) => {
        if ('from' in event) enqueue.emit(send(event.from, { type: 'Pong', body: { agentId: context.state.agentId } }));
      }),
      registerExecutor: run(registerExecutor),
      executorStatusUpdate: run(executorStatusUpdate),
      executorToFramework: run((s, ev) => executorToFramework(s, ev)),
      executorExited: run(executorExited),
      sweep: run((s, _ev, e) => sweep(s, e)),
      logNotFromMaster: enqueueActions(({ event, enqueue }) => {
        if ('from' in event) enqueue.emit(log('warn', `Ignoring ${event.type} because it was not sent by the leading master`, { from: event.from }));
      }),
    },
    delays: {
      registrationBackoff: ({ context }) =>
        backoffMs(context.attempt, context.flags.registrationBackoffMs, context.flags.registrationBackoffMaxMs),
      sweepInterval: ({ context }) => context.flags.sweepIntervalMs,
    },
  }).createMachine({
    id: 'agent',
    context: ({ input }) => ({
      self: input.self,
      info: input.info,
      flags: { ...DEFAULT_AGENT_FLAGS, ...input.flags },
      attempt: 0,
      state: initialAgentState(),
    }),
    type: 'parallel',
    states: {
      connection: {
        initial: 'disconnected',
        on: {
          'detector.leaderChanged': [
            { guard: 'isNewLeader', target: '.registering', actions: 'recordMaster' },
            { guard: 'hasNoLeader', target: '.disconnected', actions: 'forgetMaster' },
          ],
        },
        states: {
          disconnected: {},
          registering: {
            entry: 'sendRegistration',
            after: { registrationBackoff: { target: 'registering', reenter: true, actions: 'bumpAttempt' } },
            on: {
              AgentRegistered: [
                { guard: 'isFromMaster', target: 'registered', actions: 'recordRegistered' },
                { actions: 'logNotFromMaster' },
              ],
              AgentReregistered: [
                { guard: 'isFromMaster', target: 'registered', actions: 'recordRegistered' },
                { actions: 'logNotFromMaster' },
              ],
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
              StatusUpdateAcknowledgement: [{ guard: 'isFromMaster', actions: 'acknowledged' }, { actions: 'logNotFromMaster' }],
              FrameworkToExecutor: [{ guard: 'isFromMaster', actions: 'frameworkToExecutor' }, { actions: 'logNotFromMaster' }],
              Ping: [{ guard: 'isFromMaster', actions: 'sendPong' }, { actions: 'logNotFromMaster' }],
            },
          },
        },
      },
      executors: {
        on: {
          RegisterExecutor: { actions: 'registerExecutor' },
          StatusUpdate: { actions: 'executorStatusUpdate' },
          ExecutorToFramework: { actions: 'executorToFramework' },
          'executor.exited': { actions: 'executorExited' },
        },
      },
      sweeper: {
        initial: 'waiting',
        states: {
          waiting: { after: { sweepInterval: { target: 'waiting', reenter: true, actions: 'sweep' } } },
        },
      },
    },
  });
}

/** The agent machine type. */
export type AgentMachine = ReturnType<typeof createAgentMachine>;
