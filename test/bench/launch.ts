/**
 * Launch latency benchmark (`npm run bench:launch`): time from a framework's subscription
 * (`driver.start()`) to TASK_RUNNING of one `true` command task on a mesos-local cluster (one
 * agent, the built-in command executor), over `--runs` frameworks (default 20), one after another.
 *
 * `--compare` picks what two clusters differ in, their runs interleaved (run i on the one, then
 * run i on the other, the order swapped every other run), so the noise of the machine falls on
 * both alike:
 *
 * - `isolation` (default): the agents' isolators. `--isolation` picks them: `both` (default)
 *   starts two clusters on one nats-server — `benchlaunch-cgroups` (`cgroups/cpu,cgroups/mem`)
 *   and `benchlaunch-posix` (`posix/cpu,posix/mem`), each with its own work dir, both without
 *   credentials; `cgroups` or `posix` runs only that one. Container groups go under their own
 *   root, `mesos-bench-launch`, in each hierarchy, never near other groups; at the end the bench
 *   checks that none is left there and removes the (empty) root directories. Where cgroups cannot
 *   be used (`cgroupsUnusable`), the cgroups mode is skipped, reported as `"cgroups": null` with
 *   the reason in `cgroupsSkipped`.
 * - `security`: the bus's security, both clusters posix (`--isolation` does not apply), each on an
 *   embedded nats-server of its own so that both pay for one server: `secure`
 *   (`benchlaunch-secure`, `startLocalCluster` as it ships: fresh credentials, NKey users with
 *   per-principal permissions and TLS with the cluster's own CA on every connection) and
 *   `insecure` (`benchlaunch-insecure`, `insecure: true`: no users, no TLS). `NATS_URL` is not used.
 *
 * Each run: a new `SchedulerDriver` on the cluster's framework bus (`cluster.framework()`: the
 * `framework` principal on a secured cluster); on the first offer it launches
 * `{ command: { value: 'true' } }` (other offers are declined); TASK_RUNNING is the measured point;
 * then it waits for TASK_FINISHED and for the executor process to have exited, and `driver.stop()`
 * tears the framework down before the next run.
 *
 * A tap subscription on `mesos.<cluster>.>` (on the cluster's own server) timestamps the bus
 * messages of each run, giving a breakdown of where the time goes (medians, ms). Tap times are
 * when this process read a message: messages that arrive in one socket read share a timestamp
 * (hence 0 for master → agent hops). The secure cluster is not tapped: its server lets no principal
 * read the whole bus but an observer, and `startLocalCluster` writes no observer credential, so its
 * `breakdown` is `null`, with the reason in `breakdownSkipped`. (The insecure cluster's tap costs
 * this process a socket read per bus message: microseconds against a launch.)
 * `--executor=tsx` runs the executor through tsx instead of the esbuild bundle agents prefer.
 *
 * Prints one JSON line on stdout: `runs`, `compare`, then per mode the statistics of that mode's
 * runs (`medianMs`, `p90Ms`, `minMs`, `maxMs`, `runs`, `executor`, `breakdown`). With
 * `--compare=isolation`: `isolation`, the modes `cgroups` and `posix`, and with both
 * `cgroupsOverPosixMedianRatio`. With `--compare=security`: the modes `secure` and `insecure`, and
 * `secureOverInsecureMedianRatio` (the cost of security: 1.05 is 5 % slower). Logs (only with
 * `LOG_LEVEL` set) go to stderr.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Packr } from 'msgpackr';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Offer, TaskStatus } from '../../protocols/records.ts';
import { parseResources, contains } from '../../protocols/resources.ts';
import { cgroupsUnusable, detectCgroups, leftoverCgroups } from '../../runtime/cgroups.ts';
import { startLocalCluster, type LocalCluster } from '../../runtime/local-cluster.ts';
import { createLogger, silentLogger, type Logger } from '../../runtime/log.ts';
import { startNatsServer, type NatsServerHandle } from '../../runtime/nats-server.ts';
import { nodeScriptArgv, siblingPath } from '../../runtime/node-command.ts';
import { SchedulerDriver, type Scheduler } from '../../runtime/scheduler-driver.ts';

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: {
    runs: { type: 'string', default: '20' },
    /** Resources of the task (the command executor's own come on top, as the agent adds them). */
    'task-resources': { type: 'string', default: 'cpus:0.1;mem:32' },
    'timeout-ms': { type: 'string', default: '60000' },
    /**
     * How the command executor runs: `auto` (what agents do: the bundle from `scripts/build.mjs`
     * when it is current, else tsx) or `tsx` (always compile through tsx, to show what that costs).
     */
    executor: { type: 'string', default: 'auto' },
    /** What the two clusters differ in: `isolation` (their isolators) or `security` (a secured bus or not). */
    compare: { type: 'string', default: 'isolation' },
    /** With `--compare=isolation`: `both` (cgroups and posix clusters, runs interleaved), `cgroups` or `posix`. */
    isolation: { type: 'string', default: 'both' },
  },
  strict: true,
});

/** The modes, each with its own cluster: isolation modes, then security modes (both posix). */
const MODES = {
  cgroups: { cluster: 'benchlaunch-cgroups', isolation: ['cgroups/cpu', 'cgroups/mem'] },
  posix: { cluster: 'benchlaunch-posix', isolation: ['posix/cpu', 'posix/mem'] },
  secure: { cluster: 'benchlaunch-secure', isolation: ['posix/cpu', 'posix/mem'] },
  insecure: { cluster: 'benchlaunch-insecure', isolation: ['posix/cpu', 'posix/mem'] },
} as const;
type Mode = keyof typeof MODES;
/** The bench's own parent of container groups in each hierarchy. */
const CGROUPS_ROOT = 'mesos-bench-launch';

const say = (msg: string): void => {
  process.stderr.write(`[bench:launch] ${msg}\n`);
};

/** The times (ms, `performance.now()`) one run passes through. */
interface RunTimes {
  /** The cluster the run is on. */
  cluster: string;
  start: number;
  registered?: number;
  offer?: number;
  running?: number;
  finished?: number;
  /** From TASK_FINISHED until the executor process was gone. */
  executorExitMs?: number;
  /** First sight on the bus of each message kind, keyed `<Type>><to kind>` (e.g. `RunTask>executor`). */
  bus: Map<string, number>;
}

/**
 * Pids of this process's children that run the command executor (Linux `/proc`; empty elsewhere).
 * The agent runs in this process, so its executors are our children.
 */
function executorChildren(): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      if (readFileSync(`/proc/${e}/cmdline`, 'utf8').includes('mesos-executor')) found.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Resolves once no executor child is left (polling), or after `maxMs`; the time it took. */
async function executorsGone(maxMs: number): Promise<number> {
  const t0 = performance.now();
  while (executorChildren().length > 0 && performance.now() - t0 < maxMs) await new Promise((r) => setTimeout(r, 5));
  return performance.now() - t0;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
/** Nearest-rank percentile. */
const percentile = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};
const round1 = (x: number): number => Math.round(x * 10) / 10;

/** One mode's cluster and the runs measured on it. */
interface ModeState {
  mode: Mode;
  workDir: string;
  cluster?: LocalCluster;
  bus?: Awaited<ReturnType<LocalCluster['framework']>>;
  /** The connection tapping the cluster's bus, if it is tapped. */
  tap?: NatsConnection;
  /** Why the cluster's bus is not tapped. */
  tapSkipped?: string;
  results: RunTimes[];
}

/** The statistics of one mode's runs (the shape of this bench's output before it had modes). */
function summarize(results: RunTimes[], executor: string, breakdownSkipped?: string): Record<string, unknown> {
  const totals = results.map((r) => r.running! - r.start);
  /** Median of `to − from` over runs where both points were seen. */
  const seg = (from: (r: RunTimes) => number | undefined, to: (r: RunTimes) => number | undefined): number | null => {
    const xs = results.flatMap((r) => {
      const a = from(r);
      const b = to(r);
      return a !== undefined && b !== undefined ? [b - a] : [];
    });
    return xs.length > 0 ? round1(median(xs)) : null;
  };
  const bus = (key: string) => (r: RunTimes) => r.bus.get(key);
  const breakdown = {
    subscribeToRegistered: seg((r) => r.start, (r) => r.registered),
    // of which: leader detection (KV watch) until SubscribeFramework is on the bus
    subscribeToSubscribeFrameworkSent: seg((r) => r.start, bus('SubscribeFramework>master')),
    registeredToOffer: seg((r) => r.registered, (r) => r.offer),
    offerToRunning: seg((r) => r.offer, (r) => r.running),
    // offer → running in detail, from the bus tap:
    offerToLaunchTasks: seg((r) => r.offer, bus('LaunchTasks>master')),
    launchTasksToRunTaskAgent: seg(bus('LaunchTasks>master'), bus('RunTask>agent')),
    runTaskAgentToRegisterExecutor: seg(bus('RunTask>agent'), bus('RegisterExecutor>agent')),
    registerExecutorToRunTaskExecutor: seg(bus('RegisterExecutor>agent'), bus('RunTask>executor')),
    runTaskExecutorToRunningAtAgent: seg(bus('RunTask>executor'), bus('StatusUpdate>agent:TASK_RUNNING')),
    runningAtAgentToScheduler: seg(bus('StatusUpdate>agent:TASK_RUNNING'), (r) => r.running),
    runningToFinished: seg((r) => r.running, (r) => r.finished),
    finishedToExecutorExit: seg(() => 0, (r) => r.executorExitMs),
  };
  return {
    medianMs: round1(median(totals)),
    p90Ms: round1(percentile(totals, 90)),
    minMs: round1(Math.min(...totals)),
    maxMs: round1(Math.max(...totals)),
    runs: results.length,
    executor,
    ...(breakdownSkipped === undefined ? { breakdown } : { breakdown: null, breakdownSkipped }),
  };
}

/**
 * Makes sure no group is left under the bench's root in any hierarchy (destroying any that is,
 * loudly), then removes the root directories.
 */
function cleanUpCgroupsRoot(): void {
  const layout = detectCgroups();
  for (const g of leftoverCgroups(layout, CGROUPS_ROOT)) {
    say(`cgroup ${CGROUPS_ROOT}/${g.name} was left behind: destroying it`);
    if (!g.destroy()) say(`cgroup ${CGROUPS_ROOT}/${g.name} still has processes`);
  }
  for (const hierarchy of [layout.cpuV1, layout.memoryV1, layout.v2]) {
    if (!hierarchy) continue;
    const root = join(hierarchy, CGROUPS_ROOT);
    if (!existsSync(root)) continue;
    const left = readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    if (left.length > 0) say(`groups left under ${root}: ${left.join(', ')}`);
    try {
      rmdirSync(root);
    } catch (e) {
      say(`could not remove ${root}: ${(e as Error).message}`);
    }
  }
}

async function main(): Promise<void> {
  const runs = Number(flags.runs);
  const timeoutMs = Number(flags['timeout-ms']);
  if (!(Number.isInteger(runs) && runs > 0)) throw new Error('--runs must be a positive integer');
  const compare = flags.compare;
  if (compare !== 'isolation' && compare !== 'security') throw new Error(`--compare must be isolation or security, not '${compare}'`);
  const isolation = flags.isolation;
  if (isolation !== 'both' && isolation !== 'cgroups' && isolation !== 'posix') throw new Error(`--isolation must be both, cgroups or posix, not '${isolation}'`);
  const taskResources = parseResources(flags['task-resources']);
  const logger: Logger = process.env.LOG_LEVEL ? createLogger({ name: 'bench-launch', stderr: true, pretty: false }) : silentLogger();
  const script = siblingPath(import.meta.url, '../../cmd/mesos-executor.ts');
  let commandExecutor = nodeScriptArgv(script);
  if (flags.executor === 'tsx') commandExecutor = [process.execPath, '--import', import.meta.resolve('tsx'), script];
  else if (flags.executor !== 'auto') throw new Error(`--executor must be auto or tsx, not '${flags.executor}'`);
  const executor = commandExecutor[1]!.endsWith('.mjs') ? 'bundle' : 'tsx';

  const wantCgroups = compare === 'isolation' && isolation !== 'posix';
  // What the agent would find (it would warn and run without cgroups): the mode is skipped instead.
  const cgroupsSkipped = wantCgroups ? cgroupsUnusable(detectCgroups(), { cpu: true, memory: true }, CGROUPS_ROOT) : undefined;
  if (cgroupsSkipped) say(`cgroups skipped: ${cgroupsSkipped}`);
  const modes: Mode[] = compare === 'security'
    ? ['secure', 'insecure']
    : [...(wantCgroups && !cgroupsSkipped ? ['cgroups' as const] : []), ...(isolation !== 'cgroups' ? ['posix' as const] : [])];

  let server: NatsServerHandle | undefined;
  // The agents' sandboxes; startLocalCluster leaves its default work dir behind, so give it ours.
  const states: ModeState[] = modes.map((mode) => ({ mode, workDir: mkdtempSync(join(tmpdir(), `bench-launch-${mode}-`)), results: [] }));
  try {
    const envUrl = process.env.NATS_URL?.trim();
    if (states.length > 0) {
      // Comparing isolation: one (insecure) server for both clusters. Comparing security: each
      // cluster starts its own, as mesos-local does.
      let natsUrl: string | undefined;
      if (compare === 'isolation') {
        natsUrl = envUrl ? envUrl : (server = await startNatsServer()).url;
        say(`nats ${natsUrl}${server ? ` (pid ${server.pid})` : ''}`);
      } else if (envUrl) {
        say('NATS_URL is not used with --compare=security: each cluster runs its own server');
      }
      for (const st of states) {
        const tc0 = performance.now();
        st.cluster = await startLocalCluster({
          agents: 1,
          logger,
          cluster: MODES[st.mode].cluster,
          ...(natsUrl !== undefined ? { natsUrl } : {}),
          // Only the secure mode runs as mesos-local ships: with credentials and TLS.
          insecure: st.mode !== 'secure',
          workDir: st.workDir,
          commandExecutor,
          isolation: MODES[st.mode].isolation,
          cgroupsRoot: CGROUPS_ROOT,
        });
        st.bus = await st.cluster.framework();
        say(`${st.mode} cluster up in ${(performance.now() - tc0).toFixed(0)} ms on ${st.cluster.natsUrl} ` +
          `(master ${st.cluster.master.pid}, agent ${st.cluster.agents[0]!.pid}${st.cluster.credentialsDir !== undefined ? ', secured' : ''})`);
      }

      // The tap: first sight of each message kind on the bus of the current run's cluster.
      let current: RunTimes | undefined;
      const tapPackr = new Packr({ useRecords: false, variableMapSize: true });
      for (const st of states) {
        if (st.cluster!.credentialsDir !== undefined) {
          st.tapSkipped = 'a secured bus lets only an observer principal read it all, and startLocalCluster writes no observer credential: not tapped';
          continue;
        }
        st.tap = await connect({ servers: st.cluster!.natsUrl, name: `bench-launch-tap-${st.mode}` });
        st.tap.subscribe(`mesos.${MODES[st.mode].cluster}.>`, {
          callback: (err, msg) => {
            if (err || !current) return;
            const now = performance.now();
            const t = msg.subject.split('.');
            if (t[1] !== current.cluster) return;
            // mesos.<cluster>.<to kind>.<to principal>.<to id>.<Type>.<from kind>.<principal>
            let key = `${t[5]}>${t[2]}`;
            if (t[5] === 'StatusUpdate') {
              try {
                const env = tapPackr.unpack(msg.data) as { body?: { update?: { status?: { state?: string } } } };
                key += `:${env.body?.update?.status?.state ?? '?'}`;
              } catch {
                // not ours to judge
              }
            }
            if (!current.bus.has(key)) current.bus.set(key, now);
          },
        });
        await st.tap.flush();
      }

      /** One run on `st`'s cluster. */
      const runOnce = async (st: ModeState, i: number): Promise<void> => {
        const cluster = st.cluster!;
        const times: RunTimes = { cluster: cluster.cluster, start: 0, bus: new Map() };
        current = times;
        const taskId = `bench-launch-${st.mode}-${i}`;
        let launched = false;
        let settle!: { resolve: () => void; reject: (e: Error) => void };
        const finished = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));

        const scheduler: Scheduler = {
          registered: () => {
            times.registered ??= performance.now();
          },
          resourceOffers: (driver, offers: Offer[]) => {
            times.offer ??= performance.now();
            for (const offer of offers) {
              if (!launched && contains(offer.resources, taskResources)) {
                launched = true;
                driver.launchTasks([offer.id], [{
                  taskId,
                  name: `bench ${taskId}`,
                  agentId: offer.agentId,
                  resources: taskResources,
                  command: { value: 'true' },
                }]);
              } else {
                driver.declineOffer(offer.id, { refuseSeconds: 60 });
              }
            }
          },
          statusUpdate: (_driver, status: TaskStatus) => {
            if (status.taskId !== taskId) return;
            if (status.state === 'TASK_RUNNING') times.running ??= performance.now();
            else if (status.state === 'TASK_FINISHED') {
              times.finished ??= performance.now();
              settle.resolve();
            } else if (status.state !== 'TASK_STARTING') {
              settle.reject(new Error(`task ${taskId} ended ${status.state}: ${status.message ?? ''}`));
            }
          },
          error: (_driver, message) => settle.reject(new Error(`framework error: ${message}`)),
        };
        // On a secured bus the framework is its connection's principal (the PID and FrameworkInfo name it).
        const principal = st.bus!.principal;
        const driver = new SchedulerDriver(scheduler, { name: `bench-launch-${st.mode}-${i}`, roles: ['*'], ...(principal !== undefined ? { principal } : {}) }, {
          transport: st.bus!.transport,
          cluster: cluster.cluster,
          detector: st.bus!.detector(),
          logger,
        });

        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${st.mode} run ${i}: no TASK_FINISHED within ${timeoutMs} ms`)), timeoutMs);
        });
        try {
          times.start = performance.now();
          driver.start();
          await Promise.race([finished, timeout]);
          // Let the executor exit (it waits for the acknowledgement) before the next run.
          times.executorExitMs = await executorsGone(10_000);
        } finally {
          clearTimeout(timer);
          await driver.stop();
          current = undefined;
        }
        if (times.running === undefined) throw new Error(`${st.mode} run ${i}: TASK_FINISHED without TASK_RUNNING`);
        st.results.push(times);
        say(`run ${i + 1}/${runs} ${st.mode}: subscribe→running ${(times.running - times.start).toFixed(1)} ms`);
      };

      // Interleaved: run i on every mode before run i + 1 on any, the order swapped every other
      // run so that neither mode always goes first (the very first launch is the slowest).
      for (let i = 0; i < runs; i++) for (const st of i % 2 === 0 ? states : [...states].reverse()) await runOnce(st, i);
    }

    const stats = new Map(states.map((st) => [st.mode, summarize(st.results, executor, st.tapSkipped)]));
    /** Ratio of the medians of modes `a` and `b`, or null. */
    const medianRatio = (a: Mode, b: Mode): number | null => {
      const x = stats.get(a)?.medianMs as number | undefined;
      const y = stats.get(b)?.medianMs as number | undefined;
      return x !== undefined && y !== undefined && y > 0 ? Math.round((x / y) * 100) / 100 : null;
    };
    const out: Record<string, unknown> = { runs, compare };
    if (compare === 'security') {
      out.secure = stats.get('secure');
      out.insecure = stats.get('insecure');
      out.secureOverInsecureMedianRatio = medianRatio('secure', 'insecure');
    } else {
      out.isolation = isolation;
      if (wantCgroups) {
        out.cgroups = stats.get('cgroups') ?? null;
        if (cgroupsSkipped) out.cgroupsSkipped = cgroupsSkipped;
      }
      if (isolation !== 'cgroups') out.posix = stats.get('posix');
      if (isolation === 'both') out.cgroupsOverPosixMedianRatio = medianRatio('cgroups', 'posix');
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    for (const st of states) {
      if (st.tap && !st.tap.isClosed()) await st.tap.close().catch(() => undefined);
    }
    for (const st of states) {
      if (st.cluster) await st.cluster.stop().catch((e: Error) => say(`${st.mode} cluster stop failed: ${e.message}`));
    }
    await server?.stop();
    for (const st of states) rmSync(st.workDir, { recursive: true, force: true });
    if (wantCgroups) cleanUpCgroupsRoot();
  }
}

try {
  await main();
  process.exit(0);
} catch (e) {
  say(`failed: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
}
