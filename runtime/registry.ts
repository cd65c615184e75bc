/**
 * Where the master's registry lives: JetStream KV (bucket `mesos_<cluster>_registry`, one key per
 * agent, quota and weight, so that each change is one atomic put), or memory for simulations.
 *
 * A lost bucket is recreated on the next operation: the registry then starts empty, and agents
 * that re-register are admitted again (as Mesos admits an unknown agent that re-registers).
 *
 * @see Mesos `src/master/registrar.cpp` (the replicated log there, one KV bucket here).
 */
import { Kvm } from '@nats-io/kv';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { RegistryOp, RegistrySnapshot, QuotaRecord } from '../actors/master/registry.ts';
import type { AgentInfo } from '../protocols/records.ts';

/** The registry store the master runtime writes through. */
export interface RegistryStore {
  /** Reads everything. */
  load(): Promise<RegistrySnapshot>;
  /** Stores one change; resolves once it is durable. */
  apply(op: RegistryOp): Promise<void>;
  /** Keeps a copy current from now on (a standby master warms up with it). */
  follow?(): void;
  /** Stops following. */
  stop?(): void;
}

/** The registry bucket of a cluster. */
export function registryBucketName(cluster: string): string {
  return `mesos_${cluster.replace(/[^\w-]/g, '_')}_registry`;
}

/** A KV key part for any string (KV keys allow letters, digits, `-_=/.` only). */
function keyPart(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64url') || '_';
}

function fromKeyPart(s: string): string {
  return Buffer.from(s, 'base64url').toString('utf8');
}

type AgentRecord =
  | { state: 'admitted'; info: AgentInfo }
  | { state: 'unreachable'; info: AgentInfo; time: number }
  | { state: 'gone'; time: number; info?: AgentInfo };

/** Applies `op` to a snapshot held in memory (the in-memory store, and tests). */
export function applyToSnapshot(snap: RegistrySnapshot, op: RegistryOp): void {
  const setAgent = (agentId: string, rec: AgentRecord | undefined) => {
    const i = snap.agents.findIndex((a) => a.agentId === agentId);
    if (i >= 0) snap.agents.splice(i, 1);
    if (rec) snap.agents.push({ agentId, ...rec } as RegistrySnapshot['agents'][number]);
  };
  switch (op.op) {
    case 'admit':
    case 'markReachable':
      setAgent(op.agentId, { state: 'admitted', info: op.info });
      break;
    case 'markUnreachable':
      setAgent(op.agentId, { state: 'unreachable', info: op.info, time: op.time });
      break;
    case 'remove':
      setAgent(op.agentId, undefined);
      break;
    case 'markGone':
      setAgent(op.agentId, { state: 'gone', time: op.time });
      break;
    case 'setQuota': {
      snap.quotas = snap.quotas.filter((q) => q.role !== op.role);
      if (op.quota) snap.quotas.push({ role: op.role, quota: op.quota });
      break;
    }
    case 'setWeights':
      snap.weights = { ...snap.weights, ...op.weights };
      break;
    default:
      break;
  }
}

/** An empty registry. */
export function emptySnapshot(): RegistrySnapshot {
  return { agents: [], quotas: [], weights: {} };
}

/** A registry in memory, shared by the masters of a simulation. `lose()` empties it. */
export class MemoryRegistry implements RegistryStore {
  #snap = emptySnapshot();
  /** Writes and reads fail while set (the store is unreachable). */
  failing = false;
  /** Writes applied so far. */
  writes = 0;

  async load(): Promise<RegistrySnapshot> {
    if (this.failing) throw new Error('registry unreachable');
    return structuredClone(this.#snap);
  }

  async apply(op: RegistryOp): Promise<void> {
    if (this.failing) throw new Error('registry unreachable');
    applyToSnapshot(this.#snap, op);
    this.writes++;
  }

  /** What is stored now. */
  snapshot(): RegistrySnapshot {
    return structuredClone(this.#snap);
  }

  /** The registry's data is lost. */
  lose(): void {
    this.#snap = emptySnapshot();
  }
}

/**
 * The registry in a JetStream KV bucket, followed continuously: a master watches the bucket from
 * the moment it starts, standing by, so that a new leader has the registry in memory already and
 * only waits until its copy has caught up with the bucket's last write (the old leader wrote
 * before it acknowledged anything, and the watch delivers every write in order).
 */
export class KvRegistry implements RegistryStore {
  #kv: KV | undefined;
  /** KV key → value, as last seen by the watch. */
  #entries = new Map<string, Uint8Array>();
  /** Revision (stream sequence) of the last entry the watch delivered. */
  #seen = 0;
  #watch: { stop(): void } | undefined;
  #waiters: Array<{ seq: number; resolve: () => void }> = [];
  /** Writes allowed in flight at once. */
  static readonly maxInFlight = 64;
  #inFlight = 0;
  /** Writes waiting for one in flight to finish, oldest first. */
  #queued: Array<() => void> = [];
  constructor(private readonly nc: NatsConnection, private readonly cluster: string, private readonly timeoutMs = 5000) {}

  async #bucket(): Promise<KV> {
    this.#kv ??= await new Kvm(this.nc).create(registryBucketName(this.cluster), { history: 1, timeout: this.timeoutMs });
    return this.#kv;
  }

  /** Runs `fn` on the bucket, recreating it once if it was lost. */
  async #with<T>(fn: (kv: KV) => Promise<T>): Promise<T> {
    try {
      return await fn(await this.#bucket());
    } catch (err) {
      if (!/stream not found|no responders|timeout/i.test(String((err as Error)?.message)) && (err as { code?: unknown })?.code !== 10059) throw err;
      this.#restart();
      this.#kv = undefined;
      return fn(await this.#bucket());
    }
  }

  /** Starts following the bucket (idempotent); a master calls it at start, while standing by. */
  follow(): void {
    if (this.#watch) return;
    const state = { stopped: false, iter: undefined as { stop(): void } | undefined };
    const handle = {
      stop: () => {
        state.stopped = true;
        state.iter?.stop();
      },
    };
    this.#watch = handle;
    void (async () => {
      try {
        const kv = await this.#bucket();
        const w = await kv.watch({ key: '>' });
        state.iter = w;
        if (state.stopped) return w.stop();
        for await (const e of w) {
          if (e.operation === 'PUT') this.#entries.set(e.key, e.value);
          else this.#entries.delete(e.key);
          this.#seen = Math.max(this.#seen, e.revision);
          this.#wake();
        }
      } catch {
        // The watch ended (bucket lost, connection closed): `load` starts it again.
      }
      if (this.#watch === handle) this.#watch = undefined;
    })();
  }

  /** Stops following. */
  stop(): void {
    this.#watch?.stop();
    this.#watch = undefined;
  }

  /** Forgets what was followed (the bucket was lost or made anew) and follows afresh. */
  #restart(): void {
    this.stop();
    this.#entries.clear();
    this.#seen = 0;
  }

  #wake(): void {
    this.#waiters = this.#waiters.filter((w) => {
      if (this.#seen < w.seq) return true;
      w.resolve();
      return false;
    });
  }

  async load(): Promise<RegistrySnapshot> {
    return this.#with(async (kv) => {
      const last = (await kv.status()).streamInfo.state.last_seq;
      if (last < this.#seen) this.#restart(); // a new bucket: its revisions started over
      this.follow();
      if (this.#seen < last) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => {
            this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
            reject(new Error(`the registry copy did not catch up with revision ${last} (at ${this.#seen})`));
          }, this.timeoutMs);
          const done = () => {
            clearTimeout(timer);
            resolve();
          };
          this.#waiters.push({ seq: last, resolve: done });
        });
      }
      const snap = emptySnapshot();
      for (const [key, value] of this.#entries) this.#read(snap, key, value);
      return snap;
    });
  }

  #read(snap: RegistrySnapshot, key: string, value: Uint8Array): void {
    const [kind, part] = key.split('.', 2) as [string, string];
    let v: unknown;
    try {
      v = JSON.parse(new TextDecoder().decode(value));
    } catch {
      return;
    }
    if (kind === 'agents') snap.agents.push({ agentId: fromKeyPart(part), ...(v as AgentRecord) } as RegistrySnapshot['agents'][number]);
    else if (kind === 'quotas') snap.quotas.push({ role: fromKeyPart(part), quota: v as QuotaRecord });
    else if (kind === 'weights' && typeof v === 'number') snap.weights[fromKeyPart(part)] = v;
  }

  /**
   * Writes `op`. At most {@link KvRegistry.maxInFlight} writes are outstanding; the rest wait their
   * turn in order. Thousands of puts sent at once (a boot storm admits an agent per put) all
   * queue at the server, time out together, are retried together and never drain.
   */
  async apply(op: RegistryOp): Promise<void> {
    if (this.#inFlight >= KvRegistry.maxInFlight) await new Promise<void>((resolve) => this.#queued.push(resolve));
    this.#inFlight++;
    try {
      await this.#write(op);
    } finally {
      this.#inFlight--;
      this.#queued.shift()?.();
    }
  }

  async #write(op: RegistryOp): Promise<void> {
    const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
    await this.#with(async (kv) => {
      switch (op.op) {
        case 'admit':
        case 'markReachable':
          await kv.put(`agents.${keyPart(op.agentId)}`, enc({ state: 'admitted', info: op.info }));
          break;
        case 'markUnreachable':
          await kv.put(`agents.${keyPart(op.agentId)}`, enc({ state: 'unreachable', info: op.info, time: op.time }));
          break;
        case 'remove':
          await kv.delete(`agents.${keyPart(op.agentId)}`);
          break;
        case 'markGone':
          await kv.put(`agents.${keyPart(op.agentId)}`, enc({ state: 'gone', time: op.time }));
          break;
        case 'setQuota':
          if (op.quota) await kv.put(`quotas.${keyPart(op.role)}`, enc(op.quota));
          else await kv.delete(`quotas.${keyPart(op.role)}`);
          break;
        case 'setWeights':
          for (const [role, w] of Object.entries(op.weights)) await kv.put(`weights.${keyPart(role)}`, enc(w));
          break;
        default:
          break;
      }
    });
  }
}
