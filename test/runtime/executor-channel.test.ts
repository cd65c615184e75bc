/**
 * The local channel between an agent and its executors, on real Unix sockets: who may connect,
 * what an executor may send (only to its agent, only as itself), what waits for whom, and an
 * agent restart in between.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { createConnection } from 'node:net';
import { Codec, envelope } from '../../protocols/envelope.ts';
import { executorPid, inboxOf, pid, subjectFrom, parsePid } from '../../protocols/pid.ts';
import type { Message } from '../../protocols/messages.ts';
import { AgentTransport, ExecutorChannel, ExecutorChannelServer, channelEndpoint, executorToken } from '../../runtime/executor-channel.ts';
import { Metrics } from '../../runtime/metrics.ts';
import { MemoryBus } from '../../runtime/transport-memory.ts';

const CLUSTER = 'chan';
const codec = new Codec();
const secret = Buffer.alloc(32, 7);

/** A logger that lets a test wait for a warning. */
function watchingLogger() {
  const warnings: Array<Record<string, unknown>> = [];
  const waiters: Array<{ pred: (w: Record<string, unknown>) => boolean; resolve: () => void }> = [];
  const logger = {
    debug() {},
    info() {},
    error() {},
    warn(obj: object) {
      const o = obj as Record<string, unknown>;
      warnings.push(o);
      for (const w of waiters.splice(0)) {
        if (w.pred(o)) w.resolve();
        else waiters.push(w);
      }
    },
  };
  const warned = (pred: (w: Record<string, unknown>) => boolean) =>
    warnings.some(pred) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ pred, resolve }));
  return { logger, warnings, warned };
}

/** An inbox that resolves `next()` with each message it gets, in order. */
function inbox() {
  const got: Array<{ subject: string; type: string; from: string }> = [];
  let wake: (() => void) | undefined;
  const handler = (subject: string, data: Uint8Array) => {
    const e = codec.decode(data, subject.split('.', 5).join('.'), subject);
    got.push({ subject, type: e.ok ? e.envelope.type : `!${e.reason}`, from: e.ok ? e.envelope.from : '' });
    wake?.();
  };
  const next = async (n: number) => {
    while (got.length < n) await new Promise<void>((r) => (wake = r));
    return got.slice(0, n);
  };
  return { got, handler, next };
}

function setup(t: { teardown(fn: () => unknown): void }) {
  const endpoint = channelEndpoint(`/nonexistent/agent-${randomUUID()}`);
  const agentPid = pid(CLUSTER, 'agent', 'a1', 'agent');
  const metrics = new Metrics();
  const w = watchingLogger();
  const server = new ExecutorChannelServer({ endpoint, cluster: CLUSTER, agentPid, secret, logger: w.logger, metrics });
  const closers: Array<() => Promise<void>> = [() => server.close()];
  t.teardown(async () => {
    for (const c of closers) await c();
  });
  const executor = (containerId: string, token = executorToken(secret, containerId)) => {
    const ch = new ExecutorChannel({ endpoint, containerId, token, maxRetryMs: 100 });
    closers.push(() => ch.close());
    return { ch, pid: executorPid(CLUSTER, containerId) };
  };
  const send = (transport: { publish(s: string, d: Uint8Array): void }, from: string, to: string, msg: Message) =>
    transport.publish(subjectFrom(to, msg.type, parsePid(from)!), codec.encode(envelope(from, randomUUID(), msg)));
  return { endpoint, agentPid, metrics, server, executor, send, ...w };
}

const register: Message = { type: 'RegisterExecutor', body: { frameworkId: 'F1', executorId: 'e1' } };
const shutdown: Message = { type: 'ShutdownExecutor', body: {} };

test('an executor with its token reaches its agent, and the agent reaches it; what either sent before the connection waits for it', async (t) => {
  const s = setup(t);
  const agentIn = inbox();
  s.server.subscribe(inboxOf(s.agentPid), agentIn.handler);
  const { ch, pid: ex } = s.executor('C1');
  const exIn = inbox();
  ch.subscribe(inboxOf(ex), exIn.handler);
  // Both sides speak before the agent listens.
  s.send(ch, ex, s.agentPid, register);
  s.send(s.server, s.agentPid, ex, shutdown);
  await s.server.listen();
  t.deepEqual((await agentIn.next(1)).map((m) => [m.type, m.from]), [['RegisterExecutor', ex]]);
  t.deepEqual((await exIn.next(1)).map((m) => [m.type, m.from]), [['ShutdownExecutor', s.agentPid]]);
  t.deepEqual(s.server.connected, [ex]);
});

test('a wrong token, no hello, and an oversized frame are refused and counted; nothing is delivered', async (t) => {
  const s = setup(t);
  const agentIn = inbox();
  s.server.subscribe(inboxOf(s.agentPid), agentIn.handler);
  await s.server.listen();
  // Another container's token.
  const { ch, pid: ex } = s.executor('C2', executorToken(secret, 'C1'));
  s.send(ch, ex, s.agentPid, register);
  await s.warned((w) => w.reason === 'bad-token');
  // A token minted under another secret.
  s.executor('C3', executorToken(Buffer.alloc(32, 8), 'C3'));
  await s.warned((w) => w.reason === 'bad-token' && w.claimed === 'C3');
  // A raw client that skips the hello, then one that announces a frame of 64 MiB.
  for (const [bytes, reason] of [[Buffer.from([0, 0, 0, 8, 0, 3, 0x61, 0x2e, 0x62, 1, 2, 3]), 'no-hello'], [Buffer.from([4, 0, 0, 0, 0, 0]), 'oversized']] as const) {
    const sock = createConnection(s.endpoint);
    sock.on('error', () => {});
    sock.write(bytes);
    await s.warned((w) => w.reason === reason);
    sock.destroy();
  }
  t.is(agentIn.got.length, 0);
  t.true(s.metrics.get('executor_channel/dropped/bad-token') >= 2);
  t.is(s.metrics.get('executor_channel/dropped/no-hello'), 1);
  t.is(s.metrics.get('executor_channel/dropped/oversized'), 1);
  t.deepEqual(s.server.connected, []);
});

test('an executor can send only to its agent, and only as itself', async (t) => {
  const s = setup(t);
  const agentIn = inbox();
  s.server.subscribe('mesos.>', agentIn.handler);
  await s.server.listen();
  const { ch, pid: ex } = s.executor('C1');
  const other = executorPid(CLUSTER, 'C9');
  // To the master, to another executor, and to its agent signed as another executor.
  s.send(ch, ex, pid(CLUSTER, 'master', 'm1', 'master'), { type: 'StatusUpdate', body: {} } as never);
  s.send(ch, ex, other, shutdown);
  s.send(ch, other, s.agentPid, register);
  // Then a good one: everything before it has been judged by then (one connection, in order).
  s.send(ch, ex, s.agentPid, register);
  const got = await agentIn.next(1);
  t.deepEqual(got.map((m) => [m.type, m.from]), [['RegisterExecutor', ex]]);
  t.is(s.metrics.get('executor_channel/dropped/not-to-agent'), 2);
  t.is(s.metrics.get('executor_channel/dropped/forged-sender'), 1);
});

test('a restarted agent (same endpoint and secret) takes its executors back: they reconnect, and what it sent meanwhile reaches them', async (t) => {
  const s = setup(t);
  await s.server.listen();
  const { ch, pid: ex } = s.executor('C1');
  const exIn = inbox();
  ch.subscribe(inboxOf(ex), exIn.handler);
  s.send(s.server, s.agentPid, ex, shutdown);
  await exIn.next(1);
  await s.server.close();
  // The next agent process on the same work dir: a new server, same address and secret.
  const again = new ExecutorChannelServer({ endpoint: s.endpoint, cluster: CLUSTER, agentPid: s.agentPid, secret });
  t.teardown(() => again.close());
  const agentIn = inbox();
  again.subscribe(inboxOf(s.agentPid), agentIn.handler);
  s.send(again, s.agentPid, ex, { type: 'ReconnectExecutor', body: { agentId: 'S1' } });
  await again.listen();
  t.deepEqual((await exIn.next(2)).map((m) => m.type), ['ShutdownExecutor', 'ReconnectExecutor']);
  s.send(ch, ex, s.agentPid, register);
  t.deepEqual((await agentIn.next(1)).map((m) => m.from), [ex]);
});

test('the agent transport sends to executors over the channel and to everyone else over the bus, and hears both', async (t) => {
  const s = setup(t);
  const bus = new MemoryBus();
  const agent = new AgentTransport(bus.transport(), s.server, CLUSTER);
  const agentIn = inbox();
  agent.subscribe(inboxOf(s.agentPid), agentIn.handler);
  await s.server.listen();
  const master = pid(CLUSTER, 'master', 'm1', 'master');
  const masterIn = inbox();
  bus.transport().subscribe(inboxOf(master), masterIn.handler);
  const { ch, pid: ex } = s.executor('C1');
  const exIn = inbox();
  ch.subscribe(inboxOf(ex), exIn.handler);
  s.send(agent, s.agentPid, ex, shutdown);
  s.send(agent, s.agentPid, master, { type: 'UnregisterAgent', body: { agentId: 'S1' } } as never);
  s.send(bus.transport(), master, s.agentPid, { type: 'Ping', body: { connected: true } } as never);
  s.send(ch, ex, s.agentPid, register);
  bus.settle();
  t.deepEqual((await exIn.next(1)).map((m) => m.type), ['ShutdownExecutor']);
  t.deepEqual(masterIn.got.map((m) => m.type), ['UnregisterAgent']);
  t.deepEqual((await agentIn.next(2)).map((m) => m.type).sort(), ['Ping', 'RegisterExecutor']);
});

test("an executor's last words are delivered before drained() says its connection is gone", async (t) => {
  const s = setup(t);
  const agentIn = inbox();
  s.server.subscribe(inboxOf(s.agentPid), agentIn.handler);
  await s.server.listen();
  const { ch, pid: ex } = s.executor('C1');
  s.send(ch, ex, s.agentPid, register);
  await agentIn.next(1);
  t.deepEqual(s.server.connected, [ex]);
  // Its terminal update, then it ends: drained() resolves only after the update was delivered.
  s.send(ch, ex, s.agentPid, { type: 'ReregisterExecutor', body: { frameworkId: 'F1', executorId: 'e1', tasks: [], updates: [] } });
  const drained = s.server.drained('C1').then(() => agentIn.got.length);
  await ch.close();
  t.is(await drained, 2);
  t.deepEqual(s.server.connected, []);
  await s.server.drained('C1');
  t.pass('no connection: drained at once');
});
