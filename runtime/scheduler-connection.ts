/**
 * What a framework needs on the bus, opened in one call: the NATS connection (authenticated as
 * the framework's principal, over TLS when its credential says so), the transport on it, the
 * leader detector and a logger. {@link SchedulerDriver.connect} uses it and closes it all when
 * the driver stops.
 *
 * A framework connects with its principal's credential, or says `insecure: true`; neither is
 * refused, as `mesos-execute` and `mesos-pi` refuse it (`--credential` or `--insecure`).
 *
 * @see Mesos `MesosSchedulerDriver(scheduler, framework, master, credential)`.
 */
import type { ConnectionOptions } from '@nats-io/transport-node';
import type { DriverFlags } from '../actors/scheduler-driver/scheduler-driver.machine.ts';
import type { FrameworkInfo } from '../protocols/records.ts';
import { connectionOptions, expectCredential, loadCredential, tlsOptions, type Credential } from './credentials.ts';
import type { Inspect } from './inspect.ts';
import { KvLeaderDetector } from './lease.ts';
import { createLogger, type Logger } from './log.ts';
import type { TlsFiles } from './tls.ts';
import { connectNatsPatiently, NatsTransport } from './transport-nats.ts';
import type { Clock } from './types.ts';

/** The NATS server a framework dials when none is given (the commands' `--nats` default). */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';
/** The cluster name when neither the options nor a credential give one (the commands' `--cluster` default). */
export const DEFAULT_CLUSTER = 'mesos';

/** Options of {@link SchedulerDriver.connect}. Field names follow the commands' flags. */
export interface ConnectOptions {
  /** NATS server URLs: an array, or one string, comma-separated (default `nats://127.0.0.1:4222`). */
  nats?: string | readonly string[];
  /** The cluster name; by default the credential's (else `mesos`). A different one than the credential's is refused. */
  cluster?: string;
  /** The framework principal's credential: the file `mesos-credentials init` wrote, or one already loaded. */
  credential?: string | Credential;
  /** Connect without a credential: anyone on the bus can then act as anyone. Must be said. */
  insecure?: boolean;
  /** TLS files that override the credential's (or give TLS to an insecure connection). */
  tls?: TlsFiles;
  /** The process logger (default: JSON lines on stderr at `LOG_LEVEL`, else `warn`). */
  logger?: Logger;
  /** The masters' lease (`mesos-master --lease`), assumed until the lease bucket is read. */
  leaseMs?: number;
  /**
   * How long to wait for a NATS server that does not answer (default: for ever, logging a warning
   * every few seconds). A server that answers and refuses the credential, or a failed TLS
   * handshake, ends the wait at once: `connect` rejects with a `NatsConnectError` saying why.
   */
  connectTimeoutMs?: number;
  /** Any other nats.js connection option; these override the defaults (reconnecting for ever once connected). */
  natsOptions?: Partial<ConnectionOptions>;
  clock?: Clock;
  inspect?: Inspect;
  flags?: Partial<DriverFlags>;
}

/** What {@link openSchedulerBus} opened; {@link SchedulerBus.close} closes it all. */
export interface SchedulerBus {
  transport: NatsTransport;
  detector: KvLeaderDetector;
  logger: Logger;
  cluster: string;
  /** The framework as it subscribes: its `principal` is the credential's. */
  framework: FrameworkInfo;
  /** Stops the detector and drains and closes the connection. Idempotent. */
  close(): Promise<void>;
}

/** Who a framework is on the bus, worked out from {@link ConnectOptions}; throws a `CredentialError` or an `Error` saying what is wrong. */
export function schedulerIdentity(framework: FrameworkInfo, opts: ConnectOptions): { cluster: string; framework: FrameworkInfo; options: Partial<ConnectionOptions>; credential?: Credential } {
  if (opts.credential === undefined) {
    if (opts.insecure !== true) {
      throw new Error("no credential: pass the framework principal's credential file (`credential`, written by mesos-credentials init), or `insecure: true` to connect without one");
    }
    return { cluster: opts.cluster ?? DEFAULT_CLUSTER, framework, options: tlsOptions(opts.tls) };
  }
  const loaded = typeof opts.credential === 'string' ? loadCredential(opts.credential) : opts.credential;
  const cluster = opts.cluster ?? loaded.cluster;
  expectCredential(loaded, 'scheduler', cluster);
  // The master refuses a framework whose principal is not the one it authenticated as.
  if (framework.principal !== undefined && framework.principal !== loaded.principal) {
    throw new Error(`FrameworkInfo.principal '${framework.principal}' is not the credential's principal '${loaded.principal}'`);
  }
  const tls = { ...loaded.tls, ...opts.tls };
  const credential: Credential = Object.keys(tls).length > 0 ? { ...loaded, tls } : loaded;
  return { cluster, framework: { ...framework, principal: credential.principal }, options: connectionOptions(credential), credential };
}

/** Opens the connection, transport, detector and logger a scheduler driver runs on. */
export async function openSchedulerBus(framework: FrameworkInfo, opts: ConnectOptions = {}): Promise<SchedulerBus> {
  const id = schedulerIdentity(framework, opts);
  const logger = opts.logger ?? createLogger({ name: framework.name, level: process.env.LOG_LEVEL ?? 'warn', stderr: true });
  if (id.credential) logger.info({ principal: id.credential.principal, tls: id.credential.tls !== undefined }, 'authenticating as principal');
  else logger.warn('insecure: connecting without credentials; anyone on the bus can act as anyone');
  const servers = typeof opts.nats === 'string' ? opts.nats.split(',') : [...(opts.nats ?? [DEFAULT_NATS_URL])];
  // A framework started before its cluster waits for NATS instead of failing (as nats.js'
  // `waitOnFirstConnect` would, but saying so, and not for a server that refuses it).
  const nc = await connectNatsPatiently({
    servers,
    name: framework.name,
    logger,
    options: { ...id.options, ...opts.natsOptions },
    timeoutMs: opts.connectTimeoutMs ?? Number.POSITIVE_INFINITY,
    onWaiting: (w) => logger.warn({ servers: w.servers, reason: w.reason, waitedMs: w.waitedMs }, 'waiting for NATS'),
  });
  const transport = new NatsTransport(nc, { logger });
  const detector = new KvLeaderDetector({ nc, cluster: id.cluster, logger, ...(opts.leaseMs !== undefined ? { leaseMs: opts.leaseMs } : {}), ...(opts.clock ? { clock: opts.clock } : {}) });
  let closing: Promise<void> | undefined;
  return {
    transport,
    detector,
    logger,
    cluster: id.cluster,
    framework: id.framework,
    close: () => (closing ??= (async () => {
      await detector.stop();
      await transport.close();
    })()),
  };
}
