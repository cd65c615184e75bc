/**
 * Start and stop a private `nats-server` process (with JetStream) for tests and local runs.
 *
 * The server listens on loopback only, on a port the kernel chooses (`-p -1`), and stores its
 * JetStream data in a fresh temporary directory that {@link NatsServerHandle.stop} removes.
 * The chosen port is read from the server's log on stderr.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, delimiter, join } from 'node:path';

/** Minimal logger accepted by {@link startNatsServer}; `console` and pino loggers both fit. */
export interface NatsServerLogger {
  info(msg: string, ...args: unknown[]): void;
  warn(msg: string, ...args: unknown[]): void;
}

/** Options for {@link startNatsServer}. */
export interface StartNatsServerOptions {
  /** A nats-server config file (`-c`). Command-line flags (address, port, store dir) win over it. */
  configFile?: string;
  /**
   * More configuration, added to the generated file (not with `configFile`): an `authorization`
   * block from `mesos-credentials`, say.
   */
  config?: string;
  /** Enable JetStream (`-js -sd <temp dir>`). Default `true`. */
  jetstream?: boolean;
  /** Where to report start, stop and unexpected exits. Silent when omitted. */
  logger?: NatsServerLogger;
  /** Listen on this port (to restart a server where its clients expect it). Default: a free one. */
  port?: number;
  /**
   * Keep JetStream data here instead of a fresh temporary directory; it is left in place by
   * `stop()` (to restart a server on the same store).
   */
  storeDir?: string;
}

/** A running nats-server started by {@link startNatsServer}. */
export interface NatsServerHandle {
  /** Client URL, e.g. `nats://127.0.0.1:41234`. */
  readonly url: string;
  /** The client port the server chose. */
  readonly port: number;
  /** Process id of the server. */
  readonly pid: number;
  /** The temporary directory holding the JetStream store; removed by {@link NatsServerHandle.stop}. */
  readonly storeDir: string;
  /**
   * Stop the server: SIGTERM by pid, SIGKILL after 3 s if it is still running, wait for the
   * process to exit, then remove {@link NatsServerHandle.storeDir} (unless it was given). Safe to
   * call more than once.
   */
  stop(): Promise<void>;
  /** SIGKILL by pid, as a crash: waits for the exit, leaves the store as it is. */
  crash(): Promise<void>;
}

/**
 * Server settings every server this project starts gets (the same as in `nats.conf`): the payload
 * limit, and patience with a client that reads slowly for a moment (a master answering a storm
 * must not be cut off as a slow consumer and lose what was in flight).
 */
export const SERVER_TUNING = 'max_payload: 1MB\nwrite_deadline: "10s"\nmax_pending: 256MB\n';

/** Directories searched after `PATH` (Debian installs the server in `/usr/sbin`, often not on `PATH`). */
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/bin', '/usr/bin'];
/** How long the server may take to report that it is ready. */
const READY_TIMEOUT_MS = 10_000;
/** How long `stop()` waits after SIGTERM before sending SIGKILL. */
const KILL_AFTER_MS = 3_000;
/** How many recent log lines to keep for error messages. */
const LOG_TAIL_LINES = 40;

const LISTEN_RE = /Listening for client connections on (\S+):(\d+)/;
const READY_RE = /Server is ready/;

/** Pids of servers started by this process that have not been seen to exit (safe to signal). */
const live = new Set<number>();
/** Store dirs of servers that have not been stopped (to remove if this process exits first). */
const pendingDirs = new Set<string>();
let exitHookInstalled = false;

/**
 * Install (once) a process `exit` hook that SIGKILLs every server this process started and did
 * not stop, and removes its store dir, so that nothing outlives a test process that ends early.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of live) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    live.clear();
    for (const dir of pendingDirs) {
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch {
        // best effort: the process is exiting
      }
    }
    pendingDirs.clear();
  });
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Locate a `nats-server` executable: each `PATH` entry first, then `/usr/sbin`, `/usr/local/bin`
 * and `/usr/bin`.
 *
 * @returns the absolute path of the binary, or `undefined` when none is found.
 */
export function findNatsServerBinary(): string | undefined {
  const fromPath = (process.env.PATH ?? '').split(delimiter).filter((d) => d.length > 0);
  for (const dir of [...fromPath, ...EXTRA_DIRS]) {
    const candidate = join(dir, 'nats-server');
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Spawn a `nats-server` bound to 127.0.0.1 on a random free port, with JetStream storing into a
 * fresh temporary directory.
 *
 * Resolves once the server logs its client port and that it is ready. Rejects — after killing
 * the process and removing the temporary directory — if the binary is missing, if the server exits
 * before it is ready, or if it is not ready within 10 s; the error message carries the tail of the
 * server's log.
 *
 * The server keeps this process alive until {@link NatsServerHandle.stop} is called. If this
 * process exits without stopping it, an `exit` hook SIGKILLs it.
 *
 * @param opts optional config file, JetStream switch (default on) and logger.
 */
export async function startNatsServer(opts: StartNatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = findNatsServerBinary();
  if (binary === undefined) {
    throw new Error(
      "nats-server not found on PATH or in /usr/sbin, /usr/local/bin, /usr/bin: install it (Debian: 'apt-get install -y nats-server') or set NATS_URL",
    );
  }
  const jetstream = opts.jetstream ?? true;
  const logger = opts.logger;
  const ownStore = opts.storeDir === undefined;
  const storeDir = opts.storeDir ?? (await mkdtemp(join(tmpdir(), 'mesos-ts-nats-')));
  installExitHook();
  if (ownStore) pendingDirs.add(storeDir);

  const args: string[] = [];
  let tuning: string | undefined;
  if (opts.configFile !== undefined) {
    args.push('-c', opts.configFile);
  } else {
    // The tuning the project's nats.conf carries (address, port and store come as flags).
    tuning = join(storeDir, '..', `${basename(storeDir)}.conf`);
    writeFileSync(tuning, SERVER_TUNING + (opts.config ?? ''), { mode: 0o600 });
    args.push('-c', tuning);
  }
  args.push('-a', '127.0.0.1', '-p', String(opts.port ?? -1));
  if (jetstream) args.push('-js', '-sd', storeDir);

  let child: ChildProcess;
  try {
    child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    if (ownStore) {
      await rm(storeDir, { recursive: true, force: true });
      pendingDirs.delete(storeDir);
    }
    throw err;
  }

  const tail: string[] = [];
  const remember = (line: string): void => {
    tail.push(line);
    if (tail.length > LOG_TAIL_LINES) tail.shift();
  };
  const logTail = (): string => (tail.length > 0 ? tail.join('\n') : '(no output)');

  let exited = false;
  let exitDescription = '';
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      exitDescription = signal !== null ? `signal ${signal}` : `code ${String(code)}`;
      // Node has reaped the process: its pid may be reused, never signal it again.
      if (child.pid !== undefined) live.delete(child.pid);
      resolve();
    });
  });

  let port: number | undefined;
  let ready = false;
  let stopping = false;

  const ready$ = new Promise<number>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      settle(() =>
        reject(new Error(`nats-server did not become ready within ${READY_TIMEOUT_MS} ms; log tail:\n${logTail()}`)),
      );
    }, READY_TIMEOUT_MS);

    const onLine = (line: string): void => {
      remember(line);
      const listen = LISTEN_RE.exec(line);
      if (listen) port = Number(listen[2]);
      if (port !== undefined && READY_RE.test(line)) {
        const chosen = port;
        settle(() => resolve(chosen));
      }
    };
    let partial = '';
    const onData = (chunk: Buffer): void => {
      partial += chunk.toString('utf8');
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        onLine(partial.slice(0, nl).replace(/\r$/, ''));
        partial = partial.slice(nl + 1);
      }
    };
    child.stderr?.on('data', onData);
    child.stdout?.on('data', onData);

    child.once('error', (err) => {
      settle(() => reject(new Error(`failed to run ${binary}: ${err.message}`)));
    });
    void exitedPromise.then(() => {
      if (partial.length > 0) remember(partial);
      settle(() => reject(new Error(`nats-server exited before it was ready (${exitDescription}); log tail:\n${logTail()}`)));
      if (ready && !stopping) {
        logger?.warn(`nats-server (pid ${String(child.pid)}) exited unexpectedly (${exitDescription}); log tail:\n${logTail()}`);
      }
    });
  });

  if (child.pid !== undefined) live.add(child.pid);

  const kill = async (): Promise<void> => {
    stopping = true;
    const pid = child.pid;
    if (exited || pid === undefined) return;
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
    let killTimer: NodeJS.Timeout | undefined;
    const escalate = new Promise<void>((resolve) => {
      killTimer = setTimeout(() => {
        if (!exited) {
          logger?.warn(`nats-server (pid ${pid}) ignored SIGTERM for ${KILL_AFTER_MS} ms; sending SIGKILL`);
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        resolve();
      }, KILL_AFTER_MS);
    });
    await Promise.race([exitedPromise, escalate]);
    await exitedPromise;
    clearTimeout(killTimer);
  };

  let chosenPort: number;
  try {
    chosenPort = await ready$;
  } catch (err) {
    await kill();
    if (ownStore) {
      await rm(storeDir, { recursive: true, force: true });
      pendingDirs.delete(storeDir);
    }
    throw err;
  }
  ready = true;

  const pid = child.pid as number;
  const url = `nats://127.0.0.1:${chosenPort}`;
  logger?.info(`nats-server ready at ${url} (pid ${pid}, JetStream ${jetstream ? `in ${storeDir}` : 'off'})`);

  let stopped: Promise<void> | undefined;
  return {
    url,
    port: chosenPort,
    pid,
    storeDir,
    stop(): Promise<void> {
      stopped ??= (async () => {
        await kill();
        child.stderr?.removeAllListeners('data');
        child.stdout?.removeAllListeners('data');
        if (ownStore) {
          await rm(storeDir, { recursive: true, force: true });
          pendingDirs.delete(storeDir);
        }
        if (tuning) await rm(tuning, { force: true });
        logger?.info(`nats-server (pid ${pid}) stopped`);
      })();
      return stopped;
    },
    async crash(): Promise<void> {
      stopping = true;
      if (!exited) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await exitedPromise;
    },
  };
}
