/**
 * The master's state documents, written in a worker thread (see `state-mirror.ts` for why).
 *
 * The master thread holds a {@link StateDocuments}: it notes the master's operator events, and
 * for each document asked for it first sends what changed since the last one (a few entries in a
 * quiet cluster), then asks the worker to write the document from its copy. The worker answers
 * with the document's bytes in shared memory, which the master thread only has to put on the
 * socket. The worker reuses that memory once every reader is done with it
 * ({@link SharedDocument.release}): documents of 30 MB a second, each a new buffer on the master
 * thread, would count against its heap's external memory and set off a full collection of its
 * large heap every few seconds.
 *
 * A worker that fails is logged and replaced by a new one on the next request; the new one is
 * sent everything again.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { Acls } from '../../actors/master/acls.ts';
import type { MasterContext } from '../../actors/master/master.machine.ts';
import type { OperatorEvent } from '../../actors/master/state.ts';
import type { Logger } from '../log.ts';
import { workerSource } from '../node-command.ts';
import { Slicer } from '../slicer.ts';
import { rolesJson, v1Agents, v1State, v1Tasks, writeAgents, writeFrameworks, writeState, writeSummary, writeTasks, type MasterMeta } from './master-state.ts';
import { StateFeed, StateMirror, type StateDelta } from './state-mirror.ts';
import { VISIBLE_ALL, viewFilter, type ViewFilter } from './view-filter.ts';

/**
 * The documents a worker writes. `v1` is the v1 `GET_STATE` answer (what `SUBSCRIBED` carries),
 * `v1-tasks` and `v1-agents` the `GET_TASKS` and `GET_AGENTS` answers.
 */
export type StateDocument = 'state' | 'summary' | 'frameworks' | 'slaves' | 'tasks' | 'roles' | 'v1' | 'v1-tasks' | 'v1-agents';

/** What one document is written with. */
export interface DocumentRequest {
  doc: StateDocument;
  meta: MasterMeta;
  /** The reader's principal, when the ACLs restrict what it may view (else it sees everything). */
  restrictedTo?: { principal: string | undefined };
  /** `tasks`: which. */
  tasks?: { limit: number; offset: number; order: 'asc' | 'des' };
  /** `roles`: each role's weight (a role not named weighs 1); every role named is listed. */
  weights?: Record<string, number>;
}

interface StateWorkerData {
  stateWorker: true;
  acls?: Acls;
}

type ToWorker = { type: 'delta'; delta: StateDelta } | ({ type: 'write'; id: number } & DocumentRequest) | { type: 'release'; memory: SharedArrayBuffer };
type FromWorker = { type: 'written'; id: number; memory: SharedArrayBuffer; length: number } | { type: 'failed'; id: number; message: string };

/** Free buffers the worker keeps for the next documents. */
const POOL_SIZE = 8;
/** Room a new buffer leaves for the document to grow. */
const HEADROOM = 1.25;

/**
 * A written document in memory shared with the worker. Whoever keeps or sends it holds it
 * ({@link hold}) and lets go when done ({@link release}); when the last holder lets go, the
 * memory goes back to the worker for another document.
 */
export class SharedDocument {
  #holders = 1;
  readonly #free: () => void;
  constructor(
    readonly bytes: Buffer,
    free: () => void,
  ) {
    this.#free = free;
  }

  /** One more holder. */
  hold(): this {
    if (this.#holders === 0) throw new Error('SharedDocument.hold: the document was released');
    this.#holders++;
    return this;
  }

  /** One holder fewer. */
  release(): void {
    if (this.#holders === 0) return;
    if (--this.#holders === 0) this.#free();
  }
}

/** A writing slicer that never yields: the worker has nothing else to do meanwhile. */
const UNSLICED = () => new Slicer(Number.POSITIVE_INFINITY);

/** Writes `req` from `src` as JSON text. */
async function write(src: StateMirror, req: DocumentRequest, view: ViewFilter): Promise<string> {
  const s = src.ready();
  switch (req.doc) {
    case 'state':
      return (await writeState(s, req.meta, view, UNSLICED())).join('');
    case 'summary':
      return (await writeSummary(s, req.meta, view, UNSLICED())).join('');
    case 'frameworks':
      return (await writeFrameworks(s, req.meta, view, UNSLICED())).join('');
    case 'slaves':
      return (await writeAgents(s, req.meta, view, UNSLICED())).join('');
    case 'tasks':
      return (await writeTasks(s, req.tasks ?? { limit: 100, offset: 0, order: 'des' }, view, UNSLICED())).join('');
    case 'roles':
      return JSON.stringify(rolesJson(s, (r) => req.weights?.[r] ?? 1, view, Object.keys(req.weights ?? {})));
    case 'v1':
      return JSON.stringify(await v1State(s, view, UNSLICED()));
    case 'v1-tasks':
      return JSON.stringify(await v1Tasks(s, view, UNSLICED()));
    case 'v1-agents':
      return JSON.stringify(await v1Agents(s, UNSLICED()));
  }
}

/** Hands a document's bytes to `use`, and lets go of the document once `use` is done. */
export async function withDocument<T>(doc: Promise<SharedDocument>, use: (bytes: Buffer) => T | Promise<T>): Promise<T> {
  const d = await doc;
  try {
    return await use(d.bytes);
  } finally {
    d.release();
  }
}

/** The master thread's handle on the worker. */
export class StateDocuments {
  readonly #feed = new StateFeed();
  #worker: Worker | undefined;
  readonly #waiting = new Map<number, { resolve: (d: SharedDocument) => void; reject: (e: Error) => void }>();
  #seq = 0;
  /** Deltas are made one flush at a time, in order. */
  #flushing: Promise<void> = Promise.resolve();
  #closed = false;

  /** `onWorker` is told of each worker started (the first, and each that replaces a failed one). */
  constructor(private readonly opts: { logger: Logger; acls?: Acls; onWorker?: (w: Worker) => void }) {}

  /** Takes note of an operator event (call it for every event the master announces). */
  note(e: OperatorEvent): void {
    this.#feed.note(e);
  }

  /** Writes a document of `ctx` (the leading master's context) in the worker; the caller holds it. */
  async write(ctx: MasterContext, req: DocumentRequest): Promise<SharedDocument> {
    if (this.#closed) throw new Error('the state documents are closed');
    const worker = this.#start();
    const flush = this.#flushing.then(() => this.#feed.flush(ctx, (delta) => worker.postMessage({ type: 'delta', delta } satisfies ToWorker)));
    this.#flushing = flush.catch(() => {});
    await flush;
    // A worker that stopped meanwhile never answers: its replacement was sent everything anew.
    if (this.#worker !== worker) throw new Error('the state documents worker stopped while the document was asked for');
    const id = ++this.#seq;
    return new Promise<SharedDocument>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      worker.postMessage({ type: 'write', id, ...req } satisfies ToWorker);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    const w = this.#worker;
    this.#worker = undefined;
    this.#fail(new Error('the state documents are closed'));
    await w?.terminate();
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const data: StateWorkerData = { stateWorker: true, ...(this.opts.acls ? { acls: this.opts.acls } : {}) };
    const worker = new Worker(workerSource(import.meta.url), { eval: true, workerData: data });
    this.#worker = worker;
    this.#feed.reset();
    worker.unref();
    worker.on('message', (m: FromWorker) => {
      const w = this.#waiting.get(m.id);
      this.#waiting.delete(m.id);
      if (m.type === 'written') {
        const memory = m.memory;
        const doc = new SharedDocument(Buffer.from(memory, 0, m.length), () => worker.postMessage({ type: 'release', memory } satisfies ToWorker));
        if (w) w.resolve(doc);
        else doc.release();
      }
      else w?.reject(new Error(m.message));
    });
    const gone = (why: string) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      if (!this.#closed) this.opts.logger.error({ why }, 'the state documents worker stopped; a new one starts with the next request');
      this.#fail(new Error(`the state documents worker stopped: ${why}`));
    };
    worker.on('error', (err) => gone(err.message));
    worker.on('exit', (code) => gone(`exit code ${code}`));
    this.opts.onWorker?.(worker);
    return worker;
  }

  #fail(err: Error): void {
    for (const w of this.#waiting.values()) w.reject(err);
    this.#waiting.clear();
  }
}

/** The worker side: apply deltas, write documents. */
function runWorker(data: StateWorkerData): void {
  const port = parentPort!;
  const mirror = new StateMirror();
  const encoder = new TextEncoder();
  const pool: SharedArrayBuffer[] = [];
  /** The smallest free buffer that holds `length` bytes, or a new one with room to grow. */
  const memoryFor = (length: number): SharedArrayBuffer => {
    let best = -1;
    for (let i = 0; i < pool.length; i++) if (pool[i]!.byteLength >= length && (best < 0 || pool[i]!.byteLength < pool[best]!.byteLength)) best = i;
    if (best >= 0) return pool.splice(best, 1)[0]!;
    return new SharedArrayBuffer(Math.max(64 * 1024, Math.ceil(length * HEADROOM)));
  };
  const views = new Map<string, ViewFilter>();
  const viewOf = (r: DocumentRequest['restrictedTo']) => {
    if (!r || !data.acls) return VISIBLE_ALL;
    const key = r.principal ?? '';
    let v = views.get(key);
    if (!v) views.set(key, (v = viewFilter(data.acls, r.principal)));
    return v;
  };
  port.on('message', (m: ToWorker) => {
    if (m.type === 'delta') {
      mirror.apply(m.delta);
      return;
    }
    if (m.type === 'release') {
      pool.push(m.memory);
      // Beyond the pool's size, the smallest buffers go.
      if (pool.length > POOL_SIZE) pool.sort((a, b) => b.byteLength - a.byteLength).length = POOL_SIZE;
      return;
    }
    // Written without yielding, so no delta lands halfway through a document.
    write(mirror, m, viewOf(m.restrictedTo)).then(
      (text) => {
        const length = Buffer.byteLength(text);
        const memory = memoryFor(length);
        encoder.encodeInto(text, new Uint8Array(memory, 0, length));
        port.postMessage({ type: 'written', id: m.id, memory, length } satisfies FromWorker);
      },
      (err: Error) => port.postMessage({ type: 'failed', id: m.id, message: err.message } satisfies FromWorker),
    );
  });
}

if (!isMainThread && (workerData as StateWorkerData | undefined)?.stateWorker) runWorker(workerData as StateWorkerData);
