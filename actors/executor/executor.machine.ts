/**
 * The executor driver: registers the executor process with its agent, turns agent messages into
 * executor callbacks (`callback.*` events) and executor calls into messages, and keeps every status
 * update until the agent acknowledges it.
 *
 * When its agent's process ends (the runtime notices and sends `driver.agentExited`), an executor
 * of a framework that does not checkpoint shuts down at once; one whose framework checkpoints waits
 * `recoveryTimeoutMs` for a restarted agent to say `ReconnectExecutor`, then re-registers with the
 * tasks it runs and the updates not yet acknowledged, so nothing is lost across the restart. An
 * agent that stays away longer gets nothing: the executor shuts down.
 *
 * @see Mesos `src/exec/exec.cpp` (`ExecutorProcess`).
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { AgentInfo, ExecutorInfo, FrameworkInfo, StatusUpdateRecord, TaskInfo, TaskStatus } from '../../protocols/records.ts';
import { isTerminalState } from '../../protocols/task-states.ts';
import { backoffMs, log, send, type ActorDeps, type Inbound, type LogEvent, type SendEvent } from '../common.ts';

/** What the executor driver is started with (Mesos passes these as `MESOS_*` environment variables). */
export interface ExecutorInput {
  self: string;
  agentPid: string;
  frameworkId: string;
  executorId: string;
  registrationBackoffMs?: number;
  /** The framework checkpoints: wait for a restarted agent instead of shutting down. @see `MESOS_CHECKPOINT` */
  checkpoint?: boolean;
  /** How long to wait for a restarted agent. @see `MESOS_RECOVERY_TIMEOUT` */
  recoveryTimeoutMs?: number;
}

/** The executor machine's context. */
export interface ExecutorContext {
  self: string;
  agentPid: string;
  frameworkId: string;
  executorId: string;
  agentId?: string;
  attempt: number;
  registrationBackoffMs: number;
  /** Updates sent but not yet acknowledged, by uuid. */
  unacknowledged: Record<string, StatusUpdateRecord>;
  tasks: Record<string, TaskInfo>;
  checkpoint: boolean;
  recoveryTimeoutMs: number;
}

/** Mesos' default `--recovery_timeout`: 15 minutes. */
export const DEFAULT_RECOVERY_TIMEOUT_MS = 15 * 60_000;

/** Calls an executor makes. @see `ExecutorDriver` */
export type ExecutorCall =
  | { type: 'driver.sendStatusUpdate'; status: Omit<TaskStatus, 'timestamp'> & { timestamp?: number } }
  | { type: 'driver.sendFrameworkMessage'; data: Uint8Array }
  | { type: 'driver.stop' }
  /** The runtime saw the agent's process end. */
  | { type: 'driver.agentExited' };

/** Callbacks the driver delivers. @see `Executor` */
export type ExecutorCallback =
  | { type: 'callback.registered'; executor: ExecutorInfo; framework: FrameworkInfo; agent: AgentInfo; agentOsPid?: number }
  | { type: 'callback.reregistered'; agent: AgentInfo; agentOsPid?: number }
  | { type: 'callback.disconnected' }
  | { type: 'callback.launchTask'; task: TaskInfo }
  | { type: 'callback.killTask'; taskId: string }
  | { type: 'callback.frameworkMessage'; data: Uint8Array }
  | { type: 'callback.shutdown'; gracePeriodMs: number }
  | { type: 'callback.error'; message: string };

/** Every event the executor driver accepts. */
export type ExecutorEvent =
  | ExecutorCall
  | Inbound<
      | 'ExecutorRegistered' | 'ExecutorReregistered' | 'ReconnectExecutor' | 'RunTask' | 'KillTask' | 'FrameworkToExecutor'
      | 'StatusUpdateAcknowledgement' | 'ShutdownExecutor'
    >;

/** What the executor driver emits. */
export type ExecutorEmitted = SendEvent | LogEvent | ExecutorCallback;

/** Builds the executor-driver machine. */
export function createExecutorMachine(deps: ActorDeps) {
  return setup({
    types: {
      context: {} as ExecutorContext,
      input: {} as ExecutorInput,
      events: {} as ExecutorEvent,
      emitted: {} as ExecutorEmitted,
    },
    guards: {
      /** Mesos exec.cpp: only the agent that launched us may talk to us. */
      isFromAgent: ({ context, event }) => 'from' in event && event.from === context.agentPid,
      checkpoints: ({ context }) => context.checkpoint,
    },
    actions: {
      sendRegister: enqueueActions(({ context, enqueue }) =>
        enqueue.emit(send(context.agentPid, { type: 'RegisterExecutor', body: { frameworkId: context.frameworkId, executorId: context.executorId } })),
      ),
      bumpAttempt: assign({ attempt: ({ context }) => context.attempt + 1 }),
      notifyRegistered: enqueueActions(({ event, enqueue }) => {
        if (event.type !== 'ExecutorRegistered') return;
        enqueue.assign({ agentId: event.body.agentId });
        enqueue.emit({
          type: 'callback.registered', executor: event.body.executor, framework: event.body.framework, agent: event.body.agent,
          ...(event.body.agentOsPid ? { agentOsPid: event.body.agentOsPid } : {}),
        });
      }),
      launchTask: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'RunTask') return;
        enqueue.assign({ tasks: { ...context.tasks, [event.body.task.taskId]: event.body.task } });
        enqueue.emit({ type: 'callback.launchTask', task: event.body.task });
      }),
      killTask: enqueueActions(({ event, enqueue }) => {
        if (event.type === 'KillTask') enqueue.emit({ type: 'callback.killTask', taskId: event.body.taskId });
      }),
      frameworkMessage: enqueueActions(({ event, enqueue }) => {
        if (event.type === 'FrameworkToExecutor') enqueue.emit({ type: 'callback.frameworkMessage', data: event.body.data });
      }),
      acknowledged: assign(({ context, event }) => {
        if (event.type !== 'StatusUpdateAcknowledgement') return {};
        const { [event.body.uuid]: acked, ...rest } = context.unacknowledged;
        // A task whose terminal update is acknowledged is done: a re-registration no longer names it.
        if (!acked || !isTerminalState(acked.status.state)) return { unacknowledged: rest };
        const { [acked.status.taskId]: _done, ...tasks } = context.tasks;
        return { unacknowledged: rest, tasks };
      }),
      recordAgentId: assign(({ event }) => (event.type === 'ReconnectExecutor' ? { agentId: event.body.agentId, attempt: 0 } : {})),
      sendReregister: enqueueActions(({ context, enqueue }) => {
        enqueue.emit(send(context.agentPid, {
          type: 'ReregisterExecutor',
          body: {
            frameworkId: context.frameworkId,
            executorId: context.executorId,
            tasks: Object.values(context.tasks),
            updates: Object.values(context.unacknowledged),
          },
        }));
      }),
      notifyReregistered: enqueueActions(({ event, enqueue }) => {
        if (event.type !== 'ExecutorReregistered') return;
        enqueue.assign({ agentId: event.body.agentId });
        enqueue.emit(log('info', 'Re-registered with the restarted agent'));
        enqueue.emit({ type: 'callback.reregistered', agent: event.body.agent, ...(event.body.agentOsPid ? { agentOsPid: event.body.agentOsPid } : {}) });
      }),
      notifyDisconnected: enqueueActions(({ context, enqueue }) => {
        enqueue.emit(log('warn', `The agent exited; waiting ${context.recoveryTimeoutMs / 1000} s for it to come back`));
        enqueue.emit({ type: 'callback.disconnected' });
      }),
      shutdownAgentGone: enqueueActions(({ context, enqueue }) => {
        enqueue.emit(log('warn', context.checkpoint
          ? `The agent did not come back within ${context.recoveryTimeoutMs / 1000} s; shutting down`
          : 'The agent exited and the framework does not checkpoint; shutting down'));
        enqueue.emit({ type: 'callback.shutdown', gracePeriodMs: 5000 });
      }),
      shutdown: enqueueActions(({ event, enqueue }) => {
        const grace = event.type === 'ShutdownExecutor' ? (event.body.gracePeriodSeconds ?? 5) * 1000 : 5000;
        enqueue.emit({ type: 'callback.shutdown', gracePeriodMs: grace });
      }),
      sendStatusUpdate: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'driver.sendStatusUpdate') return;
        const status: TaskStatus = {
          ...event.status,
          timestamp: event.status.timestamp ?? deps.now(),
          executorId: context.executorId,
          source: 'SOURCE_EXECUTOR',
        };
        if (context.agentId) status.agentId = context.agentId;
        const update: StatusUpdateRecord = { frameworkId: context.frameworkId, executorId: context.executorId, status, uuid: deps.newId() };
        if (context.agentId) update.agentId = context.agentId;
        enqueue.assign({ unacknowledged: { ...context.unacknowledged, [update.uuid]: update } });
        enqueue.emit(send(context.agentPid, { type: 'StatusUpdate', body: { update } }));
      }),
      sendFrameworkMessage: enqueueActions(({ context, event, enqueue }) => {
        if (event.type !== 'driver.sendFrameworkMessage') return;
        enqueue.emit(send(context.agentPid, {
          type: 'ExecutorToFramework',
          body: { agentId: context.agentId ?? '', frameworkId: context.frameworkId, executorId: context.executorId, data: event.data },
        }));
      }),
      logNotFromAgent: enqueueActions(({ event, enqueue }) => {
        if ('from' in event) enqueue.emit(log('warn', `Ignoring ${event.type} because it was not sent by our agent`, { from: event.from }));
      }),
    },
    delays: {
      registrationBackoff: ({ context }) => backoffMs(context.attempt, context.registrationBackoffMs, 10 * context.registrationBackoffMs),
      recoveryTimeout: ({ context }) => context.recoveryTimeoutMs,
    },
  }).createMachine({
    id: 'executor',
    context: ({ input }) => ({
      self: input.self,
      agentPid: input.agentPid,
      frameworkId: input.frameworkId,
      executorId: input.executorId,
      attempt: 0,
      registrationBackoffMs: input.registrationBackoffMs ?? 1000,
      unacknowledged: {},
      tasks: {},
      checkpoint: input.checkpoint ?? false,
      recoveryTimeoutMs: input.recoveryTimeoutMs ?? DEFAULT_RECOVERY_TIMEOUT_MS,
    }),
    initial: 'registering',
    on: {
      'driver.stop': { target: '.stopped' },
    },
    states: {
      registering: {
        entry: 'sendRegister',
        after: { registrationBackoff: { target: 'registering', reenter: true, actions: 'bumpAttempt' } },
        on: {
          ExecutorRegistered: [{ guard: 'isFromAgent', target: 'registered', actions: 'notifyRegistered' }, { actions: 'logNotFromAgent' }],
          ShutdownExecutor: [{ guard: 'isFromAgent', target: 'shuttingDown', actions: 'shutdown' }, { actions: 'logNotFromAgent' }],
        },
      },
      registered: {
        tags: ['registered'],
        on: {
          RunTask: [{ guard: 'isFromAgent', actions: 'launchTask' }, { actions: 'logNotFromAgent' }],
          KillTask: [{ guard: 'isFromAgent', actions: 'killTask' }, { actions: 'logNotFromAgent' }],
          FrameworkToExecutor: [{ guard: 'isFromAgent', actions: 'frameworkMessage' }, { actions: 'logNotFromAgent' }],
          StatusUpdateAcknowledgement: [{ guard: 'isFromAgent', actions: 'acknowledged' }, { actions: 'logNotFromAgent' }],
          ShutdownExecutor: [{ guard: 'isFromAgent', target: 'shuttingDown', actions: 'shutdown' }, { actions: 'logNotFromAgent' }],
          // The agent restarted faster than its exit was noticed.
          ReconnectExecutor: [{ guard: 'isFromAgent', target: 'disconnected.reregistering', actions: 'recordAgentId' }, { actions: 'logNotFromAgent' }],
          'driver.agentExited': [
            { guard: 'checkpoints', target: 'disconnected', actions: 'notifyDisconnected' },
            { target: 'abandoned', actions: 'shutdownAgentGone' },
          ],
          'driver.sendStatusUpdate': { actions: 'sendStatusUpdate' },
          'driver.sendFrameworkMessage': { actions: 'sendFrameworkMessage' },
        },
      },
      /**
       * The agent is gone (or restarting): tasks run on, updates are kept for the re-registration,
       * and after `recoveryTimeoutMs` without the agent the executor gives up.
       */
      disconnected: {
        tags: ['disconnected'],
        initial: 'waiting',
        after: { recoveryTimeout: { target: 'abandoned', actions: 'shutdownAgentGone' } },
        states: {
          waiting: {},
          /** Told where the agent is: re-registers, again after each backoff (a message may be lost), until answered. */
          reregistering: {
            entry: 'sendReregister',
            after: { registrationBackoff: { target: 'reregistering', reenter: true, actions: 'bumpAttempt' } },
          },
        },
        on: {
          ReconnectExecutor: [{ guard: 'isFromAgent', target: '.reregistering', actions: 'recordAgentId' }, { actions: 'logNotFromAgent' }],
          ExecutorReregistered: [{ guard: 'isFromAgent', target: 'registered', actions: 'notifyReregistered' }, { actions: 'logNotFromAgent' }],
          ShutdownExecutor: [{ guard: 'isFromAgent', target: 'shuttingDown', actions: 'shutdown' }, { actions: 'logNotFromAgent' }],
          StatusUpdateAcknowledgement: [{ guard: 'isFromAgent', actions: 'acknowledged' }, { actions: 'logNotFromAgent' }],
          'driver.sendStatusUpdate': { actions: 'sendStatusUpdate' },
        },
      },
      shuttingDown: {
        tags: ['shuttingDown'],
        on: {
          StatusUpdateAcknowledgement: { guard: 'isFromAgent', actions: 'acknowledged' },
          'driver.sendStatusUpdate': { actions: 'sendStatusUpdate' },
        },
      },
      /** Shutting down without an agent: nothing will be acknowledged any more. */
      abandoned: {
        tags: ['shuttingDown', 'abandoned'],
        on: { 'driver.sendStatusUpdate': { actions: 'sendStatusUpdate' } },
      },
      stopped: { type: 'final' },
    },
  });
}

/** The executor-driver machine type. */
export type ExecutorMachine = ReturnType<typeof createExecutorMachine>;
