/**
 * The master's state documents, written in a worker thread (see `state-mirror.ts` for why).
 *
 * The master thread holds a {@link StateDocuments}: it notes the master's operator events, and
 * for each document asked for it first sends what changed since the last one (a few entries in a
 * quiet cluster), then asks the worker to write the document from its copy. The worker answers
 * with the document's bytes, moved (not copied) back to the master thread, which only has to put
 * them on the socket.
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
import { Slicer } from './slicer.ts';
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

type ToWorker = { type: 'delta'; delta: StateDelta } | ({ type: 'write'; id: number } & DocumentRequest);
type FromWorker = { type: 'written'; id: number; bytes: Uint8Array } | { type: 'failed'; id: number; message: string };

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

/** The master thread's handle on the worker. */
export class StateDocuments {
  readonly #feed = new StateFeed();
  #worker: Worker | undefined;
  readonly #waiting = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();
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

  /** Writes a document of `ctx` (the leading master's context) in the worker. */
  async write(ctx: MasterContext, req: DocumentRequest): Promise<Buffer> {
    if (this.#closed) throw new Error('the state documents are closed');
    const worker = this.#start();
    const flush = this.#flushing.then(() => this.#feed.flush(ctx, (delta) => worker.postMessage({ type: 'delta', delta } satisfies ToWorker)));
    this.#flushing = flush.catch(() => {});
    await flush;
    const id = ++this.#seq;
    return new Promise<Buffer>((resolve, reject) => {
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
      if (m.type === 'written') w?.resolve(Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength));
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
    // Written without yielding, so no delta lands halfway through a document.
    write(mirror, m, viewOf(m.restrictedTo)).then(
      (text) => {
        const bytes = encoder.encode(text);
        port.postMessage({ type: 'written', id: m.id, bytes } satisfies FromWorker, [bytes.buffer]);
      },
      (err: Error) => port.postMessage({ type: 'failed', id: m.id, message: err.message } satisfies FromWorker),
    );
  });
}

if (!isMainThread && (workerData as StateWorkerData | undefined)?.stateWorker) runWorker(workerData as StateWorkerData);
