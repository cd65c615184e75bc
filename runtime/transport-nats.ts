/**
 * The NATS-backed {@link Transport}: raw bytes on NATS subjects, plus a connection helper that
 * reconnects forever and logs connection status changes.
 */
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
