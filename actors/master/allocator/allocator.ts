/**
 * A simple fair allocator: every free agent goes, whole, to the eligible framework with the lowest
 * dominant share. It is the walking skeleton's policy and keeps the interface the hierarchical DRF
 * allocator will fill in: state and `now` in, decisions out, no effects.
 *
 * @see Mesos `HierarchicalAllocatorProcess::allocate` (coarse-grained, one framework per agent per cycle).
 */
import {
  add,
  allocatableTo,
  contains,
  dominantShare,
  isAllocatable,
  isEmpty,
  subtract,
  type Resources,
} from '../../../protocols/resources.ts';

/** An agent as the allocator sees it. */
export interface AllocatorAgent {
  readonly id: string;
  readonly hostname: string;
  readonly total: Resources;
  /** Resources in use by tasks and executors, or sitting in outstanding offers. */
  readonly allocated: Resources;
}

/** A framework as the allocator sees it. */
export interface AllocatorFramework {
  readonly id: string;
  readonly role: string;
  readonly active: boolean;
  readonly suppressed: boolean;
  /** Everything allocated to it: used and offered. */
  readonly allocated: Resources;
  /** How many allocations it has received: breaks ties between equal shares. */
  readonly allocations: number;
}

/**
 * A decline filter: `frameworkId` does not want `resources` (or less) on `agentId` before `expiresAt`.
 * @see Mesos `RefusedOfferFilter`.
 */
export interface OfferFilter {
  readonly frameworkId: string;
  readonly agentId: string;
  readonly resources: Resources;
  readonly expiresAt: number;
}

/** One decision: offer `resources` on `agentId` to `frameworkId`. */
export interface AllocationDecision {
  readonly frameworkId: string;
  readonly agentId: string;
  readonly resources: Resources;
}

/** Everything one allocation pass looks at. */
export interface AllocationInput {
  readonly agents: Iterable<AllocatorAgent>;
  readonly frameworks: Iterable<AllocatorFramework>;
  readonly filters: readonly OfferFilter[];
  readonly now: number;
  /** Restrict the pass to these agents (event-triggered allocation); all when absent. */
  readonly onlyAgents?: ReadonlySet<string>;
}

/** True when a live filter of `frameworkId` on `agentId` covers the `available` resources. */
export function isFiltered(
  filters: readonly OfferFilter[],
  frameworkId: string,
  agentId: string,
  available: Resources,
  now: number,
): boolean {
  return filters.some(
    (f) => f.frameworkId === frameworkId && f.agentId === agentId && now < f.expiresAt && contains(f.resources, available),
  );
}

/** Drops filters that have expired by `now`. */
export function expireFilters(filters: readonly OfferFilter[], now: number): OfferFilter[] {
  return filters.filter((f) => now < f.expiresAt);
}

/**
 * One allocation pass. Agents are visited in id order; each agent's whole free resources (those
 * allocatable to the chosen framework's role) go to the eligible framework with the smallest
 * dominant share, ties broken by fewer allocations, then by id.
 */
export function allocate(input: AllocationInput): AllocationDecision[] {
  const agents = [...input.agents].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  let clusterTotal: Resources = [];
  for (const a of agents) clusterTotal = add(clusterTotal, a.total);
  const fws = [...input.frameworks]
    .filter((f) => f.active && !f.suppressed)
    .map((f) => ({ ...f, share: dominantShare(f.allocated, clusterTotal) }));
  const decisions: AllocationDecision[] = [];
  if (fws.length === 0) return decisions;

  for (const agent of agents) {
    if (input.onlyAgents && !input.onlyAgents.has(agent.id)) continue;
    const free = subtract(agent.total, agent.allocated);
    if (isEmpty(free)) continue;
    fws.sort((a, b) => a.share - b.share || a.allocations - b.allocations || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const fw of fws) {
      const offered = allocatableTo(free, fw.role);
      if (!isAllocatable(offered)) continue;
      if (isFiltered(input.filters, fw.id, agent.id, offered, input.now)) continue;
      decisions.push({ frameworkId: fw.id, agentId: agent.id, resources: offered });
      fw.allocated = add(fw.allocated, offered);
      fw.allocations += 1;
      fw.share = dominantShare(fw.allocated, clusterTotal);
      break;
    }
  }
  return decisions;
}
