/**
 * The master's state in Mesos' JSON shapes (`/master/state`, `/master/state-summary`, …), so that
 * tools written for Mesos read it unchanged: snake_case fields, times in seconds, resources as
 * `{ "cpus": 2, "mem": 1024, "ports": "[31000-32000]" }`, attributes as `{ "rack": "r1" }`.
 *
 * Pure projections of one entity each; `master-state.ts` walks the state and yields between them.
 *
 * @see Mesos `src/master/http.cpp` and `src/common/http.cpp` (the `json(...)` models).
 */
import type { Attributes } from '../../protocols/attributes.ts';
import type { Task, TaskStatus } from '../../protocols/records.ts';
import { isTerminalState, TASK_STATES } from '../../protocols/task-states.ts';
import type { Resource } from '../../protocols/resources.ts';
import type { AgentEntry, FrameworkEntry, OfferEntry, TaskEntry, UnreachableTask } from '../../actors/master/state.ts';

/** A JSON object. */
export type Json = Record<string, unknown>;

/** Epoch milliseconds as Mesos' seconds. */
export const seconds = (ms: number): number => ms / 1000;

/** Resources summed by name: scalars as numbers, ranges as `[a-b, c-d]`, sets as `{a, b}`. */
export function resourcesJson(rs: Iterable<Resource>): Json {
  const scalars: Record<string, number> = { cpus: 0, mem: 0, disk: 0, gpus: 0 };
  const ranges: Record<string, Array<[number, number]>> = {};
  const sets: Record<string, string[]> = {};
  for (const r of rs) {
    if (r.type === 'SCALAR') scalars[r.name] = (scalars[r.name] ?? 0) + (r.scalar ?? 0);
    else if (r.type === 'RANGES') (ranges[r.name] ??= []).push(...(r.ranges ?? []).map((x) => [x.begin, x.end] as [number, number]));
    else (sets[r.name] ??= []).push(...(r.set ?? []));
  }
  const out: Json = {};
  // Sums of decimal fractions drift (0.1 + 0.2): Mesos keeps three decimals.
  for (const [k, v] of Object.entries(scalars)) out[k] = Math.round(v * 1000) / 1000;
  for (const [k, v] of Object.entries(ranges)) out[k] = `[${mergeRanges(v).map(([a, b]) => `${a}-${b}`).join(', ')}]`;
  for (const [k, v] of Object.entries(sets)) out[k] = `{${[...new Set(v)].sort().join(', ')}}`;
  return out;
}

function mergeRanges(rs: Array<[number, number]>): Array<[number, number]> {
  const sorted = [...rs].sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const [a, b] of sorted) {
    const last = out[out.length - 1];
    if (last && a <= last[1] + 1) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

/** Attributes as `{ name: value }`: text as is, scalars as numbers, ranges and sets as text. */
export function attributesJson(attrs: Attributes): Json {
  const out: Json = {};
  for (const a of attrs) {
    if (a.type === 'SCALAR') out[a.name] = a.scalar;
    else if (a.type === 'TEXT') out[a.name] = a.text;
    else if (a.type === 'RANGES') out[a.name] = `[${(a.ranges ?? []).map((r) => `${r.begin}-${r.end}`).join(', ')}]`;
    else out[a.name] = `{${(a.set ?? []).join(', ')}}`;
  }
  return out;
}

/** A status as Mesos' `TaskStatus` model (the fields a state reader uses). */
export function statusJson(s: TaskStatus): Json {
  return {
    state: s.state,
    timestamp: seconds(s.timestamp),
    ...(s.message !== undefined ? { message: s.message } : {}),
    ...(s.source !== undefined ? { source: s.source } : {}),
    ...(s.reason !== undefined ? { reason: s.reason } : {}),
    ...(s.healthy !== undefined ? { healthy: s.healthy } : {}),
    ...(s.containerStatus ? { container_status: { container_id: { value: s.containerStatus.containerId } } } : {}),
  };
}

/** A task as Mesos' `Task` model; `sandbox` (where its output is) is this project's addition. */
export function taskJson(t: Task, role: string, status?: TaskStatus): Json {
  return {
    id: t.taskId,
    name: t.name,
    framework_id: t.frameworkId,
    executor_id: t.executorId ?? '',
    slave_id: t.agentId,
    state: t.state,
    role,
    resources: resourcesJson(t.resources),
    statuses: status ? [statusJson(status)] : [],
    ...(status?.sandbox !== undefined ? { sandbox: status.sandbox } : {}),
  };
}

/** What a task holds while it has not ended (its resources count as used). */
export function holdsResources(t: TaskEntry): boolean {
  return !t.freed && !isTerminalState(t.task.state);
}

/** An agent as Mesos' slave model, with the resources its tasks and executors use and those offered. */
export function agentJson(a: AgentEntry, offered: readonly OfferEntry[], version: string): Json {
  const used: Resource[] = [];
  for (const t of a.tasks) if (holdsResources(t)) used.push(...t.task.resources);
  for (const e of a.executors.values()) used.push(...e.resources);
  const total = resourcesJson(a.total);
  return {
    id: a.id,
    pid: a.pid,
    hostname: a.info.hostname,
    // The port of the agent's HTTP endpoints, as it registered (0: it serves none).
    port: a.info.http ? Number(a.info.http.slice(a.info.http.lastIndexOf(':') + 1)) : 0,
    // This project's addition: the whole address (`host:port`) its endpoints listen on.
    ...(a.info.http ? { http_address: a.info.http } : {}),
    registered_time: seconds(a.registeredAt),
    resources: total,
    used_resources: resourcesJson(used),
    offered_resources: resourcesJson(offered.flatMap((o) => o.offer.resources)),
    reserved_resources: {},
    unreserved_resources: total,
    attributes: attributesJson(a.info.attributes),
    active: a.removing === undefined,
    deactivated: a.removing !== undefined,
    version,
    capabilities: [],
  };
}

/** What the tasks that have not ended hold. */
export function usedBy(tasks: Iterable<TaskEntry>): Resource[] {
  const used: Resource[] = [];
  for (const t of tasks) if (holdsResources(t)) used.push(...t.task.resources);
  return used;
}

/** The task-state counters of Mesos' summaries (`TASK_STAGING`, `TASK_RUNNING`, …), all present. */
export function taskCounts(tasks: Iterable<{ state: string }>): Record<string, number> {
  const out: Record<string, number> = Object.fromEntries(TASK_STATES.map((s) => [s, 0]));
  for (const t of tasks) out[t.state] = (out[t.state] ?? 0) + 1;
  return out;
}

/** The head of a framework's model (everything but its task lists). */
export function frameworkHead(fw: FrameworkEntry, offers: readonly OfferEntry[], used: readonly Resource[] = usedBy(fw.tasks.values())): Json {
  const offered = offers.flatMap((o) => o.offer.resources);
  return {
    id: fw.id,
    name: fw.info.name,
    pid: fw.pid ?? '',
    user: fw.info.user ?? '',
    hostname: fw.info.hostname ?? '',
    webui_url: '',
    role: fw.role,
    roles: fw.info.roles ?? [fw.role],
    ...(fw.info.principal !== undefined ? { principal: fw.info.principal } : {}),
    active: fw.active,
    connected: fw.connected,
    recovered: fw.recovered,
    checkpoint: fw.info.checkpoint ?? false,
    failover_timeout: fw.info.failoverTimeoutSeconds ?? 0,
    capabilities: fw.info.capabilities ?? [],
    registered_time: seconds(fw.registeredAt),
    unregistered_time: 0,
    resources: resourcesJson([...used, ...offered]),
    used_resources: resourcesJson(used),
    offered_resources: resourcesJson(offered),
  };
}

/** An offer as Mesos' model. */
export function offerJson(o: OfferEntry): Json {
  return { id: o.offer.id, framework_id: o.offer.frameworkId, slave_id: o.offer.agentId, resources: resourcesJson(o.offer.resources) };
}

/** A task on an unreachable agent. */
export function unreachableTaskJson(u: UnreachableTask): Json {
  return { ...taskJson(u.task, u.role), state: 'TASK_UNREACHABLE', unreachable_time: seconds(u.unreachableTime) };
}
