/**
 * Tasks: launches on offers, status updates and their acknowledgements, kills, executor exits,
 * framework messages and reconciliation.
 *
 * A task stays in its framework's task table until its terminal update is acknowledged; its
 * resources go back to the allocator exactly once, on the first terminal state the master sees.
 *
 * @see Mesos `Master::accept`, `statusUpdate`, `acknowledge`, `kill`, `exitedExecutor`, `reconcile`.
 */
import { add, contains, isEmpty, subtract, type Resources } from '../../protocols/resources.ts';
import type { StatusUpdateRecord, Task, TaskInfo, TaskStatus } from '../../protocols/records.ts';
import { isTerminalState, type TaskState } from '../../protocols/task-states.ts';
import { log, type Inbound } from '../common.ts';
import { isCompleted } from './frameworks.ts';
import { refuseSeconds, removeOffer } from './offers.ts';
import {
  announce,
  addTask,
  setTaskState,
  bump,
  permitted,
  dropTask,
  isPartitionAware,
  markDirty,
  masterUpdate,
  sendTo,
  type AgentEntry,
  type FrameworkEntry,
  type MasterEnv,
  type MasterState,
  type Out,
  type TaskEntry,
  keepCompleted,
} from './state.ts';

// ── launches ───────────────────────────────────────────────────────────────────────────────

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
    for (const t of tasks) masterUpdate(s, env, fw, t.taskId, state, 'REASON_INVALID_OFFERS', `Task launched with invalid offers: ${offerError}`, out);
    // Valid offers among them are given back: Mesos recovers them too.
    for (const id of offerIds) {
      const o = s.offers.get(id);
      if (o && o.offer.frameworkId === fw.id) {
        removeOffer(s, id, true);
        markDirty(s, o.offer.agentId);
      }
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
      masterUpdate(s, env, fw, task.taskId, 'TASK_ERROR', 'REASON_TASK_INVALID', error, out, { agentId: agent.id });
      bump(s, 'master/invalid_tasks');
      continue;
    }
    // The OS user the task would run as. @see Mesos `Master::authorizeTask`
    const user = task.command?.user ?? task.executor?.command.user ?? fw.info.user;
    if (!permitted(s, env, ev.from, 'run_tasks', user, out)) {
      masterUpdate(s, env, fw, task.taskId, 'TASK_ERROR', 'REASON_TASK_UNAUTHORIZED', `Not authorized to launch as user '${user ?? ''}'`, out, { agentId: agent.id });
      continue;
    }
    const needed = taskAndNewExecutorResources(agent, fw, task);
    remaining = subtract(remaining, needed);
    if (task.executor && !agent.executors.has(`${fw.id}/${task.executor.executorId}`)) {
      agent.executors.set(`${fw.id}/${task.executor.executorId}`, { ...task.executor, frameworkId: fw.id });
    }
    const entry: TaskEntry = {
      task: { taskId: task.taskId, name: task.name, frameworkId: fw.id, agentId: agent.id, state: 'TASK_STAGING', resources: task.resources },
      role,
      launchedAt: env.now,
      freed: false,
    };
    if (task.executor) entry.task.executorId = task.executor.executorId;
    addTask(s, fw, entry);
    announce(out, { kind: 'TASK_ADDED', task: entry.task, role });
    bump(s, 'master/tasks_launched');
    out.push(log('info', `Launching task ${task.taskId} of framework ${fw.id} on agent ${agent.id} (${agent.info.hostname})`));
    sendTo(env, agent.pid, { type: 'RunTask', body: { frameworkId: fw.id, framework: fw.info, task, schedulerPid: fw.pid } }, out);
  }
  if (!isEmpty(remaining)) {
    s.allocator.recoverResources(fw.id, agent.id, role, remaining, env.now, refuseSeconds(filters, env));
    markDirty(s, agent.id);
  }
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
    const agent = s.agents.get(o.offer.agentId);
    if (!agent || agent.removing) return `agent ${o.offer.agentId} of offer ${id} is gone`;
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
  if (fw.tasks.has(task.taskId) || fw.unreachableTasks.has(task.taskId)) return `task id '${task.taskId}' is already in use`;
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

// ── task state ─────────────────────────────────────────────────────────────────────────────

/** Moves a task out of the task table into the completed tasks, freeing its resources once. */
export function completeTask(s: MasterState, fw: FrameworkEntry, taskId: string, state: TaskState, env: MasterEnv): void {
  const t = dropTask(s, fw, taskId);
  if (!t) return;
  freeTaskResources(s, fw, t);
  t.task.state = state;
  keepCompleted(fw, t.task, env);
}

/** Gives a task's resources back to the allocator, exactly once. */
export function freeTaskResources(s: MasterState, fw: FrameworkEntry, t: TaskEntry): void {
  if (t.freed) return;
  t.freed = true;
  s.allocator.recoverResources(fw.id, t.task.agentId, t.role, t.task.resources, 0);
  markDirty(s, t.task.agentId);
}

/**
 * Forgets every executor of `fw` on every agent (their resources go back).
 * @returns the agents that ran one.
 */
export function forgetExecutorsOf(s: MasterState, fw: FrameworkEntry): string[] {
  const agents: string[] = [];
  for (const a of s.agents.values()) {
    for (const [key, e] of [...a.executors]) {
      if (e.frameworkId !== fw.id) continue;
      a.executors.delete(key);
      if (!a.removing) s.allocator.recoverResources(fw.id, a.id, fw.role, e.resources, 0);
      agents.push(a.id);
    }
  }
  return agents;
}

/**
 * `StatusUpdate` from an agent: record the latest state, free resources on the first terminal
 * state, and forward to the scheduler while it is connected (the agent retries until the scheduler
 * acknowledges). An update of a framework this master removed (or never knew after the agent
 * reported its frameworks) is answered by telling the agent to shut that framework down, which
 * also ends the agent's retries. @see `Master::statusUpdate`
 */
export function statusUpdate(s: MasterState, ev: Inbound<'StatusUpdate'>, env: MasterEnv): Out {
  const out: Out = [];
  const agentId = s.agentsByPid.get(ev.from);
  const agent = agentId ? s.agents.get(agentId) : undefined;
  const { update } = ev.body;
  if (!agent || agent.removing) {
    bump(s, 'master/invalid_status_updates');
    out.push(log('warn', 'Ignoring status update from an agent that is not registered; asking it to re-register', { from: ev.from, taskId: update.status.taskId }));
    sendTo(env, ev.from, { type: 'Ping', body: { connected: false } }, out);
    return out;
  }
  const fw = s.frameworks.get(update.frameworkId);
  if (!fw) {
    bump(s, 'master/invalid_status_updates');
    out.push(log('info', `Telling agent ${agent.id} to shut down framework ${update.frameworkId}: it was ${isCompleted(s, update.frameworkId) ? 'removed' : 'not reported by any agent'}`, { taskId: update.status.taskId }));
    sendTo(env, agent.pid, { type: 'ShutdownFramework', body: { frameworkId: update.frameworkId } }, out);
    return out;
  }
  bump(s, 'master/messages_status_update');
  const t = fw.tasks.get(update.status.taskId);
  if (t && t.task.agentId === agent.id) {
    const latest = update.latestState ?? update.status.state;
    t.status = update.status;
    setTaskState(s, t, latest);
    t.task.statusUpdateState = update.status.state;
    t.task.statusUpdateUuid = update.uuid;
    announce(out, { kind: 'TASK_UPDATED', task: t.task, state: latest, status: update.status });
    if (isTerminalState(latest) && !t.freed) {
      freeTaskResources(s, fw, t);
      bump(s, `master/tasks_${latest.slice(5).toLowerCase()}`);
      const reason = update.status.reason;
      out.push(log('info', `Task ${t.task.taskId} of framework ${fw.id} on agent ${agent.id} is ${latest}${reason !== undefined ? ` (${reason})` : ''}`));
    }
    bump(s, 'master/valid_status_updates');
  } else if (fw.unreachableTasks.get(update.status.taskId)?.task.agentId === agent.id && isTerminalState(update.status.state)) {
    // The agent's answer for a task it never had (reconciliation on re-registration): it ends.
    const u = fw.unreachableTasks.get(update.status.taskId)!;
    fw.unreachableTasks.delete(update.status.taskId);
    const task = { ...u.task, state: update.status.state };
    keepCompleted(fw, task, env);
    announce(out, { kind: 'TASK_UPDATED', task, state: task.state, status: update.status });
    bump(s, 'master/valid_status_updates');
  } else {
    bump(s, 'master/invalid_status_updates');
    out.push(log('warn', 'Status update for a task the master does not know on that agent', { taskId: update.status.taskId, agentId: agent.id }));
  }
  if (fw.connected) sendTo(env, fw.pid, { type: 'StatusUpdate', body: { update } }, out);
  return out;
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
    completeTask(s, fw, taskId, t.task.statusUpdateState, env);
  }
  if (agent && !agent.removing) sendTo(env, agent.pid, { type: 'StatusUpdateAcknowledgement', body: { agentId, frameworkId: fw.id, taskId, uuid } }, out);
  return out;
}

/**
 * `KillTask`: forward to the agent running it. A task the master does not know is answered as
 * reconciliation would answer it (TASK_LOST for an unknown task, nothing while its agent is still
 * recovering). @see `Master::kill`
 */
export function killTask(s: MasterState, fw: FrameworkEntry, ev: Inbound<'KillTask'>, env: MasterEnv): Out {
  const out: Out = [];
  const { taskId } = ev.body;
  bump(s, 'master/messages_kill_task');
  const t = fw.tasks.get(taskId);
  if (!t) {
    const u = fw.unreachableTasks.get(taskId);
    reconcileOne(s, fw, { taskId, agentId: ev.body.agentId ?? u?.task.agentId }, env, out);
    return out;
  }
  const agent = s.agents.get(t.task.agentId);
  if (agent && !agent.removing) sendTo(env, agent.pid, { type: 'KillTask', body: { frameworkId: fw.id, taskId, agentId: t.task.agentId } }, out);
  return out;
}

/** `ExitedExecutor` from an agent: free the executor's resources and tell the scheduler. */
export function exitedExecutor(s: MasterState, ev: Inbound<'ExitedExecutor'>, env: MasterEnv): Out {
  const out: Out = [];
  const agentId = s.agentsByPid.get(ev.from);
  if (!agentId || agentId !== ev.body.agentId) return out;
  const agent = s.agents.get(agentId)!;
  const key = `${ev.body.frameworkId}/${ev.body.executorId}`;
  const e = agent.executors.get(key);
  const fw = s.frameworks.get(ev.body.frameworkId);
  if (e) {
    agent.executors.delete(key);
    if (!agent.removing) {
      s.allocator.recoverResources(ev.body.frameworkId, agentId, fw?.role ?? '*', e.resources, 0);
      markDirty(s, agentId);
    }
  }
  if (fw?.connected) sendTo(env, fw.pid, { type: 'ExitedExecutor', body: ev.body }, out);
  return out;
}

// ── reconciliation ─────────────────────────────────────────────────────────────────────────

/** The state a reconciliation reports for a known task: the one its pending update carries. */
function reportedState(t: Task): TaskState {
  return t.statusUpdateState ?? t.state;
}

/** Sends one reconciliation answer (master-generated: no acknowledgement). */
function reply(s: MasterState, env: MasterEnv, fw: FrameworkEntry, taskId: string, state: TaskState, message: string, out: Out, extra: { agentId?: string; unreachableTime?: number } = {}): void {
  if (!fw.pid || !fw.connected) return;
  const status: TaskStatus = { taskId, state, reason: 'REASON_RECONCILIATION', source: 'SOURCE_MASTER', message, timestamp: env.now };
  if (extra.agentId) status.agentId = extra.agentId;
  if (extra.unreachableTime !== undefined) status.unreachableTime = extra.unreachableTime;
  const update: StatusUpdateRecord = { frameworkId: fw.id, status, uuid: `${env.runId}-r${s.nextUpdateSeq++}` };
  if (extra.agentId) update.agentId = extra.agentId;
  sendTo(env, fw.pid, { type: 'StatusUpdate', body: { update } }, out);
}

/**
 * Answers one explicit reconciliation entry by Mesos' decision table:
 *
 * | the master knows                               | partition-aware          | otherwise |
 * |------------------------------------------------|--------------------------|-----------|
 * | the task                                       | its latest state         | same      |
 * | the task, on an agent marked unreachable       | TASK_UNREACHABLE (+ time)| TASK_LOST (+ time) |
 * | its agent is still recovering (or, without an agent id, any agent is) | no answer | no answer |
 * | its agent is registered, not the task          | TASK_GONE                | TASK_LOST |
 * | its agent is unreachable                       | TASK_UNREACHABLE (+ time)| TASK_LOST (+ time) |
 * | its agent is gone                              | TASK_GONE_BY_OPERATOR    | TASK_LOST |
 * | neither task nor agent                         | TASK_UNKNOWN             | TASK_LOST |
 *
 * All answers carry `REASON_RECONCILIATION`. @see `Master::reconcile`, `reconciliation_tests.cpp`
 */
export function reconcileOne(s: MasterState, fw: FrameworkEntry, st: { taskId: string; agentId?: string }, env: MasterEnv, out: Out): void {
  const pa = isPartitionAware(fw);
  const t = fw.tasks.get(st.taskId);
  if (t) {
    reply(s, env, fw, st.taskId, reportedState(t.task), 'Reconciliation: latest task state', out, { agentId: t.task.agentId });
    return;
  }
  // Unlike Mesos (which finds such a task only through its agent id), a task this master holds
  // aside as unreachable is answered as such even when the framework did not name its agent: an
  // "unknown" here would invite the framework to run it again while it may still be running.
  const u = fw.unreachableTasks.get(st.taskId);
  if (u) {
    reply(s, env, fw, st.taskId, pa ? 'TASK_UNREACHABLE' : 'TASK_LOST', 'Reconciliation: task is unreachable', out, { agentId: u.task.agentId, unreachableTime: u.unreachableTime });
    return;
  }
  const agentId = st.agentId;
  if (agentId !== undefined ? s.recovered.has(agentId) : s.recovered.size > 0) {
    bump(s, 'master/reconciliations_deferred');
    return; // RecoveredAgent: the agent may still come back with the task.
  }
  if (agentId !== undefined && s.agents.has(agentId)) {
    reply(s, env, fw, st.taskId, pa ? 'TASK_GONE' : 'TASK_LOST', 'Reconciliation: task is unknown to the agent', out, { agentId });
    return;
  }
  const unreachable = agentId !== undefined ? s.registry.unreachable.get(agentId) : undefined;
  if (agentId !== undefined && unreachable) {
    reply(s, env, fw, st.taskId, pa ? 'TASK_UNREACHABLE' : 'TASK_LOST', 'Reconciliation: task is unreachable', out, { agentId, unreachableTime: unreachable.time });
    return;
  }
  if (agentId !== undefined && s.registry.gone.has(agentId)) {
    reply(s, env, fw, st.taskId, pa ? 'TASK_GONE_BY_OPERATOR' : 'TASK_LOST', 'Reconciliation: task is gone', out, { agentId });
    return;
  }
  reply(s, env, fw, st.taskId, pa ? 'TASK_UNKNOWN' : 'TASK_LOST', 'Reconciliation: task is unknown', out, agentId ? { agentId } : {});
}

/**
 * `ReconcileTasks`: explicit (listed tasks, answered by {@link reconcileOne}) or implicit (empty
 * list: every task in the framework's task table, terminal ones still unacknowledged included;
 * tasks on unreachable agents are not reported). @see `Master::reconcile`
 */
export function reconcileTasks(s: MasterState, fw: FrameworkEntry, ev: Inbound<'ReconcileTasks'>, env: MasterEnv): Out {
  const out: Out = [];
  bump(s, 'master/messages_reconcile_tasks');
  if (ev.body.statuses.length === 0) {
    for (const t of fw.tasks.values()) reply(s, env, fw, t.task.taskId, reportedState(t.task), 'Reconciliation: latest task state', out, { agentId: t.task.agentId });
    return out;
  }
  for (const st of ev.body.statuses) reconcileOne(s, fw, st, env, out);
  return out;
}

// ── framework messages ─────────────────────────────────────────────────────────────────────

/** Forwards `FrameworkToExecutor` to the agent running the executor. */
export function frameworkToExecutor(s: MasterState, fw: FrameworkEntry, ev: Inbound<'FrameworkToExecutor'>, env: MasterEnv): Out {
  const out: Out = [];
  const agent = s.agents.get(ev.body.agentId);
  if (agent && !agent.removing) sendTo(env, agent.pid, { type: 'FrameworkToExecutor', body: { ...ev.body, frameworkId: fw.id } }, out);
  return out;
}

/** Forwards `ExecutorToFramework` from an agent to the scheduler. */
export function executorToFramework(s: MasterState, ev: Inbound<'ExecutorToFramework'>, env: MasterEnv): Out {
  const out: Out = [];
  if (!s.agentsByPid.has(ev.from)) return out;
  const fw = s.frameworks.get(ev.body.frameworkId);
  if (fw?.connected) sendTo(env, fw.pid, { type: 'ExecutorToFramework', body: ev.body }, out);
  return out;
}
