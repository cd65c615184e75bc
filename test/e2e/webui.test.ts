/**
 * The master's web UI in headless Chromium against a cluster of real processes (a master with
 * short ping timeouts, two agents, a framework): the page shows a task launched after it opened
 * going RUNNING then FINISHED without a reload, tails its stdout while it runs, shows an agent
 * SIGKILLed by PID turn unreachable once the master's pings time out, and mounts the statechart
 * view on the Machines page. Screenshots go to a directory under the OS temp dir (in the log).
 */
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { E2ECluster, TestFramework } from './support.ts';
import { launchChromium, screenshotDir } from '../helpers/browser.ts';

const e2e = new E2ECluster('e2e-webui');
/** Every wait: the cluster's own timeouts (pings: 2 s × 3) fit in it many times over. */
const WAIT = 60_000;
const MARKER = 'webui-marker-7f3a';
let leaderHttp = '';
let fw: TestFramework;
let frameworkId = '';
let browser: Browser;
let page: Page;
let shots = '';

test.before(async (t) => {
  t.timeout(5 * WAIT);
  await e2e.start(2, WAIT, { masterArgs: ['--agent_ping_timeout=2secs', '--max_agent_ping_timeouts=3'] });
  leaderHttp = e2e.masters[0]!.http;
  fw = new TestFramework(e2e, 'webui-fw');
  frameworkId = String((await fw.next('registered')).frameworkId);
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(WAIT);
  shots = screenshotDir('e2e');
  t.log(`screenshots in ${shots}`);
});

test.after.always(async () => {
  await browser?.close();
  await e2e.stop();
});

const shot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`) });

test.serial('the overview names the leader and counts the agents, by push from SUBSCRIBE', async (t) => {
  await page.goto(`http://${leaderHttp}/`);
  await page.waitForSelector('.conn[data-conn="connected"]');
  await page.waitForSelector(`[data-fact="leader"] >> text=${leaderHttp}`);
  await page.waitForSelector('[data-fact="agents"] >> text=2 active');
  t.is(await page.textContent('[data-fact="answering"]'), leaderHttp);
  // total: two agents × 2 cpus
  t.regex((await page.textContent('[data-res="total"]')) ?? '', /^Total4/);
  await shot('overview');
});

test.serial('a task launched while the page is open shows RUNNING, its stdout tails live, then it shows FINISHED; no reload', async (t) => {
  t.timeout(4 * WAIT);
  await page.goto(`http://${leaderHttp}/#/tasks`);
  await page.waitForSelector('.conn[data-conn="connected"]');
  const loads: string[] = [];
  page.on('load', () => loads.push(page.url()));
  // The task writes the marker, then waits for a file the test creates, then writes a last line.
  const since = fw.proc.mark();
  fw.send({ launch: { taskId: 'web-task', command: `echo ${MARKER}; while [ ! -e "$MESOS_SANDBOX/go" ]; do sleep 0.1; done; echo after-go-line` } });
  const running = await fw.next('status', (j) => j.taskId === 'web-task' && j.state === 'TASK_RUNNING', since);
  await page.waitForSelector('[data-table="tasks"] .vt-row[data-id="web-task"] .task-state >> text=RUNNING');
  await shot('task-running');

  await page.click('[data-table="tasks"] .vt-row[data-id="web-task"]');
  await page.waitForURL(`**/#/task/${frameworkId}/web-task`);
  await page.waitForSelector(`pre[data-tail][data-file="stdout"] >> text=${MARKER}`);
  await shot('task-stdout');

  await writeFile(join(String(running.sandbox), 'go'), '');
  // The tail follows the file: the line written after the page opened it appears.
  await page.waitForSelector('pre[data-tail] >> text=after-go-line');
  await page.waitForSelector('h2 .state >> text=FINISHED');
  const history = (await page.locator('[data-history="web-task"] li .state').allTextContents());
  t.deepEqual(history.filter((s) => s === 'RUNNING' || s === 'FINISHED'), ['RUNNING', 'FINISHED']);
  t.deepEqual(loads, [], 'the page was never reloaded');
  await page.click('[data-nav="tasks"]');
  await page.waitForSelector('[data-table="tasks"] .vt-row[data-id="web-task"] .task-state >> text=FINISHED');
  await shot('task-finished');
});

test.serial('the master forwards sandbox reads to registered agents only', async (t) => {
  const agentId = e2e.agents[0]!.agentId;
  t.is((await fetch(`http://${leaderHttp}/webui/agents/no-such-agent/files/read?path=/etc/passwd&offset=0`)).status, 404);
  t.is((await fetch(`http://${leaderHttp}/webui/agents/${agentId}/files/download?path=/etc/passwd`)).status, 404);
  const outside = await fetch(`http://${leaderHttp}/webui/agents/${agentId}/files/read?path=/etc/passwd&offset=0`);
  t.true(outside.status >= 400 && outside.status < 500, `the agent refuses a path outside its work dir (${outside.status})`);
});

test.serial('an agent SIGKILLed by PID turns unreachable once the master’s pings time out', async (t) => {
  t.timeout(3 * WAIT);
  const victim = e2e.agents[1]!;
  await page.goto(`http://${leaderHttp}/#/agents`);
  await page.waitForSelector(`[data-table="agents"] .vt-row[data-id="${victim.agentId}"] .status >> text=active`);
  victim.proc.signal('SIGKILL');
  await page.waitForSelector(`[data-table="agents"] .vt-row[data-id="${victim.agentId}"] .status >> text=unreachable`);
  await shot('agent-unreachable');
  await page.click('[data-nav="overview"]');
  await page.waitForSelector('[data-fact="agents"] >> text=1 active, 1 unreachable');
  t.regex(await page.locator('[data-fact="agents"]').innerText(), /1 active, 1 unreachable/);
});

test.serial('the Machines page shows the master machine with its current state highlighted', async (t) => {
  await page.goto(`http://${leaderHttp}/#/machines`);
  await page.waitForSelector('[data-statechart="mounted"]');
  // The leader's master machine: its `leading` state and the serving phase inside it are active.
  const master = '[data-statechart="mounted"] section.sc-machine[data-machine="master"]';
  await page.waitForSelector(`${master} [data-path="leading"].sc-active`);
  await page.waitForSelector(`${master} [data-path="leading.phase.serving"].sc-active`);
  t.is(await page.locator(`${master} [data-path="standby"].sc-active`).count(), 0, 'standby is not highlighted');
  await shot('machines');
});
