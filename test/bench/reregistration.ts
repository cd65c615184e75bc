/**
 * The new leader's cost of a re-registration storm, in one process and without a bus
 * (`npm run bench:reregistration -- --agents 10000 --tasks-per-agent 10`): the failover bench
 * measures the whole cluster (agents, NATS, two masters on two cores) and its figures move by
 * a third from run to run; this one measures only the master, so that a change to the master's
 * handling of `ReregisterAgent` can be judged.
 *
 * Each round starts a master (the real runtime: actor host, codec, machine, allocator) whose
 * registry lists `--agents` agents, lets it win a lease, and hands it one encoded
 * `ReregisterAgent` per agent — `--tasks-per-agent` running tasks of one framework each — a few
 * dozen per turn of the event loop, as a NATS socket read delivers them. The round ends when
 * every agent has been answered. Then an operator tears the framework down: `teardownStallMs` is
 * the longest the master's loop is held until the framework is gone (a quarter of the lease, 750
 * ms by default, is the most any one step may take). The transport in between only counts and
 * drops what the master sends. Logs go to a discarded stream at info, as a master's would.
 *
 * Run with `--expose-gc` (the npm script does) so that each round starts with the last one's
 * master collected.
 *
 * Prints one JSON line: `usPerAgent` (wall time / agents, median over `--rounds`), the same in
 * CPU time and in garbage collection, the rounds' wall times and `teardownStallMs` (median).
 */
import { Writable } from 'node:stream';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { Codec, envelope } from '../../protocols/envelope.ts';
import { pid as makePid, subjectFor } from '../../protocols/pid.ts';
import { parseResources } from '../../protocols/resources.ts';
import type { AgentInfo, Task } from '../../protocols/records.ts';
import { MemoryLeaseStore } from '../../runtime/lease-memory.ts';
import { startMaster } from '../../runtime/master.ts';
import { MemoryRegistry } from '../../runtime/registry.ts';
import type { RawHandler, Transport } from '../../runtime/types.ts';

const { values } = parseArgs({
  options: {
    agents: { type: 'string', default: '10000' },
    'tasks-per-agent': { type: 'string', default: '10' },
    rounds: { type: 'string', default: '5' },
    /** Messages handed over per turn of the event loop. */
    chunk: { type: 'string', default: '32' },
  },
});
const count = (name: keyof typeof values): number => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n <= 0) {
    process.stderr.write(`bad --${name}: ${values[name]}\n`);
    process.exit(2);
  }
  return n;
};
const agents = count('agents');
const tasksPerAgent = count('tasks-per-agent');
const rounds = count('rounds');
const chunk = count('chunk');
const CLUSTER = 'bench';
const FRAMEWORK = 'bench-fw-0000';

/** Delivers what is handed to it to the master's inbox; counts the master's answers. */
class CountingTransport implements Transport {
  readonly maxPayload = 1024 * 1024;
  readonly handlers = new Map<string, RawHandler>();
  answers = 0;
  onAnswer = (): void => {};
  publish(subject: string, _data: Uint8Array): void {
    if (subject.includes('.AgentReregistered.')) {
      this.answers++;
      this.onAnswer();
    }
  }
  subscribe(subject: string, handler: RawHandler) {
    this.handlers.set(subject, handler);
    return { unsubscribe: () => this.handlers.delete(subject) };
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

const codec = new Codec();
const resources = parseResources('cpus:16;mem:65536');
const taskResources = parseResources('cpus:0.1;mem:32');
const infoOf = (i: number, id: string): AgentInfo => ({ hostname: `host-${i}.bench`, resources, attributes: [], id });
const agentIdOf = (i: number) => `bench-agent-${i.toString().padStart(6, '0')}`;

/** The encoded re-registrations, built once (the agents' side is not measured). */
function reports(masterPid: string): Array<{ subject: string; data: Uint8Array }> {
  const out: Array<{ subject: string; data: Uint8Array }> = [];
  for (let i = 0; i < agents; i++) {
    const id = agentIdOf(i);
    const from = makePid(CLUSTER, 'agent', `bench-${i}`);
    const tasks: Task[] = Array.from({ length: tasksPerAgent }, (_, k) => ({
      taskId: `task-${i}-${k}`, name: `task ${i}-${k}`, frameworkId: FRAMEWORK, agentId: id, state: 'TASK_RUNNING', resources: taskResources,
    }));
    const msg = { type: 'ReregisterAgent' as const, body: { agent: infoOf(i, id), version: '1', tasks, executors: [], frameworks: [{ id: FRAMEWORK, name: '' }] } };
    out.push({ subject: subjectFor(masterPid, 'ReregisterAgent', 'agent'), data: codec.encode(envelope(from, `r-${i}`, msg)) });
  }
  return out;
}

const discard = new Writable({ write: (_c, _e, cb) => cb() });

/** Time spent in garbage collection, as the process's GC entries report it. */
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
}).observe({ entryTypes: ['gc'] });

async function round(n: number): Promise<{ wallMs: number; cpuMs: number; gcMs: number; teardownMs: number }> {
  const registry = new MemoryRegistry();
  const snap = await registry.load();
  for (let i = 0; i < agents; i++) snap.agents.push({ agentId: agentIdOf(i), state: 'admitted', info: infoOf(i, agentIdOf(i)) });
  registry.load = async () => snap;
  const transport = new CountingTransport();
  const lease = new MemoryLeaseStore();
  const m = startMaster({
    transport, cluster: CLUSTER, logger: pino({ level: 'info' }, discard), registry, runId: `r${n}`,
    lease: (value) => lease.candidate(value),
  });
  await m.elected(10_000);
  const messages = reports(m.pid);
  (globalThis as { gc?: () => void }).gc?.(); // the previous round's master is not collected during this one
  const inbox = transport.handlers.get(`${m.pid}.>`)!;
  const done = new Promise<void>((resolve) => {
    transport.onAnswer = () => {
      if (transport.answers === agents) resolve();
    };
  });
  const cpu0 = process.cpuUsage();
  const gc0 = gcMs;
  const t0 = performance.now();
  let next = 0;
  const feed = () => {
    const end = Math.min(messages.length, next + chunk);
    for (; next < end; next++) inbox(messages[next]!.subject, messages[next]!.data);
    if (next < messages.length) setImmediate(feed);
  };
  feed();
  await done;
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  await new Promise((r) => setImmediate(r)); // GC entries are delivered asynchronously
  const gc = gcMs - gc0;
  // An operator tears the framework down: how long is the master's loop held by it?
  const operator = makePid(CLUSTER, 'operator', 'bench');
  const teardown = codec.encode(envelope(operator, 'td', { type: 'TeardownFramework', body: { frameworkId: FRAMEWORK } }));
  let teardownMs = 0;
  const d0 = performance.now();
  inbox(subjectFor(m.pid, 'TeardownFramework', 'operator'), teardown);
  teardownMs = performance.now() - d0;
  while (m.host.actor.getSnapshot().context.state.frameworks.has(FRAMEWORK)) {
    const s0 = performance.now();
    await new Promise((r) => setImmediate(r));
    teardownMs = Math.max(teardownMs, performance.now() - s0);
  }
  await m.stop();
  return { wallMs, cpuMs: (cpu.user + cpu.system) / 1000, gcMs: gc, teardownMs };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results: Array<{ wallMs: number; cpuMs: number; gcMs: number; teardownMs: number }> = [];
await round(0); // warm-up: compiled code, interned shapes
for (let r = 1; r <= rounds; r++) {
  results.push(await round(r));
  process.stderr.write(`[bench:reregistration] round ${r}: ${Math.round(results.at(-1)!.wallMs)} ms\n`);
}
process.stdout.write(`${JSON.stringify({
  agents,
  tasksPerAgent,
  usPerAgent: Math.round((1000 * median(results.map((x) => x.wallMs))) / agents),
  cpuUsPerAgent: Math.round((1000 * median(results.map((x) => x.cpuMs))) / agents),
  gcUsPerAgent: Math.round((1000 * median(results.map((x) => x.gcMs))) / agents),
  wallMs: results.map((x) => Math.round(x.wallMs)),
  teardownStallMs: Math.round(median(results.map((x) => x.teardownMs))),
})}\n`);
process.exit(0);
