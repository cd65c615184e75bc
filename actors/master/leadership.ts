/**
 * What a leader does besides answering messages: recovering from the registry after winning the
 * lease, acting on registry writes once they are stored, the periodic health sweep, operator
 * updates that must be durable, and its metrics.
 *
 * @see Mesos `Master::_recover`, `Registrar`, `Master::updateQuota`, `Master::updateWeights`,
 * `master/metrics.cpp`.
 */
import { log, type Inbound } from '../common.ts';
import { quantities as toQuantities } from './allocator/quantities.ts';
import { agentAdmitted, agentMarkedUnreachable, agentReadmitted, agentRemoved, checkAgents } from './agents.ts';
import { checkFrameworks } from './frameworks.ts';
import { forgetStaleParts } from './reassembly.ts';
import { applyToView, registryFromSnapshot, requestWrite, type QuotaRecord, type RegistrySnapshot } from './registry.ts';
import { agentMarkedGone } from './operator.ts';
import { answerOperator, bump, InvariantError, type MasterEnv, type MasterState, type Out } from './state.ts';

/**
 * The registry was read after winning the lease: every admitted agent is *recovering* until it
 * re-registers (or `agentReregisterTimeout` passes), and the stored quota and weights take effect.
 */
export function registryLoaded(s: MasterState, snap: RegistrySnapshot): Out {
  s.registry = registryFromSnapshot(snap);
  s.recovered = new Map([...s.registry.admitted].map(([id, info]) => [id, { info }]));
  for (const [role, q] of s.registry.quotas) s.allocator.updateQuota(role, quotaOf(q));
  if (s.registry.weights.size > 0) s.allocator.updateWeights(Object.fromEntries(s.registry.weights));
  return [log('info', `Recovered the registry: ${s.registry.admitted.size} agent(s) to re-register, ${s.registry.unreachable.size} unreachable, ${s.registry.gone.size} gone, ${s.registry.quotas.size} quota(s)`)];
}

function quotaOf(q: QuotaRecord) {
  return {
    ...(q.guarantees ? { guarantees: toQuantities(q.guarantees) } : {}),
    ...(q.limits ? { limits: toQuantities(q.limits) } : {}),
  };
}

/** A registry write is stored: the view follows, and the waiting operation goes ahead. */
export function registryApplied(s: MasterState, opId: number, env: MasterEnv): Out {
  const pending = s.pendingOps.get(opId);
  if (!pending) return [log('warn', `Registry write ${opId} completed but nothing waits for it`)];
  s.pendingOps.delete(opId);
  applyToView(s.registry, pending.op);
  const then = pending.then;
  switch (then.kind) {
    case 'admitAgent': return agentAdmitted(s, then, env);
    case 'readmitAgent': return agentReadmitted(s, then, env);
    case 'markUnreachable': return agentMarkedUnreachable(s, then, env);
    case 'removeAgent': return agentRemoved(s, then, env);
    case 'markGone': return agentMarkedGone(s, then, env);
    case 'applyQuota': {
      if (then.quota) s.allocator.updateQuota(then.role, quotaOf(then.quota));
      else s.allocator.updateQuota(then.role, {});
      const out: Out = [log('info', then.quota ? `Quota of role '${then.role}' set` : `Quota of role '${then.role}' removed`, { quota: then.quota })];
      if (then.answer) answerOperator(out, then.answer, 'UpdateQuota', 'ok');
      return out;
    }
    case 'applyWeights': {
      s.allocator.updateWeights(then.weights);
      const out: Out = [log('info', 'Weights updated', { weights: then.weights })];
      if (then.answer) answerOperator(out, then.answer, 'UpdateWeights', 'ok');
      return out;
    }
    default:
      throw new InvariantError(`unknown registry continuation ${(then as { kind: string }).kind}`);
  }
}

/** The periodic sweep: agent pings and partitions, framework heartbeats and failover deadlines. */
export function sweep(s: MasterState, env: MasterEnv): Out {
  const out = checkAgents(s, env);
  for (const o of checkFrameworks(s, env)) out.push(o);
  forgetStaleParts(s, env);
  return out;
}

/**
 * `UpdateQuota` and `UpdateWeights` are stored before they take effect; `UpdateWhitelist` (a
 * start-up flag in Mesos) takes effect at once. None allocates by itself.
 */
export function operatorUpdate(s: MasterState, ev: Inbound<'UpdateQuota' | 'UpdateWeights' | 'UpdateWhitelist'>): Out {
  const out: Out = [];
  switch (ev.type) {
    case 'UpdateQuota': {
      const quota: QuotaRecord | null = ev.body.guarantees || ev.body.limits
        ? { ...(ev.body.guarantees ? { guarantees: ev.body.guarantees } : {}), ...(ev.body.limits ? { limits: ev.body.limits } : {}) }
        : null;
      requestWrite(s, { op: 'setQuota', role: ev.body.role, quota }, { kind: 'applyQuota', role: ev.body.role, quota, answer: ev.from }, out);
      break;
    }
    case 'UpdateWeights':
      requestWrite(s, { op: 'setWeights', weights: ev.body.weights }, { kind: 'applyWeights', weights: ev.body.weights, answer: ev.from }, out);
      break;
    case 'UpdateWhitelist':
      s.allocator.updateWhitelist(ev.body.hostnames);
      break;
    default:
      break;
  }
  bump(s, `master/messages_${ev.type.replace(/[A-Z]/g, (c, i: number) => (i ? '_' : '') + c.toLowerCase())}`);
  return out;
}

/** The task states counted by `master/tasks_<state>` gauges (those of tasks that have not ended). */
const COUNTED_STATES: Partial<Record<string, string>> = { TASK_STAGING: 'staging', TASK_STARTING: 'starting', TASK_RUNNING: 'running', TASK_KILLING: 'killing', TASK_UNREACHABLE: 'unreachable' };

/**
 * The master's metrics, named as Mesos names them: the counters kept as things happen, and the
 * gauges computed now (agents and frameworks by state, tasks by state, outstanding offers).
 * @see Mesos `master/metrics.cpp`
 */
export function masterMetrics(s: MasterState, env: MasterEnv, leading: boolean): Record<string, number> {
  const m: Record<string, number> = { ...s.metrics };
  m['master/elected'] = leading ? 1 : 0;
  if (!leading) return m;
  m['master/uptime_secs'] = (env.now - s.electedAt) / 1000;
  let active = 0;
  for (const a of s.agents.values()) if (!a.removing) active++;
  m['master/slaves_active'] = active;
  m['master/slaves_connected'] = active;
  m['master/slaves_recovering'] = s.recovered.size;
  m['master/slaves_unreachable'] = s.registry.unreachable.size;
  m['master/slaves_gone'] = s.registry.gone.size;
  let connected = 0;
  let fwActive = 0;
  const byState: Record<string, number> = { staging: 0, starting: 0, running: 0, killing: 0, unreachable: 0 };
  for (const fw of s.frameworks.values()) {
    if (fw.connected) connected++;
    if (fw.active) fwActive++;
    for (const u of fw.unreachableTasks.values()) if (u.task.state === 'TASK_UNREACHABLE') byState.unreachable! += 1;
  }
  m['master/frameworks_connected'] = connected;
  m['master/frameworks_disconnected'] = s.frameworks.size - connected;
  m['master/frameworks_active'] = fwActive;
  m['master/frameworks_inactive'] = s.frameworks.size - fwActive;
  for (const [state, k] of Object.entries(COUNTED_STATES)) byState[k!]! += s.taskStates[state] ?? 0;
  for (const [k, v] of Object.entries(byState)) m[`master/tasks_${k}`] = v;
  m['master/outstanding_offers'] = s.offers.size;
  m['master/registry_writes_pending'] = s.pendingOps.size;
  for (const [k, v] of Object.entries(s.allocator.metrics(env.now))) m[k] = v;
  return m;
}
