/**
 * Hostile input on the bus, end to end: with a master, two agents and one framework up (its
 * scheduler runs in this test process), publish garbage with a raw NATS connection on every
 * subject they listen on, plus forged but well-formed messages from the wrong senders. Every
 * process must stay up, every bad message must be dropped at the edge with a logged reason (the
 * drop counter `bus/dropped/<reason>` is in-process only, so the log line with its `reason` is
 * what can be observed), forged messages must be ignored by the actors, and the cluster must
 * still run tasks afterwards.
 *
 * The cluster is secured, as it ships: the server's permissions would stop nearly all of this
 * before it reached a process. The garbage is thrown by a user allowed to publish anything on the
 * cluster's subjects (the harness's fuzzer), so that what is tested is the processes' own edge,
 * which must hold even if the server's did not.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import test from 'ava';
import { pino } from 'pino';
import { nkeys, type NatsConnection } from '@nats-io/transport-node';
import type { Credential } from '../../runtime/credentials.ts';
import { MAX_BYTES_BY_TYPE, MESSAGES, type MessageType } from '../../protocols/messages.ts';
import { checkBody, DEFAULT_MAX_MESSAGE_BYTES, type DropReason } from '../../protocols/envelope.ts';
import { ACTOR_KINDS, type ActorKind } from '../../protocols/pid.ts';
import { parseResources } from '../../protocols/resources.ts';
import type { Offer, TaskInfo } from '../../protocols/records.ts';
import { KvLeaderDetector } from '../../runtime/lease.ts';
import { SchedulerDriver, type Scheduler } from '../../runtime/scheduler-driver.ts';
import { connectNats, NatsTransport } from '../../runtime/transport-nats.ts';
import { DEFAULT_WAIT_MS, LineLog, parseJsonLine } from '../helpers/processes.ts';
import { E2ECluster, findSandboxes, logMsg, packr, tryUnpack } from './support.ts';

const e2e = new E2ECluster('e2e-garbage');
const RUN_MS = 120_000;

// ── the framework whose scheduler runs in this process ───────────────────────────────────────
/** The driver's pino output (JSON lines). */
const schedLog = new LineLog('scheduler');
/** What the scheduler's callbacks saw, as JSON lines (so they can be waited for). */
const callbacks = new LineLog('callbacks');
let transport: NatsTransport | undefined;
let driver: SchedulerDriver | undefined;
/** The first offer, kept unanswered so a forged LaunchTasks can target it. */
let held: Offer | undefined;
let heldUsed = false;
/** Task ids of every RunTask the master sent (seen on the bus). */
const runTasks: string[] = [];

const scheduler: Scheduler = {
  registered: (_d, frameworkId) => callbacks.push('stdout', `${JSON.stringify({ cb: 'registered', frameworkId })}\n`),
  resourceOffers: (d, offers) => {
    for (const o of offers) {
      callbacks.push('stdout', `${JSON.stringify({ cb: 'offer', offerId: o.id, agentId: o.agentId })}\n`);
      if (!held && !heldUsed) {
        held = o;
        callbacks.push('stdout', `${JSON.stringify({ cb: 'held', offerId: o.id })}\n`);
      } else {
        d.declineOffer(o.id, { refuseSeconds: 3600 });
      }
    }
  },
  statusUpdate: (_d, s) => callbacks.push('stdout', `${JSON.stringify({ cb: 'status', taskId: s.taskId, state: s.state, message: s.message })}\n`),
  error: (_d, message) => callbacks.push('stdout', `${JSON.stringify({ cb: 'error', message })}\n`),
};

test.before(async (t) => {
  t.timeout(4 * DEFAULT_WAIT_MS);
  await e2e.start(2);
  await e2e.tap((subject, data) => {
    const parts = subject.split('.');
    if (parts[2] === 'agent' && parts[4] === 'RunTask') {
      const env = tryUnpack(data);
      if (env && env.from === e2e.masterPid) runTasks.push(String((env.body as { task?: { taskId?: string } } | undefined)?.task?.taskId));
    }
  });
  const logger = pino({ name: 'e2e-scheduler', level: 'info' }, schedLog.writable());
  const nc = await connectNats({ servers: e2e.natsUrl, name: 'e2e-garbage-scheduler', logger, options: e2e.connectionOptions('scheduler') });
  transport = new NatsTransport(nc, { logger });
  const principal = e2e.principal('scheduler');
  driver = new SchedulerDriver(scheduler, { name: 'garbage-fw', roles: ['*'], ...(principal ? { principal } : {}) }, {
    transport,
    cluster: e2e.cluster,
    detector: new KvLeaderDetector({ nc, cluster: e2e.cluster, logger }),
    logger,
  });
  driver.start();
  await callbacks.waitForLine(/"cb":"registered"/, DEFAULT_WAIT_MS);
  await callbacks.waitForLine(/"cb":"held"/, DEFAULT_WAIT_MS);
  t.log(`cluster ${e2e.cluster}: master ${e2e.masterPid}; agents ${e2e.agents.map((a) => a.pid).join(', ')}; scheduler ${driver.pid} (framework ${driver.frameworkId})`);
});

test.after.always(async () => {
  if (driver?.actor) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      driver.stop().catch(() => undefined),
      new Promise((r) => (timer = setTimeout(r, 10_000))),
    ]);
    clearTimeout(timer);
  }
  await transport?.close().catch(() => {});
  await e2e.stop();
  if (e2e.leftovers.length > 0) console.error(`garbage.test.ts: killed leftover processes: ${JSON.stringify(e2e.leftovers)}`);
});

// ── building garbage ─────────────────────────────────────────────────────────────────────────
/** A bad message sent to a target, and the reasons its drop may carry. */
interface Sent {
  subject: string;
  /** The envelope's `from` when the drop reason is decided after the envelope is read. */
  from?: string;
  reasons: readonly DropReason[];
  what: string;
}

/** Someone we throw garbage at. */
interface Target {
  name: string;
  pid: string;
  kind: ActorKind;
  log: LineLog;
  /** A message type it receives, who may send it, a valid and an invalid body. */
  accepts: { type: MessageType; from: ActorKind; wrongFrom: ActorKind; valid: unknown; invalid: unknown };
  /** A message type that is never for this kind of actor, a legal sender and a valid body. */
  notForMe: { type: MessageType; from: ActorKind; valid: unknown };
}

const pad = (n: number) => 'x'.repeat(Math.max(0, n));
/** Exactly `size` bytes: `make(padding)` grown until it encodes to `size` (a few rounds at most). */
function sized(size: number, make: (padding: string) => Uint8Array): Uint8Array {
  let n = size - make('').byteLength;
  for (let i = 0; i < 10; i++) {
    const b = make(pad(n));
    if (b.byteLength === size) return b;
    n += size - b.byteLength;
  }
  throw new Error(`could not size a message to ${size} bytes`);
}

const resources = parseResources('cpus:0.1;mem:32');
const agentInfo = { hostname: 'forged', resources, attributes: [] };
const ALL_TYPES = [...Object.keys(MESSAGES), 'Bogus', 'registeragent', '__proto__'];
const SENDER_KINDS = [...ACTOR_KINDS, 'nobody'];

/**
 * Publishes the garbage for one target and returns what was sent. Every subject is unique (the
 * principal token carries a sequence number), or else the envelope's `from` is, so that each
 * drop line can be matched to the message that caused it.
 */
function throwGarbage(pub: NatsConnection, tg: Target, maxPayload: number): Sent[] {
  const sent: Sent[] = [];
  let seq = 0;
  const C = e2e.cluster;
  // Forged senders act as principal `g` (each PID is unique); subjects that carry no sender to match
  // a drop line by get a unique principal instead.
  const fake = (kind: string) => `mesos.${C}.${kind}.g.f${++seq}`;
  const subj = (type: string, kind: string) => `${tg.pid}.${type}.${kind}.g${++seq}`;
  const subjG = (type: string, kind: string) => `${tg.pid}.${type}.${kind}.g`;
  const env = (type: string, from: string, body: unknown, extra: Record<string, unknown> = {}) =>
    packr.pack({ v: 1, type, from, id: randomUUID(), body, ...extra });
  const send = (s: Sent, data: Uint8Array) => {
    pub.publish(s.subject, data);
    sent.push(s);
  };

  // Every type (known or not) from every kind of sender: random bytes, and a truncated envelope.
  for (const type of ALL_TYPES) {
    for (const kind of SENDER_KINDS) {
      send({ subject: subj(type, kind), reasons: ['malformed', 'bad-envelope'], what: `random bytes as ${type} from ${kind}` },
        randomBytes(1 + Math.floor(Math.random() * 300)));
      const whole = env(type, fake(kind), tg.accepts.valid);
      send({ subject: subj(type, kind), reasons: ['malformed'], what: `truncated ${type} from ${kind}` },
        whole.subarray(0, Math.floor(whole.byteLength / 2)));
    }
  }

  const { accepts: a, notForMe: n } = tg;
  // Not envelopes.
  send({ subject: subj(a.type, a.from), reasons: ['bad-envelope'], what: 'a msgpack number' }, packr.pack(42));
  send({ subject: subj(a.type, a.from), reasons: ['bad-envelope'], what: 'a map of something else' }, packr.pack({ hello: 'world' }));
  send({ subject: subj(a.type, a.from), reasons: ['bad-envelope'], what: 'an envelope without id' },
    packr.pack({ v: 1, type: a.type, from: fake(a.from), body: a.valid }));
  send({ subject: subj(a.type, a.from), reasons: ['bad-envelope'], what: 'an envelope with a string epoch' },
    env(a.type, fake(a.from), a.valid, { epoch: 'one' }));
  send({ subject: subj(a.type, a.from), reasons: ['bad-envelope'], what: 'an envelope with a 600-char from' },
    env(a.type, `mesos.${C}.${a.from}.${pad(600)}`, a.valid));
  // A future protocol version.
  let from = fake(a.from);
  send({ subject: subjG(a.type, a.from), from, reasons: ['unsupported-version'], what: 'protocol version 2' },
    env(a.type, from, a.valid, { v: 2 }));
  // Unknown types.
  for (const [subjectType, type] of [['Bogus', 'Bogus'], [a.type, 'Bogus'], ['__proto__', '__proto__'], ['constructor', 'constructor']] as const) {
    from = fake(a.from);
    send({ subject: subjG(subjectType, a.from), from, reasons: ['unknown-type'], what: `unknown type ${type} on a ${subjectType} subject` },
      env(type, from, a.valid));
  }
  // A type that is not for this kind of actor.
  from = fake(n.from);
  send({ subject: subjG(n.type, n.from), from, reasons: ['wrong-receiver'], what: `${n.type} (valid body) to a ${tg.kind}` },
    env(n.type, from, n.valid));
  // Wrong senders: a valid message from a kind that may not send it, and subjects that lie or are malformed.
  from = fake(a.wrongFrom);
  send({ subject: subjG(a.type, a.wrongFrom), from, reasons: ['wrong-sender'], what: `${a.type} (valid body) from a ${a.wrongFrom}` },
    env(a.type, from, a.valid));
  const lies: Array<[string, string]> = [
    [subj(a.type, 'operator'), `subject says operator, from is a ${a.from}`],
    [subj('Pong' === a.type ? 'Ping' : 'Pong', a.from), 'subject type differs from the envelope type'],
    [`${tg.pid}.${a.type}`, 'subject with the type only'],
    [`${tg.pid}.${a.type}.${a.from}`, 'subject without a principal'],
    [`${tg.pid}.${a.type}.${a.from}.g.extra`, 'subject with a token too many'],
    [`${tg.pid}.${a.type}.${a.from}.h`, 'subject naming another principal than the sender PID'],
  ];
  for (const [subject, what] of lies) {
    from = fake(a.from);
    send({ subject, from, reasons: ['wrong-sender'], what }, env(a.type, from, a.invalid));
  }
  from = 'not-a-pid';
  send({ subject: subjG(a.type, a.from), from, reasons: ['wrong-sender'], what: 'from is not a PID' }, env(a.type, from, a.invalid));
  // Valid everything but the body.
  from = fake(a.from);
  send({ subject: subjG(a.type, a.from), from, reasons: ['invalid-body'], what: `${a.type} with an invalid body` }, env(a.type, from, a.invalid));

  // Just below the size limit, bad content.
  const near = maxPayload - 100;
  from = fake(a.from);
  send({ subject: subj(a.type, a.from), reasons: ['malformed'], what: `truncated ${near}-byte envelope` },
    sized(near + 50, (p) => env(a.type, from, { pad: p })).subarray(0, near));
  from = fake(a.from);
  send({ subject: subjG('Bogus', a.from), from, reasons: ['unknown-type'], what: `${near}-byte envelope of an unknown type` },
    sized(near, (p) => env('Bogus', from, { pad: p })));
  from = fake(a.from);
  // A type with a size bound of its own below that is oversized first.
  const bound = MAX_BYTES_BY_TYPE[a.type as MessageType];
  send({ subject: subjG(a.type, a.from), from, reasons: [bound !== undefined && bound < near ? 'oversized' : 'invalid-body'], what: `${near}-byte ${a.type} with an invalid body` },
    sized(near, (p) => env(a.type, from, { pad: p })));
  return sent;
}

/** The drop lines of a log (since a mark), parsed. */
function drops(log: LineLog, since: number): Array<{ reason: string; subject: string; from?: string; type?: string }> {
  return log.filter(logMsg('dropped inbound message'), { since }).map((l) => parseJsonLine(l.text) as never);
}

/**
 * Announces `PUB <subject> <size>` on a raw TCP connection (no client library in the way; over
 * TLS when the server asks for it, with `credential`'s files) and returns what the server answers
 * before it closes the connection.
 */
function rawPublish(url: string, subject: string, size: number, credential?: Credential): Promise<string> {
  const u = new URL(url.replace(/^nats:/, 'http:'));
  return new Promise<string>((resolve, reject) => {
    let text = '';
    let sentPub = false;
    const raw = netConnect(Number(u.port || 4222), u.hostname);
    let sock: Socket = raw;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer from the server within ${DEFAULT_WAIT_MS} ms; got ${JSON.stringify(text)}`));
    }, DEFAULT_WAIT_MS);
    const done = () => {
      clearTimeout(timer);
      sock.destroy();
      raw.destroy();
      resolve(text);
    };
    const announce = (info: string) => {
      const auth = credential ? nkeyAuth(credential, info) : u.username ? { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } : {};
      // The header is enough: the server judges the announced size before reading the payload.
      sock.write(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, ...auth })}\r\nPUB ${subject} ${size}\r\n`);
    };
    const onData = (d: Buffer) => {
      text += d.toString('latin1');
      if (/-ERR/.test(text)) done();
    };
    raw.on('data', (d: Buffer) => {
      if (sentPub) return onData(d);
      text += d.toString('latin1');
      if (!text.includes('\r\n')) return;
      sentPub = true;
      const info = text;
      if (!/"tls_required":true/.test(info)) return announce(info);
      // The server wants TLS from here on: upgrade the same socket.
      raw.removeAllListeners('data');
      const tls = credential?.tls ?? {};
      sock = tlsConnect({
        socket: raw,
        host: u.hostname,
        ...(isIP(u.hostname) ? {} : { servername: u.hostname }),
        ...(tls.ca ? { ca: readFileSync(tls.ca) } : {}),
        ...(tls.cert ? { cert: readFileSync(tls.cert) } : {}),
        ...(tls.key ? { key: readFileSync(tls.key) } : {}),
      }, () => announce(info));
      sock.on('data', onData);
      sock.on('error', () => done());
      sock.on('close', () => done());
    });
    raw.on('error', () => done());
    raw.on('close', () => done());
  });
}

/** The CONNECT fields that authenticate as `c`: its public key and its signature of the INFO's nonce. */
function nkeyAuth(c: Credential, info: string): { nkey: string; sig: string } {
  const nonce = String((JSON.parse(info.slice(info.indexOf('{'), info.indexOf('\r\n'))) as { nonce?: string }).nonce ?? '');
  const kp = nkeys.fromSeed(new TextEncoder().encode(c.seed));
  return { nkey: kp.getPublicKey(), sig: Buffer.from(kp.sign(new TextEncoder().encode(nonce))).toString('base64url') };
}

// ── the tests ────────────────────────────────────────────────────────────────────────────────
test.serial('garbage on every subject is dropped at the edge with its reason, and nothing crashes', async (t) => {
  t.timeout(3 * DEFAULT_WAIT_MS);
  const C = e2e.cluster;
  const masterInvalid = { agent: 'not an AgentInfo', version: 7 };
  const targets: Target[] = [
    {
      name: 'master', pid: e2e.masterPid!, kind: 'master', log: e2e.master!,
      accepts: { type: 'RegisterAgent', from: 'agent', wrongFrom: 'scheduler', valid: { agent: agentInfo, version: '1' }, invalid: masterInvalid },
      notForMe: { type: 'AgentRegistered', from: 'master', valid: { agentId: 'forged', connection: { totalPingTimeoutSeconds: 75 } } },
    },
    ...e2e.agents.map((ag, i): Target => ({
      name: `agent${i + 1}`, pid: ag.pid, kind: 'agent', log: ag.proc,
      accepts: { type: 'Ping', from: 'master', wrongFrom: 'scheduler', valid: { connected: true }, invalid: { connected: 'yes' } },
      notForMe: { type: 'RegisterAgent', from: 'agent', valid: { agent: agentInfo, version: '1' } },
    })),
    {
      name: 'scheduler', pid: driver!.pid, kind: 'scheduler', log: schedLog,
      accepts: { type: 'ResourceOffers', from: 'master', wrongFrom: 'agent', valid: { offers: [] }, invalid: { offers: 'many' } },
      notForMe: { type: 'RegisterAgent', from: 'agent', valid: { agent: agentInfo, version: '1' } },
    },
  ];
  // The valid bodies really are valid: otherwise the test would prove less than it claims.
  for (const tg of targets) {
    t.is(checkBody(tg.accepts.type, tg.accepts.valid), undefined, `${tg.name} valid ${tg.accepts.type}`);
    t.not(checkBody(tg.accepts.type, tg.accepts.invalid), undefined, `${tg.name} invalid ${tg.accepts.type}`);
    t.is(checkBody(tg.notForMe.type, tg.notForMe.valid), undefined, `${tg.name} valid ${tg.notForMe.type}`);
  }

  const pub = await e2e.connect('e2e-garbage');
  const serverMax = pub.info?.max_payload ?? DEFAULT_MAX_MESSAGE_BYTES;
  const maxPayload = Math.min(serverMax, DEFAULT_MAX_MESSAGE_BYTES);
  t.log(`server max_payload ${serverMax} bytes, codec limit ${DEFAULT_MAX_MESSAGE_BYTES} bytes`);

  // Over the limit: the client library refuses, and so does the server for a raw client. So the
  // codec's own `oversized` check cannot be reached while max_payload <= its limit.
  t.throws(() => pub.publish(`${e2e.masterPid}.RegisterAgent.agent.big`, new Uint8Array(serverMax + 1)), { message: /max_payload/ });
  const answer = await rawPublish(e2e.natsUrl, `${e2e.masterPid}.RegisterAgent.agent.big`, serverMax + 1, e2e.fuzzer);
  t.regex(answer, /-ERR 'Maximum Payload Violation'/i);

  const marks = targets.map((tg) => tg.log.mark());
  const all = targets.map((tg) => throwGarbage(pub, tg, maxPayload));
  // Barrier: one more drop per target, published last on the same connection, so it is handled last.
  const barrier = `Zbarrier${randomUUID().slice(0, 8)}`;
  for (const [i, tg] of targets.entries()) {
    const from = `mesos.${C}.agent.g.barrier`;
    const s: Sent = { subject: `${tg.pid}.${barrier}.agent.barrier`, from, reasons: ['unknown-type'], what: 'barrier' };
    pub.publish(s.subject, packr.pack({ v: 1, type: barrier, from, id: randomUUID(), body: {} }));
    all[i]!.push(s);
  }
  await pub.flush();
  await Promise.all(targets.map((tg, i) => tg.log.waitForLine(logMsg('dropped inbound message', (j) => j.type === barrier), DEFAULT_WAIT_MS, { since: marks[i] })));

  for (const [i, tg] of targets.entries()) {
    const got = drops(tg.log, marks[i]!);
    const sent = all[i]!;
    t.is(got.length, sent.length, `${tg.name}: ${sent.length} bad messages sent, ${got.length} drop lines`);
    const bySubject = new Map<string, typeof got>();
    for (const d of got) bySubject.set(d.subject, [...(bySubject.get(d.subject) ?? []), d]);
    const wrong: string[] = [];
    for (const s of sent) {
      const lines = (bySubject.get(s.subject) ?? []).filter((d) => s.from === undefined || d.from === s.from);
      if (lines.length !== 1 || !s.reasons.includes(lines[0]!.reason as DropReason)) {
        wrong.push(`${s.what} on ${s.subject}: expected one drop with ${s.reasons.join('|')}, got ${JSON.stringify(lines.map((d) => d.reason))}`);
      }
    }
    t.deepEqual(wrong, [], `${tg.name}: drops that do not match what was sent`);
    const reasons = new Set(got.map((d) => d.reason));
    for (const r of ['malformed', 'bad-envelope', 'unsupported-version', 'unknown-type', 'wrong-receiver', 'wrong-sender', 'invalid-body']) {
      t.true(reasons.has(r), `${tg.name}: no drop with reason ${r}`);
    }
    t.log(`${tg.name}: ${got.length} messages dropped (${[...reasons].sort().join(', ')})`);
  }

  for (const p of [e2e.master!, ...e2e.agents.map((a) => a.proc)]) t.true(p.running, `${p.name} died:\n${p.tail()}`);
  t.is(driver!.actor?.getSnapshot().status, 'active', 'the in-process scheduler driver stopped');
  // Dropping is a warning; nothing may have surfaced as an error (a handler that threw, a failed machine).
  for (const [i, tg] of targets.entries()) {
    t.deepEqual(tg.log.filter(/"level":(50|60)/, { since: marks[i] }).map((l) => l.text).slice(0, 5), [], `${tg.name} logged errors`);
  }
});

test.serial('well-formed messages from the wrong actor are ignored by the master, the agents and the scheduler', async (t) => {
  t.timeout(3 * DEFAULT_WAIT_MS);
  const C = e2e.cluster;
  const pub = await e2e.connect('e2e-forger');
  const fw = driver!.frameworkId!;
  const fakeMaster = `mesos.${C}.master.anonymous.fake${randomUUID().slice(0, 8)}`;
  const evilScheduler = `mesos.${C}.scheduler.anonymous.evil${randomUUID().slice(0, 8)}`;
  const forge = (to: string, type: MessageType, from: string, body: unknown, epoch?: number) => {
    t.is(checkBody(type, body), undefined, `forged ${type} body must be valid`);
    const kind = from.split('.')[2]!;
    pub.publish(`${to}.${type}.${kind}.anonymous`, packr.pack({ v: 1, type, from, id: randomUUID(), body, ...(epoch !== undefined ? { epoch } : {}) }));
  };
  const evilTask = (taskId: string, agentId: string, marker: string): TaskInfo => ({
    taskId, name: taskId, agentId, resources, command: { value: `touch '${marker}'` },
  });
  const marks = { master: e2e.master!.mark(), agents: e2e.agents.map((a) => a.proc.mark()), sched: schedLog.mark(), cb: callbacks.mark() };

  // To the master: another scheduler speaking for our framework, on the offer we hold.
  const launchMarker = `${e2e.workRoot}/evil-launch-ran`;
  forge(e2e.masterPid!, 'LaunchTasks', evilScheduler, { frameworkId: fw, offerIds: [held!.id], tasks: [evilTask('evil-launch', held!.agentId, launchMarker)] });
  forge(e2e.masterPid!, 'TeardownFramework', evilScheduler, { frameworkId: fw });
  // To each agent: a fake master re-registering it, pinging it and giving it a task.
  const runMarker = `${e2e.workRoot}/evil-runtask-ran`;
  for (const a of e2e.agents) {
    forge(a.pid, 'AgentRegistered', fakeMaster, { agentId: 'forged-S9', connection: { totalPingTimeoutSeconds: 1 } }, 999_999);
    forge(a.pid, 'Ping', fakeMaster, { connected: true }, 999_999);
    forge(a.pid, 'RunTask', fakeMaster, { frameworkId: fw, framework: { name: 'garbage-fw', id: fw }, task: evilTask('evil-runtask', a.agentId, runMarker) }, 999_999);
  }
  // To the scheduler: a fake master offering resources and declaring a framework error.
  const fakeOffer: Offer = { id: 'evil-offer', frameworkId: fw, agentId: held!.agentId, hostname: 'forged', resources, attributes: [], executorIds: [] };
  forge(driver!.pid, 'ResourceOffers', fakeMaster, { offers: [fakeOffer] }, 999_999);
  forge(driver!.pid, 'FrameworkError', fakeMaster, { message: 'forged error' }, 999_999);
  await pub.flush();

  const ignored = (re: RegExp, from: string) => logMsg(re, (j) => j.from === from);
  await e2e.master!.waitForLine(ignored(new RegExp(`^Ignoring LaunchTasks for framework ${fw} because it was not sent by its scheduler`), evilScheduler), DEFAULT_WAIT_MS, { since: marks.master });
  await e2e.master!.waitForLine(ignored(new RegExp(`^Ignoring TeardownFramework for framework ${fw} because it was not sent by its scheduler`), evilScheduler), DEFAULT_WAIT_MS, { since: marks.master });
  for (const [i, a] of e2e.agents.entries()) {
    // Ping and RunTask were published after AgentRegistered: once they are logged, it was handled.
    await a.proc.waitForLine(ignored(/^Ignoring Ping because it was not sent by the leading master/, fakeMaster), DEFAULT_WAIT_MS, { since: marks.agents[i] });
    await a.proc.waitForLine(ignored(/^Ignoring RunTask because it was not sent by the leading master/, fakeMaster), DEFAULT_WAIT_MS, { since: marks.agents[i] });
    t.deepEqual(a.proc.filter(logMsg(/^Registered with master/, (j) => j.master === fakeMaster)).map((l) => l.text), [], `${a.proc.name} took the fake master's AgentRegistered`);
    t.deepEqual(a.proc.filter(logMsg('launched executor'), { since: marks.agents[i] }).map((l) => l.text), [], `${a.proc.name} launched a forged task`);
  }
  await schedLog.waitForLine(ignored(/^Ignoring ResourceOffers because it was not sent by the leading master/, fakeMaster), DEFAULT_WAIT_MS, { since: marks.sched });
  await schedLog.waitForLine(ignored(/^Ignoring FrameworkError because it was not sent by the leading master/, fakeMaster), DEFAULT_WAIT_MS, { since: marks.sched });
  t.deepEqual(callbacks.filter(/evil-offer|"cb":"error"/, { since: marks.cb }).map((l) => l.text), [], 'forged offers or errors reached the scheduler');
  t.is(driver!.actor?.getSnapshot().status, 'active');
  for (const p of [e2e.master!, ...e2e.agents.map((a) => a.proc)]) t.true(p.running, `${p.name} died:\n${p.tail()}`);

  // The framework still owns its offer: it launches on it, and the task runs.
  heldUsed = true;
  const offer = held!;
  held = undefined;
  driver!.launchTasks([offer.id], [{ taskId: 'legit', name: 'legit', agentId: offer.agentId, resources, command: { value: 'echo legit' } }]);
  const end = await callbacks.waitForLine(/"taskId":"legit","state":"TASK_(FINISHED|FAILED|KILLED|ERROR|LOST|DROPPED)"/, RUN_MS, { since: marks.cb });
  t.regex(end.text, /TASK_FINISHED/, callbacks.tail());
  t.false(existsSync(launchMarker), 'the forged LaunchTasks ran');
  t.false(existsSync(runMarker), 'the forged RunTask ran');
  t.false(runTasks.some((id) => id.startsWith('evil')), `the master sent forged tasks: ${runTasks.join(', ')}`);
  for (const a of e2e.agents) {
    t.deepEqual(await findSandboxes(a.workDir, 'evil-launch'), []);
    t.deepEqual(await findSandboxes(a.workDir, 'evil-runtask'), []);
  }
});

// Mesos' agent logs "Ignoring registration message from <pid> because it is not the expected
// master" in every state, including once registered.
test.serial('an AgentRegistered from a fake master is logged as not sent by the leading master', (t) => {
  for (const a of e2e.agents) {
    t.true(a.proc.filter(logMsg(/^Ignoring AgentRegistered because it was not sent by the leading master/)).length > 0, `${a.proc.name} did not log it`);
  }
});

test.serial('after the garbage, mesos-execute still runs a task to TASK_FINISHED', async (t) => {
  t.timeout(RUN_MS + DEFAULT_WAIT_MS);
  const p = e2e.procs.start('mesos-execute', [...e2e.flags('scheduler'), '--command=echo after-garbage', '--name=after-garbage'], { label: 'mesos-execute' });
  const st = await p.waitForExit(RUN_MS);
  t.is(st.code, 0, p.tail());
  t.regex(p.output('stdout'), /TASK_FINISHED/);
  for (const q of [e2e.master!, ...e2e.agents.map((a) => a.proc)]) t.true(q.running, `${q.name} died:\n${q.tail()}`);
});

test.serial('stopping the agents leaves no executor processes behind', async (t) => {
  t.timeout(2 * DEFAULT_WAIT_MS);
  await e2e.stopAgents();
  const stray = e2e.strayProcesses();
  t.deepEqual(stray, [], `processes of ${e2e.cluster} still running: ${JSON.stringify(stray)}`);
});
