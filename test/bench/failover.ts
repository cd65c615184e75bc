/**
 * Failover at scale (`npm run bench:failover -- --agents 10000 --tasks 100000`): an agent swarm
 * (`test/helpers/agent-swarm.ts`, many emulated agents on the real wire protocol) registers with a
 * leading `mesos-master` process while a second one stands by; a framework in this process
 * launches `--tasks` tasks across the agents; then the leader is SIGKILLed.
 *
 * Prints one JSON line: `electedMs` (SIGKILL → the standby is seen to lead), `allReregisteredMs`
 * (SIGKILL → every agent answered by the new leader), `reregisteredAfterElectionMs`,
 * `firstOfferMs` (SIGKILL → the framework's first offer from the new leader), the new leader's RSS
 * and worst event-loop stall (from its metrics), and `leaseKept` (no election happened in the
 * `--watch` seconds after everything came back).
 *
 * `--boot-storm`: instead, `--agents` agents (50,000 by default) register with one leader at
 * once: `allRegisteredMs`, the leader's worst stall, `leaseKept`, then a new framework's
 * `firstOfferMs` and how many agents it was offered.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { NatsConnection } from '@nats-io/transport-node';
import { parseResources, scalar } from '../../protocols/resources.ts';
import type { TaskInfo } from '../../protocols/records.ts';
import { KvLeaderDetector } from '../../runtime/lease.ts';
import { silentLogger } from '../../runtime/log.ts';
import { startNatsServer } from '../../runtime/nats-server.ts';
import { OperatorClient } from '../../runtime/operator-client.ts';
import { SchedulerDriver } from '../../runtime/scheduler-driver.ts';
import { connectNats, NatsTransport } from '../../runtime/transport-nats.ts';
import type { LeaderInfo } from '../../runtime/types.ts';
import { AgentSwarm } from '../helpers/agent-swarm.ts';
import { ProcessRegistry, parseJsonLine, type ManagedProcess } from '../helpers/processes.ts';

const { values } = parseArgs({
  options: {
    agents: { type: 'string' },
    tasks: { type: 'string' },
    'boot-storm': { type: 'boolean', default: false },
    watch: { type: 'string', default: '10' },
    'master-flags': { type: 'string', default: '' },
  },
});
const int = (name: string, v: string | undefined, d: number): number => {
  const n = v === undefined ? d : Number(v);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`bench:failover: invalid --${name} '${v}': expected a whole number\n`);
    process.exit(2);
  }
  return n;
};
const bootStorm = values['boot-storm'];
const agentCount = int('agents', values.agents, bootStorm ? 50_000 : 10_000);
const taskCount = int('tasks', values.tasks, bootStorm ? 0 : 100_000);
const watchMs = int('watch', values.watch, 10) * 1000;
const say = (msg: string) => process.stderr.write(`[bench:failover ${(performance.now() / 1000).toFixed(1)}s] ${msg}\n`);
const cluster = `benchfail${process.pid}`;
const work = mkdtempSync(join(tmpdir(), 'mesos-bench-failover-'));
const server = await startNatsServer({ storeDir: join(work, 'nats') });
const procs = new ProcessRegistry();
// The figure is failover's, not identity's: the bench's own server has no users.
const common = [`--nats=${server.url}`, `--cluster=${cluster}`, '--insecure', '--log_level=info', ...values['master-flags'].split(' ').filter(Boolean)];

async function master(label: string): Promise<{ proc: ManagedProcess; pid: string }> {
  const proc = procs.start('mesos-master', [...common, '--agent_reregister_timeout=10mins'], { label });
  const line = await proc.waitForLine((t) => parseJsonLine(t)?.msg === 'master started; contending for leadership', 60_000);
  return { proc, pid: String(parseJsonLine(line.text)!.actorPid) };
}

const nc = await connectNats({ servers: server.url, name: 'bench-failover', options: { waitOnFirstConnect: true } });
const swarm = new AgentSwarm({ nc, cluster, count: agentCount, resources: 'cpus:4;mem:8192' });
swarm.start();

// Who leads, and every change of it.
let leader: LeaderInfo | undefined;
const changes: Array<{ at: number; leader?: string }> = [];
const leaderWaiters: Array<(l: LeaderInfo) => void> = [];
const detector = new KvLeaderDetector({ nc, cluster });
detector.start((l) => {
  leader = l;
  changes.push({ at: performance.now(), ...(l ? { leader: l.pid } : {}) });
  swarm.leaderChanged(l);
  if (l) for (const w of leaderWaiters.splice(0)) w(l);
});
const leaderOtherThan = (pid?: string) => new Promise<LeaderInfo>((resolve) => {
  if (leader && leader.pid !== pid) return resolve(leader);
  const w = (l: LeaderInfo) => (l.pid !== pid ? resolve(l) : leaderWaiters.push(w));
  leaderWaiters.push(w);
});

/** Asks `masterPid` for its metrics over the bus, as an operator. */
let operator: OperatorClient | undefined;
async function metricsOf(masterPid: string): Promise<Record<string, number>> {
  operator ??= new OperatorClient(new NatsTransport(nc), cluster, 'bench');
  return (await operator.request(masterPid, { type: 'GetMetrics', body: {} }, 'MetricsSnapshot', 30_000)).metrics;
}

/** The framework: launches `taskCount` tasks, `perAgent` per offer, then asks for nothing more. */
function framework(perAgent: number) {
  let launched = 0;
  let running = 0;
  let offers = 0;
  let firstOfferAt = 0;
  let allRunning: () => void = () => {};
  const done = new Promise<void>((r) => (allRunning = r));
  const transport = new NatsTransport(nc);
  const driver = new SchedulerDriver({
    reregistered: (d) => d.reviveOffers(),
    resourceOffers: (d, list) => {
      offers += list.length;
      if (firstOfferAt === 0) firstOfferAt = performance.now();
      const decline: string[] = [];
      for (const offer of list) {
        const n = Math.min(perAgent, taskCount - launched, Math.floor(scalar(offer.resources, 'cpus') / 0.1));
        if (n <= 0) {
          decline.push(offer.id);
          continue;
        }
        const tasks: TaskInfo[] = Array.from({ length: n }, (_, i) => ({
          taskId: `t${launched + i}`, name: 't', agentId: offer.agentId, resources: parseResources('cpus:0.1;mem:32'), command: { value: 'true' },
        }));
        launched += n;
        d.launchTasks([offer.id], tasks, { refuseSeconds: 3600 });
      }
      d.declineOffers(decline, { refuseSeconds: 3600 });
    },
    statusUpdate: (_d, s) => {
      if (s.state === 'TASK_RUNNING' && ++running === taskCount) allRunning();
    },
  }, { name: 'bench', roles: ['*'], failoverTimeoutSeconds: 3600 }, {
    transport, cluster, detector: new KvLeaderDetector({ nc, cluster }), logger: silentLogger(),
  });
  return {
    driver,
    done,
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

/** No election happened for `ms` after `from`. */
function leaseKept(from: number): boolean {
  return !changes.some((c) => c.at > from);
}

const waitFor = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** CPU seconds a process has used (user + system, all threads), from /proc. */
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').slice(readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}
/**
 * The swarm stands in for thousands of other machines: once the masters run, this process (the
 * swarm and the framework) yields the CPU to them, so that the emulation does not slow the master
 * being measured. Reported as `swarmNice`.
 */
let swarmNice = 0;
function lowerOwnPriority(): void {
  try {
    setPriority(process.pid, 10);
    swarmNice = 10;
  } catch {
    swarmNice = 0;
  }
}
const mb = (b: number | undefined) => (b === undefined ? null : Math.round(b / 1e6));
let result: Record<string, unknown>;

if (bootStorm) {
  const m = await master('master');
  lowerOwnPriority();
  const l = await leaderOtherThan();
  say(`leader ${l.pid}; ${agentCount} agents register at once`);
  const t0 = performance.now();
  await swarm.registered();
  const allRegisteredMs = performance.now() - t0;
  say(`all registered after ${Math.round(allRegisteredMs)} ms`);
  const settled = performance.now();
  await waitFor(watchMs); // the measurement window: did the leader keep its lease under the storm?
  const fw = framework(0);
  const s0 = performance.now();
  fw.driver.start();
  while (fw.offers < agentCount && performance.now() - s0 < 120_000) await waitFor(100);
  const metrics = await metricsOf(l.pid);
  result = {
    mode: 'boot-storm',
    agents: agentCount,
    allRegisteredMs: Math.round(allRegisteredMs),
    registrationsSent: swarm.stats().registrationsSent,
    leaseKept: leaseKept(t0) && m.proc.running,
    firstOfferMs: Math.round(fw.firstOfferAt - s0),
    agentsOffered: fw.offers,
    leaderRssMb: mb(metrics['system/mem_rss_bytes']),
    worstStallMs: Math.round(metrics['master/event_loop_delay_max_ms'] ?? -1),
    stallP99Ms: Math.round(metrics['master/event_loop_delay_p99_ms'] ?? -1),
    settledAt: Math.round(settled - t0),
    swarmNice,
  };
  await fw.driver.stop().catch(() => {});
} else {
  const a = await master('master-a');
  const la = await leaderOtherThan();
  const b = await master('master-b');
  lowerOwnPriority();
  say(`leader ${la.pid}, standby ${b.pid}; registering ${agentCount} agents`);
  const r0 = performance.now();
  await swarm.registered();
  say(`all registered after ${Math.round(performance.now() - r0)} ms; launching ${taskCount} tasks`);
  const fw = framework(Math.ceil(taskCount / agentCount));
  const l0 = performance.now();
  fw.driver.start();
  await fw.done;
  say(`${taskCount} tasks running after ${Math.round(performance.now() - l0)} ms; SIGKILL the leader`);
  fw.resetOffers();
  swarm.prepare();
  const cpu0 = { master: cpuSeconds(b.proc.pid), bench: cpuSeconds(process.pid), nats: cpuSeconds(server.pid) };
  const sent0 = swarm.stats().registrationsSent;
  const killAt = performance.now();
  a.proc.signal('SIGKILL');
  const lb = await leaderOtherThan(la.pid);
  const electedAt = performance.now();
  say(`new leader ${lb.pid} after ${Math.round(electedAt - killAt)} ms`);
  await swarm.registered();
  const allAt = swarm.lastAnsweredAt();
  const cpu = {
    master: +(cpuSeconds(b.proc.pid) - cpu0.master).toFixed(2),
    benchAndSwarm: +(cpuSeconds(process.pid) - cpu0.bench).toFixed(2),
    nats: +(cpuSeconds(server.pid) - cpu0.nats).toFixed(2),
  };
  say(`all re-registered ${Math.round(allAt - killAt)} ms after the kill`);
  const o0 = performance.now();
  while (fw.firstOfferAt === 0 && performance.now() - o0 < 60_000) await waitFor(50);
  await waitFor(watchMs); // the measurement window: does the new leader keep its lease?
  const metrics = await metricsOf(lb.pid);
  // From the new leader's own log: when it won, when its registry was read.
  const logTime = (msg: RegExp) => {
    const j = b.proc.json().find((x) => typeof x.msg === 'string' && msg.test(x.msg));
    return typeof j?.time === 'number' ? j.time : undefined;
  };
  const wonAt = logTime(/^elected leading master$/);
  const readAt = logTime(/^Recovered the registry/);
  const servingAt = logTime(/^Serving: /);
  result = {
    mode: 'failover',
    agents: agentCount,
    tasks: taskCount,
    electedMs: Math.round(electedAt - killAt),
    allReregisteredMs: Math.round(allAt - killAt),
    reregisteredAfterElectionMs: Math.round(allAt - electedAt),
    firstOfferMs: fw.firstOfferAt > 0 ? Math.round(fw.firstOfferAt - killAt) : null,
    reregistrationsSent: swarm.stats().registrationsSent - sent0,
    leaseKept: leaseKept(electedAt + 1) && b.proc.running,
    leaderRssMb: mb(metrics['system/mem_rss_bytes']),
    worstStallMs: Math.round(metrics['master/event_loop_delay_max_ms'] ?? -1),
    stallP99Ms: Math.round(metrics['master/event_loop_delay_p99_ms'] ?? -1),
    tasksRunningAtNewLeader: metrics['master/tasks_running'],
    registryReadMs: wonAt !== undefined && readAt !== undefined ? readAt - wonAt : null,
    servingAfterElectionMs: wonAt !== undefined && servingAt !== undefined ? servingAt - wonAt : null,
    retriesAnsweredFromCache: metrics['master/slave_reregistration_retries'] ?? 0,
    repeatsAnsweredUnread: metrics['bus/repeats_answered'] ?? 0,
    cpuSecondsUntilAllReregistered: cpu,
    deferred: metrics['master/messages_deferred'] ?? 0,
    swarmNice,
  };
  await fw.driver.stop().catch(() => {});
}

swarm.stop();
await detector.stop();
await (nc as NatsConnection).close().catch(() => {});
await procs.stopAll(3000);
await server.stop();
rmSync(work, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
