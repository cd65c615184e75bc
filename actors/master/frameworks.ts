/**
 * Frameworks: subscription and failover of schedulers, liveness (heartbeats both ways), the
 * failover timeout, teardown and removal.
 *
 * Liveness. NATS has no connection per peer to watch, so a scheduler proves it is alive by
 * talking: every message from its PID counts, and the driver sends a `Heartbeat` every interval. A framework whose scheduler stays silent for
 * `maxFrameworkHeartbeatMisses` intervals is disconnected: it is deactivated and its offers are
 * rescinded at once (so other frameworks get the resources), and unless its scheduler subscribes
 * again within the framework's `failoverTimeoutSeconds` it is removed — its tasks killed, its
 * executors shut down. The master sends each connected scheduler a `Heartbeat` as well, so that a
 * driver can tell a silent master from an idle one.
 *
 * A framework known only from its agents after a master failover (`recovered`) gets the same
 * deadline, counted from the election plus one heartbeat timeout for its scheduler to find the new
 * leader. (Mesos sets no timer for these, so a scheduler that never returns leaves its tasks
 * running for ever: MESOS-4659.)
 *
 * @see Mesos `Master::subscribe`, `failoverFramework`, `exited`, `deactivate`,
 * `frameworkFailoverTimeout`, `removeFramework`, `recoverFramework`.
 */
import type { FrameworkInfo } from '../../protocols/records.ts';
import { frameworkIdFor } from '../../protocols/ids.ts';
import { ANONYMOUS_PRINCIPAL, parsePid, toToken } from '../../protocols/pid.ts';
import type { Inbound } from '../common.ts';
import { log, sendAll } from '../common.ts';
import { rescindOffersOf, removeOffer } from './offers.ts';
import { forgetExecutorsOf } from './tasks.ts';
import {
  announce,
  bump,
  markDirty,
  permitted,
  masterInfo,
  roleOf,
  sendTo,
  unindexTask,
  countTaskState,
  type FrameworkEntry,
  type MasterEnv,
  type MasterState,
  type Out,
} from './state.ts';

/** The time without a word after which a scheduler counts as gone. */
export function heartbeatTimeoutMs(env: MasterEnv): number {
  return env.flags.frameworkHeartbeatIntervalMs * env.flags.maxFrameworkHeartbeatMisses;
}

function failoverTimeoutMs(info: FrameworkInfo): number {
  const t = info.failoverTimeoutSeconds ?? 0;
  return Number.isFinite(t) && t > 0 ? Math.min(t, 365 * 24 * 3600) * 1000 : 0;
}

/** A framework entry; registered with the allocator (deactivated when `recovered`). */
export function newFramework(s: MasterState, id: string, schedPid: string | undefined, info: FrameworkInfo, env: MasterEnv, recovered = false): FrameworkEntry {
  s.allocator.addFramework(id, { roles: [roleOf(info)], capabilities: info.capabilities ?? [] });
  if (recovered) s.allocator.deactivateFramework(id);
  const fw: FrameworkEntry = {
    id,
    pid: schedPid,
    info: { ...info, id },
    role: roleOf(info),
    active: !recovered,
    connected: !recovered,
    recovered,
    suppressed: false,
    tasks: new Map(),
    unreachableTasks: new Map(),
    offers: new Set(),
    completedTasks: [],
    registeredAt: env.now,
    lastSeenAt: env.now,
    nextHeartbeatAt: env.now + env.flags.frameworkHeartbeatIntervalMs,
  };
  if (recovered) {
    // Counted from the election, plus one heartbeat timeout for the scheduler to find us.
    fw.failoverDeadline = Math.max(env.now, s.electedAt + heartbeatTimeoutMs(env)) + failoverTimeoutMs(info);
  }
  return fw;
}

/** A framework an agent reports that this master does not know: taken in as `recovered`. */
export function recoverFramework(s: MasterState, info: FrameworkInfo, env: MasterEnv, out: Out): FrameworkEntry | undefined {
  if (!info.id || s.frameworks.has(info.id) || isCompleted(s, info.id)) return s.frameworks.get(info.id ?? '');
  const fw = newFramework(s, info.id, undefined, info, env, true);
  s.frameworks.set(fw.id, fw);
  announce(out, { kind: 'FRAMEWORK_ADDED', framework: fw });
  return fw;
}

/** True when `frameworkId` was removed by this master (its tasks must not run). */
export function isCompleted(s: MasterState, frameworkId: string): boolean {
  return s.completedFrameworks.some((f) => f.id === frameworkId);
}

/**
 * `SubscribeFramework`: a new framework gets an id; a known id fails the old scheduler over to the
 * sender; a removed framework's id is refused. @see `Master::subscribe`
 */
export function subscribeFramework(s: MasterState, ev: Inbound<'SubscribeFramework'>, env: MasterEnv): Out {
  const out: Out = [];
  const info = ev.body.framework;
  const body = (frameworkId: string) => ({ frameworkId, master: masterInfo(env), heartbeatIntervalSeconds: env.flags.frameworkHeartbeatIntervalMs / 1000 });
  const refused = principalRefusal(s, info, ev.from);
  if (refused) {
    bump(s, 'master/frameworks_refused');
    out.push(log('warn', `Refusing framework subscription: ${refused}`, { scheduler: ev.from, frameworkId: info.id, principal: info.principal }));
    sendTo(env, ev.from, { type: 'FrameworkError', body: { message: refused } }, out);
    return out;
  }
  for (const role of info.roles ?? ['*']) {
    if (permitted(s, env, ev.from, 'register_frameworks', role, out)) continue;
    sendTo(env, ev.from, { type: 'FrameworkError', body: { message: `Not authorized to register with role '${role}'` } }, out);
    return out;
  }
  if (info.id) {
    if (isCompleted(s, info.id)) {
      sendTo(env, ev.from, { type: 'FrameworkError', body: { message: 'Framework has been removed' } }, out);
      return out;
    }
    let fw = s.frameworks.get(info.id);
    if (fw) {
      const failedOver = fw.pid !== undefined && fw.pid !== ev.from;
      if (fw.pid && fw.pid !== ev.from) {
        // SchedulerFailover: the old scheduler is told, its offers are rescinded.
        if (fw.connected) sendTo(env, fw.pid, { type: 'FrameworkError', body: { message: 'Framework failed over' } }, out);
        rescindOffersOf(s, fw, [...fw.offers], env, out);
      }
      fw.pid = ev.from;
      fw.info = { ...info, id: fw.id };
      fw.role = roleOf(info);
      s.allocator.updateFramework(fw.id, { roles: [fw.role], capabilities: info.capabilities ?? [] });
      bump(s, 'master/frameworks_reregistered');
      out.push(log('info', failedOver ? `Framework ${fw.id} (${info.name}) failed over to a new scheduler` : `Framework ${fw.id} (${info.name}) re-subscribed`, { scheduler: ev.from }));
    } else {
      // A framework a previous leader knew: take it back with its id.
      fw = newFramework(s, info.id, ev.from, info, env);
      s.frameworks.set(info.id, fw);
      announce(out, { kind: 'FRAMEWORK_ADDED', framework: fw });
      bump(s, 'master/frameworks_reregistered');
      out.push(log('info', `Framework ${fw.id} (${info.name}) re-subscribed after a master failover`, { scheduler: ev.from }));
    }
    connect(s, fw, env);
    announce(out, { kind: 'FRAMEWORK_UPDATED', framework: fw });
    sendTo(env, ev.from, { type: 'FrameworkReregistered', body: body(fw.id) }, out);
    updateAgentsOf(s, fw, env, out);
    return out;
  }
  for (const fw of s.frameworks.values()) {
    if (fw.pid === ev.from && fw.connected) {
      // The driver retried before our answer reached it.
      sendTo(env, ev.from, { type: 'FrameworkRegistered', body: body(fw.id) }, out);
      return out;
    }
  }
  const id = frameworkIdFor(env.runId, s.nextFrameworkSeq++);
  const fw = newFramework(s, id, ev.from, info, env);
  s.frameworks.set(id, fw);
  announce(out, { kind: 'FRAMEWORK_ADDED', framework: fw });
  markDirty(s);
  bump(s, 'master/frameworks_registered');
  out.push(log('info', `Framework ${id} (${info.name}) subscribed`, { scheduler: ev.from, roles: info.roles ?? ['*'] }));
  sendTo(env, ev.from, { type: 'FrameworkRegistered', body: body(id) }, out);
  return out;
}

/** The principal token a `FrameworkInfo` claims (anonymous when it names none). */
export function principalToken(info: Pick<FrameworkInfo, 'principal'>): string {
  return info.principal === undefined ? ANONYMOUS_PRINCIPAL : toToken(info.principal);
}

/**
 * Why a subscription is refused for its principal, if it is: the framework must claim the
 * principal its scheduler acts as on the bus (the bus lets a connection act only as its own), and
 * a known framework cannot change principal. @see `Master::subscribe` ("Framework principal … does
 * not match authenticated principal"), `validateFrameworkUpdate` ("Changing framework's principal
 * is not allowed").
 */
function principalRefusal(s: MasterState, info: FrameworkInfo, from: string): string | undefined {
  const sender = parsePid(from)?.principal;
  const claimed = principalToken(info);
  if (claimed !== sender) {
    return `Framework principal '${info.principal ?? ''}' does not match the principal its scheduler connected as ('${sender ?? ''}')`;
  }
  const known = info.id ? s.frameworks.get(info.id) : undefined;
  if (known && principalToken(known.info) !== claimed) return "Changing framework's principal is not allowed";
  return undefined;
}

/**
 * Tells every agent running something of `fw` that its scheduler is back, so that they resend its
 * unacknowledged updates now. @see `Master::sendFrameworkUpdates`
 */
function updateAgentsOf(s: MasterState, fw: FrameworkEntry, env: MasterEnv, out: Out): void {
  const agents = new Set<string>();
  for (const t of fw.tasks.values()) agents.add(t.task.agentId);
  for (const agentId of agents) {
    const a = s.agents.get(agentId);
    if (a && !a.removing) sendTo(env, a.pid, { type: 'UpdateFramework', body: { frameworkId: fw.id, framework: fw.info } }, out);
  }
}

/** Marks a framework connected and active again (its scheduler subscribed). */
function connect(s: MasterState, fw: FrameworkEntry, env: MasterEnv): void {
  fw.connected = true;
  fw.recovered = false;
  fw.failoverDeadline = undefined;
  fw.lastSeenAt = env.now;
  fw.nextHeartbeatAt = env.now + env.flags.frameworkHeartbeatIntervalMs;
  if (!fw.active) {
    fw.active = true;
    s.allocator.activateFramework(fw.id);
  }
  markDirty(s);
}

/** The framework the sender may act for, or `undefined` (the caller drops the message). */
export function frameworkOf(s: MasterState, frameworkId: string, from: string): FrameworkEntry | undefined {
  const fw = s.frameworks.get(frameworkId);
  return fw && fw.pid === from ? fw : undefined;
}

/**
 * Its scheduler is gone (fell silent, or said it fails over): stop offering, rescind what it holds
 * so others get it now, and start the failover timeout. Tasks keep running. @see `Master::_exited`
 */
export function disconnectFramework(s: MasterState, fw: FrameworkEntry, env: MasterEnv, why: string): Out {
  const out: Out = [];
  if (!fw.connected) return out;
  rescindOffersOf(s, fw, [...fw.offers], env, out);
  fw.connected = false;
  if (fw.active) {
    fw.active = false;
    s.allocator.deactivateFramework(fw.id);
  }
  fw.failoverDeadline = env.now + failoverTimeoutMs(fw.info);
  markDirty(s);
  bump(s, 'master/framework_disconnections');
  announce(out, { kind: 'FRAMEWORK_UPDATED', framework: fw });
  out.push(log('warn', `Framework ${fw.id} (${fw.info.name}) disconnected: ${why}; removing it unless it re-subscribes within ${failoverTimeoutMs(fw.info) / 1000} s`, { scheduler: fw.pid }));
  return out;
}

/** `DeactivateFramework`: the scheduler stops and may fail over; it counts as disconnected. */
export function deactivateFramework(s: MasterState, fw: FrameworkEntry, env: MasterEnv): Out {
  return disconnectFramework(s, fw, env, 'its scheduler stopped for a failover');
}

/** `TeardownFramework`: the framework ends; its tasks are killed and its resources freed. */
export function teardownFramework(s: MasterState, fw: FrameworkEntry, env: MasterEnv): Out {
  const out = removeFramework(s, fw, env);
  out.unshift(log('info', `Framework ${fw.id} (${fw.info.name}) torn down`));
  return out;
}

/**
 * Removes a framework: agents running any of it are told to shut it down, its tasks end as
 * TASK_KILLED (`REASON_FRAMEWORK_REMOVED`; its scheduler is not told, as in Mesos), its
 * resources go back and it joins the completed frameworks. @see `Master::removeFramework`
 */
export function removeFramework(s: MasterState, fw: FrameworkEntry, env: MasterEnv, error?: string): Out {
  const out: Out = [];
  for (const offerId of [...fw.offers]) removeOffer(s, offerId, true);
  const agentIds = new Set<string>();
  for (const t of fw.tasks.values()) agentIds.add(t.task.agentId);
  for (const id of forgetExecutorsOf(s, fw)) agentIds.add(id);
  const pids: string[] = [];
  for (const agentId of agentIds) {
    const agent = s.agents.get(agentId);
    if (agent && !agent.removing) pids.push(agent.pid);
    markDirty(s, agentId);
  }
  if (pids.length > 0) out.push(sendAll(pids, { type: 'ShutdownFramework', body: { frameworkId: fw.id } }, env.epoch));
  // Its tasks end killed. The allocator lets go of everything the framework holds at once
  // (below), so no task's resources are given back one by one: a framework of 100,000 tasks
  // would hold the loop for most of a second.
  const keep = env.flags.maxCompletedTasksPerFramework;
  let left = fw.tasks.size;
  for (const t of fw.tasks.values()) {
    unindexTask(s, t);
    countTaskState(s, t.task.state, -1);
    t.freed = true;
    t.task.state = 'TASK_KILLED';
    if (left-- <= keep) fw.completedTasks.push(t.task);
  }
  fw.tasks.clear();
  if (fw.completedTasks.length > keep) fw.completedTasks.splice(0, fw.completedTasks.length - keep);
  for (const [taskId, u] of fw.unreachableTasks) {
    fw.completedTasks.push({ ...u.task, state: 'TASK_KILLED' });
    fw.unreachableTasks.delete(taskId);
  }
  if (error && fw.pid) sendTo(env, fw.pid, { type: 'FrameworkError', body: { message: error } }, out);
  s.frameworks.delete(fw.id);
  s.allocator.removeFramework(fw.id);
  fw.active = false;
  fw.connected = false;
  s.completedFrameworks.push(fw);
  if (s.completedFrameworks.length > env.flags.maxCompletedFrameworks) s.completedFrameworks.shift();
  bump(s, 'master/frameworks_removed');
  announce(out, { kind: 'FRAMEWORK_REMOVED', framework: fw });
  return out;
}

/**
 * The liveness sweep over frameworks: heartbeats to connected schedulers, silent ones
 * disconnected, and frameworks past their failover deadline removed.
 */
export function checkFrameworks(s: MasterState, env: MasterEnv): Out {
  const out: Out = [];
  const interval = env.flags.frameworkHeartbeatIntervalMs;
  const timeout = heartbeatTimeoutMs(env);
  for (const fw of [...s.frameworks.values()]) {
    if (fw.connected) {
      if (env.now - fw.lastSeenAt >= timeout) {
        out.push(...disconnectFramework(s, fw, env, `no word from its scheduler for ${timeout / 1000} s`));
      } else if (env.now >= fw.nextHeartbeatAt) {
        fw.nextHeartbeatAt = env.now + interval;
        sendTo(env, fw.pid, { type: 'Heartbeat', body: { frameworkId: fw.id, intervalSeconds: interval / 1000 } }, out);
      }
    }
    if (!fw.connected && fw.failoverDeadline !== undefined && env.now >= fw.failoverDeadline) {
      out.push(log('warn', `Framework ${fw.id} (${fw.info.name}) removed: its scheduler did not come back within its failover timeout`));
      out.push(...removeFramework(s, fw, env, 'Framework removed: its failover timeout elapsed'));
    }
  }
  return out;
}

/** Notes that the framework's scheduler spoke (any message from its PID counts as a heartbeat). */
export function touchFramework(fw: FrameworkEntry, env: MasterEnv): void {
  fw.lastSeenAt = env.now;
}
