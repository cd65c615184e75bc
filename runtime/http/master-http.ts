/**
 * The master's HTTP endpoints, in Mesos' paths and JSON shapes, so that tooling written for Mesos
 * works against it:
 *
 * - state: `/master/state` (also `/state`, `/state.json`, `/master/state.json`),
 *   `/master/state-summary`, `/master/frameworks`, `/master/slaves`, `/master/tasks` (`limit`,
 *   `offset`, `order`), `/master/roles`, `/master/flags`;
 * - `/master/health`, `/master/redirect`, `/version`;
 * - metrics: `/metrics/snapshot` (JSON, Mesos' names) and `/metrics` (Prometheus text);
 * - `POST /api/v1` (JSON) for `GET_HEALTH`, `GET_VERSION`, `GET_FLAGS`, `GET_METRICS`, `GET_STATE`,
 *   and `SUBSCRIBE`: a RecordIO stream of `SUBSCRIBED` (the whole state), then every operator event
 *   as the master announces it, and a `HEARTBEAT` every {@link HEARTBEAT_SECONDS}.
 *
 * A standby answers `/master/health` and `/master/redirect` itself and sends every state request
 * to the leader (307, `Location` the leader's address as it advertised it in the lease), or
 * answers 503 while no master leads. State documents are written in slices so the master's event
 * loop is never held for long (`master-state.ts`).
 *
 * With an authenticator (`http-auth.ts`) requests may need HTTP Basic credentials; each reader
 * sees what the `view_*` ACLs let its principal see (`view-filter.ts`): an unrestricted reader's
 * documents are shared, a restricted one's are written for its principal. Served over HTTPS when
 * given a certificate and key.
 *
 * @see Mesos `docs/endpoints/master/*.md`, `docs/operator-http-api.md`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MasterContext } from '../../actors/master/master.machine.ts';
import type { Logger } from '../log.ts';
import type { LeaderInfo } from '../types.ts';
import { readBody, sendJson as json, serveHttp, type HttpServer, type HttpTlsFiles } from './server.ts';
import { recordIO, type OperatorEventHub } from './operator-events.ts';
import { callAccess, HttpAuthenticator, pathAccess, requestPrincipal } from './http-auth.ts';
import { eventVisible, VISIBLE_ALL, type ViewFilter } from './view-filter.ts';
import { CACHE_MS, rolesJson, Slicer, v1State, writeAgents, writeFrameworks, writeState, writeSummary, writeTasks, type MasterMeta } from './master-state.ts';

/** What the endpoints read from the running master. */
export interface MasterView {
  /** The master machine's context (its state), or `undefined` before it has started. */
  context(): MasterContext | undefined;
  /** Whether this master leads now. */
  leading(): boolean;
  /** The leader as the lease names it (any master's view), `undefined` when none. */
  leader(): LeaderInfo | undefined;
  /** The master's metrics (as `GetMetrics` answers). */
  metrics(): Record<string, number>;
  /** A role's weight. */
  weightOf(role: string): number;
}

/** Seconds between two `HEARTBEAT`s on a `SUBSCRIBE` stream (Mesos' default). */
export const HEARTBEAT_SECONDS = 15;

/** How to serve. */
export interface MasterHttpOptions {
  ip: string;
  /** 0 for a free port. */
  port: number;
  logger: Logger;
  view: MasterView;
  cluster: string;
  version: string;
  /** The master's flags, Mesos style (all values as text). */
  flags: Record<string, string>;
  /** The master's operator events, for `SUBSCRIBE`. */
  events: OperatorEventHub;
  /** Who must authenticate (default: nobody). */
  auth?: HttpAuthenticator;
  /** What each principal (`undefined`: an unauthenticated reader) may see (default: everything). */
  views?: (principal: string | undefined) => ViewFilter;
  /** Serve HTTPS with this certificate and key. */
  tls?: HttpTlsFiles;
}

/** A listening server. */
export type MasterHttp = HttpServer;

type Writer = (ctx: MasterContext, meta: MasterMeta, view: ViewFilter) => Promise<string[]>;

/** Paths that show the leader's state: a standby redirects them. */
const STATE_PATHS: Record<string, Writer> = {
  '/master/state': writeState,
  '/master/state.json': writeState,
  '/state': writeState,
  '/state.json': writeState,
  '/master/state-summary': writeSummary,
  '/state-summary': writeSummary,
  '/master/frameworks': writeFrameworks,
  '/frameworks': writeFrameworks,
  '/master/slaves': writeAgents,
  '/slaves': writeAgents,
};

/** Prometheus' name for a metric: `mesos_` and the name with anything but `[a-zA-Z0-9_]` as `_`. */
export function prometheusName(name: string): string {
  return `mesos_${name.replace(/[^a-zA-Z0-9_]/g, '_')}`;
}

/** Metrics in Prometheus' text exposition format (each one a gauge: a snapshot's value). */
export function prometheusText(metrics: Record<string, number>): string {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(metrics).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!Number.isFinite(v)) continue;
    const n = prometheusName(k);
    lines.push(`# HELP ${n} Mesos metric ${k}`, `# TYPE ${n} gauge`, `${n} ${v}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Bytes per piece a document is sent in. */
const CHUNK_BYTES = 64 * 1024;

/**
 * A written document (many small texts) as pieces of about {@link CHUNK_BYTES}, encoded once for
 * every request it answers; slice by slice like the walk.
 */
async function chunked(parts: readonly string[], slicer = new Slicer()): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let group: string[] = [];
  let size = 0;
  for (const p of parts) {
    group.push(p);
    size += p.length;
    if (size >= CHUNK_BYTES) {
      out.push(Buffer.from(group.join('')));
      group = [];
      size = 0;
      await slicer.tick();
    }
  }
  if (group.length > 0) out.push(Buffer.from(group.join('')));
  return out;
}

/**
 * Sends `chunks` one at a time: after each, the socket's buffer is let drain when full, and the
 * event loop is given back when the slice has run its time. Many readers of one large document
 * then take turns instead of each holding the loop for the whole of it.
 */
async function sendChunks(res: ServerResponse, chunks: readonly Buffer[], slicer = new Slicer()): Promise<void> {
  for (const c of chunks) {
    if (res.destroyed) return;
    if (!res.write(c)) await new Promise<void>((resolve) => {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
    await slicer.tick();
  }
  res.end();
}

/** Starts the server; resolves once it listens. Rejects (with the reason) when it cannot. */
export async function startMasterHttp(opts: MasterHttpOptions): Promise<MasterHttp> {
  const startTime = Date.now();
  /**
   * Finished or in-progress documents, by path (and, for a restricted reader, its principal): one
   * walk answers every request within {@link CACHE_MS}.
   */
  const written = new Map<string, { at: number; body: Promise<Buffer[]> }>();
  const auth = opts.auth ?? HttpAuthenticator.none(opts.logger);
  const viewOf = (req: IncomingMessage): ViewFilter => opts.views?.(requestPrincipal(req)) ?? VISIBLE_ALL;
  const metrics = () => ({ ...opts.view.metrics(), 'master/http_authentication_refusals': auth.refusals });
  const forbidden = (res: ServerResponse, what: string) => json(res, 403, { error: `not permitted to view ${what}` });

  const meta = (): MasterMeta => {
    const ctx = opts.view.context();
    const leader = opts.view.leader();
    return {
      version: opts.version,
      cluster: opts.cluster,
      startTime,
      electedTime: ctx?.state.electedAt ?? 0,
      ...(leader ? { leader: { pid: leader.pid, hostname: leader.hostname, ...(leader.http ? { http: leader.http } : {}) } } : {}),
      flags: opts.flags,
    };
  };

  /** A standby's answer to a request only the leader can serve: 307 to it, or 503. */
  const redirect = (req: IncomingMessage, res: ServerResponse) => {
    const leader = opts.view.leader();
    if (!leader?.http) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('No leading master with an HTTP address is known\n');
      return;
    }
    res.writeHead(307, { location: `//${leader.http}${req.url ?? '/'}` });
    res.end();
  };

  /**
   * The document at `path`: the one being written, or one written less than {@link CACHE_MS}
   * ago (counted from when it was done: a walk longer than that is not started again at once).
   */
  const cached = (path: string, write: Writer, ctx: MasterContext, view: ViewFilter, principal: string | undefined): Promise<Buffer[]> => {
    const key = view.unrestricted ? path : `${path}\0${principal ?? ''}`;
    const hit = written.get(key);
    if (hit && (hit.at === 0 || Date.now() - hit.at < CACHE_MS)) return hit.body;
    const entry = { at: 0, body: write(ctx, meta(), view).then((parts) => chunked(parts)) };
    written.set(key, entry);
    entry.body.then(() => (entry.at = Date.now()), () => written.delete(key));
    return entry.body;
  };

  /**
   * `SUBSCRIBE`: events announced while the state is being walked wait, and follow `SUBSCRIBED`
   * (an event the walk already saw is said twice; each says what is true, so saying it again is
   * harmless). The stream ends when the client goes. A restricted reader is not told of the
   * frameworks and tasks it may not see.
   */
  const subscribe = async (req: IncomingMessage, res: ServerResponse) => {
    const ctx = opts.view.context();
    if (!ctx || !opts.view.leading()) return redirect(req, res);
    const view = viewOf(req);
    const frameworkOf = (id: string) => {
      const now = opts.view.context()?.state;
      return now?.frameworks.get(id)?.info ?? now?.completedFrameworks.find((f) => f.id === id)?.info;
    };
    let waiting: string[] | undefined = [];
    const stop = opts.events.subscribe((record, event) => {
      if (!eventVisible(event, view, frameworkOf)) return;
      if (waiting) waiting.push(record);
      else res.write(record);
    });
    const heartbeat = setInterval(() => res.write(recordIO({ type: 'HEARTBEAT' })), HEARTBEAT_SECONDS * 1000);
    heartbeat.unref();
    const end = () => {
      clearInterval(heartbeat);
      stop();
    };
    res.on('close', end);
    try {
      const state = await v1State(ctx, view);
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
      res.write(recordIO({ type: 'SUBSCRIBED', subscribed: { get_state: state, heartbeat_interval_seconds: HEARTBEAT_SECONDS } }));
      for (const r of waiting) res.write(r);
      waiting = undefined;
    } catch (e) {
      end();
      throw e;
    }
  };

  const api = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    if (body === undefined) return json(res, 413, { error: 'request too large' });
    let call: { type?: string };
    try {
      call = JSON.parse(body) as { type?: string };
    } catch {
      return json(res, 400, { error: 'the body is not JSON' });
    }
    if (!auth.admit(req, res, callAccess(call.type))) return;
    switch (call.type) {
      case 'GET_HEALTH':
        return json(res, 200, { type: 'GET_HEALTH', get_health: { healthy: true } });
      case 'GET_VERSION':
        return json(res, 200, { type: 'GET_VERSION', get_version: { version_info: { version: opts.version } } });
      case 'GET_FLAGS':
        if (!viewOf(req).flags()) return forbidden(res, 'the flags');
        return json(res, 200, { type: 'GET_FLAGS', get_flags: { flags: Object.entries(opts.flags).map(([name, value]) => ({ name, value })) } });
      case 'GET_METRICS':
        return json(res, 200, { type: 'GET_METRICS', get_metrics: { metrics: Object.entries(metrics()).map(([name, value]) => ({ name, value })) } });
      case 'GET_STATE': {
        const ctx = opts.view.context();
        if (!ctx || !opts.view.leading()) return redirect(req, res);
        return json(res, 200, { type: 'GET_STATE', get_state: await v1State(ctx, viewOf(req)) });
      }
      case 'SUBSCRIBE':
        return subscribe(req, res);
      default:
        return json(res, 400, { error: `unsupported call type '${String(call.type)}'` });
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (path === '/api/v1') {
      if (req.method !== 'POST') return json(res, 405, { error: 'POST a JSON call' });
      return api(req, res);
    }
    if (!auth.admit(req, res, pathAccess(req.method, path))) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: `${String(req.method)} is not supported on ${path}` });
    const view = viewOf(req);
    switch (path) {
      case '/master/health':
      case '/health':
        res.writeHead(200);
        return res.end();
      case '/version':
        return json(res, 200, { version: opts.version });
      case '/master/flags':
      case '/flags':
        if (!view.flags()) return forbidden(res, 'the flags');
        return json(res, 200, { flags: opts.flags });
      case '/master/redirect':
      case '/redirect':
        return redirect(req, res);
      case '/metrics/snapshot':
        return json(res, 200, metrics());
      case '/metrics':
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        return res.end(prometheusText(metrics()));
    }
    const ctx = opts.view.context();
    const known = STATE_PATHS[path] !== undefined || path === '/master/tasks' || path === '/tasks' || path === '/master/roles' || path === '/roles';
    if (!known) return json(res, 404, { error: `no endpoint ${path}` });
    if (!ctx || !opts.view.leading()) return redirect(req, res);
    if (path === '/master/roles' || path === '/roles') return json(res, 200, rolesJson(ctx, (r) => opts.view.weightOf(r), view));
    if (path === '/master/tasks' || path === '/tasks') {
      const limit = Number(url.searchParams.get('limit') ?? 100);
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const order = url.searchParams.get('order') ?? 'des';
      if (!(Number.isInteger(limit) && limit >= 0) || !(Number.isInteger(offset) && offset >= 0) || (order !== 'asc' && order !== 'des')) {
        return json(res, 400, { error: "limit and offset must be whole numbers; order 'asc' or 'des'" });
      }
      const parts = await writeTasks(ctx, { limit, offset, order }, view);
      return json(res, 200, parts.join(''));
    }
    const body = await cached(path === '/state' || path === '/state.json' || path === '/master/state.json' ? '/master/state' : path, STATE_PATHS[path]!, ctx, view, requestPrincipal(req));
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.reduce((n, b) => n + b.byteLength, 0) });
    await sendChunks(res, body);
  };

  return serveHttp(opts.ip, opts.port, opts.logger, handle, opts.tls);
}
