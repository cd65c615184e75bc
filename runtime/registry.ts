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

/** The registry in a JetStream KV bucket. */
export class KvRegistry implements RegistryStore {
  #kv: KV | undefined;
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
      this.#kv = undefined;
      return fn(await this.#bucket());
    }
  }

  async load(): Promise<RegistrySnapshot> {
    return this.#with(async (kv) => {
      const snap = emptySnapshot();
      const status = await kv.status();
      if (status.values === 0) return snap;
      const w = await kv.watch({ key: '>' });
      try {
        for await (const e of w) {
          if (e.operation === 'PUT') this.#read(snap, e.key, e.value);
          if (e.delta === 0 || e.delta === undefined) break;
        }
      } finally {
        w.stop();
      }
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

  async apply(op: RegistryOp): Promise<void> {
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
