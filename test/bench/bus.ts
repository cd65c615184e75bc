/**
 * Bus throughput benchmark (`npm run bench:bus`): the runtime's send/receive path between two OS
 * processes, against plain NATS + msgpackr publish/subscribe of the same bytes, in the same run.
 *
 * The parent process is the sender; it starts nats-server (unless `NATS_URL` is set) and spawns
 * this same file with `--role=receiver`. Control (set up / tear down a receiver) is request/reply
 * on `bench.ctl`; the receiver reports progress on `bench.ack.<trial>` every `--window` messages.
 *
 * - runtime path: the sender hosts a tiny machine with `hostActor`; each local `pump` event makes
 *   it emit one `send` of a `StatusUpdate` (master → scheduler), which the host encodes in an
 *   envelope and publishes. The receiver hosts a counting machine with `hostActor` (decode, schema
 *   validation, `actor.send`); the machine emits `progress` every window, which is acked.
 * - raw path: the sender packs the same envelope object with a plain `Packr` and `nc.publish`es it
 *   on a subject of the same shape; the receiver `nc.subscribe`s with a callback, unpacks, counts.
 *
 * Flow control is identical on both paths: at most `--inflight` messages unacknowledged. After a
 * warm-up of `--warmup` messages per path, each path runs `--trials` times, alternating; the best
 * rate of each is reported. The rate is messages / (time of the last ack − time of the first send),
 * both read in the sender. `cpuUsPerMessage` is CPU time (user + system) per message in each
 * process, the least over a path's trials: less sensitive than rates to other load on the machine.
 *
 * Other flags: `--emit=batch` (one local event emits a whole window of sends), `--raw-payload=body`
 * (the raw path packs only the body), `--paths=runtime` (one path only, e.g. to profile it) and
 * `--receiver-node-args='--cpu-prof --cpu-prof-dir=DIR'` (run the sender itself with
 * `node --cpu-prof --import tsx test/bench/bus.ts` to profile both sides).
 *
 * Prints one JSON line on stdout; logs go to stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Packr } from 'msgpackr';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { emit, enqueueActions, setup } from 'xstate';
import { envelope } from '../../protocols/envelope.ts';
import type { Body } from '../../protocols/messages.ts';
import { inboxOf, pid as makePid, subjectFor } from '../../protocols/pid.ts';
import { send, type Inbound, type SendEvent } from '../../actors/common.ts';
import { defaultCodec, hostActor, type ActorHost } from '../../runtime/actor-host.ts';
import { silentLogger } from '../../runtime/log.ts';
import { startNatsServer, type NatsServerHandle } from '../../runtime/nats-server.ts';
import { nodeScriptArgv } from '../../runtime/node-command.ts';
import { NatsTransport } from '../../runtime/transport-nats.ts';

const CLUSTER = 'bench';
const CTL = 'bench.ctl';
const ackSubject = (trial: string) => `bench.ack.${trial}`;

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  options: {
    role: { type: 'string', default: 'sender' },
    url: { type: 'string' },
    messages: { type: 'string', default: '200000' },
    window: { type: 'string', default: '1000' },
    inflight: { type: 'string', default: '10000' },
    trials: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '20000' },
    /** `event`: one local event per message (the machine emits one send per event); `batch`: one event emits a whole window. */
    emit: { type: 'string', default: 'event' },
    /** What the raw path packs: the same `envelope` object the runtime sends, or only the `body`. */
    'raw-payload': { type: 'string', default: 'envelope' },
    'timeout-ms': { type: 'string', default: '180000' },
    /** Run only these paths (comma-separated; for profiling one side). */
    paths: { type: 'string', default: 'runtime,raw' },
    /** Extra Node options for the receiver process, space-separated (e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`). */
    'receiver-node-args': { type: 'string', default: '' },
  },
  strict: true,
});

const log = (msg: string): void => {
  process.stderr.write(`[bench:bus ${flags.role}] ${msg}\n`);
};

/** A realistic status update: TASK_RUNNING from a command executor, as the master forwards it. */
function statusUpdateBody(): Body<'StatusUpdate'> {
  const frameworkId = '4f3c2b1a-9d8e-4c7b-a6f5-0e1d2c3b4a59-0000';
  const agentId = '7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d-S0';
  const taskId = 'bench-task-000042';
  return {
    update: {
      frameworkId,
      agentId,
      uuid: 'c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f',
      status: {
        taskId,
        state: 'TASK_RUNNING',
        message: 'Command started with pid 123456',
        source: 'SOURCE_EXECUTOR',
        agentId,
        timestamp: 1_720_000_000_000.123,
        uuid: 'c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f',
      },
    },
  };
}

/** Packer of the raw path: the same options as the runtime's codec (protocols/envelope.ts). */
const newPackr = () => new Packr({ useRecords: false, variableMapSize: true, int64AsType: 'number' });

// ── machines ─────────────────────────────────────────────────────────────────────────────

type Pump = { type: 'pump' } | { type: 'pumpMany'; n: number };

/** The sending actor: every `pump` emits one StatusUpdate to `to` (or `n` of them for `pumpMany`). */
const senderMachine = setup({
  types: {
    context: {} as { to: string; body: Body<'StatusUpdate'> },
    input: {} as { to: string; body: Body<'StatusUpdate'> },
    events: {} as Pump,
    emitted: {} as SendEvent,
  },
}).createMachine({
  context: ({ input }) => input,
  on: {
    pump: { actions: emit(({ context }) => send(context.to, { type: 'StatusUpdate', body: context.body })) },
    pumpMany: {
      actions: enqueueActions(({ context, event, enqueue }) => {
        for (let i = 0; i < event.n; i++) enqueue.emit(send(context.to, { type: 'StatusUpdate', body: context.body }));
      }),
    },
  },
});

interface CounterContext { count: number; window: number; total: number }
type Progress = { type: 'progress'; count: number };

/** The receiving actor: counts StatusUpdates and emits `progress` every `window` and at `total`. */
const receiverMachine = setup({
  types: {
    context: {} as CounterContext,
    input: {} as { window: number; total: number },
    events: {} as Inbound<'StatusUpdate'>,
    emitted: {} as Progress,
  },
  guards: {
    checkpoint: ({ context }) => (context.count + 1) % context.window === 0 || context.count + 1 === context.total,
  },
}).createMachine({
  context: ({ input }) => ({ count: 0, window: input.window, total: input.total }),
  on: {
    StatusUpdate: [
      {
        guard: 'checkpoint',
        actions: enqueueActions(({ context, enqueue }) => {
          const count = context.count + 1;
          enqueue.assign({ count });
          enqueue.emit({ type: 'progress', count });
        }),
      },
      { actions: enqueueActions(({ context, enqueue }) => enqueue.assign({ count: context.count + 1 })) },
    ],
  },
});

// ── control protocol ─────────────────────────────────────────────────────────────────────

type Path = 'runtime' | 'raw';
type Ctl =
  | { op: 'ping' }
  | { op: 'setup'; trial: string; path: Path; to: string; window: number; total: number }
  | { op: 'teardown'; trial: string }
  | { op: 'exit' };
interface CtlReply { ok: boolean; error?: string; stats?: Record<string, number> }

const ctlPackr = newPackr();

// ── receiver process ─────────────────────────────────────────────────────────────────────

async function receiver(url: string): Promise<void> {
  // No reconnects: when the parent's server goes away, so does this process.
  const nc = await connect({ servers: url, name: 'bench-receiver', maxReconnectAttempts: 0 });
  void nc.closed().then(() => process.exit(0));
  const transport = new NatsTransport(nc);
  const logger = silentLogger();
  const trials = new Map<string, { stop(): Record<string, number> }>();

  nc.subscribe(CTL, {
    callback: (err, msg) => {
      if (err) return;
      const req = ctlPackr.unpack(msg.data) as Ctl;
      const reply = (r: CtlReply) => msg.respond(ctlPackr.pack(r));
      try {
        switch (req.op) {
          case 'ping':
            reply({ ok: true });
            break;
          case 'setup': {
            const ack = ackSubject(req.trial);
            const cpu0 = process.cpuUsage();
            const cpuUs = () => {
              const d = process.cpuUsage(cpu0);
              return d.user + d.system;
            };
            if (req.path === 'runtime') {
              const host: ActorHost<typeof receiverMachine> = hostActor(receiverMachine, { window: req.window, total: req.total }, {
                pid: req.to,
                transport,
                logger,
                onEmit: (ev) => nc.publish(ack, ctlPackr.pack({ count: (ev as Progress).count })),
              });
              trials.set(req.trial, {
                stop: () => {
                  const stats = { received: host.actor.getSnapshot().context.count, cpuUs: cpuUs(), ...host.metrics.snapshot() };
                  host.stop();
                  return stats;
                },
              });
            } else {
              const packr = newPackr();
              let count = 0;
              const { window, total } = req;
              const sub = nc.subscribe(inboxOf(req.to), {
                callback: (e, m) => {
                  if (e) return;
                  packr.unpack(m.data);
                  count += 1;
                  if (count % window === 0 || count === total) nc.publish(ack, ctlPackr.pack({ count }));
                },
              });
              trials.set(req.trial, {
                stop: () => {
                  sub.unsubscribe();
                  return { received: count, cpuUs: cpuUs() };
                },
              });
            }
            // Reply only once the server has the subscription.
            void nc.flush().then(() => reply({ ok: true }), (e: Error) => reply({ ok: false, error: e.message }));
            break;
          }
          case 'teardown': {
            const t = trials.get(req.trial);
            trials.delete(req.trial);
            reply({ ok: true, stats: t?.stop() ?? {} });
            break;
          }
          case 'exit':
            reply({ ok: true });
            void nc.flush().then(() => nc.close());
            break;
        }
      } catch (e) {
        reply({ ok: false, error: (e as Error).message });
      }
    },
  });
  await nc.flush();
}

// ── sender process ───────────────────────────────────────────────────────────────────────

interface TrialResult {
  path: Path;
  msgsPerSec: number;
  ms: number;
  /** CPU time (user + system) per message in the sender and in the receiver, µs. */
  senderCpuUs: number;
  receiverCpuUs: number;
  stats: Record<string, number>;
}

async function sender(): Promise<void> {
  const n = Number(flags.messages);
  const window = Number(flags.window);
  const inflight = Number(flags.inflight);
  const trials = Number(flags.trials);
  const warmup = Number(flags.warmup);
  const timeoutMs = Number(flags['timeout-ms']);
  const batch = flags.emit === 'batch';
  const rawBody = flags['raw-payload'] === 'body';
  const paths = flags.paths.split(',').filter((p): p is Path => p === 'runtime' || p === 'raw');
  if (!(n > 0 && window > 0 && inflight >= window && trials > 0 && warmup >= 0 && paths.length > 0)) {
    throw new Error('need --messages > 0, --window > 0, --inflight >= --window, --trials > 0, --warmup >= 0, --paths runtime,raw');
  }

  let server: NatsServerHandle | undefined;
  let child: ChildProcess | undefined;
  let childExited: Promise<void> | undefined;
  let nc: NatsConnection | undefined;
  try {
    const envUrl = process.env.NATS_URL?.trim();
    const url = envUrl ? envUrl : (server = await startNatsServer({ jetstream: false })).url;
    log(`nats ${url}${server ? ` (pid ${server.pid})` : ''}`);

    const argv = nodeScriptArgv(fileURLToPath(import.meta.url));
    const nodeArgs = flags['receiver-node-args'].split(' ').filter((a) => a.length > 0);
    const c = spawn(argv[0]!, [...nodeArgs, ...argv.slice(1), '--role=receiver', `--url=${url}`], { stdio: ['ignore', 2, 2] });
    child = c;
    childExited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    log(`receiver pid ${c.pid}`);

    const conn = await connect({ servers: url, name: 'bench-sender' });
    nc = conn;
    const transport = new NatsTransport(conn);
    const request = async (req: Ctl): Promise<CtlReply> => {
      const m = await conn.request(CTL, ctlPackr.pack(req), { timeout: 10_000 });
      const r = ctlPackr.unpack(m.data) as CtlReply;
      if (!r.ok) throw new Error(`receiver: ${req.op} failed: ${r.error}`);
      return r;
    };

    // Wait for the receiver to come up (tsx start-up takes a moment).
    const upBy = Date.now() + 30_000;
    for (;;) {
      try {
        await request({ op: 'ping' });
        break;
      } catch (e) {
        if (Date.now() > upBy) throw new Error(`receiver did not answer: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    const body = statusUpdateBody();
    const codec = defaultCodec();
    let trialSeq = 0;

    const runTrial = async (path: Path, total: number): Promise<TrialResult> => {
      const trial = `t${++trialSeq}`;
      const to = makePid(CLUSTER, 'scheduler', `${path}${trial}`);
      const from = makePid(CLUSTER, 'master', `${path}${trial}`);

      let acked = 0;
      let tLast = 0;
      let wake: (() => void) | undefined;
      const ackSub = conn.subscribe(ackSubject(trial), {
        callback: (err, m) => {
          if (err) return;
          const { count } = ctlPackr.unpack(m.data) as { count: number };
          if (count > acked) acked = count;
          if (acked >= total) tLast = performance.now();
          const w = wake;
          wake = undefined;
          w?.();
        },
      });
      await conn.flush();
      await request({ op: 'setup', trial, path, to, window, total });

      let sendOne: () => void;
      let sendMany: ((k: number) => void) | undefined;
      let stopSender = () => {};
      if (path === 'runtime') {
        const host = hostActor(senderMachine, { to, body }, { pid: from, transport, logger: silentLogger() });
        const pump = { type: 'pump' } as const;
        sendOne = () => host.send(pump);
        if (batch) sendMany = (k) => host.send({ type: 'pumpMany', n: k });
        stopSender = () => host.stop();
      } else {
        const packr = newPackr();
        const subject = subjectFor(to, 'StatusUpdate', 'master');
        let seq = 0;
        const payload = rawBody ? body : null;
        sendOne = () => {
          // The same object the runtime encodes (a fresh id each time, as the host makes).
          const obj = payload ?? { v: 1, type: 'StatusUpdate', from, id: `bench-${(++seq).toString(36)}`, body };
          conn.publish(subject, packr.pack(obj));
        };
      }

      const deadline = Date.now() + timeoutMs;
      const waitAck = () =>
        new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`${path} trial ${trial}: no progress (acked ${acked}/${total})`)), Math.max(1, deadline - Date.now()));
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });

      let sent = 0;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      try {
        while (sent < total) {
          const limit = Math.min(total, acked + inflight);
          if (sent < limit) {
            if (sendMany) {
              // Whole windows per event, so that the machine emits a window at a time.
              while (sent < limit) {
                const k = Math.min(window, limit - sent);
                sendMany(k);
                sent += k;
              }
            } else {
              while (sent < limit) {
                sendOne();
                sent += 1;
              }
            }
          }
          if (acked < total) await waitAck();
        }
        while (acked < total) await waitAck();
      } finally {
        stopSender();
        ackSub.unsubscribe();
      }
      const ms = tLast - t0;
      const cpu = process.cpuUsage(cpu0);
      const { stats = {} } = await request({ op: 'teardown', trial });
      if ((stats.received ?? 0) !== total) throw new Error(`${path} trial ${trial}: receiver counted ${stats.received} of ${total}`);
      return {
        path,
        msgsPerSec: (total / ms) * 1000,
        ms,
        senderCpuUs: (cpu.user + cpu.system) / total,
        receiverCpuUs: (stats.cpuUs ?? NaN) / total,
        stats,
      };
    };

    if (warmup > 0) {
      for (const path of paths) {
        const r = await runTrial(path, warmup);
        log(`warm-up ${path}: ${Math.round(r.msgsPerSec)} msg/s`);
      }
    }
    const results: TrialResult[] = [];
    for (let i = 0; i < trials; i++) {
      for (const path of paths) {
        const r = await runTrial(path, n);
        results.push(r);
        log(`${path} #${i + 1}: ${n} msgs in ${r.ms.toFixed(0)} ms = ${Math.round(r.msgsPerSec)} msg/s; ` +
          `cpu/msg sender ${r.senderCpuUs.toFixed(1)} µs, receiver ${r.receiverCpuUs.toFixed(1)} µs; receiver ${JSON.stringify(r.stats)}`);
      }
    }

    const best = (p: Path) => Math.max(0, ...results.filter((r) => r.path === p).map((r) => r.msgsPerSec));
    /** Least CPU per message over a path's trials (the least disturbed), rounded to 0.1 µs. */
    const cpuOf = (p: Path) => {
      const rs = results.filter((r) => r.path === p);
      if (rs.length === 0) return null;
      const min = (xs: number[]) => Math.round(Math.min(...xs) * 10) / 10;
      return { sender: min(rs.map((r) => r.senderCpuUs)), receiver: min(rs.map((r) => r.receiverCpuUs)) };
    };
    const runtimeMsgsPerSec = Math.round(best('runtime'));
    const rawMsgsPerSec = Math.round(best('raw'));
    const sample = codec.encode(envelope(makePid(CLUSTER, 'master', 'runtimet1'), 'xxxxxxxx-1', { type: 'StatusUpdate', body }));
    const rawSample = newPackr().pack(rawBody ? body : { v: 1, type: 'StatusUpdate', from: makePid(CLUSTER, 'master', 'rawt1'), id: 'bench-1', body });

    await request({ op: 'exit' }).catch(() => undefined);
    process.stdout.write(`${JSON.stringify({
      runtimeMsgsPerSec,
      rawMsgsPerSec,
      ratio: rawMsgsPerSec > 0 ? Math.round((runtimeMsgsPerSec / rawMsgsPerSec) * 1000) / 1000 : null,
      messages: n,
      bytesPerMessage: sample.byteLength,
      rawBytesPerMessage: rawSample.byteLength,
      window,
      inflight,
      emit: batch ? 'batch' : 'event',
      cpuUsPerMessage: { runtime: cpuOf('runtime'), raw: cpuOf('raw') },
      trials: {
        runtime: results.filter((r) => r.path === 'runtime').map((r) => Math.round(r.msgsPerSec)),
        raw: results.filter((r) => r.path === 'raw').map((r) => Math.round(r.msgsPerSec)),
      },
    })}\n`);
  } finally {
    if (nc && !nc.isClosed()) await nc.close().catch(() => undefined);
    if (child && childExited) {
      const c = child;
      const exited = childExited;
      const quick = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 2000))]);
      if (!quick && c.pid !== undefined) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        await exited;
      }
    }
    await server?.stop();
  }
}

if (flags.role === 'receiver') {
  if (!flags.url) throw new Error('--url is required for --role=receiver');
  await receiver(flags.url);
} else {
  try {
    await sender();
    process.exit(0);
  } catch (e) {
    log(`failed: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  }
}
