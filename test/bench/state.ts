/**
 * What serving `/master/state` costs the master (`npm run bench:state -- --agents 10000 --tasks
 * 100000`). The requirement it checks: a `/master/state` of 10,000 agents / 100,000 tasks
 * requested 10× a second costs the master's event loop at most 20 ms of worst stall.
 *
 * One `mesos-master --port=0` leads an agent swarm (`test/helpers/agent-swarm.ts`) on a
 * nats-server of its own; a framework in this process launches `--tasks` tasks. Once they all
 * run, one `/master/state` is read and checked (every agent and task in it), then the cluster
 * is left alone until that request's stalls have left the master's recent-stall window. Then two
 * windows of `--seconds` each:
 *
 * - baseline: no HTTP request at all;
 * - polling: `GET /master/state` `--rate` times a second from this process, on a fixed schedule;
 *   each response is read to its end (bytes counted, not parsed) and its latency (request → last
 *   byte) kept. A tick that finds `--rate` requests still unanswered sends nothing and is counted
 *   as skipped: the master was then asked less often than `--rate`. The window ends when the last
 *   request sent has been answered.
 *
 * A window's worst stall is the master's `master/event_loop_delay_recent_max_ms` (the worst stall
 * that ended in the last 10–11 s), read over the bus (as an operator: no HTTP) every 5 s and at
 * the window's end; the maximum of those reads. It therefore also covers the few seconds before
 * the window, when the cluster was as quiet as in the baseline.
 *
 * Prints one JSON line; `withinBudget` is true when the polling window's worst stall is at most
 * `stallBudgetMs` and every request was sent and answered with 200. `masterRssMb` is the master's
 * resident set at the end of the polling window, `masterPeakRssMb` the most it ever held.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { RECENT_STALL_BUCKET_MS, RECENT_STALL_WINDOW_MS } from '../../runtime/master.ts';
import { allRunning, cpuSeconds, mb, ScaleCluster, sayer, waitFor, wholeNumber, type StartedMaster } from './scale-cluster.ts';

/** The requirement's budget for the worst stall while `/master/state` is polled, ms. */
const STALL_BUDGET_MS = 20;
/** How often a window reads the master's recent worst stall (well within its 10 s window). */
const STALL_READ_EVERY_MS = RECENT_STALL_WINDOW_MS / 2;
/** How long the requests sent in the polling window may take to be answered after it. */
const DRAIN_TIMEOUT_MS = 120_000;
const STALL_METRIC = 'master/event_loop_delay_recent_max_ms';

const { values } = parseArgs({
  options: {
    agents: { type: 'string' },
    tasks: { type: 'string' },
    seconds: { type: 'string' },
    rate: { type: 'string' },
    'master-flags': { type: 'string', default: '' },
  },
});
const agentCount = wholeNumber('state', 'agents', values.agents, 10_000);
const taskCount = wholeNumber('state', 'tasks', values.tasks, 100_000);
const windowMs = wholeNumber('state', 'seconds', values.seconds, 10) * 1000;
const rate = wholeNumber('state', 'rate', values.rate, 10);
if (agentCount === 0 || rate === 0 || windowMs === 0) {
  process.stderr.write('bench:state: --agents, --rate and --seconds must be at least 1\n');
  process.exit(2);
}
const say = sayer('state');

/** One `GET`, read to its end. */
interface Answer {
  status: number;
  bytes: number;
  latencyMs: number;
}

async function getState(base: string): Promise<Answer> {
  const t0 = performance.now();
  const res = await fetch(`${base}/master/state`);
  let bytes = 0;
  if (res.body) for await (const chunk of res.body) bytes += (chunk as Uint8Array).byteLength;
  return { status: res.status, bytes, latencyMs: performance.now() - t0 };
}

/** The master's worst stall while `during` runs: the largest recent-stall figure read over it. */
async function worstStallDuring(c: ScaleCluster, m: StartedMaster, during: () => Promise<void>): Promise<{ worstMs: number; metrics: Record<string, number> }> {
  let worstMs = 0;
  let last: Record<string, number> = {};
  const read = async () => {
    last = await c.metricsOf(m.pid);
    worstMs = Math.max(worstMs, last[STALL_METRIC] ?? Number.NaN);
  };
  let over = false;
  let wake: () => void = () => {};
  const reader = (async () => {
    while (!over) {
      await new Promise<void>((r) => {
        const timer = setTimeout(r, STALL_READ_EVERY_MS);
        wake = () => {
          clearTimeout(timer);
          r();
        };
      });
      if (!over) await read();
    }
  })();
  try {
    await during();
  } finally {
    over = true;
    wake();
    await reader;
  }
  await read();
  return { worstMs, metrics: last };
}

/** Polls `/master/state` `rate` times a second for `ms`, then waits for the answers. */
async function poll(base: string, ms: number) {
  const answers: Answer[] = [];
  let inFlight = 0;
  let skipped = 0;
  let failed = 0;
  const pending = new Set<Promise<void>>();
  const t0 = performance.now();
  for (let i = 0; i < Math.round((ms / 1000) * rate); i++) {
    const due = t0 + (i * 1000) / rate;
    if (due > performance.now()) await waitFor(due - performance.now());
    if (inFlight >= rate) {
      skipped++;
      continue;
    }
    inFlight++;
    const p = getState(base).then(
      (a) => {
        if (a.status === 200) answers.push(a);
        else failed++;
      },
      (err: Error) => {
        failed++;
        say(`GET /master/state failed: ${err.message}`);
      },
    ).finally(() => {
      inFlight--;
      pending.delete(p);
    });
    pending.add(p);
  }
  await waitFor(Math.max(0, t0 + ms - performance.now()));
  const drained = Promise.all([...pending]);
  const timedOut = await Promise.race([drained.then(() => false), waitFor(DRAIN_TIMEOUT_MS).then(() => true)]);
  if (timedOut) throw new Error(`${pending.size} /master/state requests unanswered ${DRAIN_TIMEOUT_MS} ms after the window`);
  return { answers, skipped, failed };
}

const percentile = (sorted: number[], p: number) => (sorted.length === 0 ? null : Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!));

/** The peak resident set of a process (`VmHWM`), bytes. */
function peakRss(pid: number): number | undefined {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

const c = await ScaleCluster.start({ bench: 'state', agents: agentCount, masterFlags: values['master-flags'].split(' ').filter(Boolean) });
await c.run(say, async () => {
  const m = await c.startMaster('master');
  const base = `http://${m.http}`;
  await c.leaderOtherThan();
  const ledAt = performance.now();
  c.yieldToMasters();
  say(`master ${m.pid} leads, HTTP on ${m.http}; registering ${agentCount} agents`);
  const r0 = performance.now();
  await c.swarm.registered();
  say(`all registered after ${Math.round(performance.now() - r0)} ms; launching ${taskCount} tasks`);
  const fw = c.framework(taskCount, Math.ceil(taskCount / agentCount));
  const l0 = performance.now();
  fw.driver.start();
  await allRunning(fw, taskCount, say);
  say(`${taskCount} tasks running after ${Math.round(performance.now() - l0)} ms; checking one /master/state`);

  // One state, parsed: the document the windows poll holds every agent and task.
  const res = await fetch(`${base}/master/state`);
  const state = (await res.json()) as { slaves?: unknown[]; frameworks?: Array<{ tasks?: unknown[] }> };
  const stateAgents = state.slaves?.length ?? 0;
  const stateTasks = (state.frameworks ?? []).reduce((n, f) => n + (f.tasks?.length ?? 0), 0);
  if (res.status !== 200 || stateAgents !== agentCount || stateTasks !== taskCount) {
    throw new Error(`/master/state answered ${res.status} with ${stateAgents} agents and ${stateTasks} tasks; expected ${agentCount} and ${taskCount}`);
  }
  const settleMs = RECENT_STALL_WINDOW_MS + RECENT_STALL_BUCKET_MS;
  say(`state complete; ${settleMs} ms for earlier stalls to leave the master's window`);
  await waitFor(settleMs);

  say(`baseline: ${windowMs} ms without HTTP requests`);
  let cpu0 = cpuSeconds(m.proc.pid);
  const baseline = await worstStallDuring(c, m, () => waitFor(windowMs));
  const baselineCpu = cpuSeconds(m.proc.pid) - cpu0;

  say(`polling: GET /master/state ${rate}× a second for ${windowMs} ms`);
  cpu0 = cpuSeconds(m.proc.pid);
  let polled: Awaited<ReturnType<typeof poll>> | undefined;
  const polling = await worstStallDuring(c, m, async () => {
    polled = await poll(base, windowMs);
  });
  const pollingCpu = cpuSeconds(m.proc.pid) - cpu0;
  const { answers, skipped, failed } = polled!;
  const latencies = answers.map((a) => a.latencyMs).sort((a, b) => a - b);
  const pollingWorstStallMs = Math.round(polling.worstMs);
  return {
    agents: agentCount,
    tasks: taskCount,
    stateBytes: Math.max(0, ...answers.map((a) => a.bytes)),
    rate,
    seconds: windowMs / 1000,
    requests: answers.length,
    requestsSkipped: skipped,
    requestsFailed: failed,
    latencyP50Ms: percentile(latencies, 50),
    latencyP99Ms: percentile(latencies, 99),
    latencyMaxMs: percentile(latencies, 100),
    baselineWorstStallMs: Math.round(baseline.worstMs),
    pollingWorstStallMs,
    masterRssMb: mb(polling.metrics['system/mem_rss_bytes']),
    masterBaselineRssMb: mb(baseline.metrics['system/mem_rss_bytes']),
    masterPeakRssMb: mb(peakRss(m.proc.pid)),
    masterCpuSeconds: { baseline: +baselineCpu.toFixed(2), polling: +pollingCpu.toFixed(2) },
    leaseKept: c.leaseKept(ledAt) && m.proc.running,
    swarmNice: c.swarmNice,
    stallBudgetMs: STALL_BUDGET_MS,
    withinBudget: pollingWorstStallMs <= STALL_BUDGET_MS && skipped === 0 && failed === 0 && answers.length > 0,
  };
});
