/**
 * The agent's state in Mesos' JSON shapes: `/slave(1)/state` (frameworks, their executors with
 * sandbox and tasks, what ended), `/monitor/statistics`, `/metrics/snapshot`, and the v1 operator
 * API's `GET_STATE` and `GET_CONTAINERS`. Pure projections of the agent machine's context; an
 * agent's state is small, so each document is written in one go.
 *
 * @see Mesos `src/slave/http.cpp` (`FrameworkWriter`, `ExecutorWriter`), `src/common/http.cpp`.
 */
import type { AgentContext } from '../../actors/agent/agent.machine.ts';
import { streamOf, type AgentState, type ExecutorEntry } from '../../actors/agent/state.ts';
import type { FrameworkInfo, ResourceStatistics, Task, TaskInfo, TaskStatus } from '../../protocols/records.ts';
import type { Resource } from '../../protocols/resources.ts';
import { isTerminalState } from '../../protocols/task-states.ts';
import type { LeaderInfo } from '../types.ts';
import { attributesJson, resourcesJson, seconds, taskJson, type Json } from './mesos-json.ts';
import { v1FrameworkInfo, v1Id, v1Resources, v1Status, v1Task } from './operator-events.ts';
import { VISIBLE_ALL, type ViewFilter } from './view-filter.ts';

/** What the documents say besides the machine's state. */
export interface AgentMeta {
  version: string;
  /** Epoch ms the agent started. */
  startTime: number;
  /** The agent's flags, Mesos style (all values as text). */
  flags: Record<string, string>;
  /** The leading master, when one is known. */
  leader?: LeaderInfo;
}

/** The role a framework's tasks run as here: its first, as the master allocates. */
const roleOf = (info: FrameworkInfo | undefined): string => info?.roles?.[0] ?? '*';

/** The newest status the agent still holds for a task (one not yet acknowledged), if any. */
function heldStatus(s: AgentState, frameworkId: string, taskId: string): TaskStatus | undefined {
  return streamOf(s, frameworkId, taskId)?.pending.at(-1)?.status;
}

/** A task not yet given to its executor, as Mesos' `TaskInfo` model. */
function queuedTaskJson(t: TaskInfo, e: ExecutorEntry): Json {
  return {
    id: t.taskId,
    name: t.name,
    framework_id: e.frameworkId,
    executor_id: e.info.executorId,
    slave_id: t.agentId,
    resources: resourcesJson(t.resources),
    ...(t.command ? { command: { value: t.command.value, shell: t.command.shell ?? true } } : {}),
  };
}

/** An executor's tasks: those not yet ended, and those that did (all of an executor that ended). */
function tasksOf(e: ExecutorEntry, retired: boolean): { live: Task[]; ended: Task[] } {
  const live: Task[] = [];
  const ended: Task[] = [...(e.completedTasks ?? [])];
  for (const t of e.tasks.values()) (retired || isTerminalState(t.state) ? ended : live).push(t);
  return { live, ended };
}

/**
 * An executor as Mesos' executor model: its container, sandbox (`directory`) and tasks (none
 * listed when `tasksVisible` is false).
 */
export function executorJson(s: AgentState, e: ExecutorEntry, role: string, retired = false, tasksVisible = true): Json {
  const { live, ended } = tasksOf(e, retired);
  const held: Resource[] = [...(e.info.resources ?? [])];
  for (const t of live) held.push(...t.resources);
  if (!retired) for (const t of e.queued) held.push(...t.resources);
  const task = (t: Task) => taskJson(t, role, heldStatus(s, e.frameworkId, t.taskId));
  return {
    id: e.info.executorId,
    name: e.info.name ?? '',
    source: e.info.executorId,
    container: e.containerId,
    directory: e.directory ?? '',
    role,
    resources: resourcesJson(held),
    tasks: tasksVisible ? live.map(task) : [],
    queued_tasks: retired || !tasksVisible ? [] : e.queued.map((t) => queuedTaskJson(t, e)),
    completed_tasks: tasksVisible ? ended.map(task) : [],
  };
}

/** The head of a framework's model on the agent. */
function frameworkHead(id: string, info: FrameworkInfo | undefined): Json {
  return {
    id,
    name: info?.name ?? '',
    user: info?.user ?? '',
    hostname: info?.hostname ?? '',
    role: roleOf(info),
    roles: info?.roles ?? ['*'],
    ...(info?.principal !== undefined ? { principal: info.principal } : {}),
    checkpoint: info?.checkpoint ?? false,
    failover_timeout: info?.failoverTimeoutSeconds ?? 0,
    capabilities: info?.capabilities ?? [],
  };
}

/**
 * `/slave(1)/state`: the agent, its frameworks with their executors, and what ended; the
 * frameworks, executors and tasks `view` may see, and the flags only when it may see them.
 */
export function agentStateJson(ctx: AgentContext, meta: AgentMeta, view: ViewFilter = VISIBLE_ALL): Json {
  const s = ctx.state;
  const byFramework = new Map<string, ExecutorEntry[]>();
  for (const e of s.executors.values()) {
    let list = byFramework.get(e.frameworkId);
    if (!list) byFramework.set(e.frameworkId, (list = []));
    list.push(e);
  }
  const ids = new Set([...s.frameworks.keys(), ...byFramework.keys(), ...s.completedExecutors.keys()]);
  const frameworks: Json[] = [];
  /** The executors of a framework `view` may see, with their tasks if it may see those. */
  const executors = (info: FrameworkInfo | undefined, list: readonly ExecutorEntry[], role: string, retired: boolean) => {
    const tasksVisible = view.task(info);
    return list.filter((e) => view.executor(info, e.info)).map((e) => executorJson(s, e, role, retired, tasksVisible));
  };
  for (const id of ids) {
    const info = s.frameworks.get(id);
    if (!view.framework(info)) continue;
    const role = roleOf(info);
    frameworks.push({
      ...frameworkHead(id, info),
      executors: executors(info, byFramework.get(id) ?? [], role, false),
      completed_executors: executors(info, s.completedExecutors.get(id) ?? [], role, true),
    });
  }
  return {
    version: meta.version,
    start_time: seconds(meta.startTime),
    id: s.agentId ?? '',
    pid: ctx.self,
    hostname: ctx.info.hostname,
    capabilities: [],
    resources: resourcesJson(ctx.info.resources),
    attributes: attributesJson(ctx.info.attributes),
    ...(meta.leader ? { master_hostname: meta.leader.hostname } : {}),
    ...(view.flags() ? { flags: meta.flags } : {}),
    frameworks,
    completed_frameworks: s.completedFrameworks.filter((f) => view.framework(f.info)).map((f) => ({
      ...frameworkHead(f.id, f.info),
      executors: [],
      completed_executors: executors(f.info, f.executors, roleOf(f.info), true),
    })),
  };
}

/** `ResourceStatistics` with Mesos' snake_case names (`cpusUserTimeSecs` → `cpus_user_time_secs`). */
export function statisticsJson(st: ResourceStatistics): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(st)) if (v !== undefined) out[k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = v;
  return out;
}

/** The executors whose containers run (or are being started or stopped). */
export function runningExecutors(s: AgentState): ExecutorEntry[] {
  return [...s.executors.values()].filter((e) => e.phase !== 'terminated');
}

/** `/monitor/statistics`: what each running executor's container uses. */
export function monitorJson(s: AgentState, usage: (containerId: string) => ResourceStatistics | undefined): Json[] {
  const out: Json[] = [];
  for (const e of runningExecutors(s)) {
    const st = usage(e.containerId);
    if (!st) continue;
    out.push({
      executor_id: e.info.executorId,
      executor_name: e.info.name ?? '',
      framework_id: e.frameworkId,
      source: e.info.executorId,
      container_id: e.containerId,
      statistics: statisticsJson(st),
    });
  }
  return out;
}

/** A scalar resource's sum. */
function scalar(rs: Iterable<Resource>, name: string): number {
  let n = 0;
  for (const r of rs) if (r.name === name && r.type === 'SCALAR') n += r.scalar ?? 0;
  return Math.round(n * 1000) / 1000;
}

/** Mesos' gauges of the tasks an agent holds, by state. */
const LIVE_TASK_GAUGES: Partial<Record<string, string>> = {
  TASK_STAGING: 'slave/tasks_staging',
  TASK_STARTING: 'slave/tasks_starting',
  TASK_RUNNING: 'slave/tasks_running',
  TASK_KILLING: 'slave/tasks_killing',
};

/**
 * `/metrics/snapshot`: the agent's counters (`counters`: the runtime's, then the machine's), and
 * Mesos' gauges computed from the state — `slave/registered`, `slave/uptime_secs`,
 * `slave/tasks_{staging,starting,running,killing}` (tasks held now), `slave/executors_<phase>`,
 * `slave/frameworks_active` and `slave/<resource>_{total,used,percent}`. A gauge wins over a
 * counter of the same name (the machine counts launches as `slave/tasks_staging`).
 */
export function agentMetrics(ctx: AgentContext, counters: Record<string, number>, startTime: number, now: number): Record<string, number> {
  const s = ctx.state;
  const m: Record<string, number> = { ...counters, ...s.metrics };
  m['slave/registered'] = s.connected ? 1 : 0;
  m['slave/uptime_secs'] = seconds(now - startTime);
  for (const k of Object.values(LIVE_TASK_GAUGES)) m[k!] = 0;
  const count = (state: string) => {
    const k = LIVE_TASK_GAUGES[state];
    if (k) m[k] = m[k]! + 1;
  };
  const used: Resource[] = [];
  const phases = { registering: 0, running: 0, terminating: 0, terminated: 0 };
  for (const e of s.executors.values()) {
    phases[e.phase === 'launching' || e.phase === 'recovering' ? 'registering' : e.phase]++;
    if (e.phase !== 'terminated') used.push(...(e.info.resources ?? []));
    for (const t of e.queued) {
      count('TASK_STAGING');
      used.push(...t.resources);
    }
    for (const t of e.tasks.values()) {
      count(t.state);
      if (!isTerminalState(t.state)) used.push(...t.resources);
    }
  }
  for (const [phase, n] of Object.entries(phases)) m[`slave/executors_${phase}`] = n;
  m['slave/frameworks_active'] = s.frameworks.size - s.terminating.size;
  for (const r of ['cpus', 'mem', 'disk', 'gpus']) {
    const total = scalar(ctx.info.resources, r);
    const u = scalar(used, r);
    m[`slave/${r}_total`] = total;
    m[`slave/${r}_used`] = u;
    m[`slave/${r}_percent`] = total > 0 ? u / total : 0;
  }
  return Object.fromEntries(Object.entries(m).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** A task as v1 `Task`, with the status the agent still holds for it and the update in flight. */
function v1AgentTask(s: AgentState, t: Task): Json {
  const st = heldStatus(s, t.frameworkId, t.taskId);
  return {
    ...v1Task(t),
    statuses: st ? [v1Status(st)] : [],
    ...(t.statusUpdateState !== undefined ? { status_update_state: t.statusUpdateState } : {}),
    ...(t.statusUpdateUuid !== undefined ? { status_update_uuid: t.statusUpdateUuid } : {}),
  };
}

function v1QueuedTask(t: TaskInfo, e: ExecutorEntry): Json {
  return {
    name: t.name,
    task_id: v1Id(t.taskId),
    agent_id: v1Id(t.agentId),
    resources: v1Resources(t.resources),
    ...(t.command ? { command: { value: t.command.value, shell: t.command.shell ?? true } } : {}),
    executor: { executor_id: v1Id(e.info.executorId) },
  };
}

function v1ExecutorInfo(e: ExecutorEntry): Json {
  return {
    executor_info: {
      executor_id: v1Id(e.info.executorId),
      framework_id: v1Id(e.frameworkId),
      name: e.info.name ?? '',
      source: e.info.executorId,
      command: { value: e.info.command.value, shell: e.info.command.shell ?? true, ...(e.info.command.arguments ? { arguments: e.info.command.arguments } : {}) },
      resources: v1Resources(e.info.resources ?? []),
    },
  };
}

/**
 * The v1 API's `GET_STATE` answer body (`get_state`): tasks, executors and frameworks, as `view`
 * may see them (as `/slave(1)/state` shows them).
 */
export function v1State(s: AgentState, view: ViewFilter = VISIBLE_ALL): Json {
  const launched: Json[] = [];
  const queued: Json[] = [];
  const terminated: Json[] = [];
  const completed: Json[] = [];
  const executors: Json[] = [];
  const completedExecutors: Json[] = [];
  const infoOf = (frameworkId: string) => s.frameworks.get(frameworkId) ?? s.completedFrameworks.find((f) => f.id === frameworkId)?.info;
  const visible = (e: ExecutorEntry) => {
    const info = infoOf(e.frameworkId);
    return view.framework(info) && view.executor(info, e.info);
  };
  for (const e of s.executors.values()) {
    if (!visible(e)) continue;
    executors.push(v1ExecutorInfo(e));
    if (!view.task(infoOf(e.frameworkId))) continue;
    for (const t of e.queued) queued.push(v1QueuedTask(t, e));
    for (const t of e.tasks.values()) (isTerminalState(t.state) ? terminated : launched).push(v1AgentTask(s, t));
    for (const t of e.completedTasks ?? []) completed.push(v1AgentTask(s, t));
  }
  for (const list of [...s.completedExecutors.values(), ...s.completedFrameworks.map((f) => f.executors)]) {
    for (const e of list) {
      if (!visible(e)) continue;
      completedExecutors.push(v1ExecutorInfo(e));
      if (!view.task(infoOf(e.frameworkId))) continue;
      for (const t of [...(e.completedTasks ?? []), ...e.tasks.values()]) completed.push(v1AgentTask(s, t));
    }
  }
  return {
    get_tasks: { launched_tasks: launched, queued_tasks: queued, terminated_tasks: terminated, completed_tasks: completed },
    get_executors: { executors, completed_executors: completedExecutors },
    get_frameworks: {
      frameworks: [...s.frameworks].filter(([, info]) => view.framework(info)).map(([id, info]) => ({ framework_info: v1FrameworkInfo(id, info) })),
      completed_frameworks: s.completedFrameworks.filter((f) => view.framework(f.info)).map((f) => ({ framework_info: v1FrameworkInfo(f.id, f.info) })),
    },
  };
}

/** The v1 API's `GET_CONTAINERS` answer body: each running executor's container and what it uses, those `view` may see. */
export function v1Containers(s: AgentState, usage: (containerId: string) => ResourceStatistics | undefined, view: ViewFilter = VISIBLE_ALL): Json {
  return {
    containers: runningExecutors(s).filter((e) => {
      const info = s.frameworks.get(e.frameworkId);
      return view.framework(info) && view.executor(info, e.info);
    }).map((e) => {
      const st = usage(e.containerId);
      return {
        framework_id: v1Id(e.frameworkId),
        executor_id: v1Id(e.info.executorId),
        executor_name: e.info.name ?? '',
        container_id: v1Id(e.containerId),
        ...(st ? { resource_statistics: statisticsJson(st) } : {}),
      };
    }),
  };
}
