/**
 * Bus throughput benchmark (`npm run bench:bus`): the runtime's send/receive path between two OS
 * processes, against plain NATS + msgpackr publish/subscribe of the same bytes, in the same run —
 * on a bus secured as the project ships it and on a plain one, also in the same run.
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
 * `--security` picks the bus: `both` (default) starts two nats-servers, each with a receiver
 * process of its own, and measures both paths on each:
 * - `plain` (`--security=off`): no users, no TLS; sender and receiver are anonymous.
 * - `secured` (`--security=on`): the bus as a cluster ships it (`credentials.ts`, `tls.ts`): NATS
 *   users authenticated by NKeys with per-principal subject permissions, and TLS on every
 *   connection with the cluster's own CA, the server requiring client certificates. The sender
 *   connects as a master principal (its PIDs are that master's) and the receiver as a scheduler
 *   principal, each with `connectionOptions` of its credential. Their mesos subjects are exactly
 *   the shipped permissions; the bench's own control subjects (`bench.ctl`, `bench.ack.>`, and
 *   the sender's reply inbox for the receiver) are allowed on top. The credentials go in a
 *   temporary directory, removed at the end.
 * With `NATS_URL` set only `plain` can run (on that server, whose users are not the bench's):
 * `secured` is then reported as `null`, with the reason in `securedSkipped`.
 *
 * Flow control is identical on every path: at most `--inflight` messages unacknowledged. After a
 * warm-up of `--warmup` messages per path and bus, each path runs `--trials` times on each bus,
 * interleaved (trial i of every bus and path before trial i + 1 of any, the order reversed every
 * other trial), so that the noise of the machine falls on all alike; the best rate of each is
 * reported. The rate is messages / (time of the last ack − time of the first send), both read in
 * the sender. `cpuUsPerMessage` is CPU time (user + system) per message in each process, the least
 * over a path's trials: less sensitive than rates to other load on the machine.
 *
 * Other flags: `--emit=batch` (one local event emits a whole window of sends), `--raw-payload=body`
 * (the raw path packs only the body), `--paths=runtime` (one path only, e.g. to profile it) and
 * `--receiver-node-args='--cpu-prof --cpu-prof-dir=DIR'` (run the sender itself with
 * `node --cpu-prof --import tsx test/bench/bus.ts` to profile both sides).
 *
 * Prints one JSON line on stdout; logs go to stderr. Besides the settings (`security`, `messages`,
 * `window`, `inflight`, `emit`), per bus (`plain`, `secured`: each present when asked for) the
 * figures of that bus: `runtimeMsgsPerSec`, `rawMsgsPerSec`, `ratio` (runtime / raw),
 * `bytesPerMessage`, `rawBytesPerMessage`, `cpuUsPerMessage` and every trial's rate (`trials`).
 * With both buses, the cost of security as secured / plain: `securedOverPlainRuntimeRate` and
 * `securedOverPlainRawRate` (rates: 0.9 is 10 % slower) and `securedOverPlainCpuPerMessage`
 * (per path, sender and receiver: 1.1 is 10 % more CPU per message); `null` where a bus did not run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Packr } from 'msgpackr';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { emit, enqueueActions, setup } from 'xstate';
import { envelope } from '../../protocols/envelope.ts';
import type { Body } from '../../protocols/messages.ts';
import { ANONYMOUS_PRINCIPAL, inboxOf, pid as makePid, subjectFor } from '../../protocols/pid.ts';
import { send, type Inbound, type SendEvent } from '../../actors/common.ts';
import { defaultCodec, hostActor, type ActorHost } from '../../runtime/actor-host.ts';
import {
  authorizationConfig,
  connectionOptions,
  inboxPrefixFor,
  loadCredential,
  permissionsFor,
  serverUser,
  writeCredentials,
  type Credential,
} from '../../runtime/credentials.ts';
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
    /** The receiver's credential file (on the secured bus). */
    credential: { type: 'string' },
    /** The bus: `both` (a plain and a secured server, trials interleaved), `on` (secured only) or `off` (plain only). */
    security: { type: 'string', default: 'both' },
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

async function receiver(url: string, credentialFile: string | undefined): Promise<void> {
  const credential = credentialFile !== undefined ? loadCredential(credentialFile) : undefined;
  // No reconnects: when the parent's server goes away, so does this process.
  const nc = await connect({
    servers: url,
    name: 'bench-receiver',
    maxReconnectAttempts: 0,
    ...(credential ? connectionOptions(credential) : {}),
  });
  void nc.closed().then(() => process.exit(0));
  void logServerErrors(nc, 'receiver');
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

/**
 * Logs the errors the server reports on `nc` (a permissions violation, above all: the server drops
 * the message and keeps the connection, so a trial would only time out).
 */
async function logServerErrors(nc: NatsConnection, who: string): Promise<void> {
  for await (const s of nc.status()) if (s.type === 'error') log(`${who}: server error: ${s.error.message}`);
}

// ── the buses ────────────────────────────────────────────────────────────────────────────

type Security = 'plain' | 'secured';

/** The principals of the secured bus: a master sends, a framework receives. */
const SECURED_SENDER = 'master';
const SECURED_RECEIVER = 'framework';

/**
 * Credentials for the secured bus, written into `dir` as a cluster's are (`writeCredentials`, TLS
 * included), and the server's configuration: one user per principal with the permissions its kind
 * ships with, plus the bench's control subjects, and the `tls` block.
 */
function securedBus(dir: string): { config: string; sender: Credential; receiverFile: string } {
  const set = writeCredentials(dir, { cluster: CLUSTER, masters: [SECURED_SENDER], agents: [], frameworks: [SECURED_RECEIVER], operators: [] });
  const sender = set.credentials.find((c) => c.kind === 'master' && c.principal === SECURED_SENDER);
  const receiverCred = set.credentials.find((c) => c.kind === 'scheduler' && c.principal === SECURED_RECEIVER);
  const receiverFile = set.files[`scheduler:${SECURED_RECEIVER}`];
  if (!sender || !receiverCred || !receiverFile || !set.tlsConfig) throw new Error('writeCredentials did not write what the secured bus needs');
  const s = permissionsFor('master', sender.principal, CLUSTER);
  const r = permissionsFor('scheduler', receiverCred.principal, CLUSTER);
  const users = [
    // The sender asks on `bench.ctl` (replies come to its own inbox, already allowed) and reads acks.
    serverUser(sender, { publish: [...s.publish, CTL], subscribe: [...s.subscribe, ackSubject('>')] }),
    // The receiver answers control requests (in the sender's inbox) and publishes acks.
    serverUser(receiverCred, {
      publish: [...r.publish, ackSubject('>'), `${inboxPrefixFor(sender.principal)}.>`],
      subscribe: [...r.subscribe, CTL],
    }),
  ];
  return { config: authorizationConfig([], users) + readFileSync(set.tlsConfig, 'utf8'), sender, receiverFile };
}

/** One bus under test: its server, receiver process and the sender's connection to it. */
interface Bus {
  security: Security;
  /** The principals of sender (a master) and receiver (a scheduler) in PIDs and subjects. */
  senderPrincipal: string;
  receiverPrincipal: string;
  server?: NatsServerHandle;
  child?: ChildProcess;
  childExited?: Promise<void>;
  conn?: NatsConnection;
  transport?: NatsTransport;
}

// ── sender process ───────────────────────────────────────────────────────────────────────

interface TrialResult {
  security: Security;
  path: Path;
  msgsPerSec: number;
  ms: number;
  /** CPU time (user + system) per message in the sender and in the receiver, µs. */
  senderCpuUs: number;
  receiverCpuUs: number;
  stats: Record<string, number>;
}

const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;

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
  const security = flags.security;
  if (security !== 'both' && security !== 'on' && security !== 'off') throw new Error(`--security must be both, on or off, not '${security}'`);
  const envUrl = process.env.NATS_URL?.trim() || undefined;
  const wantPlain = security !== 'on';
  const wantSecured = security !== 'off';
  const securedSkipped = wantSecured && envUrl
    ? 'NATS_URL is set: the secured bus needs a server with the bench\'s users and TLS, which the bench starts itself; unset NATS_URL to measure it'
    : undefined;
  if (securedSkipped) log(`secured bus skipped: ${securedSkipped}`);

  const buses: Bus[] = [
    ...(wantPlain ? [{ security: 'plain' as const, senderPrincipal: ANONYMOUS_PRINCIPAL, receiverPrincipal: ANONYMOUS_PRINCIPAL }] : []),
    ...(wantSecured && !securedSkipped ? [{ security: 'secured' as const, senderPrincipal: SECURED_SENDER, receiverPrincipal: SECURED_RECEIVER }] : []),
  ];
  let credentialsDir: string | undefined;
  try {
    const argv = nodeScriptArgv(fileURLToPath(import.meta.url));
    const nodeArgs = flags['receiver-node-args'].split(' ').filter((a) => a.length > 0);
    /** Per bus: how to ask its receiver (request/reply on `bench.ctl`). */
    const requests = new Map<Security, (req: Ctl) => Promise<CtlReply>>();

    for (const bus of buses) {
      let url: string;
      let receiverArgs: string[] = [];
      let options = {};
      if (bus.security === 'plain') {
        url = envUrl ?? (bus.server = await startNatsServer({ jetstream: false })).url;
      } else {
        credentialsDir = mkdtempSync(join(tmpdir(), 'bench-bus-credentials-'));
        const sec = securedBus(credentialsDir);
        url = (bus.server = await startNatsServer({ jetstream: false, config: sec.config })).url;
        receiverArgs = [`--credential=${sec.receiverFile}`];
        options = connectionOptions(sec.sender);
      }
      log(`${bus.security} nats ${url}${bus.server ? ` (pid ${bus.server.pid})` : ''}`);

      const c = spawn(argv[0]!, [...nodeArgs, ...argv.slice(1), '--role=receiver', `--url=${url}`, ...receiverArgs], { stdio: ['ignore', 2, 2] });
      bus.child = c;
      bus.childExited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      log(`${bus.security} receiver pid ${c.pid}`);

      const conn = await connect({ servers: url, name: 'bench-sender', ...options });
      bus.conn = conn;
      log(`${bus.security} sender connected (server requires TLS: ${conn.info?.tls_required === true}, auth: ${conn.info?.auth_required === true})`);
      void logServerErrors(conn, `${bus.security} sender`);
      bus.transport = new NatsTransport(conn);
      requests.set(bus.security, async (req: Ctl): Promise<CtlReply> => {
        const m = await conn.request(CTL, ctlPackr.pack(req), { timeout: 10_000 });
        const r = ctlPackr.unpack(m.data) as CtlReply;
        if (!r.ok) throw new Error(`${bus.security} receiver: ${req.op} failed: ${r.error}`);
        return r;
      });
    }

    // Wait for the receivers to come up (tsx start-up takes a moment).
    for (const bus of buses) {
      const upBy = Date.now() + 30_000;
      for (;;) {
        try {
          await requests.get(bus.security)!({ op: 'ping' });
          break;
        } catch (e) {
          if (Date.now() > upBy) throw new Error(`${bus.security} receiver did not answer: ${(e as Error).message}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }

    const body = statusUpdateBody();
    const codec = defaultCodec();
    let trialSeq = 0;

    const runTrial = async (bus: Bus, path: Path, total: number): Promise<TrialResult> => {
      const conn = bus.conn!;
      const request = requests.get(bus.security)!;
      const trial = `t${++trialSeq}`;
      const to = makePid(CLUSTER, 'scheduler', `${path}${trial}`, bus.receiverPrincipal);
      const from = makePid(CLUSTER, 'master', `${path}${trial}`, bus.senderPrincipal);

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
        const host = hostActor(senderMachine, { to, body }, { pid: from, transport: bus.transport!, logger: silentLogger() });
        const pump = { type: 'pump' } as const;
        sendOne = () => host.send(pump);
        if (batch) sendMany = (k) => host.send({ type: 'pumpMany', n: k });
        stopSender = () => host.stop();
      } else {
        const packr = newPackr();
        const subject = subjectFor(to, 'StatusUpdate', 'master', bus.senderPrincipal);
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
          const t = setTimeout(() => reject(new Error(`${bus.security} ${path} trial ${trial}: no progress (acked ${acked}/${total})`)), Math.max(1, deadline - Date.now()));
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
      if ((stats.received ?? 0) !== total) throw new Error(`${bus.security} ${path} trial ${trial}: receiver counted ${stats.received} of ${total}`);
      return {
        security: bus.security,
        path,
        msgsPerSec: (total / ms) * 1000,
        ms,
        senderCpuUs: (cpu.user + cpu.system) / total,
        receiverCpuUs: (stats.cpuUs ?? NaN) / total,
        stats,
      };
    };

    // Every bus and path, in one order; trials alternate it with its reverse.
    const combos = buses.flatMap((bus) => paths.map((path) => ({ bus, path })));
    if (warmup > 0) {
      for (const { bus, path } of combos) {
        const r = await runTrial(bus, path, warmup);
        log(`warm-up ${bus.security} ${path}: ${Math.round(r.msgsPerSec)} msg/s`);
      }
    }
    const results: TrialResult[] = [];
    for (let i = 0; i < trials; i++) {
      for (const { bus, path } of i % 2 === 0 ? combos : [...combos].reverse()) {
        const r = await runTrial(bus, path, n);
        results.push(r);
        log(`${bus.security} ${path} #${i + 1}: ${n} msgs in ${r.ms.toFixed(0)} ms = ${Math.round(r.msgsPerSec)} msg/s; ` +
          `cpu/msg sender ${r.senderCpuUs.toFixed(1)} µs, receiver ${r.receiverCpuUs.toFixed(1)} µs; receiver ${JSON.stringify(r.stats)}`);
      }
    }

    const of = (s: Security, p: Path) => results.filter((r) => r.security === s && r.path === p);
    const best = (s: Security, p: Path) => Math.max(0, ...of(s, p).map((r) => r.msgsPerSec));
    /** Least CPU per message over a path's trials on a bus (the least disturbed), µs. */
    const cpuOf = (s: Security, p: Path) => {
      const rs = of(s, p);
      return rs.length === 0 ? null : { sender: Math.min(...rs.map((r) => r.senderCpuUs)), receiver: Math.min(...rs.map((r) => r.receiverCpuUs)) };
    };
    const cpuOut = (c: ReturnType<typeof cpuOf>) => (c ? { sender: round(c.sender, 1), receiver: round(c.receiver, 1) } : null);
    /** The figures of one bus (the shape of this bench's output before it had buses). */
    const summary = (bus: Bus) => {
      const s = bus.security;
      const runtimeMsgsPerSec = Math.round(best(s, 'runtime'));
      const rawMsgsPerSec = Math.round(best(s, 'raw'));
      const from = (id: string) => makePid(CLUSTER, 'master', id, bus.senderPrincipal);
      const sample = codec.encode(envelope(from('runtimet1'), 'xxxxxxxx-1', { type: 'StatusUpdate', body }));
      const rawSample = newPackr().pack(rawBody ? body : { v: 1, type: 'StatusUpdate', from: from('rawt1'), id: 'bench-1', body });
      return {
        runtimeMsgsPerSec,
        rawMsgsPerSec,
        ratio: rawMsgsPerSec > 0 ? round(runtimeMsgsPerSec / rawMsgsPerSec, 3) : null,
        bytesPerMessage: sample.byteLength,
        rawBytesPerMessage: rawSample.byteLength,
        cpuUsPerMessage: { runtime: cpuOut(cpuOf(s, 'runtime')), raw: cpuOut(cpuOf(s, 'raw')) },
        trials: {
          runtime: of(s, 'runtime').map((r) => Math.round(r.msgsPerSec)),
          raw: of(s, 'raw').map((r) => Math.round(r.msgsPerSec)),
        },
      };
    };
    /** secured / plain, or null where either is missing. */
    const over = (secured: number | undefined, plain: number | undefined, digits = 3) =>
      secured !== undefined && plain !== undefined && secured > 0 && plain > 0 ? round(secured / plain, digits) : null;
    const rateOver = (p: Path) => over(of('secured', p).length ? best('secured', p) : undefined, of('plain', p).length ? best('plain', p) : undefined);
    const cpuOver = (p: Path) => {
      const s = cpuOf('secured', p);
      const q = cpuOf('plain', p);
      return s && q ? { sender: over(s.sender, q.sender), receiver: over(s.receiver, q.receiver) } : null;
    };

    for (const bus of buses) await requests.get(bus.security)!({ op: 'exit' }).catch(() => undefined);
    const out: Record<string, unknown> = { security, messages: n, window, inflight, emit: batch ? 'batch' : 'event' };
    const plain = buses.find((b) => b.security === 'plain');
    const secured = buses.find((b) => b.security === 'secured');
    if (wantPlain) out.plain = plain ? summary(plain) : null;
    if (wantSecured) {
      out.secured = secured ? summary(secured) : null;
      if (securedSkipped) out.securedSkipped = securedSkipped;
    }
    if (security === 'both') {
      out.securedOverPlainRuntimeRate = rateOver('runtime');
      out.securedOverPlainRawRate = rateOver('raw');
      out.securedOverPlainCpuPerMessage = { runtime: cpuOver('runtime'), raw: cpuOver('raw') };
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    for (const bus of buses) {
      if (bus.conn && !bus.conn.isClosed()) await bus.conn.close().catch(() => undefined);
    }
    for (const bus of buses) {
      if (bus.child && bus.childExited) {
        const c = bus.child;
        const exited = bus.childExited;
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
    }
    for (const bus of buses) await bus.server?.stop();
    if (credentialsDir) rmSync(credentialsDir, { recursive: true, force: true });
  }
}

if (flags.role === 'receiver') {
  if (!flags.url) throw new Error('--url is required for --role=receiver');
  await receiver(flags.url, flags.credential);
} else {
  try {
    await sender();
    process.exit(0);
  } catch (e) {
    log(`failed: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  }
}
