/**
 * Operator calls: tearing a framework down, setting quota and weights, marking an agent gone.
 * Each is authorized against the sender's principal (`acls.ts`) and answered with an
 * `effect.operatorAnswer` once decided, so an HTTP request acting as that operator can say what
 * happened: done (after the registry stored it, where it must), refused, or naming nothing known.
 *
 * Marking an agent gone is for an operator who knows the machine will not come back (it was
 * decommissioned or wiped): written to the registry first, then the agent is removed, its tasks
 * end TASK_GONE_BY_OPERATOR (TASK_LOST for a framework that is not partition aware;
 * `REASON_AGENT_REMOVED_BY_OPERATOR`), it is told to shut down, and a
 * re-registration under its id is refused (and told to shut down again) for as long as the
 * registry remembers it.
 *
 * @see Mesos `Master::teardown` (HTTP), `Master::updateQuota`, `Master::updateWeights`,
 * `Master::markGone`, `Master::_markGone`, `docs/operator-http-api.md`.
 */
import { isTerminalState, type TaskState } from '../../protocols/task-states.ts';
import { log, type Inbound } from '../common.ts';
import { rescindOffersOnAgent } from './offers.ts';
import { teardownFramework } from './frameworks.ts';
import { operatorUpdate } from './leadership.ts';
import { requestWrite, type PendingOp } from './registry.ts';
import {
  announce,
  answerOperator,
  bump,
  check,
  dropTask,
  isPartitionAware,
  masterUpdate,
  permitted,
  sendTo,
  type FrameworkEntry,
  type MasterEnv,
  type MasterState,
  type Out,
  keepCompleted,
} from './state.ts';

/** What an operator's gone agent is told. */
export const GONE_MESSAGE = 'Agent has been marked gone';

/** `TeardownFramework` from an operator: authorized against the framework's principal. */
export function teardownByOperator(s: MasterState, ev: Inbound<'TeardownFramework'>, env: MasterEnv): Out {
  const out: Out = [];
  const fw = s.frameworks.get(ev.body.frameworkId);
  if (!fw) {
    out.push(log('warn', `Ignoring TeardownFramework of unknown framework ${ev.body.frameworkId}`, { from: ev.from }));
    answerOperator(out, ev.from, ev.type, 'unknown', `No framework found with ID ${ev.body.frameworkId}`);
    return out;
  }
  if (!permitted(s, env, ev.from, 'teardown_frameworks', fw.info.principal, out)) {
    answerOperator(out, ev.from, ev.type, 'forbidden', `Not authorized to tear down framework ${fw.id}`);
    return out;
  }
  out.push(...teardownFramework(s, fw, env));
  answerOperator(out, ev.from, ev.type, 'ok');
  return out;
}

/**
 * `UpdateQuota`, `UpdateWeights`, `UpdateWhitelist`: authorized per role, stored, then applied;
 * the operator is answered once applied (`registryApplied`). Removing a quota a role does not
 * have is refused without a write.
 */
export function updateByOperator(s: MasterState, ev: Inbound<'UpdateQuota' | 'UpdateWeights' | 'UpdateWhitelist'>, env: MasterEnv): Out {
  const out: Out = [];
  const roles = ev.type === 'UpdateQuota' ? [ev.body.role] : ev.type === 'UpdateWeights' ? Object.keys(ev.body.weights) : [];
  const action = ev.type === 'UpdateQuota' ? 'update_quotas' : 'update_weights';
  for (const role of roles) {
    if (!permitted(s, env, ev.from, action, role, out)) {
      answerOperator(out, ev.from, ev.type, 'forbidden', `Not authorized to ${action === 'update_quotas' ? 'update the quota' : 'update the weight'} of role '${role}'`);
      return out;
    }
  }
  if (ev.type === 'UpdateQuota' && !ev.body.guarantees && !ev.body.limits && !s.registry.quotas.has(ev.body.role)) {
    answerOperator(out, ev.from, ev.type, 'unknown', `No quota set for role '${ev.body.role}'`);
    return out;
  }
  out.push(...operatorUpdate(s, ev));
  if (ev.type === 'UpdateWhitelist') answerOperator(out, ev.from, ev.type, 'ok');
  return out;
}

/**
 * `MarkAgentGone`: a registered, unreachable or recovering agent is written to the registry as
 * gone; the rest happens once stored (`agentMarkedGone`). One already gone is answered at once.
 * @see `Master::markGone`
 */
export function markAgentGone(s: MasterState, ev: Inbound<'MarkAgentGone'>, env: MasterEnv): Out {
  const out: Out = [];
  const id = ev.body.agentId;
  if (!permitted(s, env, ev.from, 'mark_agents_gone', undefined, out)) {
    answerOperator(out, ev.from, ev.type, 'forbidden', 'Not authorized to mark agents gone');
    return out;
  }
  if (s.registry.gone.has(id)) {
    answerOperator(out, ev.from, ev.type, 'ok');
    return out;
  }
  const a = s.agents.get(id);
  const recovered = s.recovered.get(id);
  const known = a !== undefined || recovered !== undefined || s.registry.unreachable.has(id);
  if (!known) {
    answerOperator(out, ev.from, ev.type, 'unknown', `Agent ${id} not found`);
    return out;
  }
  if (a?.removing !== undefined || recovered?.removing || s.admitting.ids.has(id)) {
    answerOperator(out, ev.from, ev.type, 'conflict', `Agent ${id} is being ${a?.removing === 'gone' ? 'marked gone' : 'removed or admitted'}; try again`);
    return out;
  }
  if (a) {
    // No more offers on it, and its resources leave the allocator now.
    a.removing = 'gone';
    rescindOffersOnAgent(s, a.id, env, out);
    s.allocator.removeAgent(a.id);
  }
  if (recovered) recovered.removing = true;
  out.push(log('info', `Marking agent ${id}${a ? ` (${a.info.hostname})` : ''} gone, as operator ${ev.from} asked`));
  requestWrite(s, { op: 'markGone', agentId: id, time: env.now }, { kind: 'markGone', agentId: id, time: env.now, answer: ev.from }, out);
  return out;
}

/**
 * The agent is gone in the registry: its tasks (running there, or kept aside while it was
 * unreachable) end TASK_GONE_BY_OPERATOR, it is told to shut down, frameworks get `AgentLost`,
 * and the operator is answered. @see `Master::_markGone`, `__removeSlave`
 */
export function agentMarkedGone(s: MasterState, op: Extract<PendingOp, { kind: 'markGone' }>, env: MasterEnv): Out {
  const out: Out = [];
  // A framework that is not partition aware hears TASK_LOST, as in Mesos.
  const stateFor = (fw: FrameworkEntry): TaskState => (isPartitionAware(fw) ? 'TASK_GONE_BY_OPERATOR' : 'TASK_LOST');
  const why = `Agent ${op.agentId} has been marked gone by an operator`;
  bump(s, 'master/slave_removals');
  bump(s, 'master/slave_removals/reason_unregistered');
  s.recovered.delete(op.agentId);
  const a = s.agents.get(op.agentId);
  if (a) {
    check(a.removing === 'gone', `agent ${a.id} marked gone without being taken out`);
    for (const t of [...a.tasks.values()]) {
      const fw = s.frameworks.get(t.task.frameworkId);
      check(fw, `task ${t.task.taskId} on agent ${a.id} has no framework`);
      dropTask(s, fw, t.task.taskId);
      t.freed = true; // the allocator let go of everything on the agent
      if (isTerminalState(t.task.state)) {
        keepCompleted(fw, t.task, env);
        continue;
      }
      const state = stateFor(fw);
      const task = { ...t.task, state };
      keepCompleted(fw, task, env);
      bump(s, `master/tasks_${state.slice(5).toLowerCase()}`);
      announce(out, { kind: 'TASK_UPDATED', task, state });
      masterUpdate(s, env, fw, task.taskId, state, 'REASON_AGENT_REMOVED_BY_OPERATOR', why, out, { agentId: a.id });
      s.revocations.delete(`${fw.id}/${task.taskId}`);
    }
    sendTo(env, a.pid, { type: 'ShutdownAgent', body: { message: GONE_MESSAGE } }, out);
    s.agents.delete(a.id);
    s.agentsByPid.delete(a.pid);
    announce(out, { kind: 'AGENT_REMOVED', agentId: a.id, reason: 'gone' });
    out.push(log('info', `Agent ${a.id} (${a.info.hostname}) removed: marked gone`, { agent: a.pid }));
  } else {
    out.push(log('info', `Agent ${op.agentId} removed: marked gone`));
  }
  // Tasks kept aside while it was unreachable end too.
  for (const fw of s.frameworks.values()) {
    for (const [taskId, u] of fw.unreachableTasks) {
      if (u.task.agentId !== op.agentId) continue;
      fw.unreachableTasks.delete(taskId);
      const state = stateFor(fw);
      const task = { ...u.task, state };
      keepCompleted(fw, task, env);
      bump(s, `master/tasks_${state.slice(5).toLowerCase()}`);
      announce(out, { kind: 'TASK_UPDATED', task, state });
      masterUpdate(s, env, fw, taskId, state, 'REASON_AGENT_REMOVED_BY_OPERATOR', why, out, { agentId: op.agentId });
    }
  }
  for (const fw of s.frameworks.values()) {
    if (fw.connected) sendTo(env, fw.pid, { type: 'AgentLost', body: { agentId: op.agentId } }, out);
  }
  if (op.answer) answerOperator(out, op.answer, 'MarkAgentGone', 'ok');
  return out;
}
