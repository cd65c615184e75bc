/**
 * The agent's HTTP endpoints, in Mesos' paths and JSON shapes:
 *
 * - state: `/slave(1)/state` (also `/state`, `/state.json`, `/slave(1)/state.json`), `/flags`
 *   (`/slave(1)/flags`), `/health` (`/slave(1)/health`), `/version`;
 * - sandboxes: `/files/browse?path=`, `/files/read?path=&offset=&length=`,
 *   `/files/download?path=`, for paths under the work dir only (`sandbox-files.ts`);
 * - usage: `/monitor/statistics` (`/slave(1)/monitor/statistics`), `/metrics/snapshot`;
 * - `POST /api/v1` (JSON; also `/slave(1)/api/v1`): `GET_HEALTH`, `GET_VERSION`, `GET_FLAGS`,
 *   `GET_METRICS`, `GET_STATE`, `GET_CONTAINERS`, `LIST_FILES`, `READ_FILE`.
 *
 * With an authenticator (`http-auth.ts`) requests may need HTTP Basic credentials, as on the
 * master; the state shows each reader the frameworks, executors and tasks its `view_*` ACLs let
 * it see (`view-filter.ts`), and the flags only with `view_flags`. HTTPS given a certificate and key.
 *
 * @see Mesos `docs/endpoints/slave/*.md`, `docs/endpoints/files/*.md`, `docs/operator-http-api.md`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename } from 'node:path';
import type { AgentContext } from '../../actors/agent/agent.machine.ts';
import type { ResourceStatistics } from '../../protocols/records.ts';
import type { AgentHandle } from '../agent.ts';
import type { Logger } from '../log.ts';
import type { LeaderDetector, LeaderInfo } from '../types.ts';
import { agentMetrics, agentStateJson, monitorJson, v1Containers, v1State } from './agent-state.ts';
import { SandboxFiles, wholeUtf8, type FileInfo, type Refusal } from './sandbox-files.ts';
import { readBody, sendJson as json, serveHttp, type HttpServer, type HttpTlsFiles } from './server.ts';
import { callAccess, HttpAuthenticator, pathAccess, requestPrincipal } from './http-auth.ts';
import { VISIBLE_ALL, type ViewFilter } from './view-filter.ts';
import { serveInspect } from './inspect-http.ts';
import type { InspectionHub } from '../inspection.ts';

/** What the endpoints read from the running agent. */
export interface AgentView {
  /** The agent machine's context, or `undefined` before the agent has started. */
  context(): AgentContext | undefined;
  /** What a container uses now (the containerizer's sample), when it can be measured. */
  usage(containerId: string): ResourceStatistics | undefined;
  /** The runtime's counters (the bus, the executors' channel, checkpoints). */
  counters(): Record<string, number>;
  /** The leading master, when one is known. */
  leader(): LeaderInfo | undefined;
}

/**
 * The view of the agent `handle()` returns once started (the server starts first: its address
 * goes into the agent's info), with the leader as `detector` reports it.
 */
export function agentView(handle: () => AgentHandle | undefined, leader: () => LeaderInfo | undefined): AgentView {
  return {
    context: () => handle()?.host.actor.getSnapshot().context,
    usage: (id) => handle()?.containerizer.usage?.(id),
    counters: () => handle()?.host.metrics.snapshot() ?? {},
    leader,
  };
}

/**
 * `detector`, remembering the leader it last reported (for `master_hostname`): pass the result
 * to the agent, and its `leader` to {@link agentView}.
 */
export function rememberingLeader(detector: LeaderDetector): { detector: LeaderDetector; leader: () => LeaderInfo | undefined } {
  let leader: LeaderInfo | undefined;
  return {
    detector: {
      start: (onChange) => detector.start((l) => {
        leader = l;
        onChange(l);
      }),
      stop: () => detector.stop(),
    },
    leader: () => leader,
  };
}

/** How to serve. */
export interface AgentHttpOptions {
  ip: string;
  /** 0 for a free port. */
  port: number;
  logger: Logger;
  /** The agent's work dir: the only files served are under it. */
  workDir: string;
  view: AgentView;
  version: string;
  /** The agent's flags, Mesos style (all values as text). */
  flags: Record<string, string>;
  /** Who must authenticate (default: nobody). */
  auth?: HttpAuthenticator;
  /** What each principal (`undefined`: an unauthenticated reader) may see (default: everything). */
  views?: (principal: string | undefined) => ViewFilter;
  /** Serve HTTPS with this certificate and key. */
  tls?: HttpTlsFiles;
  /** This process's machines, for the statechart view (`/inspect/…`, `inspect-http.ts`). */
  inspection?: InspectionHub;
}

/** Paths of the state document. */
const STATE_PATHS = new Set(['/slave(1)/state', '/slave(1)/state.json', '/state', '/state.json']);

/** A file listing as `/files/browse` answers it. */
const browseJson = (files: FileInfo[]) => files.map(({ modeBits: _bits, ...f }) => f);

/** A file listing as the v1 API's `LIST_FILES` answers it. */
const v1FileInfos = (files: FileInfo[]) => files.map((f) => ({
  path: f.path, nlink: f.nlink, size: f.size, mtime: { nanoseconds: f.mtime * 1e9 }, mode: f.modeBits, uid: f.uid, gid: f.gid,
}));

/** A number from the query (`undefined` when absent), or `NaN` when it is not one. */
function queryNumber(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  return v === null || v === '' ? undefined : Number(v);
}

/** Starts the server; resolves once it listens. Rejects (with the reason) when it cannot. */
export async function startAgentHttp(opts: AgentHttpOptions): Promise<HttpServer> {
  const startTime = Date.now();
  const files = new SandboxFiles(opts.workDir);
  const refuse = (res: ServerResponse, r: Refusal) => json(res, r.status, { error: r.error });
  const auth = opts.auth ?? HttpAuthenticator.none(opts.logger);
  const viewOf = (req: IncomingMessage): ViewFilter => opts.views?.(requestPrincipal(req)) ?? VISIBLE_ALL;
  const forbidden = (res: ServerResponse, what: string) => json(res, 403, { error: `not permitted to view ${what}` });

  /** The agent has not started yet: nothing to show. */
  const starting = (res: ServerResponse) => json(res, 503, { error: 'the agent is starting' });

  const api = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    if (body === undefined) return json(res, 413, { error: 'request too large' });
    let call: { type?: string; read_file?: { path?: string; offset?: number; length?: number }; list_files?: { path?: string } };
    try {
      call = JSON.parse(body) as typeof call;
    } catch {
      return json(res, 400, { error: 'the body is not JSON' });
    }
    if (!auth.admit(req, res, callAccess(call.type))) return;
    const ctx = opts.view.context();
    switch (call.type) {
      case 'GET_HEALTH':
        return json(res, 200, { type: 'GET_HEALTH', get_health: { healthy: true } });
      case 'GET_VERSION':
        return json(res, 200, { type: 'GET_VERSION', get_version: { version_info: { version: opts.version } } });
      case 'GET_FLAGS':
        if (!viewOf(req).flags()) return forbidden(res, 'the flags');
        return json(res, 200, { type: 'GET_FLAGS', get_flags: { flags: Object.entries(opts.flags).map(([name, value]) => ({ name, value })) } });
      case 'GET_METRICS': {
        if (!ctx) return starting(res);
        const metrics = agentMetrics(ctx, opts.view.counters(), startTime, Date.now());
        return json(res, 200, { type: 'GET_METRICS', get_metrics: { metrics: Object.entries(metrics).map(([name, value]) => ({ name, value })) } });
      }
      case 'GET_STATE':
        if (!ctx) return starting(res);
        return json(res, 200, { type: 'GET_STATE', get_state: v1State(ctx.state, viewOf(req)) });
      case 'GET_CONTAINERS':
        if (!ctx) return starting(res);
        return json(res, 200, { type: 'GET_CONTAINERS', get_containers: v1Containers(ctx.state, (id) => opts.view.usage(id), viewOf(req)) });
      case 'LIST_FILES': {
        const listed = await files.browse(call.list_files?.path);
        if ('status' in listed) return refuse(res, listed);
        return json(res, 200, { type: 'LIST_FILES', list_files: { file_infos: v1FileInfos(listed) } });
      }
      case 'READ_FILE': {
        const r = call.read_file;
        const read = await files.read(r?.path, r?.offset ?? 0, r?.length ?? -1);
        if ('status' in read) return refuse(res, read);
        return json(res, 200, { type: 'READ_FILE', read_file: { size: read.size, data: read.data.toString('base64') } });
      }
      default:
        return json(res, 400, { error: `unsupported call type '${String(call.type)}'` });
    }
  };

  const download = async (res: ServerResponse, path: string | null) => {
    const f = await files.open(path);
    if ('status' in f) return refuse(res, f);
    res.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-disposition': `attachment; filename="${basename(f.path).replace(/["\\\r\n]/g, '_')}"`,
      'content-length': String(f.size),
    });
    // Exactly the bytes there were when it was opened: a file still growing (a task's `stdout`)
    // must not outrun its `content-length`.
    const stream = f.fh.createReadStream({ start: 0, end: Math.max(0, f.size - 1), autoClose: true });
    if (f.size === 0) {
      stream.destroy();
      return res.end();
    }
    await new Promise<void>((resolve, reject) => {
      stream.on('error', reject);
      res.on('close', () => {
        stream.destroy();
        resolve();
      });
      stream.pipe(res);
    });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let path;
    try {
      path = decodeURIComponent(url.pathname).replace(/\/+$/, '') || '/';
    } catch {
      return json(res, 400, { error: 'the path is not valid percent-encoding' });
    }
    if (path === '/api/v1' || path === '/slave(1)/api/v1') {
      if (req.method !== 'POST') return json(res, 405, { error: 'POST a JSON call' });
      return api(req, res);
    }
    if (!auth.admit(req, res, pathAccess(req.method, path))) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: `${String(req.method)} is not supported on ${path}` });
    const view = viewOf(req);
    switch (path) {
      case '/health':
      case '/slave(1)/health':
        res.writeHead(200);
        return res.end();
      case '/version':
        return json(res, 200, { version: opts.version });
      case '/flags':
      case '/slave(1)/flags':
        if (!view.flags()) return forbidden(res, 'the flags');
        return json(res, 200, { flags: opts.flags });
      case '/files/browse':
      case '/files/browse.json': {
        const listed = await files.browse(url.searchParams.get('path'));
        return 'status' in listed ? refuse(res, listed) : json(res, 200, browseJson(listed));
      }
      case '/files/read':
      case '/files/read.json': {
        const read = await files.read(url.searchParams.get('path'), queryNumber(url, 'offset'), queryNumber(url, 'length'));
        if ('status' in read) return refuse(res, read);
        // Text for the JSON string: a character cut at the end is left for the next read.
        return json(res, 200, { data: wholeUtf8(read.data).toString('utf8'), offset: read.offset });
      }
      case '/files/download':
      case '/files/download.json':
        return download(res, url.searchParams.get('path'));
    }
    const ctx = opts.view.context();
    if (STATE_PATHS.has(path)) {
      if (!ctx) return starting(res);
      const leader = opts.view.leader();
      return json(res, 200, agentStateJson(ctx, { version: opts.version, startTime, flags: opts.flags, ...(leader ? { leader } : {}) }, view));
    }
    if (path === '/monitor/statistics' || path === '/monitor/statistics.json' || path === '/slave(1)/monitor/statistics') {
      if (!ctx) return starting(res);
      return json(res, 200, monitorJson(ctx.state, (id) => opts.view.usage(id)));
    }
    if (path === '/metrics/snapshot') {
      if (!ctx) return starting(res);
      return json(res, 200, agentMetrics(ctx, opts.view.counters(), startTime, Date.now()));
    }
    // The machines' events name senders (schedulers, operators): only an unrestricted reader sees them.
    if ((path === '/inspect' || path.startsWith('/inspect/')) && !viewOf(req).unrestricted) return forbidden(res, 'the machines');
    if (await serveInspect(req, res, path, opts.inspection)) return;
    return json(res, 404, { error: `no endpoint ${path}` });
  };

  return serveHttp(opts.ip, opts.port, opts.logger, handle, opts.tls);
}
