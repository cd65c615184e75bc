/**
 * Allocation and offers: the batched allocation queue, turning the allocator's decisions into
 * `ResourceOffers`, declines, revive and suppress, rescinds, the offer timeout and revocation.
 *
 * Allocation is batched. Events only mark what they touched (`markDirty` in `state.ts`): an agent
 * whose resources changed, or every agent when a framework arrives or revives. One pass then serves
 * every mark, so N re-registrations in a burst cost one pass over N agents, not N passes over all
 * of them. A pass over more than `allocationChunkAgents` agents is taken in steps, one step per
 * turn of the event loop (the machine schedules them), so that pings, lease renewals and messages
 * are never held up for long.
 *
 * @see Mesos `HierarchicalAllocatorProcess::triggerAllocation` / `_allocate`, `Master::offer`,
 * `Master::decline`, `Master::revive`, `Master::suppress`, `Master::rescindOffer`.
 */
import type { Filters, Offer } from '../../protocols/records.ts';
import { offerIdFor } from '../../protocols/ids.ts';
import { isTerminalState } from '../../protocols/task-states.ts';
import type { Inbound } from '../common.ts';
import { chooseRevocations, type RevocationCandidate } from './allocator/revocation.ts';
import { bump, sendTo, type FrameworkEntry, type MasterEnv, type MasterState, type OfferEntry, type Out } from './state.ts';

/**
 * One allocation step: starts a pass over the marked agents (or all of them) when none is in
 * progress, and visits the next `allocationChunkAgents` of it. The step that ends a batch pass ends
 * run-out decline filters too.
 */
export function allocationStep(s: MasterState, env: MasterEnv): Out {
  const a = s.allocation;
  a.requested = false;
  if (!a.pass) {
    const all = a.all || a.batch;
    const agents = all ? [...s.agents.keys()] : [...a.dirty];
    a.pass = { agents, next: 0, batch: a.batch };
    a.all = false;
    a.batch = false;
    a.dirty.clear();
  }
  const p = a.pass;
  const end = Math.min(p.agents.length, p.next + Math.max(1, env.flags.allocationChunkAgents));
  const step = p.agents.slice(p.next, end);
  p.next = end;
  bump(s, 'master/allocation_agents_visited', step.length);
  const last = end >= p.agents.length;
  if (last) a.pass = undefined;
  return allocateOffers(s, env, step, last && p.batch);
}

/** Marks the periodic batch as due (a full pass that also ends run-out filters). */
export function startBatch(s: MasterState): void {
  s.allocation.batch = true;
}

/**
 * Runs the allocator over `agentIds` and turns its decisions into offers, one `ResourceOffers`
 * per framework (the runtime splits it when it exceeds the payload limit).
 */
export function allocateOffers(s: MasterState, env: MasterEnv, agentIds: readonly string[], batch = false): Out {
  const out: Out = [];
  if (agentIds.length === 0 && !batch) return out;
  const decisions = s.allocator.allocate(env.now, { agentIds, batch });
  const byFramework = new Map<string, Offer[]>();
  for (const d of decisions) {
    const agent = s.agents.get(d.agentId);
    const fw = s.frameworks.get(d.frameworkId);
    if (!agent || !fw || agent.removing) {
      // The allocator knows only agents and frameworks the master keeps in step with it.
      s.allocator.recoverResources(d.frameworkId, d.agentId, d.role, d.resources, 0);
      continue;
    }
    const executorIds: string[] = [];
    for (const e of agent.executors.values()) if (e.frameworkId === fw.id) executorIds.push(e.executorId);
    const offer: Offer = {
      id: offerIdFor(env.runId, s.nextOfferSeq++),
      frameworkId: fw.id,
      agentId: agent.id,
      hostname: agent.info.hostname,
      resources: d.resources,
      attributes: agent.info.attributes,
      executorIds,
      role: d.role,
    };
    s.offers.set(offer.id, { offer, role: d.role, createdAt: env.now });
    fw.offers.add(offer.id);
    bump(s, 'master/offers_sent');
    const list = byFramework.get(fw.id);
    if (list) list.push(offer);
    else byFramework.set(fw.id, [offer]);
  }
  for (const [fwId, offers] of byFramework) {
    sendTo(env, s.frameworks.get(fwId)?.pid, { type: 'ResourceOffers', body: { offers } }, out);
  }
  return out;
}

/** Forgets an offer; with `recover` its resources go back to the allocator (no filter). */
export function removeOffer(s: MasterState, offerId: string, recover: boolean): OfferEntry | undefined {
  const o = s.offers.get(offerId);
  if (!o) return undefined;
  s.offers.delete(offerId);
  if (recover) s.allocator.recoverResources(o.offer.frameworkId, o.offer.agentId, o.role, o.offer.resources, 0);
  s.frameworks.get(o.offer.frameworkId)?.offers.delete(offerId);
  return o;
}

/** Withdraws an offer: its resources go back and its framework is told. */
export function rescindOffer(s: MasterState, offerId: string, env: MasterEnv, out: Out): void {
  const o = removeOffer(s, offerId, true);
  if (!o) return;
  bump(s, 'master/offers_rescinded');
  const fw = s.frameworks.get(o.offer.frameworkId);
  if (fw?.connected) sendTo(env, fw.pid, { type: 'OffersRescinded', body: { offerIds: [offerId] } }, out);
}

/** Rescinds every offer made on `agentId` (one message per framework). */
export function rescindOffersOnAgent(s: MasterState, agentId: string, env: MasterEnv, out: Out): void {
  const byFramework = new Map<string, string[]>();
  for (const [offerId, o] of s.offers) {
    if (o.offer.agentId !== agentId) continue;
    const list = byFramework.get(o.offer.frameworkId);
    if (list) list.push(offerId);
    else byFramework.set(o.offer.frameworkId, [offerId]);
  }
  for (const [fwId, ids] of byFramework) rescindOffersOf(s, s.frameworks.get(fwId), ids, env, out);
}

/** Rescinds `offerIds` of one framework with one message. */
export function rescindOffersOf(s: MasterState, fw: FrameworkEntry | undefined, offerIds: readonly string[], env: MasterEnv, out: Out): void {
  const gone: string[] = [];
  for (const id of offerIds) if (removeOffer(s, id, true)) gone.push(id);
  if (gone.length === 0) return;
  bump(s, 'master/offers_rescinded', gone.length);
  if (fw?.connected) sendTo(env, fw.pid, { type: 'OffersRescinded', body: { offerIds: gone } }, out);
}

/** The decline filter a framework asked for, or the default. */
export function refuseSeconds(filters: Filters | undefined, env: MasterEnv): number {
  const r = filters?.refuseSeconds;
  if (r === undefined || !Number.isFinite(r) || r < 0) return env.flags.defaultRefuseSeconds;
  return Math.min(r, 365 * 24 * 3600);
}

/** `DeclineOffers`: give the offers back, refusing them for `filters.refuseSeconds`. */
export function declineOffers(s: MasterState, fw: FrameworkEntry, ev: { body: { offerIds: readonly string[]; filters?: Filters } }, env: MasterEnv): Out {
  for (const offerId of ev.body.offerIds) {
    const o = s.offers.get(offerId);
    if (!o || o.offer.frameworkId !== fw.id) continue;
    removeOffer(s, offerId, false);
    s.allocator.recoverResources(fw.id, o.offer.agentId, o.role, o.offer.resources, env.now, refuseSeconds(ev.body.filters, env));
    bump(s, 'master/offers_declined');
  }
  return [];
}

/** `ReviveOffers`: drop the framework's filters and resume offers. */
export function reviveOffers(s: MasterState, fw: FrameworkEntry, roles?: readonly string[]): Out {
  s.allocator.reviveOffers(fw.id, roles);
  fw.suppressed = false;
  bump(s, 'master/messages_revive_offers');
  s.allocation.all = true;
  return [];
}

/** `SuppressOffers`: no offers until revived. */
export function suppressOffers(s: MasterState, fw: FrameworkEntry, roles?: readonly string[]): Out {
  s.allocator.suppressOffers(fw.id, roles);
  fw.suppressed = true;
  bump(s, 'master/messages_suppress_offers');
  return [];
}

/** Rescinds offers older than the offer timeout. @see `--offer_timeout` */
export function expireOffers(s: MasterState, env: MasterEnv): Out {
  const out: Out = [];
  if (env.flags.offerTimeoutMs <= 0) return out;
  for (const [offerId, o] of [...s.offers]) {
    if (env.now - o.createdAt >= env.flags.offerTimeoutMs) rescindOffer(s, offerId, env, out);
  }
  return out;
}

/**
 * Revocation, run with each batch. Due revocations are killed; while any is pending nothing new is
 * planned (so no more is taken than needed). Otherwise, if unmet guarantees need more than is free,
 * the tasks to take back are chosen — from frameworks whose role is not itself below its
 * guarantee, most over-share first, youngest first, just enough — and their frameworks are told,
 * with the grace period, before anything is killed.
 */
export function planRevocations(s: MasterState, env: MasterEnv): Out {
  const out: Out = [];
  for (const [key, r] of s.revocations) {
    const t = s.frameworks.get(r.frameworkId)?.tasks.get(r.taskId);
    if (!t || isTerminalState(t.task.state) || t.freed) {
      s.revocations.delete(key);
      continue;
    }
    if (!r.killed && env.now >= r.deadline) {
      r.killed = true;
      bump(s, 'master/tasks_revoked');
      sendTo(env, s.agents.get(r.agentId)?.pid, { type: 'KillTask', body: { frameworkId: r.frameworkId, taskId: r.taskId, agentId: r.agentId } }, out);
    }
  }
  if (s.revocations.size > 0) return out;
  let deficit = s.allocator.headroomDeficit();
  if (deficit.size === 0) return out;
  // Outstanding offers count as allocated: take those back first, it costs nobody any work.
  const offerCandidates: RevocationCandidate[] = [];
  for (const { offer, role, createdAt } of s.offers.values()) {
    if (s.allocator.isBelowGuarantee(role)) continue;
    offerCandidates.push({ frameworkId: offer.frameworkId, taskId: offer.id, agentId: offer.agentId, resources: offer.resources, launchedAt: createdAt, share: s.allocator.frameworkShare(offer.frameworkId, role) });
  }
  const rescind = chooseRevocations(deficit, offerCandidates, { partial: true });
  for (const o of rescind) rescindOffer(s, o.taskId, env, out);
  if (rescind.length > 0) {
    deficit = s.allocator.headroomDeficit();
    if (deficit.size === 0) return out;
  }
  const candidates: RevocationCandidate[] = [];
  for (const fw of s.frameworks.values()) {
    if (s.allocator.isBelowGuarantee(fw.role)) continue;
    const share = s.allocator.frameworkShare(fw.id, fw.role);
    for (const t of fw.tasks.values()) {
      if (t.freed || isTerminalState(t.task.state)) continue;
      candidates.push({ frameworkId: fw.id, taskId: t.task.taskId, agentId: t.task.agentId, resources: t.task.resources, launchedAt: t.launchedAt, share });
    }
  }
  const chosen = chooseRevocations(deficit, candidates);
  const byFramework = new Map<string, Array<{ taskId: string; agentId: string }>>();
  for (const c of chosen) {
    s.revocations.set(`${c.frameworkId}/${c.taskId}`, { frameworkId: c.frameworkId, taskId: c.taskId, agentId: c.agentId, deadline: env.now + env.flags.revocationGracePeriodMs, killed: false });
    const list = byFramework.get(c.frameworkId) ?? [];
    list.push({ taskId: c.taskId, agentId: c.agentId });
    byFramework.set(c.frameworkId, list);
  }
  for (const [fwId, tasks] of byFramework) {
    sendTo(env, s.frameworks.get(fwId)?.pid, { type: 'RevocationScheduled', body: { tasks, gracePeriodSeconds: env.flags.revocationGracePeriodMs / 1000 } }, out);
  }
  return out;
}

/** `RequestResources`: what the framework wants offered from now on (the paper's requests). */
export function requestResources(s: MasterState, fw: FrameworkEntry, ev: Inbound<'RequestResources'>): Out {
  const { minOffer, preferredAgents, excludedAgents } = ev.body;
  const empty = !minOffer && !preferredAgents && !excludedAgents;
  s.allocator.requestResources(fw.id, empty ? undefined : {
    ...(minOffer ? { minOffer } : {}),
    ...(preferredAgents ? { preferredAgents } : {}),
    ...(excludedAgents ? { excludedAgents } : {}),
  });
  s.allocation.all = true;
  return [];
}
