/**
 * The NATS-backed {@link Transport}: raw bytes on NATS subjects, plus a connection helper that
 * reconnects forever and logs connection status changes, and one that waits for a server to come
 * up ({@link connectNatsPatiently}).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import type { ConnectionOptions, NatsConnection, Msg } from '@nats-io/transport-node';
import type { RawHandler, Subscription, Transport } from './types.ts';

/** A logging function in pino's style: a context object first, then an optional message. */
export type LogFn = (obj: object, msg?: string) => void;

/**
 * The logger shape the runtime needs. A pino `Logger` fits; so does {@link silentLogger}.
 */
export interface LoggerLike {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const noop: LogFn = () => {};

/** A logger that discards everything; the default wherever a logger is optional. */
export const silentLogger: LoggerLike = { debug: noop, info: noop, warn: noop, error: noop };

/** Options of {@link connectNats}. */
export interface ConnectNatsOptions {
  /** One or more server URLs, e.g. `nats://127.0.0.1:4222`. */
  servers: string | string[];
  /** Connection name shown by the server (`connz`). */
  name?: string;
  /** Where status changes (disconnect, reconnect, errors) are logged. */
  logger?: LoggerLike;
  /** Wait between reconnect attempts in ms. Default 250. */
  reconnectTimeWait?: number;
  /** Any other nats.js connection option; these override the defaults above. */
  options?: Partial<ConnectionOptions>;
}

/**
 * Connects to NATS with reconnect forever (`maxReconnectAttempts: -1`, short wait between attempts)
 * and logs the connection's status events until it closes. The first connect still fails fast
 * when no server answers (pass `options: { waitOnFirstConnect: true }` to keep trying).
 */
export async function connectNats(opts: ConnectNatsOptions): Promise<NatsConnection> {
  const log = opts.logger ?? silentLogger;
  const nc = await connect({
    servers: opts.servers,
    ...(opts.name !== undefined ? { name: opts.name } : {}),
    maxReconnectAttempts: -1,
    reconnectTimeWait: opts.reconnectTimeWait ?? 250,
    // Without this every request (each registry write, each lease renewal) builds an Error with
    // a stack trace up front, in case it times out: a quarter of the master's time in a storm.
    noAsyncTraces: true,
    ...opts.options,
  });
  log.info({ server: nc.getServer(), connection: opts.name }, 'nats connected');
  void logStatus(nc, log, opts.name);
  return nc;
}

/** Why a first connection failed: what to do about it depends on the kind. */
export interface NatsConnectFailure {
  /**
   * `unreachable`: no server answered (refused, not found, timed out): worth waiting for.
   * `refused`: a server answered and turned this client's credential down.
   * `tls`: the TLS handshake failed (an untrusted certificate, TLS on one side only).
   * `invalid`: the client could not even try (a bad server URL or option).
   */
  kind: 'unreachable' | 'refused' | 'tls' | 'invalid';
  /** Short and human: `connection refused`, `the server refused this credential (Authorization Violation)`. */
  reason: string;
  /** The error's own message (`Authorization Violation`). */
  detail: string;
}

/** Error codes of Node's TLS layer and OpenSSL that say a certificate or handshake is wrong. */
const TLS_CODE = /CERT|SIGNATURE|SELF_SIGNED|ERR_TLS|ERR_SSL|ERR_OSSL|HOSTNAME_MISMATCH/;

/** Classifies an error thrown by nats.js `connect()`. Never throws. */
export function classifyConnectError(err: unknown): NatsConnectFailure {
  const e = (err ?? {}) as { name?: string; message?: string; code?: string; cause?: { code?: string; message?: string } };
  // One line: OpenSSL's messages end with a newline and carry their source position.
  const raw = String(e.message ?? err).replace(/\s+/g, ' ').trim();
  const alert = /\balert ([a-z ]+?)(?::|$)/i.exec(raw)?.[1];
  const message = alert !== undefined && /SSL routines/i.test(raw) ? `the server sent TLS alert '${alert}'` : raw;
  const code = String(e.code ?? e.cause?.code ?? '');
  if (e.name === 'AuthorizationError' || e.name === 'UserAuthenticationExpiredError' || /authorization violation|authentication (?:timeout|expired)/i.test(message)) {
    return { kind: 'refused', reason: `the server refused this credential (${message})`, detail: message };
  }
  if (e.name === 'InvalidArgumentError') return { kind: 'invalid', reason: message, detail: message };
  if (TLS_CODE.test(code) || /certificate|\btls\b|\bssl\b|handshake/i.test(message)) return { kind: 'tls', reason: `TLS failed: ${message}`, detail: message };
  if (code === 'ECONNREFUSED' || /connection refused/i.test(message)) return { kind: 'unreachable', reason: 'connection refused', detail: message };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return { kind: 'unreachable', reason: `host not found (${message})`, detail: message };
  if (e.name === 'TimeoutError') return { kind: 'unreachable', reason: 'no answer (timed out)', detail: message };
  return { kind: 'unreachable', reason: message, detail: message };
}

/** Thrown by {@link connectNatsPatiently} when it gives up; the message says why in one line. */
export class NatsConnectError extends Error {
  override name = 'NatsConnectError';
  constructor(
    message: string,
    /** The servers as given, comma-separated. */
    readonly servers: string,
    readonly failure: NatsConnectFailure,
    /** How long it tried, in ms. */
    readonly waitedMs: number,
  ) {
    super(message);
  }
}

/** A progress report of {@link connectNatsPatiently} while no server answers. */
export interface NatsWaiting {
  /** The servers as given, comma-separated. */
  servers: string;
  /** Why the last attempt failed (`connection refused`). */
  reason: string;
  waitedMs: number;
  timeoutMs: number;
}

/** Options of {@link connectNatsPatiently}. */
export interface ConnectNatsPatientlyOptions extends ConnectNatsOptions {
  /** How long to keep trying while no server answers, in ms (0: one attempt). */
  timeoutMs: number;
  /** Told while waiting: after the first failed attempt, then at most every `progressIntervalMs`. */
  onWaiting?: (w: NatsWaiting) => void;
  /** Default 5000. */
  progressIntervalMs?: number;
}

/**
 * The first connection of a process: {@link connectNats}, tried again while no server answers
 * (a server that is not up yet), for up to `timeoutMs`, with progress through `onWaiting`. A
 * server that answers and refuses the credential, or a TLS handshake that fails, is not tried
 * again: waiting would not change the answer. Throws {@link NatsConnectError} naming the servers
 * and the reason. Once connected, the connection reconnects forever, as {@link connectNats}'s does.
 */
export async function connectNatsPatiently(opts: ConnectNatsPatientlyOptions): Promise<NatsConnection> {
  const servers = Array.isArray(opts.servers) ? opts.servers.join(',') : opts.servers;
  const started = Date.now();
  const every = opts.progressIntervalMs ?? 5000;
  let reportedAt: number | undefined;
  for (let attempt = 0; ; attempt++) {
    const remaining = opts.timeoutMs - (Date.now() - started);
    try {
      return await connectNats({
        ...opts,
        // One pass over the servers per attempt; this loop does the waiting, and reports it.
        options: { timeout: Math.min(20_000, Math.max(2000, remaining)), ...opts.options, waitOnFirstConnect: false },
      });
    } catch (err) {
      const failure = classifyConnectError(err);
      const waitedMs = Date.now() - started;
      if (failure.kind !== 'unreachable') throw new NatsConnectError(`cannot connect to NATS at ${servers}: ${failure.reason}`, servers, failure, waitedMs);
      const wait = Math.min(250 * 2 ** attempt, 2000, opts.timeoutMs - waitedMs);
      if (wait <= 0) throw new NatsConnectError(`no NATS server answered at ${servers} (${failure.reason})`, servers, failure, waitedMs);
      if (reportedAt === undefined || Date.now() - reportedAt >= every) {
        reportedAt = Date.now();
        opts.onWaiting?.({ servers, reason: failure.reason, waitedMs, timeoutMs: opts.timeoutMs });
      }
      await delay(wait);
    }
  }
}

async function logStatus(nc: NatsConnection, log: LoggerLike, name: string | undefined): Promise<void> {
  try {
    for await (const s of nc.status()) {
      switch (s.type) {
        case 'disconnect':
          log.warn({ server: s.server, connection: name }, 'nats disconnected');
          break;
        case 'reconnect':
          log.info({ server: s.server, connection: name }, 'nats reconnected');
          break;
        case 'reconnecting':
          log.debug({ connection: name }, 'nats reconnecting');
          break;
        case 'error':
          log.error({ err: s.error, connection: name }, 'nats async error');
          break;
        case 'ldm':
          log.warn({ server: s.server, connection: name }, 'nats server entering lame duck mode');
          break;
        case 'staleConnection':
          log.warn({ connection: name }, 'nats stale connection');
          break;
        case 'slowConsumer':
          log.warn({ subject: s.sub.getSubject(), pending: s.pending, connection: name }, 'nats slow consumer');
          break;
        case 'close':
          log.info({ connection: name }, 'nats connection closed');
          break;
        default:
          break;
      }
    }
  } catch (err) {
    log.debug({ err, connection: name }, 'nats status iterator ended');
  }
}

/** Options of {@link NatsTransport}. */
export interface NatsTransportOptions {
  /** Where publish errors and handler exceptions are logged. */
  logger?: LoggerLike;
}

/**
 * {@link Transport} over a NATS connection. `publish` never throws (errors are logged);
 * subscriptions use nats.js callbacks, and a throwing handler is logged, never propagated.
 * The transport owns the connection: `close()` drains and closes it.
 */
export class NatsTransport implements Transport {
  /** The underlying connection (for request/reply, KV and the like). */
  readonly nc: NatsConnection;
  readonly #log: LoggerLike;

  /** Wraps an open connection, e.g. one from {@link connectNats}. */
  constructor(nc: NatsConnection, opts: NatsTransportOptions = {}) {
    this.nc = nc;
    this.#log = opts.logger ?? silentLogger;
  }

  /** Connects with {@link connectNats} and wraps the connection. */
  static async connect(opts: ConnectNatsOptions): Promise<NatsTransport> {
    const nc = await connectNats(opts);
    return new NatsTransport(nc, opts.logger ? { logger: opts.logger } : {});
  }

  /** The server's `max_payload` (1 MiB when the server does not say). */
  get maxPayload(): number {
    return this.nc.info?.max_payload ?? 1024 * 1024;
  }

  /** Publishes `data` on `subject`; failures (closed, draining, bad subject) are logged and dropped. */
  publish(subject: string, data: Uint8Array): void {
    try {
      this.nc.publish(subject, data);
    } catch (err) {
      this.#log.warn({ err, subject }, 'nats publish failed');
    }
  }

  /** Subscribes `handler` to `subject` (wildcards allowed); delivery is in the nats.js read loop. */
  subscribe(subject: string, handler: RawHandler): Subscription {
    const log = this.#log;
    const sub = this.nc.subscribe(subject, {
      callback: (err: Error | null, msg: Msg): void => {
        if (err) {
          log.warn({ err, subject }, 'nats subscription error');
          return;
        }
        try {
          handler(msg.subject, msg.data);
        } catch (e) {
          log.error({ err: e, subject: msg.subject }, 'message handler threw');
        }
      },
    });
    return {
      unsubscribe: (): void => {
        try {
          sub.unsubscribe();
        } catch (err) {
          log.debug({ err, subject }, 'nats unsubscribe failed');
        }
      },
    };
  }

  /** Resolves once the server has seen everything published so far (a PING/PONG round trip). */
  async flush(): Promise<void> {
    if (this.nc.isClosed()) return;
    await this.nc.flush();
  }

  /** Drains subscriptions and pending publishes, then closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.nc.isClosed()) return;
    try {
      if (this.nc.isDraining()) await this.nc.closed();
      else await this.nc.drain();
    } catch (err) {
      this.#log.debug({ err }, 'nats drain failed; closing');
      await this.nc.close().catch(() => {});
    }
  }
}
