/**
 * The lease candidate off the master's event loop: a worker thread with its own NATS connection
 * runs the candidate machine, so renewals never wait behind the master's own backlog (a
 * re-registration storm, a long allocation pass, a slow consumer on the busy connection).
 *
 * The master thread sees a {@link LeaseCandidate}: it gets `lease.*` events and can resign or stop.
 * It also tells the worker it is alive every lease/4; a worker whose master has not answered for
 * `watchdogLeases` leases gives the lease up, so a master stuck for good does not hold the cluster.
 */
import { connectionOptions, type Credential } from './credentials.ts';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { workerSource } from './node-command.ts';
import { KvLeaseCandidate } from './lease.ts';
import { createLogger } from './log.ts';
import { connectNats } from './transport-nats.ts';
import type { LeaderInfo, LeaseCandidate, LeaseEvent } from './types.ts';
import { createCandidateMachine } from '../actors/lease/candidate.machine.ts';
import { watchActor, type ActorRecorder, type InspectionHub } from './inspection.ts';

/** What the worker is started with. */
interface LeaseWorkerData {
  leaseWorker: true;
  servers: string[];
  cluster: string;
  leaseMs: number;
  value: Omit<LeaderInfo, 'epoch'>;
  logLevel: string;
  watchdogMs: number;
  connectOptions?: Record<string, unknown>;
  credential?: Credential;
  /** Report the candidate machine's events and states to the master thread. */
  inspect?: boolean;
}

/** What the worker reports of its candidate machine: an event (numbered), or the state event `n` led to. */
type Inspected = { kind: 'event'; n: number; event: { type: string } & Record<string, unknown> } | { kind: 'snapshot'; n: number; status: string; value: unknown };

type ToWorker = { type: 'alive' } | { type: 'resign'; reason: string } | { type: 'stop' };
type FromWorker = { type: 'event'; event: LeaseEvent } | { type: 'stopped' } | { type: 'error'; message: string } | { type: 'inspect'; record: Inspected };

/** Options of {@link WorkerLeaseCandidate}. */
export interface WorkerLeaseOptions {
  servers: string[];
  cluster: string;
  leaseMs: number;
  value: Omit<LeaderInfo, 'epoch'>;
  logLevel?: string;
  /** Leases of silence from the master thread before the worker resigns. Default 5. */
  watchdogLeases?: number;
  /** Extra NATS connection options (TLS) for the worker's own connection; plain data only (it is copied to the worker). */
  connectOptions?: Record<string, unknown>;
  /** The master's credential: the worker connects as the master's principal. */
  credential?: Credential;
  /** Follows the worker's candidate machine here (as `lease-candidate`). */
  inspection?: InspectionHub;
}

/** A {@link LeaseCandidate} whose protocol runs in a worker thread on its own NATS connection. */
export class WorkerLeaseCandidate implements LeaseCandidate {
  #worker: Worker | undefined;
  #alive: NodeJS.Timeout | undefined;
  #stopped: Promise<void> | undefined;
  #leading = false;

  constructor(private readonly opts: WorkerLeaseOptions) {}

  /** True while the worker reports that it holds the lease. */
  get isLeader(): boolean {
    return this.#leading;
  }

  start(onEvent: (e: LeaseEvent) => void): void {
    if (this.#worker) throw new Error('WorkerLeaseCandidate.start: already started');
    const data: LeaseWorkerData = {
      leaseWorker: true,
      servers: this.opts.servers,
      cluster: this.opts.cluster,
      leaseMs: this.opts.leaseMs,
      value: this.opts.value,
      logLevel: this.opts.logLevel ?? 'info',
      watchdogMs: (this.opts.watchdogLeases ?? 5) * this.opts.leaseMs,
      ...(this.opts.connectOptions ? { connectOptions: this.opts.connectOptions } : {}),
      ...(this.opts.credential ? { credential: this.opts.credential } : {}),
      ...(this.opts.inspection ? { inspect: true } : {}),
    };
    const remote = this.opts.inspection?.follow('lease-candidate', createCandidateMachine({ now: () => 0 }));
    const worker = new Worker(workerSource(import.meta.url), { eval: true, workerData: data });
    this.#worker = worker;
    worker.on('message', (m: FromWorker) => {
      if (m.type === 'event') {
        if (m.event.type === 'lease.acquired') this.#leading = true;
        if (m.event.type === 'lease.lost') this.#leading = false;
        onEvent(m.event);
      } else if (m.type === 'inspect') {
        if (m.record.kind === 'event') remote?.event(m.record.n, m.record.event);
        else remote?.snapshot(m.record.n, m.record.status, m.record.value);
      } else if (m.type === 'error') {
        process.stderr.write(`lease worker: ${m.message}\n`);
      }
    });
    worker.on('error', (err) => {
      process.stderr.write(`lease worker failed: ${err.message}\n`);
      if (this.#leading) {
        this.#leading = false;
        onEvent({ type: 'lease.lost', reason: `the lease worker failed: ${err.message}` });
      }
    });
    worker.unref();
    this.#alive = setInterval(() => worker.postMessage({ type: 'alive' } satisfies ToWorker), Math.max(50, this.opts.leaseMs / 4));
    this.#alive.unref();
  }

  resign(reason: string): void {
    this.#worker?.postMessage({ type: 'resign', reason } satisfies ToWorker);
  }

  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      const worker = this.#worker;
      if (!worker) return;
      if (this.#alive) clearInterval(this.#alive);
      const done = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 3000);
        worker.on('message', (m: FromWorker) => {
          if (m.type === 'stopped') {
            clearTimeout(timer);
            resolve();
          }
        });
        worker.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      worker.postMessage({ type: 'stop' } satisfies ToWorker);
      await done;
      await worker.terminate();
    })();
    return this.#stopped;
  }
}

/**
 * Records the candidate machine for the master thread without XState's inspection: its events
 * (type and scalar fields only) and the states they led to, each state naming its event's token.
 */
function recordToParent(post: (m: FromWorker) => void): ActorRecorder {
  return {
    record: (actor, opts) => {
      watchActor(actor, {
        event: (token, e) => {
          const event: { type: string } & Record<string, unknown> = { type: e.type };
          for (const k in e) {
            const v = e[k];
            if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') event[k] = v;
          }
          post({ type: 'inspect', record: { kind: 'event', n: token as number, event } });
        },
        snapshot: (token, status, value) => post({ type: 'inspect', record: { kind: 'snapshot', n: (token as number | undefined) ?? 0, status, value } }),
      }, opts);
    },
  };
}

/** The worker side: connect, contend, report, obey. */
async function runWorker(data: LeaseWorkerData): Promise<void> {
  const port = parentPort!;
  const post = (m: FromWorker) => port.postMessage(m);
  const logger = createLogger({ name: 'mesos-master-lease', level: data.logLevel });
  const nc = await connectNats({
    servers: data.servers,
    name: 'mesos-master-lease',
    logger,
    options: { waitOnFirstConnect: true, ...data.connectOptions, ...(data.credential ? connectionOptions(data.credential) : {}) },
  });
  const candidate = new KvLeaseCandidate({ nc, cluster: data.cluster, leaseMs: data.leaseMs, value: data.value, logger, ...(data.inspect ? { inspection: recordToParent(post) } : {}) });
  let lastAlive = Date.now();
  let leading = false;
  candidate.start((event) => {
    if (event.type === 'lease.acquired') {
      leading = true;
      lastAlive = Date.now();
    }
    if (event.type === 'lease.lost') leading = false;
    post({ type: 'event', event });
  });
  const watchdog = setInterval(() => {
    if (leading && Date.now() - lastAlive > data.watchdogMs) {
      logger.error({ silentMs: Date.now() - lastAlive }, 'the master thread has not answered; giving up the lease');
      candidate.resign('the master thread stopped answering');
    }
  }, Math.max(50, data.leaseMs / 4));
  port.on('message', (m: ToWorker) => {
    if (m.type === 'alive') lastAlive = Date.now();
    else if (m.type === 'resign') candidate.resign(m.reason);
    else if (m.type === 'stop') {
      clearInterval(watchdog);
      void candidate.stop().then(() => nc.close()).catch(() => {}).then(() => post({ type: 'stopped' }));
    }
  });
}

if (!isMainThread && (workerData as LeaseWorkerData | undefined)?.leaseWorker) {
  runWorker(workerData as LeaseWorkerData).catch((err: Error) => parentPort?.postMessage({ type: 'error', message: err.message } satisfies FromWorker));
}
