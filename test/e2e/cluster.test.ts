/**
 * End to end, as a user runs it: a nats-server, one `mesos-master` and two `mesos-agent`
 * processes, and the client commands (`mesos-execute`, `mesos-pi`) started against them as
 * separate OS processes. The tests are serial and share the cluster.
 */
import { readFile } from 'node:fs/promises';
import test from 'ava';
import {
  DEFAULT_WAIT_MS,
  LineLog,
  findProcesses,
  parseJsonLine,
  processGroupOf,
  waitForAny,
  type ManagedProcess,
} from '../helpers/processes.ts';
import { E2ECluster, findSandboxes, logMsg, rel, tryUnpack, type Sandbox } from './support.ts';

const e2e = new E2ECluster('e2e-cluster');
/** Upper bound for one client command to run to completion on a slow, shared machine. */
const RUN_MS = 120_000;

test.before(async (t) => {
  t.timeout(4 * DEFAULT_WAIT_MS);
  await e2e.start(2);
  t.log(`cluster ${e2e.cluster}: master ${e2e.masterPid}; agents ${e2e.agents.map((a) => `${a.agentId} (${a.pid})`).join(', ')}`);
});

test.after.always(async () => {
  await e2e.stop();
  if (e2e.leftovers.length > 0) {
    // Already SIGKILLed by PID; make the leak visible.
    console.error(`cluster.test.ts: killed leftover processes: ${JSON.stringify(e2e.leftovers)}`);
  }
});

/** Runs a client command to completion; returns the process (with all its output) and its exit. */
async function run(name: 'mesos-execute' | 'mesos-pi', args: string[], label = name): Promise<ManagedProcess & { code: number | null }> {
  const p = e2e.procs.start(name, [...e2e.flags('scheduler'), ...args], { label });
  const st = await p.waitForExit(RUN_MS);
  return Object.assign(p, { code: st.code });
}

/** The estimate printed by mesos-pi, or NaN. */
function piEstimate(p: ManagedProcess): number {
  const m = /Pi is roughly (\S+)/.exec(p.output('stdout'));
  return m ? Number(m[1]) : Number.NaN;
}

test.serial('mesos-execute runs `echo hello` to TASK_FINISHED and the task output lands in its sandbox', async (t) => {
  t.timeout(RUN_MS + DEFAULT_WAIT_MS);
  const p = await run('mesos-execute', ['--command=echo hello', '--name=hello-task']);
  t.is(p.code, 0, p.tail());
  t.regex(p.output('stdout'), /TASK_FINISHED/);

  const frameworkId = /Subscribed with ID (\S+)/.exec(p.output('stdout'))?.[1];
  const submittedTo = /Submitted task 'hello-task' to agent '([^']+)'/.exec(p.output('stdout'))?.[1];
  if (!frameworkId || !submittedTo) return t.fail(`no framework id or agent in the output\n${p.tail()}`);

  // agents/<agentId>/frameworks/<fw>/executors/hello-task/runs/<containerId>/stdout
  const found: Array<Sandbox & { workDir: string; ownAgentId: string }> = [];
  for (const a of e2e.agents) {
    for (const s of await findSandboxes(a.workDir, 'hello-task')) found.push({ ...s, workDir: a.workDir, ownAgentId: a.agentId });
  }
  t.is(found.length, 1, `sandboxes of hello-task: ${JSON.stringify(found.map((s) => s.dir))}`);
  const sb = found[0]!;
  t.is(sb.agentId, sb.ownAgentId, `sandbox ${rel(e2e.workRoot!, sb.dir)} is under another agent's id`);
  t.is(sb.agentId, submittedTo);
  t.is(sb.frameworkId, frameworkId);
  const stdout = await readFile(`${sb.dir}/stdout`, 'utf8');
  t.true(stdout.split('\n').includes('hello'), `sandbox stdout: ${JSON.stringify(stdout)}`);
});

test.serial('mesos-execute reports a failing command as TASK_FAILED with its exit status and exits non-zero', async (t) => {
  t.timeout(RUN_MS + DEFAULT_WAIT_MS);
  const p = await run('mesos-execute', ['--command=exit 3', '--name=exit3']);
  t.not(p.code, 0, p.tail());
  t.not(p.code, null, p.tail());
  const out = p.output();
  t.regex(out, /TASK_FAILED/);
  t.regex(out, /status 3\b/);
  t.notRegex(out, /TASK_FINISHED/);
});

test.serial('mesos-pi with 10 tasks estimates π within 0.01', async (t) => {
  t.timeout(RUN_MS + DEFAULT_WAIT_MS);
  const p = await run('mesos-pi', ['--tasks=10']);
  t.is(p.code, 0, p.tail());
  const pi = piEstimate(p);
  t.true(Math.abs(pi - Math.PI) < 0.01, `estimate ${pi}\n${p.tail()}`);
});

/** A master → agent RunTask or a terminal master → scheduler StatusUpdate, as seen on the bus. */
interface TapEvent {
  kind: 'run' | 'end';
  frameworkId: string;
  frameworkName?: string;
  taskId: string;
  agentPid?: string;
  cpusMilli?: number;
  executorCpusMilli?: number;
}

/** The parts of RunTask and StatusUpdate bodies the tap reads (unchecked: it only observes). */
interface BusBody {
  frameworkId?: string;
  framework?: { name?: string };
  task?: { taskId?: string; resources?: unknown; executor?: { resources?: unknown } };
  update?: { frameworkId?: string; latestState?: string; status?: { taskId?: string; state?: string } };
}

const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR']);

function cpusMilli(resources: unknown): number {
  if (!Array.isArray(resources)) return 0;
  return resources.reduce((sum: number, r: { name?: string; scalar?: number }) => sum + (r?.name === 'cpus' ? Math.round((r.scalar ?? 0) * 1000) : 0), 0);
}

test.serial('two Pi frameworks at once both finish, and together they use both agents', async (t) => {
  t.timeout(3 * RUN_MS);
  const common = e2e.flags('scheduler');
  // Every RunTask the master sends and every terminal update it forwards, in the master's order
  // (one publisher: NATS keeps its order), as JSON lines so they can be waited for.
  const bus = new LineLog('bus');
  await e2e.tap((subject, data) => {
    const parts = subject.split('.');
    if (parts.length !== 8 || parts[6] !== 'master') return;
    const [, , toKind, toPrincipal, toId, type] = parts;
    const body = tryUnpack(data)?.body as BusBody | undefined;
    if (!body) return;
    let ev: TapEvent | undefined;
    if (toKind === 'agent' && type === 'RunTask') {
      ev = {
        kind: 'run',
        frameworkId: String(body.frameworkId),
        frameworkName: body.framework?.name,
        taskId: String(body.task?.taskId),
        agentPid: `mesos.${e2e.cluster}.agent.${toPrincipal}.${toId}`,
        cpusMilli: cpusMilli(body.task?.resources),
        executorCpusMilli: cpusMilli(body.task?.executor?.resources),
      };
    } else if (toKind === 'scheduler' && type === 'StatusUpdate') {
      const u = body.update;
      if (u && TERMINAL.has(u.latestState ?? u.status?.state ?? '')) ev = { kind: 'end', frameworkId: String(u.frameworkId), taskId: String(u.status?.taskId) };
    }
    if (ev) bus.push('stdout', `${JSON.stringify(ev)}\n`);
  });
  const runsOf = (name: string) => (text: string) => {
    const j = parseJsonLine(text) as TapEvent | undefined;
    return j?.kind === 'run' && j.frameworkName === name;
  };

  const marks = e2e.agents.map((a) => a.proc.mark());
  const pis = ['pi-a', 'pi-b'].map((name) => e2e.procs.start('mesos-pi', [...common, '--tasks=6', `--name=${name}`], { label: name }));

  // The allocator hands whole agents to one framework, and a Pi task takes well under a second:
  // left alone, the second framework may well start after the first is done and reuse its agent.
  // Hold the first executor that starts (SIGSTOP by PID) until the other framework has all its
  // tasks placed, so that the frameworks truly overlap; the bus record below says whether they did.
  const first = await waitForAny(e2e.agents.map((a) => a.proc), logMsg('launched executor', (j) => String(j.directory).includes('/executors/pi-executor/')), DEFAULT_WAIT_MS, marks);
  const launched = parseJsonLine(first.line.text)!;
  const frozenFw = /\/frameworks\/([^/]+)\/executors\//.exec(String(launched.directory))?.[1];
  // The agent starts each executor in its own process group (here `sh -c` running node): hold the group.
  const executors = findProcesses([`MESOS_CONTAINER_ID=${String(launched.containerId)}`]);
  const groups = new Set(executors.map((p) => processGroupOf(p.pid)).filter((g): g is number => g !== undefined));
  t.is(groups.size, 1, `executor processes of container ${String(launched.containerId)}: ${JSON.stringify(executors)}`);
  const frozenPid = [...groups][0];
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      if (frozenPid !== undefined) process.kill(-frozenPid, sig);
    } catch {
      // gone
    }
  };
  signalGroup('SIGSTOP');
  try {
    const firstRun = await bus.waitForLine((text) => (parseJsonLine(text) as TapEvent | undefined)?.frameworkId === frozenFw, DEFAULT_WAIT_MS);
    const frozenName = (parseJsonLine(firstRun.text) as unknown as TapEvent).frameworkName;
    const otherName = frozenName === 'pi-a' ? 'pi-b' : 'pi-a';
    t.log(`held ${frozenName}'s executor (process group ${frozenPid}) until ${otherName} had all 6 tasks placed`);
    await bus.waitForLines(runsOf(otherName), 6, RUN_MS);
  } finally {
    signalGroup('SIGCONT');
  }

  const exits = await Promise.all(pis.map((p) => p.waitForExit(RUN_MS)));
  for (const [i, p] of pis.entries()) {
    t.is(exits[i]!.code, 0, p.tail());
    const pi = piEstimate(p);
    t.true(Math.abs(pi - Math.PI) < 0.02, `${p.name}: estimate ${pi}\n${p.tail()}`);
  }

  // What the bus says: every task placed once, and where.
  const events = bus.json() as unknown as TapEvent[];
  const names = new Map<string, string>();
  for (const e of events) if (e.kind === 'run' && e.frameworkName) names.set(e.frameworkId, e.frameworkName);
  const ours = events.filter((e) => ['pi-a', 'pi-b'].includes(names.get(e.frameworkId) ?? ''));
  const used = new Map<string, Set<string>>();
  for (const e of ours) {
    if (e.kind !== 'run') continue;
    const n = names.get(e.frameworkId)!;
    if (!used.has(n)) used.set(n, new Set());
    used.get(n)!.add(e.agentPid!);
  }
  for (const name of ['pi-a', 'pi-b']) {
    const runs = ours.filter((e) => e.kind === 'run' && e.frameworkName === name);
    t.is(new Set(runs.map((e) => e.taskId)).size, 6, `${name} placed ${runs.length} tasks`);
  }
  const agentPids = new Set(e2e.agents.map((a) => a.pid));
  const allUsed = new Set([...used.values()].flatMap((s) => [...s]));
  for (const a of allUsed) t.true(agentPids.has(a), `RunTask went to unknown agent ${a}`);
  t.log(`agents used: ${[...used].map(([n, s]) => `${n} → ${[...s].join(', ')}`).join('; ')}`);

  // A lower bound on the cpus held at once: every launched, not yet terminal task, plus one
  // executor per framework with such a task. Above one agent's 2 cpus, one agent cannot have
  // held it all, so both must have been used (the master never over-commits an agent).
  const live = new Map<string, number>();
  const execCpus = new Map<string, number>();
  let peak = 0;
  for (const e of ours) {
    const key = `${e.frameworkId}/${e.taskId}`;
    if (e.kind === 'run') {
      live.set(key, e.cpusMilli ?? 0);
      execCpus.set(e.frameworkId, e.executorCpusMilli ?? 0);
    } else {
      live.delete(key);
    }
    const fws = new Set([...live.keys()].map((k) => k.split('/')[0]!));
    const held = [...live.values()].reduce((a, b) => a + b, 0) + [...fws].reduce((a, f) => a + (execCpus.get(f) ?? 0), 0);
    peak = Math.max(peak, held);
  }
  t.log(`peak cpus held at once by the two frameworks (lower bound): ${peak / 1000}`);
  if (peak > 2000) {
    t.is(allUsed.size, 2, `at ${peak / 1000} cpus held at once both 2-cpu agents must be in use`);
    // The agents' own logs agree: each launched a Pi executor in this test.
    for (const [i, a] of e2e.agents.entries()) {
      t.true(a.proc.filter(logMsg('launched executor', (j) => String(j.directory).includes('/executors/pi-executor/')), { since: marks[i] }).length > 0,
        `${a.proc.name} launched no Pi executor`);
    }
  } else {
    t.log('the frameworks did not overlap enough for the placement to imply both agents; only completion is asserted');
  }
});

test.serial('bad flags: an unparsable --resources and an unknown flag end the process with a message naming them', async (t) => {
  t.timeout(2 * RUN_MS);
  const agent = e2e.procs.start('mesos-agent', [...e2e.flags('agent'), '--resources=cpus:abc', `--work_dir=${e2e.workRoot}/bad`], { label: 'bad-agent' });
  const master = e2e.procs.start('mesos-master', [...e2e.flags('master'), '--bogus'], { label: 'bad-master' });
  const [a, m] = await Promise.all([agent.waitForExit(RUN_MS), master.waitForExit(RUN_MS)]);
  t.not(a.code, 0, agent.tail());
  t.not(a.code, null, agent.tail());
  t.regex(agent.output('stderr'), /cpus:abc/);
  t.is(m.code, 2, master.tail());
  t.regex(master.output('stderr'), /--bogus/);
});

test.serial('stopping the agents leaves no executor processes behind', async (t) => {
  t.timeout(2 * DEFAULT_WAIT_MS);
  await e2e.stopAgents();
  for (const a of e2e.agents) t.not(a.proc.exitStatus, undefined);
  const stray = e2e.strayProcesses();
  t.deepEqual(stray, [], `processes of ${e2e.cluster} still running: ${JSON.stringify(stray)}`);
});
