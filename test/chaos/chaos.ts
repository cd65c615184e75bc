/**
 * Chaos: a framework keeps `--inflight` short jobs running on a multi-process cluster (its own
 * nats-server, three masters, `--agents` agents) while the leading master is SIGKILLed every
 * `--kill-every` seconds (a new standby started each time) and agents are frozen (SIGSTOP) and
 * thawed (SIGCONT) every `--freeze-every` seconds, some for longer than their ping timeout, and
 * (with `--agents-kill-every`) an agent is SIGKILLed and started again on its work dir after a
 * moment, its framework checkpointing so that its tasks run on through the restart. A period of 0
 * turns that kind of chaos off.
 *
 * Every job appends `start` and `end` lines to a journal from inside its task, so the run can be
 * checked against what really happened, not against what the cluster says:
 * - `falseLost`: a task reported lost (TASK_LOST, _GONE, _DROPPED, _UNKNOWN) that in fact ran;
 * - `ranTwice`: a job whose command started more than once;
 * - `lostUpdates`: a task that ran to its end without the framework ever hearing TASK_FINISHED;
 * - `overAllocations`: moments when the tasks really running on an agent (from the journal: each
 *   task writes when it starts and ends, and from which agent's sandbox) held more cpus than the
 *   agent has;
 * - `overLaunches`: launches onto an agent whose tasks launched and not yet seen to end (from a
 *   tap on the bus) would hold more cpus than it has. The master's view, not the host's: a task
 *   sent to an agent that was down, never started and is dropped when the agent comes back counts
 *   here until its drop is seen, though it never ran;
 * - `failoverMs`: from each SIGKILL of the leader to a new leader being seen (min/median/max).
 *
 * The framework is partition-aware: TASK_UNREACHABLE means "wait", a loss means "run it again".
 * After `--minutes` the chaos stops and the run waits (bounded) for the jobs in flight to end.
 *
 * Prints one JSON line. `npm run chaos -- --minutes 10 --kill-every 20 --inflight 20`;
 * `npm run chaos -- --minutes 5 --agents-kill-every 15 --kill-every 0 --freeze-every 0`.
 */
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Packr } from 'msgpackr';
import { parseResources, scalar } from '../../protocols/resources.ts';
import { isTerminalState, type TaskState } from '../../protocols/task-states.ts';
import { KvLeaderDetector } from '../../runtime/lease.ts';
import { silentLogger } from '../../runtime/log.ts';
import { startNatsServer } from '../../runtime/nats-server.ts';
import { TestPrincipals } from '../helpers/principals.ts';
import { SchedulerDriver } from '../../runtime/scheduler-driver.ts';
import { connectNats, NatsTransport } from '../../runtime/transport-nats.ts';
import type { LeaderInfo } from '../../runtime/types.ts';
import { ProcessRegistry, findProcesses, killProcesses, parseJsonLine, type ManagedProcess } from '../helpers/processes.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    inflight: { type: 'string', default: '20' },
    'kill-every': { type: 'string', default: '20' },
    'freeze-every': { type: 'string', default: '25' },
    'agents-kill-every': { type: 'string', default: '0' },
    agents: { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
    verbose: { type: 'boolean', default: false },
  },
});
const num = (name: string, v: string | undefined, min: number): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) {
    process.stderr.write(`chaos: invalid --${name} '${v}': expected a number of at least ${min}\n`);
    process.exit(2);
  }
  return n;
};
const minutes = num('minutes', values.minutes, 0.1);
const inflight = num('inflight', values.inflight, 1);
const killEveryMs = num('kill-every', values['kill-every'], 0) * 1000;
const freezeEveryMs = num('freeze-every', values['freeze-every'], 0) * 1000;
const agentKillEveryMs = num('agents-kill-every', values['agents-kill-every'], 0) * 1000;
const agentCount = num('agents', values.agents, 1);
let rand = num('seed', values.seed, 0) >>> 0 || 1;
/** xorshift32: the same schedule for the same seed. */
const random = () => {
  rand ^= rand << 13;
  rand >>>= 0;
  rand ^= rand >>> 17;
  rand ^= rand << 5;
  rand >>>= 0;
  return rand / 0x1_0000_0000;
};
const verbose = values.verbose;
const note = (msg: string) => {
  if (verbose) process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
};

const PING_MS = 2000;
const PING_MISSES = 3;
const AGENT_CPUS = 2;
const TASK_CPUS = 0.5;
const cluster = `chaos-${process.pid}`;
const work = mkdtempSync(join(tmpdir(), 'mesos-chaos-'));
const journal = join(work, 'journal.log');
appendFileSync(journal, '');
const procs = new ProcessRegistry();
// Secured as the project ships: every process and connection acts as its own principal.
const principals = new TestPrincipals(cluster, work);
const server = await startNatsServer({ storeDir: join(work, 'nats'), config: principals.serverConfig });
const common = [`--nats=${server.url}`, `--cluster=${cluster}`, '--log_level=info'];

// ── the cluster ────────────────────────────────────────────────────────────────────────────

const masters: Array<{ proc: ManagedProcess; pid: string }> = [];
let masterSeq = 0;
async function startMaster(): Promise<void> {
  const proc = procs.start('mesos-master', [
    ...common, principals.flag('master'), '--port=0', '--allocation_interval=500ms',
    `--agent_ping_timeout=${PING_MS}ms`, `--max_agent_ping_timeouts=${PING_MISSES}`,
    '--framework_heartbeat_interval=2secs', '--max_framework_heartbeat_misses=5',
    '--agent_reregister_timeout=120secs',
  ], { label: `master${++masterSeq}` });
  const line = await proc.waitForLine((t) => parseJsonLine(t)?.msg === 'master started; contending for leadership', 60_000);
  masters.push({ proc, pid: String(parseJsonLine(line.text)!.actorPid) });
}
const agents: ManagedProcess[] = [];
function startAgent(i: number): ManagedProcess {
  const p = procs.start('mesos-agent', [
    ...common, principals.flag('agent'), `--resources=cpus:${AGENT_CPUS};mem:4096`, `--work_dir=${join(work, `agent${i}`)}`, '--port=0', '--registration_backoff_factor=500ms',
    '--executor_shutdown_grace_period=1secs',
    // A loaded host may take a while to answer; what is measured is loss, not speed.
    '--executor_reregistration_timeout=30secs',
  ], { label: `agent${i}${agents[i] ? '-again' : ''}` });
  agents[i] = p;
  // An agent ends only when the chaos kills it: any other exit is a crash, counted and explained.
  void p.exited.then((st) => {
    if (killed.has(p) || stopping) return;
    agentCrashes.push(`${p.name} exited ${st.code ?? st.signal}: ${p.texts('stderr').slice(-3).join(' | ').slice(0, 300)}`);
  });
  return p;
}
const killed = new Set<ManagedProcess>();
const agentCrashes: string[] = [];
let stopping = false;
for (let i = 0; i < 3; i++) await startMaster();
for (let i = 0; i < agentCount; i++) startAgent(i);
await Promise.all(agents.map((a) => a.waitForLine((t) => parseJsonLine(t)?.msg === 'agent registered', 120_000)));

// The tap reads the whole cluster's bus as an observer; the framework is a principal of its own.
const nc = await connectNats({ servers: server.url, name: 'chaos-tap', options: { waitOnFirstConnect: true, ...principals.connectionOptions('observer') } });
const frameworkNc = await connectNats({ servers: server.url, name: 'chaos-framework', options: { waitOnFirstConnect: true, ...principals.connectionOptions('scheduler') } });

// ── who leads ──────────────────────────────────────────────────────────────────────────────

let leader: LeaderInfo | undefined;
const leaderWaiters: Array<(l: LeaderInfo) => void> = [];
const detector = new KvLeaderDetector({ nc, cluster });
detector.start((l) => {
  leader = l;
  note(`leader: ${l ? `${l.pid} (epoch ${l.epoch})` : 'none'}`);
  if (l) for (const w of leaderWaiters.splice(0)) w(l);
});
const nextLeader = (notPid: string) => new Promise<LeaderInfo>((resolve) => {
  if (leader && leader.pid !== notPid) return resolve(leader);
  const w = (l: LeaderInfo) => (l.pid !== notPid ? resolve(l) : leaderWaiters.push(w));
  leaderWaiters.push(w);
});

// ── the bus tap: cpus launched on each agent and not yet ended ─────────────────────────────

const unpacker = new Packr({ useRecords: false, variableMapSize: true });
const live = new Map<string, Map<string, number>>(); // agent PID → task → cpus
const agentOfTask = new Map<string, string>();
let overLaunches = 0;
const endTask = (taskKey: string) => {
  const agent = agentOfTask.get(taskKey);
  if (agent) live.get(agent)?.delete(taskKey);
  agentOfTask.delete(taskKey);
};
nc.subscribe(`mesos.${cluster}.>`, {
  callback: (err, msg) => {
    if (err) return;
    const parts = msg.subject.split('.');
    if (parts.length !== 8) return;
    const [, , toKind, , toId, type, fromKind] = parts;
    let env: { body?: any } | undefined;
    try {
      env = unpacker.unpack(msg.data) as { body?: any };
    } catch {
      return;
    }
    const body = env?.body;
    if (type === 'RunTask' && fromKind === 'master' && toKind === 'agent') {
      const agent = `${toKind}.${toId}`;
      const key = `${body.frameworkId}/${body.task.taskId}`;
      const cpus = scalar(body.task.resources, 'cpus');
      let m = live.get(agent);
      if (!m) live.set(agent, (m = new Map()));
      m.set(key, cpus);
      agentOfTask.set(key, agent);
      let sum = 0;
      for (const c of m.values()) sum += c;
      if (sum > AGENT_CPUS + 1e-9) {
        overLaunches++;
        note(`over-allocation on ${agent}: ${sum} cpus in ${[...m.keys()].join(', ')}`);
      }
    } else if (type === 'StatusUpdate' && body?.update) {
      const u = body.update;
      const state = (u.latestState ?? u.status?.state) as TaskState;
      if (isTerminalState(state)) endTask(`${u.frameworkId}/${u.status.taskId}`);
    } else if (type === 'ReregisterAgent' && Array.isArray(body?.tasks)) {
      // A restarted agent reports tasks that ended while it was away in their terminal state: the
      // master frees their resources from this report, before their updates are sent again.
      // (Executors talk to their agent off the bus, so this is the first the tap hears of it.)
      for (const task of body.tasks) if (isTerminalState(task.state as TaskState)) endTask(`${task.frameworkId}/${task.taskId}`);
    }
  },
});

// ── the framework ──────────────────────────────────────────────────────────────────────────

interface Job { id: string; attempts: number; task?: string; agentId?: string; done: boolean; waiting: boolean }
const jobs = new Map<string, Job>();
const taskJob = new Map<string, Job>();
const reported = new Map<string, TaskState[]>();
/** Tasks whose end the framework acted on. */
const acted = new Set<string>();
/** When the framework heard each task end (ns, as the journal counts): the end of a task killed before it wrote its own. */
const heardEnd = new Map<string, bigint>();
/** Every update of each task, `state reason source`, to explain any harm counted. */
const history = new Map<string, string[]>();
let launched = 0;
let finished = 0;
let jobSeq = 0;
let running = true;
const pending: Job[] = [];
let allDone: () => void = () => {};
const drained = new Promise<void>((resolve) => (allDone = resolve));
const LOST: ReadonlySet<string> = new Set(['TASK_LOST', 'TASK_GONE', 'TASK_DROPPED', 'TASK_UNKNOWN', 'TASK_GONE_BY_OPERATOR']);

function newJob(): void {
  const job: Job = { id: `job-${++jobSeq}`, attempts: 0, done: false, waiting: true };
  jobs.set(job.id, job);
  pending.push(job);
}
for (let i = 0; i < inflight; i++) newJob();

const transport = new NatsTransport(frameworkNc);
const driver = new SchedulerDriver({
  resourceOffers: (d, offers) => {
    for (const offer of offers) {
      const tasks = [];
      let cpus = scalar(offer.resources, 'cpus');
      while (pending.length > 0 && cpus >= TASK_CPUS - 1e-9) {
        const job = pending.shift()!;
        job.attempts++;
        job.waiting = false;
        const taskId = `${job.id}.${job.attempts}`;
        job.task = taskId;
        job.agentId = offer.agentId;
        taskJob.set(taskId, job);
        const sleep = (1 + Math.floor(random() * 3)).toFixed(0);
        tasks.push({
          taskId, name: taskId, agentId: offer.agentId, resources: parseResources(`cpus:${TASK_CPUS};mem:64`),
          command: { value: `echo "start ${job.id} ${taskId} $(date +%s%N) $PWD" >> ${journal}; sleep ${sleep}; echo "end ${job.id} ${taskId} $(date +%s%N) $PWD" >> ${journal}` },
        });
        cpus -= TASK_CPUS;
        launched++;
      }
      if (tasks.length > 0) d.launchTasks([offer.id], tasks, { refuseSeconds: 0 });
      else d.declineOffer(offer.id, { refuseSeconds: 1 });
    }
  },
  statusUpdate: (d, s) => {
    if (isTerminalState(s.state) && !heardEnd.has(s.taskId)) heardEnd.set(s.taskId, BigInt(Date.now()) * 1_000_000n);
    const list = reported.get(s.taskId) ?? [];
    list.push(s.state);
    reported.set(s.taskId, list);
    history.set(s.taskId, [...(history.get(s.taskId) ?? []), [s.state, s.reason, s.source].filter(Boolean).join(' ')]);
    const job = taskJob.get(s.taskId);
    if (!job || job.done || job.task !== s.taskId) return;
    // Updates come at least once: a task's end is acted on once.
    if (isTerminalState(s.state)) {
      if (acted.has(s.taskId)) return;
      acted.add(s.taskId);
    }
    if (s.state === 'TASK_FINISHED') {
      job.done = true;
      finished++;
      if (running) newJob();
      else if ([...jobs.values()].every((j) => j.done)) allDone();
      d.reviveOffers();
    } else if (LOST.has(s.state) || s.state === 'TASK_FAILED' || s.state === 'TASK_ERROR' || s.state === 'TASK_KILLED') {
      note(`${s.taskId}: ${s.state} (${s.reason ?? ''}: ${s.message ?? ''}); running the job again`);
      if (verbose) for (const p of procs.processes) for (const l of p.texts('stdout').filter((x) => x.includes(s.taskId))) note(`  ${p.name}: ${l.slice(0, 400)}`);
      job.waiting = true;
      pending.push(job);
      d.reviveOffers();
    }
  },
}, { name: 'chaos', roles: ['*'], principal: 'framework', failoverTimeoutSeconds: 3600, capabilities: ['PARTITION_AWARE'], ...(agentKillEveryMs > 0 ? { checkpoint: true } : {}) }, {
  transport, cluster, detector: new KvLeaderDetector({ nc: frameworkNc, cluster }), logger: silentLogger(), flags: { heartbeatIntervalMs: 2000 },
});
driver.start();
// Now and then the framework asks about every task it launched and heard nothing final of.
const reconcile = setInterval(() => {
  const statuses = [...taskJob.entries()].filter(([task, job]) => !job.done && job.task === task).map(([taskId, job]) => ({ taskId, ...(job.agentId ? { agentId: job.agentId } : {}) }));
  if (statuses.length > 0) driver.reconcileTasks(statuses);
}, 15_000);

// ── the chaos ──────────────────────────────────────────────────────────────────────────────

const failoverMs: number[] = [];
let kills = 0;
let freezes = 0;
let agentKills = 0;
const timers: NodeJS.Timeout[] = [];

async function killLeader(): Promise<void> {
  const l = leader;
  if (!l) return;
  const m = masters.find((x) => x.pid === l.pid && x.proc.running);
  if (!m) return;
  const at = Date.now();
  m.proc.signal('SIGKILL');
  kills++;
  note(`SIGKILL leader ${l.pid}`);
  void startMaster();
  const next = await nextLeader(l.pid);
  failoverMs.push(Date.now() - at);
  note(`new leader ${next.pid} after ${Date.now() - at} ms`);
}

function freezeAgent(): void {
  const live = agents.filter((a) => a.running);
  if (live.length === 0) return;
  const a = live[Math.floor(random() * live.length)]!;
  // Half the freezes outlast the ping timeout (the agent is marked unreachable), half do not.
  const ms = random() < 0.5 ? 1000 + random() * 3000 : PING_MS * PING_MISSES + 2000 + random() * 6000;
  a.signal('SIGSTOP');
  frozen.add(a);
  freezes++;
  note(`SIGSTOP ${a.name} for ${Math.round(ms)} ms`);
  timers.push(setTimeout(() => {
    a.signal('SIGCONT');
    frozen.delete(a);
    note(`SIGCONT ${a.name}`);
  }, ms));
}

/** SIGKILLs an agent that is not frozen and starts it again on its work dir after a moment. */
async function killAgent(): Promise<void> {
  const candidates = agents.map((a, i) => [a, i] as const).filter(([a]) => a.running && !frozen.has(a));
  if (candidates.length === 0) return;
  const [a, i] = candidates[Math.floor(random() * candidates.length)]!;
  const downMs = 500 + random() * 2500;
  killed.add(a);
  a.signal('SIGKILL');
  agentKills++;
  note(`SIGKILL ${a.name}; starting it again in ${Math.round(downMs)} ms`);
  await a.waitForExit(30_000).catch(() => {});
  await new Promise((r) => setTimeout(r, downMs));
  startAgent(i); // also after the chaos stopped: its tasks must finish
}
const frozen = new Set<ManagedProcess>();

if (killEveryMs > 0) timers.push(setInterval(() => void killLeader(), killEveryMs));
if (freezeEveryMs > 0) timers.push(setInterval(freezeAgent, freezeEveryMs));
if (agentKillEveryMs > 0) timers.push(setInterval(() => void killAgent(), agentKillEveryMs));
await new Promise<void>((resolve) => setTimeout(resolve, minutes * 60_000));

// ── drain and count ────────────────────────────────────────────────────────────────────────

running = false;
for (const t of timers) clearInterval(t);
for (const a of agents) a.signal('SIGCONT');
if ([...jobs.values()].every((j) => j.done)) allDone();
await Promise.race([drained, new Promise<void>((resolve) => setTimeout(resolve, 180_000))]);
clearInterval(reconcile);

const starts = new Map<string, Set<string>>();
const ended = new Set<string>();
const ran = new Set<string>();
/** Per agent (its work dir's index, from the sandbox path): +cpus at each start, −cpus at each end. */
const steps = new Map<string, Array<[bigint, number]>>();
/** The agent each task started on. */
const startedOn = new Map<string, string>();
for (const line of readFileSync(journal, 'utf8').split('\n')) {
  const [what, job, task, at, dir] = line.split(' ');
  if (!job || !task) continue;
  const agent = /\/agent(\d+)\//.exec(dir ?? '')?.[1];
  if (agent !== undefined && at && /^\d+$/.test(at)) {
    const list = steps.get(agent) ?? [];
    list.push([BigInt(at), what === 'start' ? TASK_CPUS : -TASK_CPUS]);
    steps.set(agent, list);
    if (what === 'start') startedOn.set(task, agent);
  }
  if (what === 'start') {
    ran.add(task);
    const s = starts.get(job) ?? new Set();
    s.add(task);
    starts.set(job, s);
  } else if (what === 'end') {
    ended.add(task);
  }
}
// A task killed before it wrote its end (its executor destroyed) ended when the framework heard so.
for (const [task, agent] of startedOn) {
  const at = heardEnd.get(task);
  if (!ended.has(task) && at !== undefined) steps.get(agent)?.push([at, -TASK_CPUS]);
}
let overAllocations = 0;
for (const list of steps.values()) {
  // Ends sort before starts at the same instant: a task ending as another starts is no overlap.
  list.sort((a, b) => (a[0] === b[0] ? a[1] - b[1] : a[0] < b[0] ? -1 : 1));
  let cpus = 0;
  for (const [, d] of list) {
    cpus += d;
    if (d > 0 && cpus > AGENT_CPUS + 1e-9) overAllocations++;
  }
}
let falseLost = 0;
for (const [task, states] of reported) if (ran.has(task) && states.some((s) => LOST.has(s))) falseLost++;
let ranTwice = 0;
const twice: Array<Record<string, string[]>> = [];
for (const s of starts.values()) {
  if (s.size <= 1) continue;
  ranTwice++;
  if (twice.length < 5) twice.push(Object.fromEntries([...s].map((task) => [task, history.get(task) ?? []])));
}
const lostButRan: Array<Record<string, string[]>> = [];
for (const [task, states] of reported) if (ran.has(task) && states.some((s) => LOST.has(s)) && lostButRan.length < 5) lostButRan.push({ [task]: history.get(task) ?? [] });
let lostUpdates = 0;
for (const task of ended) if (!(reported.get(task) ?? []).includes('TASK_FINISHED')) lostUpdates++;
const unfinishedJobs = [...jobs.values()].filter((j) => !j.done);
/** The last lines of the live masters' and agents' logs that mention `what`, and the leader's last lines. */
function logLinesAbout(what: string): string[] {
  const lines: string[] = [];
  for (const p of [...masters.map((m) => m.proc), ...agents]) {
    if (!p.running) continue;
    for (const l of p.texts('stdout').filter((x) => x.includes(what)).slice(-5)) lines.push(`${p.name}: ${l.slice(0, 300)}`);
  }
  const lead = masters.find((m) => m.pid === leader?.pid && m.proc.running);
  if (lead) for (const l of lead.proc.texts('stdout').slice(-8)) lines.push(`leader ${lead.proc.name}: ${l.slice(0, 300)}`);
  return lines;
}
const unfinished = unfinishedJobs.length;
const sorted = [...failoverMs].sort((a, b) => a - b);
const result = {
  minutes,
  inflight,
  killEverySeconds: killEveryMs / 1000,
  agents: agentCount,
  jobs: jobs.size,
  launched,
  finished,
  unfinished,
  falseLost,
  ranTwice,
  lostUpdates,
  overAllocations,
  overLaunches,
  kills,
  freezes,
  agentKills,
  agentCrashes: agentCrashes.length,
  ...(agentCrashes.length > 0 ? { agentCrashLines: agentCrashes.slice(0, 5) } : {}),
  failoverMs: sorted.length > 0 ? { min: sorted[0], median: sorted[Math.floor(sorted.length / 2)], max: sorted.at(-1) } : null,
  // The updates of (at most five) jobs that ran twice and tasks reported lost that ran.
  ...(twice.length > 0 ? { ranTwiceUpdates: twice } : {}),
  ...(lostButRan.length > 0 ? { falseLostUpdates: lostButRan } : {}),
  ...(unfinished > 0 ? { unfinishedJobs: unfinishedJobs.slice(0, 5).map((j) => ({ job: j.id, waiting: j.waiting, task: j.task, agent: j.agentId, updates: j.task ? history.get(j.task) ?? [] : [], log: logLinesAbout(j.task ?? j.id) })) } : {}),
};

// ── clean up (by PID) ──────────────────────────────────────────────────────────────────────

stopping = true;
if (process.env.CHAOS_KEEP) procs.processes.forEach((p, i) => writeFileSync(join(work, `${i}-${p.name}.log`), p.texts('stdout').join('\n')));
await driver.stop().catch(() => {});
await detector.stop();
await nc.close().catch(() => {});
await frameworkNc.close().catch(() => {});
for (const a of agents) a.signal('SIGCONT');
await procs.stopAll(3000);
killProcesses(findProcesses([cluster, work]));
await server.stop();
if (process.env.CHAOS_KEEP) process.stderr.write(`kept ${work}\n`);
else rmSync(work, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
