/**
 * The registry: the small part of the master's state that must survive a failover — which agents
 * were admitted, which are unreachable (and since when) and which are gone, and the operator's
 * quota and weights. Everything else is soft and rebuilt from agents and schedulers.
 *
 * The rule is Mesos' "write before you acknowledge": a change is emitted as an
 * `effect.registry` write, the operation waits in `pendingOps`, and only once the runtime reports
 * `registry.applied` does the master act on it (admit the agent, tell frameworks, apply the
 * quota). The runtime keeps the registry in JetStream KV (`runtime/registry.ts`).
 *
 * @see Mesos `src/master/registry.proto`, `src/master/registrar.cpp`, `src/master/registry_operations.cpp`.
 */
import type { AgentInfo } from '../../protocols/records.ts';
import type { Body } from '../../protocols/messages.ts';

/** A role's quota as the operator set it, in whole units (`{ cpus: 2, mem: 1024 }`). */
export interface QuotaRecord {
  guarantees?: Record<string, number>;
  limits?: Record<string, number>;
}

/** What the registry holds. */
export interface RegistryView {
  admitted: Map<string, AgentInfo>;
  /** Unreachable agents and when they were marked so (epoch ms). */
  unreachable: Map<string, { info: AgentInfo; time: number }>;
  /** Agents that will never come back, and since when. */
  gone: Map<string, number>;
  quotas: Map<string, QuotaRecord>;
  weights: Map<string, number>;
}

/** One change to the registry. @see Mesos `AdmitSlave`, `MarkSlaveUnreachable`, `MarkSlaveReachable`, `RemoveSlave`, `MarkSlaveGone`, `UpdateQuota`, `UpdateWeights` */
export type RegistryOp =
  | { op: 'admit'; agentId: string; info: AgentInfo }
  | { op: 'markUnreachable'; agentId: string; info: AgentInfo; time: number }
  | { op: 'markReachable'; agentId: string; info: AgentInfo }
  | { op: 'remove'; agentId: string }
  | { op: 'markGone'; agentId: string; time: number }
  | { op: 'setQuota'; role: string; quota: QuotaRecord | null }
  | { op: 'setWeights'; weights: Record<string, number> };

/** Asks the runtime to store one change; it answers `registry.applied` or `registry.failed` with the same `opId`. */
export interface RegistryEffect {
  type: 'effect.registry';
  opId: number;
  op: RegistryOp;
}

/** Asks the runtime to read the whole registry; it answers `registry.loaded` or `registry.failed`. */
export interface RegistryLoadEffect {
  type: 'effect.registryLoad';
}

/** What to do once a write is stored. */
export type PendingOp =
  | { kind: 'admitAgent'; pid: string; agentId: string; info: AgentInfo }
  | { kind: 'readmitAgent'; pid: string; report: Body<'ReregisterAgent'>; wasUnreachable: boolean }
  | { kind: 'markUnreachable'; agentId: string; time: number; why: string }
  | { kind: 'removeAgent'; agentId: string }
  /** `answer`: the operator to tell once it is done (`effect.operatorAnswer`). */
  | { kind: 'markGone'; agentId: string; time: number; answer?: string }
  | { kind: 'applyQuota'; role: string; quota: QuotaRecord | null; answer?: string }
  | { kind: 'applyWeights'; weights: Record<string, number>; answer?: string };

/** The registry as the runtime reads it (plain data, so it can cross the effect boundary). */
export interface RegistrySnapshot {
  agents: Array<
    | { agentId: string; state: 'admitted'; info: AgentInfo }
    | { agentId: string; state: 'unreachable'; info: AgentInfo; time: number }
    | { agentId: string; state: 'gone'; time: number; info?: AgentInfo }
  >;
  quotas: Array<{ role: string; quota: QuotaRecord }>;
  weights: Record<string, number>;
}

/** An empty registry view. */
export function emptyRegistry(): RegistryView {
  return { admitted: new Map(), unreachable: new Map(), gone: new Map(), quotas: new Map(), weights: new Map() };
}

/** Builds the view from what the runtime read. */
export function registryFromSnapshot(snap: RegistrySnapshot): RegistryView {
  const v = emptyRegistry();
  for (const a of snap.agents) {
    if (a.state === 'admitted') v.admitted.set(a.agentId, a.info);
    else if (a.state === 'unreachable') v.unreachable.set(a.agentId, { info: a.info, time: a.time });
    else v.gone.set(a.agentId, a.time);
  }
  for (const q of snap.quotas) v.quotas.set(q.role, q.quota);
  for (const [role, w] of Object.entries(snap.weights)) v.weights.set(role, w);
  return v;
}

/** Records a stored write in the view (the view then matches the registry). */
export function applyToView(v: RegistryView, op: RegistryOp): void {
  switch (op.op) {
    case 'admit':
    case 'markReachable':
      v.unreachable.delete(op.agentId);
      v.gone.delete(op.agentId);
      v.admitted.set(op.agentId, op.info);
      break;
    case 'markUnreachable':
      v.admitted.delete(op.agentId);
      v.unreachable.set(op.agentId, { info: op.info, time: op.time });
      break;
    case 'remove':
      v.admitted.delete(op.agentId);
      v.unreachable.delete(op.agentId);
      break;
    case 'markGone':
      v.admitted.delete(op.agentId);
      v.unreachable.delete(op.agentId);
      v.gone.set(op.agentId, op.time);
      break;
    case 'setQuota':
      if (op.quota) v.quotas.set(op.role, op.quota);
      else v.quotas.delete(op.role);
      break;
    case 'setWeights':
      for (const [role, w] of Object.entries(op.weights)) v.weights.set(role, w);
      break;
    default:
      break;
  }
}

/**
 * Emits a registry write and remembers what to do once it is stored.
 * @returns the operation's id.
 */
export function requestWrite(
  s: { pendingOps: Map<number, { op: RegistryOp; then: PendingOp }>; nextOpId: number },
  op: RegistryOp,
  then: PendingOp,
  out: Array<{ type: string }>,
): number {
  const opId = s.nextOpId++;
  s.pendingOps.set(opId, { op, then });
  const effect: RegistryEffect = { type: 'effect.registry', opId, op };
  out.push(effect);
  return opId;
}
