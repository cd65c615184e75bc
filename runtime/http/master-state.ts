/**
 * `/master/state` and its relatives, written from a {@link StateSource}: in production the state
 * worker's copy of the master's tables (`state-mirror.ts`, `state-worker.ts`), so the master's
 * own thread never walks them for a document. The writers are the same for the master's own
 * context, which the tests compare against.
 *
 * A document is a list of text chunks, entity by entity, joined by the caller. The writers take a
 * {@link Slicer} and tick it between entities: the worker passes one that never yields (nothing
 * else runs there, and no delta may land halfway through a document).
 *
 * `master-http.ts` caches a written `/master/state` family document for {@link CACHE_MS}: many
 * readers cost one walk.
 */
import type { MasterState } from '../../actors/master/state.ts';
import { v1Agent, v1Framework, v1Status, v1Task } from './operator-events.ts';
import { VISIBLE_ALL, type ViewFilter } from './view-filter.ts';
import { Slicer } from '../slicer.ts';
import type { FrameworkEntry, OfferEntry, TaskEntry } from '../../actors/master/state.ts';
import type { Task } from '../../protocols/records.ts';
import type { Resource } from '../../protocols/resources.ts';
import {
  agentJson,
  frameworkHead,
  holdsResources,
  offerJson,
  resourcesJson,
  seconds,
  taskCounts,
  taskJson,
  unreachableTaskJson,
  type Json,
} from './mesos-json.ts';

/** How long a written snapshot answers further requests, ms. */
export const CACHE_MS = 1000;

/**
 * What the state documents read: the master's context, or a copy of its tables kept elsewhere
 * (`state-mirror.ts`, in the worker thread that serves the documents).
 */
export interface StateSource {
  runId: string;
  self: string;
  hostname: string;
  state: Pick<MasterState, 'agents' | 'frameworks' | 'offers' | 'recovered' | 'completedFrameworks'> & { registry: { unreachable: { readonly size: number } } };
  /** A task's JSON text, when the source keeps it (a copy whose entries change only by being replaced). */
  taskText?(t: TaskEntry): string;
}

/** A task's JSON text in `/master/state`: the source's, or written now. */
const taskText = (ctx: StateSource, t: TaskEntry): string => ctx.taskText?.(t) ?? JSON.stringify(taskJson(t.task, t.role, t.status));

/** What the state documents say about the master itself. */
export interface MasterMeta {
  version: string;
  cluster: string;
  startTime: number;
  /** When this leadership began (epoch ms), 0 while standing by. */
  electedTime: number;
  leader?: { pid: string; hostname: string; http?: string };
  flags: Record<string, string>;
}

/** A document written in chunks: `parts` joined is the JSON text. */
export interface Written {
  parts: string[];
  at: number;
}

/** Joins JSON values (each already text) into an array, slice by slice. */
async function array<T>(items: Iterable<T>, toJson: (x: T) => Json | Promise<Json>, slicer: Slicer, out: string[]): Promise<void> {
  await texts(items, async (x) => JSON.stringify(await toJson(x)), slicer, out);
}

/** Joins JSON texts into an array, slice by slice. */
async function texts<T>(items: Iterable<T>, toText: (x: T) => string | Promise<string>, slicer: Slicer, out: string[]): Promise<void> {
  out.push('[');
  let first = true;
  for (const x of items) {
    out.push(`${first ? '' : ','}${await toText(x)}`);
    first = false;
    await slicer.tick();
  }
  out.push(']');
}

/** Offers by agent and by framework. */
async function offerIndex(ctx: StateSource, slicer: Slicer) {
  const byAgent = new Map<string, OfferEntry[]>();
  const byFramework = new Map<string, OfferEntry[]>();
  for (const o of ctx.state.offers.values()) {
    (byAgent.get(o.offer.agentId) ?? byAgent.set(o.offer.agentId, []).get(o.offer.agentId)!).push(o);
    (byFramework.get(o.offer.frameworkId) ?? byFramework.set(o.offer.frameworkId, []).get(o.offer.frameworkId)!).push(o);
    await slicer.tick();
  }
  return { byAgent, byFramework };
}

/** The header fields of `/master/state`. */
function stateHead(ctx: StateSource, meta: MasterMeta): Json {
  const s = ctx.state;
  let active = 0;
  for (const a of s.agents.values()) if (a.removing === undefined) active++;
  return {
    version: meta.version,
    start_time: seconds(meta.startTime),
    ...(meta.electedTime > 0 ? { elected_time: seconds(meta.electedTime) } : {}),
    id: ctx.runId,
    pid: ctx.self,
    hostname: ctx.hostname,
    cluster: meta.cluster,
    activated_slaves: active,
    deactivated_slaves: s.agents.size - active,
    unreachable_slaves: s.registry.unreachable?.size ?? 0,
    ...(meta.leader ? { leader: meta.leader.pid, leader_info: { pid: meta.leader.pid, hostname: meta.leader.hostname, ...(meta.leader.http ? { address: meta.leader.http } : {}) } } : {}),
    flags: meta.flags,
  };
}

/** Opens an object whose fields so far are `head`: its text without the closing brace. */
const open = (head: Json) => JSON.stringify(head).slice(0, -1);

/** What a framework's tasks hold, added up a slice at a time (a framework may have 100,000). */
async function usedInSlices(fw: FrameworkEntry, slicer: Slicer): Promise<Resource[]> {
  // Scalars are summed as they come, so what is handed on stays small.
  const sums = new Map<string, number>();
  const others: Resource[] = [];
  for (const t of fw.tasks.values()) {
    if (holdsResources(t)) {
      for (const r of t.task.resources) {
        if (r.type === 'SCALAR') sums.set(r.name, (sums.get(r.name) ?? 0) + (r.scalar ?? 0));
        else others.push(r);
      }
    }
    await slicer.tick();
  }
  return [...[...sums].map(([name, scalar]): Resource => ({ name, type: 'SCALAR', scalar })), ...others];
}

/** The frameworks `view` may see, with the tasks it may see and their offers, as a JSON array. */
async function frameworks(ctx: StateSource, offersOf: Map<string, OfferEntry[]>, view: ViewFilter, slicer: Slicer, out: string[]): Promise<void> {
  out.push('[');
  let first = true;
  for (const fw of ctx.state.frameworks.values()) {
    if (!view.framework(fw.info)) continue;
    const tasksVisible = view.task(fw.info);
    const fo = offersOf.get(fw.id) ?? [];
    out.push(`${first ? '' : ','}${open(frameworkHead(fw, fo, await usedInSlices(fw, slicer)))},"tasks":`);
    first = false;
    await texts(tasksVisible ? fw.tasks.values() : [], (t) => taskText(ctx, t), slicer, out);
    out.push(',"unreachable_tasks":');
    await array(tasksVisible ? fw.unreachableTasks.values() : [], unreachableTaskJson, slicer, out);
    out.push(',"completed_tasks":');
    await array(tasksVisible ? fw.completedTasks : [], (t) => taskJson(t, fw.role), slicer, out);
    out.push(`,"offers":${JSON.stringify(fo.map(offerJson))},"executors":[]}`);
    await slicer.tick();
  }
  out.push(']');
}

/** The frameworks that ended and `view` may see, as a JSON array. */
async function completedFrameworks(ctx: StateSource, view: ViewFilter, slicer: Slicer, out: string[]): Promise<void> {
  const ended = view.unrestricted ? ctx.state.completedFrameworks : ctx.state.completedFrameworks.filter((fw) => view.framework(fw.info));
  await array(ended, (fw) => ({ ...frameworkHead(fw, []), tasks: [], unreachable_tasks: [], completed_tasks: view.task(fw.info) ? fw.completedTasks.map((t) => taskJson(t, fw.role)) : [], offers: [], executors: [] }), slicer, out);
}

/** Writes `/master/state` as `view` may see it (the flags only when it may see them). */
export async function writeState(ctx: StateSource, meta: MasterMeta, view: ViewFilter = VISIBLE_ALL, slicer = new Slicer()): Promise<string[]> {
  const s = ctx.state;
  const head = stateHead(ctx, meta);
  if (!view.flags()) delete head.flags;
  const out: string[] = [open(head)];
  const offers = await offerIndex(ctx, slicer);
  out.push(',"slaves":');
  await array(s.agents.values(), (a) => agentJson(a, offers.byAgent.get(a.id) ?? [], meta.version), slicer, out);
  out.push(',"recovered_slaves":');
  await array(s.recovered, ([id, r]) => ({ id, hostname: r.info.hostname, resources: {}, attributes: {} }), slicer, out);
  out.push(',"frameworks":');
  await frameworks(ctx, offers.byFramework, view, slicer, out);
  out.push(',"completed_frameworks":');
  await completedFrameworks(ctx, view, slicer, out);
  out.push(',"orphan_tasks":[],"unregistered_frameworks":[]}');
  return out;
}

/**
 * Writes `/master/state-summary`: agents and frameworks with task counts, no task lists; the
 * frameworks `view` may see, and the agents' counts and framework ids of the tasks it may see.
 */
export async function writeSummary(ctx: StateSource, meta: MasterMeta, view: ViewFilter = VISIBLE_ALL, slicer = new Slicer()): Promise<string[]> {
  const s = ctx.state;
  const out: string[] = [open({ hostname: ctx.hostname, cluster: meta.cluster })];
  const offers = await offerIndex(ctx, slicer);
  out.push(',"slaves":');
  const taskVisible = (frameworkId: string) => view.unrestricted || view.task(s.frameworks.get(frameworkId)?.info);
  await array(s.agents.values(), (a) => {
    const tasks = [...a.tasks].map((t) => t.task).filter((t) => taskVisible(t.frameworkId));
    return { ...agentJson(a, offers.byAgent.get(a.id) ?? [], meta.version), ...taskCounts(tasks), framework_ids: [...new Set(tasks.map((t) => t.frameworkId))] };
  }, slicer, out);
  out.push(',"frameworks":');
  await array(view.unrestricted ? s.frameworks.values() : [...s.frameworks.values()].filter((fw) => view.framework(fw.info)), async (fw) => {
    const tasks: Task[] = [];
    const agents = new Set<string>();
    const tasksVisible = view.task(fw.info);
    for (const t of tasksVisible ? fw.tasks.values() : []) {
      tasks.push(t.task);
      agents.add(t.task.agentId);
      await slicer.tick();
    }
    return { ...frameworkHead(fw, offers.byFramework.get(fw.id) ?? [], await usedInSlices(fw, slicer)), ...taskCounts(tasksVisible ? [...tasks, ...fw.completedTasks] : []), slave_ids: [...agents] };
  }, slicer, out);
  out.push('}');
  return out;
}

/** Writes `/master/frameworks`: the frameworks with their tasks, and the completed ones, as `view` may see them. */
export async function writeFrameworks(ctx: StateSource, _meta: MasterMeta, view: ViewFilter = VISIBLE_ALL, slicer = new Slicer()): Promise<string[]> {
  const offers = await offerIndex(ctx, slicer);
  const out: string[] = ['{"frameworks":'];
  await frameworks(ctx, offers.byFramework, view, slicer, out);
  out.push(',"completed_frameworks":');
  await completedFrameworks(ctx, view, slicer, out);
  out.push(',"unregistered_frameworks":[]}');
  return out;
}

/** Writes `/master/slaves` (every reader sees the agents). */
export async function writeAgents(ctx: StateSource, meta: MasterMeta, _view: ViewFilter = VISIBLE_ALL, slicer = new Slicer()): Promise<string[]> {
  const offers = await offerIndex(ctx, slicer);
  const out: string[] = ['{"slaves":'];
  await array(ctx.state.agents.values(), (a) => agentJson(a, offers.byAgent.get(a.id) ?? [], meta.version), slicer, out);
  out.push(',"recovered_slaves":');
  await array(ctx.state.recovered, ([id, r]) => ({ id, hostname: r.info.hostname }), slicer, out);
  out.push('}');
  return out;
}

/**
 * Writes `/master/tasks`: every task the master knows (running, unreachable, completed), in
 * framework order (`asc`) or the reverse (`des`, the default, as in Mesos), `limit` from `offset`;
 * only the tasks `view` may see.
 */
export async function writeTasks(ctx: StateSource, q: { limit: number; offset: number; order: 'asc' | 'des' }, view: ViewFilter = VISIBLE_ALL, slicer = new Slicer()): Promise<string[]> {
  const all: Json[] = [];
  for (const fw of ctx.state.frameworks.values()) {
    if (!view.task(fw.info)) continue;
    for (const t of fw.tasks.values()) {
      all.push(taskJson(t.task, t.role, t.status));
      await slicer.tick();
    }
    for (const u of fw.unreachableTasks.values()) all.push(unreachableTaskJson(u));
    for (const t of fw.completedTasks) {
      all.push(taskJson(t, fw.role));
      await slicer.tick();
    }
  }
  if (q.order === 'des') all.reverse();
  const out: string[] = ['{"tasks":'];
  await array(all.slice(q.offset, q.offset + q.limit), (x) => x, slicer, out);
  out.push('}');
  return out;
}

/**
 * `/master/roles`: each role with frameworks or in `known` (a weight or quota set), its weight and what its frameworks use; only the
 * roles `view` may see, naming only the frameworks it may see.
 */
export function rolesJson(ctx: StateSource, weightOf: (role: string) => number, view: ViewFilter = VISIBLE_ALL, known: Iterable<string> = []): Json {
  // Roles with a weight or quota set are listed without frameworks, as Mesos lists them.
  const roles = new Map<string, FrameworkEntry[]>([...known].map((r) => [r, []]));
  for (const fw of ctx.state.frameworks.values()) (roles.get(fw.role) ?? roles.set(fw.role, []).get(fw.role)!).push(fw);
  return {
    roles: [...roles].filter(([name]) => view.role(name)).map(([name, fws]) => ({
      name,
      weight: weightOf(name),
      frameworks: fws.filter((fw) => view.framework(fw.info)).map((fw) => fw.id),
      resources: resourcesJson(fws.flatMap((fw) => [...fw.tasks.values()].filter(holdsResources).flatMap((t) => t.task.resources))),
    })),
  };
}

/** v1 `GET_TASKS`: the tasks `view` may see — running, unreachable, completed — walked in slices. */
export async function v1Tasks(ctx: StateSource, view: ViewFilter = VISIBLE_ALL, slicer = new Slicer()): Promise<Json> {
  const tasks: Json[] = [];
  const unreachable: Json[] = [];
  const completed: Json[] = [];
  for (const fw of ctx.state.frameworks.values()) {
    if (!view.task(fw.info)) continue;
    for (const t of fw.tasks.values()) {
      tasks.push({ ...v1Task(t.task), ...(t.status ? { statuses: [v1Status(t.status, t.task)] } : {}) });
      await slicer.tick();
    }
    for (const u of fw.unreachableTasks.values()) unreachable.push(v1Task(u.task));
    for (const t of fw.completedTasks) completed.push(v1Task(t));
    await slicer.tick();
  }
  return { tasks, unreachable_tasks: unreachable, completed_tasks: completed };
}

/** v1 `GET_AGENTS`: the registered agents, and those recovered from the registry that have not re-registered. */
export async function v1Agents(ctx: StateSource, slicer = new Slicer()): Promise<Json> {
  const agents: Json[] = [];
  for (const a of ctx.state.agents.values()) {
    agents.push(v1Agent(a));
    await slicer.tick();
  }
  return { agents, recovered_agents: [...ctx.state.recovered].map(([id, r]) => ({ id: { value: id }, hostname: r.info.hostname })) };
}

/** v1 `GET_FRAMEWORKS`: the frameworks `view` may see, running and completed. */
export function v1Frameworks(ctx: StateSource, view: ViewFilter = VISIBLE_ALL): Json {
  const s = ctx.state;
  return {
    frameworks: [...s.frameworks.values()].filter((fw) => view.framework(fw.info)).map(v1Framework),
    completed_frameworks: s.completedFrameworks.filter((fw) => view.framework(fw.info)).map(v1Framework),
  };
}

/**
 * The v1 `GET_STATE` answer (`SUBSCRIBED` carries it too): tasks, frameworks and agents as `view`
 * may see them, walked in slices like the other documents.
 */
export async function v1State(ctx: StateSource, view: ViewFilter = VISIBLE_ALL, slicer = new Slicer()): Promise<Json> {
  return {
    get_tasks: await v1Tasks(ctx, view, slicer),
    get_executors: { executors: [] },
    get_frameworks: v1Frameworks(ctx, view),
    get_agents: await v1Agents(ctx, slicer),
  };
}
