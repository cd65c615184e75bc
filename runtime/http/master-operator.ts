/**
 * The operator's calls on the master's HTTP API, in Mesos' shapes:
 *
 * - v1 reads (`POST /api/v1`): `GET_AGENTS`, `GET_FRAMEWORKS`, `GET_EXECUTORS`, `GET_TASKS`,
 *   `GET_ROLES`, `GET_MASTER`, `GET_QUOTA`, `GET_WEIGHTS`;
 * - v1 writes: `TEARDOWN`, `UPDATE_QUOTA` (Mesos' `quota_configs`: one config per role, guarantees
 *   and limits as `{ "cpus": { "value": 2 } }`; a config with neither removes the role's quota),
 *   `UPDATE_WEIGHTS`, `MARK_AGENT_GONE`;
 * - the older endpoints: `POST /master/teardown` (`frameworkId=…`), `/master/quota` (`GET`;
 *   `POST` a `{ role, guarantee: [Resource…] }`; `DELETE /master/quota/<role>`), `/master/weights`
 *   (`GET`; `PUT` a list of `{ role, weight }`).
 *
 * A write goes into the master machine as the operator message it knows, sent as an operator
 * acting for the request's authenticated principal, and the answer waits for the master's
 * decision: 200 once done (stored first where it must be), 403 when the ACLs refuse it, 400 (404
 * for an agent) when it names nothing the master knows, 409 when the agent is busy with another
 * change, 503 when no answer came. Mesos' `force` (skip the capacity check) is accepted and
 * changes nothing: this master sets quota without checking capacity. A standby sends every call
 * to the leader (307).
 *
 * @see Mesos `docs/operator-http-api.md`, `docs/endpoints/master/{teardown,quota,weights}.md`,
 * `docs/quota.md`, `docs/weights.md`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MasterContext } from '../../actors/master/master.machine.ts';
import type { QuotaRecord } from '../../actors/master/registry.ts';
import type { Message } from '../../protocols/messages.ts';
import type { OperatorAnswer } from '../master.ts';
import { requestPrincipal } from './http-auth.ts';
import { v1Frameworks, type MasterMeta } from './master-state.ts';
import { resourcesJson, holdsResources, type Json } from './mesos-json.ts';
import { v1Id, v1Resources } from './operator-events.ts';
import { readBody, sendChunks, sendJson as json } from './server.ts';
import { withDocument, type SharedDocument } from './state-worker.ts';
import type { ViewFilter } from './view-filter.ts';

/** What the operator's calls need from the server. */
export interface OperatorEndpoints {
  context(): MasterContext | undefined;
  leading(): boolean;
  meta(): MasterMeta;
  weightOf(role: string): number;
  viewOf(req: IncomingMessage): ViewFilter;
  /** Answers a request only the leader can serve: 307 to it, or 503. */
  redirect(req: IncomingMessage, res: ServerResponse): void;
  /** A large answer (`GET_TASKS`, `GET_AGENTS`), written off the master's thread (`state-worker.ts`). */
  document(ctx: MasterContext, req: IncomingMessage, doc: 'v1-tasks' | 'v1-agents'): Promise<SharedDocument>;
  /** Hands an operator message to the master as `principal`; `undefined` when this process has no master yet. */
  call?: (msg: Message, principal: string | undefined) => Promise<OperatorAnswer>;
}

/** The v1 call types answered here. */
export const OPERATOR_CALLS: ReadonlySet<string> = new Set([
  'GET_AGENTS', 'GET_FRAMEWORKS', 'GET_EXECUTORS', 'GET_TASKS', 'GET_ROLES', 'GET_MASTER', 'GET_QUOTA', 'GET_WEIGHTS',
  'TEARDOWN', 'UPDATE_QUOTA', 'UPDATE_WEIGHTS', 'MARK_AGENT_GONE',
]);

/** True for the older write endpoints answered here (and their reads). */
export function isOperatorPath(path: string): boolean {
  return path === '/master/teardown' || path === '/teardown' || path === '/master/quota' || path === '/quota'
    || path.startsWith('/master/quota/') || path.startsWith('/quota/') || path === '/master/weights' || path === '/weights';
}

/** A request that cannot be carried out as given: answered 400 with `message`. */
class BadCall extends Error {
  override name = 'BadCall';
}

/** Role names as Mesos accepts them (`roles::validate`): no empty, `.`, `..`, leading `-`, `/` parts, or spaces. */
function role(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) throw new BadCall(`${where}: a role name (1 to 256 characters)`);
  if (value !== '*' && (value.split('/').some((p) => p === '' || p === '.' || p === '..' || p.startsWith('-')) || /\s/.test(value) || [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))) {
    throw new BadCall(`${where}: '${value}' is not a valid role name`);
  }
  return value;
}

/** Scalar quantities `{ name: { value } }` (v1 `quota_configs`) as `{ name: number }`. */
function quantities(raw: unknown, where: string): Record<string, number> | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new BadCall(`${where}: expected an object of { "<resource>": { "value": <number> } }`);
  const out: Record<string, number> = {};
  for (const [name, q] of Object.entries(raw as Record<string, unknown>)) {
    const v = (q as { value?: unknown } | null)?.value;
    if (name.length === 0 || name.length > 64 || typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new BadCall(`${where}.${name}: a non-negative number as { "value": … }`);
    out[name] = v;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** A list of v1 scalar `Resource`s (the old `/quota` endpoint's `guarantee`) as `{ name: number }`. */
function scalarResources(raw: unknown, where: string): Record<string, number> | undefined {
  if (raw === undefined) return undefined;
  if (!Array.isArray(raw)) throw new BadCall(`${where}: expected a list of resources`);
  const out: Record<string, number> = {};
  raw.forEach((r: { name?: unknown; type?: unknown; scalar?: { value?: unknown } }, i) => {
    const v = r?.scalar?.value;
    if (typeof r?.name !== 'string' || r.name.length === 0 || r.name.length > 64 || (r.type !== undefined && r.type !== 'SCALAR') || typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new BadCall(`${where}[${i}]: a scalar resource { "name", "type": "SCALAR", "scalar": { "value": <non-negative number> } }`);
    }
    out[r.name] = (out[r.name] ?? 0) + v;
  });
  return Object.keys(out).length > 0 ? out : undefined;
}

/** One role's `UpdateQuota`, checked as Mesos checks a quota config. */
function quotaMessage(r: string, guarantees: Record<string, number> | undefined, limits: Record<string, number> | undefined): Message {
  if (r === '*') throw new BadCall("quota cannot be set for the '*' role");
  for (const [name, g] of Object.entries(guarantees ?? {})) {
    const l = limits?.[name];
    if (l !== undefined && g > l) throw new BadCall(`role '${r}': the guarantee of ${name} (${g}) is above its limit (${l})`);
  }
  return { type: 'UpdateQuota', body: { role: r, ...(guarantees ? { guarantees } : {}), ...(limits ? { limits } : {}) } };
}

/** `{ role, weight }` items (v1 `weight_infos`, or the body of `PUT /weights`) as an `UpdateWeights`. */
function weightsMessage(raw: unknown, where: string): Message {
  if (!Array.isArray(raw) || raw.length === 0) throw new BadCall(`${where}: expected a non-empty list of { "role", "weight" }`);
  const weights: Record<string, number> = {};
  raw.forEach((w: { role?: unknown; weight?: unknown }, i) => {
    const r = role(w?.role, `${where}[${i}].role`);
    if (typeof w.weight !== 'number' || !Number.isFinite(w.weight) || w.weight <= 0) throw new BadCall(`${where}[${i}].weight: a positive number`);
    weights[r] = w.weight;
  });
  return { type: 'UpdateWeights', body: { weights } };
}

/** An id given as v1 `{ "value": … }`. */
function v1IdOf(raw: unknown, where: string): string {
  const v = (raw as { value?: unknown } | null | undefined)?.value;
  if (typeof v !== 'string' || v.length === 0 || v.length > 256) throw new BadCall(`${where}: expected { "value": "<id>" }`);
  return v;
}

/** A quota as v1 `QuotaConfig` quantities. */
const v1Quantities = (q: Record<string, number> | undefined) => Object.fromEntries(Object.entries(q ?? {}).map(([k, v]) => [k, { value: v }]));

/** A quota as v1 scalar `Resource`s. */
const scalarList = (q: Record<string, number> | undefined) => Object.entries(q ?? {}).map(([name, value]) => ({ name, type: 'SCALAR', scalar: { value } }));

/** The quota status (`GET_QUOTA`, `GET /quota`): `infos` (guarantees, the old form) and `configs` (guarantees and limits). */
function quotaStatus(quotas: ReadonlyMap<string, QuotaRecord>, view: ViewFilter): Json {
  const roles = [...quotas].filter(([r]) => view.role(r)).sort(([a], [b]) => (a < b ? -1 : 1));
  return {
    infos: roles.map(([r, q]) => ({ role: r, guarantee: scalarList(q.guarantees) })),
    configs: roles.map(([r, q]) => ({ role: r, ...(q.guarantees ? { guarantees: v1Quantities(q.guarantees) } : {}), ...(q.limits ? { limits: v1Quantities(q.limits) } : {}) })),
  };
}

/** The roles a reader may see: those of frameworks, and those with a weight or quota set. */
function v1Roles(ctx: MasterContext, view: ViewFilter, weightOf: (role: string) => number): Json[] {
  const s = ctx.state;
  const names = new Set<string>();
  const frameworks = new Map<string, string[]>();
  const used = new Map<string, Parameters<typeof v1Resources>[0][number][]>();
  for (const fw of s.frameworks.values()) {
    names.add(fw.role);
    if (view.framework(fw.info)) (frameworks.get(fw.role) ?? frameworks.set(fw.role, []).get(fw.role)!).push(fw.id);
    const list = used.get(fw.role) ?? used.set(fw.role, []).get(fw.role)!;
    for (const t of fw.tasks.values()) if (holdsResources(t)) list.push(...t.task.resources.filter((r) => r.type === 'SCALAR'));
  }
  for (const r of s.registry.weights.keys()) names.add(r);
  for (const r of s.registry.quotas.keys()) names.add(r);
  return [...names].filter((r) => view.role(r)).sort().map((name) => {
    const q = s.registry.quotas.get(name);
    // Scalars summed by name, as v1 resources.
    const summed = Object.entries(resourcesJson(used.get(name) ?? [])).filter(([, v]) => typeof v === 'number' && v > 0).map(([n, v]) => ({ name: n, type: 'SCALAR' as const, scalar: v as number }));
    return {
      name,
      weight: weightOf(name),
      frameworks: (frameworks.get(name) ?? []).map(v1Id),
      resources: v1Resources(summed),
      allocated: v1Resources(summed),
      ...(q ? { quota: { role: name, guarantee: v1Quantities(q.guarantees), limit: v1Quantities(q.limits) } } : {}),
    };
  });
}

/** The executors a reader may see, as v1 `GET_EXECUTORS`. */
function v1Executors(ctx: MasterContext, view: ViewFilter): Json {
  const executors: Json[] = [];
  for (const a of ctx.state.agents.values()) {
    for (const e of a.executors.values()) {
      const fw = ctx.state.frameworks.get(e.frameworkId)?.info;
      if (!view.executor(fw, e)) continue;
      executors.push({
        agent_id: v1Id(a.id),
        executor_info: {
          executor_id: v1Id(e.executorId),
          framework_id: v1Id(e.frameworkId),
          ...(e.name !== undefined ? { name: e.name } : {}),
          command: { ...(e.command.value !== undefined ? { value: e.command.value } : {}), ...(e.command.user !== undefined ? { user: e.command.user } : {}) },
          resources: v1Resources(e.resources),
        },
      });
    }
  }
  return { executors, orphan_executors: [] };
}

/** v1 `GET_MASTER`: this master's info and times. */
function v1Master(ctx: MasterContext, meta: MasterMeta): Json {
  const http = meta.leader?.pid === ctx.self ? meta.leader.http : undefined;
  const port = http ? Number(http.slice(http.lastIndexOf(':') + 1)) : undefined;
  const ip = http ? http.slice(0, http.lastIndexOf(':')).replace(/^\[|\]$/g, '') : undefined;
  return {
    master_info: {
      id: ctx.runId,
      pid: ctx.self,
      hostname: ctx.hostname,
      version: meta.version,
      ...(port !== undefined ? { port, address: { hostname: ctx.hostname, ip, port } } : {}),
    },
    start_time: meta.startTime / 1000,
    ...(meta.electedTime > 0 ? { elected_time: meta.electedTime / 1000 } : {}),
  };
}

/** The HTTP status of a master's answer to `call`. */
function statusOf(a: OperatorAnswer, call: Message['type']): number {
  switch (a.outcome) {
    case 'ok': return 200;
    case 'forbidden': return 403;
    case 'unknown': return call === 'MarkAgentGone' ? 404 : 400;
    case 'conflict': return 409;
    default: return 503;
  }
}

/** Sends `msgs` to the master one after another as the request's principal; answers with the first that is not done, else 200. */
async function write(o: OperatorEndpoints, req: IncomingMessage, res: ServerResponse, msgs: readonly Message[]): Promise<void> {
  if (!o.call) return json(res, 503, { error: 'the master is not started yet' });
  const principal = requestPrincipal(req);
  for (const m of msgs) {
    const a = await o.call(m, principal);
    if (a.outcome !== 'ok') return json(res, statusOf(a, m.type), { error: a.message ?? a.outcome });
  }
  res.writeHead(200);
  res.end();
}

/** The leader's context, or `undefined` after answering with a redirect. */
function leaderContext(o: OperatorEndpoints, req: IncomingMessage, res: ServerResponse): MasterContext | undefined {
  const ctx = o.context();
  if (!ctx || !o.leading()) {
    o.redirect(req, res);
    return undefined;
  }
  return ctx;
}

/** Answers a v1 call whose answer (`{ type, [field]: … }`) is written already. */
function sendAnswer(res: ServerResponse, type: string, field: string, doc: Promise<SharedDocument>): Promise<void> {
  return withDocument(doc, (bytes) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    return sendChunks(res, bytes, { head: `{"type":${JSON.stringify(type)},${JSON.stringify(field)}:`, tail: '}' });
  });
}

/** Answers one v1 call of {@link OPERATOR_CALLS}. */
export async function operatorCall(o: OperatorEndpoints, req: IncomingMessage, res: ServerResponse, call: Json): Promise<void> {
  const type = String(call.type);
  const ctx = leaderContext(o, req, res);
  if (!ctx) return;
  const view = o.viewOf(req);
  const weightOf = (r: string) => o.weightOf(r);
  try {
    switch (type) {
      case 'GET_AGENTS':
        return await sendAnswer(res, type, 'get_agents', o.document(ctx, req, 'v1-agents'));
      case 'GET_FRAMEWORKS':
        return json(res, 200, { type, get_frameworks: v1Frameworks(ctx, view) });
      case 'GET_EXECUTORS':
        return json(res, 200, { type, get_executors: v1Executors(ctx, view) });
      case 'GET_TASKS':
        return await sendAnswer(res, type, 'get_tasks', o.document(ctx, req, 'v1-tasks'));
      case 'GET_ROLES':
        return json(res, 200, { type, get_roles: { roles: v1Roles(ctx, view, weightOf) } });
      case 'GET_MASTER':
        return json(res, 200, { type, get_master: v1Master(ctx, o.meta()) });
      case 'GET_QUOTA':
        return json(res, 200, { type, get_quota: { status: quotaStatus(ctx.state.registry.quotas, view) } });
      case 'GET_WEIGHTS':
        return json(res, 200, { type, get_weights: { weight_infos: [...ctx.state.registry.weights].filter(([r]) => view.role(r)).map(([r, weight]) => ({ role: r, weight })) } });
      case 'TEARDOWN': {
        const frameworkId = v1IdOf((call.teardown as Json | undefined)?.framework_id, 'teardown.framework_id');
        return await write(o, req, res, [{ type: 'TeardownFramework', body: { frameworkId } }]);
      }
      case 'MARK_AGENT_GONE': {
        const agentId = v1IdOf((call.mark_agent_gone as Json | undefined)?.agent_id, 'mark_agent_gone.agent_id');
        return await write(o, req, res, [{ type: 'MarkAgentGone', body: { agentId } }]);
      }
      case 'UPDATE_WEIGHTS':
        return await write(o, req, res, [weightsMessage((call.update_weights as Json | undefined)?.weight_infos, 'update_weights.weight_infos')]);
      case 'UPDATE_QUOTA': {
        const configs = (call.update_quota as Json | undefined)?.quota_configs;
        if (!Array.isArray(configs) || configs.length === 0) throw new BadCall('update_quota.quota_configs: expected a non-empty list of { "role", "guarantees", "limits" }');
        const msgs = configs.map((c: Json, i) => {
          const where = `update_quota.quota_configs[${i}]`;
          return quotaMessage(role(c?.role, `${where}.role`), quantities(c.guarantees, `${where}.guarantees`), quantities(c.limits, `${where}.limits`));
        });
        return await write(o, req, res, msgs);
      }
      default:
        return json(res, 400, { error: `unsupported call type '${type}'` });
    }
  } catch (e) {
    if (e instanceof BadCall) return json(res, 400, { error: e.message });
    throw e;
  }
}

/** Answers one of the older endpoints ({@link isOperatorPath}). */
export async function operatorPath(o: OperatorEndpoints, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const method = req.method ?? 'GET';
  const base = path.startsWith('/master/') ? path.slice('/master'.length) : path;
  const allowed = base === '/teardown' ? ['POST'] : base === '/weights' ? ['GET', 'HEAD', 'PUT'] : base === '/quota' ? ['GET', 'HEAD', 'POST'] : ['DELETE'];
  if (!allowed.includes(method)) return json(res, 405, { error: `${method} is not supported on ${path} (use ${allowed.join(', ')})` });
  const ctx = leaderContext(o, req, res);
  if (!ctx) return;
  const view = o.viewOf(req);
  try {
    if (base === '/weights' && method !== 'PUT') {
      return json(res, 200, [...ctx.state.registry.weights].filter(([r]) => view.role(r)).map(([r, weight]) => ({ role: r, weight })));
    }
    if (base === '/quota' && method !== 'POST') return json(res, 200, quotaStatus(ctx.state.registry.quotas, view));
    if (base.startsWith('/quota/')) {
      let named: string;
      try {
        named = decodeURIComponent(base.slice('/quota/'.length));
      } catch {
        throw new BadCall('the role in the path is not valid percent-encoding');
      }
      const r = role(named, 'the role in the path');
      return await write(o, req, res, [{ type: 'UpdateQuota', body: { role: r } }]);
    }
    const body = await readBody(req);
    if (body === undefined) return json(res, 413, { error: 'request too large' });
    if (base === '/teardown') {
      const frameworkId = new URLSearchParams(body).get('frameworkId');
      if (!frameworkId) throw new BadCall("the body must be a form naming the framework: 'frameworkId=<id>'");
      return await write(o, req, res, [{ type: 'TeardownFramework', body: { frameworkId } }]);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      throw new BadCall('the body is not JSON');
    }
    if (base === '/weights') return await write(o, req, res, [weightsMessage(parsed, 'the body')]);
    const q = parsed as { role?: unknown; guarantee?: unknown; force?: unknown };
    const guarantees = scalarResources(q?.guarantee, 'guarantee');
    if (!guarantees) throw new BadCall("a quota request names a role and a non-empty 'guarantee' (to remove one, DELETE /master/quota/<role>)");
    return await write(o, req, res, [quotaMessage(role(q.role, 'role'), guarantees, undefined)]);
  } catch (e) {
    if (e instanceof BadCall) return json(res, 400, { error: e.message });
    throw e;
  }
}
