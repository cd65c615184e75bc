/**
 * Agents: admission, re-registration (a reconciliation of what the agent runs against what the
 * master knows), health checks, partitions and removal.
 *
 * Health is data, not timers: each agent's record says when its next `Ping` is due, whether one is
 * unanswered and how many in a row went unanswered; one sweep (`checkAgents`) walks them all.
 * An agent that misses `maxAgentPingTimeouts` pings in a row is marked unreachable — in the
 * registry first, then here: its offers are rescinded, its resources leave the allocator, its tasks
 * are reported TASK_UNREACHABLE (partition-aware frameworks) or TASK_LOST with
 * `REASON_AGENT_REMOVED` and the time, and frameworks get `AgentLost`. The tasks are kept aside;
 * if the agent comes back they are reported in their state again (`REASON_AGENT_REREGISTERED`),
 * not killed.
 *
 * @see Mesos `Master::registerSlave`, `reregisterSlave`, `reconcileKnownSlave`, `markUnreachable`,
 * `__removeSlave`, `SlaveObserver`, `recoveredSlavesTimeout`, `partition_tests.cpp`.
 */
import type { AgentInfo, ExecutorInfo, FrameworkInfo, Task } from '../../protocols/records.ts';
import type { Body } from '../../protocols/messages.ts';
import { agentIdFor } from '../../protocols/ids.ts';
import { isTerminalState, type TaskReason, type TaskState } from '../../protocols/task-states.ts';
import { jitter, log, sendAll, type Inbound } from '../common.ts';
import { isCompleted, recoverFramework } from './frameworks.ts';
import { rescindOffersOnAgent } from './offers.ts';
import { requestWrite, type PendingOp } from './registry.ts';
import {
  announce,
  addTask,
  bump,
  check,
  dropTask,
  taskKey,
  connectionInfo,
  isPartitionAware,
  markDirty,
  masterUpdate,
  sendTo,
  type AgentEntry,
  type FrameworkEntry,
  type MasterEnv,
  type MasterState,
  type Out,
  keepCompleted,
} from './state.ts';

type Report = Body<'ReregisterAgent'>;

/**
 * A new agent record. Its first ping falls somewhere in the first ping interval (by a hash of its
 * id), so that thousands of agents taken in together are not pinged together.
 */
function agentEntry(id: string, agentPid: string, info: AgentInfo, env: MasterEnv): AgentEntry {
  return {
    id,
    pid: agentPid,
    info: { ...info, id },
    total: info.resources,
    executors: new Map(),
    tasks: new Set(),
    registeredAt: env.now,
    nextPingAt: env.now + Math.floor(env.flags.agentPingTimeoutMs * (jitter(id, 0) - 0.5)),
    awaitingPong: false,
    pingMisses: 0,
  };
}

function addEntry(s: MasterState, entry: AgentEntry, out: Out): void {
  check(!s.agents.has(entry.id), `agent ${entry.id} added twice`);
  s.agents.set(entry.id, entry);
  s.agentsByPid.set(entry.pid, entry.id);
  announce(out, { kind: 'AGENT_ADDED', agent: entry });
}

// ── first registration ─────────────────────────────────────────────────────────────────────

/**
 * `RegisterAgent`: a new agent is given an id and written to the registry; only once stored is it
 * admitted and answered. A retry while the write is in flight costs nothing; a retry after it is
 * answered again. @see `Master::registerSlave`
 */
export function registerAgent(s: MasterState, ev: Inbound<'RegisterAgent'>, env: MasterEnv): Out {
  const out: Out = [];
  const known = s.agentsByPid.get(ev.from);
  if (known) {
    sendTo(env, ev.from, { type: 'AgentRegistered', body: { agentId: known, connection: connectionInfo(env) } }, out);
    return out;
  }
  if (s.admitting.pids.has(ev.from)) return out;
  let agentId = agentIdFor(env.runId, s.nextAgentSeq++);
  while (isKnownAgentId(s, agentId)) agentId = agentIdFor(env.runId, s.nextAgentSeq++);
  s.admitting.pids.add(ev.from);
  s.admitting.ids.add(agentId);
  const info = { ...ev.body.agent, id: agentId };
  requestWrite(s, { op: 'admit', agentId, info }, { kind: 'admitAgent', pid: ev.from, agentId, info }, out);
  return out;
}

/** True when `id` names an agent this master knows in any way (so a new agent cannot get it). */
function isKnownAgentId(s: MasterState, id: string): boolean {
  return s.agents.has(id) || s.recovered.has(id) || s.admitting.ids.has(id) ||
    s.registry.admitted.has(id) || s.registry.unreachable.has(id) || s.registry.gone.has(id);
}

/** The admission of a new agent is stored: admit it and answer. */
export function agentAdmitted(s: MasterState, op: Extract<PendingOp, { kind: 'admitAgent' }>, env: MasterEnv): Out {
  const out: Out = [];
  s.admitting.pids.delete(op.pid);
  s.admitting.ids.delete(op.agentId);
  const entry = agentEntry(op.agentId, op.pid, op.info, env);
  addEntry(s, entry, out);
  s.allocator.addAgent(entry.id, { hostname: entry.info.hostname, total: entry.total });
  markDirty(s, entry.id);
  bump(s, 'master/slave_registrations');
  out.push(log('info', `Agent ${entry.id} (${entry.info.hostname}) registered`, { agent: op.pid }));
  sendTo(env, op.pid, { type: 'AgentRegistered', body: { agentId: entry.id, connection: connectionInfo(env) } }, out);
  return out;
}

// ── re-registration ────────────────────────────────────────────────────────────────────────

/**
 * `ReregisterAgent` (whole, see `reassembly.ts` for split reports): an agent with an id rejoins.
 * - A registered agent (restart, reconnection): its report is reconciled with what the master knows.
 * - One the registry lists but this leader has not seen yet (after a failover): taken in with its
 *   tasks; no registry write is needed.
 * - One marked unreachable, or unknown to the registry: marked reachable (written first), then
 *   taken in, and its frameworks hear about each task again.
 * A retry while its write is in flight, or while it is being marked unreachable, costs nothing.
 * @see `Master::reregisterSlave`
 */
export function reregisterAgent(s: MasterState, agentPid: string, report: Report, env: MasterEnv): Out {
  const out: Out = [];
  const id = report.agent.id;
  if (!id) {
    bump(s, 'master/invalid_reregistrations');
    out.push(log('warn', 'Ignoring ReregisterAgent without an agent id', { from: agentPid }));
    return out;
  }
  if (s.admitting.ids.has(id) || s.admitting.pids.has(agentPid)) return out; // its admission is being written
  const bound = s.agentsByPid.get(agentPid);
  if (bound !== undefined && bound !== id) {
    bump(s, 'master/invalid_reregistrations');
    out.push(log('warn', `Ignoring re-registration as agent ${id} from ${agentPid}, which is agent ${bound}`));
    return out;
  }
  if (s.registry.gone.has(id)) {
    bump(s, 'master/invalid_reregistrations');
    out.push(log('warn', `Refusing re-registration of agent ${id}: it was marked gone; telling it to shut down`, { from: agentPid }));
    sendTo(env, agentPid, { type: 'ShutdownAgent', body: { message: 'Agent has been marked gone' } }, out);
    return out;
  }
  const entry = s.agents.get(id);
  if (entry) {
    if (entry.removing) return out; // being marked unreachable or removed: it will retry
    return reregisterKnownAgent(s, entry, agentPid, report, env);
  }
  const recovered = s.recovered.get(id);
  if (recovered) {
    if (recovered.removing) return out;
    s.recovered.delete(id);
    return takeInAgent(s, agentPid, report, env, undefined);
  }
  // Unreachable, or unknown to the registry (it was lost or pruned): admit it again.
  s.admitting.ids.add(id);
  s.admitting.pids.add(agentPid);
  const wasUnreachable = s.registry.unreachable.has(id);
  requestWrite(s, { op: 'markReachable', agentId: id, info: { ...report.agent, id } }, { kind: 'readmitAgent', pid: agentPid, report, wasUnreachable }, out);
  return out;
}

/** An unreachable (or unknown) agent's readmission is stored: take it in and tell its frameworks. */
export function agentReadmitted(s: MasterState, op: Extract<PendingOp, { kind: 'readmitAgent' }>, env: MasterEnv): Out {
  const id = op.report.agent.id!;
  s.admitting.ids.delete(id);
  s.admitting.pids.delete(op.pid);
  return takeInAgent(s, op.pid, op.report, env, op.wasUnreachable ? 'Unreachable agent re-registered' : 'Unknown agent re-registered');
}

/**
 * Adds an agent with everything it reports: frameworks this master does not know are recovered,
 * tasks of removed frameworks are not taken (the agent is told to shut those frameworks down), and
 * what runs is charged to the allocator. With `notify`, each unfinished task's framework hears its
 * state again (`REASON_AGENT_REREGISTERED`).
 */
function takeInAgent(s: MasterState, agentPid: string, report: Report, env: MasterEnv, notify: string | undefined): Out {
  const out: Out = [];
  const id = report.agent.id!;
  const bound = s.agentsByPid.get(agentPid);
  if (bound !== undefined && bound !== id) {
    // Another agent took this PID while the write was in flight; the agent will retry.
    out.push(log('warn', `Not taking in agent ${id}: its PID ${agentPid} is now agent ${bound}`));
    return out;
  }
  const entry = agentEntry(id, agentPid, report.agent, env);
  addEntry(s, entry, out);
  const shutdown = new Set<string>();
  for (const info of report.frameworks) {
    if (!info.id) continue;
    if (isCompleted(s, info.id)) shutdown.add(info.id);
    else recoverFramework(s, info, env, out);
  }
  const used: Array<{ frameworkId: string; role: string; agentId: string; resources: ExecutorInfo['resources'] }> = [];
  for (const e of report.executors) {
    if (!e.frameworkId) continue;
    const fw = s.frameworks.get(e.frameworkId);
    if (!fw) {
      if (isCompleted(s, e.frameworkId)) shutdown.add(e.frameworkId);
      continue;
    }
    entry.executors.set(`${e.frameworkId}/${e.executorId}`, { ...e, frameworkId: e.frameworkId });
    used.push({ frameworkId: fw.id, role: fw.role, agentId: id, resources: e.resources });
  }
  for (const t of report.tasks) {
    const fw = frameworkForTask(s, t, env, shutdown, out);
    if (!fw) continue;
    fw.unreachableTasks.delete(t.taskId);
    const terminal = isTerminalState(t.state);
    const existing = fw.tasks.get(t.taskId);
    if (existing && existing.task.agentId !== id) {
      out.push(log('warn', `Agent ${id} reports task ${t.taskId} that the master has on agent ${existing.task.agentId}; ignoring it`));
      continue;
    }
    // The report is ours: its task records become the master's, sharing what they have in common.
    t.agentId = id;
    t.frameworkId = fw.id;
    t.resources = s.allocator.sharedResources(t.resources);
    addTask(s, fw, { task: t, role: fw.role, launchedAt: env.now, freed: terminal });
    announce(out, { kind: 'TASK_ADDED', task: t, role: fw.role });
    if (!terminal) used.push({ frameworkId: fw.id, role: fw.role, agentId: id, resources: t.resources });
    // A terminal state is left to the agent's own update, which it resends with its true reason:
    // told here too, the framework would hear the task end twice, for two reasons.
    const reported = t.statusUpdateState ?? t.state;
    if (notify && !isTerminalState(reported)) {
      masterUpdate(s, env, fw, t.taskId, reported, 'REASON_AGENT_REREGISTERED', notify, out, { agentId: id });
    }
  }
  s.allocator.addAgent(id, { hostname: entry.info.hostname, total: entry.total }, used);
  for (const fwId of shutdown) sendTo(env, agentPid, { type: 'ShutdownFramework', body: { frameworkId: fwId } }, out);
  markDirty(s, id);
  bump(s, 'master/slave_reregistrations');
  out.push(log('info', `Agent ${id} (${entry.info.hostname}) re-registered with ${report.tasks.length} task(s)`, { agent: agentPid }));
  const body: Body<'AgentReregistered'> = { agentId: id, connection: connectionInfo(env) };
  // Tasks the master sent while the agent was away (or that it lost) are unreachable here and
  // missing from the report: the agent answers for each, through its reliable update stream.
  const reported = new Set(report.tasks.map((t) => taskKey(t.frameworkId, t.taskId)));
  const reconciliations: NonNullable<Body<'AgentReregistered'>['reconciliations']> = [];
  for (const fw of s.frameworks.values()) {
    const taskIds: string[] = [];
    for (const [taskId, u] of fw.unreachableTasks) if (u.task.agentId === id && !reported.has(taskKey(fw.id, taskId))) taskIds.push(taskId);
    if (taskIds.length > 0) reconciliations.push({ frameworkId: fw.id, framework: fw.info, taskIds });
  }
  if (reconciliations.length > 0) body.reconciliations = reconciliations;
  entry.lastAnswer = { at: env.now, body, report };
  sendTo(env, agentPid, { type: 'AgentReregistered', body }, out);
  return out;
}

/**
 * What a re-registration reported, in brief: a retry reports the same; an agent restarted on its
 * work dir (same PID, same id) reports what it has now.
 */
function fingerprint(report: Report): string {
  let f = `${report.tasks.length}/${report.executors.length}`;
  for (const t of report.tasks) f += `|${t.frameworkId}/${t.taskId}:${t.state}`;
  for (const e of report.executors) f += `|${e.frameworkId}/${e.executorId}`;
  return f;
}

/** The framework a reported task belongs to, recovering it if needed; `undefined` when removed. */
function frameworkForTask(s: MasterState, t: Task, env: MasterEnv, shutdown: Set<string>, out: Out): FrameworkEntry | undefined {
  if (isCompleted(s, t.frameworkId)) {
    shutdown.add(t.frameworkId);
    return undefined;
  }
  return s.frameworks.get(t.frameworkId) ?? recoverFramework(s, { id: t.frameworkId, name: '' } as FrameworkInfo, env, out);
}

/**
 * A registered agent re-registers (it restarted, or thought the master lost it). Its report is the
 * truth for what runs there; what the master knows on it that the report lacks is sent back as
 * reconciliation requests, which the agent answers with TASK_LOST or TASK_DROPPED for tasks it
 * never got (MasterSlaveReconciliationTest.ReconcileLostTask). Executors it does not report are
 * forgotten; frameworks this master removed are shut down on it. @see `Master::reconcileKnownSlave`
 */
function reregisterKnownAgent(s: MasterState, entry: AgentEntry, agentPid: string, report: Report, env: MasterEnv): Out {
  const out: Out = [];
  const last = entry.lastAnswer;
  if (last && entry.pid === agentPid && env.now - last.at < env.flags.reregistrationRetryWindowMs && fingerprint(last.report) === fingerprint(report)) {
    // A retry: the agent missed (or has not yet read) our answer. It costs one message.
    bump(s, 'master/slave_reregistration_retries');
    sendTo(env, agentPid, { type: 'AgentReregistered', body: last.body }, out);
    return out;
  }
  if (entry.pid !== agentPid) {
    s.agentsByPid.delete(entry.pid);
    entry.pid = agentPid;
  }
  s.agentsByPid.set(agentPid, entry.id);
  entry.awaitingPong = false;
  entry.pingMisses = 0;
  entry.nextPingAt = env.now;
  const reported = new Set<string>();
  for (const t of report.tasks) reported.add(taskKey(t.frameworkId, t.taskId));
  const shutdown = new Set<string>();
  for (const info of report.frameworks) if (info.id && isCompleted(s, info.id)) shutdown.add(info.id);
  // Tasks the agent reports that the master does not know (the master lost track of them):
  // taken in, and the allocator's view of the agent rebuilt to charge them.
  let taken = false;
  for (const t of report.tasks) {
    const fw = frameworkForTask(s, t, env, shutdown, out);
    if (!fw || fw.tasks.has(t.taskId)) continue;
    fw.unreachableTasks.delete(t.taskId);
    const task = { ...t, agentId: entry.id };
    addTask(s, fw, { task, role: fw.role, launchedAt: env.now, freed: isTerminalState(t.state) });
    announce(out, { kind: 'TASK_ADDED', task, role: fw.role });
    taken = true;
  }
  const missing = new Map<string, string[]>();
  for (const t of entry.tasks.values()) {
    if (reported.has(taskKey(t.task.frameworkId, t.task.taskId))) continue;
    const list = missing.get(t.task.frameworkId);
    if (list) list.push(t.task.taskId);
    else missing.set(t.task.frameworkId, [t.task.taskId]);
  }
  const reconciliations: Array<{ frameworkId: string; framework: FrameworkInfo; taskIds: string[] }> = [];
  for (const [frameworkId, taskIds] of missing) {
    const fw = s.frameworks.get(frameworkId);
    if (fw) reconciliations.push({ frameworkId, framework: fw.info, taskIds });
  }
  const reportedExecutors = new Set(report.executors.map((e) => `${e.frameworkId}/${e.executorId}`));
  for (const [key, e] of [...entry.executors]) {
    if (reportedExecutors.has(key)) continue;
    entry.executors.delete(key);
    s.allocator.recoverResources(e.frameworkId, entry.id, s.frameworks.get(e.frameworkId)?.role ?? '*', e.resources, 0);
  }
  if (taken) resetAgentInAllocator(s, entry, env, out);
  for (const fwId of shutdown) sendTo(env, agentPid, { type: 'ShutdownFramework', body: { frameworkId: fwId } }, out);
  markDirty(s, entry.id);
  bump(s, 'master/slave_reregistrations');
  const body: Body<'AgentReregistered'> = { agentId: entry.id, connection: connectionInfo(env) };
  if (reconciliations.length > 0) body.reconciliations = reconciliations;
  entry.lastAnswer = { at: env.now, body, report };
  sendTo(env, agentPid, { type: 'AgentReregistered', body }, out);
  return out;
}

/**
 * Rebuilds the allocator's view of an agent from the tasks and executors the master has on it
 * (its offers are rescinded first, their resources being part of that view).
 */
function resetAgentInAllocator(s: MasterState, entry: AgentEntry, env: MasterEnv, out: Out): void {
  rescindOffersOnAgent(s, entry.id, env, out);
  const used: Array<{ frameworkId: string; role: string; agentId: string; resources: ExecutorInfo['resources'] }> = [];
  for (const t of entry.tasks.values()) if (!t.freed) used.push({ frameworkId: t.task.frameworkId, role: t.role, agentId: entry.id, resources: t.task.resources });
  for (const e of entry.executors.values()) {
    used.push({ frameworkId: e.frameworkId, role: s.frameworks.get(e.frameworkId)?.role ?? '*', agentId: entry.id, resources: e.resources });
  }
  s.allocator.removeAgent(entry.id);
  s.allocator.addAgent(entry.id, { hostname: entry.info.hostname, total: entry.total }, used);
}

// ── health ─────────────────────────────────────────────────────────────────────────────────

/**
 * The health sweep: every agent whose ping is due is pinged; one whose previous ping went
 * unanswered counts a miss, and at `maxAgentPingTimeouts` misses in a row it is marked
 * unreachable. @see Mesos `SlaveObserver::ping` / `timeout`
 */
export function checkAgents(s: MasterState, env: MasterEnv): Out {
  const out: Out = [];
  // One message for every agent pinged (encoded once): a sweep pings thousands in a large cluster.
  const pinged: string[] = [];
  for (const a of s.agents.values()) {
    if (a.removing || env.now < a.nextPingAt) continue;
    if (a.awaitingPong) {
      a.pingMisses += 1;
      if (a.pingMisses >= env.flags.maxAgentPingTimeouts) {
        out.push(...markUnreachable(s, a, env, 'health check timed out'));
        continue;
      }
    }
    a.awaitingPong = true;
    a.nextPingAt = env.now + env.flags.agentPingTimeoutMs;
    pinged.push(a.pid);
  }
  if (pinged.length > 0) out.push(sendAll(pinged, { type: 'Ping', body: { connected: true } }, env.epoch));
  return out;
}

/**
 * `Pong`: the agent is alive. A pong from an agent this master no longer counts (it was marked
 * unreachable since the ping went out) is ignored: answering it with a ping would only start a
 * ping-pong, and the agent finds out by itself when pings stop. @see `SlaveObserver::pong`
 */
export function pong(s: MasterState, ev: Inbound<'Pong'>, env: MasterEnv): Out {
  void env;
  const id = s.agentsByPid.get(ev.from);
  const a = id ? s.agents.get(id) : undefined;
  if (!a || a.removing) {
    bump(s, 'master/pongs_from_unknown_agents');
    return [];
  }
  a.awaitingPong = false;
  a.pingMisses = 0;
  return [];
}

/**
 * Starts marking an agent unreachable: no more offers on it (they are rescinded) and its resources
 * leave the allocator now; the rest happens once the registry has it (`agentMarkedUnreachable`).
 * @see `Master::markUnreachable`
 */
export function markUnreachable(s: MasterState, a: AgentEntry, env: MasterEnv, why: string): Out {
  const out: Out = [];
  a.removing = 'unreachable';
  rescindOffersOnAgent(s, a.id, env, out);
  s.allocator.removeAgent(a.id);
  bump(s, 'master/slave_unreachable_scheduled');
  out.push(log('warn', `Marking agent ${a.id} (${a.info.hostname}) unreachable: ${why}`, { agent: a.pid }));
  requestWrite(s, { op: 'markUnreachable', agentId: a.id, info: a.info, time: env.now }, { kind: 'markUnreachable', agentId: a.id, time: env.now, why }, out);
  return out;
}

/**
 * The agent is unreachable in the registry. Its tasks are reported TASK_UNREACHABLE (partition
 * aware) or TASK_LOST, `REASON_AGENT_REMOVED`, with the time, and kept aside in case it comes
 * back; its executors are forgotten; every connected framework gets `AgentLost`.
 * @see `Master::_markUnreachable`, `__removeSlave`
 */
export function agentMarkedUnreachable(s: MasterState, op: Extract<PendingOp, { kind: 'markUnreachable' }>, env: MasterEnv): Out {
  const out: Out = [];
  bump(s, 'master/slave_unreachable_completed');
  bump(s, 'master/slave_removals');
  bump(s, 'master/slave_removals/reason_unhealthy');
  const recovered = s.recovered.get(op.agentId);
  if (recovered) {
    // Never re-registered after a failover: this master knows none of its tasks.
    s.recovered.delete(op.agentId);
    bump(s, 'master/recovery_slave_removals');
    agentLost(s, op.agentId, env, out);
    return out;
  }
  const a = s.agents.get(op.agentId);
  check(a && a.removing === 'unreachable', `agent ${op.agentId} marked unreachable without being taken out`);
  for (const t of [...a.tasks.values()]) {
    const fw = s.frameworks.get(t.task.frameworkId);
    check(fw, `task ${t.task.taskId} on agent ${a.id} has no framework`);
    const taskId = t.task.taskId;
    dropTask(s, fw, taskId);
    t.freed = true; // the allocator let go of everything on the agent
    if (isTerminalState(t.task.state)) {
      keepCompleted(fw, t.task, env);
      continue;
    }
    const pa = isPartitionAware(fw);
    const state: TaskState = pa ? 'TASK_UNREACHABLE' : 'TASK_LOST';
    if (!pa) bump(s, 'master/tasks_lost');
    const task = { ...t.task, state };
    fw.unreachableTasks.set(taskId, { task, role: t.role, launchedAt: t.launchedAt, unreachableTime: op.time });
    announce(out, { kind: 'TASK_UPDATED', task, state });
    masterUpdate(s, env, fw, taskId, state, 'REASON_AGENT_REMOVED', `Agent ${a.id} is unreachable: ${op.why}`, out, { agentId: a.id, unreachableTime: op.time });
    s.revocations.delete(`${fw.id}/${taskId}`);
  }
  s.agents.delete(a.id);
  s.agentsByPid.delete(a.pid);
  announce(out, { kind: 'AGENT_REMOVED', agentId: a.id, reason: 'unreachable' });
  out.push(log('info', `Agent ${a.id} (${a.info.hostname}) marked unreachable: ${op.why}`, { agent: a.pid }));
  agentLost(s, a.id, env, out);
  return out;
}

function agentLost(s: MasterState, agentId: string, env: MasterEnv, out: Out): void {
  for (const fw of s.frameworks.values()) {
    if (fw.connected) sendTo(env, fw.pid, { type: 'AgentLost', body: { agentId } }, out);
  }
}

/**
 * After a failover: agents the registry lists that did not re-register within
 * `agentReregisterTimeout` are marked unreachable. Frameworks get only `AgentLost` — this master
 * never knew their tasks; reconciliation with the agent id then answers TASK_UNREACHABLE/LOST.
 * @see `Master::recoveredSlavesTimeout` (MasterTest.RecoveredSlaveCanReregister)
 */
export function recoveredAgentsTimedOut(s: MasterState, env: MasterEnv): Out {
  const out: Out = [];
  for (const [agentId, r] of s.recovered) {
    if (r.removing) continue;
    r.removing = true;
    bump(s, 'master/slave_unreachable_scheduled');
    requestWrite(s, { op: 'markUnreachable', agentId, info: r.info, time: env.now }, { kind: 'markUnreachable', agentId, time: env.now, why: 'it did not re-register after a master failover' }, out);
  }
  if (s.recovered.size > 0) out.push(log('warn', `${s.recovered.size} agent(s) did not re-register within ${env.flags.agentReregisterTimeoutMs / 1000} s of the failover; marking them unreachable`));
  return out;
}

// ── leaving ────────────────────────────────────────────────────────────────────────────────

/**
 * `UnregisterAgent`: the agent leaves for good (it has already ended what it could). Written to
 * the registry, then its remaining tasks are TASK_LOST (TASK_GONE for partition-aware frameworks),
 * `REASON_AGENT_REMOVED`. @see `Master::unregisterSlave`, `removeSlave`
 */
export function unregisterAgent(s: MasterState, ev: Inbound<'UnregisterAgent'>, env: MasterEnv): Out {
  const out: Out = [];
  const a = s.agents.get(ev.body.agentId);
  if (!a || a.pid !== ev.from || a.removing) return out;
  a.removing = 'unregistered';
  rescindOffersOnAgent(s, a.id, env, out);
  s.allocator.removeAgent(a.id);
  out.push(log('info', `Agent ${a.id} (${a.info.hostname}) unregistered`, { agent: a.pid }));
  requestWrite(s, { op: 'remove', agentId: a.id }, { kind: 'removeAgent', agentId: a.id }, out);
  return out;
}

/** The agent's removal is stored: its tasks end and frameworks are told. */
export function agentRemoved(s: MasterState, op: Extract<PendingOp, { kind: 'removeAgent' }>, env: MasterEnv): Out {
  const out: Out = [];
  const a = s.agents.get(op.agentId);
  check(a && a.removing === 'unregistered', `agent ${op.agentId} removed without being taken out`);
  bump(s, 'master/slave_removals');
  bump(s, 'master/slave_removals/reason_unregistered');
  for (const t of [...a.tasks.values()]) {
    const fw = s.frameworks.get(t.task.frameworkId);
    check(fw, `task ${t.task.taskId} on agent ${a.id} has no framework`);
    const taskId = t.task.taskId;
    dropTask(s, fw, taskId);
    t.freed = true;
    const state: TaskState = isTerminalState(t.task.state) ? t.task.state : isPartitionAware(fw) ? 'TASK_GONE' : 'TASK_LOST';
    if (!isTerminalState(t.task.state)) {
      const reason: TaskReason = 'REASON_AGENT_REMOVED';
      bump(s, `master/tasks_${state.slice(5).toLowerCase()}`);
      masterUpdate(s, env, fw, taskId, state, reason, `Agent ${a.id} removed: it unregistered`, out, { agentId: a.id });
    }
    const task = { ...t.task, state };
    keepCompleted(fw, task, env);
    if (state !== t.task.state) announce(out, { kind: 'TASK_UPDATED', task, state });
  }
  s.agents.delete(a.id);
  s.agentsByPid.delete(a.pid);
  announce(out, { kind: 'AGENT_REMOVED', agentId: a.id, reason: 'unregistered' });
  out.push(log('info', `Agent ${a.id} (${a.info.hostname}) removed: it unregistered`, { agent: a.pid }));
  agentLost(s, a.id, env, out);
  return out;
}
