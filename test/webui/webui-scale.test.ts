/**
 * The web UI in headless Chromium against a large cluster: 10,000 agents and 100,000 tasks,
 * pushed by a small HTTP server that serves the UI through the master's own `serveWebui` and
 * answers `SUBSCRIBE` in the master's RecordIO shape. The tables keep only the rows in view in the
 * DOM, events after `SUBSCRIBED` show without a reload, and a stream that ends is subscribed again.
 */
import test from 'ava';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { recordIO } from '../../runtime/http/operator-events.ts';
import { serveWebui, type WebuiView } from '../../runtime/http/webui.ts';
import { launchChromium, screenshotDir } from '../helpers/browser.ts';

const AGENTS = 10_000;
const TASKS = 100_000;
const WAIT = 60_000;
/** The most rows a table may hold in the DOM: a 1080-px view of 28-px rows and 8 above and below. */
const MAX_ROWS = Math.ceil(1080 / 28) + 2 * 8 + 2;

const id = (value: string) => ({ value });
const scalar = (name: string, value: number) => ({ name, type: 'SCALAR', scalar: { value } });

function bigState() {
  const agents = Array.from({ length: AGENTS }, (_, i) => ({
    agent_info: { id: id(`agent-${i}`), hostname: `host-${i}`, resources: [scalar('cpus', 8), scalar('mem', 16384)], attributes: [{ name: 'rack', type: 'TEXT', text: { value: `r${i % 40}` } }] },
    active: true,
    deactivated: false,
    total_resources: [scalar('cpus', 8), scalar('mem', 16384)],
  }));
  const tasks = Array.from({ length: TASKS }, (_, i) => ({
    task_id: id(`task-${i}`), framework_id: id('fw-1'), agent_id: id(`agent-${i % AGENTS}`), name: `job-${i}`,
    state: i % 10 === 0 ? 'TASK_STAGING' : 'TASK_RUNNING', resources: [scalar('cpus', 0.1), scalar('mem', 32)], statuses: [],
  }));
  return {
    get_agents: { agents, recovered_agents: [] },
    get_frameworks: { frameworks: [{ framework_info: { id: id('fw-1'), name: 'big', user: 'u', roles: ['*'] }, active: true, connected: true }], completed_frameworks: [] },
    get_tasks: { tasks, unreachable_tasks: [], completed_tasks: [] },
    get_executors: { executors: [] },
  };
}

let server: Server;
let base = '';
let browser: Browser;
let shots = '';
const streams: ServerResponse[] = [];
let subscriptions = 0;
const subscribedText = recordIO({ type: 'SUBSCRIBED', subscribed: { get_state: bigState(), heartbeat_interval_seconds: 15 } });

test.before(async (t) => {
  t.timeout(WAIT);
  const view: WebuiView = { leading: () => true, leader: () => ({ pid: 'master', hostname: 'localhost', http: base }) as ReturnType<WebuiView['leader']>, context: () => undefined };
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/api/v1' && req.method === 'POST') {
      subscriptions++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(subscribedText);
      streams.push(res);
      return;
    }
    if (path === '/metrics/snapshot') return void res.end('{"master/elected":1}');
    if (path === '/master/state') return void res.end('{"frameworks":[]}');
    serveWebui(req, res, path, view).then((served) => {
      if (!served) {
        res.writeHead(404);
        res.end();
      }
    }, (e: Error) => {
      res.writeHead(500);
      res.end(e.message);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium();
  shots = screenshotDir('scale');
  t.log(`screenshots in ${shots}`);
});

test.after.always(async () => {
  await browser?.close();
  for (const s of streams) s.destroy();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
});

async function open(hash: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1080 } });
  page.setDefaultTimeout(WAIT);
  await page.goto(`http://${base}/${hash}`);
  return page;
}

const rowsInDom = (page: Page, table: string) => page.locator(`[data-table="${table}"] .vt-row`).count();

test.serial(`agents: ${AGENTS} in the table, at most ${MAX_ROWS} rows in the DOM, scrolled to the end too`, async (t) => {
  t.timeout(2 * WAIT);
  const started = Date.now();
  const page = await open('#/agents');
  await page.waitForSelector(`[data-table="agents"][data-rows="${AGENTS}"]`);
  t.log(`${AGENTS} agents and ${TASKS} tasks subscribed and drawn in ${Date.now() - started} ms`);
  await page.waitForSelector('[data-table="agents"] .vt-row[data-id="agent-0"]');
  const first = await rowsInDom(page, 'agents');
  t.true(first > 0 && first <= MAX_ROWS, `${first} rows in the DOM`);
  await page.locator('[data-table="agents"]').evaluate((el) => (el.scrollTop = el.scrollHeight));
  await page.waitForSelector(`[data-table="agents"] .vt-row[data-id="agent-${AGENTS - 1}"]`);
  const last = await rowsInDom(page, 'agents');
  t.true(last > 0 && last <= MAX_ROWS, `${last} rows in the DOM at the end`);
  await page.screenshot({ path: join(shots, 'agents-10k.png') });
  await page.fill('input[type="search"]', 'host-9999');
  await page.waitForSelector('[data-table="agents"][data-rows="1"]');
  await page.close();
});

test.serial(`tasks: ${TASKS} filtered by state and searched; an event after SUBSCRIBED shows without a reload; a stream that ends is subscribed again`, async (t) => {
  t.timeout(3 * WAIT);
  const page = await open('#/tasks');
  await page.waitForSelector(`[data-table="tasks"][data-rows="${TASKS}"]`);
  t.true((await rowsInDom(page, 'tasks')) <= MAX_ROWS);
  await page.selectOption('select[name="state"]', 'TASK_STAGING');
  await page.waitForSelector(`[data-table="tasks"][data-rows="${TASKS / 10}"]`);
  await page.fill('input[name="q"]', 'task-50');
  // staging (every tenth) and containing "task-50": task-50, task-500, task-5000…5090 (10),
  // task-50000…50990 (100) → 112
  await page.waitForSelector('[data-table="tasks"][data-rows="112"]');
  await page.selectOption('select[name="state"]', '');
  await page.fill('input[name="q"]', 'task-99999');
  await page.waitForSelector('[data-table="tasks"][data-rows="1"]');
  await page.screenshot({ path: join(shots, 'tasks-search.png') });

  // Pushed: the task finishes.
  const before = subscriptions;
  for (const s of streams) s.write(recordIO({ type: 'TASK_UPDATED', task_updated: { framework_id: id('fw-1'), state: 'TASK_FINISHED', status: { task_id: id('task-99999'), state: 'TASK_FINISHED', timestamp: Date.now() / 1000 } } }));
  await page.waitForSelector('[data-table="tasks"] .vt-row[data-id="task-99999"] .task-state >> text=FINISHED');
  // The stream ends (a master going away): the UI subscribes again and says it is live.
  for (const s of streams.splice(0)) s.end();
  await page.waitForSelector('.conn[data-conn="reconnecting"]');
  await page.waitForSelector('.conn[data-conn="connected"]');
  t.true(subscriptions > before, 'subscribed again');
  // What the new SUBSCRIBED says is what shows (the task is running there).
  await page.waitForSelector('[data-table="tasks"] .vt-row[data-id="task-99999"] .task-state >> text=RUNNING');
  await page.close();
});
