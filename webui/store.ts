/**
 * The cluster as the web UI knows it: built from a master's `SUBSCRIBED` state and kept current by
 * the operator events that follow it (`TASK_ADDED`, `TASK_UPDATED`, `AGENT_ADDED`,
 * `AGENT_REMOVED`, `FRAMEWORK_ADDED/UPDATED/REMOVED`). Plain data and pure updates, no DOM, so
 * that it is tested without a browser.
 *
 * Events are read leniently, as any Mesos client reads them: an unknown event type, or one
 * missing the fields it needs, is counted in {@link ClusterStore.ignored} and changes nothing.
 *
 * @see Mesos `docs/operator-http-api.md` (`SUBSCRIBE`), `include/mesos/v1/master/master.proto`.
 */
import { isTerminalState, TASK_STATES, type TaskState } from '../protocols/task-states.ts';

/** Scalar resources by name (`cpus`, `mem`, `disk`, `gpus`, …). */
export type Scalars = Record<string, number>;

/** An agent. */
export interface AgentRow {
  id: string;
  hostname: string;
  /** Where its `/files/*` endpoints are (`host:port`), when it serves them. */
  httpAddress?: string;
  attributes: Record<string, string>;
  resources: Scalars;
  /** Ports and other non-scalar resources, as text. */
  other: string[];
  /**
   * `active`; `recovering`: listed by the registry after a failover, not re-registered yet;
   * `unreachable`: removed after missing its pings; `removed`: left (unregistered).
   */
  status: 'active' | 'deactivated' | 'recovering' | 'unreachable' | 'removed';
  registeredAt?: number;
}

/** A framework. */
export interface FrameworkRow {
  id: string;
  name: string;
  user: string;
  principal?: string;
  roles: string[];
  status: 'active' | 'inactive' | 'disconnected' | 'removed';
  registeredAt?: number;
}

/** One state a task was seen in, with the time the status says (epoch ms) or when it was seen. */
export interface Transition {
  state: string;
  at: number;
  message?: string;
  reason?: string;
  source?: string;
}

/** A task. */
export interface TaskRow {
  id: string;
  name: string;
  frameworkId: string;
  agentId: string;
  executorId?: string;
  state: string;
  resources: Scalars;
  /** Its sandbox on its agent, once a status has said. */
  sandbox?: string;
  /** The states seen, oldest first (only those this UI saw, and the one the state said). */
  history: Transition[];
}

/** JSON read leniently (each field is checked where it is used). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- checked field by field where used
type J = Record<string, any>;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const idOf = (v: unknown): string | undefined => str((v as J | undefined)?.value);

/** Sums v1 `Resource`s' scalars by name; the rest as text. */
export function scalars(list: unknown): { scalars: Scalars; other: string[] } {
  const out: Scalars = {};
  const other: string[] = [];
  if (!Array.isArray(list)) return { scalars: out, other };
  for (const r of list as J[]) {
    const name = str(r?.name);
    if (!name) continue;
    if (r.type === 'SCALAR' && typeof r.scalar?.value === 'number') out[name] = (out[name] ?? 0) + r.scalar.value;
    else if (r.type === 'RANGES' && Array.isArray(r.ranges?.range)) other.push(`${name}:[${(r.ranges.range as J[]).map((x) => `${x.begin}-${x.end}`).join(',')}]`);
    else if (r.type === 'SET' && Array.isArray(r.set?.item)) other.push(`${name}:{${(r.set.item as string[]).join(',')}}`);
  }
  return { scalars: out, other };
}

/** v1 `Attribute`s as `{ name: text }`. */
export function attributes(list: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!Array.isArray(list)) return out;
  for (const a of list as J[]) {
    const name = str(a?.name);
    if (!name) continue;
    if (a.type === 'SCALAR') out[name] = String(a.scalar?.value ?? '');
    else if (a.type === 'TEXT') out[name] = String(a.text?.value ?? '');
    else if (a.type === 'RANGES') out[name] = `[${((a.ranges?.range ?? []) as J[]).map((x) => `${x.begin}-${x.end}`).join(', ')}]`;
    else if (a.type === 'SET') out[name] = `{${((a.set?.item ?? []) as string[]).join(', ')}}`;
  }
  return out;
}

/** Adds `b` to `a` (times `sign`), in place. */
function addTo(a: Scalars, b: Scalars, sign = 1): void {
  for (const [k, v] of Object.entries(b)) a[k] = Math.round(((a[k] ?? 0) + sign * v) * 1000) / 1000;
}

const nanosToMs = (t: unknown): number | undefined => (typeof (t as J | undefined)?.nanoseconds === 'number' ? (t as J).nanoseconds / 1e6 : undefined);

/** Whether a task in `state` holds its resources. */
export const holds = (state: string): boolean => !isTerminalState(state as TaskState) && state !== 'TASK_UNREACHABLE';

/** The cluster's state, as the events have told it. */
export class ClusterStore {
  agents = new Map<string, AgentRow>();
  frameworks = new Map<string, FrameworkRow>();
  tasks = new Map<string, TaskRow>();
  /** Tasks by state. */
  counts: Record<string, number> = Object.fromEntries(TASK_STATES.map((s) => [s, 0]));
  /** What tasks that have not ended hold. */
  used: Scalars = {};
  /** Bumped at every change: views redraw when it moved. */
  version = 0;
  /** Events (or parts of the state) that could not be used. */
  ignored = 0;
  /** Seconds between the master's heartbeats, from `SUBSCRIBED`. */
  heartbeatSeconds = 15;

  /** A task's key: ids are unique within a framework only. */
  static key(frameworkId: string, taskId: string): string {
    return `${frameworkId}/${taskId}`;
  }

  /** Applies one record of the `SUBSCRIBE` stream; `now` (epoch ms) stamps what carries no time. */
  apply(record: unknown, now: number): void {
    if (this.#apply(record as J, now)) this.version++;
    else if ((record as J | undefined)?.type !== 'HEARTBEAT') this.ignored++;
  }

  /** Whether `e` changed anything it could. */
  #apply(e: J | undefined, now: number): boolean {
    switch (e?.type) {
      case 'SUBSCRIBED':
        this.reset(e.subscribed?.get_state, now);
        if (typeof e.subscribed?.heartbeat_interval_seconds === 'number') this.heartbeatSeconds = e.subscribed.heartbeat_interval_seconds;
        return true;
      case 'TASK_ADDED':
        return this.#addTask(e.task_added?.task, now);
      case 'TASK_UPDATED':
        return this.#updateTask(e.task_updated, now);
      case 'AGENT_ADDED':
        return this.#addAgent(e.agent_added?.agent);
      case 'AGENT_REMOVED': {
        const id = idOf(e.agent_removed?.agent_id);
        const a = id !== undefined ? this.agents.get(id) : undefined;
        if (!a) return false;
        // An agent that left or was marked gone is removed; one that stopped answering may come back.
        a.status = e.agent_removed.reason === 'unregistered' || e.agent_removed.reason === 'gone' ? 'removed' : 'unreachable';
        return true;
      }
      case 'FRAMEWORK_ADDED':
      case 'FRAMEWORK_UPDATED':
        return this.#setFramework(e.framework_added?.framework ?? e.framework_updated?.framework);
      case 'FRAMEWORK_REMOVED': {
        const id = idOf(e.framework_removed?.framework_info?.id);
        const f = id !== undefined ? this.frameworks.get(id) : undefined;
        if (!f) return false;
        f.status = 'removed';
        // Its tasks end with it (the master sends no TASK_UPDATED for them).
        for (const t of this.tasks.values()) if (t.frameworkId === id && !isTerminalState(t.state as TaskState)) this.#setState(t, { state: 'TASK_KILLED', at: now, source: 'SOURCE_MASTER', reason: 'REASON_FRAMEWORK_REMOVED' });
        return true;
      }
      default:
        // HEARTBEAT, and types this UI does not know.
        return false;
    }
  }

  /** Replaces everything with a v1 `GetState`. */
  reset(state: J | undefined, now: number): void {
    this.agents.clear();
    this.frameworks.clear();
    this.tasks.clear();
    this.counts = Object.fromEntries(TASK_STATES.map((s) => [s, 0]));
    this.used = {};
    if (!state) return;
    for (const a of state.get_agents?.agents ?? []) if (!this.#addAgent(a)) this.ignored++;
    for (const r of state.get_agents?.recovered_agents ?? []) {
      const id = idOf(r?.id) ?? idOf(r?.agent_info?.id);
      if (id === undefined || this.agents.has(id)) continue;
      this.agents.set(id, { id, hostname: str(r.hostname) ?? str(r.agent_info?.hostname) ?? '', attributes: attributes(r.agent_info?.attributes), resources: scalars(r.agent_info?.resources).scalars, other: [], status: 'recovering' });
    }
    for (const f of state.get_frameworks?.frameworks ?? []) if (!this.#setFramework(f)) this.ignored++;
    for (const f of state.get_frameworks?.completed_frameworks ?? []) if (!this.#setFramework(f, 'removed')) this.ignored++;
    const tasks = state.get_tasks ?? {};
    for (const list of [tasks.completed_tasks, tasks.unreachable_tasks, tasks.tasks]) {
      for (const t of list ?? []) if (!this.#addTask(t, now)) this.ignored++;
    }
  }

  #addAgent(a: J | undefined): boolean {
    const id = idOf(a?.agent_info?.id);
    if (!a || id === undefined) return false;
    const { scalars: res, other } = scalars(a.total_resources ?? a.agent_info.resources);
    this.agents.set(id, {
      id,
      hostname: str(a.agent_info.hostname) ?? '',
      ...(str(a.http_address) ? { httpAddress: a.http_address } : {}),
      attributes: attributes(a.agent_info.attributes),
      resources: res,
      other,
      status: a.deactivated === true ? 'deactivated' : 'active',
      ...(nanosToMs(a.registered_time) !== undefined ? { registeredAt: nanosToMs(a.registered_time) } : {}),
    });
    return true;
  }

  #setFramework(f: J | undefined, forced?: FrameworkRow['status']): boolean {
    const info = f?.framework_info;
    const id = idOf(info?.id);
    if (!f || id === undefined) return false;
    this.frameworks.set(id, {
      id,
      name: str(info.name) ?? '',
      user: str(info.user) ?? '',
      ...(str(info.principal) ? { principal: info.principal } : {}),
      roles: Array.isArray(info.roles) ? info.roles.filter((r: unknown) => typeof r === 'string') : str(info.role) ? [info.role] : ['*'],
      status: forced ?? (f.active === false ? 'inactive' : f.connected === false ? 'disconnected' : 'active'),
      ...(nanosToMs(f.registered_time) !== undefined ? { registeredAt: nanosToMs(f.registered_time) } : {}),
    });
    return true;
  }

  #addTask(t: J | undefined, now: number): boolean {
    const id = idOf(t?.task_id);
    const frameworkId = idOf(t?.framework_id);
    if (!t || id === undefined || frameworkId === undefined || typeof t.state !== 'string') return false;
    const key = ClusterStore.key(frameworkId, id);
    const old = this.tasks.get(key);
    if (old) this.#count(old, -1);
    const statuses: J[] = Array.isArray(t.statuses) ? t.statuses : [];
    const history: Transition[] = old?.history ?? [];
    const last = statuses.at(-1);
    if (history.length === 0 || history.at(-1)!.state !== t.state) history.push(transition(last?.state === t.state ? last : { state: t.state }, now));
    const row: TaskRow = {
      id,
      name: str(t.name) ?? '',
      frameworkId,
      agentId: idOf(t.agent_id) ?? '',
      ...(idOf(t.executor_id) !== undefined ? { executorId: idOf(t.executor_id) } : {}),
      state: t.state,
      resources: scalars(t.resources).scalars,
      ...(str(last?.sandbox) ?? old?.sandbox ? { sandbox: str(last?.sandbox) ?? old?.sandbox } : {}),
      history,
    };
    this.tasks.set(key, row);
    this.#count(row, 1);
    return true;
  }

  #updateTask(u: J | undefined, now: number): boolean {
    const frameworkId = idOf(u?.framework_id);
    const id = idOf(u?.status?.task_id);
    const state = str(u?.state) ?? str(u?.status?.state);
    if (frameworkId === undefined || id === undefined || state === undefined) return false;
    const t = this.tasks.get(ClusterStore.key(frameworkId, id));
    if (!t) return false;
    const sandbox = str(u!.status.sandbox);
    if (sandbox) t.sandbox = sandbox;
    this.#setState(t, transition({ ...u!.status, state }, now));
    return true;
  }

  #setState(t: TaskRow, tr: Transition): void {
    this.#count(t, -1);
    t.state = tr.state;
    this.#count(t, 1);
    if (t.history.at(-1)?.state !== tr.state) t.history.push(tr);
  }

  #count(t: TaskRow, sign: 1 | -1): void {
    this.counts[t.state] = (this.counts[t.state] ?? 0) + sign;
    if (holds(t.state)) addTo(this.used, t.resources, sign);
  }

  /** What the agents that are up offer in all. */
  total(): Scalars {
    const out: Scalars = {};
    for (const a of this.agents.values()) if (a.status === 'active' || a.status === 'deactivated') addTo(out, a.resources);
    return out;
  }
}

/** A v1 `TaskStatus` as a {@link Transition} (its `timestamp` is in seconds). */
function transition(s: J, now: number): Transition {
  return {
    state: String(s.state),
    at: typeof s.timestamp === 'number' ? s.timestamp * 1000 : now,
    ...(str(s.message) ? { message: s.message } : {}),
    ...(str(s.reason) ? { reason: s.reason } : {}),
    ...(str(s.source) ? { source: s.source } : {}),
  };
}
