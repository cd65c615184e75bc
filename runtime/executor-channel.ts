/**
 * The local channel between an agent and its executors. Executors never join the bus: as in
 * Mesos, where an executor talks only to its local agent, each executor connects to a Unix socket
 * of its agent and speaks through it, and only to it. So an executor can neither address the
 * master, another agent or another framework's executor, nor pass for anyone but itself.
 *
 * - The socket lives in the abstract namespace (`\0mesos-agent-<digest of the work dir>`): one per
 *   work dir, gone with the agent's process, nothing to clean up, no path-length limit.
 * - Each executor proves which container it is with a token, an HMAC of the container id under a
 *   secret kept in the agent's meta dir (`executor-secret`, 0600). Only the agent can mint one,
 *   and a restarted agent (same work dir) accepts the executors its predecessor started.
 * - Frames: `u32 length | u16 subject length | subject | data`, the same subjects and envelopes as
 *   the bus. An executor's first frame is `hello` (`{ containerId, token }` as JSON); the agent
 *   answers `welcome` or closes the connection.
 * - What an executor sends must be addressed to its agent and signed (envelope `from`) with its
 *   own PID, or it is dropped with a reason and counted (`executor_channel/dropped/<reason>`).
 * - Messages the agent sends to an executor that is not connected (yet: after the agent restarted,
 *   executors reconnect within a second) wait for it, a bounded number for a bounded time.
 *
 * {@link ExecutorChannelServer} is the agent's side and {@link ExecutorChannel} the executor's; both
 * are {@link Transport}s. {@link AgentTransport} puts the server beside the bus for the agent.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname, resolve } from 'node:path';
import { Unpackr } from 'msgpackr';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../protocols/envelope.ts';
import { executorPid } from '../protocols/pid.ts';
import { silentLogger, type LoggerLike } from './transport-nats.ts';
import type { Metrics } from './metrics.ts';
import { subjectMatches } from './transport-memory.ts';
import type { RawHandler, Subscription, Transport } from './types.ts';

/** Room for the subject and framing around the largest message. */
const FRAME_OVERHEAD = 1024;
const HELLO = 'hello';
const WELCOME = 'welcome';
/** Messages kept for an executor that is not connected, and for how long. */
const PENDING_MAX = 256;
const PENDING_MS = 60_000;

/** The channel's socket for an agent's work dir (abstract namespace). */
export function channelEndpoint(workDir: string): string {
  return `\0mesos-agent-${createHmac('sha256', 'mesos-agent').update(resolve(workDir)).digest('hex').slice(0, 24)}`;
}

/** The endpoint as an environment variable can carry it (`@` for the abstract namespace's NUL). */
export function endpointForEnv(endpoint: string): string {
  return endpoint.startsWith('\0') ? `@${endpoint.slice(1)}` : endpoint;
}

/** The endpoint from {@link endpointForEnv}'s form. */
export function endpointFromEnv(value: string): string {
  return value.startsWith('@') ? `\0${value.slice(1)}` : value;
}

/** Whether an agent answers at `endpoint` (one runs on that work dir already). */
export function channelInUse(endpoint: string): Promise<boolean> {
  return new Promise((resolveUse) => {
    const s = createConnection(endpoint);
    s.once('connect', () => {
      s.destroy();
      resolveUse(true);
    });
    s.once('error', () => resolveUse(false));
  });
}

/** Reads the agent's executor secret, creating it (0600) the first time. */
export function loadExecutorSecret(path: string): Buffer {
  try {
    const s = Buffer.from(readFileSync(path, 'utf8').trim(), 'hex');
    if (s.length >= 32) return s;
  } catch {
    // first start: made below
  }
  const s = randomBytes(32);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${s.toString('hex')}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return s;
}

/** The token that proves an executor runs in container `containerId`. */
export function executorToken(secret: Buffer, containerId: string): string {
  return createHmac('sha256', secret).update(containerId).digest('hex');
}

function frame(subject: string, data: Uint8Array): Buffer {
  const s = Buffer.from(subject, 'utf8');
  const b = Buffer.allocUnsafe(6 + s.length + data.byteLength);
  b.writeUInt32BE(2 + s.length + data.byteLength, 0);
  b.writeUInt16BE(s.length, 4);
  s.copy(b, 6);
  b.set(data, 6 + s.length);
  return b;
}

/**
 * Splits a byte stream into frames. Returns a function to feed chunks to; it calls `onFrame` per
 * whole frame and `onError` (once, then ignores the rest) for a frame over `maxFrame` bytes.
 */
function deframer(maxFrame: number, onFrame: (subject: string, data: Uint8Array) => void, onError: (why: string) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  let failed = false;
  return (chunk) => {
    if (failed) return;
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    while (buf.length >= 4) {
      const len = buf.readUInt32BE(0);
      if (len > maxFrame || len < 2) {
        failed = true;
        onError(`frame of ${len} bytes (limit ${maxFrame})`);
        return;
      }
      if (buf.length < 4 + len) return;
      const sl = buf.readUInt16BE(4);
      if (sl > len - 2) {
        failed = true;
        onError('subject longer than its frame');
        return;
      }
      const subject = buf.toString('utf8', 6, 6 + sl);
      const data = buf.subarray(6 + sl, 4 + len);
      buf = buf.subarray(4 + len);
      onFrame(subject, data);
    }
  };
}

interface LocalSub {
  pattern: string;
  handler: RawHandler;
  active: boolean;
}

/** Adds a subscription to `subs`; unsubscribing takes it out (and stops a delivery under way). */
function addSub(subs: LocalSub[], pattern: string, handler: RawHandler): Subscription {
  const s: LocalSub = { pattern, handler, active: true };
  subs.push(s);
  return { unsubscribe: () => {
    s.active = false;
    const i = subs.indexOf(s);
    if (i >= 0) subs.splice(i, 1);
  } };
}

/** Delivers to the matching subscriptions; a handler that throws is logged, never rethrown. */
function dispatch(subs: readonly LocalSub[], subject: string, data: Uint8Array, log: LoggerLike): number {
  let n = 0;
  for (const s of subs) {
    if (!s.active || !subjectMatches(s.pattern, subject)) continue;
    n++;
    try {
      s.handler(subject, data);
    } catch (err) {
      log.error({ err, subject }, 'message handler threw');
    }
  }
  return n;
}

/** Options of {@link ExecutorChannelServer}. */
export interface ExecutorChannelServerOptions {
  /** Socket address ({@link channelEndpoint}). */
  endpoint: string;
  cluster: string;
  /** The agent's PID: the only address executors may send to. */
  agentPid: string;
  secret: Buffer;
  logger?: LoggerLike;
  metrics?: Metrics;
  maxPayload?: number;
}

interface Peer {
  socket: Socket;
  pid: string;
  containerId: string;
}

/** The agent's side of the channel. */
export class ExecutorChannelServer implements Transport {
  readonly maxPayload: number;
  readonly #o: ExecutorChannelServerOptions;
  readonly #log: LoggerLike;
  readonly #server: Server;
  readonly #subs: LocalSub[] = [];
  /** Connected executors by PID. */
  readonly #peers = new Map<string, Peer>();
  readonly #pending = new Map<string, Array<{ at: number; frame: Buffer }>>();
  readonly #unpackr = new Unpackr({ useRecords: false, int64AsType: 'number' });
  #closed = false;

  constructor(opts: ExecutorChannelServerOptions) {
    this.#o = opts;
    this.#log = opts.logger ?? silentLogger;
    this.maxPayload = opts.maxPayload ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.#server = createServer((socket) => this.#accept(socket));
    this.#server.on('error', (err) => this.#log.error({ err }, 'executor channel error'));
  }

  /** Starts accepting executors. */
  listen(): Promise<void> {
    return new Promise((resolveListen, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#o.endpoint, () => {
        this.#server.off('error', reject);
        resolveListen();
      });
    });
  }

  /** The token the executor of `containerId` is started with. */
  tokenFor(containerId: string): string {
    return executorToken(this.#o.secret, containerId);
  }

  /**
   * Resolves once the executor of `containerId` has no connection left, everything it sent on it
   * having been delivered (a stream's data comes before its close), or after `timeoutMs`. An
   * executor that ended may have written its last updates just before: they are heard before its
   * end is acted on.
   */
  drained(containerId: string, timeoutMs = 5000): Promise<void> {
    const peer = this.#peers.get(executorPid(this.#o.cluster, containerId));
    if (!peer || peer.socket.destroyed) return Promise.resolve();
    return new Promise((resolveDrained) => {
      const timer = setTimeout(resolveDrained, timeoutMs);
      timer.unref?.();
      peer.socket.once('close', () => {
        clearTimeout(timer);
        resolveDrained();
      });
    });
  }

  /** Executors connected now (PIDs). */
  get connected(): string[] {
    return [...this.#peers.keys()];
  }

  #drop(reason: string, detail: Record<string, unknown>): void {
    this.#o.metrics?.inc(`executor_channel/dropped/${reason}`);
    this.#log.warn({ reason, ...detail }, 'executor channel: dropped');
  }

  #accept(socket: Socket): void {
    let peer: Peer | undefined;
    const refuse = (reason: string, detail: Record<string, unknown> = {}) => {
      this.#drop(reason, { ...detail, containerId: peer?.containerId });
      socket.destroy();
    };
    // Nothing but a hello until the executor said who it is; a hello is small.
    const feed = deframer(this.maxPayload + FRAME_OVERHEAD, (subject, data) => {
      if (!peer) {
        if (subject !== HELLO || data.byteLength > 4096) return refuse('no-hello', { subject: subject.slice(0, 200) });
        let hello: { containerId?: unknown; token?: unknown };
        try {
          hello = JSON.parse(Buffer.from(data).toString('utf8')) as typeof hello;
        } catch {
          return refuse('bad-hello');
        }
        const { containerId, token } = hello ?? {};
        if (typeof containerId !== 'string' || typeof token !== 'string' || containerId.length === 0 || containerId.length > 512) return refuse('bad-hello');
        const want = Buffer.from(this.tokenFor(containerId), 'hex');
        const got = Buffer.from(token, 'hex');
        if (got.length !== want.length || !timingSafeEqual(got, want)) return refuse('bad-token', { claimed: containerId });
        peer = { socket, containerId, pid: executorPid(this.#o.cluster, containerId) };
        // A reconnecting executor replaces its old connection.
        this.#peers.get(peer.pid)?.socket.destroy();
        this.#peers.set(peer.pid, peer);
        socket.write(frame(WELCOME, new Uint8Array(0)));
        this.#log.debug({ executor: peer.pid }, 'executor connected');
        const waiting = this.#pending.get(peer.pid);
        this.#pending.delete(peer.pid);
        const now = Date.now();
        for (const w of waiting ?? []) if (now - w.at <= PENDING_MS) socket.write(w.frame);
        return;
      }
      this.#fromExecutor(peer, subject, data);
    }, (why) => refuse('oversized', { why }));
    socket.on('data', feed);
    socket.on('error', () => {});
    socket.on('close', () => {
      if (peer && this.#peers.get(peer.pid)?.socket === socket) this.#peers.delete(peer.pid);
    });
  }

  /** A message from a connected executor: to its agent, signed as itself, or dropped. */
  #fromExecutor(peer: Peer, subject: string, data: Uint8Array): void {
    if (!subject.startsWith(`${this.#o.agentPid}.`)) return this.#drop('not-to-agent', { executor: peer.pid, subject: subject.slice(0, 200) });
    let from: unknown;
    try {
      from = (this.#unpackr.unpack(data) as { from?: unknown } | null)?.from;
    } catch {
      from = undefined; // malformed: the codec says so
    }
    if (from !== undefined && from !== peer.pid) return this.#drop('forged-sender', { executor: peer.pid, from: String(from).slice(0, 200) });
    dispatch(this.#subs, subject, data, this.#log);
  }

  publish(subject: string, data: Uint8Array): void {
    if (this.#closed) return;
    const to = subject.split('.', 5).join('.');
    const f = frame(subject, data);
    const peer = this.#peers.get(to);
    if (peer) {
      peer.socket.write(f);
      return;
    }
    const now = Date.now();
    const q = (this.#pending.get(to) ?? []).filter((w) => now - w.at <= PENDING_MS);
    q.push({ at: now, frame: f });
    if (q.length > PENDING_MAX) q.shift();
    this.#pending.set(to, q);
  }

  subscribe(subject: string, handler: RawHandler): Subscription {
    return addSub(this.#subs, subject, handler);
  }

  async flush(): Promise<void> {}

  /** Stops accepting and closes every executor's connection (executors keep running and reconnect to the next agent). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.#peers.values()) p.socket.destroy();
    this.#peers.clear();
    this.#pending.clear();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

/**
 * The agent's transport: messages to executors go over the local channel, everything else over
 * the bus; subscriptions listen on both.
 */
export class AgentTransport implements Transport {
  readonly #executorPrefix: string;
  constructor(readonly bus: Transport, readonly channel: ExecutorChannelServer, cluster: string) {
    this.#executorPrefix = `mesos.${cluster}.executor.`;
  }

  get maxPayload(): number {
    return Math.min(this.bus.maxPayload, this.channel.maxPayload);
  }

  publish(subject: string, data: Uint8Array): void {
    if (subject.startsWith(this.#executorPrefix)) this.channel.publish(subject, data);
    else this.bus.publish(subject, data);
  }

  subscribe(subject: string, handler: RawHandler): Subscription {
    const a = this.bus.subscribe(subject, handler);
    const b = this.channel.subscribe(subject, handler);
    return { unsubscribe: () => {
      a.unsubscribe();
      b.unsubscribe();
    } };
  }

  flush(): Promise<void> {
    return this.bus.flush();
  }

  /** Closes the channel; the bus connection belongs to whoever opened it. */
  close(): Promise<void> {
    return this.channel.close();
  }
}

/** Options of {@link ExecutorChannel}. */
export interface ExecutorChannelOptions {
  endpoint: string;
  containerId: string;
  token: string;
  logger?: LoggerLike;
  maxPayload?: number;
  /** Longest pause between connection attempts. Default 1 s. */
  maxRetryMs?: number;
}

/**
 * The executor's side: connects to its agent, and again whenever the connection is lost (the
 * agent restarted), until closed. What is published while disconnected waits, at most
 * {@link PENDING_MAX} messages (the oldest go first).
 */
export class ExecutorChannel implements Transport {
  readonly maxPayload: number;
  readonly #o: ExecutorChannelOptions;
  readonly #log: LoggerLike;
  readonly #subs: LocalSub[] = [];
  readonly #queue: Buffer[] = [];
  #socket: Socket | undefined;
  #ready = false;
  #closed = false;
  #attempt = 0;
  #retry: NodeJS.Timeout | undefined;

  constructor(opts: ExecutorChannelOptions) {
    this.#o = opts;
    this.#log = opts.logger ?? silentLogger;
    this.maxPayload = opts.maxPayload ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.#connect();
  }

  /** Whether the agent accepted this executor on the current connection. */
  get ready(): boolean {
    return this.#ready;
  }

  #connect(): void {
    if (this.#closed) return;
    const socket = createConnection(this.#o.endpoint);
    this.#socket = socket;
    socket.on('connect', () => {
      socket.write(frame(HELLO, Buffer.from(JSON.stringify({ containerId: this.#o.containerId, token: this.#o.token }))));
    });
    socket.on('data', deframer(this.maxPayload + FRAME_OVERHEAD, (subject, data) => {
      if (!this.#ready) {
        if (subject !== WELCOME) return;
        this.#ready = true;
        this.#attempt = 0;
        this.#log.info({}, 'connected to the agent');
        for (const f of this.#queue.splice(0)) socket.write(f);
        return;
      }
      dispatch(this.#subs, subject, data, this.#log);
    }, (why) => {
      this.#log.warn({ why }, 'agent channel: bad frame; reconnecting');
      socket.destroy();
    }));
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.#socket !== socket) return;
      const was = this.#ready;
      this.#ready = false;
      this.#socket = undefined;
      if (this.#closed) return;
      if (was) this.#log.warn({}, 'lost the connection to the agent; reconnecting');
      const ms = Math.min(this.#o.maxRetryMs ?? 1000, 50 * 2 ** Math.min(this.#attempt++, 10));
      this.#retry = setTimeout(() => this.#connect(), ms);
      this.#retry.unref?.();
    });
  }

  publish(subject: string, data: Uint8Array): void {
    if (this.#closed) return;
    const f = frame(subject, data);
    if (this.#ready && this.#socket) {
      this.#socket.write(f);
      return;
    }
    this.#queue.push(f);
    if (this.#queue.length > PENDING_MAX) this.#queue.shift();
  }

  subscribe(subject: string, handler: RawHandler): Subscription {
    return addSub(this.#subs, subject, handler);
  }

  /** Resolves once what was written has been handed to the OS (or at once when disconnected). */
  flush(): Promise<void> {
    const s = this.#socket;
    if (!s || !this.#ready || s.writableLength === 0) return Promise.resolve();
    return new Promise((r) => s.write(Buffer.alloc(0), () => r()));
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    const s = this.#socket;
    this.#socket = undefined;
    if (!s) return;
    await new Promise<void>((r) => {
      s.end(() => r());
      setTimeout(r, 1000).unref();
    });
    s.destroy();
  }
}
