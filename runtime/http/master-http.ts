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
 * answers 503 while no master leads. State documents are written in a worker thread from a copy
 * of the master's tables (`state-worker.ts`) and come back in shared memory; the master's thread
 * only sends them, a slice of its loop at a time.
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
import { readBody, sendChunks, sendJson as json, serveHttp, type HttpServer, type HttpTlsFiles } from './server.ts';
import { recordIO, type OperatorEventHub } from './operator-events.ts';
import { serveWebui } from './webui.ts';
import { serveInspect } from './inspect-http.ts';
import type { InspectionHub } from '../inspection.ts';
import { callAccess, HttpAuthenticator, pathAccess, requestPrincipal } from './http-auth.ts';
import { isOperatorPath, OPERATOR_CALLS, operatorCall, operatorPath, type OperatorEndpoints } from './master-operator.ts';
import type { Message } from '../../protocols/messages.ts';
import type { OperatorAnswer } from '../master.ts';
import { eventVisible, VISIBLE_ALL, type ViewFilter } from './view-filter.ts';
import { CACHE_MS, type MasterMeta } from './master-state.ts';
import { StateDocuments, withDocument, type DocumentRequest, type SharedDocument, type StateDocument } from './state-worker.ts';
import type { Acls } from '../../actors/master/acls.ts';

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
  /** Hands an operator call to this process's master as `principal` and waits for its answer (`master-operator.ts`). */
  operatorCall?(msg: Message, principal: string | undefined): Promise<OperatorAnswer>;
}

/** Seconds between two `HEARTBEAT`s on a `SUBSCRIBE` stream (Mesos' default). */
export const HEARTBEAT_SECONDS = 15;
/** How often a `SUBSCRIBE` stream checks that its master still leads, ms. */
const LEADERSHIP_CHECK_MS = 1000;

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
  /** This process's machines, for the statechart view (`/inspect/…`, `inspect-http.ts`). */
  inspection?: InspectionHub;
  /** Who must authenticate (default: nobody). */
  auth?: HttpAuthenticator;
  /** What each principal (`undefined`: an unauthenticated reader) may see (default: everything). */
  views?: (principal: string | undefined) => ViewFilter;
  /** Serve HTTPS with this certificate and key. */
  tls?: HttpTlsFiles;
  /** The master's ACLs: the state documents are written for a restricted reader by them. */
  acls?: Acls;
}

/** A listening server. */
export type MasterHttp = HttpServer;

/** Paths that show the leader's state (a standby redirects them), and the document each serves. */
const STATE_PATHS: Record<string, StateDocument> = {
  '/master/state': 'state',
  '/master/state.json': 'state',
  '/state': 'state',
  '/state.json': 'state',
  '/master/state-summary': 'summary',
  '/state-summary': 'summary',
  '/master/frameworks': 'frameworks',
  '/frameworks': 'frameworks',
  '/master/slaves': 'slaves',
  '/slaves': 'slaves',
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

/** Starts the server; resolves once it listens. Rejects (with the reason) when it cannot. */
export async function startMasterHttp(opts: MasterHttpOptions): Promise<MasterHttp> {
  const startTime = Date.now();
  /**
   * Finished or in-progress documents, by path (and, for a restricted reader, its principal): one
   * walk answers every request within {@link CACHE_MS}.
   */
  const written = new Map<StateDocument, { at: number; body: Promise<SharedDocument> }>();
  const documents = new StateDocuments({ logger: opts.logger, ...(opts.acls ? { acls: opts.acls } : {}) });
  opts.events.observe((e) => documents.note(e));
  /** Writes a document of `ctx` for the reader of `req` (off this thread). */
  const write = (ctx: MasterContext, req: IncomingMessage, doc: StateDocument, extra: Partial<DocumentRequest> = {}): Promise<SharedDocument> => {
    const restricted = !viewOf(req).unrestricted;
    // Fail closed: without the ACLs the worker could only write what an unrestricted reader sees.
    if (restricted && !opts.acls) throw new Error('a restricted reader\'s documents need the ACLs (the acls option)');
    return documents.write(ctx, { doc, meta: meta(), ...(restricted ? { restrictedTo: { principal: requestPrincipal(req) } } : {}), ...extra });
  };
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
  /** What the operator's reads and writes use (`master-operator.ts`). */
  const operatorEndpoints: OperatorEndpoints = {
    context: () => opts.view.context(),
    leading: () => opts.view.leading(),
    meta,
    weightOf: (role) => opts.view.weightOf(role),
    viewOf: (req) => viewOf(req),
    redirect,
    document: (ctx, req, doc) => write(ctx, req, doc),
    ...(opts.view.operatorCall ? { call: (msg, principal) => opts.view.operatorCall!(msg, principal) } : {}),
  };


  /**
   * Document `doc` (whichever of its paths was asked): the one being written, or one written less
   * than {@link CACHE_MS} ago (counted from when it was done: a walk longer than that is not
   * started again at once). The cache holds it until it is replaced; the caller holds it too, and
   * lets go when sent. A restricted reader's document is written for it each time and not kept:
   * one kept per principal would hold its memory for as long as the master runs.
   */
  const cached = (doc: StateDocument, ctx: MasterContext, req: IncomingMessage): Promise<SharedDocument> => {
    if (!viewOf(req).unrestricted) return write(ctx, req, doc);
    const hit = written.get(doc);
    if (hit && (hit.at === 0 || Date.now() - hit.at < CACHE_MS)) return hit.body.then((d) => d.hold());
    hit?.body.then((d) => d.release(), () => {});
    const entry = { at: 0, body: write(ctx, req, doc) };
    written.set(doc, entry);
    entry.body.then(() => (entry.at = Date.now()), () => written.delete(doc));
    return entry.body.then((d) => d.hold());
  };

  /**
   * `SUBSCRIBE`: events announced while the state is being walked wait, and follow `SUBSCRIBED`
   * (an event the walk already saw is said twice; each says what is true, so saying it again is
   * harmless). The stream ends when the client goes, or when this master no longer leads. A
   * restricted reader is not told of the frameworks and tasks it may not see.
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
    /** Writes to the stream while it is open (it may end, or be ended, at any time). */
    const put = (text: string) => {
      if (!res.writableEnded && !res.destroyed) res.write(text);
    };
    const stop = opts.events.subscribe((record, event) => {
      if (!eventVisible(event, view, frameworkOf)) return;
      if (waiting) waiting.push(record);
      else put(record);
    });
    let heartbeat: NodeJS.Timeout | undefined;
    // A master that stops leading ends its streams (as Mesos' does): the subscriber goes to the
    // next leader instead of waiting on a master that no longer hears of any change.
    const leadership = setInterval(() => {
      if (!opts.view.leading()) finish();
    }, LEADERSHIP_CHECK_MS);
    leadership.unref();
    /** Stops everything that writes to the stream, then ends it. */
    function finish() {
      clearInterval(heartbeat);
      clearInterval(leadership);
      stop();
      if (!res.writableEnded && !res.destroyed) res.end();
    }
    res.on('close', finish);
    try {
      await withDocument(write(ctx, req, 'v1'), (state) => {
        if (res.writableEnded || res.destroyed) return;
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
        // The record is written around the document, which is never turned back into text here.
        const head = '{"type":"SUBSCRIBED","subscribed":{"get_state":';
        const tail = `,"heartbeat_interval_seconds":${HEARTBEAT_SECONDS}}}`;
        return sendChunks(res, state, { head: `${Buffer.byteLength(head) + state.byteLength + Buffer.byteLength(tail)}\n${head}`, tail, end: false });
      });
      for (const r of waiting) put(r);
      waiting = undefined;
      // Heartbeats only once SUBSCRIBED is out: none may land inside it.
      heartbeat = setInterval(() => put(recordIO({ type: 'HEARTBEAT' })), HEARTBEAT_SECONDS * 1000);
      heartbeat.unref();
    } catch (e) {
      finish();
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
    if (OPERATOR_CALLS.has(String(call.type))) return operatorCall(operatorEndpoints, req, res, call);
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
        return withDocument(write(ctx, req, 'v1'), (state) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          return sendChunks(res, state, { head: '{"type":"GET_STATE","get_state":', tail: '}' });
        });
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
    if (isOperatorPath(path)) return operatorPath(operatorEndpoints, req, res, path);
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
    // The machines' events name senders (schedulers, operators): only an unrestricted reader sees them.
    if ((path === '/inspect' || path.startsWith('/inspect/')) && !viewOf(req).unrestricted) return forbidden(res, 'the machines');
    if (await serveInspect(req, res, path, opts.inspection)) return;
    if (await serveWebui(req, res, path, opts.view)) return;
    const ctx = opts.view.context();
    const known = STATE_PATHS[path] !== undefined || path === '/master/tasks' || path === '/tasks' || path === '/master/roles' || path === '/roles';
    if (!known) return json(res, 404, { error: `no endpoint ${path}` });
    if (!ctx || !opts.view.leading()) return redirect(req, res);
    if (path === '/master/roles' || path === '/roles') {
      const weights: Record<string, number> = {};
      const { registry } = ctx.state;
      for (const role of [...[...ctx.state.frameworks.values()].map((fw) => fw.role), ...registry.weights.keys(), ...registry.quotas.keys()]) weights[role] ??= opts.view.weightOf(role);
      return json(res, 200, await withDocument(write(ctx, req, 'roles', { weights }), (roles) => roles.toString()));
    }
    if (path === '/master/tasks' || path === '/tasks') {
      const limit = Number(url.searchParams.get('limit') ?? 100);
      const offset = Number(url.searchParams.get('offset') ?? 0);
      const order = url.searchParams.get('order') ?? 'des';
      if (!(Number.isInteger(limit) && limit >= 0) || !(Number.isInteger(offset) && offset >= 0) || (order !== 'asc' && order !== 'des')) {
        return json(res, 400, { error: "limit and offset must be whole numbers; order 'asc' or 'des'" });
      }
      return withDocument(write(ctx, req, 'tasks', { tasks: { limit, offset, order } }), (tasks) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        return sendChunks(res, tasks);
      });
    }
    const doc = STATE_PATHS[path]!;
    await withDocument(cached(doc, ctx, req), (body) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.byteLength });
      return sendChunks(res, body);
    });
  };

  const server = await serveHttp(opts.ip, opts.port, opts.logger, handle, opts.tls);
  return {
    ...server,
    close: async () => {
      await server.close();
      await documents.close();
    },
  };
}
