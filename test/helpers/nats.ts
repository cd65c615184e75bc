/**
 * Test helper: get a NATS server with JetStream for a test file.
 *
 * Order of preference:
 * 1. `NATS_URL` from the environment (an already-running server; `stop()` does nothing);
 * 2. a local `nats-server` binary, started on a random port with a temporary store;
 * 3. a `nats` container via testcontainers, only when a container engine answers.
 */
import { findNatsServerBinary, startNatsServer } from '../../runtime/nats-server.ts';

/** A NATS server a test can use, and how to release it. */
export interface AcquiredNats {
  /** Client URL (may carry credentials, as for the container). */
  url: string;
  /** Release the server (no-op for `env`). */
  stop(): Promise<void>;
  /** Where the server came from. */
  kind: 'env' | 'binary' | 'container';
  /** Whether the server was started with the `config` asked for (only a server started here is). */
  configured: boolean;
}

/** Image used when falling back to a container; the server line the project targets. */
const CONTAINER_IMAGE = 'nats:2.9';
/** How long to wait for a container engine to answer before giving up on it. */
const ENGINE_PROBE_MS = 5_000;

function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Acquire a NATS server with JetStream enabled: `NATS_URL`, else a local `nats-server` binary,
 * else a testcontainers `nats` container (only if a container engine answers). Only the binary
 * is started with `opts.config` (an `authorization` block, say): see `configured`.
 *
 * @throws Error explaining how to provide nats-server when none of the three is available.
 */
export async function acquireNats(opts: { config?: string } = {}): Promise<AcquiredNats> {
  const fromEnv = process.env.NATS_URL;
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    return { url: fromEnv.trim(), kind: 'env', configured: false, stop: async () => {} };
  }

  if (findNatsServerBinary() !== undefined) {
    const server = await startNatsServer({ jetstream: true, ...(opts.config !== undefined ? { config: opts.config } : {}) });
    return { url: server.url, kind: 'binary', configured: true, stop: () => server.stop() };
  }

  let engineError: unknown;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await bounded(getContainerRuntimeClient(), ENGINE_PROBE_MS, 'container engine');
  } catch (err) {
    engineError = err;
  }
  if (engineError === undefined) {
    const { NatsContainer } = await import('@testcontainers/nats');
    const container = await new NatsContainer(CONTAINER_IMAGE).withArg('-js').start();
    const { user, pass } = container.getConnectionOptions();
    const auth = user !== undefined ? `${encodeURIComponent(user)}:${encodeURIComponent(pass ?? '')}@` : '';
    const url = `nats://${auth}${container.getHost()}:${container.getMappedPort(4222)}`;
    return {
      url,
      kind: 'container',
      configured: false,
      stop: async () => {
        await container.stop();
      },
    };
  }

  const reason = engineError instanceof Error ? engineError.message : String(engineError);
  throw new Error(
    'These tests need a NATS server with JetStream. Install nats-server ' +
      "(Debian/Ubuntu: 'sudo apt-get install -y nats-server'; it lands in /usr/sbin), " +
      'or set NATS_URL to a running server started with -js, or start a Docker engine ' +
      `for testcontainers (no container engine: ${reason}).`,
  );
}
