/**
 * The set-up the scale benchmarks share (`failover.ts`, `state.ts`): a nats-server of their own,
 * `mesos-master` processes started as a user would (`--port=0`, so each serves its HTTP endpoints
 * on a free port), an agent swarm (`test/helpers/agent-swarm.ts`) that follows whoever leads, a
 * framework in this process that launches a given number of tasks, the master's metrics read over
 * the bus as an operator, and a clean-up that stops every process it started by PID, whatever
 * happened (also on SIGINT and SIGTERM).
 *
 * The figures are the master's, not identity's: the benchmarks' own server has no users and every
 * process runs `--insecure`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { constants, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { NatsConnection } from '@nats-io/transport-node';
import type { TaskInfo } from '../../protocols/records.ts';
import { parseResources, scalar } from '../../protocols/resources.ts';
import { KvLeaderDetector } from '../../runtime/lease.ts';
import { silentLogger } from '../../runtime/log.ts';
import { startNatsServer, type NatsServerHandle } from '../../runtime/nats-server.ts';
import { OperatorClient } from '../../runtime/operator-client.ts';
import { SchedulerDriver } from '../../runtime/scheduler-driver.ts';
import { connectNats, NatsTransport, type LoggerLike } from '../../runtime/transport-nats.ts';
import type { LeaderInfo } from '../../runtime/types.ts';
import { AgentSwarm } from '../helpers/agent-swarm.ts';
import { ProcessRegistry, parseJsonLine, type ManagedProcess } from '../helpers/processes.ts';

/** Resources of each emulated agent. */
const AGENT_RESOURCES = 'cpus:4;mem:8192';
/** What each launched task takes (40 fit on an agent by cpus). */
const TASK_RESOURCES = 'cpus:0.1;mem:32';
/** How long a master may take to log that it started. */
const MASTER_START_TIMEOUT_MS = 60_000;
/** How long a metrics request over the bus may take (a loaded master answers late). */
const METRICS_TIMEOUT_MS = 30_000;
/** Grace between SIGTERM and SIGKILL when the processes are stopped. */
const KILL_AFTER_MS = 3_000;

/** Writes `[bench:<name> <seconds>s] msg` to stderr (stdout carries only the result line). */
export function sayer(bench: string): (msg: string) => void {
  return (msg) => process.stderr.write(`[bench:${bench} ${(performance.now() / 1000).toFixed(1)}s] ${msg}\n`);
}

/** A whole-number flag (`d` when absent); exits 2 naming the flag when it is not one. */
export function wholeNumber(bench: string, name: string, v: string | undefined, d: number): number {
  const n = v === undefined ? d : Number(v);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`bench:${bench}: invalid --${name} '${v}': expected a whole number\n`);
    process.exit(2);
  }
  return n;
}

/** CPU seconds a process has used (user + system, all threads), from /proc; 0 once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/** Bytes as whole MB; `null` for unknown. */
export const mb = (b: number | undefined): number | null => (b === undefined ? null : Math.round(b / 1e6));

export const waitFor = (ms: number): Promise<void> => new Promise<void>((r) => setTimeout(r, ms));

/** A started `mesos-master` process. */
export interface StartedMaster {
  proc: ManagedProcess;
  /** Its actor PID (where operators send `GetMetrics`). */
  pid: string;
  /** Where its HTTP endpoints listen (`host:port`). */
  http: string;
}

/** A framework in this process that launches tasks on the offers it gets, then declines the rest. */
export interface LaunchingFramework {
  driver: SchedulerDriver;
  /** Resolves once every task it was asked to launch has reported TASK_RUNNING. */
  done: Promise<void>;
  /** Tasks reported TASK_RUNNING so far. */
  readonly running: number;
  /** Offers received since the start (or {@link LaunchingFramework.resetOffers}). */
  readonly offers: number;
  /** When (`performance.now()`) the first of those offers came; 0 before. */
  readonly firstOfferAt: number;
  resetOffers(): void;
}

/** How long launching may go without one more task running before it is given up. */
const LAUNCH_STUCK_MS = 60_000;
/** How often a launch reports its progress. */
const LAUNCH_PROGRESS_MS = 10_000;

/**
 * Resolves once all of `fw`'s `tasks` run, reporting progress; rejects when none more has come to
 * run for {@link LAUNCH_STUCK_MS} (a lost update would otherwise make the bench wait forever).
 */
export async function allRunning(fw: LaunchingFramework, tasks: number, say: (msg: string) => void): Promise<void> {
  let done = false;
  void fw.done.then(() => (done = true));
  let seen = fw.running;
  let progressAt = performance.now();
  while (!done) {
    await Promise.race([fw.done, waitFor(LAUNCH_PROGRESS_MS)]);
    if (done) return;
    if (fw.running > seen) {
      seen = fw.running;
      progressAt = performance.now();
    } else if (performance.now() - progressAt > LAUNCH_STUCK_MS) {
      throw new Error(`${fw.running} of ${tasks} tasks running, none more for ${LAUNCH_STUCK_MS} ms`);
    }
    say(`${fw.running} of ${tasks} tasks running`);
  }
}

/** Options of {@link ScaleCluster.start}. */
export interface ScaleClusterOptions {
  /** The benchmark's name: in the cluster's name and its work dir. */
  bench: string;
  /** Agents in the swarm. */
  agents: number;
  /** Flags every master gets besides the cluster's own. */
  masterFlags?: readonly string[];
}

/** A benchmark's cluster: the server, the swarm, who leads; masters are started on it. */
export class ScaleCluster {
  readonly cluster: string;
  readonly procs = new ProcessRegistry();
  /** Elections seen (`performance.now()`), with the leader each one named. */
  readonly changes: Array<{ at: number; leader?: string }> = [];
  leader: LeaderInfo | undefined;
  /** The nice value this process runs at once {@link ScaleCluster.yieldToMasters} was called. */
  swarmNice = 0;
  readonly #work: string;
  readonly #masterArgs: string[];
  readonly #leaderWaiters: Array<(l: LeaderInfo) => void> = [];
  #operator: OperatorClient | undefined;
  #drivers: SchedulerDriver[] = [];
  #stopping: Promise<void> | undefined;

  private constructor(
    opts: ScaleClusterOptions,
    work: string,
    readonly server: NatsServerHandle,
    readonly nc: NatsConnection,
    readonly swarm: AgentSwarm,
    readonly detector: KvLeaderDetector,
  ) {
    this.cluster = clusterName(opts.bench);
    this.#work = work;
    this.#masterArgs = [`--nats=${server.url}`, `--cluster=${this.cluster}`, '--insecure', '--log_level=info', '--port=0', ...(opts.masterFlags ?? [])];
  }

  /**
   * Starts the server and the swarm, and follows the leader. If any of it fails, what was started
   * is stopped before the error is thrown.
   */
  static async start(opts: ScaleClusterOptions): Promise<ScaleCluster> {
    const cluster = clusterName(opts.bench);
    const work = mkdtempSync(join(tmpdir(), `mesos-bench-${opts.bench}-`));
    let server: NatsServerHandle | undefined;
    let nc: NatsConnection | undefined;
    try {
      server = await startNatsServer({ storeDir: join(work, 'nats') });
      // The swarm and the framework share this connection: a disconnect loses their messages.
      nc = await connectNats({ servers: server.url, name: `bench-${opts.bench}`, logger: warnings(opts.bench), options: { waitOnFirstConnect: true } });
      const swarm = new AgentSwarm({ nc, cluster, count: opts.agents, resources: AGENT_RESOURCES });
      const c = new ScaleCluster(opts, work, server, nc, swarm, new KvLeaderDetector({ nc, cluster }));
      c.#stopOnSignals();
      swarm.start();
      c.detector.start((l) => {
        c.leader = l;
        c.changes.push({ at: performance.now(), ...(l ? { leader: l.pid } : {}) });
        swarm.leaderChanged(l);
        if (l) for (const w of c.#leaderWaiters.splice(0)) w(l);
      });
      return c;
    } catch (e) {
      await nc?.close().catch(() => {});
      await server?.stop();
      rmSync(work, { recursive: true, force: true });
      throw e;
    }
  }

  /** Starts a `mesos-master` and waits for it to log that it contends for leadership. */
  async startMaster(label: string, flags: readonly string[] = []): Promise<StartedMaster> {
    const proc = this.procs.start('mesos-master', [...this.#masterArgs, ...flags], { label });
    const line = await proc.waitForLine((t) => parseJsonLine(t)?.msg === 'master started; contending for leadership', MASTER_START_TIMEOUT_MS);
    const j = parseJsonLine(line.text)!;
    return { proc, pid: String(j.actorPid), http: String(j.http) };
  }

  /** Resolves with the leader once one leads that is not `pid`. */
  leaderOtherThan(pid?: string): Promise<LeaderInfo> {
    return new Promise<LeaderInfo>((resolve) => {
      if (this.leader && this.leader.pid !== pid) return resolve(this.leader);
      const w = (l: LeaderInfo) => (l.pid !== pid ? resolve(l) : this.#leaderWaiters.push(w));
      this.#leaderWaiters.push(w);
    });
  }

  /** No election happened after `from` (`performance.now()`). */
  leaseKept(from: number): boolean {
    return !this.changes.some((c) => c.at > from);
  }

  /** Asks `masterPid` for its metrics over the bus, as an operator. */
  async metricsOf(masterPid: string): Promise<Record<string, number>> {
    this.#operator ??= new OperatorClient(new NatsTransport(this.nc), this.cluster, 'bench');
    return (await this.#operator.request(masterPid, { type: 'GetMetrics', body: {} }, 'MetricsSnapshot', METRICS_TIMEOUT_MS)).metrics;
  }

  /**
   * A framework that launches `tasks` tasks, at most `perAgent` on each offer, then declines
   * everything for an hour. Not started: call `driver.start()`.
   */
  framework(tasks: number, perAgent: number): LaunchingFramework {
    let launched = 0;
    let running = 0;
    let offers = 0;
    let firstOfferAt = 0;
    let resolveDone: () => void = () => {};
    const done = new Promise<void>((r) => (resolveDone = r));
    if (tasks === 0) resolveDone();
    const driver = new SchedulerDriver({
      reregistered: (d) => d.reviveOffers(),
      resourceOffers: (d, list) => {
        offers += list.length;
        if (firstOfferAt === 0) firstOfferAt = performance.now();
        const decline: string[] = [];
        for (const offer of list) {
          const n = Math.min(perAgent, tasks - launched, Math.floor(scalar(offer.resources, 'cpus') / 0.1));
          if (n <= 0) {
            decline.push(offer.id);
            continue;
          }
          const infos: TaskInfo[] = Array.from({ length: n }, (_, i) => ({
            taskId: `t${launched + i}`, name: 't', agentId: offer.agentId, resources: parseResources(TASK_RESOURCES), command: { value: 'true' },
          }));
          launched += n;
          d.launchTasks([offer.id], infos, { refuseSeconds: 3600 });
        }
        d.declineOffers(decline, { refuseSeconds: 3600 });
      },
      statusUpdate: (_d, s) => {
        if (s.state === 'TASK_RUNNING' && ++running === tasks) resolveDone();
      },
    }, { name: 'bench', roles: ['*'], failoverTimeoutSeconds: 3600 }, {
      transport: new NatsTransport(this.nc), cluster: this.cluster, detector: new KvLeaderDetector({ nc: this.nc, cluster: this.cluster }), logger: silentLogger(),
    });
    this.#drivers.push(driver);
    return {
      driver,
      done,
      get running() {
        return running;
      },
      get offers() {
        return offers;
      },
      get firstOfferAt() {
        return firstOfferAt;
      },
      resetOffers() {
        offers = 0;
        firstOfferAt = 0;
      },
    };
  }

  /**
   * Runs a bench on this cluster and ends the process: prints the one JSON line `measure`
   * resolves with, or the failure and the processes' warnings (exit 1); stops everything either way.
   */
  async run(say: (msg: string) => void, measure: () => Promise<Record<string, unknown>>): Promise<never> {
    let result: Record<string, unknown> | undefined;
    try {
      result = await measure();
    } catch (e) {
      say(`failed: ${(e as Error).stack ?? String(e)}`);
      this.reportWarnings(say);
      process.exitCode = 1;
    } finally {
      await this.stop();
    }
    if (result) process.stdout.write(`${JSON.stringify(result)}\n`);
    return process.exit();
  }

  /** Writes the last warnings and errors each process logged (after a failure). */
  reportWarnings(say: (msg: string) => void, last = 20): void {
    for (const p of this.procs.processes) {
      const lines = p.texts().filter((t) => {
        const level = parseJsonLine(t)?.level;
        return typeof level === 'number' ? level >= 40 : !t.startsWith('{');
      });
      for (const t of lines.slice(-last)) say(`${p.name}: ${t.slice(0, 500)}`);
    }
  }

  /**
   * The swarm stands in for thousands of other machines: once the masters run, this process (the
   * swarm and the framework) yields the CPU to them, so that the emulation does not slow the
   * master being measured. Masters started earlier keep the default priority.
   */
  yieldToMasters(): void {
    try {
      setPriority(process.pid, 10);
      this.swarmNice = 10;
    } catch {
      this.swarmNice = 0;
    }
  }

  /**
   * Stops everything by PID — frameworks, swarm, masters (SIGTERM, SIGKILL after a grace), the
   * server — and removes the work dir. Never rejects; safe to call more than once.
   */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await Promise.allSettled(this.#drivers.map((d) => d.stop()));
      this.swarm.stop();
      await this.detector.stop().catch(() => {});
      await this.nc.close().catch(() => {});
      await this.procs.stopAll(KILL_AFTER_MS);
      await this.server.stop().catch(() => {});
      rmSync(this.#work, { recursive: true, force: true });
    })();
    return this.#stopping;
  }

  /** Ctrl-C (or a SIGTERM) ends the run without leaving a master or a server behind. */
  #stopOnSignals(): void {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.once(sig, () => {
        process.stderr.write(`${sig}: stopping the cluster\n`);
        void this.stop().finally(() => process.exit(128 + constants.signals[sig]));
      });
    }
  }
}

/** A logger for the bench's own connection: its warnings and errors go to stderr. */
function warnings(bench: string): LoggerLike {
  const say = sayer(bench);
  const text = (obj: unknown) => JSON.stringify(obj, (_k, v: unknown) => (v instanceof Error ? v.message : v));
  const line = (level: string) => (obj: unknown, msg?: string) => say(`${level}: ${msg ?? ''} ${text(obj)}`);
  const noop = () => {};
  return { debug: noop, info: noop, warn: line('warn'), error: line('error') };
}

function clusterName(bench: string): string {
  return `bench${bench.replace(/[^a-z0-9]/gi, '')}${process.pid}`;
}
