/**
 * What the always-on statechart view costs the master (`npm run bench:inspect`): a serving master
 * is sent `--messages` bus messages, as an agent's would arrive, in four modes:
 *
 * - `none`: no inspection at all;
 * - `hub`: the process's `InspectionHub` recording the master without XState's inspection
 *   (`InspectionHub.record`, what every `mesos-master` does);
 * - `noopObserver`: an XState inspection observer that does nothing — what any `--inspect`
 *   observer costs before it does anything (XState's own records);
 * - `hubInspected`: the hub fed by XState's inspection (`InspectionHub.inspect`), as it was first
 *   wired: for comparison.
 *
 * The requirement it checks: the hub adds at most 10 % to the master's cost per event.
 *
 * Each mode has a cluster of its own in this process, on the in-memory bus and simulated clock
 * (the sim cluster's parts: one master, one agent, one framework with one running task). The
 * agent's `StatusUpdate` for that task is captured; from it the bench makes, before each timed
 * run, `--messages` fresh messages: agent `Pong`s (`--message=pong`, the default: the master's
 * state stays the same size) or copies of the update with a fresh uuid each (`--message=status`:
 * the master updates the task and forwards each to the framework). It hands them one after another
 * to the master's subscription, where the bus would: each is decoded, validated and delivered to
 * the master machine. What the master publishes meanwhile is encoded and dropped (the cost of
 * sending stays in; nobody receives it). Only that loop is timed, after a forced GC when the bench
 * runs with `--expose-gc` (as the npm script does).
 *
 * After one warm-up run each, the modes run `--rounds` times, interleaved (round i of every mode
 * before round i + 1 of any, the order rotated every round); each mode's median time per event is
 * reported, and each mode's overhead against `none`, in µs per event and in percent: of this
 * process's CPU time (`cpu`: less sensitive to other load on the machine) and of the clock
 * (`wall`). Prints one JSON line; `withinBudget` is true when the hub's CPU overhead is at most
 * `budgetPercent`.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Codec, envelope } from '../../protocols/envelope.ts';
import type { Message } from '../../protocols/messages.ts';
import { inboxOf } from '../../protocols/pid.ts';
import { InspectionHub } from '../../runtime/inspection.ts';
import { silentLogger } from '../../runtime/log.ts';
import { startMaster } from '../../runtime/master.ts';
import type { RawHandler, Subscription, Transport } from '../../runtime/types.ts';
import { commandTask, SimCluster, TEST_AGENT_RESOURCES } from '../helpers/sim-cluster.ts';
import { wholeNumber } from './scale-cluster.ts';

/** The requirement's budget: the hub's cost per event, in percent of the master's without it. */
const BUDGET_PERCENT = 10;

const MODES = ['none', 'hub', 'noopObserver', 'hubInspected'] as const;
type Mode = (typeof MODES)[number];

const { values } = parseArgs({ options: { messages: { type: 'string' }, rounds: { type: 'string' }, message: { type: 'string', default: 'pong' } } });
if (values.message !== 'status' && values.message !== 'pong') {
  process.stderr.write(`bench:inspect: invalid --message '${values.message}': expected status or pong\n`);
  process.exit(2);
}
const kind = values.message;
const messages = wholeNumber('inspect', 'messages', values.messages, 100_000);
const rounds = wholeNumber('inspect', 'rounds', values.rounds, 5);
if (messages === 0 || rounds === 0) {
  process.stderr.write('bench:inspect: --messages and --rounds must be at least 1\n');
  process.exit(2);
}

/**
 * The master's transport: the sim bus, except that the bench reaches the master's own
 * subscription handlers, and can mute what the master publishes.
 */
class TapTransport implements Transport {
  readonly handlers = new Map<string, RawHandler>();
  muted = false;
  constructor(private readonly inner: Transport) {}
  get maxPayload(): number {
    return this.inner.maxPayload;
  }
  publish(subject: string, data: Uint8Array): void {
    if (!this.muted) this.inner.publish(subject, data);
  }
  subscribe(subject: string, handler: RawHandler): Subscription {
    this.handlers.set(subject, handler);
    return this.inner.subscribe(subject, handler);
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A serving master of one mode, and the messages it is sent. */
interface Bench {
  mode: Mode;
  /** Hands the master `messages` messages; the ms it took, of the clock and of this process's CPU. */
  run(): { ms: number; cpuMs: number };
  stop(): void;
}

/** Starts a cluster whose master runs in `mode`, and prepares `messages` messages of `kind` for it. */
async function setUp(mode: Mode, kind: 'status' | 'pong'): Promise<Bench> {
  const sim = new SimCluster();
  const tap = new TapTransport(sim.bus.transport());
  const hub = mode === 'hub' || mode === 'hubInspected' ? new InspectionHub() : undefined;
  const master = startMaster({
    transport: tap,
    cluster: sim.cluster,
    logger: silentLogger(),
    clock: sim.clock,
    runId: 'm1',
    hostname: 'm1.sim',
    registry: sim.registry,
    lease: (value) => sim.lease.candidate(value),
    ...(mode === 'hub' ? { inspection: hub } : {}),
    ...(mode === 'noopObserver' ? { inspect: () => {} } : {}),
    ...(mode === 'hubInspected' ? { inspect: hub!.inspect } : {}),
  });
  sim.master = master;
  sim.masters.push(master);
  await sim.settle();
  sim.addAgent(TEST_AGENT_RESOURCES, undefined, 'a0');
  await sim.settle();
  const update = sim.bus.intercept((m) => m.subject.split('.')[2] === 'master' && m.subject.split('.')[5] === 'StatusUpdate');
  const { d, offer } = await sim.framework();
  if (!offer) throw new Error('no offer came');
  d.launchTasks([offer.id], [commandTask(offer, 't1', 'sleep 1000')]);
  await sim.settle();
  const captured = await update;
  const codec = new Codec();
  const handler = tap.handlers.get(inboxOf(master.pid));
  if (!handler) throw new Error("the master's subscription was not seen");
  const first = codec.decode(captured.data, master.pid, captured.subject);
  if (!first.ok) throw new Error(`the captured update does not decode: ${first.reason}`);
  const { from, type, body } = first.envelope;
  const u = (body as { update: { uuid: string; agentId?: string } }).update;
  const parts = captured.subject.split('.');
  if (kind === 'pong') parts[5] = 'Pong';
  const subject = parts.join('.');
  let seq = 0;
  /** A fresh copy of the message for each send (new uuid, new id), encoded before timing. */
  const batch = (): Uint8Array[] => {
    const out: Uint8Array[] = [];
    for (let i = 0; i < messages; i++) {
      const n = ++seq;
      const msg = kind === 'pong'
        ? { type: 'Pong', body: u.agentId ? { agentId: u.agentId } : {} } as Message
        : { type, body: { ...(body as object), update: { ...u, uuid: `${u.uuid}-${n}` } } } as Message;
      out.push(codec.encode(envelope(from, `bench-${n}`, msg)));
    }
    return out;
  };
  const expected = kind === 'pong' ? 'Pong' : 'StatusUpdate';
  return {
    mode,
    run: () => {
      const bytes = batch();
      const before = master.host.metrics.snapshot()['bus/received'] ?? 0;
      (globalThis as { gc?: () => void }).gc?.();
      tap.muted = true;
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (const b of bytes) handler(subject, b);
      const ms = performance.now() - t0;
      const cpu = process.cpuUsage(c0);
      tap.muted = false;
      const received = (master.host.metrics.snapshot()['bus/received'] ?? 0) - before;
      if (received !== messages) throw new Error(`the ${mode} master received ${received} of ${messages} messages`);
      if (hub && hub.machines().find((x) => x.machine === 'master')?.events.at(-1)?.type !== expected) throw new Error('the hub did not record the messages');
      return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
    },
    stop: () => {
      master.host.stop();
      for (const a of sim.agents) void a.stop();
      for (const x of sim.drivers) x.stop();
    },
  };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const round2 = (x: number) => Math.round(x * 100) / 100;

const benches = [];
for (const mode of MODES) benches.push(await setUp(mode, kind));
const times: Record<Mode, number[]> = { none: [], hub: [], noopObserver: [], hubInspected: [] };
const cpuTimes: Record<Mode, number[]> = { none: [], hub: [], noopObserver: [], hubInspected: [] };
for (const b of benches) b.run(); // warm-up
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < benches.length; k++) {
    const b = benches[(k + r) % benches.length]!;
    const { ms, cpuMs } = b.run();
    times[b.mode].push(ms);
    cpuTimes[b.mode].push(cpuMs);
  }
}
for (const b of benches) b.stop();
/** Per mode, the median µs per event of `of`, and each mode's overhead against `none`. */
function figures(of: Record<Mode, number[]>) {
  const us = (mode: Mode) => (median(of[mode]) * 1000) / messages;
  const none = us('none');
  const overhead = (mode: Mode) => ({ usPerEvent: round2(us(mode) - none), percent: round2(((us(mode) - none) / none) * 100) });
  return {
    usPerEvent: Object.fromEntries(MODES.map((m) => [m, round2(us(m))])),
    overhead: { hub: overhead('hub'), noopObserver: overhead('noopObserver'), hubInspected: overhead('hubInspected') },
  };
}
const wall = figures(times);
const cpu = figures(cpuTimes);
process.stdout.write(`${JSON.stringify({
  bench: 'inspect',
  message: kind,
  messages,
  rounds,
  cpu,
  wall,
  trialsMs: Object.fromEntries(MODES.map((m) => [m, times[m].map((x) => Math.round(x))])),
  budgetPercent: BUDGET_PERCENT,
  withinBudget: cpu.overhead.hub.percent <= BUDGET_PERCENT,
})}\n`);
