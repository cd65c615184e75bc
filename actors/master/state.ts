/**
 * The master's soft state, its flags and the helpers every handler shares. The handlers live
 * beside this file, one module per subject: `agents.ts` (registration, health, partitions),
 * `frameworks.ts` (subscription, liveness, failover, teardown), `tasks.ts` (launches, status
 * updates, kills, reconciliation), `offers.ts` (allocation and offers) and `registry.ts` (the
 * durable part). Each handler takes the state, the inbound event and an environment (time, ids,
 * flags), validates first, then updates the state in place and returns the messages and effects to
 * emit. `master.machine.ts` only routes events to them.
 *
 * The state is *soft*: a new leader rebuilds it from the registry, from agents re-registering with
 * their tasks and from frameworks re-subscribing.
 *
 * @see Mesos `src/master/master.cpp`.
 */
import { PERMISSIVE_ACLS, authorized, type AclAction, type Acls } from './acls.ts';
import { ANONYMOUS_PRINCIPAL, parsePid } from '../../protocols/pid.ts';
import { flatten, type Resources } from '../../protocols/resources.ts';
import type { AgentInfo, ExecutorInfo, FrameworkInfo, Offer, StatusUpdateRecord, Task, TaskStatus } from '../../protocols/records.ts';
import type { TaskReason, TaskState } from '../../protocols/task-states.ts';
import type { Body, Message } from '../../protocols/messages.ts';
import { log, send, type LogEvent, type SendAllEvent, type SendEvent } from '../common.ts';
import { HierarchicalAllocator, type AllocatorOptions } from './allocator/hierarchical.ts';
import type { PendingOp, RegistryEffect, RegistryLoadEffect, RegistryOp, RegistryView } from './registry.ts';

/** Master flags that shape behaviour. Every timer is a flag. */
export interface MasterFlags {
  allocationIntervalMs: number;
  /** Default decline filter when a framework gives none. @see `Filters.refuse_seconds` */
  defaultRefuseSeconds: number;
  /** Rescind unanswered offers after this long; 0 = never. */
  offerTimeoutMs: number;
  /** @see `--agent_ping_timeout` */
  agentPingTimeoutMs: number;
  /** @see `--max_agent_ping_timeouts` */
  maxAgentPingTimeouts: number;
  /** After a failover, agents of the registry that have not re-registered by then are unreachable. @see `--agent_reregister_timeout` */
  agentReregisterTimeoutMs: number;
  /** How often a scheduler and the master exchange `Heartbeat`s. @see v1 `HEARTBEAT` (15 s) */
  frameworkHeartbeatIntervalMs: number;
  /** Heartbeat intervals without a word from a scheduler before its framework is disconnected. */
  maxFrameworkHeartbeatMisses: number;
  /** How many finished frameworks and tasks `/state` keeps. */
  maxCompletedFrameworks: number;
  maxCompletedTasksPerFramework: number;
  /** Sorters, minimum allocatable size and shuffle seed. @see `--role_sorter`, `--framework_sorter` */
  allocator: Partial<AllocatorOptions>;
  /** Between telling a framework its tasks will be revoked and killing them. */
  revocationGracePeriodMs: number;
  /**
   * Agents visited by one allocation step. A pass over more agents is split into steps, one per
   * turn of the event loop, so that no pass holds the loop (and the lease, pings, messages) long.
   */
  allocationChunkAgents: number;
  /** Messages kept while the registry is read after winning the lease; beyond this they are dropped. */
  maxDeferredMessages: number;
  /** Kept messages handled per turn of the event loop once the registry is read. */
  replayChunk: number;
  /**
   * A re-registration from the same agent PID within this long of the last one is a retry (its
   * answer was lost or slow): it is answered again as before, without reconciling once more.
   */
  reregistrationRetryWindowMs: number;
  /** A part of a split re-registration is forgotten when its other parts do not follow within this. */
  reassemblyTimeoutMs: number;
  /** Who may do what (`--acls`). @see `acls.ts` */
  acls: Acls;
}

/** Mesos' defaults. */
export const DEFAULT_MASTER_FLAGS: MasterFlags = {
  allocationIntervalMs: 1000,
  defaultRefuseSeconds: 5,
  offerTimeoutMs: 0,
  agentPingTimeoutMs: 15_000,
  maxAgentPingTimeouts: 5,
  agentReregisterTimeoutMs: 600_000,
  frameworkHeartbeatIntervalMs: 15_000,
  maxFrameworkHeartbeatMisses: 5,
  maxCompletedFrameworks: 50,
  maxCompletedTasksPerFramework: 1000,
  allocator: {},
  revocationGracePeriodMs: 5000,
  allocationChunkAgents: 5000,
  maxDeferredMessages: 200_000,
  replayChunk: 500,
  reregistrationRetryWindowMs: 10_000,
  reassemblyTimeoutMs: 60_000,
  acls: PERMISSIVE_ACLS,
};

/** A registered agent. */
export interface AgentEntry {
  id: string;
  pid: string;
  info: AgentInfo;
  total: Resources;
  /** Executors the master knows on the agent, by `frameworkId/executorId`. */
  executors: Map<string, ExecutorInfo & { frameworkId: string }>;
  /** The tasks on the agent: the same entries as in their frameworks' tables (no key of its own to keep per task). */
  tasks: Set<TaskEntry>;
  registeredAt: number;
  /** When the next `Ping` is due (Mesos' `SlaveObserver`). */
  nextPingAt: number;
  /** A `Ping` went out and no `Pong` has come back since. */
  awaitingPong: boolean;
  /** Ping timeouts in a row. */
  pingMisses: number;
  /** Set while the agent is being taken out (its registry write is in flight): no pings, no offers. */
  removing?: 'unreachable' | 'unregistered' | 'gone';
  /** The answer to its last re-registration, and what that reported: a retry reporting the same within the window gets it again. */
  lastAnswer?: { at: number; body: Body<'AgentReregistered'>; report: Body<'ReregisterAgent'> };
}

/** A task the master tracks. */
export interface TaskEntry {
  task: Task;
  /** The role its resources are allocated to. */
  role: string;
  /** When the master launched it (epoch ms); revocation takes the youngest first. */
  launchedAt: number;
  /** The latest status the master has seen. */
  status?: TaskStatus;
  /** Whether its resources have already been given back (exactly once, on the first terminal update). */
  freed: boolean;
}

/** A task on an agent that was marked unreachable: it may still run. @see Mesos `Framework::unreachableTasks` */
export interface UnreachableTask {
  task: Task;
  role: string;
  launchedAt: number;
  unreachableTime: number;
}

/** A subscribed (or recovered) framework. */
export interface FrameworkEntry {
  id: string;
  pid?: string;
  info: FrameworkInfo;
  role: string;
  /** Offers may be made (the allocator's view). */
  active: boolean;
  /** The scheduler is reachable: it subscribed and has not fallen silent or disconnected. */
  connected: boolean;
  /** Known only from an agent's re-registration; waiting for its scheduler to come back. */
  recovered: boolean;
  suppressed: boolean;
  tasks: Map<string, TaskEntry>;
  /** Tasks on unreachable agents, by task id. */
  unreachableTasks: Map<string, UnreachableTask>;
  offers: Set<string>;
  completedTasks: Task[];
  registeredAt: number;
  /** Last time anything was heard from its scheduler. */
  lastSeenAt: number;
  /** When the master next sends the scheduler a `Heartbeat`. */
  nextHeartbeatAt: number;
  /** While disconnected: when the framework is removed unless its scheduler comes back. */
  failoverDeadline?: number;
}

/** An outstanding offer. */
export interface OfferEntry {
  offer: Offer;
  role: string;
  createdAt: number;
}

/** Counters exposed as metrics (`master/…`). */
export type MasterMetrics = Record<string, number>;

/** Where the allocation passes stand. @see `HierarchicalAllocatorProcess::triggerAllocation` */
export interface AllocationQueue {
  /** Agents whose resources (or whose frameworks) changed since the last pass. */
  dirty: Set<string>;
  /** Every agent is to be visited (a framework arrived, revived, …, or a batch is due). */
  all: boolean;
  /** The periodic batch is due: the pass that ends it also ends run-out decline filters. */
  batch: boolean;
  /** The agents of the pass in progress and how far it got (a long pass is split into steps). */
  pass?: { agents: string[]; next: number; batch: boolean };
  /** A step has been asked for and not yet taken: further marks ride on it without asking again. */
  requested?: boolean;
}

/** A re-registration whose parts are still arriving. */
export interface PartialReport {
  id: string;
  count: number;
  parts: Map<number, Body<'ReregisterAgent'>>;
  firstAt: number;
}

/** The master's soft state. */
export interface MasterState {
  agents: Map<string, AgentEntry>;
  agentsByPid: Map<string, string>;
  /**
   * Agents the registry lists as admitted that have not re-registered with this leader yet
   * (Mesos' `slaves.recovered`). Reconciliation says nothing about their tasks.
   */
  recovered: Map<string, { info: AgentInfo; removing?: boolean }>;
  /** What the registry holds, as last written by this leader. */
  registry: RegistryView;
  /** Registry writes in flight and what to do once each is stored. */
  pendingOps: Map<number, { op: RegistryOp; then: PendingOp }>;
  nextOpId: number;
  /** Agent PIDs and agent ids whose admission is being written: both are spoken for meanwhile. */
  admitting: { pids: Set<string>; ids: Set<string> };
  /** Split re-registrations being put together, by agent PID. */
  partials: Map<string, PartialReport>;
  frameworks: Map<string, FrameworkEntry>;
  completedFrameworks: FrameworkEntry[];
  offers: Map<string, OfferEntry>;
  /** Decides who is offered what; keeps its own account of what is allocated where. */
  allocator: HierarchicalAllocator;
  allocation: AllocationQueue;
  /** Tasks scheduled for revocation: `frameworkId/taskId` → when to kill, and whether it was sent. */
  revocations: Map<string, { frameworkId: string; taskId: string; agentId: string; deadline: number; killed: boolean }>;
  nextFrameworkSeq: number;
  nextAgentSeq: number;
  nextOfferSeq: number;
  nextUpdateSeq: number;
  /** When this leadership began (0 while standing by). */
  electedAt: number;
  metrics: MasterMetrics;
  /**
   * How many tasks the frameworks' tables hold in each state, kept as tasks come, change state
   * and go ({@link addTask}, {@link setTaskState}, {@link dropTask}): the metrics read it instead
   * of walking 100,000 tasks.
   */
  taskStates: Record<string, number>;
}

/** What handlers need besides the state. */
export interface MasterEnv {
  self: string;
  runId: string;
  hostname: string;
  epoch: number;
  now: number;
  flags: MasterFlags;
}

/**
 * What operators subscribed to the master hear: Mesos' v1 master events, as they happen. A removed
 * framework's tasks end with it (`FRAMEWORK_REMOVED` stands for their `TASK_KILLED`s).
 * @see Mesos `v1/master/master.proto` `Event`
 */
export type OperatorEvent =
  | { kind: 'TASK_ADDED'; task: Task; role: string }
  | { kind: 'TASK_UPDATED'; task: Task; state: TaskState; status?: TaskStatus }
  | { kind: 'AGENT_ADDED'; agent: AgentEntry }
  /** `reason` (this project's addition to Mesos' event): why it left, when the master knows. */
  | { kind: 'AGENT_REMOVED'; agentId: string; reason?: 'unreachable' | 'unregistered' | 'gone' }
  | { kind: 'FRAMEWORK_ADDED' | 'FRAMEWORK_UPDATED' | 'FRAMEWORK_REMOVED'; framework: FrameworkEntry };

/** An {@link OperatorEvent} for the runtime to pass on. */
export interface OperatorEventEffect {
  type: 'effect.operatorEvent';
  event: OperatorEvent;
}

/** Tells subscribed operators about `event`. */
export function announce(out: Out, event: OperatorEvent): void {
  out.push({ type: 'effect.operatorEvent', event });
}

/**
 * The master's decision on an operator's call (`TeardownFramework`, `UpdateQuota`,
 * `UpdateWeights`, `MarkAgentGone`), for the runtime to hand to whoever waits on it (an HTTP
 * request acting as that operator): `ok` once the change is made (stored first where it must be),
 * `forbidden` when the ACLs refuse it, `unknown` when it names no framework or agent the master
 * knows, `conflict` when the object is busy with another change.
 */
export interface OperatorAnswerEffect {
  type: 'effect.operatorAnswer';
  /** The operator's PID (the call's sender). */
  to: string;
  call: string;
  outcome: 'ok' | 'forbidden' | 'unknown' | 'conflict';
  message?: string;
}

/** Answers the operator at `to`. */
export function answerOperator(out: Out, to: string, call: string, outcome: OperatorAnswerEffect['outcome'], message?: string): void {
  out.push(message === undefined ? { type: 'effect.operatorAnswer', to, call, outcome } : { type: 'effect.operatorAnswer', to, call, outcome, message });
}

/** What a handler returns: messages, log lines and effects, in order. */
export type MasterEmitted = SendEvent | SendAllEvent | LogEvent | RegistryEffect | RegistryLoadEffect | OperatorEventEffect | OperatorAnswerEffect;
export type Out = MasterEmitted[];

/** An empty state. */
export function initialMasterState(flags: MasterFlags = DEFAULT_MASTER_FLAGS): MasterState {
  return {
    agents: new Map(),
    agentsByPid: new Map(),
    recovered: new Map(),
    registry: { admitted: new Map(), unreachable: new Map(), gone: new Map(), quotas: new Map(), weights: new Map() },
    pendingOps: new Map(),
    nextOpId: 1,
    admitting: { pids: new Set(), ids: new Set() },
    partials: new Map(),
    frameworks: new Map(),
    completedFrameworks: [],
    offers: new Map(),
    allocator: new HierarchicalAllocator({ ...flags.allocator, allocationIntervalMs: flags.allocationIntervalMs }),
    allocation: { dirty: new Set(), all: false, batch: false },
    revocations: new Map(),
    nextFrameworkSeq: 0,
    nextAgentSeq: 0,
    nextOfferSeq: 0,
    nextUpdateSeq: 0,
    electedAt: 0,
    metrics: {},
    taskStates: {},
  };
}

/**
 * A broken internal invariant. Thrown inside a handler it ends the leadership (Mesos' `CHECK`):
 * serving on half-updated state is worse than handing over. Handlers validate input before they
 * change anything, so no message can provoke it.
 */
export class InvariantError extends Error {
  override name = 'InvariantError';
}

/** Throws {@link InvariantError} unless `cond` holds. */
export function check(cond: unknown, what: string): asserts cond {
  if (!cond) throw new InvariantError(what);
}

/** Adds `by` to metric `key`. */
export function bump(s: MasterState, key: string, by = 1): void {
  s.metrics[key] = (s.metrics[key] ?? 0) + by;
}

/** Sends `msg` to `to` (when known), stamped with the leadership epoch. */
export function sendTo(env: MasterEnv, to: string | undefined, msg: Message, out: Out): void {
  if (to) out.push(send(to, msg, env.epoch));
}

/** This master as `MasterInfo`. */
export function masterInfo(env: MasterEnv) {
  return { id: env.runId, pid: env.self, hostname: env.hostname, epoch: env.epoch };
}

/** True when the framework declared `PARTITION_AWARE`. */
export function isPartitionAware(fw: FrameworkEntry | undefined): boolean {
  return fw?.info.capabilities?.includes('PARTITION_AWARE') ?? false;
}

/** The role a framework's resources are allocated to. */
export function roleOf(info: FrameworkInfo): string {
  return info.roles?.[0] ?? '*';
}

/** The principal a message's sender acts for, as its PID names it (`undefined`: not authenticated). */
export function principalOf(from: string): string | undefined {
  const p = parsePid(from)?.principal;
  return p === undefined || p === ANONYMOUS_PRINCIPAL ? undefined : p;
}

/**
 * Whether the sender of a message may do `action` on `object`; a denial is logged and counted
 * (`master/unauthorized/<action>`). @see Mesos `Master::authorize*`
 */
export function permitted(s: MasterState, env: MasterEnv, from: string, action: AclAction, object: string | undefined, out: Out): boolean {
  const principal = principalOf(from);
  if (authorized(env.flags.acls, action, principal, object)) return true;
  bump(s, `master/unauthorized/${action}`);
  out.push(log('warn', `Refused ${action} of ${object ?? 'anything'} for principal ${principal ?? '(none)'}: not authorized by the ACLs`, { from }));
  return false;
}

/** What agents are told about pings: the total time without one before they re-register. */
export function connectionInfo(env: MasterEnv) {
  return { totalPingTimeoutSeconds: (env.flags.agentPingTimeoutMs * env.flags.maxAgentPingTimeouts) / 1000 };
}

/**
 * A framework's totals span agents, where ranges and sets (ports) mean nothing summed; like Mesos'
 * sorter, frameworks are charged scalar quantities only.
 */
export function scalarsOf(r: Resources): Resources {
  return flatten(r).filter((x) => x.type === 'SCALAR');
}

/**
 * Sends a status update generated by the master itself (no acknowledgement expected).
 * @see Mesos `protobuf::createStatusUpdate` with `SOURCE_MASTER`.
 */
export function masterUpdate(
  s: MasterState,
  env: MasterEnv,
  fw: FrameworkEntry | undefined,
  taskId: string,
  state: TaskState,
  reason: TaskReason,
  message: string,
  out: Out,
  extra: { agentId?: string; unreachableTime?: number } = {},
): void {
  if (!fw?.pid || !fw.connected) return;
  const status: TaskStatus = { taskId, state, reason, message, source: 'SOURCE_MASTER', timestamp: env.now };
  if (extra.agentId) status.agentId = extra.agentId;
  if (extra.unreachableTime !== undefined) status.unreachableTime = extra.unreachableTime;
  const update: StatusUpdateRecord = { frameworkId: fw.id, status, uuid: `${env.runId}-u${s.nextUpdateSeq++}` };
  if (extra.agentId) update.agentId = extra.agentId;
  sendTo(env, fw.pid, { type: 'StatusUpdate', body: { update } }, out);
}

/** Asks for an allocation pass over `agentId` (or every agent) at the next step. */
export function markDirty(s: MasterState, agentId?: string): void {
  if (agentId === undefined) s.allocation.all = true;
  else s.allocation.dirty.add(agentId);
}

/** True when an allocation step is wanted. */
export function allocationWanted(s: MasterState): boolean {
  const a = s.allocation;
  return a.all || a.batch || a.dirty.size > 0 || a.pass !== undefined;
}

/**
 * Whether to ask for an allocation step now: something is marked and no step is asked for yet.
 * Marks it asked for; the step clears that.
 */
export function allocationToRequest(s: MasterState): boolean {
  if (s.allocation.requested || !allocationWanted(s)) return false;
  s.allocation.requested = true;
  return true;
}

/** A key naming a task across frameworks. */
export function taskKey(frameworkId: string, taskId: string): string {
  return `${frameworkId}\u0000${taskId}`;
}

/** Puts a task in its framework's table and its agent's index. */
export function addTask(s: MasterState, fw: FrameworkEntry, entry: TaskEntry): void {
  const old = fw.tasks.get(entry.task.taskId);
  if (old) {
    unindexTask(s, old);
    countTaskState(s, old.task.state, -1);
  }
  fw.tasks.set(entry.task.taskId, entry);
  countTaskState(s, entry.task.state, 1);
  const agent = s.agents.get(entry.task.agentId);
  if (agent) {
    agent.tasks.add(entry);
    agent.lastAnswer = undefined; // what the agent last reported no longer covers what runs there
  }
}

/** Takes a task out of its agent's index (its framework's table is the caller's). */
export function unindexTask(s: MasterState, t: TaskEntry): void {
  const agent = s.agents.get(t.task.agentId);
  if (!agent) return;
  agent.tasks.delete(t);
  agent.lastAnswer = undefined;
}

/** Takes a task out of its framework's table and its agent's index. */
export function dropTask(s: MasterState, fw: FrameworkEntry, taskId: string): TaskEntry | undefined {
  const t = fw.tasks.get(taskId);
  if (!t) return undefined;
  fw.tasks.delete(taskId);
  countTaskState(s, t.task.state, -1);
  unindexTask(s, t);
  return t;
}

/** Keeps an ended task among its framework's completed ones, the oldest let go past the flag's limit. */
export function keepCompleted(fw: FrameworkEntry, task: Task, env: MasterEnv): void {
  fw.completedTasks.push(task);
  if (fw.completedTasks.length > env.flags.maxCompletedTasksPerFramework) fw.completedTasks.shift();
}

/** Counts `n` more (or fewer) tasks in `state` in the frameworks' tables. */
export function countTaskState(s: MasterState, state: string, n: number): void {
  s.taskStates[state] = (s.taskStates[state] ?? 0) + n;
}

/** Sets the state of a task in its framework's table, keeping the counts by state. */
export function setTaskState(s: MasterState, t: TaskEntry, state: TaskState): void {
  countTaskState(s, t.task.state, -1);
  countTaskState(s, state, 1);
  t.task.state = state;
}
