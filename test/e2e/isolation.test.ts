/**
 * Containers in control groups, on this host's real cgroups: a `mesos-agent` with
 * `--isolation=cgroups/cpu,cgroups/mem` on a real nats-server. Needs root and writable cgroups;
 * where they are missing each test says so in its output and checks nothing.
 *
 * Mirrors Mesos `CgroupsIsolatorTest.ROOT_CGROUPS_MemoryLimit`-style checks (a task over its
 * memory limit fails with `REASON_CONTAINER_LIMITATION_MEMORY`, its neighbour runs on) and
 * `ROOT_CGROUPS_PidNamespace…`/`LinuxLauncher` destruction: no process of a container outlives it;
 * `MonitorTest`/`/monitor/statistics`: what each container uses, read over the bus.
 */
import { readFile, readdir } from 'node:fs/promises';
import { rmdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import test, { type Implementation } from 'ava';
import { DEFAULT_WAIT_MS } from '../helpers/processes.ts';
import { cgroupsUnusable, detectCgroups, leftoverCgroups } from '../../runtime/cgroups.ts';
import { COMMAND_EXECUTOR_MEM_MB } from '../../runtime/containerizer.ts';
import { E2ECluster, TestFramework, alive, findFiles, until } from './support.ts';

const e2e = new E2ECluster('e2e-isolation');
const WAIT = 60_000;
const ROOT = `mesos-e2e-${process.pid}`;
const layout = detectCgroups();
const unusable = process.getuid?.() !== 0 ? 'not running as root' : cgroupsUnusable(layout, { cpu: true, memory: true }, ROOT);

test.before(async (t) => {
  if (unusable) return;
  t.timeout(3 * DEFAULT_WAIT_MS);
  await e2e.start(1, DEFAULT_WAIT_MS, {
    masterArgs: ['--allocation_interval=300ms'],
    agentArgs: ['--isolation=cgroups/cpu,cgroups/mem', `--cgroups_root=${ROOT}`, '--executor_shutdown_grace_period=1secs'],
  });
});

test.after.always(async () => {
  await e2e.stop();
  // Whatever the agents left (nothing, when all went well) goes, processes first.
  for (const g of leftoverCgroups(layout, ROOT)) await until(() => g.destroy(), WAIT);
  for (const h of [layout.v2, layout.cpuV1, layout.memoryV1]) {
    if (!h) continue;
    try {
      rmdirSync(join(h, ROOT));
    } catch {
      /* never made */
    }
  }
});

/** These run where cgroups can be used (CI here: root, writable); elsewhere each is skipped, its title saying why. */
const maybe = (title: string, fn: Implementation<[]>) =>
  unusable ? test.serial.skip(`${title} (not run here: ${unusable})`, fn) : test.serial(title, fn);

let f: TestFramework;

/** CPU time a container has used, in µs (the v2 tracking group's `cpu.stat`, present without the cpu controller too). */
async function cpuUsec(workDir: string, executorId: string): Promise<number> {
  const dir = join(workDir, 'meta', 'containers');
  for (const n of await readdir(dir)) {
    const r = JSON.parse(await readFile(join(dir, n), 'utf8')) as { executorId: string; containerId: string };
    if (r.executorId !== executorId) continue;
    const stat = await readFile(join(layout.v2!, ROOT, r.containerId.replace(/[^A-Za-z0-9_.-]/g, '_'), 'cpu.stat'), 'utf8');
    return Number(/^usage_usec (\d+)$/m.exec(stat)![1]);
  }
  throw new Error(`no container of ${executorId}`);
}

/** A command that keeps as many threads busy as the host has cores. */
const SPIN = `for i in $(seq ${cpus().length}); do (while :; do :; done) & done; wait`;
/**
 * The same, every thread on the first core: two such containers contend there whatever else runs
 * on the host (weights apply per core; spread over cores, other load would skew the measure).
 */
const SPIN_ON_ONE_CORE = `exec taskset -c 0 sh -c '${SPIN}'`;

maybe('two containers that both want every core share them by their cpus: 0.5 against 1.5 gets a third as much', async (t) => {
  t.timeout(3 * WAIT);
  f = new TestFramework(e2e, 'isolated');
  await f.next('registered');
  const since = f.proc.mark();
  f.send({ launch: { taskId: 'light', command: SPIN_ON_ONE_CORE, resources: 'cpus:0.5;mem:32' } });
  f.send({ launch: { taskId: 'heavy', command: SPIN_ON_ONE_CORE, resources: 'cpus:1.5;mem:32' } });
  try {
    for (const id of ['light', 'heavy']) await f.next('status', (j) => j.taskId === id && j.state === 'TASK_RUNNING', since);
    const { workDir } = e2e.agents[0]!;
    const before = [await cpuUsec(workDir, 'light'), await cpuUsec(workDir, 'heavy')];
    // The sample is an amount of CPU time, not a stretch of wall time: a busy host only makes it take longer.
    t.true(await until(async () => (await cpuUsec(workDir, 'light')) - before[0]! >= 1e6, WAIT), 'light got 1 s of CPU');
    const after = [await cpuUsec(workDir, 'light'), await cpuUsec(workDir, 'heavy')];
    const ratio = (after[1]! - before[1]!) / (after[0]! - before[0]!);
    t.log(`CPU time heavy / light: ${ratio.toFixed(2)} (light ${((after[0]! - before[0]!) / 1e6).toFixed(2)} s)`);
    t.true(ratio >= 2.25 && ratio <= 3.75, `ratio ${ratio} not within 3 ± 25%`);
  } finally {
    // The spinners go whatever happened: the next tests need the cores and the cpus.
    for (const id of ['light', 'heavy']) f.send({ kill: id });
    for (const id of ['light', 'heavy']) await f.next('status', (j) => j.taskId === id && j.state === 'TASK_KILLED', since);
  }
});

maybe('a task over its memory limit fails with REASON_CONTAINER_LIMITATION_MEMORY; its neighbour runs on', async (t) => {
  t.timeout(3 * WAIT);
  const since = f.proc.mark();
  await f.run('neighbour', 'sleep 600');
  f.send({ launch: { taskId: 'hog', command: 'node -e "const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1))"', resources: 'cpus:0.1;mem:64' } });
  const failed = await f.next('status', (j) => j.taskId === 'hog' && j.state !== 'TASK_STAGING' && j.state !== 'TASK_STARTING' && j.state !== 'TASK_RUNNING', since);
  t.is(failed.state, 'TASK_FAILED');
  t.is(failed.reason, 'REASON_CONTAINER_LIMITATION_MEMORY');
  t.regex(String(failed.message), /^Memory limit exceeded/);
  f.send({ reconcile: [{ taskId: 'neighbour' }] });
  const n = await f.next('status', (j) => j.taskId === 'neighbour' && j.source === 'SOURCE_MASTER', since);
  t.is(n.state, 'TASK_RUNNING', 'the neighbour runs on');
});

maybe('the agent reports what each container uses over the bus, read from its control groups', async (t) => {
  t.timeout(2 * WAIT);
  const [agent] = e2e.agents;
  const op = await e2e.operator();
  t.teardown(() => op.close());
  const stats = await op.request(agent!.pid, { type: 'GetContainerStatistics', body: {} }, 'ContainerStatistics', WAIT);
  t.is(stats.agentId, agent!.agentId);
  const n = stats.executors.find((x) => x.executorId === 'neighbour');
  t.truthy(n, JSON.stringify(stats.executors.map((x) => x.executorId)));
  const s = n!.statistics;
  t.is(s.cpusLimit, 0.1);
  t.is(s.memLimitBytes, (32 + COMMAND_EXECUTOR_MEM_MB) * 1024 * 1024, 'the task\'s mem and the command executor\'s');
  t.true(s.cpusUserTimeSecs + s.cpusSystemTimeSecs > 0, 'the executor started: it used some CPU');
  t.true(s.memRssBytes > 0);
  t.true((s.processes ?? 0) >= 2, 'the executor and its task');
});

maybe('no process of a container outlives it: a daemon the task double-forked into its own session dies with its executor', async (t) => {
  t.timeout(3 * WAIT);
  const since = f.proc.mark();
  await f.run('forker', 'setsid sh -c \'echo $$ > "$MESOS_SANDBOX/daemon.pid"; exec sleep 600\' & exec sleep 600');
  const [agent] = e2e.agents;
  let pidFile: string | undefined;
  await until(async () => ([pidFile] = await findFiles(agent!.workDir, 'daemon.pid')).length > 0, WAIT);
  const daemon = Number((await readFile(pidFile!, 'utf8')).trim());
  t.true(alive(daemon), 'the daemon runs');
  // The executor of `forker`, as the agent recorded it.
  const metaFiles = (await readdir(join(agent!.workDir, 'meta', 'containers'))).map((n) => join(agent!.workDir, 'meta', 'containers', n));
  const recs = await Promise.all(metaFiles.map(async (p) => JSON.parse(await readFile(p, 'utf8')) as { executorId: string; osPid: number }));
  const executor = recs.find((r) => r.executorId === 'forker')!;
  process.kill(executor.osPid, 'SIGKILL');
  const end = await f.next('status', (j) => j.taskId === 'forker' && j.state === 'TASK_FAILED', since);
  t.log(`forker ended ${end.state} (${end.reason})`);
  t.true(await until(() => !alive(daemon), WAIT), 'the daemon is gone');
});

maybe('with --cgroups_enable_cfs, cpus is a hard limit: a cpus:0.5 container that wants every core gets half of one', async (t) => {
  t.timeout(3 * WAIT);
  // This agent goes; one with CFS limits takes its place.
  await e2e.stopAgents();
  const capped = await e2e.awaitAgent(e2e.spawnAgent(2, ['--cgroups_enable_cfs']), WAIT);
  e2e.agents.splice(0, e2e.agents.length, capped);
  const since = f.proc.mark();
  f.send({ launch: { taskId: 'capped', command: SPIN, resources: 'cpus:0.5;mem:32' } });
  await f.next('status', (j) => j.taskId === 'capped' && j.state === 'TASK_RUNNING', since);
  try {
    const t0 = performance.now();
    const before = await cpuUsec(capped.workDir, 'capped');
    // 2 s of CPU time: at most half a core takes at least 4 s of wall time for it.
    t.true(await until(async () => (await cpuUsec(capped.workDir, 'capped')) - before >= 2e6, WAIT), 'capped got 2 s of CPU');
    const cores = (await cpuUsec(capped.workDir, 'capped') - before) / ((performance.now() - t0) * 1000);
    t.log(`a cpus:0.5 container used ${cores.toFixed(2)} cores`);
    t.true(cores <= 0.55, `${cores} cores`);
  } finally {
    f.send({ kill: 'capped' });
    await f.next('status', (j) => j.taskId === 'capped' && j.state === 'TASK_KILLED', since);
  }
});

maybe('an agent that stops leaves no control group behind', async (t) => {
  t.timeout(2 * WAIT);
  await f.run('last', 'sleep 600');
  await e2e.stopAgents();
  const left = leftoverCgroups(layout, ROOT).map((g) => g.name);
  for (const id of left) t.log(e2e.agents[0]!.proc.texts().filter((l) => l.includes(id)).join('\n'));
  t.deepEqual(left, []);
});
