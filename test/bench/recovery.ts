/**
 * Agent recovery benchmark (`npm run bench:recovery -- --executors 500`): one `mesos-agent`
 * process runs `--executors` command tasks (one executor each) of a checkpointing framework; it is
 * SIGKILLed and started again on its work dir.
 *
 * Prints one JSON line:
 * - `agentStartMs`: restart (spawn) → the new agent process logs that it started (Node start-up,
 *   reading its checkpoints, taking back its containers);
 * - `recoveredMs`: restart → every executor re-registered with it (its recovery is over);
 * - `reregisteredMs`: restart → the master answered its re-registration, which reports every task;
 * - `tasksEnded`: tasks that ended around the restart (0 is right), and `executorsRecovered`.
 *
 * Each executor is a Node.js process (about 30 MB each): 500 need about 15 GB of memory. The
 * executors are started before the clock starts, 50 at a time; their start-up is not measured.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import type { TaskInfo } from '../../protocols/records.ts';
import { parseResources } from '../../protocols/resources.ts';
import { isTerminalState } from '../../protocols/task-states.ts';
import { KvLeaderDetector } from '../../runtime/lease.ts';
import { silentLogger } from '../../runtime/log.ts';
import { startNatsServer } from '../../runtime/nats-server.ts';
import { SchedulerDriver } from '../../runtime/scheduler-driver.ts';
import { connectNats, NatsTransport } from '../../runtime/transport-nats.ts';
import { ProcessRegistry, parseJsonLine, type ManagedProcess } from '../helpers/processes.ts';

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: {
    executors: { type: 'string', default: '100' },
    'timeout-ms': { type: 'string', default: '600000' },
  },
  strict: true,
});
const executors = Number(flags.executors);
const timeoutMs = Number(flags['timeout-ms']);
if (!(Number.isInteger(executors) && executors > 0)) {
  process.stderr.write(`bench:recovery: bad --executors '${flags.executors}'\n`);
  process.exit(2);
}
/** Executors launched at a time while the agent is set up (not measured). */
const WAVE = 50;
const say = (msg: string): void => {
  process.stderr.write(`[bench:recovery] ${msg}\n`);
};

// The executors run from the bundle, as on a deployed agent (the bench does not time tsx).
spawnSync(process.execPath, [join(import.meta.dirname, '..', '..', 'scripts', 'build.mjs')], { stdio: 'ignore' });

const cluster = `benchrecovery${process.pid}`;
const work = mkdtempSync(join(tmpdir(), 'bench-recovery-'));
const server = await startNatsServer({ storeDir: join(work, 'nats') });
const procs = new ProcessRegistry();
// The figure is recovery's, not identity's: the bench's own server has no users.
const common = [`--nats=${server.url}`, `--cluster=${cluster}`, '--insecure', '--log_level=info'];
const workDir = join(work, 'agent');
const agentArgs = [
  ...common,
  `--work_dir=${workDir}`,
  '--port=0',
  `--resources=cpus:${executors};mem:${executors * 64};disk:1024`,
  '--registration_backoff_factor=200ms',
  // Generous: the figure to see is how long it takes, not whether it fits a timeout.
  '--executor_reregistration_timeout=5mins',
  '--executor_registration_timeout=10mins',
];
const logMsg = (m: string | RegExp) => (l: string) => {
  const msg = parseJsonLine(l)?.msg;
  return typeof msg === 'string' && (typeof m === 'string' ? msg === m : m.test(msg));
};

let nc: Awaited<ReturnType<typeof connectNats>> | undefined;
let driver: SchedulerDriver | undefined;
let agent: ManagedProcess | undefined;
let result: Record<string, unknown> | undefined;
try {
  const master = procs.start('mesos-master', [...common, '--port=0', '--allocation_interval=200ms'], { label: 'master' });
  await master.waitForLine(logMsg(/^master started/), timeoutMs);
  agent = procs.start('mesos-agent', agentArgs, { label: 'agent' });
  await agent.waitForLine(logMsg('agent registered'), timeoutMs);

  nc = await connectNats({ servers: server.url, name: 'bench-recovery' });
  const states = new Map<string, string>();
  const why = new Set<string>();
  let onStatus = () => {};
  let launched = 0;
  driver = new SchedulerDriver({
    resourceOffers: (d, offers) => {
      for (const o of offers) {
        const tasks: TaskInfo[] = [];
        // In waves of WAVE, each once the last one runs: hundreds of Node.js processes starting
        // at once on a small host starve everything else, the master's lease included.
        const waveDone = [...states.values()].filter((st) => st === 'TASK_RUNNING').length >= launched;
        while (waveDone && launched < executors && tasks.length < WAVE) {
          const id = `t${launched++}`;
          tasks.push({ taskId: id, name: id, agentId: o.agentId, resources: parseResources('cpus:1;mem:32'), command: { value: 'exec sleep 3600' } });
        }
        if (tasks.length > 0) d.launchTasks([o.id], tasks);
        else d.declineOffer(o.id, { refuseSeconds: launched < executors ? 1 : 3600 });
      }
    },
    statusUpdate: (_d, s) => {
      if (s.state !== 'TASK_RUNNING' && s.state !== 'TASK_STARTING' && !why.has(`${s.state} ${s.reason}`)) {
        why.add(`${s.state} ${s.reason}`);
        say(`${s.taskId}: ${s.state} (${s.reason}: ${s.message})`);
      }
      states.set(s.taskId, s.state);
      onStatus();
    },
  }, { name: 'bench-recovery', roles: ['*'], checkpoint: true, failoverTimeoutSeconds: 3600 }, {
    transport: new NatsTransport(nc),
    cluster,
    detector: new KvLeaderDetector({ nc, cluster }),
    logger: silentLogger(),
  });
  const until = (cond: () => boolean, what: string) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      const counts: Record<string, number> = {};
      for (const st of states.values()) counts[st] = (counts[st] ?? 0) + 1;
      reject(new Error(`timed out waiting for ${what}: launched ${launched}, states ${JSON.stringify(counts)}`));
    }, timeoutMs);
    onStatus = () => {
      if (!cond()) return;
      clearTimeout(timer);
      resolve();
    };
    onStatus();
  });
  driver.start();
  say(`launching ${executors} executors`);
  await until(() => [...states.values()].filter((s) => s === 'TASK_RUNNING').length === executors, `${executors} tasks running`);
  const runningAt = new Map(states);
  say('all running; SIGKILL the agent');

  agent.signal('SIGKILL');
  await agent.waitForExit(timeoutMs);
  const t0 = performance.now();
  agent = procs.start('mesos-agent', agentArgs, { label: 'agent-restarted' });
  await agent.waitForLine(logMsg('agent started'), timeoutMs);
  const startedAt = performance.now();
  const recovering = parseJsonLine((await agent.waitForLine(logMsg(/^Recovered \d+ framework/), timeoutMs)).text)!;
  await agent.waitForLine(logMsg('Finished recovery'), timeoutMs);
  const recoveredAt = performance.now();
  await agent.waitForLine(logMsg(/^Re-registered with master as /), timeoutMs);
  const reregisteredAt = performance.now();
  const reregisteredExecutors = agent.json().filter((j) => typeof j.msg === 'string' && /^Executor .* re-registered$/.test(j.msg)).length;
  const ended = [...states].filter(([id, s]) => isTerminalState(s as never) && runningAt.get(id) === 'TASK_RUNNING').length;
  result = {
    executors,
    agentStartMs: Math.round(startedAt - t0),
    recoveredMs: Math.round(recoveredAt - t0),
    reregisteredMs: Math.round(reregisteredAt - t0),
    executorsRecovered: reregisteredExecutors,
    recoveryLog: recovering.msg,
    tasksEnded: ended,
  };
} catch (e) {
  say(`failed: ${(e as Error).message}`);
  if (process.env.BENCH_DUMP) for (const p of procs.processes) for (const l of p.texts()) if (!/launched executor|Ignoring unexpected status/.test(l)) say(`${p.name}: ${l.slice(0, 400)}`);
  process.exitCode = 1;
} finally {
  // The framework goes first: its teardown shuts every executor down.
  await driver?.stop().catch(() => {});
  // SIGUSR1: the agent kills whatever is left and leaves.
  await agent?.stop(30_000, 'SIGUSR1');
  await procs.stopAll(5000);
  killLeftovers(workDir);
  await nc?.close().catch(() => {});
  await server.stop();
  rmSync(work, { recursive: true, force: true });
}
if (result) process.stdout.write(`${JSON.stringify(result)}\n`);

/** Kills every executor the agent's checkpoint still lists (by PID), whatever happened. */
function killLeftovers(dir: string): void {
  const containers = join(dir, 'meta', 'containers');
  let names: string[] = [];
  try {
    names = readdirSync(containers);
  } catch {
    return;
  }
  for (const n of names) {
    try {
      const { osPid } = JSON.parse(readFileSync(join(containers, n), 'utf8')) as { osPid: number };
      process.kill(-osPid, 'SIGKILL');
    } catch {
      /* gone, or not a record */
    }
  }
}
