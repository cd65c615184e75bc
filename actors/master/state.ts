/**
 * The master's soft state and the pure handlers that change it. Each handler takes the state,
 * the inbound event and an environment (time, ids, flags), updates the state in place and returns
 * the messages to send. The machine in `master.machine.ts` only routes events here and emits what
 * comes back; everything that decides anything lives in this file and the allocator.
 *
 * The state is deliberately *soft* (DESIGN.md §4): a new leader rebuilds it from agents
 * re-registering with their tasks and frameworks re-subscribing.
 *
 * @see Mesos `src/master/master.cpp` (`Master::_subscribe`, `accept`, `decline`, `kill`, `statusUpdate`,
 * `removeFramework`, `_reconcileTasks`).
 */
import { add, contains, flatten, isEmpty, subtract, type Resources } from '../../protocols/resources.ts';

/**
 * A framework's totals span agents, where ranges and sets (ports) mean nothing summed; like Mesos'
 * sorter, frameworks are charged scalar quantities only.
 */
function quantities(r: Resources): Resources {
  return flatten(r).filter((x) => x.type === 'SCALAR');
}
import type {
  AgentInfo,
  ExecutorInfo,
  Filters,
  FrameworkInfo,
  Offer,
  StatusUpdateRecord,
  Task,
  TaskInfo,
  TaskStatus,
} from '../../protocols/records.ts';
import { agentIdFor, frameworkIdFor, offerIdFor } from '../../protocols/ids.ts';
import { isTerminalState, type TaskReason, type TaskState } from '../../protocols/task-states.ts';
import type { Message } from '../../protocols/messages.ts';
import { send, type Inbound, type SendEvent } from '../common.ts';
import { HierarchicalAllocator, type AllocatorOptions } from './allocator/hierarchical.ts';
import { quantities as toQuantities } from './allocator/quantities.ts';
import { chooseRevocations, type RevocationCandidate } from './allocator/revocation.ts';

/** Master flags that shape behaviour. Every timer is a flag. */
export interface MasterFlags {
  allocationIntervalMs: number;
  /** Default decline filter when a framework gives none. @see `Filters.refuse_seconds` */
  defaultRefuseSeconds: number;
  /** Rescind unanswered offers after this long; 0 = never. */
  offerTimeoutMs: number;
  agentPingTimeoutMs: number;
  maxAgentPingTimeouts: number;
  /** How many finished frameworks and tasks `/state` keeps. */
  maxCompletedFrameworks: number;
  maxCompletedTasksPerFramework: number;
  /** Sorters, minimum allocatable size and shuffle seed. @see `--role_sorter`, `--framework_sorter` */
  allocator: Partial<AllocatorOptions>;
  /** Between telling a framework its tasks will be revoked and killing them. */
  revocationGracePeriodMs: number;
}

/** Mesos' defaults (DESIGN.md §7). */
export const DEFAULT_MASTER_FLAGS: MasterFlags = {
  allocationIntervalMs: 1000,
  defaultRefuseSeconds: 5,
  offerTimeoutMs: 0,
  agentPingTimeoutMs: 15_000,
  maxAgentPingTimeouts: 5,
  maxCompletedFrameworks: 50,
  maxCompletedTasksPerFramework: 1000,
  allocator: {},
  revocationGracePeriodMs: 5000,
};

/** A registered agent. */
export interface AgentEntry {
  id: string;
  pid: string;
  info: AgentInfo;
  total: Resources;
  /** Used by tasks and executors. */
  used: Resources;
  /** Sitting in outstanding offers. */
  offered: Resources;
  executors: Map<string, ExecutorInfo & { frameworkId: string }>;
  registeredAt: number;
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

/** A subscribed (or recovered) framework. */
export interface FrameworkEntry {
  id: string;
  pid?: string;
  info: FrameworkInfo;
  role: string;
  active: boolean;
  /** Known only from an agent's re-registration; waiting for its scheduler to come back. */
  recovered: boolean;
  suppressed: boolean;
  used: Resources;
  offered: Resources;
  tasks: Map<string, TaskEntry>;
  offers: Set<string>;
  completedTasks: Task[];
  registeredAt: number;
}

/** An outstanding offer. */
export interface OfferEntry {
  offer: Offer;
  role: string;
  createdAt: number;
}

/** Counters exposed as metrics (`master/…`). */
export type MasterMetrics = Record<string, number>;

/** The master's soft state. */
export interface MasterState {
  agents: Map<string, AgentEntry>;
  agentsByPid: Map<string, string>;
  frameworks: Map<string, FrameworkEntry>;
  completedFrameworks: FrameworkEntry[];
  offers: Map<string, OfferEntry>;
  /** Decides who is offered what; keeps its own account of what is allocated where. */
  allocator: HierarchicalAllocator;
  /** Tasks scheduled for revocation: `frameworkId/taskId` → when to kill, and whether it was sent. */
  revocations: Map<string, { frameworkId: string; taskId: string; agentId: string; deadline: number; killed: boolean }>;
  nextFrameworkSeq: number;
  nextAgentSeq: number;
  nextOfferSeq: number;
  metrics: MasterMetrics;
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

/** An empty state. */
export function initialMasterState(flags: MasterFlags = DEFAULT_MASTER_FLAGS): MasterState {
  return {
    agents: new Map(),
    agentsByPid: new Map(),
    frameworks: new Map(),
    completedFrameworks: [],
    offers: new Map(),
    allocator: new HierarchicalAllocator({ ...flags.allocator, allocationIntervalMs: flags.allocationIntervalMs }),
    revocations: new Map(),
    nextFrameworkSeq: 0,
    nextAgentSeq: 0,
    nextOfferSeq: 0,
    metrics: {},
  };
}

type Out = SendEvent[];

function bump(s: MasterState, key: string, by = 1): void {
  s.metrics[key] = (s.metrics[key] ?? 0) + by;
}

function sendTo(env: MasterEnv, to: string | undefined, msg: Message, out: Out): void {
  if (to) out.push(send(to, msg, env.epoch));
}

function masterInfo(env: MasterEnv) {
  return { id: env.runId, pid: env.self, hostname: env.hostname, epoch: env.epoch };
}

function isPartitionAware(fw: FrameworkEntry | undefined): boolean {
  return fw?.info.capabilities?.includes('PARTITION_AWARE') ?? false;
}

function roleOf(info: FrameworkInfo): string {
  return info.roles?.[0] ?? '*';
}

function connectionInfo(env: MasterEnv) {
  return { totalPingTimeoutSeconds: (env.flags.agentPingTimeoutMs * env.flags.maxAgentPingTimeouts) / 1000 };
}

/** Sends a status update generated by the master itself (no acknowledgement expected). */
function masterUpdate(
  env: MasterEnv,
  fw: FrameworkEntry | undefined,
  taskId: string,
  state: TaskState,
  reason: TaskReason,
  message: string,
  out: Out,
  agentId?: string,
): void {
  if (!fw?.pid) return;
  const status: TaskStatus = { taskId, state, reason, message, source: 'SOURCE_MASTER', timestamp: env.now };
  if (agentId) status.agentId = agentId;
  const update: StatusUpdateRecord = { frameworkId: fw.id, status, uuid: `${env.runId}-u-${taskId}-${env.now}` };
  if (agentId) update.agentId = agentId;
  sendTo(env, fw.pid, { type: 'StatusUpdate', body: { update } }, out);
}

// ── agents ─────────────────────────────────────────────────────────────────────────────────

/** `RegisterAgent`: admit a new agent, or answer again an agent that retried. */
export function registerAgent(s: MasterState, ev: Inbound<'RegisterAgent'>, env: MasterEnv): Out {
  const out: Out = [];
  const known = s.agentsByPid.get(ev.from);
  if (known) {
    sendTo(env, ev.from, { type: 'AgentRegistered', body: { agentId: known, connection: connectionInfo(env) } }, out);
    return out;
  }
  const id = agentIdFor(env.runId, s.nextAgentSeq++);
  allocatorAddAgent(s, addAgent(s, id, ev.from, ev.body.agent, env));
  bump(s, 'master/slave_registrations');
  sendTo(env, ev.from, { type: 'AgentRegistered', body: { agentId: id, connection: connectionInfo(env) } }, out);
  return out;
}

function addAgent(s: MasterState, id: string, agentPid: string, info: AgentInfo, env: MasterEnv): AgentEntry {
  const entry: AgentEntry = {
    id,
    pid: agentPid,
    info: { ...info, id },
    total: info.resources,
    used: [],
    offered: [],
    executors: new Map(),
    registeredAt: env.now,
  };
  s.agents.set(id, entry);
  s.agentsByPid.set(agentPid, id);
  return entry;
}

/** Tells the allocator about an agent, with what is already running on it. */
function allocatorAddAgent(s: MasterState, entry: AgentEntry): void {
  const used: Array<{ frameworkId: string; role: string; agentId: string; resources: Resources }> = [];
  for (const fw of s.frameworks.values()) {
    for (const t of fw.tasks.values()) if (t.task.agentId === entry.id && !t.freed) used.push({ frameworkId: fw.id, role: t.role, agentId: entry.id, resources: t.task.resources });
  }
  for (const e of entry.executors.values()) {
    const fw = s.frameworks.get(e.frameworkId);
    used.push({ frameworkId: e.frameworkId, role: fw?.role ?? '*', agentId: entry.id, resources: e.resources });
  }
  s.allocator.addAgent(entry.id, { hostname: entry.info.hostname, total: entry.total }, used);
}

/**
 * `ReregisterAgent`: an agent we know (it restarted or reconnected) or one a previous leader admitted
 * (this master is new). Its tasks and executors are taken as the truth and its frameworks recovered.
 */
export function reregisterAgent(s: MasterState, ev: Inbound<'ReregisterAgent'>, env: MasterEnv): Out {
  const out: Out = [];
  const { agent, tasks, executors, frameworks } = ev.body;
  const id = agent.id;
  if (!id) return out;
  let entry = s.agents.get(id);
  if (entry) {
    if (entry.pid !== ev.from) s.agentsByPid.delete(entry.pid);
    entry.pid = ev.from;
    s.agentsByPid.set(ev.from, id);
  } else {
    entry = addAgent(s, id, ev.from, agent, env);
    for (const info of frameworks) {
      if (!info.id || s.frameworks.has(info.id)) continue;
      s.frameworks.set(info.id, newFramework(s, info.id, undefined, info, env, true));
    }
    for (const e of executors) {
      if (!e.frameworkId) continue;
      entry.executors.set(`${e.frameworkId}/${e.executorId}`, { ...e, frameworkId: e.frameworkId });
      entry.used = add(entry.used, e.resources);
      const fw = s.frameworks.get(e.frameworkId);
      if (fw) fw.used = add(fw.used, quantities(e.resources));
    }
    for (const t of tasks) {
      const fw = s.frameworks.get(t.frameworkId);
      if (!fw || fw.tasks.has(t.taskId) || isTerminalState(t.state)) continue;
      fw.tasks.set(t.taskId, { task: { ...t }, role: fw.role, launchedAt: env.now, freed: false });
      entry.used = add(entry.used, t.resources);
      fw.used = add(fw.used, quantities(t.resources));
    }
    allocatorAddAgent(s, entry);
    bump(s, 'master/slave_reregistrations');
  }
  sendTo(env, ev.from, { type: 'AgentReregistered', body: { agentId: id, connection: connectionInfo(env) } }, out);
  return out;
}

/** Removes an agent: its offers are rescinded, its tasks lost, frameworks told. */
export function removeAgent(s: MasterState, agentId: string, env: MasterEnv, reason: TaskReason): Out {
  const out: Out = [];
  const entry = s.agents.get(agentId);
  if (!entry) return out;
  for (const [offerId, o] of [...s.offers]) {
    if (o.offer.agentId === agentId) rescindOffer(s, offerId, env, out);
  }
  for (const fw of s.frameworks.values()) {
    for (const [taskId, t] of [...fw.tasks]) {
      if (t.task.agentId !== agentId) continue;
      const state: TaskState = isPartitionAware(fw) ? 'TASK_GONE' : 'TASK_LOST';
      masterUpdate(env, fw, taskId, state, reason, 'Agent removed', out, agentId);
      finishTask(s, fw, taskId, state, env);
    }
    sendTo(env, fw.pid, { type: 'AgentLost', body: { agentId } }, out);
  }
  s.agents.delete(agentId);
  s.agentsByPid.delete(entry.pid);
  s.allocator.removeAgent(agentId);
  bump(s, 'master/slave_removals');
  return out;
}

/** `UnregisterAgent`: the agent leaves cleanly. */
export function unregisterAgent(s: MasterState, ev: Inbound<'UnregisterAgent'>, env: MasterEnv): Out {
  const entry = s.agents.get(ev.body.agentId);
  if (!entry || entry.pid !== ev.from) return [];
  return removeAgent(s, entry.id, env, 'REASON_AGENT_REMOVED');
}

// ── frameworks ─────────────────────────────────────────────────────────────────────────────

function newFramework(s: MasterState, id: string, schedPid: string | undefined, info: FrameworkInfo, env: MasterEnv, recovered = false): FrameworkEntry {
  s.allocator.addFramework(id, { roles: [roleOf(info)], capabilities: info.capabilities ?? [] });
  if (recovered) s.allocator.deactivateFramework(id);
  return {
    id,
    pid: schedPid,
    info: { ...info, id },
    role: roleOf(info),
    active: !recovered,
    recovered,
    suppressed: false,
    used: [],
    offered: [],
    tasks: new Map(),
    offers: new Set(),
    completedTasks: [],
    registeredAt: env.now,
  };
}

/**
 * `SubscribeFramework`: a new framework gets an id; a known id fails the old scheduler over to the
 * sender; a completed framework's id is refused.
 */
export function subscribeFramework(s: MasterState, ev: Inbound<'SubscribeFramework'>, env: MasterEnv): Out {
  const out: Out = [];
  const info = ev.body.framework;
  const body = (frameworkId: string) => ({ frameworkId, master: masterInfo(env) });
  if (info.id) {
    if (s.completedFrameworks.some((f) => f.id === info.id)) {
      sendTo(env, ev.from, { type: 'FrameworkError', body: { message: 'Framework has been removed' } }, out);
      return out;
    }
    const fw = s.frameworks.get(info.id);
    if (fw) {
      if (fw.pid && fw.pid !== ev.from) {
        sendTo(env, fw.pid, { type: 'FrameworkError', body: { message: 'Framework failed over' } }, out);
        for (const offerId of [...fw.offers]) rescindOffer(s, offerId, env, out);
      }
      fw.pid = ev.from;
      fw.info = { ...info, id: fw.id };
      fw.role = roleOf(info);
      fw.active = true;
      fw.recovered = false;
      s.allocator.updateFramework(fw.id, { roles: [fw.role], capabilities: info.capabilities ?? [] });
      s.allocator.activateFramework(fw.id);
      bump(s, 'master/frameworks_reregistered');
      sendTo(env, ev.from, { type: 'FrameworkReregistered', body: body(fw.id) }, out);
      return out;
    }
    // A framework a previous leader knew: take it back with its id.
    s.frameworks.set(info.id, newFramework(s, info.id, ev.from, info, env));
    sendTo(env, ev.from, { type: 'FrameworkReregistered', body: body(info.id) }, out);
    return out;
  }
  for (const fw of s.frameworks.values()) {
    if (fw.pid === ev.from && fw.active) {
      // The driver retried before our answer reached it.
      sendTo(env, ev.from, { type: 'FrameworkRegistered', body: body(fw.id) }, out);
      return out;
    }
  }
  const id = frameworkIdFor(env.runId, s.nextFrameworkSeq++);
  s.frameworks.set(id, newFramework(s, id, ev.from, info, env));
  bump(s, 'master/frameworks_registered');
  sendTo(env, ev.from, { type: 'FrameworkRegistered', body: body(id) }, out);
  return out;
}

/** The framework the sender may act for, or `undefined` (the caller drops the message). */
export function frameworkOf(s: MasterState, frameworkId: string, from: string): FrameworkEntry | undefined {
  const fw = s.frameworks.get(frameworkId);
  return fw && fw.pid === from ? fw : undefined;
}

/** `DeactivateFramework`: stop offering, keep tasks running (the scheduler may fail over). */
export function deactivateFramework(s: MasterState, fw: FrameworkEntry, env: MasterEnv): Out {
  const out: Out = [];
  fw.active = false;
  for (const offerId of [...fw.offers]) rescindOffer(s, offerId, env, out);
  s.allocator.deactivateFramework(fw.id);
  return out;
}

/**
 * `TeardownFramework`: kill its tasks and executors on every agent, free its resources and move
 * it to the completed frameworks.
 */
export function teardownFramework(s: MasterState, fw: FrameworkEntry, env: MasterEnv): Out {
  const out: Out = [];
  for (const offerId of [...fw.offers]) removeOffer(s, offerId, true);
  const agentIds = new Set<string>();
  for (const t of fw.tasks.values()) agentIds.add(t.task.agentId);
  for (const a of s.agents.values()) {
    for (const [key, e] of [...a.executors]) {
      if (e.frameworkId !== fw.id) continue;
      agentIds.add(a.id);
      a.executors.delete(key);
      a.used = subtract(a.used, e.resources);
      fw.used = subtract(fw.used, quantities(e.resources));
    }
  }
  for (const agentId of agentIds) {
    sendTo(env, s.agents.get(agentId)?.pid, { type: 'ShutdownFramework', body: { frameworkId: fw.id } }, out);
  }
  for (const taskId of [...fw.tasks.keys()]) finishTask(s, fw, taskId, 'TASK_KILLED', env);
  s.frameworks.delete(fw.id);
  s.allocator.removeFramework(fw.id);
  fw.active = false;
  s.completedFrameworks.push(fw);
  if (s.completedFrameworks.length > env.flags.maxCompletedFrameworks) s.completedFrameworks.shift();
  bump(s, 'master/frameworks_removed');
  return out;
}

// ── offers ─────────────────────────────────────────────────────────────────────────────────

/** Forgets an offer; with `recover` its resources go back to the allocator (no filter). */
function removeOffer(s: MasterState, offerId: string, recover: boolean): OfferEntry | undefined {
  const o = s.offers.get(offerId);
  if (!o) return undefined;
  s.offers.delete(offerId);
  if (recover) s.allocator.recoverResources(o.offer.frameworkId, o.offer.agentId, o.role, o.offer.resources, 0);
  const agent = s.agents.get(o.offer.agentId);
  if (agent) agent.offered = subtract(agent.offered, o.offer.resources);
  const fw = s.frameworks.get(o.offer.frameworkId);
  if (fw) {
    fw.offered = subtract(fw.offered, quantities(o.offer.resources));
    fw.offers.delete(offerId);
  }
  return o;
}

function rescindOffer(s: MasterState, offerId: string, env: MasterEnv, out: Out): void {
  const o = removeOffer(s, offerId, true);
  if (!o) return;
  bump(s, 'master/offers_rescinded');
  sendTo(env, s.frameworks.get(o.offer.frameworkId)?.pid, { type: 'OffersRescinded', body: { offerIds: [offerId] } }, out);
}

function refuseSeconds(filters: Filters | undefined, env: MasterEnv): number {
  const r = filters?.refuseSeconds;
  if (r === undefined || !Number.isFinite(r) || r < 0) return env.flags.defaultRefuseSeconds;
  return Math.min(r, 365 * 24 * 3600);
}

/** `DeclineOffers`: give the offers back, refusing them for `filters.refuseSeconds`. */
export function declineOffers(s: MasterState, fw: FrameworkEntry, ev: Inbound<'DeclineOffers'>, env: MasterEnv): Out {
  for (const offerId of ev.body.offerIds) {
    const o = s.offers.get(offerId);
    if (!o || o.offer.frameworkId !== fw.id) continue;
    removeOffer(s, offerId, false);
    s.allocator.recoverResources(fw.id, o.offer.agentId, o.role, o.offer.resources, env.now, refuseSeconds(ev.body.filters, env));
    bump(s, 'master/offers_declined');
  }
  return [];
}

/** `ReviveOffers`: drop the framework's filters and resume offers. */
export function reviveOffers(s: MasterState, fw: FrameworkEntry, roles?: readonly string[]): Out {
  s.allocator.reviveOffers(fw.id, roles);
  fw.suppressed = false;
  bump(s, 'master/messages_revive_offers');
  return [];
}

/** `SuppressOffers`: no offers until revived. */
export function suppressOffers(s: MasterState, fw: FrameworkEntry, roles?: readonly string[]): Out {
  s.allocator.suppressOffers(fw.id, roles);
  fw.suppressed = true;
  bump(s, 'master/messages_suppress_offers');
  return [];
}

/**
 * Runs the allocator over all (or only `onlyAgents`) agents and turns its decisions into offers.
 * `batch` marks the periodic pass, after which run-out decline filters are removed.
 */
export function allocateOffers(s: MasterState, env: MasterEnv, onlyAgents?: ReadonlySet<string>, batch = false): Out {
  const out: Out = [];
  const decisions = s.allocator.allocate(env.now, { ...(onlyAgents ? { agentIds: onlyAgents } : {}), batch });
  const byFramework = new Map<string, Offer[]>();
  for (const d of decisions) {
    const agent = s.agents.get(d.agentId)!;
    const fw = s.frameworks.get(d.frameworkId)!;
    const offer: Offer = {
      id: offerIdFor(env.runId, s.nextOfferSeq++),
      frameworkId: fw.id,
      agentId: agent.id,
      hostname: agent.info.hostname,
      resources: d.resources,
      attributes: agent.info.attributes,
      executorIds: [...agent.executors.values()].filter((e) => e.frameworkId === fw.id).map((e) => e.executorId),
      role: d.role,
    };
    s.offers.set(offer.id, { offer, role: d.role, createdAt: env.now });
    agent.offered = add(agent.offered, d.resources);
    fw.offered = add(fw.offered, quantities(d.resources));
    fw.offers.add(offer.id);
    bump(s, 'master/offers_sent');
    const list = byFramework.get(fw.id) ?? [];
    list.push(offer);
    byFramework.set(fw.id, list);
  }
  for (const [fwId, offers] of byFramework) {
    sendTo(env, s.frameworks.get(fwId)?.pid, { type: 'ResourceOffers', body: { offers } }, out);
  }
  return out;
}

/** Rescinds offers older than the offer timeout. @see `--offer_timeout` */
export function expireOffers(s: MasterState, env: MasterEnv): Out {
  const out: Out = [];
  if (env.flags.offerTimeoutMs <= 0) return out;
  for (const [offerId, o] of [...s.offers]) {
    if (env.now - o.createdAt >= env.flags.offerTimeoutMs) rescindOffer(s, offerId, env, out);
  }
  return out;
}

/**
 * `LaunchTasks`: validate the offers (all known, all this framework's, all on one agent, none used
 * twice), then each task against what is left; run the valid tasks on the agent and decline what
 * remains with the given filters. Invalid offers lose every task (TASK_LOST, or TASK_DROPPED for
 * partition-aware frameworks) with `REASON_INVALID_OFFERS`; an invalid task gets TASK_ERROR.
 * @see Mesos `Master::accept` and `validation::offer::validate`.
 */
export function launchTasks(s: MasterState, fw: FrameworkEntry, ev: Inbound<'LaunchTasks'>, env: MasterEnv): Out {
  const out: Out = [];
  const { offerIds, tasks, filters } = ev.body;
  const offerError = validateOffers(s, fw, offerIds);
  if (offerError) {
    const state: TaskState = isPartitionAware(fw) ? 'TASK_DROPPED' : 'TASK_LOST';
    for (const t of tasks) masterUpdate(env, fw, t.taskId, state, 'REASON_INVALID_OFFERS', `Task launched with invalid offers: ${offerError}`, out);
    // Valid offers among them are given back: Mesos recovers them too.
    for (const id of offerIds) {
      const o = s.offers.get(id);
      if (o && o.offer.frameworkId === fw.id) removeOffer(s, id, true);
    }
    bump(s, 'master/invalid_offers', offerIds.length);
    return out;
  }
  if (offerIds.length === 0) return out;
  const used = offerIds.map((id) => removeOffer(s, id, false)!);
  const role = used[0]!.role;
  bump(s, 'master/offers_accepted', used.length);
  const agent = s.agents.get(used[0]!.offer.agentId)!;
  let remaining: Resources = [];
  for (const o of used) remaining = add(remaining, o.offer.resources);
  for (const task of tasks) {
    const error = validateTask(s, fw, agent, task, remaining);
    if (error) {
      masterUpdate(env, fw, task.taskId, 'TASK_ERROR', 'REASON_TASK_INVALID', error, out, agent.id);
      bump(s, 'master/invalid_tasks');
      continue;
    }
    const needed = taskAndNewExecutorResources(agent, fw, task);
    remaining = subtract(remaining, needed);
    if (task.executor && !agent.executors.has(`${fw.id}/${task.executor.executorId}`)) {
      agent.executors.set(`${fw.id}/${task.executor.executorId}`, { ...task.executor, frameworkId: fw.id });
    }
    agent.used = add(agent.used, needed);
    fw.used = add(fw.used, quantities(needed));
    const entry: TaskEntry = {
      task: {
        taskId: task.taskId,
        name: task.name,
        frameworkId: fw.id,
        agentId: agent.id,
        executorId: task.executor?.executorId,
        state: 'TASK_STAGING',
        resources: task.resources,
      },
      role,
      launchedAt: env.now,
      freed: false,
    };
    if (entry.task.executorId === undefined) delete entry.task.executorId;
    fw.tasks.set(task.taskId, entry);
    bump(s, 'master/tasks_staging');
    sendTo(env, agent.pid, { type: 'RunTask', body: { frameworkId: fw.id, framework: fw.info, task, schedulerPid: fw.pid } }, out);
  }
  if (!isEmpty(remaining)) s.allocator.recoverResources(fw.id, agent.id, role, remaining, env.now, refuseSeconds(filters, env));
  return out;
}

function validateOffers(s: MasterState, fw: FrameworkEntry, offerIds: readonly string[]): string | undefined {
  const seen = new Set<string>();
  let agentId: string | undefined;
  for (const id of offerIds) {
    if (seen.has(id)) return `offer ${id} appears more than once`;
    seen.add(id);
    const o = s.offers.get(id);
    if (!o) return `offer ${id} is no longer valid`;
    if (o.offer.frameworkId !== fw.id) return `offer ${id} belongs to another framework`;
    if (agentId !== undefined && o.offer.agentId !== agentId) return 'offers come from different agents';
    agentId = o.offer.agentId;
    if (!s.agents.has(o.offer.agentId)) return `agent ${o.offer.agentId} of offer ${id} is gone`;
  }
  return undefined;
}

function taskAndNewExecutorResources(agent: AgentEntry, fw: FrameworkEntry, task: TaskInfo): Resources {
  if (task.executor && !agent.executors.has(`${fw.id}/${task.executor.executorId}`)) {
    return add(task.resources, task.executor.resources);
  }
  return task.resources;
}

function validateTask(s: MasterState, fw: FrameworkEntry, agent: AgentEntry, task: TaskInfo, remaining: Resources): string | undefined {
  if (fw.tasks.has(task.taskId)) return `task id '${task.taskId}' is already in use`;
  if (task.agentId !== agent.id) return `task targets agent ${task.agentId} but the offers are on ${agent.id}`;
  if ((task.command ? 1 : 0) + (task.executor ? 1 : 0) !== 1) return 'task must set exactly one of command or executor';
  if (isEmpty(task.resources)) return 'task uses no resources';
  if (task.executor) {
    const existing = agent.executors.get(`${fw.id}/${task.executor.executorId}`);
    if (existing && existing.command.value !== task.executor.command.value) {
      return `executor '${task.executor.executorId}' differs from the one already running`;
    }
  }
  const needed = taskAndNewExecutorResources(agent, fw, task);
  if (!contains(remaining, needed)) return 'task uses more resources than offered';
  return undefined;
}

// ── tasks and status updates ───────────────────────────────────────────────────────────────

/** Moves a task to its terminal state, freeing its resources exactly once. */
function finishTask(s: MasterState, fw: FrameworkEntry, taskId: string, state: TaskState, env: MasterEnv): void {
  const t = fw.tasks.get(taskId);
  if (!t) return;
  freeTaskResources(s, fw, t);
  t.task.state = state;
  fw.tasks.delete(taskId);
  fw.completedTasks.push(t.task);
  if (fw.completedTasks.length > env.flags.maxCompletedTasksPerFramework) fw.completedTasks.shift();
}

function freeTaskResources(s: MasterState, fw: FrameworkEntry, t: TaskEntry): void {
  if (t.freed) return;
  t.freed = true;
  const agent = s.agents.get(t.task.agentId);
  if (agent) agent.used = subtract(agent.used, t.task.resources);
  fw.used = subtract(fw.used, quantities(t.task.resources));
  s.allocator.recoverResources(fw.id, t.task.agentId, t.role, t.task.resources, 0);
}

/**
 * `StatusUpdate` from an agent: record the latest state, free resources on the first terminal
 * state, and forward to the scheduler (the agent retries until the scheduler acknowledges).
 */
export function statusUpdate(s: MasterState, ev: Inbound<'StatusUpdate'>, env: MasterEnv): { out: Out; freedOn?: string } {
  const out: Out = [];
  const agentId = s.agentsByPid.get(ev.from);
  if (!agentId) return { out };
  const { update } = ev.body;
  const fw = s.frameworks.get(update.frameworkId);
  bump(s, 'master/messages_status_update');
  if (!fw) return { out };
  const t = fw.tasks.get(update.status.taskId);
  let freedOn: string | undefined;
  if (t) {
    const latest = update.latestState ?? update.status.state;
    t.status = update.status;
    t.task.state = latest;
    t.task.statusUpdateState = update.status.state;
    t.task.statusUpdateUuid = update.uuid;
    if (isTerminalState(latest) && !t.freed) {
      freeTaskResources(s, fw, t);
      bump(s, `master/tasks_${latest.slice(5).toLowerCase()}`);
      freedOn = t.task.agentId;
    }
  }
  if (fw.active) sendTo(env, fw.pid, { type: 'StatusUpdate', body: { update } }, out);
  return { out, freedOn };
}

/**
 * `AcknowledgeStatusUpdate` from a scheduler: pass it to the agent; a terminal task whose terminal
 * update is acknowledged leaves the task table.
 */
export function acknowledgeStatusUpdate(s: MasterState, fw: FrameworkEntry, ev: Inbound<'AcknowledgeStatusUpdate'>, env: MasterEnv): Out {
  const out: Out = [];
  const { agentId, taskId, uuid } = ev.body;
  const agent = s.agents.get(agentId);
  const t = fw.tasks.get(taskId);
  if (t && t.task.statusUpdateUuid === uuid && t.task.statusUpdateState && isTerminalState(t.task.statusUpdateState)) {
    finishTask(s, fw, taskId, t.task.statusUpdateState, env);
  }
  sendTo(env, agent?.pid, { type: 'StatusUpdateAcknowledgement', body: { agentId, frameworkId: fw.id, taskId, uuid } }, out);
  return out;
}

/** `KillTask`: forward to the agent running it; an unknown task is reported lost. */
export function killTask(s: MasterState, fw: FrameworkEntry, ev: Inbound<'KillTask'>, env: MasterEnv): Out {
  const out: Out = [];
  const t = fw.tasks.get(ev.body.taskId);
  bump(s, 'master/messages_kill_task');
  if (!t) {
    const state: TaskState = isPartitionAware(fw) ? 'TASK_UNKNOWN' : 'TASK_LOST';
    masterUpdate(env, fw, ev.body.taskId, state, 'REASON_RECONCILIATION', 'Attempted to kill an unknown task', out);
    return out;
  }
  const agent = s.agents.get(t.task.agentId);
  sendTo(env, agent?.pid, { type: 'KillTask', body: { frameworkId: fw.id, taskId: ev.body.taskId, agentId: t.task.agentId } }, out);
  return out;
}

/** `ExitedExecutor` from an agent: free the executor's resources and tell the scheduler. */
export function exitedExecutor(s: MasterState, ev: Inbound<'ExitedExecutor'>, env: MasterEnv): { out: Out; freedOn?: string } {
  const out: Out = [];
  const agentId = s.agentsByPid.get(ev.from);
  if (!agentId || agentId !== ev.body.agentId) return { out };
  const agent = s.agents.get(agentId)!;
  const key = `${ev.body.frameworkId}/${ev.body.executorId}`;
  const e = agent.executors.get(key);
  const fw = s.frameworks.get(ev.body.frameworkId);
  if (e) {
    agent.executors.delete(key);
    agent.used = subtract(agent.used, e.resources);
    if (fw) fw.used = subtract(fw.used, quantities(e.resources));
    s.allocator.recoverResources(ev.body.frameworkId, agentId, fw?.role ?? '*', e.resources, 0);
  }
  sendTo(env, fw?.pid, { type: 'ExitedExecutor', body: ev.body }, out);
  return { out, freedOn: e ? agentId : undefined };
}

/**
 * `ReconcileTasks`: explicit (listed tasks) or implicit (empty list: every task the master knows).
 * Known task → its latest state; unknown task on a registered agent → TASK_LOST (TASK_GONE when
 * partition-aware); unknown agent → TASK_LOST (TASK_UNKNOWN when partition-aware).
 * @see Mesos `Master::_reconcileTasks`.
 */
export function reconcileTasks(s: MasterState, fw: FrameworkEntry, ev: Inbound<'ReconcileTasks'>, env: MasterEnv): Out {
  const out: Out = [];
  const reply = (taskId: string, state: TaskState, agentId?: string, message = 'Reconciliation: latest task status') => {
    const status: TaskStatus = { taskId, state, reason: 'REASON_RECONCILIATION', source: 'SOURCE_MASTER', message, timestamp: env.now };
    if (agentId) status.agentId = agentId;
    const update: StatusUpdateRecord = { frameworkId: fw.id, status, uuid: `${env.runId}-r-${taskId}-${env.now}` };
    if (agentId) update.agentId = agentId;
    sendTo(env, fw.pid, { type: 'StatusUpdate', body: { update } }, out);
  };
  if (ev.body.statuses.length === 0) {
    for (const t of fw.tasks.values()) reply(t.task.taskId, t.task.state, t.task.agentId);
    return out;
  }
  const pa = isPartitionAware(fw);
  for (const st of ev.body.statuses) {
    const t = fw.tasks.get(st.taskId);
    if (t) reply(st.taskId, t.task.state, t.task.agentId);
    else if (st.agentId && s.agents.has(st.agentId)) reply(st.taskId, pa ? 'TASK_GONE' : 'TASK_LOST', st.agentId, 'Reconciliation: task is unknown to the agent');
    else reply(st.taskId, pa ? 'TASK_UNKNOWN' : 'TASK_LOST', st.agentId, 'Reconciliation: task is unknown');
  }
  return out;
}

/** Forwards `FrameworkToExecutor` to the agent running the executor. */
export function frameworkToExecutor(s: MasterState, fw: FrameworkEntry, ev: Inbound<'FrameworkToExecutor'>, env: MasterEnv): Out {
  const out: Out = [];
  sendTo(env, s.agents.get(ev.body.agentId)?.pid, { type: 'FrameworkToExecutor', body: { ...ev.body, frameworkId: fw.id } }, out);
  return out;
}

/** Forwards `ExecutorToFramework` from an agent to the scheduler. */
export function executorToFramework(s: MasterState, ev: Inbound<'ExecutorToFramework'>, env: MasterEnv): Out {
  const out: Out = [];
  if (!s.agentsByPid.has(ev.from)) return out;
  sendTo(env, s.frameworks.get(ev.body.frameworkId)?.pid, { type: 'ExecutorToFramework', body: ev.body }, out);
  return out;
}

// ── operator, requests and revocation ──────────────────────────────────────────────────────

/** `RequestResources`: what the framework wants offered from now on. */
export function requestResources(s: MasterState, fw: FrameworkEntry, ev: Inbound<'RequestResources'>): Out {
  const { minOffer, preferredAgents, excludedAgents } = ev.body;
  const empty = !minOffer && !preferredAgents && !excludedAgents;
  s.allocator.requestResources(fw.id, empty ? undefined : {
    ...(minOffer ? { minOffer } : {}),
    ...(preferredAgents ? { preferredAgents } : {}),
    ...(excludedAgents ? { excludedAgents } : {}),
  });
  return [];
}

/** `UpdateQuota`, `UpdateWeights`, `UpdateWhitelist` from an operator. None allocates by itself. */
export function operatorUpdate(s: MasterState, ev: Inbound<'UpdateQuota' | 'UpdateWeights' | 'UpdateWhitelist'>): Out {
  switch (ev.type) {
    case 'UpdateQuota':
      s.allocator.updateQuota(ev.body.role, {
        ...(ev.body.guarantees ? { guarantees: toQuantities(ev.body.guarantees) } : {}),
        ...(ev.body.limits ? { limits: toQuantities(ev.body.limits) } : {}),
      });
      break;
    case 'UpdateWeights':
      s.allocator.updateWeights(ev.body.weights);
      break;
    case 'UpdateWhitelist':
      s.allocator.updateWhitelist(ev.body.hostnames);
      break;
    default:
      break;
  }
  bump(s, `master/messages_${ev.type.replace(/[A-Z]/g, (c, i: number) => (i ? '_' : '') + c.toLowerCase())}`);
  return [];
}

/**
 * Revocation, run after each batch allocation. Due revocations are killed; while any is pending
 * nothing new is planned (so no more is taken than needed). Otherwise, if unmet guarantees need
 * more than is free, the tasks to take back are chosen — from frameworks whose role is not itself
 * below its guarantee, most over-share first, youngest first, just enough — and their frameworks
 * are told, with the grace period, before anything is killed.
 */
export function planRevocations(s: MasterState, env: MasterEnv): Out {
  const out: Out = [];
  for (const [key, r] of s.revocations) {
    const t = s.frameworks.get(r.frameworkId)?.tasks.get(r.taskId);
    if (!t || isTerminalState(t.task.state) || t.freed) {
      s.revocations.delete(key);
      continue;
    }
    if (!r.killed && env.now >= r.deadline) {
      r.killed = true;
      bump(s, 'master/tasks_revoked');
      sendTo(env, s.agents.get(r.agentId)?.pid, { type: 'KillTask', body: { frameworkId: r.frameworkId, taskId: r.taskId, agentId: r.agentId } }, out);
    }
  }
  if (s.revocations.size > 0) return out;
  let deficit = s.allocator.headroomDeficit();
  if (deficit.size === 0) return out;
  // Outstanding offers count as allocated: take those back first, it costs nobody any work.
  const offerCandidates: RevocationCandidate[] = [];
  for (const { offer, role, createdAt } of s.offers.values()) {
    if (s.allocator.isBelowGuarantee(role)) continue;
    offerCandidates.push({ frameworkId: offer.frameworkId, taskId: offer.id, agentId: offer.agentId, resources: offer.resources, launchedAt: createdAt, share: s.allocator.frameworkShare(offer.frameworkId, role) });
  }
  const rescind = chooseRevocations(deficit, offerCandidates, { partial: true });
  for (const o of rescind) rescindOffer(s, o.taskId, env, out);
  if (rescind.length > 0) {
    deficit = s.allocator.headroomDeficit();
    if (deficit.size === 0) return out;
  }
  const candidates: RevocationCandidate[] = [];
  for (const fw of s.frameworks.values()) {
    if (s.allocator.isBelowGuarantee(fw.role)) continue;
    const share = s.allocator.frameworkShare(fw.id, fw.role);
    for (const t of fw.tasks.values()) {
      if (t.freed || isTerminalState(t.task.state)) continue;
      candidates.push({ frameworkId: fw.id, taskId: t.task.taskId, agentId: t.task.agentId, resources: t.task.resources, launchedAt: t.launchedAt, share });
    }
  }
  const chosen = chooseRevocations(deficit, candidates);
  const byFramework = new Map<string, Array<{ taskId: string; agentId: string }>>();
  for (const c of chosen) {
    s.revocations.set(`${c.frameworkId}/${c.taskId}`, { frameworkId: c.frameworkId, taskId: c.taskId, agentId: c.agentId, deadline: env.now + env.flags.revocationGracePeriodMs, killed: false });
    const list = byFramework.get(c.frameworkId) ?? [];
    list.push({ taskId: c.taskId, agentId: c.agentId });
    byFramework.set(c.frameworkId, list);
  }
  for (const [fwId, tasks] of byFramework) {
    sendTo(env, s.frameworks.get(fwId)?.pid, { type: 'RevocationScheduled', body: { tasks, gracePeriodSeconds: env.flags.revocationGracePeriodMs / 1000 } }, out);
  }
  return out;
}
