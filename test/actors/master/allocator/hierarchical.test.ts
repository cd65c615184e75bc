/**
 * Scenario tests for the hierarchical DRF allocator, each mirroring one test of Mesos'
 * `src/tests/hierarchical_allocator_tests.cpp` (line numbers from the research notes, snapshot
 * c1b42f79d157). The conventions of those tests carry over:
 *
 * - agents are `agent1`, `agent2`, … with hostname = id; frameworks are `framework1`, …;
 * - adding an agent triggers a pass over that agent only (`allocate(now, { agentIds: [id] })`);
 * - adding, activating or reviving a framework triggers a pass over all agents (`allocate(now)`);
 * - a clock tick of one allocation interval is a batch pass (`allocate(now, { batch: true })`);
 * - declining an offer is `recoverResources(…, refuseSeconds)`; time is in milliseconds.
 *
 * The comment above each assertion gives the dominant shares that decide it.
 */
import test from 'ava';
import {
  HierarchicalAllocator,
  quantities,
  type Allocation,
  type AllocatorOptions,
  type UsedResources,
} from '../../../../actors/master/allocator/hierarchical.ts';
import { add, equals, formatResources, parseResources, type Resources } from '../../../../protocols/resources.ts';

const R = parseResources;
const SECOND = 1000;

function allocator(options: Partial<AllocatorOptions> = {}): HierarchicalAllocator {
  return new HierarchicalAllocator(options);
}

/** Adds an agent (hostname = id unless given) and runs the pass it triggers, over that agent only. */
function addAgent(
  a: HierarchicalAllocator,
  id: string,
  total: string,
  opts: { now?: number; used?: UsedResources[]; hostname?: string } = {},
): Allocation[] {
  a.addAgent(id, { hostname: opts.hostname ?? id, total: R(total) }, opts.used ?? []);
  return a.allocate(opts.now ?? 0, { agentIds: [id] });
}

/** Adds a framework and runs the pass it triggers, over all agents. */
function addFramework(a: HierarchicalAllocator, id: string, roles: string[], now = 0, capabilities: string[] = []): Allocation[] {
  a.addFramework(id, { roles, capabilities });
  return a.allocate(now);
}

/** A clock tick: the periodic batch pass over all agents. */
function tick(a: HierarchicalAllocator, now: number): Allocation[] {
  return a.allocate(now, { batch: true });
}

/** `framework@agent resources`, resources in canonical text. */
function offer(frameworkId: string, agentId: string, resources: string): string {
  return `${frameworkId}@${agentId} ${formatResources(R(resources))}`;
}

/** The offers of a pass in the form of {@link offer}, sorted. */
function show(allocations: readonly Allocation[]): string[] {
  return allocations.map((x) => `${x.frameworkId}@${x.agentId} ${formatResources(x.resources)}`).sort();
}

/** Gives every offer back, without a filter. */
function recoverAll(a: HierarchicalAllocator, allocations: readonly Allocation[], now = 0): void {
  for (const x of allocations) a.recoverResources(x.frameworkId, x.agentId, x.role, x.resources, now);
}

/** Sum of the offered resources per framework. */
function perFramework(allocations: readonly Allocation[]): Map<string, Resources> {
  const out = new Map<string, Resources>();
  for (const x of allocations) out.set(x.frameworkId, add(out.get(x.frameworkId) ?? [], x.resources));
  return out;
}

/** Number of agents offered per framework. */
function agentCounts(allocations: readonly Allocation[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of allocations) out[x.frameworkId] = (out[x.frameworkId] ?? 0) + 1;
  return out;
}

// ── DRF ordering ───────────────────────────────────────────────────────────────────────────

// Mirrors HierarchicalAllocatorTest.UnreservedDRF (hierarchical_allocator_tests.cpp:293-442).
test('UnreservedDRF: roles are ordered by share first, then frameworks within a role', (t) => {
  const a = allocator();
  t.deepEqual(addAgent(a, 'agent1', 'cpus:2;mem:1024'), []);

  // framework1 is the only framework → it takes all of agent1; role1 = 1
  t.deepEqual(show(addFramework(a, 'framework1', ['role1'])), [offer('framework1', 'agent1', 'cpus:2;mem:1024')]);
  t.deepEqual(addFramework(a, 'framework2', ['role2']), []);

  // pool 3 cpus / 1536 mem: role1 max(2/3, 1024/1536) = .67 > role2 0 → F2
  t.deepEqual(show(addAgent(a, 'agent2', 'cpus:1;mem:512')), [offer('framework2', 'agent2', 'cpus:1;mem:512')]);

  // pool 6 / 3584: role1 max(2/6, 1024/3584) = .33 > role2 max(1/6, 512/3584) = .17 → F2
  t.deepEqual(show(addAgent(a, 'agent3', 'cpus:3;mem:2048')), [offer('framework2', 'agent3', 'cpus:3;mem:2048')]);

  t.deepEqual(addFramework(a, 'framework3', ['role1']), []);
  // pool 10 / 7680: role1 .2 < role2 max(4/10, 2560/7680) = .4; inside role1 F3 0 < F1 .2 → F3
  t.deepEqual(show(addAgent(a, 'agent4', 'cpus:4;mem:4096')), [offer('framework3', 'agent4', 'cpus:4;mem:4096')]);

  t.deepEqual(addFramework(a, 'framework4', ['role1']), []);
  // pool 11 / 8192: role1 max(6/11, 5120/8192) = .63 > role2 max(4/11, 2560/8192) = .36 → F2,
  // although F4 (share 0) holds nothing: roles are compared before frameworks
  t.deepEqual(show(addAgent(a, 'agent5', 'cpus:1;mem:512')), [offer('framework2', 'agent5', 'cpus:1;mem:512')]);
});

// Mirrors HierarchicalAllocatorTest.ReservedDRF (hierarchical_allocator_tests.cpp:446-534).
test('ReservedDRF: reservations go to their role and count in the share once allocated', (t) => {
  const a = allocator();
  t.deepEqual(addAgent(a, 'agent1', 'cpus:1;mem:512;cpus(role1):100;mem(role1):1024'), []);

  // only framework1 → everything on agent1, unreserved and reserved
  t.deepEqual(show(addFramework(a, 'framework1', ['role1'])), [
    offer('framework1', 'agent1', 'cpus:1;mem:512;cpus(role1):100;mem(role1):1024'),
  ]);
  t.deepEqual(addFramework(a, 'framework2', ['role2']), []);

  // pool 103 / 2048: role1 max(101/103, 1536/2048) = .98 > role2 0 → F2
  t.deepEqual(show(addAgent(a, 'agent2', 'cpus:2;mem:512')), [offer('framework2', 'agent2', 'cpus:2;mem:512')]);

  // pool 105 / 2560: role1 max(101/105, 1536/2560) = .96 > role2 max(2/105, 512/2560) = .2 → F2
  t.deepEqual(show(addAgent(a, 'agent3', 'cpus:2;mem:512')), [offer('framework2', 'agent3', 'cpus:2;mem:512')]);

  t.deepEqual(addFramework(a, 'framework3', ['role1']), []);
  // pool 107 / 3584: role2 max(4/107, 1024/3584) = .29 < role1 .94, but nothing on agent4 is
  // allocatable to role2; inside role1 F3 0 < F1 .94 → F3
  t.deepEqual(show(addAgent(a, 'agent4', 'cpus(role1):2;mem(role1):1024')), [
    offer('framework3', 'agent4', 'cpus(role1):2;mem(role1):1024'),
  ]);
});

// Mirrors HierarchicalAllocatorTest.NestedRoleDRF (hierarchical_allocator_tests.cpp:704-815).
test('NestedRoleDRF: sibling subtrees are compared by their whole share', (t) => {
  const a = allocator();
  t.deepEqual(addAgent(a, 'agent1', 'cpus:2;mem:1024'), []);

  // only framework1 (a/b) → all of agent1; subtree a = 1
  t.deepEqual(show(addFramework(a, 'framework1', ['a/b'])), [offer('framework1', 'agent1', 'cpus:2;mem:1024')]);
  t.deepEqual(addFramework(a, 'framework2', ['a/c']), []);
  t.deepEqual(addFramework(a, 'framework3', ['d/e']), []);

  // pool 3 / 1536: subtree a .67 > subtree d 0 → F3 (d/e), although a/c has share 0
  t.deepEqual(show(addAgent(a, 'agent2', 'cpus:1;mem:512')), [offer('framework3', 'agent2', 'cpus:1;mem:512')]);

  t.deepEqual(addFramework(a, 'framework4', ['d/f']), []);
  // pool 5 / 2560: subtree a .4 > subtree d .2; inside d: d/f 0 < d/e .2 → F4 (d/f)
  t.deepEqual(show(addAgent(a, 'agent3', 'cpus:2;mem:1024')), [offer('framework4', 'agent3', 'cpus:2;mem:1024')]);
  // final: a .4 (a/c 0 < a/b .4) before d .6 (d/e .2 < d/f .4), each subtree in full
  t.deepEqual(a.roleOrder(), ['a/c', 'a/b', 'd/e', 'd/f']);
});

// Mirrors HierarchicalAllocatorTest.CoarseGrained (hierarchical_allocator_tests.cpp:1215-1304).
test('CoarseGrained: the first eligible framework takes the whole agent', (t) => {
  const a = allocator();
  t.deepEqual(addAgent(a, 'agent1', 'cpus:2;mem:1024'), []);
  t.deepEqual(addAgent(a, 'agent2', 'cpus:2;mem:1024'), []);

  // only framework1 → both agents, each whole; role1 has had 2 allocations
  const first = addFramework(a, 'framework1', ['role1']);
  t.deepEqual(show(first), [offer('framework1', 'agent1', 'cpus:2;mem:1024'), offer('framework1', 'agent2', 'cpus:2;mem:1024')]);

  recoverAll(a, first);
  const second = addFramework(a, 'framework2', ['role2']);
  // first agent: role1 0 = role2 0, allocation count role2 0 < role1 2 → role2;
  // second agent: role1 0 < role2 .5 → role1. Each framework gets exactly one whole agent.
  t.is(second.length, 2);
  t.deepEqual(agentCounts(second), { framework1: 1, framework2: 1 });
  t.not(second[0]!.agentId, second[1]!.agentId);
  for (const x of second) t.true(equals(x.resources, R('cpus:2;mem:1024')));
});

// Mirrors HierarchicalAllocatorTest.SameShareFairness (hierarchical_allocator_tests.cpp:1311-1360).
test('SameShareFairness: equal shares alternate through the allocation count', (t) => {
  const a = allocator();
  t.deepEqual(addFramework(a, 'framework1', ['*']), []);
  t.deepEqual(addFramework(a, 'framework2', ['*']), []);

  const winners: string[] = [];
  // round 0 is the pass triggered by adding the agent; every later one is a tick
  let offers = addAgent(a, 'agent1', 'cpus:2;mem:1024');
  for (let round = 0; round < 10; round++) {
    t.is(offers.length, 1);
    t.true(equals(offers[0]!.resources, R('cpus:2;mem:1024')));
    winners.push(offers[0]!.frameworkId);
    recoverAll(a, offers, round * SECOND);
    offers = tick(a, (round + 1) * SECOND);
  }
  // both shares are 0 whenever the agent is free, so the framework with fewer allocations wins
  // (the name breaks the first tie) → strict alternation, 5 each
  t.deepEqual(winners, Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? 'framework1' : 'framework2')));
  t.is(winners.filter((w) => w === 'framework1').length, 5);
  t.is(winners.filter((w) => w === 'framework2').length, 5);
});

// Mirrors HierarchicalAllocatorTest.UpdateWeight (hierarchical_allocator_tests.cpp:5919-6133).
test('UpdateWeight: weights split six agents 3/3, then 2/4, then 1/2/3', (t) => {
  const a = allocator();
  for (let i = 1; i <= 6; i++) t.deepEqual(addAgent(a, `agent${i}`, 'cpus:2;mem:1024'), []);
  const single = R('cpus:2;mem:1024');
  const times = (n: number) => R(`cpus:${2 * n};mem:${1024 * n}`);

  // framework1 alone → all six agents; role1 has had 6 allocations
  const all = addFramework(a, 'framework1', ['role1']);
  t.is(all.length, 6);
  t.true(equals(perFramework(all).get('framework1')!, times(6)));
  t.deepEqual(addFramework(a, 'framework2', ['role2']), []);
  recoverAll(a, all);

  // agent by agent: role2 (0, count 0 < 6), role1 (0), role2 (1/6, count 1 < 7), role1, role2, role1
  const even = tick(a, SECOND);
  t.deepEqual(agentCounts(even), { framework1: 3, framework2: 3 });
  t.true(equals(perFramework(even).get('framework1')!, times(3)));
  t.true(equals(perFramework(even).get('framework2')!, times(3)));
  for (const x of even) t.true(equals(x.resources, single));
  recoverAll(a, even, SECOND);

  a.updateWeights({ role2: 2 });
  // role2's share is halved: role2 (0, count 3 < 9) 0→1/12, role1 0→1/6, role2 1/12→2/12, role2 (tie, fewer
  // allocations) 2/12→3/12, role1 1/6→2/6, role2 3/12→4/12 → role1 2 agents, role2 4
  const weighted = tick(a, 2 * SECOND);
  t.deepEqual(agentCounts(weighted), { framework1: 2, framework2: 4 });
  t.true(equals(perFramework(weighted).get('framework1')!, times(2)));
  t.true(equals(perFramework(weighted).get('framework2')!, times(4)));
  recoverAll(a, weighted, 2 * SECOND);

  a.updateWeights({ role3: 3 });
  // role3 (weight 3) 0→1/18, role2 (0, count 7 < 11) 0→1/12, role1 0→1/6, role3 1/18→2/18,
  // role2 1/12→2/12, role3 2/18→3/18 → role1 1 agent, role2 2, role3 3
  const three = addFramework(a, 'framework3', ['role3'], 2 * SECOND);
  t.deepEqual(agentCounts(three), { framework1: 1, framework2: 2, framework3: 3 });
  t.true(equals(perFramework(three).get('framework1')!, times(1)));
  t.true(equals(perFramework(three).get('framework2')!, times(2)));
  t.true(equals(perFramework(three).get('framework3')!, times(3)));
});

// ── filters ────────────────────────────────────────────────────────────────────────────────

// Mirrors HierarchicalAllocatorTest.OfferFilter (hierarchical_allocator_tests.cpp:820-899).
test('OfferFilter: a declined agent is filtered until the refusal runs out', (t) => {
  const a = allocator();
  const metric = 'allocator/mesos/offer_filters/roles/role/active';
  t.deepEqual(addFramework(a, 'framework1', ['role']), []);
  const first = addAgent(a, 'agent1', 'cpus:1;mem:512');
  // framework1 alone → all of agent1
  t.deepEqual(show(first), [offer('framework1', 'agent1', 'cpus:1;mem:512')]);
  t.is(a.metrics(0)[metric], 0);

  // decline at t=0 for two allocation intervals
  a.recoverResources('framework1', 'agent1', 'role', first[0]!.resources, 0, 2);
  t.is(a.metrics(0)[metric], 1);

  // t=1s: the filter (until t=2s) covers everything agent1 has → no offer
  t.deepEqual(tick(a, SECOND), []);
  t.is(a.metrics(SECOND)[metric], 1);

  // t=2s: the filter ran out before this tick → offered again, and no filter is left
  t.deepEqual(show(tick(a, 2 * SECOND)), [offer('framework1', 'agent1', 'cpus:1;mem:512')]);
  t.is(a.metrics(2 * SECOND)[metric], 0);
});

// Mirrors HierarchicalAllocatorTest.SmallOfferFilterTimeout (hierarchical_allocator_tests.cpp:909-1056).
test('SmallOfferFilterTimeout: a refusal shorter than the interval lasts one interval', (t) => {
  const interval = 60 * SECOND;
  const a = allocator({ allocationIntervalMs: interval });
  t.deepEqual(addFramework(a, 'framework1', ['role']), []);
  t.deepEqual(addFramework(a, 'framework2', ['role']), []);

  const used = [{ frameworkId: 'framework1', role: 'role', agentId: 'agent1', resources: R('cpus:1;mem:512') }];
  // agent1 is entirely in use by framework1 → nothing to offer
  t.deepEqual(addAgent(a, 'agent1', 'cpus:1;mem:512', { used }), []);

  // pool 2 / 1024: F1 .5 > F2 0 → F2
  const second = addAgent(a, 'agent2', 'cpus:1;mem:512');
  t.deepEqual(show(second), [offer('framework2', 'agent2', 'cpus:1;mem:512')]);

  // F2 declines for 1 s, which becomes max(1 s, 60 s) = 60 s
  a.recoverResources('framework2', 'agent2', 'role', second[0]!.resources, 0, 1);

  // tick at t=60s: it was scheduled before the filter, so the filter still holds; F2 0 < F1 .5
  // but F2 is filtered → F1
  const third = tick(a, interval);
  t.deepEqual(show(third), [offer('framework1', 'agent2', 'cpus:1;mem:512')]);

  // F1 declines without a filter; the filter of F2 was removed after the previous tick
  a.recoverResources('framework1', 'agent2', 'role', third[0]!.resources, interval + SECOND);
  // tick at t=120s: F2 0 < F1 .5 → F2
  t.deepEqual(show(tick(a, 2 * interval)), [offer('framework2', 'agent2', 'cpus:1;mem:512')]);
});

// ── suppression, activation, whitelist ─────────────────────────────────────────────────────

// Mirrors HierarchicalAllocatorTest.SuppressAndReviveOffers (hierarchical_allocator_tests.cpp:5166-5233).
test('SuppressAndReviveOffers: a suppressed framework is offered nothing until it revives', (t) => {
  const a = allocator();
  t.deepEqual(addAgent(a, 'agent1', 'cpus:2;mem:1024'), []);
  const first = addFramework(a, 'framework1', ['role1']);
  t.deepEqual(show(first), [offer('framework1', 'agent1', 'cpus:2;mem:1024')]);

  // a redundant revive runs a pass, but nothing is free
  a.reviveOffers('framework1');
  t.deepEqual(a.allocate(0), []);

  recoverAll(a, first);
  a.suppressOffers('framework1');
  t.is(a.metrics(0)['allocator/mesos/roles/role1/suppressed'], 1);
  // the only framework is suppressed → no offer
  t.deepEqual(tick(a, SECOND), []);

  a.reviveOffers('framework1');
  t.deepEqual(show(a.allocate(SECOND)), [offer('framework1', 'agent1', 'cpus:2;mem:1024')]);
});

// Mirrors HierarchicalAllocatorTest.DeactivateAndReactivateFramework (hierarchical_allocator_tests.cpp:5100-5162).
test('DeactivateAndReactivateFramework: activation keeps a suppression', (t) => {
  const a = allocator();
  t.deepEqual(addAgent(a, 'agent1', 'cpus:2;mem:1024'), []);
  const first = addFramework(a, 'framework1', ['role1']);
  t.deepEqual(show(first), [offer('framework1', 'agent1', 'cpus:2;mem:1024')]);

  recoverAll(a, first);
  a.suppressOffers('framework1');
  a.deactivateFramework('framework1');
  // inactive (and suppressed) → no offer
  t.deepEqual(tick(a, SECOND), []);

  a.activateFramework('framework1');
  // active again but still suppressed for role1 → no offer
  t.deepEqual(a.allocate(SECOND), []);

  a.reviveOffers('framework1');
  t.deepEqual(show(a.allocate(SECOND)), [offer('framework1', 'agent1', 'cpus:2;mem:1024')]);
});

// Mirrors HierarchicalAllocatorTest.Whitelist (hierarchical_allocator_tests.cpp:3454-3498).
test('Whitelist: only whitelisted hostnames are offered, from the next pass on', (t) => {
  const a = allocator();
  a.updateWhitelist(['dummy-agent']);
  t.deepEqual(addAgent(a, 'agent1', 'cpus:2;mem:1024'), []);
  t.deepEqual(addFramework(a, 'framework1', ['*']), []);
  // agent1 is not whitelisted → no offer
  t.deepEqual(tick(a, SECOND), []);

  a.updateWhitelist(['dummy-agent', 'agent1']);
  t.deepEqual(show(tick(a, 2 * SECOND)), [offer('framework1', 'agent1', 'cpus:2;mem:1024')]);
});

test('Whitelist: matches the hostname, not the agent id; no whitelist means every agent', (t) => {
  const a = allocator();
  t.deepEqual(addFramework(a, 'framework1', ['*']), []);
  a.updateWhitelist(['agent1']);
  // agent1's hostname is host1 → not whitelisted
  t.deepEqual(addAgent(a, 'agent1', 'cpus:2;mem:1024', { hostname: 'host1' }), []);
  a.updateWhitelist(['host1']);
  t.deepEqual(show(tick(a, SECOND)), [offer('framework1', 'agent1', 'cpus:2;mem:1024')]);

  a.updateWhitelist([]);
  t.deepEqual(addAgent(a, 'agent2', 'cpus:2;mem:1024', { hostname: 'host2', now: SECOND }), []);
  a.updateWhitelist(undefined);
  t.deepEqual(show(tick(a, 2 * SECOND)), [offer('framework1', 'agent2', 'cpus:2;mem:1024')]);
});

// ── quota ──────────────────────────────────────────────────────────────────────────────────

// Mirrors HierarchicalAllocatorTest.QuotaProvidesGuarantee (hierarchical_allocator_tests.cpp:3606-3730).
test('QuotaProvidesGuarantee: resources are held back for an unmet guarantee', (t) => {
  const a = allocator();
  const q = quantities({ cpus: 2, mem: 1024 });
  t.deepEqual(addFramework(a, 'framework1', ['quota-role']), []);
  a.updateQuota('quota-role', { guarantees: q, limits: q });
  t.deepEqual(addFramework(a, 'framework2', ['no-quota-role']), []);

  // quota-role is 2 cpus / 1024 mem short of its guarantee → stage 1 gives it agent1
  t.deepEqual(show(addAgent(a, 'agent1', 'cpus:1;mem:512')), [offer('framework1', 'agent1', 'cpus:1;mem:512')]);
  // still 1 cpu / 512 mem short → agent2 too, F2 (share 0) waits
  const second = addAgent(a, 'agent2', 'cpus:1;mem:512');
  t.deepEqual(show(second), [offer('framework1', 'agent2', 'cpus:1;mem:512')]);

  a.recoverResources('framework1', 'agent2', 'quota-role', second[0]!.resources, 0, 2);
  // t=1s: F1 is filtered; required headroom (2,1024) − (1,512) = (1,512) equals what is free,
  // so F2's offer shrinks to nothing → no offer at all
  t.deepEqual(tick(a, SECOND), []);
  t.true(equals(a.available('agent2'), R('cpus:1;mem:512')));

  // t=2s: the filter is gone → F1 gets agent2 again
  t.deepEqual(show(tick(a, 2 * SECOND)), [offer('framework1', 'agent2', 'cpus:1;mem:512')]);
});

// Mirrors HierarchicalAllocatorTest.QuotaProvidesLimit (hierarchical_allocator_tests.cpp:3736-3823).
// The zero limit is built as a Map: `quantities({ cpus: 0 })` drops zero amounts (see the report).
test('QuotaProvidesLimit: a role is never offered beyond its limit', (t) => {
  const a = allocator();
  t.deepEqual(addFramework(a, 'framework1', ['*']), []);
  a.updateQuota('*', {
    limits: new Map([
      ['cpus', 0],
      ['mem', 0],
      ['disk', 0],
    ]),
  });

  // limit 0 → nothing for `*`
  t.deepEqual(addAgent(a, 'agent1', 'cpus:2;mem:1024;disk:1024'), []);
  // F2 has no quota → all of agent1
  t.deepEqual(show(addFramework(a, 'framework2', ['no-quota-role'])), [offer('framework2', 'agent1', 'cpus:2;mem:1024;disk:1024')]);

  a.updateQuota('*', { limits: quantities({ cpus: 1, mem: 512, disk: 512 }) });
  // pool 4 / 2048 / 2048: `*` 0 < no-quota-role .5 → `*` first, chopped to its limit; F2 the rest
  t.deepEqual(show(addAgent(a, 'agent2', 'cpus:2;mem:1024;disk:1024')), [
    offer('framework1', 'agent2', 'cpus:1;mem:512;disk:512'),
    offer('framework2', 'agent2', 'cpus:1;mem:512;disk:512'),
  ]);
  t.is(a.metrics(0)['allocator/mesos/quota/roles/*/resources/cpus/limit'], 1);
  t.is(a.metrics(0)['allocator/mesos/quota/roles/*/resources/cpus/offered_or_allocated'], 1);
});

// Mirrors HierarchicalAllocatorTest.DRFWithQuota (hierarchical_allocator_tests.cpp:4406-4544).
test('DRFWithQuota: a satisfied quota role takes part in DRF but stays within its limit', (t) => {
  const a = allocator();
  const q = quantities({ cpus: 0.25, mem: 128 });
  a.updateQuota('quota-role', { guarantees: q, limits: q });
  t.deepEqual(addFramework(a, 'framework1', ['quota-role']), []);
  t.deepEqual(addFramework(a, 'framework2', ['no-quota-role']), []);
  const m0 = a.metrics(0);
  t.is(m0['allocator/mesos/quota/roles/quota-role/resources/cpus/guarantee'], 0.25);
  t.is(m0['allocator/mesos/quota/roles/quota-role/resources/mem/guarantee'], 128);
  t.is(m0['allocator/mesos/quota/roles/quota-role/resources/cpus/limit'], 0.25);
  t.is(m0['allocator/mesos/quota/roles/quota-role/resources/mem/limit'], 128);

  const used = [{ frameworkId: 'framework1', role: 'quota-role', agentId: 'agent1', resources: R('cpus:0.25;mem:128') }];
  // the guarantee is met by what F1 uses; pool 1 / 512: quota-role .25 > no-quota-role 0 → F2
  // gets the rest
  t.deepEqual(show(addAgent(a, 'agent1', 'cpus:1;mem:512', { used })), [offer('framework2', 'agent1', 'cpus:0.75;mem:384')]);
  const m1 = a.metrics(0);
  t.is(m1['allocator/mesos/quota/roles/quota-role/resources/cpus/offered_or_allocated'], 0.25);
  t.is(m1['allocator/mesos/quota/roles/quota-role/resources/mem/offered_or_allocated'], 128);
  t.false('allocator/mesos/quota/roles/quota-role/resources/disk/offered_or_allocated' in m1);

  // pool 2 / 1024: quota-role .125 < no-quota-role .375, but its limit leaves 0 cpus and 0 mem,
  // so its offer is empty → F2 gets all of agent2
  t.deepEqual(show(addAgent(a, 'agent2', 'cpus:1;mem:512')), [offer('framework2', 'agent2', 'cpus:1;mem:512')]);
});

// ── oversubscription ───────────────────────────────────────────────────────────────────────

// Mirrors HierarchicalAllocatorTest.OversubscribedNotAllocated (hierarchical_allocator_tests.cpp:3349-3386).
test('OversubscribedNotAllocated: revocable resources skip frameworks without the capability', (t) => {
  const a = allocator();
  t.deepEqual(addAgent(a, 'agent1', 'cpus:100;mem:100;disk:100'), []);
  t.deepEqual(show(addFramework(a, 'framework1', ['role1'])), [offer('framework1', 'agent1', 'cpus:100;mem:100;disk:100')]);

  a.updateAgent('agent1', R('cpus:100;mem:100;disk:100;cpus{REV}:10'));
  // only revocable cpus are free and framework1 cannot take them → no offer
  t.deepEqual(a.allocate(0, { agentIds: ['agent1'] }), []);
  t.true(equals(a.available('agent1'), R('cpus{REV}:10')));
});

// Mirrors HierarchicalAllocatorTest.RecoverOversubscribedResources (hierarchical_allocator_tests.cpp:3391-3448).
test('RecoverOversubscribedResources: recovered revocable resources are offered again', (t) => {
  const a = allocator();
  t.deepEqual(addAgent(a, 'agent1', 'cpus:100;mem:100;disk:100'), []);
  t.deepEqual(show(addFramework(a, 'framework1', ['role1'], 0, ['REVOCABLE_RESOURCES'])), [
    offer('framework1', 'agent1', 'cpus:100;mem:100;disk:100'),
  ]);

  a.updateAgent('agent1', R('cpus:100;mem:100;disk:100;cpus{REV}:10'));
  // the new revocable cpus, exactly
  t.deepEqual(show(a.allocate(0, { agentIds: ['agent1'] })), [offer('framework1', 'agent1', 'cpus{REV}:10')]);

  a.recoverResources('framework1', 'agent1', 'role1', R('cpus{REV}:6;cpus:2'), 0);
  t.deepEqual(show(tick(a, SECOND)), [offer('framework1', 'agent1', 'cpus{REV}:6;cpus:2')]);
});

// ── sorter policies ────────────────────────────────────────────────────────────────────────

test('random framework sorter: every agent still goes whole to exactly one framework', (t) => {
  const a = allocator({ frameworkSorter: 'random', seed: 7 });
  for (let i = 1; i <= 8; i++) t.deepEqual(addAgent(a, `agent${i}`, 'cpus:4;mem:2048;ports:[31000-31999]'), []);
  for (let i = 1; i <= 5; i++) a.addFramework(`framework${i}`, { roles: ['role'] });

  const winners = new Set<string>();
  let offers = a.allocate(0);
  for (let round = 1; round <= 10; round++) {
    // one offer per agent, of everything on it
    t.deepEqual(offers.map((x) => x.agentId).sort(), Array.from({ length: 8 }, (_, i) => `agent${i + 1}`).sort());
    for (const x of offers) {
      t.true(equals(x.resources, R('cpus:4;mem:2048;ports:[31000-31999]')));
      winners.add(x.frameworkId);
    }
    recoverAll(a, offers, round * SECOND);
    offers = tick(a, round * SECOND);
  }
  t.true(winners.size > 1);
});

test('strict priority role sorter: the heavier role is served first even with a larger share', (t) => {
  const scenario = (roleSorter: 'priority' | 'drf') => {
    const a = allocator({ roleSorter });
    a.updateWeights({ high: 2 });
    a.addFramework('framework1', { roles: ['high'] });
    a.addFramework('framework2', { roles: ['low'] });
    const used = [{ frameworkId: 'framework1', role: 'high', agentId: 'agent1', resources: R('cpus:2;mem:1024') }];
    t.deepEqual(addAgent(a, 'agent1', 'cpus:2;mem:1024', { used }), []);
    return show(addAgent(a, 'agent2', 'cpus:2;mem:1024'));
  };
  // priority: weight 2 > weight 1 decides, high's share .5 does not matter → F1
  t.deepEqual(scenario('priority'), [offer('framework1', 'agent2', 'cpus:2;mem:1024')]);
  // drf for contrast: high .5 / 2 = .25 > low 0 → F2
  t.deepEqual(scenario('drf'), [offer('framework2', 'agent2', 'cpus:2;mem:1024')]);
});

// ── requests ───────────────────────────────────────────────────────────────────────────────

test('requests: excluded agents are never offered to the framework', (t) => {
  const a = allocator();
  a.addFramework('framework1', { roles: ['role'] });
  a.requestResources('framework1', { excludedAgents: ['agent1', 'host3'] });
  // F1 alone and agent1 excluded → no offer
  t.deepEqual(addAgent(a, 'agent1', 'cpus:2;mem:1024'), []);
  t.deepEqual(tick(a, SECOND), []);
  // F1 0 = F2 0 (name first) but F1 excludes agent1 → F2
  t.deepEqual(show(addFramework(a, 'framework2', ['role'], SECOND)), [offer('framework2', 'agent1', 'cpus:2;mem:1024')]);
  // excluded by hostname → F1 skipped although F1 0 < F2 .5
  t.deepEqual(show(addAgent(a, 'agent3', 'cpus:2;mem:1024', { hostname: 'host3', now: SECOND })), [
    offer('framework2', 'agent3', 'cpus:2;mem:1024'),
  ]);
  // not excluded: F1 0 < F2 → F1
  t.deepEqual(show(addAgent(a, 'agent2', 'cpus:2;mem:1024', { now: SECOND })), [offer('framework1', 'agent2', 'cpus:2;mem:1024')]);

  a.requestResources('framework1', undefined);
  a.recoverResources('framework2', 'agent1', 'role', R('cpus:2;mem:1024'), SECOND);
  // request cleared; pool 6 / 3072: F1 (agent2) .33 = F2 (agent3) .33, allocations F1 1 < F2 2
  // → F1 may now take agent1
  t.deepEqual(show(tick(a, 2 * SECOND)), [offer('framework1', 'agent1', 'cpus:2;mem:1024')]);
});

test('requests: an agent smaller than minOffer is not offered to the framework', (t) => {
  const a = allocator();
  a.addFramework('framework1', { roles: ['role'] });
  a.requestResources('framework1', { minOffer: R('cpus:4') });
  // 2 cpus < the 4 F1 asks for → no offer
  t.deepEqual(addAgent(a, 'agent1', 'cpus:2;mem:1024'), []);
  // F1 0 = F2 0 (name first) but too small for F1 → F2
  t.deepEqual(show(addFramework(a, 'framework2', ['role'])), [offer('framework2', 'agent1', 'cpus:2;mem:1024')]);
  // 8 cpus ≥ 4; F1 0 < F2 .2 → F1
  t.deepEqual(show(addAgent(a, 'agent2', 'cpus:8;mem:4096')), [offer('framework1', 'agent2', 'cpus:8;mem:4096')]);
});

test('requests: on an agent it does not prefer, a framework is served after the others', (t) => {
  const alone = allocator();
  alone.addFramework('framework1', { roles: ['role'] });
  alone.requestResources('framework1', { preferredAgents: ['agent2'] });
  // F1 alone: a preference defers, it does not exclude → F1 gets agent1 anyway
  t.deepEqual(show(addAgent(alone, 'agent1', 'cpus:2;mem:1024')), [offer('framework1', 'agent1', 'cpus:2;mem:1024')]);

  const a = allocator();
  a.addFramework('framework1', { roles: ['role'] });
  a.addFramework('framework2', { roles: ['role'] });
  a.requestResources('framework1', { preferredAgents: ['agent2'] });
  // F1 0 = F2 0, no allocations yet, F1's name first; but F1 does not prefer agent1 → F2
  t.deepEqual(show(addAgent(a, 'agent1', 'cpus:2;mem:1024')), [offer('framework2', 'agent1', 'cpus:2;mem:1024')]);
  // agent2 is preferred by F1: normal order, F1 0 < F2 .5 → F1
  t.deepEqual(show(addAgent(a, 'agent2', 'cpus:2;mem:1024')), [offer('framework1', 'agent2', 'cpus:2;mem:1024')]);
  // F1 .33 = F2 .33, one allocation each, F1's name first; but F1 does not prefer agent3 → F2
  t.deepEqual(show(addAgent(a, 'agent3', 'cpus:2;mem:1024')), [offer('framework2', 'agent3', 'cpus:2;mem:1024')]);
});

// ── minimum allocatable size and refuse seconds ────────────────────────────────────────────

test('resources below the minimum allocatable size are not offered', (t) => {
  const a = allocator();
  a.addFramework('framework1', { roles: ['role'] });
  // 0.005 cpus < 0.01 and 16 mem < 32 → not worth an offer
  t.deepEqual(addAgent(a, 'agent1', 'cpus:0.005;mem:16'), []);
  t.deepEqual(tick(a, SECOND), []);
  // 0.01 cpus reaches the cpus alternative → offered
  t.deepEqual(show(addAgent(a, 'agent2', 'cpus:0.01;mem:16', { now: SECOND })), [offer('framework1', 'agent2', 'cpus:0.01;mem:16')]);
  // 32 mem reaches the mem alternative → offered
  t.deepEqual(show(addAgent(a, 'agent3', 'cpus:0.005;mem:32', { now: SECOND })), [offer('framework1', 'agent3', 'cpus:0.005;mem:32')]);
});

/** One framework holding all of one agent, declined at t=0 with `refuseSeconds`. */
function declined(refuseSeconds: number): HierarchicalAllocator {
  const a = allocator();
  a.addFramework('framework1', { roles: ['role'] });
  const first = addAgent(a, 'agent1', 'cpus:2;mem:1024');
  a.recoverResources('framework1', 'agent1', 'role', first[0]!.resources, 0, refuseSeconds);
  return a;
}

test('refuse seconds: a negative value means the 5 s default', (t) => {
  const a = declined(-1);
  t.deepEqual(tick(a, SECOND), []);
  t.deepEqual(tick(a, 4 * SECOND), []);
  t.deepEqual(show(tick(a, 5 * SECOND)), [offer('framework1', 'agent1', 'cpus:2;mem:1024')]);
});

test('refuse seconds: 0 means no filter at all', (t) => {
  const a = declined(0);
  t.is(a.metrics(0)['allocator/mesos/offer_filters/roles/role/active'], 0);
  t.deepEqual(show(a.allocate(0)), [offer('framework1', 'agent1', 'cpus:2;mem:1024')]);
});

test('refuse seconds: a huge value is capped at one year', (t) => {
  const year = 365 * 24 * 3600 * SECOND;
  const a = declined(1e12);
  t.deepEqual(tick(a, SECOND), []);
  t.deepEqual(tick(a, year - SECOND), []);
  t.deepEqual(show(tick(a, year)), [offer('framework1', 'agent1', 'cpus:2;mem:1024')]);
});

test('refuse seconds: a filter covers only what was declined, not more', (t) => {
  const a = allocator();
  a.addFramework('framework1', { roles: ['role'] });
  t.deepEqual(show(addAgent(a, 'agent1', 'cpus:2;mem:1024')), [offer('framework1', 'agent1', 'cpus:2;mem:1024')]);
  // decline half of it for a long time; framework1 keeps the other half
  a.recoverResources('framework1', 'agent1', 'role', R('cpus:1;mem:512'), 0, 1000);
  // what is free (1, 512) is covered by the filter → no offer
  t.deepEqual(tick(a, SECOND), []);
  a.recoverResources('framework1', 'agent1', 'role', R('cpus:1;mem:512'), SECOND);
  // now (2, 1024) is free: more than the filter covers → offered
  t.deepEqual(show(tick(a, 2 * SECOND)), [offer('framework1', 'agent1', 'cpus:2;mem:1024')]);
});

// ── regressions ───────────────────────────────────────────────────────────────────────────────

test('within one agent the DRF order holds while the pass charges frameworks', (t) => {
  const a = allocator();
  a.addFramework('F1', { roles: ['r1'] });
  a.addFramework('F2', { roles: ['r2'] });
  a.addFramework('F3', { roles: ['r3'] });
  a.updateQuota('r1', { limits: quantities({ cpus: 1, mem: 512 }) });
  // r1, r2, r3 all share 0 with no allocations → by name: r1 (capped at its limit), then r2.
  t.deepEqual(show(addAgent(a, 'agent1', 'cpus:2;mem:1024')), [offer('F1', 'agent1', 'cpus:1;mem:512'), offer('F2', 'agent1', 'cpus:1;mem:512')]);
});

test('a zero limit from quantities() means nothing, not unlimited', (t) => {
  const a = allocator();
  a.addFramework('F1', { roles: ['capped'] });
  a.updateQuota('capped', { limits: quantities({ cpus: 0, mem: 0 }) });
  t.deepEqual(show(addAgent(a, 'agent1', 'cpus:2;mem:1024')), []);
});

test('shrinking an agent below what is allocated keeps its other free resources', (t) => {
  const a = allocator();
  const [o] = addFramework(a, 'F1', ['r'], 0, ['REVOCABLE_RESOURCES']).concat(addAgent(a, 'agent1', 'cpus:4;mem:1024;cpus{REV}:10'));
  a.recoverResources('F1', 'agent1', 'r', R('cpus:4;mem:1024'), 0);
  a.updateAgent('agent1', R('cpus:4;mem:1024;cpus{REV}:5'));
  // The revocable cpus:10 held by F1 exceeds the new cpus{REV}:5, but cpus:4;mem:1024 is still free.
  t.truthy(o);
  t.deepEqual(show(tick(a, SECOND)), [offer('F1', 'agent1', 'cpus:4;mem:1024')]);
});

test('recovering resources a framework does not hold frees nothing else', (t) => {
  const a = allocator();
  a.addFramework('F1', { roles: ['r'] });
  addAgent(a, 'agent1', 'cpus:4;mem:1024');
  a.recoverResources('F1', 'agent1', 'r', R('disk:5'), 0);
  // F1 still holds all of agent1, so a second framework is offered nothing.
  t.deepEqual(show(addFramework(a, 'F2', ['r'])), []);
});

test('allocation_runs counts passes, not offers', (t) => {
  const a = allocator();
  a.addFramework('F1', { roles: ['r'] });
  for (const id of ['agent1', 'agent2', 'agent3']) a.addAgent(id, { hostname: id, total: R('cpus:1;mem:512') });
  t.is(a.allocate(0).length, 3);
  a.allocate(0);
  t.is(a.metrics(0)['allocator/mesos/allocation_runs'], 2);
});

test('a framework that leaves a role while holding resources there still counts in its share', (t) => {
  const a = allocator();
  a.addFramework('F1', { roles: ['r'] });
  addAgent(a, 'agent1', 'cpus:2;mem:1024');
  a.updateFramework('F1', { roles: ['s'] });
  a.addFramework('F2', { roles: ['r'] });
  a.addFramework('F3', { roles: ['z'] });
  // r still holds agent1: share 2/4 = .5 once agent2 joins; s and z hold nothing (0, no
  // allocations) → s before z by name, and r (F2) last.
  t.deepEqual(show(addAgent(a, 'agent2', 'cpus:2;mem:1024')), [offer('F1', 'agent2', 'cpus:2;mem:1024')]);
});

// Not a Mesos test: once most frameworks filter an agent, passes ask only the few left (a cache
// of who is left). What a framework author sees must not change: every framework gets the agent
// once, then nobody; and each way a framework becomes eligible again still reaches it.
test('many declining frameworks: each is offered the agent once, and revive, expiry and new frameworks still get it', (t) => {
  const a = allocator();
  const n = 100;
  for (let i = 0; i < n; i++) a.addFramework(`framework${i}`, { roles: ['*'] });
  a.addAgent('agent1', { hostname: 'agent1', total: R('cpus:4;mem:1024') });
  const offered: string[] = [];
  let now = 0;
  let refuseSeconds = 3600;
  const round = (): string[] => {
    now += SECOND;
    const out = tick(a, now);
    for (const o of out) {
      offered.push(o.frameworkId);
      a.recoverResources(o.frameworkId, o.agentId, o.role, o.resources, now, refuseSeconds);
    }
    return out.map((o) => o.frameworkId);
  };
  for (let r = 0; r < n - 1; r++) t.is(round().length, 1, `round ${r + 1} offers the agent to one framework`);
  // The last one declines for 5 s only.
  refuseSeconds = 5;
  const [last] = round();
  refuseSeconds = 3600;
  // Every framework got it exactly once.
  t.is(new Set(offered).size, n);
  t.deepEqual(round(), [], 'everyone filters the agent');
  a.reviveOffers('framework42');
  t.deepEqual(round(), ['framework42'], 'a revived framework is offered it again');
  t.deepEqual(round(), []);
  t.deepEqual(round(), []);
  t.deepEqual(round(), [last], 'the framework with the 5 s filter is offered it once the filter ran out');
  t.deepEqual(round(), []);
  a.addFramework('newcomer', { roles: ['*'] });
  t.deepEqual(round(), ['newcomer'], 'a new framework is offered it');
  t.deepEqual(round(), []);
});

// Not Mesos tests: filters that ended are cleared from an agent only when it is next visited or
// filtered, and filters can be dropped early (revive, agent update or removal). What a framework
// sees must stay exact.

/** An allocator where framework F1 was offered all of agent1 (`cpus:1;mem:512`) at `now` and declined it for `seconds`. */
function declinedByF1(now: number, seconds: number): HierarchicalAllocator {
  const a = allocator();
  a.addFramework('F1', { roles: ['*'] });
  const [o] = addAgent(a, 'agent1', 'cpus:1;mem:512', { now });
  a.recoverResources('F1', 'agent1', '*', o!.resources, now, seconds);
  return a;
}

test('a filter made after a revive runs out on time, even when an earlier, shorter one was dropped', (t) => {
  const a = declinedByF1(SECOND, 2);
  a.reviveOffers('F1');
  const [o] = a.allocate(SECOND);
  t.truthy(o, 'revive clears the 2 s filter');
  // A 10 s filter made at 1 s holds through the 10 s batch and is gone at the 11 s one.
  a.recoverResources('F1', 'agent1', '*', o!.resources, SECOND, 10);
  for (let now = 2 * SECOND; now <= 10 * SECOND; now += SECOND) t.deepEqual(tick(a, now), [], `nothing at ${now} ms`);
  t.deepEqual(show(tick(a, 11 * SECOND)), [offer('F1', 'agent1', 'cpus:1;mem:512')]);
});

test('a one-interval filter holds through the batch at its end, and not in a pass right after that batch', (t) => {
  const metric = 'allocator/mesos/offer_filters/roles/*/active';
  // declined at t=0 for 1 s: the filter ends at t=1s, the time of the next batch
  const a = declinedByF1(0, 1);
  // t=1s, before the batch: an event-triggered pass still finds the filter
  t.deepEqual(a.allocate(SECOND, { agentIds: ['agent1'] }), []);
  // the batch at t=1s was due before the filter was made: the filter holds through it
  t.deepEqual(tick(a, SECOND), []);
  t.is(a.metrics(SECOND)[metric], 0, 'after the batch the filter is over');
  // t=1s, after the batch: the next pass offers the agent again
  t.deepEqual(show(a.allocate(SECOND, { agentIds: ['agent1'] })), [offer('F1', 'agent1', 'cpus:1;mem:512')]);
});

test('updating an agent drops the filters on it, even when its total stays the same', (t) => {
  // a one-hour filter covers all of agent1
  const a = declinedByF1(0, 3600);
  t.deepEqual(tick(a, SECOND), []);
  a.updateAgent('agent1', R('cpus:1;mem:512'));
  // the update dropped it: offered again at the next batch
  t.deepEqual(show(tick(a, 2 * SECOND)), [offer('F1', 'agent1', 'cpus:1;mem:512')]);
});

test('an agent removed and added again under its id starts without the filters of before', (t) => {
  const a = declinedByF1(SECOND, 3);
  a.removeAgent('agent1');
  const [o] = addAgent(a, 'agent1', 'cpus:1;mem:512', { now: SECOND });
  t.truthy(o, 'the new agent is offered at once');
  a.recoverResources('F1', 'agent1', '*', o!.resources, 2 * SECOND, 5);
  // The old agent's filter would have ended at 4 s: the new one's (7 s) must still hold then.
  for (let now = 3 * SECOND; now < 7 * SECOND; now += SECOND) t.deepEqual(tick(a, now), [], `nothing at ${now} ms`);
  t.deepEqual(show(tick(a, 7 * SECOND)), [offer('F1', 'agent1', 'cpus:1;mem:512')]);
});

test('a framework holding resources in three roles on one agent gives each back separately, then all', (t) => {
  const a = allocator();
  a.addFramework('F1', { roles: ['a', 'b', 'c'] });
  const part = 'cpus:1;mem:256';
  const used = ['a', 'b', 'c'].map((role) => ({ frameworkId: 'F1', role, agentId: 'agent1', resources: R(part) }));
  a.addAgent('agent1', { hostname: 'agent1', total: R('cpus:4;mem:1024') }, used);
  t.true(equals(a.available('agent1'), R('cpus:1;mem:256')));
  // Giving back more than role b holds returns only what it holds.
  a.recoverResources('F1', 'agent1', 'b', R('cpus:2;mem:512'), 0);
  t.true(equals(a.available('agent1'), R('cpus:2;mem:512')));
  a.recoverResources('F1', 'agent1', 'b', R(part), 0);
  t.true(equals(a.available('agent1'), R('cpus:2;mem:512')), 'role b holds nothing more');
  a.recoverResources('F1', 'agent1', 'c', R('cpus:0.5'), 0);
  t.true(equals(a.available('agent1'), R('cpus:2.5;mem:512')));
  a.removeFramework('F1');
  t.true(equals(a.available('agent1'), R('cpus:4;mem:1024')));
});
