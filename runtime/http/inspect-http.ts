/**
 * The local statechart view's endpoints, served by the master and the agent alike (a standby
 * master serves its own machines; nothing here is redirected):
 *
 * - `GET /inspect/machines`: every machine of the process (`InspectionHub.machines()`): id,
 *   definition, current value and active states, recent events;
 * - `GET /inspect/stream`: Server-Sent Events: `machines` (the whole list) first, then `machine`
 *   (one that appeared), `snapshot` (a change of state) and `event` (an event and the state it led
 *   to) as they happen, sent at most every {@link STREAM_FLUSH_MS}; a reader that falls behind
 *   gets a `skipped` count instead of the oldest events;
 * - `GET /inspect`: a page drawing them (`webui/statechart.ts`), and `GET /inspect/statechart.js`,
 *   that module bundled for the browser (built once, on first request).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { HubChange, InspectionHub } from '../inspection.ts';
import { sendJson as json } from './server.ts';

/** How often a stream sends what happened since its last send, ms. */
export const STREAM_FLUSH_MS = 100;
/** Events one send carries at most per reader: the oldest beyond it are counted as skipped. */
export const STREAM_MAX_EVENTS = 200;
/** Idle streams get a comment this often, ms, so that proxies keep them open. */
const STREAM_KEEPALIVE_MS = 15_000;
/** Streams served at once, at most. */
const MAX_STREAMS = 32;

/** The browser module the page loads. */
const STATECHART_SOURCE = fileURLToPath(new URL('../../webui/statechart.ts', import.meta.url));

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Machines</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="margin:0;font-family:system-ui,sans-serif">
<div id="machines"></div>
<script type="module">
import { mountStatechart } from './inspect/statechart.js';
mountStatechart(document.getElementById('machines'), '');
</script></body></html>
`;

let bundle: Promise<string> | undefined;

/** `webui/statechart.ts` bundled as one ES module (esbuild), built once. */
function statechartBundle(): Promise<string> {
  bundle ??= (async () => {
    const { build } = await import('esbuild');
    const out = await build({ entryPoints: [STATECHART_SOURCE], bundle: true, write: false, format: 'esm', target: 'es2020', minify: true, logLevel: 'silent' });
    return out.outputFiles[0]!.text;
  })();
  bundle.catch(() => {
    bundle = undefined;
  });
  return bundle;
}

let streams = 0;

/** Follows `hub` on `res` as Server-Sent Events until the reader goes. */
function stream(req: IncomingMessage, res: ServerResponse, hub: InspectionHub): void {
  if (streams >= MAX_STREAMS) return json(res, 503, { error: `already ${MAX_STREAMS} inspection streams` });
  streams++;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  const send = (type: string, data: unknown) => res.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  send('machines', hub.machines());
  let queued: HubChange[] = [];
  let events = 0;
  let skipped = 0;
  const unsubscribe = hub.subscribe((c) => {
    if (c.kind === 'event') {
      // Past the cap, the oldest queued event gives way: the reader sees the latest.
      if (events >= STREAM_MAX_EVENTS) {
        const i = queued.findIndex((q) => q.kind === 'event');
        queued.splice(i, 1);
        skipped++;
      } else events++;
    }
    queued.push(c);
  });
  const flush = setInterval(() => {
    if (queued.length === 0 && skipped === 0) return;
    if (skipped > 0) send('skipped', { events: skipped });
    for (const c of queued) {
      if (c.kind === 'machine') send('machine', c.machine);
      else if (c.kind === 'snapshot') send('snapshot', { key: c.key, status: c.status, value: c.value, active: c.active });
      else send('event', { key: c.key, ...c.event });
    }
    queued = [];
    events = 0;
    skipped = 0;
  }, STREAM_FLUSH_MS);
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), STREAM_KEEPALIVE_MS);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    streams--;
    unsubscribe();
    clearInterval(flush);
    clearInterval(keepalive);
  };
  req.on('close', close);
  res.on('close', close);
  res.on('error', close);
}

/**
 * Answers the `/inspect` paths (see the module comment) from `hub`; `false` for any other path,
 * which the caller then handles. `path` is the request's path without a trailing slash.
 */
export async function serveInspect(req: IncomingMessage, res: ServerResponse, path: string, hub: InspectionHub | undefined): Promise<boolean> {
  if (path !== '/inspect' && !path.startsWith('/inspect/')) return false;
  if (!hub) {
    json(res, 404, { error: 'this process keeps no inspection hub' });
    return true;
  }
  switch (path) {
    case '/inspect/machines':
      json(res, 200, hub.machines());
      return true;
    case '/inspect/stream':
      stream(req, res, hub);
      return true;
    case '/inspect':
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE);
      return true;
    case '/inspect/statechart.js': {
      if (!existsSync(STATECHART_SOURCE)) {
        json(res, 404, { error: 'the statechart view is not installed with this copy' });
        return true;
      }
      const js = await statechartBundle();
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache' });
      res.end(js);
      return true;
    }
    default:
      json(res, 404, { error: `no endpoint ${path}` });
      return true;
  }
}
