/**
 * Serves the web UI from the master: the page at `/`, its one script and one stylesheet under
 * `/webui/` (bundled from `webui/`, nothing fetched from elsewhere), `/webui/leader` (whether this
 * master leads, and who does: a standby sends the browser to the leader's UI), and
 * `/webui/agents/<agent id>/files/{browse,read}`, which forwards to the `/files/*` endpoints of a
 * registered agent at the address it registered with, so the browser needs no route of its own
 * to the agents and can reach nothing else through the master.
 *
 * The bundle is the one `scripts/build.mjs` wrote to `.build/webui/` when it is newer than every
 * source of the UI; otherwise it is built in memory on the first request (an installed package,
 * an edited checkout) and kept.
 *
 * @see Mesos `src/webui/` (the UI Mesos' master serves at `/`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { bundleWebui, newestSource, webuiDir } from '../../webui/bundle.mjs';
import type { MasterView } from './master-http.ts';
import { sendJson } from './server.ts';

/** What the UI asks of the master, beyond its usual endpoints. */
export type WebuiView = Pick<MasterView, 'leading' | 'leader' | 'context'>;

/** Where `scripts/build.mjs` writes the bundle. */
export const BUNDLE_DIR = join(webuiDir, '..', '.build', 'webui');

/** How long a forwarded request may take, ms. */
const AGENT_TIMEOUT_MS = 10_000;

let bundle: Promise<{ js: string; css: string }> | undefined;

/** The bundle: the built copy when it is current, else one built now (once per process). */
export function loadBundle(): Promise<{ js: string; css: string }> {
  bundle ??= (async () => {
    try {
      const built = Math.min((await stat(join(BUNDLE_DIR, 'app.js'))).mtimeMs, (await stat(join(BUNDLE_DIR, 'app.css'))).mtimeMs);
      if (built >= newestSource()) return { js: await readFile(join(BUNDLE_DIR, 'app.js'), 'utf8'), css: await readFile(join(BUNDLE_DIR, 'app.css'), 'utf8') };
    } catch {
      // Not built: build it below.
    }
    return bundleWebui();
  })();
  bundle.catch(() => (bundle = undefined));
  return bundle;
}

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mesos-ts</title>
<link rel="stylesheet" href="/webui/app.css">
</head>
<body>
<script src="/webui/app.js" defer></script>
</body>
</html>
`;

/** Answers `text` as `type`, never cached by the browser beyond a revalidation. */
function send(res: ServerResponse, type: string, text: string): void {
  res.writeHead(200, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-cache', 'content-length': Buffer.byteLength(text), 'x-content-type-options': 'nosniff' });
  res.end(text);
}

/** The agent endpoints the UI may reach through the master. */
const AGENT_PATHS = new Set(['browse', 'read']);

/** Forwards `GET /files/<what>?<query>` to the agent `agentId` registered as. */
async function forward(res: ServerResponse, view: WebuiView, agentId: string, what: string, query: string): Promise<void> {
  if (!AGENT_PATHS.has(what)) return sendJson(res, 404, { error: `no agent endpoint files/${what} through the master` });
  const ctx = view.context();
  if (!ctx || !view.leading()) return sendJson(res, 503, { error: 'this master does not lead: ask the leader' });
  const http = ctx.state.agents.get(agentId)?.info.http;
  if (!http) return sendJson(res, 404, { error: `no registered agent ${agentId} with an HTTP address` });
  let answer: Response;
  try {
    // Only to the host and port the agent registered with, never on to a redirect. The reader's
    // credentials are not passed on: an address is only what the agent claimed it to be.
    const url = new URL(`http://${http}/files/${what}${query}`);
    if (url.host !== http.toLowerCase()) return sendJson(res, 502, { error: `agent ${agentId} registered an address that is not host:port` });
    answer = await fetch(url, { signal: AbortSignal.timeout(AGENT_TIMEOUT_MS), redirect: 'error' });
  } catch (e) {
    return sendJson(res, 502, { error: `agent ${agentId} at ${http} did not answer: ${(e as Error).message}` });
  }
  const body = Buffer.from(await answer.arrayBuffer());
  res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json', 'content-length': body.byteLength, 'cache-control': 'no-store' });
  res.end(body);
}

/**
 * Answers the UI's paths (`path` without a trailing slash); `false` for any other path, which
 * the caller then answers itself.
 */
export async function serveWebui(req: IncomingMessage, res: ServerResponse, path: string, view: WebuiView): Promise<boolean> {
  if (path === '/' || path === '/webui' || path === '/webui/index.html') {
    send(res, 'text/html', PAGE);
    return true;
  }
  if (!path.startsWith('/webui/')) return false;
  if (path === '/webui/app.js') send(res, 'text/javascript', (await loadBundle()).js);
  else if (path === '/webui/app.css') send(res, 'text/css', (await loadBundle()).css);
  else if (path === '/webui/leader') {
    const leader = view.leader();
    sendJson(res, 200, { leading: view.leading(), ...(leader?.http ? { leader: leader.http } : {}) });
  } else {
    const m = /^\/webui\/agents\/([^/]+)\/files\/([a-z]+)$/.exec(path);
    if (!m) return false;
    const url = new URL(req.url ?? '/', 'http://x');
    let agentId: string;
    try {
      agentId = decodeURIComponent(m[1]!);
    } catch {
      sendJson(res, 400, { error: 'the agent id is not valid percent-encoding' });
      return true;
    }
    await forward(res, view, agentId, m[2]!, url.search);
  }
  return true;
}
