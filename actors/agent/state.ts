/**
 * The agent's bookkeeping and the pure handlers behind `agent.machine.ts`: executors and their
 * tasks, the per-task status-update streams (at-least-once delivery to the master, one update
 * outstanding per task, retried with backoff until acknowledged), and the re-registration report.
 *
 * Handlers mutate the state they are given and return what to emit: messages to send and
 * effects (launch or kill an executor process) for the runtime to perform.
 *
 * @see Mesos `src/slave/slave.cpp`, `src/slave/task_status_update_manager.cpp`.
 */
import type {
  AgentInfo,
  ExecutorInfo,
  FrameworkInfo,
  StatusUpdateRecord,
  Task,
  TaskInfo,
  TaskStatus,
} from '../../protocols/records.ts';
import { isTerminalState, type TaskReason, type TaskState } from '../../protocols/task-states.ts';
import type { Message } from '../../protocols/messages.ts';
import type { Resources } from '../../protocols/resources.ts';
import { executorPid, parsePid } from '../../protocols/pid.ts';
import { backoffMs, log, send, type Inbound, type KnownMaster, type LogEvent, type SendEvent } from '../common.ts';

/** Agent flags; every timer is a flag. */
export interface AgentFlags {
  /** First registration retry; doubles up to `registrationBackoffMaxMs`. @see `--registration_backoff_factor` */
  registrationBackoffMs: number;
  registrationBackoffMaxMs: number;
  /** @see `--executor_registration_timeout` */
  executorRegistrationTimeoutMs: number;
  /** @see `--executor_shutdown_grace_period` */
  executorShutdownGracePeriodMs: number;
  /** First status-update retry; doubles up to `statusUpdateRetryMaxMs`. */
  statusUpdateRetryMs: number;
  statusUpdateRetryMaxMs: number;
  /** How often deadlines (retries, registration timeouts, the master's pings) are checked. */
  sweepIntervalMs: number;
  /** How long a restarted agent waits for its executors to re-register. @see `--executor_reregistration_timeout` */
  executorReregistrationTimeoutMs: number;
  /** How long executors of checkpointing frameworks wait for a restarted agent. @see `--recovery_timeout` */
  recoveryTimeoutMs: number;
}

/** Mesos' defaults. */
export const DEFAULT_AGENT_FLAGS: AgentFlags = {
  registrationBackoffMs: 1000,
  registrationBackoffMaxMs: 60_000,
  executorRegistrationTimeoutMs: 60_000,
  executorShutdownGracePeriodMs: 5000,
  statusUpdateRetryMs: 10_000,
  statusUpdateRetryMaxMs: 600_000,
  sweepIntervalMs: 1000,
  executorReregistrationTimeoutMs: 2000,
  recoveryTimeoutMs: 15 * 60_000,
};

/** One executor the agent runs (or is starting). */
export interface ExecutorEntry {
  frameworkId: string;
  info: ExecutorInfo;
  /** Generated for a command task: runs the built-in command executor. */
  commandExecutor: boolean;
  containerId: string;
  /** The container's sandbox, once the runtime has made it. */
  directory?: string;
  /** Set once the executor process registered. */
  pid?: string;
  /** `recovering`: found running by a restarted agent, waiting for it to re-register. */
  phase: 'launching' | 'recovering' | 'running' | 'terminating' | 'terminated';
  launchedAt: number;
  /** Tasks waiting for the executor to register. */
  queued: TaskInfo[];
  /** Tasks sent to (or finished on) the executor, until their terminal update is acknowledged. */
  tasks: Map<string, Task>;
  /** A recovered executor's tasks as launched: those it never got are sent if it registers anew. */
  recoveredInfos?: Map<string, TaskInfo>;
  /** Its tasks whose terminal update was acknowledged, oldest first (at most {@link COMPLETED_LIMITS}`.tasksPerExecutor`). */
  completedTasks?: Task[];
  /** Why the agent ended it: its tasks fail with this reason whatever the exit. */
  failure?: { reason: TaskReason; message: string };
}

/** A task's status-update stream. @see `TaskStatusUpdateStream` */
export interface UpdateStream {
  frameworkId: string;
  taskId: string;
  pending: StatusUpdateRecord[];
  /** Uuids already accepted: duplicates are dropped. */
  seen: Set<string>;
  sentAt?: number;
  retryMs: number;
  /** The executor whose checkpoint holds the stream, when its framework checkpoints. */
  checkpointExecutor?: string;
}

/**
 * What the agent writes to its meta directory for frameworks that checkpoint (`FrameworkInfo.checkpoint`):
 * enough for a restarted agent to know every executor, task and unacknowledged update.
 * @see Mesos `src/slave/state.hpp`
 */
export type CheckpointOp =
  | { op: 'framework'; frameworkId: string; info: FrameworkInfo }
  | { op: 'executor'; frameworkId: string; executorId: string; info: ExecutorInfo; commandExecutor: boolean; containerId: string }
  | { op: 'task'; frameworkId: string; executorId: string; task: TaskInfo }
  | { op: 'update'; frameworkId: string; executorId: string; taskId: string; update: StatusUpdateRecord }
  | { op: 'ack'; frameworkId: string; executorId: string; taskId: string; uuid: string }
  | { op: 'forgetTask'; frameworkId: string; executorId: string; taskId: string }
  | { op: 'forgetExecutor'; frameworkId: string; executorId: string }
  | { op: 'forgetFramework'; frameworkId: string };

/** A checkpointed executor, as a restarted agent finds it. */
export interface RecoveredExecutor {
  frameworkId: string;
  info: ExecutorInfo;
  commandExecutor: boolean;
  containerId: string;
  directory?: string;
  /** Its container still runs. */
  alive: boolean;
  /** Its tasks with every update checkpointed for them and the uuids acknowledged. */
  tasks: Array<{ info: TaskInfo; updates: StatusUpdateRecord[]; acked: string[] }>;
}

/** Everything a restarted agent read from its checkpoints. */
export interface RecoveredAgent {
  frameworks: Array<FrameworkInfo & { id: string }>;
  executors: RecoveredExecutor[];
}

/** Effects the runtime performs on the agent's behalf. */
export type AgentEffect =
  | {
      type: 'effect.launchExecutor';
      frameworkId: string;
      executorId: string;
      containerId: string;
      executor: ExecutorInfo;
      commandExecutor: boolean;
      agentId: string;
      /** What the container may use: the executor's resources and its first task's. */
      resources: Resources;
      /** The framework checkpoints: the executor outlives an agent restart. */
      checkpoint: boolean;
      /** The OS user to run as: the command's, else the framework's. */
      user?: string;
    }
  | { type: 'effect.killExecutor'; frameworkId: string; executorId: string; containerId: string; graceMs: number }
  /** The master told the agent to shut down (it was marked gone): the process should end. */
  | { type: 'effect.shutdown'; message: string }
  /** Answer `to` with what each running executor's container uses (`ContainerStatistics`). */
  | { type: 'effect.reportUsage'; to: string; containers: Array<{ frameworkId: string; executorId: string; executorName?: string; containerId: string }> }
  /** The container's limits follow the resources its executor now holds. */
  | { type: 'effect.updateContainer'; containerId: string; resources: Resources }
  /** Write to the checkpoint before anything emitted after it (sends included) happens. */
  | ({ type: 'effect.checkpoint' } & CheckpointOp);

/** What the agent emits. */
export type AgentEmitted = SendEvent | LogEvent | AgentEffect;

/** The agent's bookkeeping. */
export interface AgentState {
  agentId?: string;
  master?: KnownMaster;
  /**
   * Registered with `master`: status updates flow only then (Mesos pauses its status-update
   * manager while disconnected and resumes it on re-registration).
   */
  connected: boolean;
  /** When the master last pinged (or admitted) this agent. */
  lastPingAt: number;
  /** Without a ping for this long, the agent re-registers. Set by the master at registration. */
  masterPingTimeoutMs: number;
  /** The agent is stopping: its executors are being shut down and new tasks are refused. */
  leaving: boolean;
  frameworks: Map<string, FrameworkInfo>;
  /** Frameworks the master removed, being shut down here: no new tasks, no more updates. */
  terminating: Set<string>;
  executors: Map<string, ExecutorEntry>;
  streams: Map<string, UpdateStream>;
  metrics: Record<string, number>;
  /**
   * Ended executors by framework, oldest first, and frameworks the agent forgot, each with its
   * ended executors: what operators read (`/slave(1)/state`), nothing else. Bounded by
   * {@link COMPLETED_LIMITS}. @see Mesos `Framework::completedExecutors`, `Slave::completedFrameworks`
   */
  completedExecutors: Map<string, ExecutorEntry[]>;
  completedFrameworks: CompletedFramework[];
}

/** A framework the agent forgot (shut down), with its ended executors. */
export interface CompletedFramework {
  id: string;
  info: FrameworkInfo;
  executors: ExecutorEntry[];
}

/**
 * How much ended work the agent remembers for operators: Mesos' `MAX_COMPLETED_TASKS_PER_EXECUTOR`,
 * `--max_completed_executors_per_framework` and `MAX_COMPLETED_FRAMEWORKS`.
 */
export const COMPLETED_LIMITS = { tasksPerExecutor: 200, executorsPerFramework: 150, frameworks: 50 } as const;

/** Mesos' `DEFAULT_MASTER_PING_TIMEOUT`: 15 s × 5, until the master says otherwise. */
export const DEFAULT_MASTER_PING_TIMEOUT_MS = 75_000;

/** What handlers need besides the state. */
export interface AgentEnv {
  self: string;
  /** The agent's OS process (told to re-registering executors, which watch it). */
  osPid?: number;
  info: AgentInfo;
  flags: AgentFlags;
  now: number;
  newId: () => string;
}

/** An empty state. */
export function initialAgentState(): AgentState {
  return {
    connected: false,
    lastPingAt: 0,
    masterPingTimeoutMs: DEFAULT_MASTER_PING_TIMEOUT_MS,
    leaving: false,
    frameworks: new Map(),
    terminating: new Set(),
    executors: new Map(),
    streams: new Map(),
    metrics: {},
    completedExecutors: new Map(),
    completedFrameworks: [],
  };
}

type Out = AgentEmitted[];
const key = (frameworkId: string, id: string) => `${frameworkId}/${id}`;

/** A task's status-update stream, while it holds updates. */
export function streamOf(s: AgentState, frameworkId: string, taskId: string): UpdateStream | undefined {
  return s.streams.get(key(frameworkId, taskId));
}

function bump(s: AgentState, k: string, by = 1): void {
  s.metrics[k] = (s.metrics[k] ?? 0) + by;
}

/** True when `frameworkId` asked for checkpointing. */
function checkpoints(s: AgentState, frameworkId: string): boolean {
  return s.frameworks.get(frameworkId)?.checkpoint === true;
}

/** Emits a checkpoint write when the framework checkpoints. */
function checkpoint(s: AgentState, op: CheckpointOp, out: Out): void {
  if (checkpoints(s, op.frameworkId)) out.push({ type: 'effect.checkpoint', ...op });
}

/** Removes an executor's entry (and its checkpoint). */
function dropExecutor(s: AgentState, k: string, e: ExecutorEntry, out: Out): void {
  retireExecutor(s, k, e);
  checkpoint(s, { op: 'forgetExecutor', frameworkId: e.frameworkId, executorId: e.info.executorId }, out);
}

/** Appends `x` to `list`, dropping the oldest beyond `max`. */
function pushBounded<T>(list: T[], x: T, max: number): void {
  list.push(x);
  if (list.length > max) list.splice(0, list.length - max);
}

/** Removes an executor's entry and remembers it among its framework's ended executors. */
function retireExecutor(s: AgentState, k: string, e: ExecutorEntry): void {
  s.executors.delete(k);
  let list = s.completedExecutors.get(e.frameworkId);
  if (!list) s.completedExecutors.set(e.frameworkId, (list = []));
  pushBounded(list, e, COMPLETED_LIMITS.executorsPerFramework);
}

function toMaster(s: AgentState, msg: Message, out: Out): void {
  if (s.master) out.push(send(s.master.pid, msg));
}

/**
 * The registration message for the current state: a first registration, or a re-registration
 * reporting every task the agent has — queued ones as TASK_STAGING, terminal ones whose updates
 * are not yet acknowledged included — in its latest state, with the update in flight
 * (`statusUpdateState`/`statusUpdateUuid`), so that a new master loses nothing.
 * @see Mesos `Slave::doReliableRegistration`
 */
export function registrationMessage(s: AgentState, env: AgentEnv): Message {
  if (!s.agentId) return { type: 'RegisterAgent', body: { agent: env.info, version: '1' } };
  const tasks: Task[] = [];
  const executors: ExecutorInfo[] = [];
  const frameworks: FrameworkInfo[] = [];
  for (const e of s.executors.values()) {
    if (s.terminating.has(e.frameworkId)) continue;
    if (!e.commandExecutor && e.phase !== 'terminated') executors.push({ ...e.info, frameworkId: e.frameworkId });
    for (const t of e.tasks.values()) tasks.push(withStream(s, t));
    for (const t of e.queued) tasks.push(taskOf(t, e, s.agentId));
  }
  for (const [id, info] of s.frameworks) if (!s.terminating.has(id)) frameworks.push(info);
  return {
    type: 'ReregisterAgent',
    body: { agent: { ...env.info, id: s.agentId }, version: '1', tasks, executors, frameworks },
  };
}

/** A task with the update its stream has in flight. */
function withStream(s: AgentState, t: Task): Task {
  const head = s.streams.get(key(t.frameworkId, t.taskId))?.pending[0];
  if (!head) return t;
  return { ...t, statusUpdateState: head.status.state, statusUpdateUuid: head.uuid };
}

function taskOf(t: TaskInfo, e: ExecutorEntry, agentId: string): Task {
  const task: Task = {
    taskId: t.taskId,
    name: t.name,
    frameworkId: e.frameworkId,
    agentId,
    state: 'TASK_STAGING',
    resources: t.resources,
  };
  if (!e.commandExecutor) task.executorId = e.info.executorId;
  return task;
}

/**
 * `AgentRegistered` / `AgentReregistered`: remember the id, note how long the master may go
 * without pinging, answer its reconciliation requests (tasks it has here that the report lacked),
 * then resend the head of every pending update stream. @see `Slave::registered`, `reregistered`
 */
export function registered(s: AgentState, ev: Inbound<'AgentRegistered' | 'AgentReregistered'>, env: AgentEnv): Out {
  const out: Out = [];
  s.agentId = ev.body.agentId;
  s.connected = true;
  s.lastPingAt = env.now;
  s.masterPingTimeoutMs = ev.body.connection.totalPingTimeoutSeconds * 1000;
  if (ev.type === 'AgentReregistered') {
    for (const r of ev.body.reconciliations ?? []) reconcileTasks(s, r, env, out);
  }
  for (const st of s.streams.values()) {
    st.retryMs = env.flags.statusUpdateRetryMs;
    sendHead(s, st, env, out);
  }
  return out;
}

/**
 * `UpdateFramework`: the framework's scheduler is back; its pending updates go out now (a retry
 * could be minutes away after a long outage). @see `Slave::updateFramework`
 */
export function updateFramework(s: AgentState, ev: Inbound<'UpdateFramework'>, env: AgentEnv): Out {
  const out: Out = [];
  const { frameworkId, framework } = ev.body;
  if (s.terminating.has(frameworkId)) return out;
  if (s.frameworks.has(frameworkId)) s.frameworks.set(frameworkId, { ...framework, id: frameworkId });
  for (const st of s.streams.values()) {
    if (st.frameworkId !== frameworkId) continue;
    st.retryMs = env.flags.statusUpdateRetryMs;
    sendHead(s, st, env, out);
  }
  return out;
}

/**
 * The master has these tasks here but the agent's report lacked them: each one the agent does not
 * know was never delivered, and is reported TASK_LOST (TASK_DROPPED for partition-aware
 * frameworks), reliably. @see `Slave::reregistered` (MasterSlaveReconciliationTest.ReconcileLostTask)
 */
function reconcileTasks(s: AgentState, r: { frameworkId: string; framework: FrameworkInfo; taskIds: string[] }, env: AgentEnv, out: Out): void {
  const pa = r.framework.capabilities?.includes('PARTITION_AWARE') ?? false;
  for (const taskId of r.taskIds) {
    if (findExecutorOfTask(s, r.frameworkId, taskId) || s.streams.has(key(r.frameworkId, taskId))) continue;
    const status: TaskStatus = {
      taskId,
      state: pa ? 'TASK_DROPPED' : 'TASK_LOST',
      reason: 'REASON_RECONCILIATION',
      source: 'SOURCE_AGENT',
      message: 'Reconciliation: task unknown to the agent',
      timestamp: env.now,
    };
    if (s.agentId) status.agentId = s.agentId;
    bump(s, 'slave/reconciled_unknown_tasks');
    enqueueUpdate(s, { frameworkId: r.frameworkId, status, uuid: env.newId(), ...(s.agentId ? { agentId: s.agentId } : {}) }, env, out);
  }
}

/** The agent lost its master (a new one leads, or pings stopped): updates wait until it re-registers. */
export function disconnected(s: AgentState): void {
  s.connected = false;
}

/** `Ping` from the master: note the time and answer. */
export function ping(s: AgentState, ev: Inbound<'Ping'>, env: AgentEnv): Out {
  s.lastPingAt = env.now;
  return [send(ev.from, { type: 'Pong', body: s.agentId ? { agentId: s.agentId } : {} })];
}

/** True when the master has not pinged this registered agent for its whole ping timeout. @see `Slave::pingTimeout` */
export function pingsStopped(s: AgentState, env: AgentEnv): boolean {
  return s.connected && env.now - s.lastPingAt > s.masterPingTimeoutMs;
}

/** Sends the oldest pending update of a stream, carrying the newest state as `latestState`. */
function sendHead(s: AgentState, st: UpdateStream, env: AgentEnv, out: Out): void {
  const head = st.pending[0];
  if (!head || !s.master || !s.agentId || !s.connected) return;
  const update = { ...head, agentId: s.agentId };
  const latest = st.pending[st.pending.length - 1]!.status.state;
  if (latest !== head.status.state) update.latestState = latest;
  st.sentAt = env.now;
  toMaster(s, { type: 'StatusUpdate', body: { update } }, out);
}

/**
 * Queues `update` on its task's stream (dropping duplicates by uuid) and sends it when it is the
 * only one outstanding.
 */
export function enqueueUpdate(s: AgentState, update: StatusUpdateRecord, env: AgentEnv, out: Out): boolean {
  const k = key(update.frameworkId, update.status.taskId);
  let st = s.streams.get(k);
  if (!st) {
    st = { frameworkId: update.frameworkId, taskId: update.status.taskId, pending: [], seen: new Set(), retryMs: env.flags.statusUpdateRetryMs };
    const e = checkpoints(s, update.frameworkId) ? findExecutorOfTask(s, update.frameworkId, update.status.taskId) : undefined;
    if (e) st.checkpointExecutor = e.info.executorId;
    s.streams.set(k, st);
  }
  if (st.seen.has(update.uuid)) {
    out.push(log('warn', 'Ignoring duplicate status update', { taskId: update.status.taskId, uuid: update.uuid }));
    return false;
  }
  st.seen.add(update.uuid);
  // On disk before it is forwarded or acknowledged to the executor: a restarted agent resends it.
  if (st.checkpointExecutor !== undefined) {
    checkpoint(s, { op: 'update', frameworkId: st.frameworkId, executorId: st.checkpointExecutor, taskId: st.taskId, update }, out);
  }
  st.pending.push(update);
  bump(s, 'slave/status_updates');
  if (st.pending.length === 1) sendHead(s, st, env, out);
  return true;
}

/** An update the agent itself generates for a task (executor gone, launch failed, …). */
function agentUpdate(s: AgentState, e: ExecutorEntry, taskId: string, state: TaskState, reason: TaskReason, message: string, env: AgentEnv, out: Out): void {
  const status: TaskStatus = { taskId, state, reason, message, source: 'SOURCE_AGENT', timestamp: env.now };
  if (s.agentId) status.agentId = s.agentId;
  withContainer(status, e, env);
  if (!e.commandExecutor) status.executorId = e.info.executorId;
  const update: StatusUpdateRecord = { frameworkId: e.frameworkId, status, uuid: env.newId() };
  if (!e.commandExecutor) update.executorId = e.info.executorId;
  const t = e.tasks.get(taskId);
  if (t) t.state = state;
  enqueueUpdate(s, update, env, out);
}

/**
 * Stamps where the task runs on its status: the container id, and once known the sandbox, with
 * the agent's HTTP address that serves its files.
 */
function withContainer(status: TaskStatus, e: ExecutorEntry, env: AgentEnv): void {
  status.containerStatus = { containerId: e.containerId };
  if (!e.directory) return;
  status.sandbox = e.directory;
  if (env.info.http) status.agentHttp = env.info.http;
}

/** The runtime made the container's sandbox (`effect.launchExecutor` done). */
export function executorLaunched(s: AgentState, ev: { frameworkId: string; executorId: string; containerId: string; directory: string }): Out {
  const e = s.executors.get(key(ev.frameworkId, ev.executorId));
  if (e && e.containerId === ev.containerId) e.directory = ev.directory;
  return [];
}

/** `StatusUpdateAcknowledgement` from the master: pop the stream and send the next update. */
export function acknowledged(s: AgentState, ev: Inbound<'StatusUpdateAcknowledgement'>, env: AgentEnv): Out {
  const out: Out = [];
  const { frameworkId, taskId, uuid } = ev.body;
  const st = s.streams.get(key(frameworkId, taskId));
  const head = st?.pending[0];
  if (!st || !head || head.uuid !== uuid) {
    out.push(log('warn', 'Ignoring unexpected status update acknowledgement', { taskId, uuid }));
    return out;
  }
  st.pending.shift();
  st.sentAt = undefined;
  st.retryMs = env.flags.statusUpdateRetryMs;
  if (st.checkpointExecutor !== undefined) {
    const where = { frameworkId, executorId: st.checkpointExecutor, taskId };
    checkpoint(s, isTerminalState(head.status.state) ? { op: 'forgetTask', ...where } : { op: 'ack', ...where, uuid }, out);
  }
  if (isTerminalState(head.status.state)) forgetTask(s, frameworkId, taskId, out);
  if (st.pending.length > 0) sendHead(s, st, env, out);
  else if (isTerminalState(head.status.state)) s.streams.delete(key(frameworkId, taskId));
  return out;
}

function forgetTask(s: AgentState, frameworkId: string, taskId: string, out: Out): void {
  for (const [k, e] of s.executors) {
    const t = e.tasks.get(taskId);
    if (e.frameworkId !== frameworkId || !t) continue;
    e.tasks.delete(taskId);
    pushBounded((e.completedTasks ??= []), t, COMPLETED_LIMITS.tasksPerExecutor);
    if (e.phase === 'terminated' && e.tasks.size === 0 && e.queued.length === 0) dropExecutor(s, k, e, out);
  }
}

function findExecutorOfTask(s: AgentState, frameworkId: string, taskId: string): ExecutorEntry | undefined {
  for (const e of s.executors.values()) {
    if (e.frameworkId === frameworkId && (e.tasks.has(taskId) || e.queued.some((t) => t.taskId === taskId))) return e;
  }
  return undefined;
}

/**
 * `RunTask` from the master: hand the task to its executor if running, queue it if the executor
 * is starting, or start the executor (the built-in command executor for command tasks).
 */
export function runTask(s: AgentState, ev: Inbound<'RunTask'>, env: AgentEnv): Out {
  const out: Out = [];
  const { frameworkId, framework, task } = ev.body;
  if (s.terminating.has(frameworkId)) {
    out.push(log('warn', `Ignoring task ${task.taskId}: framework ${frameworkId} is being shut down`));
    return out;
  }
  if (s.leaving) {
    // Answered, not dropped: the master frees the resources and the framework may relaunch.
    const pa = framework.capabilities?.includes('PARTITION_AWARE') ?? false;
    const status: TaskStatus = { taskId: task.taskId, state: pa ? 'TASK_DROPPED' : 'TASK_LOST', reason: 'REASON_AGENT_RESTARTED', source: 'SOURCE_AGENT', message: 'The agent is shutting down', timestamp: env.now };
    if (s.agentId) status.agentId = s.agentId;
    enqueueUpdate(s, { frameworkId, status, uuid: env.newId(), ...(s.agentId ? { agentId: s.agentId } : {}) }, env, out);
    return out;
  }
  const known = s.frameworks.has(frameworkId);
  s.frameworks.set(frameworkId, { ...framework, id: frameworkId });
  if (!known) checkpoint(s, { op: 'framework', frameworkId, info: { ...framework, id: frameworkId } }, out);
  const commandExecutor = !task.executor;
  const info: ExecutorInfo = task.executor ?? {
    executorId: task.taskId,
    name: `Command Executor (Task: ${task.taskId})`,
    command: task.command!,
    resources: [],
  };
  const k = key(frameworkId, info.executorId);
  let e = s.executors.get(k);
  if (e && e.phase === 'terminated') {
    dropExecutor(s, k, e, out);
    e = undefined;
  }
  if (e && e.phase === 'terminating') {
    const tmp: ExecutorEntry = { ...e, tasks: new Map() };
    agentUpdate(s, tmp, task.taskId, 'TASK_LOST', 'REASON_EXECUTOR_TERMINATED', 'Executor is terminating', env, out);
    return out;
  }
  bump(s, 'slave/tasks_staging');
  if (!e) {
    e = {
      frameworkId,
      info: { ...info, frameworkId },
      commandExecutor,
      containerId: env.newId(),
      phase: 'launching',
      launchedAt: env.now,
      queued: [task],
      tasks: new Map(),
    };
    s.executors.set(k, e);
    checkpoint(s, { op: 'executor', frameworkId, executorId: info.executorId, info: e.info, commandExecutor, containerId: e.containerId }, out);
    checkpoint(s, { op: 'task', frameworkId, executorId: info.executorId, task }, out);
    out.push({
      type: 'effect.launchExecutor',
      frameworkId,
      executorId: info.executorId,
      containerId: e.containerId,
      executor: e.info,
      commandExecutor,
      agentId: s.agentId ?? '',
      resources: [...(e.info.resources ?? []), ...task.resources],
      checkpoint: checkpoints(s, frameworkId),
      ...((e.info.command.user ?? framework.user) ? { user: e.info.command.user ?? framework.user } : {}),
    });
    return out;
  }
  checkpoint(s, { op: 'task', frameworkId, executorId: info.executorId, task }, out);
  if (e.phase === 'launching') {
    e.queued.push(task);
    return out;
  }
  e.tasks.set(task.taskId, taskOf(task, e, s.agentId ?? ''));
  // The container grows to hold the task before the executor starts it. @see `Slave::_run` → `containerizer->update`
  out.push({ type: 'effect.updateContainer', containerId: e.containerId, resources: heldBy(s, e) });
  out.push(send(e.pid!, { type: 'RunTask', body: { frameworkId, framework: s.frameworks.get(frameworkId)!, task } }));
  return out;
}

/** What an executor's container holds: the executor's own resources and those of its unfinished tasks. */
function heldBy(s: AgentState, e: ExecutorEntry): Resources {
  const r: Resources = [...(e.info.resources ?? [])];
  for (const t of e.tasks.values()) if (!isTerminalState(t.state)) r.push(...t.resources);
  for (const t of e.queued) r.push(...t.resources);
  return r;
}

/** `RegisterExecutor`: the executor process is up; hand it its queued tasks. */
export function registerExecutor(s: AgentState, ev: Inbound<'RegisterExecutor'>, env: AgentEnv): Out {
  const out: Out = [];
  const { frameworkId, executorId } = ev.body;
  const e = s.executors.get(key(frameworkId, executorId));
  if (!e || (e.phase !== 'launching' && e.pid !== ev.from)) {
    out.push(log('warn', 'Ignoring executor registration: unknown or not launching', { frameworkId, executorId, from: ev.from }));
    out.push(send(ev.from, { type: 'ShutdownExecutor', body: {} }));
    return out;
  }
  e.pid = ev.from;
  if (e.phase === 'recovering') {
    // Started before the agent restarted, it had not registered yet: it gets the tasks it never got.
    for (const t of e.tasks.values()) {
      const info = e.recoveredInfos?.get(t.taskId);
      if (info && t.state === 'TASK_STAGING') e.queued.push(info);
    }
    e.recoveredInfos = undefined;
  }
  if (e.phase === 'launching' || e.phase === 'recovering') e.phase = 'running';
  const framework = s.frameworks.get(frameworkId) ?? { name: '', id: frameworkId };
  out.push(send(ev.from, {
    type: 'ExecutorRegistered',
    body: { executor: e.info, frameworkId, framework, agentId: s.agentId ?? '', agent: { ...env.info, id: s.agentId }, ...(env.osPid ? { agentOsPid: env.osPid } : {}) },
  }));
  for (const task of e.queued) {
    e.tasks.set(task.taskId, taskOf(task, e, s.agentId ?? ''));
    out.push(send(ev.from, { type: 'RunTask', body: { frameworkId, framework, task } }));
  }
  e.queued = [];
  return out;
}

/** `StatusUpdate` from an executor: record the state, queue it towards the master, acknowledge it. */
export function executorStatusUpdate(s: AgentState, ev: Inbound<'StatusUpdate'>, env: AgentEnv): Out {
  const out: Out = [];
  const { update } = ev.body;
  const e = s.executors.get(key(update.frameworkId, update.executorId ?? update.status.taskId));
  if (!e || e.pid !== ev.from) {
    out.push(log('warn', 'Ignoring status update from an unknown executor', { from: ev.from, taskId: update.status.taskId }));
    return out;
  }
  acceptExecutorUpdate(s, e, update, ev.from, env, out);
  return out;
}

/** An executor's update: recorded, queued (checkpointed first) towards the master, then acknowledged to it. */
function acceptExecutorUpdate(s: AgentState, e: ExecutorEntry, update: StatusUpdateRecord, from: string, env: AgentEnv, out: Out): void {
  const t = e.tasks.get(update.status.taskId);
  if (t) t.state = update.status.state;
  const u: StatusUpdateRecord = { ...update, status: { ...update.status } };
  if (s.agentId) {
    u.agentId = s.agentId;
    u.status.agentId = s.agentId;
  }
  u.status.source ??= 'SOURCE_EXECUTOR';
  withContainer(u.status, e, env);
  enqueueUpdate(s, u, env, out);
  out.push(send(from, {
    type: 'StatusUpdateAcknowledgement',
    body: { agentId: s.agentId ?? '', frameworkId: update.frameworkId, taskId: update.status.taskId, uuid: update.uuid },
  }));
}

/**
 * `ReregisterExecutor` from an executor the restarted agent found running: its unacknowledged
 * updates are taken (duplicates of checkpointed ones dropped), and a task still staging that it
 * never got is lost (dropped, for partition-aware frameworks). @see `Slave::reregisterExecutor`
 */
export function reregisterExecutor(s: AgentState, ev: Inbound<'ReregisterExecutor'>, env: AgentEnv): Out {
  const out: Out = [];
  const { frameworkId, executorId, tasks, updates } = ev.body;
  const e = s.executors.get(key(frameworkId, executorId));
  if (!e || e.pid !== ev.from || (e.phase !== 'recovering' && e.phase !== 'running')) {
    out.push(log('warn', 'Ignoring executor re-registration: unknown or not recovering', { frameworkId, executorId, from: ev.from }));
    out.push(send(ev.from, { type: 'ShutdownExecutor', body: {} }));
    return out;
  }
  const again = e.phase === 'running'; // a retry: our answer was lost, or crossed it
  e.phase = 'running';
  e.recoveredInfos = undefined;
  for (const u of updates) {
    if (u.frameworkId === frameworkId && e.tasks.has(u.status.taskId)) acceptExecutorUpdate(s, e, u, ev.from, env, out);
  }
  const known = new Set(tasks.map((t) => t.taskId));
  const pa = s.frameworks.get(frameworkId)?.capabilities?.includes('PARTITION_AWARE') ?? false;
  for (const t of e.tasks.values()) {
    if (again || t.state !== 'TASK_STAGING' || known.has(t.taskId)) continue;
    agentUpdate(s, e, t.taskId, pa ? 'TASK_DROPPED' : 'TASK_LOST', 'REASON_AGENT_RESTARTED', 'The executor never got the task before the agent restarted', env, out);
  }
  out.push(send(ev.from, {
    type: 'ExecutorReregistered',
    body: { agentId: s.agentId ?? '', agent: { ...env.info, ...(s.agentId ? { id: s.agentId } : {}) }, ...(env.osPid ? { agentOsPid: env.osPid } : {}) },
  }));
  if (again) out.push(log('debug', `Executor ${executorId} of framework ${frameworkId} re-registered again; answered again`, { updates: updates.length }));
  else out.push(log('info', `Executor ${executorId} of framework ${frameworkId} re-registered`, { tasks: e.tasks.size, updates: updates.length }));
  return out;
}

/**
 * A restarted agent takes its checkpoints back: frameworks, executors and their tasks in their
 * last known states, and every update stream with what was not acknowledged still pending. An
 * executor whose container still runs is asked to re-register (`ReconnectExecutor`); one whose
 * container ended while the agent was away has its unfinished tasks fail
 * (`REASON_EXECUTOR_TERMINATED`). Nothing goes to a master yet: the agent registers once
 * recovery is over. @see `Slave::recover`, `Slave::_recover`
 */
export function recover(s: AgentState, r: RecoveredAgent, env: AgentEnv): Out {
  const out: Out = [];
  for (const f of r.frameworks) s.frameworks.set(f.id, f);
  const cluster = parsePid(env.self)?.cluster;
  const dead: ExecutorEntry[] = [];
  for (const x of r.executors) {
    const e: ExecutorEntry = {
      frameworkId: x.frameworkId,
      info: x.info,
      commandExecutor: x.commandExecutor,
      containerId: x.containerId,
      phase: x.alive ? 'recovering' : 'running',
      launchedAt: env.now,
      queued: [],
      tasks: new Map(),
      recoveredInfos: new Map(),
      ...(x.directory ? { directory: x.directory } : {}),
    };
    for (const t of x.tasks) {
      const task = taskOf(t.info, e, s.agentId ?? '');
      const last = t.updates[t.updates.length - 1];
      if (last) task.state = last.status.state;
      e.tasks.set(task.taskId, task);
      e.recoveredInfos!.set(task.taskId, t.info);
      const acked = new Set(t.acked);
      const pending = t.updates.filter((u) => !acked.has(u.uuid));
      if (t.updates.length > 0) {
        s.streams.set(key(x.frameworkId, task.taskId), {
          frameworkId: x.frameworkId, taskId: task.taskId, pending, seen: new Set(t.updates.map((u) => u.uuid)),
          retryMs: env.flags.statusUpdateRetryMs, checkpointExecutor: x.info.executorId,
        });
      }
      // A terminal update acknowledged already: the task is done.
      if (last && isTerminalState(last.status.state) && pending.length === 0) e.tasks.delete(task.taskId);
    }
    s.executors.set(key(x.frameworkId, x.info.executorId), e);
    if (!x.alive) dead.push(e);
    else if (cluster) {
      e.pid = executorPid(cluster, x.containerId);
      out.push(send(e.pid, { type: 'ReconnectExecutor', body: { agentId: s.agentId ?? '' } }));
    }
  }
  for (const e of dead) {
    out.push(...executorExited(s, { frameworkId: e.frameworkId, executorId: e.info.executorId, containerId: e.containerId, status: -1, message: 'Executor terminated while the agent was down' }, env));
  }
  const alive = r.executors.length - dead.length;
  out.push(log('info', `Recovered ${r.frameworks.length} framework(s) and ${r.executors.length} executor(s); waiting for ${alive} to re-register`, { dead: dead.length }));
  return out;
}

/** True once no recovered executor is still expected to re-register. */
export function recoveryDone(s: AgentState): boolean {
  for (const e of s.executors.values()) if (e.phase === 'recovering') return false;
  return true;
}

/**
 * `--executor_reregistration_timeout` passed: every recovered executor that did not re-register
 * is destroyed, and its unfinished tasks fail with `REASON_EXECUTOR_REREGISTRATION_TIMEOUT`.
 */
export function recoveryTimedOut(s: AgentState, env: AgentEnv): Out {
  const out: Out = [];
  for (const e of s.executors.values()) {
    if (e.phase !== 'recovering') continue;
    e.failure = { reason: 'REASON_EXECUTOR_REREGISTRATION_TIMEOUT', message: `Executor did not re-register within ${env.flags.executorReregistrationTimeoutMs / 1000} s` };
    e.phase = 'terminating';
    out.push(log('warn', `Executor ${e.info.executorId} did not re-register in time: destroying it`, { frameworkId: e.frameworkId, containerId: e.containerId }));
    out.push({ type: 'effect.killExecutor', frameworkId: e.frameworkId, executorId: e.info.executorId, containerId: e.containerId, graceMs: 0 });
  }
  return out;
}

/** `KillTask` from the master. */
export function killTask(s: AgentState, ev: Inbound<'KillTask'>, env: AgentEnv): Out {
  const out: Out = [];
  const { frameworkId, taskId } = ev.body;
  if (s.terminating.has(frameworkId)) return out; // nobody would acknowledge the update
  const e = findExecutorOfTask(s, frameworkId, taskId);
  if (!e) {
    const status: TaskStatus = { taskId, state: 'TASK_LOST', reason: 'REASON_TASK_UNKNOWN', source: 'SOURCE_AGENT', message: 'Cannot find task', timestamp: env.now };
    enqueueUpdate(s, { frameworkId, status, uuid: env.newId() }, env, out);
    return out;
  }
  const qi = e.queued.findIndex((t) => t.taskId === taskId);
  if (qi >= 0) {
    const [t] = e.queued.splice(qi, 1);
    e.tasks.set(taskId, taskOf(t!, e, s.agentId ?? ''));
    agentUpdate(s, e, taskId, 'TASK_KILLED', 'REASON_TASK_UNKNOWN', 'Killed before delivery to the executor', env, out);
    // A launching executor left with nothing to run is not needed; one with other queued tasks is.
    const idle = e.queued.length === 0 && [...e.tasks.values()].every((x) => isTerminalState(x.state));
    if (idle && e.phase === 'launching') shutdownExecutor(e, env, out);
    return out;
  }
  if (e.pid) out.push(send(e.pid, { type: 'KillTask', body: { frameworkId, taskId, agentId: s.agentId } }));
  return out;
}

function shutdownExecutor(e: ExecutorEntry, env: AgentEnv, out: Out): void {
  if (e.phase === 'terminating' || e.phase === 'terminated') return;
  e.phase = 'terminating';
  if (e.pid) out.push(send(e.pid, { type: 'ShutdownExecutor', body: { gracePeriodSeconds: env.flags.executorShutdownGracePeriodMs / 1000 } }));
  out.push({
    type: 'effect.killExecutor',
    frameworkId: e.frameworkId,
    executorId: e.info.executorId,
    containerId: e.containerId,
    graceMs: e.pid ? env.flags.executorShutdownGracePeriodMs : 0,
  });
}

/**
 * `ShutdownFramework`: the master removed the framework. Every executor of it is shut down, its
 * update streams are closed (nobody will acknowledge them), and its executors' exits produce no
 * updates. @see `Slave::shutdownFramework`, `Slave::removeFramework`
 */
export function shutdownFramework(s: AgentState, ev: Inbound<'ShutdownFramework'>, env: AgentEnv): Out {
  const out: Out = [];
  const fwId = ev.body.frameworkId;
  s.terminating.add(fwId);
  for (const [k, e] of s.executors) {
    if (e.frameworkId !== fwId) continue;
    if (e.phase === 'terminated') retireExecutor(s, k, e);
    else shutdownExecutor(e, env, out);
  }
  let closed = 0;
  for (const [k, st] of s.streams) {
    if (st.frameworkId !== fwId) continue;
    s.streams.delete(k);
    closed += st.pending.length;
  }
  if (closed > 0) bump(s, 'slave/status_updates_discarded', closed);
  forgetFrameworkIfIdle(s, fwId, out);
  out.push(log('info', `Shutting down framework ${fwId}`, { pendingUpdatesDiscarded: closed }));
  return out;
}

/** A terminating framework with no executor left is forgotten (its checkpoint too). */
function forgetFrameworkIfIdle(s: AgentState, fwId: string, out: Out): void {
  if (!s.terminating.has(fwId)) return;
  for (const e of s.executors.values()) if (e.frameworkId === fwId) return;
  checkpoint(s, { op: 'forgetFramework', frameworkId: fwId }, out);
  s.terminating.delete(fwId);
  const info = s.frameworks.get(fwId);
  s.frameworks.delete(fwId);
  if (info) pushBounded(s.completedFrameworks, { id: fwId, info, executors: s.completedExecutors.get(fwId) ?? [] }, COMPLETED_LIMITS.frameworks);
  s.completedExecutors.delete(fwId);
}

/**
 * The agent is stopping (SIGTERM): every executor is shut down, so each task ends with an update
 * the master will see; new tasks are refused. The runtime sends `UnregisterAgent` once the
 * updates are acknowledged (or its patience ends).
 */
export function leave(s: AgentState, env: AgentEnv): Out {
  const out: Out = [];
  s.leaving = true;
  for (const e of s.executors.values()) shutdownExecutor(e, env, out);
  out.push(log('info', `Shutting down ${s.executors.size} executor(s) before leaving the cluster`));
  return out;
}

/** True when nothing is left to report: no executor runs and every update is acknowledged. */
export function isIdle(s: AgentState): boolean {
  for (const e of s.executors.values()) if (e.phase !== 'terminated') return false;
  for (const st of s.streams.values()) if (st.pending.length > 0) return false;
  return true;
}

/**
 * An executor process ended. Its unfinished tasks fail (command executor) or are lost (custom
 * executor), the master learns of the exit, and the entry goes once its updates are acknowledged.
 */
export function executorExited(
  s: AgentState,
  ev: { frameworkId: string; executorId: string; containerId: string; status: number; message?: string; limitation?: { reason: TaskReason; message: string } },
  env: AgentEnv,
): Out {
  const out: Out = [];
  const k = key(ev.frameworkId, ev.executorId);
  const e = s.executors.get(k);
  if (!e || e.containerId !== ev.containerId || e.phase === 'terminated') return out;
  if (s.terminating.has(e.frameworkId)) {
    retireExecutor(s, k, e);
    forgetFrameworkIfIdle(s, e.frameworkId, out);
    return out;
  }
  const wasTerminating = e.phase === 'terminating';
  const failure = ev.limitation ?? e.failure;
  const reason: TaskReason = failure ? failure.reason : e.phase === 'launching' && ev.message ? 'REASON_CONTAINER_LAUNCH_FAILED' : 'REASON_EXECUTOR_TERMINATED';
  e.phase = 'terminated';
  for (const t of e.queued) e.tasks.set(t.taskId, taskOf(t, e, s.agentId ?? ''));
  e.queued = [];
  for (const t of e.tasks.values()) {
    if (isTerminalState(t.state)) continue;
    // A container over its limit fails its tasks, whoever asked it to stop (Mesos' limitation).
    const state: TaskState = failure ? 'TASK_FAILED' : wasTerminating ? 'TASK_KILLED' : e.commandExecutor ? 'TASK_FAILED' : 'TASK_LOST';
    agentUpdate(s, e, t.taskId, state, reason, failure?.message ?? ev.message ?? `Executor exited with status ${ev.status}`, env, out);
  }
  if (!e.commandExecutor) {
    toMaster(s, { type: 'ExitedExecutor', body: { agentId: s.agentId ?? '', frameworkId: e.frameworkId, executorId: e.info.executorId, status: ev.status } }, out);
  }
  if (e.tasks.size === 0 || [...e.tasks.values()].every((t) => !s.streams.has(key(e.frameworkId, t.taskId)))) dropExecutor(s, k, e, out);
  return out;
}

/** Periodic sweep: retry overdue status updates (doubling the interval) and time out executors that never registered. */
export function sweep(s: AgentState, env: AgentEnv): Out {
  const out: Out = [];
  if (s.master && s.agentId && s.connected) {
    for (const st of s.streams.values()) {
      if (st.sentAt === undefined || st.pending.length === 0) continue;
      if (env.now - st.sentAt < st.retryMs) continue;
      st.retryMs = backoffMs(1, st.retryMs, env.flags.statusUpdateRetryMaxMs);
      bump(s, 'slave/status_update_retries');
      sendHead(s, st, env, out);
    }
  }
  for (const e of s.executors.values()) {
    if (e.phase !== 'launching' || env.now - e.launchedAt < env.flags.executorRegistrationTimeoutMs) continue;
    for (const t of e.queued) e.tasks.set(t.taskId, taskOf(t, e, s.agentId ?? ''));
    e.queued = [];
    for (const t of e.tasks.values()) {
      agentUpdate(s, e, t.taskId, 'TASK_FAILED', 'REASON_EXECUTOR_REGISTRATION_TIMEOUT', 'Executor did not register in time', env, out);
    }
    e.phase = 'terminating';
    out.push({ type: 'effect.killExecutor', frameworkId: e.frameworkId, executorId: e.info.executorId, containerId: e.containerId, graceMs: 0 });
  }
  return out;
}

/** `GetContainerStatistics` from an operator: the runtime samples every running executor's container. */
export function reportUsage(s: AgentState, ev: Inbound<'GetContainerStatistics'>): Out {
  const containers = [];
  for (const e of s.executors.values()) {
    if (e.phase === 'terminated') continue;
    containers.push({ frameworkId: e.frameworkId, executorId: e.info.executorId, ...(e.info.name ? { executorName: e.info.name } : {}), containerId: e.containerId });
  }
  return [{ type: 'effect.reportUsage', to: ev.from, containers }];
}

/** `FrameworkToExecutor` from the master: pass to the executor. */
export function frameworkToExecutor(s: AgentState, ev: Inbound<'FrameworkToExecutor'>): Out {
  const e = s.executors.get(key(ev.body.frameworkId, ev.body.executorId));
  if (!e?.pid) return [log('warn', 'Dropping framework message for an executor that is not running', { executorId: ev.body.executorId })];
  return [send(e.pid, { type: 'FrameworkToExecutor', body: ev.body })];
}

/** `ExecutorToFramework` from an executor: pass to the master. */
export function executorToFramework(s: AgentState, ev: Inbound<'ExecutorToFramework'>): Out {
  const out: Out = [];
  const e = s.executors.get(key(ev.body.frameworkId, ev.body.executorId));
  if (!e || e.pid !== ev.from) return [log('warn', 'Ignoring framework message from an unknown executor', { from: ev.from })];
  toMaster(s, { type: 'ExecutorToFramework', body: { ...ev.body, agentId: s.agentId ?? '' } }, out);
  return out;
}
