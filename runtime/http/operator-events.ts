/**
 * The master's operator events in Mesos' v1 JSON (`v1/master/master.proto` `Event`), as a
 * `SUBSCRIBE`r reads them: ids as `{ "value": … }`, resources as a list of v1 `Resource`s, times as
 * `{ "nanoseconds": … }` or seconds where Mesos uses them. Each event is turned into JSON when the
 * master announces it, so it says what was true at that moment.
 */
import type { OperatorEvent } from '../../actors/master/state.ts';
import type { FrameworkEntry, AgentEntry } from '../../actors/master/state.ts';
import type { FrameworkInfo, Task, TaskStatus } from '../../protocols/records.ts';
import type { Resource } from '../../protocols/resources.ts';
import type { Attributes } from '../../protocols/attributes.ts';
import { seconds, type Json } from './mesos-json.ts';

/** `{ value }`, the v1 API's wrapper of an id. */
export const v1Id = (value: string) => ({ value });
const id = v1Id;
const nanos = (ms: number) => ({ nanoseconds: Math.round(ms * 1e6) });

/** Resources as v1 `Resource` messages. */
export function v1Resources(rs: readonly Resource[]): Json[] {
  return rs.map((r) => ({
    name: r.name,
    type: r.type,
    ...(r.type === 'SCALAR' ? { scalar: { value: r.scalar ?? 0 } } : {}),
    ...(r.type === 'RANGES' ? { ranges: { range: (r.ranges ?? []).map((x) => ({ begin: x.begin, end: x.end })) } } : {}),
    ...(r.type === 'SET' ? { set: { item: r.set ?? [] } } : {}),
    ...(r.role !== undefined && r.role !== '*' ? { reservations: [{ type: 'STATIC', role: r.role }] } : {}),
  }));
}

/** A status as v1 `TaskStatus`; the agent and executor it does not name are its `task`'s. */
export function v1Status(s: TaskStatus, task?: Task): Json {
  const agentId = s.agentId ?? task?.agentId;
  const executorId = s.executorId ?? task?.executorId;
  return {
    task_id: id(s.taskId),
    state: s.state,
    ...(s.message !== undefined ? { message: s.message } : {}),
    ...(s.source !== undefined ? { source: s.source } : {}),
    ...(s.reason !== undefined ? { reason: s.reason } : {}),
    ...(agentId !== undefined ? { agent_id: id(agentId) } : {}),
    ...(executorId !== undefined ? { executor_id: id(executorId) } : {}),
    timestamp: seconds(s.timestamp),
    ...(s.uuid !== undefined ? { uuid: s.uuid } : {}),
    ...(s.containerStatus ? { container_status: { container_id: id(s.containerStatus.containerId) } } : {}),
    // This project's addition: where the task's files are, on its agent.
    ...(s.sandbox !== undefined ? { sandbox: s.sandbox } : {}),
  };
}

/** A task as v1 `Task`. */
export function v1Task(t: Task): Json {
  return {
    name: t.name,
    task_id: id(t.taskId),
    framework_id: id(t.frameworkId),
    agent_id: id(t.agentId),
    ...(t.executorId !== undefined ? { executor_id: id(t.executorId) } : {}),
    state: t.state,
    resources: v1Resources(t.resources),
    statuses: [],
  };
}

/** A framework's info as v1 `FrameworkInfo`. */
export function v1FrameworkInfo(id_: string, info: FrameworkInfo): Json {
  return {
    id: id(id_),
    name: info.name,
    user: info.user ?? '',
    ...(info.principal !== undefined ? { principal: info.principal } : {}),
    ...(info.hostname !== undefined ? { hostname: info.hostname } : {}),
    roles: info.roles ?? ['*'],
    checkpoint: info.checkpoint ?? false,
    failover_timeout: info.failoverTimeoutSeconds ?? 0,
    capabilities: (info.capabilities ?? []).map((type) => ({ type })),
  };
}

/** A framework as v1 `Response.GetFrameworks.Framework`. */
export function v1Framework(fw: FrameworkEntry): Json {
  return {
    framework_info: v1FrameworkInfo(fw.id, fw.info),
    active: fw.active,
    connected: fw.connected,
    recovered: fw.recovered,
    registered_time: nanos(fw.registeredAt),
  };
}

/** Attributes as v1 `Attribute` messages. */
export function v1Attributes(attrs: Attributes): Json[] {
  return attrs.map((a) => ({
    name: a.name,
    type: a.type,
    ...(a.type === 'SCALAR' ? { scalar: { value: a.scalar ?? 0 } } : {}),
    ...(a.type === 'RANGES' ? { ranges: { range: (a.ranges ?? []).map((x) => ({ begin: x.begin, end: x.end })) } } : {}),
    ...(a.type === 'SET' ? { set: { item: a.set ?? [] } } : {}),
    ...(a.type === 'TEXT' ? { text: { value: a.text ?? '' } } : {}),
  }));
}

/**
 * An agent as v1 `Response.GetAgents.Agent`; `http_address` (where its `/files/*` are served) is
 * this project's addition.
 */
export function v1Agent(a: AgentEntry): Json {
  const port = a.info.http ? Number(a.info.http.slice(a.info.http.lastIndexOf(':') + 1)) : undefined;
  return {
    agent_info: { id: id(a.id), hostname: a.info.hostname, ...(port !== undefined ? { port } : {}), resources: v1Resources(a.total), attributes: v1Attributes(a.info.attributes) },
    ...(a.info.http ? { http_address: a.info.http } : {}),
    active: a.removing === undefined,
    deactivated: a.removing !== undefined,
    pid: a.pid,
    registered_time: nanos(a.registeredAt),
    total_resources: v1Resources(a.total),
  };
}

/** One event as v1 JSON. */
export function v1Event(e: OperatorEvent): Json {
  switch (e.kind) {
    case 'TASK_ADDED':
      return { type: 'TASK_ADDED', task_added: { task: v1Task(e.task) } };
    case 'TASK_UPDATED':
      return {
        type: 'TASK_UPDATED',
        task_updated: {
          framework_id: id(e.task.frameworkId),
          ...(e.status ? { status: v1Status(e.status, e.task) } : { status: { task_id: id(e.task.taskId), state: e.state, agent_id: id(e.task.agentId), source: 'SOURCE_MASTER' } }),
          state: e.state,
        },
      };
    case 'AGENT_ADDED':
      return { type: 'AGENT_ADDED', agent_added: { agent: v1Agent(e.agent) } };
    case 'AGENT_REMOVED':
      return { type: 'AGENT_REMOVED', agent_removed: { agent_id: id(e.agentId), ...(e.reason ? { reason: e.reason } : {}) } };
    case 'FRAMEWORK_ADDED':
      return { type: 'FRAMEWORK_ADDED', framework_added: { framework: v1Framework(e.framework) } };
    case 'FRAMEWORK_UPDATED':
      return { type: 'FRAMEWORK_UPDATED', framework_updated: { framework: v1Framework(e.framework) } };
    case 'FRAMEWORK_REMOVED':
      return { type: 'FRAMEWORK_REMOVED', framework_removed: { framework_info: v1FrameworkInfo(e.framework.id, e.framework.info) } };
  }
}

/** A RecordIO record: the byte length of `json`, a newline, then `json`. @see Mesos `docs/recordio.md` */
export function recordIO(json: Json): string {
  const text = JSON.stringify(json);
  return `${Buffer.byteLength(text)}\n${text}`;
}

/**
 * Fans operator events out to `SUBSCRIBE` streams. Each event becomes one RecordIO record, made
 * once for every subscriber, and only while there is one.
 */
export class OperatorEventHub {
  readonly #listeners = new Set<(record: string, event: OperatorEvent) => void>();

  readonly #observers = new Set<(event: OperatorEvent) => void>();

  /** Called by the master for each event it announces. */
  publish(e: OperatorEvent): void {
    for (const o of this.#observers) o(e);
    if (this.#listeners.size === 0) return;
    const record = recordIO(v1Event(e));
    for (const l of this.#listeners) l(record, e);
  }

  /** Listens (to each record, with the event it says, for a listener that filters); returns how to stop. */
  subscribe(listener: (record: string, event: OperatorEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Observes every event as announced, subscribers or not (no record is made for it); returns how to stop. */
  observe(observer: (event: OperatorEvent) => void): () => void {
    this.#observers.add(observer);
    return () => this.#observers.delete(observer);
  }

  get subscribers(): number {
    return this.#listeners.size;
  }
}
