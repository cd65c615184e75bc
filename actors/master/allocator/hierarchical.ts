/**
 * The hierarchical DRF allocator: decides which framework is offered which agent's free
 * resources. Pure: state and `now` in, decisions out; the master turns decisions into offers.
 *
 * One pass visits the (whitelisted) agents in a seeded shuffled order, twice:
 *
 * 1. **Quota guarantees.** Roles whose guarantee is not yet met get, in role-sorter order, the
 *    resources that help meet it (plus their own reservations and any non-scalar resources), and
 *    some more if their limit and the headroom allow.
 * 2. **Fair share.** Every role, in role-sorter order, and within it every framework, in
 *    framework-sorter order, gets everything left on the agent that it may use — except what
 *    must be held back as headroom for unmet guarantees of other roles, and never beyond its
 *    role's quota limit.
 *
 * The first eligible framework normally takes the whole agent ("coarse-grained"). A framework is
 * skipped on an agent when it is suppressed for the role, the agent is excluded by its requests,
 * a decline filter covers what is left, or what is left is below the minimum allocatable size.
 *
 * @see Mesos `HierarchicalAllocatorProcess::__generateOffers` (`src/master/allocator/mesos/hierarchical.cpp`).
 */
import type { Resources } from '../../../protocols/resources.ts';
import {
  Bundle,
  capQuotaScalars,
  covers,
  EMPTY,
  minus,
  offerableTo,
  plus,
  sumAll,
  reuseParts,
  same,
  select,
  Slots,
  type Slot,
} from './bundle.ts';
import {
  addInto,
  containsQuantities,
  isZero,
  subtractClamped,
  type Quantities,
} from './quantities.ts';
import { Sorter, type SorterPolicy } from './sorter.ts';

/** Allocator settings. */
export interface AllocatorOptions {
  /** @see `--allocation_interval` */
  allocationIntervalMs: number;
  /** @see `--role_sorter` */
  roleSorter: SorterPolicy;
  /** @see `--framework_sorter` */
  frameworkSorter: SorterPolicy;
  /** Alternatives: an offer must reach at least one. @see `--min_allocatable_resources` (`cpus:0.01|mem:32`) */
  minAllocatable: ReadonlyArray<Readonly<Record<string, number>>>;
  /** Seed for the agent shuffle and the random sorter. */
  seed: number;
}

/** Mesos' defaults. */
export const DEFAULT_ALLOCATOR_OPTIONS: AllocatorOptions = {
  allocationIntervalMs: 1000,
  roleSorter: 'drf',
  frameworkSorter: 'drf',
  minAllocatable: [{ cpus: 0.01 }, { mem: 32 }],
  seed: 1,
};

/** What the allocator knows of a framework. */
export interface FrameworkSpec {
  roles: readonly string[];
  capabilities?: readonly string[];
}

/**
 * What a framework asked for (the paper's "requests"): offers smaller than `minOffer` are not
 * made to it, `excludedAgents` are never offered, and `preferredAgents` (ids or hostnames) are
 * offered to it first while other agents go to other frameworks first.
 */
export interface ResourceRequest {
  minOffer?: Resources;
  preferredAgents?: readonly string[];
  excludedAgents?: readonly string[];
}

/** A role's quota: `guarantees` are served first and held back for; `limits` are never exceeded. */
export interface Quota {
  guarantees?: Quantities;
  limits?: Quantities;
}

/** One decision: offer `resources` of `agentId` to `frameworkId` for `role`. */
export interface Allocation {
  frameworkId: string;
  role: string;
  agentId: string;
  resources: Resources;
}

/** Resources already in use on an agent (at `addAgent`) or by a framework (at `addFramework`). */
export interface UsedResources {
  frameworkId: string;
  role: string;
  agentId: string;
  resources: Resources;
}

interface AgentState {
  id: string;
  hostname: string;
  total: Bundle;
  available: Bundle;
  /** Resources allocated (offered or used), by framework id, then role. */
  allocations: Map<string, Holding>;
  /**
   * Set when a fair-share pass found every framework filtered on this agent: while `available`,
   * the allocator's eligibility version and the filters (until `until`) stay as they were, later
   * passes skip the agent without asking each framework again.
   */
  skip?: { available: Bundle; version: number; until: number };
  /**
   * Decline filters on this agent, by framework (entries of all its roles). Kept by agent, not by
   * framework, so that a pass over the agent finds every framework's filters in one place.
   */
  filters: Map<FrameworkState, FilterEntry[]>;
  /** Recent `available` bundles, so an offer then a decline restores the same object (and its caches). */
  recent: Bundle[];
  /**
   * No filter on this agent ends before this (`Infinity`: none). It may be earlier than the
   * first real end after filters were dropped: clearing ended filters then finds none to remove.
   */
  nextFilterEnd: number;
  /** The offers made of this agent by pass number `pendingPass` (older passes' are stale). */
  pending?: Pending[];
  pendingPass?: number;
}

/**
 * What a framework holds on an agent in one role; its holdings in other roles there follow in
 * `next` (one small record per role rather than a map per framework: most hold one role).
 */
interface Holding {
  role: string;
  resources: Bundle;
  next?: Holding;
}

/** The framework's holdings on an agent, as (role, resources) pairs. */
function holdingsOf(first: Holding | undefined): Array<[string, Bundle]> {
  const out: Array<[string, Bundle]> = [];
  for (let h = first; h; h = h.next) out.push([h.role, h.resources]);
  return out;
}

/** What a role may be offered on an agent, and its parts quota applies to and the rest. */
interface Base {
  /** The role, and whether revocable resources are included. */
  key: string;
  resources: Bundle;
  allocatable: boolean;
  /** Made when first asked for (only quota and limits need them). */
  quotaPart?: Bundle;
  otherPart?: Bundle;
}

/** The part of a role's base that quota applies to: unreserved, non-revocable scalars. */
const quotaPartOf = (b: Base): Bundle => (b.quotaPart ??= select(b.resources, isQuotaScalar));
/** The rest of a role's base. */
const otherPartOf = (b: Base): Bundle => (b.otherPart ??= select(b.resources, isOtherThanQuotaScalar));

interface FilterEntry {
  role: string;
  resources: Bundle;
  createdAt: number;
  durationMs: number;
  /** The last offer checked against it and whether the filter covered it (same object ⇒ same answer). */
  checked?: Bundle;
  covers?: boolean;
}

interface FrameworkState {
  id: string;
  roles: Set<string>;
  capabilities: Set<string>;
  revocable: boolean;
  active: boolean;
  suppressed: Set<string>;
  /** The agents holding filters of this framework. */
  filteredOn: Set<AgentState>;
  request?: ResourceRequest;
  minOffer?: Bundle;
}

/** An offer being put together by a pass. */
interface Pending {
  frameworkId: string;
  role: string;
  agentId: string;
  resources: Bundle;
}


/** A small seeded PRNG (mulberry32) for the agent shuffle and the random sorter. */
export function seededRandom(seed: number): () => number {
  // The state is kept in a typed array: as a captured variable, each 32-bit value above 2^30
  // would be a new heap object, one per call (two calls per agent per allocation pass).
  const state = new Uint32Array([seed >>> 0]);
  return () => {
    state[0] = state[0]! + 0x6d2b79f5;
    let t = state[0]!;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const isQuotaScalar = (s: Slot): boolean => s.quotaScalar;
const isOtherThanQuotaScalar = (s: Slot): boolean => !s.quotaScalar;

/** How many recent `available` bundles an agent remembers. */
const RECENT = 4;

/**
 * The agent's recent bundle holding the same as `b`, if any; else `b` (remembered), with the
 * parts it shares with recent bundles taken from them.
 */
function canonical(agent: AgentState, b: Bundle): Bundle {
  if (b.empty) return EMPTY;
  for (const r of agent.recent) if (same(r, b)) return r;
  const c = reuseParts(b, agent.recent);
  if (agent.recent.length >= RECENT) agent.recent.shift();
  agent.recent.push(c);
  return c;
}

/** The hierarchical allocator's state and its operations. */
export class HierarchicalAllocator {
  readonly options: AllocatorOptions;
  private readonly agents = new Map<string, AgentState>();
  private readonly frameworks = new Map<string, FrameworkState>();
  private readonly roleSorter: Sorter;
  private readonly frameworkSorters = new Map<string, Sorter>();
  private readonly quotas = new Map<string, Quota>();
  /** Per role: unreserved non-revocable scalars offered or allocated, and reservations (all). */
  private readonly roleConsumed = new Map<string, Quantities>();
  private whitelist?: Set<string>;
  private readonly random: () => number;
  private readonly counters = new Map<string, number>();
  /** Scalar quantities of every agent's total: the pool shares are measured against. */
  private readonly clusterTotal: Quantities = new Map();
  /** Bumped by anything that can make a framework newly eligible for an agent. */
  private eligibilityVersion = 0;
  /**
   * `now` of the last batch pass. A filter ending at or before it is over (Mesos removes it once
   * that batch has run); it is cleared from its agent when the agent is next visited or filtered,
   * so that no pass has to sweep the agents whose filters ended.
   */
  private lastBatch = Number.NEGATIVE_INFINITY;
  /** Allocation passes so far (numbers each pass's offers kept on agents). */
  private passes = 0;
  /** Interned resource identities, and the wire form of bundles. */
  private readonly slots = new Slots();
  /** `minAllocatable` as (name, thousandths) lists. */
  private readonly minAllocatable: ReadonlyArray<ReadonlyArray<readonly [string, number]>>;

  constructor(options: Partial<AllocatorOptions> = {}) {
    this.options = { ...DEFAULT_ALLOCATOR_OPTIONS, ...options };
    this.random = seededRandom(this.options.seed);
    this.minAllocatable = this.options.minAllocatable.map((alt) =>
      Object.entries(alt).map(([name, amount]) => [name, Math.round(amount * 1000)] as const),
    );
    this.roleSorter = new Sorter(this.options.roleSorter, true, this.random);
  }

  // ── frameworks ───────────────────────────────────────────────────────────────────────────

  /** Adds a framework (active), with what it already uses (after a master failover). */
  addFramework(id: string, spec: FrameworkSpec, used: readonly UsedResources[] = []): void {
    this.eligibilityVersion += 1;
    if (this.frameworks.has(id)) return;
    const fw: FrameworkState = {
      id,
      roles: new Set(spec.roles.length > 0 ? spec.roles : ['*']),
      capabilities: new Set(spec.capabilities ?? []),
      revocable: (spec.capabilities ?? []).includes('REVOCABLE_RESOURCES'),
      active: true,
      suppressed: new Set(),
      filteredOn: new Set(),
    };
    this.frameworks.set(id, fw);
    for (const role of fw.roles) this.trackFrameworkInRole(fw, role);
    for (const u of used) this.track(u.frameworkId, u.role, this.agents.get(u.agentId), this.slots.fromWire(u.resources));
  }

  /** Removes a framework; what it held is given back without filters. */
  removeFramework(id: string): void {
    this.eligibilityVersion += 1;
    const fw = this.frameworks.get(id);
    if (!fw) return;
    // Everything it holds comes back. The sorters hear the sum once per role, not once per agent:
    // a framework on 50,000 agents held the loop for 0.4 s.
    const back = new Map<string, { all: Quantities; quota: Quantities }>();
    for (const agent of this.agents.values()) {
      const first = agent.allocations.get(id);
      if (first === undefined) continue;
      agent.allocations.delete(id);
      for (let h: Holding | undefined = first; h; h = h.next) {
        agent.available = canonical(agent, plus(agent.available, h.resources));
        let sum = back.get(h.role);
        if (sum === undefined) back.set(h.role, (sum = { all: new Map(), quota: new Map() }));
        addInto(sum.all, h.resources.quantities());
        addInto(sum.quota, h.resources.quotaQuantities());
      }
    }
    for (const [role, sum] of back) {
      if (this.roleSorter.contains(role)) this.roleSorter.unallocated(role, sum.all);
      this.frameworkSorters.get(role)?.unallocated(id, sum.all);
      addInto(this.consumedOf(role), sum.quota, -1);
    }
    for (const role of fw.roles) this.untrackFrameworkInRole(fw, role);
    this.dropFilters(fw);
    this.frameworks.delete(id);
  }

  /** The framework is back: it is offered again (unless suppressed). */
  activateFramework(id: string): void {
    this.eligibilityVersion += 1;
    const fw = this.frameworks.get(id);
    if (!fw) return;
    fw.active = true;
    for (const role of fw.roles) if (!fw.suppressed.has(role)) this.frameworkSorters.get(role)?.activate(id);
  }

  /** The framework is gone for now: no offers, and its filters are dropped. */
  deactivateFramework(id: string): void {
    const fw = this.frameworks.get(id);
    if (!fw) return;
    fw.active = false;
    this.dropFilters(fw);
    for (const role of fw.roles) this.frameworkSorters.get(role)?.deactivate(id);
  }

  /** Changes a framework's roles or capabilities; filters of roles it leaves are dropped. */
  updateFramework(id: string, spec: FrameworkSpec): void {
    this.eligibilityVersion += 1;
    const fw = this.frameworks.get(id);
    if (!fw) return;
    const roles = new Set(spec.roles.length > 0 ? spec.roles : ['*']);
    for (const role of fw.roles) {
      if (roles.has(role)) continue;
      this.dropFilters(fw, role);
      fw.suppressed.delete(role);
      // Like Mesos, a framework stays tracked in a role it left while it still holds resources
      // there (so the role's share stays right); it is just no longer offered anything in it.
      if (this.holdsInRole(fw.id, role)) this.frameworkSorters.get(role)?.deactivate(fw.id);
      else this.untrackFrameworkInRole(fw, role);
    }
    for (const role of roles) if (!fw.roles.has(role)) this.trackFrameworkInRole(fw, role);
    fw.roles = roles;
    fw.capabilities = new Set(spec.capabilities ?? []);
    fw.revocable = fw.capabilities.has('REVOCABLE_RESOURCES');
  }

  /** No offers for these roles (all when absent) until revived. */
  suppressOffers(id: string, roles?: readonly string[]): void {
    const fw = this.frameworks.get(id);
    if (!fw) return;
    for (const role of roles ?? fw.roles) {
      if (!fw.roles.has(role)) continue;
      fw.suppressed.add(role);
      this.frameworkSorters.get(role)?.deactivate(id);
    }
  }

  /** Clears the filters of these roles (all when absent) and resumes offers. */
  reviveOffers(id: string, roles?: readonly string[]): void {
    this.eligibilityVersion += 1;
    const fw = this.frameworks.get(id);
    if (!fw) return;
    for (const role of roles ?? fw.roles) {
      if (!fw.roles.has(role)) continue;
      this.dropFilters(fw, role);
      fw.suppressed.delete(role);
      if (fw.active) this.frameworkSorters.get(role)?.activate(id);
    }
  }

  /** Drops the framework's filters of `role` (all when absent) on every agent. */
  private dropFilters(fw: FrameworkState, role?: string): void {
    for (const agent of fw.filteredOn) {
      const list = agent.filters.get(fw);
      const kept = role === undefined || !list ? [] : list.filter((f) => f.role !== role);
      if (kept.length > 0) {
        agent.filters.set(fw, kept);
      } else {
        agent.filters.delete(fw);
        fw.filteredOn.delete(agent);
      }
    }
  }

  /** Drops every filter on the agent. */
  private clearAgentFilters(agent: AgentState): void {
    for (const fw of agent.filters.keys()) fw.filteredOn.delete(agent);
    agent.filters.clear();
    agent.nextFilterEnd = Number.POSITIVE_INFINITY;
    // The verdict that every framework was filtered here went with the filters.
    agent.skip = undefined;
  }

  /** Records a framework's resource request (the paper's requests API); `undefined` clears it. */
  requestResources(id: string, request: ResourceRequest | undefined): void {
    this.eligibilityVersion += 1;
    const fw = this.frameworks.get(id);
    if (!fw) return;
    fw.request = request;
    fw.minOffer = request?.minOffer ? this.slots.fromWire(request.minOffer) : undefined;
  }

  private holdsInRole(frameworkId: string, role: string): boolean {
    for (const a of this.agents.values()) {
      for (let h = a.allocations.get(frameworkId); h; h = h.next) if (h.role === role) return true;
    }
    return false;
  }

  private trackFrameworkInRole(fw: FrameworkState, role: string): void {
    if (!this.roleSorter.contains(role)) {
      this.roleSorter.add(role);
      this.roleSorter.activate(role);
      const sorter = new Sorter(this.options.frameworkSorter, false, this.random);
      sorter.addTotal(this.clusterTotal);
      this.frameworkSorters.set(role, sorter);
    }
    const s = this.frameworkSorters.get(role)!;
    s.add(fw.id);
    if (fw.active && !fw.suppressed.has(role)) s.activate(fw.id);
  }

  private untrackFrameworkInRole(fw: FrameworkState, role: string): void {
    const s = this.frameworkSorters.get(role);
    if (!s) return;
    s.remove(fw.id);
    if (s.count() === 0) {
      this.frameworkSorters.delete(role);
      this.roleSorter.remove(role);
    }
  }

  // ── agents ───────────────────────────────────────────────────────────────────────────────

  /** Adds an agent with its total and what frameworks already use on it. */
  addAgent(id: string, info: { hostname: string; total: Resources }, used: readonly UsedResources[] = []): void {
    if (this.agents.has(id)) return;
    const total = this.slots.fromWire(info.total);
    // Every field is set here, even those empty for now: fields added later would live in a
    // second object, one more place in memory for a pass to reach on every agent.
    this.agents.set(id, {
      id,
      hostname: info.hostname,
      total,
      available: total,
      allocations: new Map(),
      skip: undefined,
      filters: new Map(),
      recent: [],
      nextFilterEnd: Number.POSITIVE_INFINITY,
      pending: undefined,
      pendingPass: 0,
    });
    const q = total.quantities();
    addInto(this.clusterTotal, q);
    this.roleSorter.addTotal(q);
    for (const s of this.frameworkSorters.values()) s.addTotal(q);
    this.addReservations(total, 1);
    // One accounting step per (framework, role), not per task: an agent re-registering with
    // hundreds of tasks would otherwise re-sort the DRF order hundreds of times.
    const agent = this.agents.get(id);
    const held = new Map<string, Map<string, Bundle[]>>();
    for (const u of used) {
      let byRole = held.get(u.frameworkId);
      if (byRole === undefined) held.set(u.frameworkId, (byRole = new Map()));
      const r = this.slots.fromWire(u.resources);
      const list = byRole.get(u.role);
      if (list) list.push(r);
      else byRole.set(u.role, [r]);
    }
    for (const [frameworkId, byRole] of held) for (const [role, list] of byRole) this.track(frameworkId, role, agent, sumAll(list));
  }

  /**
   * `r` in canonical wire form, shared by every equal list of plain scalars: a master keeping
   * hundreds of thousands of task records keeps one copy of each shape. Throws `ResourceError`
   * for invalid resources, as `addAgent` would.
   */
  sharedResources(r: Resources): Resources {
    return this.slots.toWire(this.slots.fromWire(r));
  }

  /** Removes an agent and everything allocated on it. */
  removeAgent(id: string): void {
    const agent = this.agents.get(id);
    if (!agent) return;
    for (const [fwId, first] of [...agent.allocations]) {
      for (const [role, r] of holdingsOf(first)) this.untrack(fwId, role, agent, r);
    }
    const q = agent.total.quantities();
    addInto(this.clusterTotal, q, -1);
    this.roleSorter.removeTotal(q);
    for (const s of this.frameworkSorters.values()) s.removeTotal(q);
    this.addReservations(agent.total, -1);
    this.clearAgentFilters(agent);
    this.agents.delete(id);
  }

  /** Changes an agent's total (e.g. oversubscribed resources appear); filters on it are dropped. */
  updateAgent(id: string, wireTotal: Resources): void {
    const agent = this.agents.get(id);
    if (!agent) return;
    const total = this.slots.fromWire(wireTotal);
    const oldQ = agent.total.quantities();
    const newQ = total.quantities();
    addInto(this.clusterTotal, oldQ, -1);
    addInto(this.clusterTotal, newQ);
    this.roleSorter.removeTotal(oldQ);
    this.roleSorter.addTotal(newQ);
    for (const s of this.frameworkSorters.values()) {
      s.removeTotal(oldQ);
      s.addTotal(newQ);
    }
    this.addReservations(agent.total, -1);
    this.addReservations(total, 1);
    agent.total = total;
    let allocated = EMPTY;
    for (const first of agent.allocations.values()) for (let h: Holding | undefined = first; h; h = h.next) allocated = plus(allocated, h.resources);
    // Entries the new total no longer covers go; the rest stays free.
    agent.available = canonical(agent, minus(total, allocated));
    this.clearAgentFilters(agent);
  }

  /** Only agents with these hostnames are offered (`undefined`: all). */
  updateWhitelist(hostnames: readonly string[] | undefined): void {
    this.whitelist = hostnames ? new Set(hostnames) : undefined;
  }

  private addReservations(total: Bundle, sign: 1 | -1): void {
    for (const p of total.parts) {
      const role = p.slot.role;
      if (p.slot.type !== 'SCALAR' || role === undefined) continue;
      addInto(this.consumedOf(role), new Map([[p.slot.name, p.milli]]), sign);
    }
  }

  // ── weights and quota ────────────────────────────────────────────────────────────────────

  /** Sets role weights (does not trigger an allocation). */
  updateWeights(weights: Readonly<Record<string, number>>): void {
    this.eligibilityVersion += 1;
    for (const [role, w] of Object.entries(weights)) this.roleSorter.updateWeight(role, w);
  }

  /** A role's weight (1 unless set). */
  weightOf(role: string): number {
    return this.roleSorter.weight(role);
  }

  /** Every role's quota. */
  quotaEntries(): ReadonlyMap<string, Quota> {
    return this.quotas;
  }

  /** Sets (or with both fields empty, removes) a role's quota. */
  updateQuota(role: string, quota: Quota): void {
    this.eligibilityVersion += 1;
    const empty = (!quota.guarantees || isZero(quota.guarantees)) && quota.limits === undefined;
    if (empty) this.quotas.delete(role);
    else this.quotas.set(role, quota);
  }

  private consumedOf(role: string): Quantities {
    let q = this.roleConsumed.get(role);
    if (!q) {
      q = new Map();
      this.roleConsumed.set(role, q);
    }
    return q;
  }

  /** Quota consumption of `role`'s subtree: its unreserved allocations and all its reservations. */
  private consumedBySubtree(role: string): Quantities {
    const out: Quantities = new Map();
    for (const [r, q] of this.roleConsumed) if (r === role || r.startsWith(`${role}/`)) addInto(out, q);
    return out;
  }

  // ── allocation accounting ────────────────────────────────────────────────────────────────

  private track(frameworkId: string, role: string, agent: AgentState | undefined, resources: Bundle): void {
    if (!agent || resources.empty) return;
    let h = agent.allocations.get(frameworkId);
    if (!h) {
      agent.allocations.set(frameworkId, { role, resources, next: undefined });
    } else {
      // A role new here goes last, so holdings are given back in the order they were first made.
      while (h.role !== role && h.next) h = h.next;
      if (h.role === role) h.resources = plus(h.resources, resources);
      else h.next = { role, resources, next: undefined };
    }
    agent.available = canonical(agent, minus(agent.available, resources));
    const q = resources.quantities();
    if (this.roleSorter.contains(role)) this.roleSorter.allocated(role, q);
    this.frameworkSorters.get(role)?.allocated(frameworkId, q);
    addInto(this.consumedOf(role), resources.quotaQuantities());
  }

  private untrack(frameworkId: string, role: string, agent: AgentState | undefined, resources: Bundle): void {
    if (!agent) return;
    const first = agent.allocations.get(frameworkId);
    let prev: Holding | undefined;
    let h = first;
    while (h && h.role !== role) {
      prev = h;
      h = h.next;
    }
    if (!h) return;
    const held = h.resources;
    // Only what the framework holds comes back: the overlap of `held` and `resources`.
    const back = covers(held, resources) ? resources : minus(held, minus(held, resources));
    if (back.empty) return;
    const left = minus(held, back);
    if (!left.empty) h.resources = left;
    else if (prev) prev.next = h.next;
    else if (h.next) agent.allocations.set(frameworkId, h.next);
    else agent.allocations.delete(frameworkId);
    agent.available = canonical(agent, plus(agent.available, back));
    const q = back.quantities();
    if (this.roleSorter.contains(role)) this.roleSorter.unallocated(role, q);
    this.frameworkSorters.get(role)?.unallocated(frameworkId, q);
    addInto(this.consumedOf(role), back.quotaQuantities(), -1);
  }

  /**
   * Resources come back (declined, task ended, offer rescinded). With `refuseSeconds` > 0 the
   * framework is not offered these resources (or less) on this agent for
   * max(`refuseSeconds`, allocation interval); negative means the 5 s default, more than a year is
   * capped. @see `HierarchicalAllocatorProcess::recoverResources`
   */
  recoverResources(
    frameworkId: string,
    agentId: string,
    role: string,
    resources: Resources,
    now: number,
    refuseSeconds?: number,
  ): void {
    const bundle = this.slots.fromWire(resources);
    const agent = this.agents.get(agentId);
    this.untrack(frameworkId, role, agent, bundle);
    if (refuseSeconds === undefined) return;
    const fw = this.frameworks.get(frameworkId);
    if (!fw || !agent) return;
    let seconds = refuseSeconds;
    if (!Number.isFinite(seconds) || seconds < 0) seconds = 5;
    seconds = Math.min(seconds, 365 * 24 * 3600);
    if (seconds === 0) return;
    const durationMs = Math.max(seconds * 1000, this.options.allocationIntervalMs);
    this.clearEndedFilters(agent);
    const entry: FilterEntry = { role, resources: bundle, createdAt: now, durationMs, checked: undefined, covers: false };
    const list = agent.filters.get(fw);
    if (list) list.push(entry);
    else agent.filters.set(fw, [entry]);
    fw.filteredOn.add(agent);
    agent.nextFilterEnd = Math.min(agent.nextFilterEnd, now + durationMs);
  }

  /**
   * Whether a filter still holds at `now`. One created at `c` lasting `d` holds before `c + d`,
   * and at exactly `c + d` only when `d` is one allocation interval: the batch that falls then was
   * scheduled before the filter was made, so (as in Mesos) it runs first and the filter goes after.
   * Once a batch has run at or after its end, it holds no more.
   */
  private filterHolds(f: FilterEntry, now: number): boolean {
    const end = f.createdAt + f.durationMs;
    if (end <= this.lastBatch) return false;
    return now < end || (now === end && f.durationMs === this.options.allocationIntervalMs);
  }

  private isFiltered(fw: FrameworkState, role: string, agent: AgentState, offer: Bundle, now: number): boolean {
    return this.blockingFilter(fw, role, agent, offer, now) !== undefined;
  }

  /** The live filter covering `offer`, if any (containment answers are cached per offer object). */
  private blockingFilter(fw: FrameworkState, role: string, agent: AgentState, offer: Bundle, now: number): FilterEntry | undefined {
    const list = agent.filters.get(fw);
    if (!list) return undefined;
    for (const f of list) {
      if (f.role !== role || !this.filterHolds(f, now)) continue;
      if (f.checked !== offer) {
        f.checked = offer;
        f.covers = covers(f.resources, offer);
      }
      if (f.covers) return f;
    }
    return undefined;
  }

  /**
   * What `role` may be offered of `available` (without revocable resources unless `revocable`),
   * kept with the bundle: as the bundle's memo itself while one key is asked for (the usual
   * case, one role), in a map by key once there are more.
   */
  private baseFor(available: Bundle, role: string, revocable: boolean): Base {
    const key = revocable ? `${role}\u0001R` : role;
    const memo = available.memo as Base | Map<string, Base> | undefined;
    if (memo !== undefined) {
      if (memo instanceof Map) {
        const hit = memo.get(key);
        if (hit) return hit;
      } else if (memo.key === key) {
        return memo;
      }
    }
    const resources = offerableTo(available, role, revocable);
    const b: Base = { key, resources, allocatable: this.isAllocatable(resources) };
    if (memo === undefined) available.memo = b;
    else if (memo instanceof Map) memo.set(key, b);
    else available.memo = new Map([[memo.key, memo], [key, b]]);
    return b;
  }

  /** Removes the agent's filters that a batch has outlived (see {@link lastBatch}). */
  private clearEndedFilters(agent: AgentState): void {
    const over = this.lastBatch;
    if (agent.nextFilterEnd > over) return;
    let next = Number.POSITIVE_INFINITY;
    agent.filters.forEach((list, fw) => {
      let kept = 0;
      for (const f of list) {
        const end = f.createdAt + f.durationMs;
        if (end > over) {
          kept += 1;
          if (end < next) next = end;
        }
      }
      if (kept === 0) {
        agent.filters.delete(fw);
        fw.filteredOn.delete(agent);
      } else if (kept !== list.length) {
        agent.filters.set(fw, list.filter((f) => f.createdAt + f.durationMs > over));
      }
    });
    agent.nextFilterEnd = next;
  }

  private isAllocatable(r: Bundle): boolean {
    if (r.empty) return false;
    const mins = this.minAllocatable;
    if (mins.length === 0) return true;
    const q = r.quantities();
    for (const alt of mins) {
      let ok = true;
      for (const [name, milli] of alt) {
        if ((q.get(name) ?? 0) < milli) {
          ok = false;
          break;
        }
      }
      if (ok) return true;
    }
    return false;
  }

  private excludes(fw: FrameworkState, agent: AgentState): boolean {
    const ex = fw.request?.excludedAgents;
    return ex !== undefined && (ex.includes(agent.id) || ex.includes(agent.hostname));
  }

  private prefersElsewhere(fw: FrameworkState, agent: AgentState): boolean {
    const pref = fw.request?.preferredAgents;
    return pref !== undefined && pref.length > 0 && !pref.includes(agent.id) && !pref.includes(agent.hostname);
  }

  // ── the allocation pass ──────────────────────────────────────────────────────────────────

  /**
   * One allocation pass at `now` over all agents, or only `agentIds` (event-triggered). A `batch`
   * pass (the periodic one) also removes filters that have run out. Returns the offers to make,
   * already charged to the frameworks.
   */
  allocate(now: number, opts: { agentIds?: Iterable<string>; batch?: boolean } = {}): Allocation[] {
    // The (whitelisted) agents to visit, gathered in one loop: spreading the agents map into an
    // array makes a result object per agent, and filtering it a second array.
    const candidates: AgentState[] = [];
    const whitelist = this.whitelist;
    const consider = (a: AgentState | undefined) => {
      if (a && (!whitelist || whitelist.has(a.hostname))) candidates.push(a);
    };
    if (opts.agentIds) {
      for (const id of opts.agentIds) consider(this.agents.get(id));
    } else {
      for (const a of this.agents.values()) consider(a);
    }
    // The offers in the order first made; one per (framework, role, agent), found through its
    // agent (`agent.pending`, which belongs to the pass numbered `agent.pendingPass`).
    const made: Pending[] = [];
    const pass = ++this.passes;
    const give = (fw: FrameworkState, role: string, agent: AgentState, r: Bundle) => {
      this.track(fw.id, role, agent, r);
      const here = agent.pendingPass === pass ? agent.pending : undefined;
      if (here) {
        for (const o of here) {
          if (o.frameworkId === fw.id && o.role === role) {
            o.resources = plus(o.resources, r);
            return;
          }
        }
      }
      const p: Pending = { frameworkId: fw.id, role, agentId: agent.id, resources: r };
      if (here) {
        here.push(p);
      } else {
        agent.pending = [p];
        agent.pendingPass = pass;
      }
      made.push(p);
    };
    this.counters.set('allocation_runs', (this.counters.get('allocation_runs') ?? 0) + 1);

    // Headroom: unreserved, non-revocable, unallocated scalars must cover unmet guarantees.
    const required: Quantities = new Map();
    for (const [role, quota] of this.quotas) {
      if (quota.guarantees) addInto(required, subtractClamped(quota.guarantees, this.consumedBySubtree(role)));
    }
    const availableHeadroom: Quantities = new Map();
    if (required.size > 0) {
      for (const a of this.agents.values()) addInto(availableHeadroom, a.available.quotaQuantities());
    }

    this.shuffle(candidates);
    // Stage 1: quota guarantees.
    if (this.quotas.size > 0) {
      for (const agent of candidates) {
        this.roleSorter.visit((role) => {
          if (agent.available.empty) return true;
          const quota = this.quotas.get(role);
          if (!quota?.guarantees || isZero(quota.guarantees)) return false;
          const frameworks = this.frameworkSorters.get(role);
          if (!frameworks) return false;
          let unsatisfied = subtractClamped(quota.guarantees, this.consumedBySubtree(role));
          if (isZero(unsatisfied)) return false;
          frameworks.visit((fwId) => {
            if (isZero(unsatisfied)) return true;
            const fw = this.frameworks.get(fwId)!;
            if (this.excludes(fw, agent)) return false;
            const base = this.baseFor(agent.available, role, fw.revocable);
            const available = base.resources;
            if (available.empty) return true;
            if (!base.allocatable) return false;
            const scalar = quotaPartOf(base);
            const guaranteed = capQuotaScalars(scalar, unsatisfied, true);
            if (guaranteed.empty) return false;
            let extra = minus(scalar, guaranteed);
            extra = this.applyLimit(role, extra, guaranteed);
            extra = this.applyHeadroom(extra, required, availableHeadroom);
            const ownReserved = select(otherPartOf(base), (s) => s.role === role || s.type !== 'SCALAR' || s.revocable);
            const toOffer = plus(plus(guaranteed, ownReserved), extra);
            if (!this.isAllocatable(toOffer) || this.isFiltered(fw, role, agent, toOffer, now)) return false;
            if (fw.minOffer && !covers(toOffer, fw.minOffer)) return false;
            addInto(required, guaranteed.quantities(), -1);
            for (const [k, v] of required) if (v <= 0) required.delete(k);
            addInto(availableHeadroom, plus(guaranteed, extra).quantities(), -1);
            give(fw, role, agent, toOffer);
            unsatisfied = subtractClamped(quota.guarantees!, this.consumedBySubtree(role));
            return false;
          });
          return false;
        });
      }
    }

    // Stage 2: fair share. The callbacks are made once per pass; `agent` is the agent visited.
    this.shuffle(candidates);
    let agent: AgentState = candidates[0]!;
    // Frameworks that prefer other agents, offered this agent last.
    const deferred: Array<{ fw: FrameworkState; role: string }> = [];
    // Whether every framework asked was turned away by a filter (then the agent can be skipped
    // until something changes), and when the first of those filters runs out.
    const verdict = { allFiltered: true, until: Number.POSITIVE_INFINITY };
    let role = '';
    const visitFramework = (fwId: string): boolean => {
      const fw = this.frameworks.get(fwId)!;
      if (this.prefersElsewhere(fw, agent)) {
        deferred.push({ fw, role });
        return false;
      }
      return this.offerFairShare(fw, role, agent, now, required, availableHeadroom, give, verdict);
    };
    const visitRole = (r: string): boolean => {
      if (agent.available.empty) return true;
      const frameworks = this.frameworkSorters.get(r);
      if (!frameworks) return false;
      role = r;
      frameworks.visit(visitFramework);
      return agent.available.empty;
    };
    for (agent of candidates) {
      if (agent.available.empty) continue;
      const skip = agent.skip;
      if (skip && skip.available === agent.available && skip.version === this.eligibilityVersion && now < skip.until) continue;
      this.clearEndedFilters(agent);
      deferred.length = 0;
      verdict.allFiltered = true;
      verdict.until = Number.POSITIVE_INFINITY;
      this.roleSorter.visit(visitRole);
      for (const d of deferred) {
        if (agent.available.empty) break;
        this.offerFairShare(d.fw, d.role, agent, now, required, availableHeadroom, give, verdict);
      }
      agent.skip = verdict.allFiltered && !agent.available.empty
        ? { available: agent.available, version: this.eligibilityVersion, until: verdict.until }
        : undefined;
    }

    if (opts.batch) this.lastBatch = now;
    const out: Allocation[] = [];
    // Offers stay on their agents until a later pass offers the agent (`pendingPass` tells them
    // apart): clearing them here would visit every agent offered a second time.
    for (const o of made) out.push({ frameworkId: o.frameworkId, role: o.role, agentId: o.agentId, resources: this.slots.toWire(o.resources) });
    return out;
  }

  /**
   * Stage 2 for one framework on one agent; `true` when the agent has nothing left. Clears
   * `verdict.allFiltered` unless the framework was turned away by a filter covering everything it
   * could be offered here (a verdict that holds while the agent's free resources, the filters and
   * who is eligible stay the same).
   */
  private offerFairShare(
    fw: FrameworkState,
    role: string,
    agent: AgentState,
    now: number,
    required: Quantities,
    availableHeadroom: Quantities,
    give: (fw: FrameworkState, role: string, agent: AgentState, r: Bundle) => void,
    verdict: { allFiltered: boolean; until: number },
  ): boolean {
    if (this.excludes(fw, agent)) return false;
    const base = this.baseFor(agent.available, role, fw.revocable);
    if (base.resources.empty) return agent.available.empty;
    if (!base.allocatable) return false;
    // A filter covering everything this framework could be offered here covers any part of it.
    const covering = this.blockingFilter(fw, role, agent, base.resources, now);
    if (covering) {
      verdict.until = Math.min(verdict.until, covering.createdAt + covering.durationMs);
      return false;
    }
    verdict.allFiltered = false;
    const available = base.resources;
    let toOffer = available;
    let extra = EMPTY;
    if (required.size > 0 || this.quotas.get(role)?.limits) {
      // Quota scalars may be capped: by the role's limit, and by the headroom others' guarantees need.
      const scalar = quotaPartOf(base);
      extra = this.applyHeadroom(this.applyLimit(role, scalar, EMPTY), required, availableHeadroom);
      if (extra !== scalar) toOffer = plus(otherPartOf(base), extra);
    }
    // All of `available` was just found allocatable and not filtered; a part needs checking again.
    if (toOffer !== available && (!this.isAllocatable(toOffer) || this.isFiltered(fw, role, agent, toOffer, now))) return false;
    if (fw.minOffer && !covers(toOffer, fw.minOffer)) return false;
    if (required.size > 0) addInto(availableHeadroom, extra.quantities(), -1);
    give(fw, role, agent, toOffer);
    return agent.available.empty;
  }

  /** Caps the unreserved scalars `r` so the role stays within its limit (names without a limit pass). */
  private applyLimit(role: string, r: Bundle, alsoCounting: Bundle): Bundle {
    const limits = this.quotas.get(role)?.limits;
    if (!limits) return r;
    const used = this.consumedBySubtree(role);
    addInto(used, alsoCounting.quantities());
    const room: Quantities = new Map();
    for (const [k, v] of limits) room.set(k, Math.max(0, v - (used.get(k) ?? 0)));
    return capQuotaScalars(r, room, false);
  }

  /** Caps `r` so that what stays unallocated still covers the guarantees not yet met. */
  private applyHeadroom(r: Bundle, required: Quantities, availableHeadroom: Quantities): Bundle {
    if (required.size === 0 || r.empty) return r;
    const surplus = subtractClamped(availableHeadroom, required);
    return capQuotaScalars(r, surplus, true);
  }

  private shuffle<T>(xs: T[]): void {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      const t = xs[i]!;
      xs[i] = xs[j]!;
      xs[j] = t;
    }
  }

  // ── revocation ───────────────────────────────────────────────────────────────────────────

  /**
   * What unmet guarantees need beyond everything unallocated: per resource,
   * Σ(guarantee − consumed) over quota roles minus the free unreserved non-revocable resources.
   * Non-zero means holding back is not enough — resources must be taken back from others.
   */
  headroomDeficit(): Quantities {
    const required: Quantities = new Map();
    for (const [role, quota] of this.quotas) {
      if (quota.guarantees && this.frameworkSorters.has(role)) {
        addInto(required, subtractClamped(quota.guarantees, this.consumedBySubtree(role)));
      }
    }
    if (required.size === 0) return required;
    const free: Quantities = new Map();
    for (const a of this.agents.values()) addInto(free, a.available.quotaQuantities());
    return subtractClamped(required, free);
  }

  /** True when `role` (or an ancestor) has a guarantee it does not yet consume in full. */
  isBelowGuarantee(role: string): boolean {
    for (const [r, quota] of this.quotas) {
      if (!quota.guarantees || !(role === r || role.startsWith(`${r}/`))) continue;
      if (!isZero(subtractClamped(quota.guarantees, this.consumedBySubtree(r)))) return true;
    }
    return false;
  }

  /** The weighted share of a framework within its role's sorter (for ranking revocation victims). */
  frameworkShare(frameworkId: string, role: string): number {
    return this.roleSorter.share(role) * 1e6 + (this.frameworkSorters.get(role)?.share(frameworkId) ?? 0);
  }

  // ── inspection ───────────────────────────────────────────────────────────────────────────

  /** Allocator metrics, named as Mesos names them. */
  metrics(now: number): Record<string, number> {
    const m: Record<string, number> = { 'allocator/mesos/allocation_runs': this.counters.get('allocation_runs') ?? 0 };
    // Counted by role first, named after: a filter per agent is 10,000 of them in a large cluster.
    const active = new Map<string, number>();
    for (const role of this.frameworkSorters.keys()) active.set(role, 0);
    for (const agent of this.agents.values()) {
      for (const list of agent.filters.values()) {
        for (const f of list) if (this.filterHolds(f, now)) active.set(f.role, (active.get(f.role) ?? 0) + 1);
      }
    }
    for (const [role, n] of active) m[`allocator/mesos/offer_filters/roles/${role}/active`] = n;
    for (const fw of this.frameworks.values()) {
      for (const role of fw.suppressed) {
        const k = `allocator/mesos/roles/${role}/suppressed`;
        m[k] = (m[k] ?? 0) + 1;
      }
    }
    for (const [role, quota] of this.quotas) {
      for (const [name, v] of this.consumedBySubtree(role)) m[`allocator/mesos/quota/roles/${role}/resources/${name}/offered_or_allocated`] = v / 1000;
      for (const [name, v] of quota.guarantees ?? []) m[`allocator/mesos/quota/roles/${role}/resources/${name}/guarantee`] = v / 1000;
      for (const [name, v] of quota.limits ?? []) m[`allocator/mesos/quota/roles/${role}/resources/${name}/limit`] = v / 1000;
    }
    return m;
  }

  /** The role sorter's current order (for tests and inspection). */
  roleOrder(): string[] {
    return this.roleSorter.sort();
  }

  /** Free resources of an agent. */
  available(agentId: string): Resources {
    const agent = this.agents.get(agentId);
    return agent ? this.slots.toWire(agent.available) : [];
  }

  /** True when `frameworkId` is known. */
  hasFramework(frameworkId: string): boolean {
    return this.frameworks.has(frameworkId);
  }
}

/** Re-exported so callers can build quota amounts. */
export { quantities } from './quantities.ts';
export { containsQuantities };
