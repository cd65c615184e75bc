/**
 * Tests for the role/framework sorter (`actors/master/allocator/sorter.ts`).
 *
 * The DRF tables follow the step-by-step expectations of Mesos' sorter tests
 * (`src/tests/sorter_tests.cpp`, cited per test); the tests themselves are written from scratch.
 * Every expected order has its shares worked out in the comment above it. Pools are in whole
 * units (`quantities` stores thousandths, which cancel in every ratio).
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { Sorter, type SorterPolicy } from '../../../../actors/master/allocator/sorter.ts';
import { quantities, type Quantities } from '../../../../actors/master/allocator/quantities.ts';
import { seededRandom } from '../../../../actors/master/allocator/hierarchical.ts';

/** `cpus` / `mem` quantities in whole units. */
const q = (cpus: number, mem: number): Quantities => quantities({ cpus, mem });

/** A sorter whose pool is `pool`. */
function sorterWith(pool: Quantities, policy: SorterPolicy = 'drf', hierarchical = false, random?: () => number): Sorter {
  const s = new Sorter(policy, hierarchical, random);
  s.addTotal(pool);
  return s;
}

/** Adds and activates `client`, with an optional weight and first allocation. */
function join(s: Sorter, client: string, alloc?: Quantities, weight?: number): void {
  if (weight !== undefined) s.updateWeight(client, weight);
  s.add(client);
  s.activate(client);
  if (alloc) s.allocated(client, alloc);
}

/** Asserts `actual` equals `expected` up to floating-point rounding. */
function near(t: ExecutionContext, actual: number, expected: number): void {
  t.true(Math.abs(actual - expected) < 1e-12, `${actual} is not ${expected}`);
}

/** The allocator's seeded PRNG (mulberry32) so the random policy is reproducible. */
const mulberry32 = seededRandom;

// ── DRF (flat) ───────────────────────────────────────────────────────────────────────────────

// Mirrors sorter_tests.cpp:239 DRFSorterTest.DRF.
test('DRF: orders by dominant share through allocation, removal, pool changes and (de)activation', (t) => {
  const s = sorterWith(q(100, 100));

  // Step 0: a pool and no clients.
  t.deepEqual(s.sort(), []);

  // Step 1.
  join(s, 'a', q(5, 5));
  join(s, 'b', q(6, 6));
  // shares: a = 5/100 = .05, b = 6/100 = .06  → a first
  t.deepEqual(s.sort(), ['a', 'b']);

  // Step 2.
  join(s, 'c', q(1, 1));
  join(s, 'd', q(3, 1));
  // shares: c = 1/100 = .01, d = max(3/100, 1/100) = .03, a = .05, b = .06
  t.deepEqual(s.sort(), ['c', 'd', 'a', 'b']);

  // Step 3: a leaves, b gives back 4/4 (now 2/2).
  s.remove('a');
  s.unallocated('b', q(4, 4));
  // shares: c = .01, b = 2/100 = .02, d = .03
  t.deepEqual(s.sort(), ['c', 'b', 'd']);

  // Step 4: e arrives; the pool shrinks to cpus 50 (agent removed and re-added smaller).
  join(s, 'e', q(1, 5));
  s.removeTotal(q(100, 100));
  s.addTotal(q(50, 100));
  // shares: c = max(1/50, 1/100) = .02, b = max(2/50, 2/100) = .04,
  //         e = max(1/50, 5/100) = .05, d = max(3/50, 1/100) = .06
  t.deepEqual(s.sort(), ['c', 'b', 'e', 'd']);

  // Step 5: mem grows to 200; f arrives; c gets 15 more mem (now cpus 1, mem 16).
  s.removeTotal(q(50, 100));
  s.addTotal(q(50, 200));
  join(s, 'f', q(5, 1));
  s.allocated('c', quantities({ mem: 15 }));
  // shares: e = max(1/50, 5/200) = .025, b = max(2/50, 2/200) = .04, d = max(3/50, 1/200) = .06,
  //         c = max(1/50, 16/200) = .08, f = max(5/50, 1/200) = .1
  t.deepEqual(s.sort(), ['e', 'b', 'd', 'c', 'f']);

  // Step 6: membership.
  t.true(s.contains('b'));
  t.false(s.contains('a'));
  t.is(s.count(), 5);
  t.is(s.activeCount(), 5);

  // Step 7: d is hidden but still counted.
  s.deactivate('d');
  t.false(s.isActive('d'));
  // shares unchanged: e .025, b .04, c .08, f .1 (d .06 hidden)
  t.deepEqual(s.sort(), ['e', 'b', 'c', 'f']);
  t.is(s.count(), 5);
  t.is(s.activeCount(), 4);

  // Step 8: d comes back at its place.
  s.activate('d');
  // shares: e .025, b .04, d .06, c .08, f .1
  t.deepEqual(s.sort(), ['e', 'b', 'd', 'c', 'f']);
  // The removed client's allocation is gone, the others are intact.
  t.deepEqual(s.allocation('a'), new Map());
  t.deepEqual(s.allocation('c'), q(1, 16));
  near(t, s.share('c'), 16 / 200);
});

// Mirrors sorter_tests.cpp:329 DRFSorterTest.WDRF.
test('WDRF: shares are divided by the weight, including fractional weights', (t) => {
  const s = sorterWith(q(100, 100));

  // Step 1.
  join(s, 'a', q(5, 5));
  join(s, 'b', q(6, 6), 2);
  // shares: a = 5/100 = .05, b = (6/100)/2 = .03  → b first
  t.deepEqual(s.sort(), ['b', 'a']);

  // Step 2.
  join(s, 'c', q(4, 4));
  // shares: b = .03, c = 4/100 = .04, a = .05
  t.deepEqual(s.sort(), ['b', 'c', 'a']);

  // Step 3.
  join(s, 'd', q(10, 20), 10);
  // shares: d = max(10/100, 20/100)/10 = .02, b = .03, c = .04, a = .05
  t.deepEqual(s.sort(), ['d', 'b', 'c', 'a']);

  // Step 4.
  s.remove('b');
  // shares: d = .02, c = .04, a = .05
  t.deepEqual(s.sort(), ['d', 'c', 'a']);

  // Step 5: d now holds cpus 20, mem 45.
  s.allocated('d', q(10, 25));
  // shares: c = .04, d = max(20/100, 45/100)/10 = .045, a = .05
  t.deepEqual(s.sort(), ['c', 'd', 'a']);

  // Step 6: a weight below one makes a small allocation expensive.
  join(s, 'e', q(1, 1), 0.1);
  // shares: c = .04, d = .045, a = .05, e = (1/100)/0.1 = .1
  t.deepEqual(s.sort(), ['c', 'd', 'a', 'e']);
  near(t, s.share('e'), 0.1);

  // Step 7.
  s.remove('a');
  // shares: c = .04, d = .045, e = .1
  t.deepEqual(s.sort(), ['c', 'd', 'e']);
});

// Mirrors sorter_tests.cpp:389 DRFSorterTest.UpdateWeight.
test('UpdateWeight: a new weight re-sorts on the next visit', (t) => {
  const s = sorterWith(q(100, 100));
  join(s, 'a', q(5, 5));
  join(s, 'b', q(6, 6));
  // shares: a = .05, b = .06
  t.deepEqual(s.sort(), ['a', 'b']);

  s.updateWeight('b', 2);
  t.is(s.weight('b'), 2);
  // shares: a = .05, b = .06/2 = .03
  t.deepEqual(s.sort(), ['b', 'a']);

  // Back to the default weight.
  s.updateWeight('b', 1);
  t.is(s.weight('b'), 1);
  // shares: a = .05, b = .06
  t.deepEqual(s.sort(), ['a', 'b']);

  // A weight may be set before the client exists.
  s.updateWeight('c', 4);
  join(s, 'c', q(16, 16));
  // shares: c = (16/100)/4 = .04, a = .05, b = .06
  t.deepEqual(s.sort(), ['c', 'a', 'b']);
});

// Mirrors sorter_tests.cpp:419 DRFSorterTest.AllocationCountTieBreak.
test('AllocationCountTieBreak: equal shares order by allocation count, then name', (t) => {
  const s = sorterWith(q(100, 100));
  for (const c of ['a', 'b', 'c', 'd', 'e']) s.add(c);
  for (const c of ['a', 'b', 'c', 'd', 'e']) s.activate(c);
  s.allocated('a', q(3, 3));
  s.allocated('b', q(3, 3));
  s.allocated('c', q(1, 1));
  s.allocated('c', q(1, 1));
  s.allocated('c', q(1, 1));
  s.allocated('d', q(2, 2));
  s.allocated('d', q(1, 1));
  s.allocated('e', q(3, 3));

  // Step 1. shares: all 3/100 = .03; counts: a 1, b 1, e 1, d 2, c 3 (a < b < e by name)
  t.deepEqual(s.sort(), ['a', 'b', 'e', 'd', 'c']);

  // Step 2: c gives everything back; its count stays 3 but its share drops.
  s.unallocated('c', q(3, 3));
  // shares: c = 0, others .03 (counts a 1, b 1, e 1, d 2)
  t.deepEqual(s.sort(), ['c', 'a', 'b', 'e', 'd']);

  // Step 3: c takes 3/3 again → count 4.
  s.allocated('c', q(3, 3));
  // shares: all .03; counts a 1, b 1, e 1, d 2, c 4
  t.deepEqual(s.sort(), ['a', 'b', 'e', 'd', 'c']);

  // Step 4: deactivation does not reset the count.
  s.deactivate('c');
  s.activate('c');
  // shares: all .03; counts a 1, b 1, e 1, d 2, c 4
  t.deepEqual(s.sort(), ['a', 'b', 'e', 'd', 'c']);

  // Step 5: unallocate does not lower the count; allocate raises it → count 5.
  s.unallocated('c', q(3, 3));
  s.allocated('c', q(3, 3));
  // shares: all .03; counts a 1, b 1, e 1, d 2, c 5
  t.deepEqual(s.sort(), ['a', 'b', 'e', 'd', 'c']);

  // Step 6: allocating to an inactive client counts too (a: count 2).
  s.deactivate('a');
  s.unallocated('a', q(1, 3));
  s.allocated('a', q(1, 3));
  // shares: all .03 (a hidden); counts b 1, e 1, d 2, c 5
  t.deepEqual(s.sort(), ['b', 'e', 'd', 'c']);

  // Step 7.
  s.activate('a');
  // shares: all .03; counts b 1, e 1, a 2, d 2, c 5 (a < d by name)
  t.deepEqual(s.sort(), ['b', 'e', 'a', 'd', 'c']);
});

test('DRF: names tie-break in plain lexicographic order', (t) => {
  const s = sorterWith(q(100, 100));
  for (const c of ['framework2', 'framework10', 'framework1']) join(s, c);
  // shares: all 0, counts all 0 → by name, '1' < '10' < '2'
  t.deepEqual(s.sort(), ['framework1', 'framework10', 'framework2']);
});

test('DRF: clients start inactive and unknown clients are ignored', (t) => {
  const s = sorterWith(q(100, 100));
  s.add('a');
  t.true(s.contains('a'));
  t.false(s.isActive('a'));
  t.deepEqual(s.sort(), []);
  // Unknown clients: every call is a no-op.
  s.allocated('zz', q(1, 1));
  s.unallocated('zz', q(1, 1));
  s.activate('zz');
  s.deactivate('zz');
  s.remove('zz');
  near(t, s.share('zz'), 0);
  t.deepEqual(s.allocation('zz'), new Map());
  t.false(s.isActive('zz'));
  t.is(s.count(), 1);
  // Adding twice keeps the first client (and its allocation).
  s.allocated('a', q(7, 7));
  s.add('a');
  t.deepEqual(s.allocation('a'), q(7, 7));
  s.activate('a');
  t.deepEqual(s.sort(), ['a']);
});

test('DRF: resources missing from the pool do not count towards a share', (t) => {
  const s = sorterWith(q(100, 100));
  join(s, 'a', quantities({ cpus: 10, gpus: 1 }));
  join(s, 'b', q(5, 5));
  // shares: a = 10/100 = .1 (gpus has no pool total), b = .05
  t.deepEqual(s.sort(), ['b', 'a']);
  near(t, s.share('a'), 0.1);
  s.addTotal(quantities({ gpus: 2 }));
  // shares: a = max(10/100, 1/2) = .5, b = .05
  near(t, s.share('a'), 0.5);
  t.deepEqual(s.sort(), ['b', 'a']);
});

// ── Hierarchical DRF ─────────────────────────────────────────────────────────────────────────

// Mirrors hierarchical_allocator_tests.cpp:704 NestedRoleDRF (at the sorter level).
test('hierarchical: sibling subtrees are ordered by their subtree share', (t) => {
  const s = sorterWith(q(2, 1024), 'drf', true);
  join(s, 'a/b', q(2, 1024));
  // subtree a = 1
  t.deepEqual(s.sort(), ['a/b']);

  join(s, 'a/c');
  join(s, 'd/e');
  s.addTotal(q(1, 512));
  // pool 3 / 1536. subtrees: a = max(2/3, 1024/1536) = .67, d = 0 → all of d before any of a,
  // even though a/c (0) is as poor as d/e (0). Inside a: a/c 0 < a/b .67
  t.deepEqual(s.sort(), ['d/e', 'a/c', 'a/b']);

  s.allocated('d/e', q(1, 512));
  // subtrees: d = 1/3 = .33 < a = .67
  t.deepEqual(s.sort(), ['d/e', 'a/c', 'a/b']);

  join(s, 'd/f');
  s.addTotal(q(2, 1024));
  // pool 5 / 2560. subtrees: d = 1/5 = .2 < a = 2/5 = .4. Inside d: d/f 0 < d/e .2
  t.deepEqual(s.sort(), ['d/f', 'd/e', 'a/c', 'a/b']);

  s.allocated('d/f', q(2, 1024));
  // subtrees: a = .4 < d = 3/5 = .6. Inside a: a/c 0 < a/b .4; inside d: d/e .2 < d/f .4
  t.deepEqual(s.sort(), ['a/c', 'a/b', 'd/e', 'd/f']);
  near(t, s.share('d/f'), 0.4);
});

test('hierarchical: the weight of a parent role scales its whole subtree', (t) => {
  const s = sorterWith(q(100, 100), 'drf', true);
  join(s, 'a/b', q(30, 30));
  join(s, 'x', q(20, 20));
  // subtrees: x = .2 < a = .3
  t.deepEqual(s.sort(), ['x', 'a/b']);
  s.updateWeight('a', 2);
  // subtrees: a = .3/2 = .15 < x = .2
  t.deepEqual(s.sort(), ['a/b', 'x']);
  // The leaf's own share is unaffected by its parent's weight.
  near(t, s.share('a/b'), 0.3);
});

test('hierarchical: a client with subroles lives in a virtual leaf beside them', (t) => {
  for (const order of [
    ['a', 'a/b'],
    ['a/b', 'a'],
  ]) {
    const s = sorterWith(q(100, 100), 'drf', true);
    join(s, order[0]!);
    join(s, order[1]!);
    s.allocated('a', q(10, 10));
    s.allocated('a/b', q(5, 5));
    join(s, 'x', q(20, 20));
    // subtrees: a = (10+5)/100 = .15 < x = .2. Inside a: a/b .05 < a (virtual leaf) .1
    t.deepEqual(s.sort(), ['a/b', 'a', 'x'], `added ${order.join(' then ')}`);
    t.is(s.count(), 3);

    // The role weight applies to the subtree a, not to the virtual leaf.
    s.updateWeight('a', 2);
    near(t, s.share('a'), 0.1);
    // subtrees: a = .15/2 = .075 < x = .2
    t.deepEqual(s.sort(), ['a/b', 'a', 'x']);

    s.allocated('a/b', q(10, 10));
    // subtrees: a = (10+15)/100/2 = .125 < x = .2. Inside a: a (virtual) .1 < a/b .15
    t.deepEqual(s.sort(), ['a', 'a/b', 'x']);

    // Hiding the virtual leaf leaves its subroles visible.
    s.deactivate('a');
    t.deepEqual(s.sort(), ['a/b', 'x']);
    s.activate('a');
    t.deepEqual(s.sort(), ['a', 'a/b', 'x']);
  }
});

test('hierarchical: removal subtracts from the ancestors and prunes empty roles', (t) => {
  const s = sorterWith(q(100, 100), 'drf', true);
  s.updateWeight('a', 2);
  join(s, 'a');
  join(s, 'a/b', q(50, 50));
  join(s, 'a/c');
  s.allocated('a', q(10, 10));
  join(s, 'x', q(20, 20));
  // subtrees: x = .2 < a = (10+50)/100/2 = .3
  t.deepEqual(s.sort(), ['x', 'a/c', 'a', 'a/b']);
  // The virtual leaf has weight 1.
  near(t, s.share('a'), 0.1);

  s.remove('a/b');
  // a/b's 50/50 leaves subtree a: a = 10/100/2 = .05 < x = .2. Inside a: a/c 0 < a .1
  t.deepEqual(s.sort(), ['a/c', 'a', 'x']);
  t.is(s.count(), 3);

  s.remove('a/c');
  // a is a plain leaf again and now carries the weight of role a: 10/100/2 = .05
  near(t, s.share('a'), 0.05);
  t.deepEqual(s.sort(), ['a', 'x']);
  t.is(s.count(), 2);

  // The leaf can gain subroles again; its allocation moves into the new role node.
  join(s, 'a/d', q(40, 40));
  // subtrees: x = .2 < a = (10+40)/100/2 = .25. Inside a: a (virtual) .1 < a/d .4
  t.deepEqual(s.sort(), ['x', 'a', 'a/d']);
  near(t, s.share('a'), 0.1);

  // Removing every client of a deep role removes the role.
  join(s, 'p/q/r', q(1, 1));
  join(s, 'p/q/s');
  // subtrees: p = 1/100 = .01, x = .2, a = .25
  t.deepEqual(s.sort(), ['p/q/s', 'p/q/r', 'x', 'a', 'a/d']);
  s.remove('p/q/r');
  s.remove('p/q/s');
  t.deepEqual(s.sort(), ['x', 'a', 'a/d']);
  // `p` is a plain leaf now, not a role with a stale subtree.
  join(s, 'p', q(30, 30));
  s.updateWeight('p', 3);
  near(t, s.share('p'), 0.1);
  // subtrees: p = .3/3 = .1 < x = .2 < a = .25
  t.deepEqual(s.sort(), ['p', 'x', 'a', 'a/d']);
  t.is(s.count(), 4);
});

test('hierarchical: an inactive client still counts towards its role', (t) => {
  const s = sorterWith(q(100, 100), 'drf', true);
  join(s, 'a/b', q(30, 30));
  join(s, 'a/c');
  join(s, 'x', q(20, 20));
  s.deactivate('a/b');
  // subtrees: x = .2 < a = .3 (a/b hidden but still charged to a)
  t.deepEqual(s.sort(), ['x', 'a/c']);
  // Allocating to the hidden client still moves its role.
  s.unallocated('a/b', q(25, 25));
  // subtrees: a = .05 < x = .2
  t.deepEqual(s.sort(), ['a/c', 'x']);
});

// ── visit ────────────────────────────────────────────────────────────────────────────────────

test('visit stops at the first client the callback accepts', (t) => {
  const s = sorterWith(q(100, 100));
  for (const [c, n] of [
    ['a', 1],
    ['b', 2],
    ['c', 3],
    ['d', 4],
    ['e', 5],
  ] as const) {
    join(s, c, q(n, n));
  }
  const seen: string[] = [];
  t.true(s.visit((c) => (seen.push(c), c === 'c')));
  t.deepEqual(seen, ['a', 'b', 'c']);

  let calls = 0;
  t.false(
    s.visit(() => {
      calls++;
      return false;
    }),
  );
  t.is(calls, 5);
});

test('visit stops inside a nested role', (t) => {
  const s = sorterWith(q(100, 100), 'drf', true);
  join(s, 'a/b/c', q(1, 1));
  join(s, 'a/b/d', q(2, 2));
  join(s, 'e', q(50, 50));
  // subtrees: a = .03 < e = .5; inside a/b: c .01 < d .02
  const seen: string[] = [];
  t.true(s.visit((c) => (seen.push(c), c === 'a/b/d')));
  t.deepEqual(seen, ['a/b/c', 'a/b/d']);
});

// ── priority ─────────────────────────────────────────────────────────────────────────────────

test('priority: a higher weight is always first; DRF among equal weights', (t) => {
  const s = sorterWith(q(100, 100), 'priority');
  join(s, 'low', undefined, 1);
  join(s, 'mid1', q(10, 10), 2);
  join(s, 'mid2', q(5, 5), 2);
  join(s, 'top', q(100, 100), 3);
  // weights: top 3 > mid 2 > low 1, whatever the shares (top holds the whole pool).
  // Among the weight-2 clients: mid2 = .05 < mid1 = .1 (weights do not divide shares here)
  t.deepEqual(s.sort(), ['top', 'mid2', 'mid1', 'low']);

  s.allocated('mid2', q(10, 10));
  // mid2 = .15 > mid1 = .1
  t.deepEqual(s.sort(), ['top', 'mid1', 'mid2', 'low']);

  s.unallocated('top', q(100, 100));
  s.updateWeight('low', 5);
  // low now outranks everyone at share 0: low 5 > top 3 > mid1 .1 / mid2 .15
  t.deepEqual(s.sort(), ['low', 'top', 'mid1', 'mid2']);

  // Equal weights, equal shares: allocation count, then name.
  join(s, 'mid0', q(10, 10), 2);
  // mid0 and mid1 both .1, both count 1 → by name
  t.deepEqual(s.sort(), ['low', 'top', 'mid0', 'mid1', 'mid2']);
});

// ── random ───────────────────────────────────────────────────────────────────────────────────

test('random: every active client exactly once per visit, inactive ones never', (t) => {
  const s = sorterWith(q(100, 100), 'random', false, mulberry32(42));
  for (const c of ['a', 'b', 'c', 'd', 'e']) join(s, c, q(1, 1));
  s.add('hidden');
  s.deactivate('e');
  const orders = new Set<string>();
  for (let i = 0; i < 500; i++) {
    const order = s.sort();
    t.deepEqual([...order].sort(), ['a', 'b', 'c', 'd']);
    orders.add(order.join(','));
  }
  // It really shuffles: 4! = 24 orders exist, 500 draws meet most of them.
  t.true(orders.size > 12, `only ${orders.size} distinct orders`);
});

test('random: a weight-3 client comes first about three times as often as a weight-1 client', (t) => {
  const s = sorterWith(q(100, 100), 'random', false, mulberry32(7));
  // Allocations are ignored by the random policy: give the heavy client the whole pool.
  join(s, 'heavy', q(100, 100), 3);
  join(s, 'light', undefined, 1);
  let heavyFirst = 0;
  const runs = 4000;
  for (let i = 0; i < runs; i++) if (s.sort()[0] === 'heavy') heavyFirst++;
  // P(heavy first) = 3 / (3 + 1) = .75, so heavy : light ≈ 3 : 1 (std dev of the count ≈ 27).
  const ratio = heavyFirst / (runs - heavyFirst);
  t.true(ratio > 2.5 && ratio < 3.6, `ratio ${ratio}`);
});

test('random: in a role tree, the first client is drawn by relative weight', (t) => {
  const s = sorterWith(q(100, 100), 'random', true, mulberry32(1));
  for (const c of ['a/b', 'a/c', 'a/d', 'e']) join(s, c);
  join(s, 'f/g');
  s.deactivate('f/g');
  const firsts = new Map<string, number>();
  const runs = 3000;
  for (let i = 0; i < runs; i++) {
    const order = s.sort();
    t.deepEqual([...order].sort(), ['a/b', 'a/c', 'a/d', 'e']);
    firsts.set(order[0]!, (firsts.get(order[0]!) ?? 0) + 1);
  }
  // Relative weights (role f has no active client and does not count):
  //   Rw(a) = 1/(1+1) = .5, Rw(e) = .5; Rw(a/b) = Rw(a/c) = Rw(a/d) = .5 · 1/3 ≈ .167.
  // A shuffle of the leaves that ignored the roles would give each of the four .25.
  const frac = (c: string) => (firsts.get(c) ?? 0) / runs;
  t.true(frac('e') > 0.45 && frac('e') < 0.55, `e first ${frac('e')}`);
  for (const c of ['a/b', 'a/c', 'a/d']) t.true(frac(c) > 0.13 && frac(c) < 0.21, `${c} first ${frac(c)}`);
});

// ── Incremental order against a from-scratch reference ───────────────────────────────────────

type Op =
  | { kind: 'add' | 'remove' | 'activate' | 'deactivate'; client: string }
  | { kind: 'allocated' | 'unallocated'; client: string; cpus: number; mem: number }
  | { kind: 'addTotal'; cpus: number; mem: number }
  | { kind: 'weight'; path: string; weight: number }
  | { kind: 'check' };

interface ModelClient {
  active: boolean;
  alloc: Map<string, number>;
  count: number;
}

/**
 * A from-scratch model of the sorter: it keeps only the per-client state and derives the order
 * on demand (share = max(alloc/total) / weight, then allocation count, then path), building the
 * role tree anew for every query.
 */
class Model {
  readonly clients = new Map<string, ModelClient>();
  /** Allocation counts of role nodes (they outlive removed clients while the role exists). */
  readonly roleCounts = new Map<string, number>();
  readonly weights = new Map<string, number>();
  readonly total = new Map<string, number>();

  constructor(
    readonly hierarchical: boolean,
    readonly policy: 'drf' | 'priority' = 'drf',
  ) {}

  /** The roles above `client`, outermost first (none in a flat sorter). */
  ancestors(client: string): string[] {
    if (!this.hierarchical) return [];
    const parts = client.split('/');
    return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
  }

  isRole(path: string): boolean {
    for (const c of this.clients.keys()) if (this.hierarchical && c.startsWith(`${path}/`)) return true;
    return false;
  }

  apply(op: Op): void {
    switch (op.kind) {
      case 'add':
        if (this.clients.has(op.client)) return;
        for (const r of this.ancestors(op.client)) {
          // A new role node inherits the count of the client it replaces, if any.
          if (!this.isRole(r)) this.roleCounts.set(r, this.clients.get(r)?.count ?? 0);
        }
        this.clients.set(op.client, { active: false, alloc: new Map(), count: 0 });
        return;
      case 'remove':
        if (!this.clients.delete(op.client)) return;
        for (const r of this.ancestors(op.client)) if (!this.isRole(r)) this.roleCounts.delete(r);
        return;
      case 'activate':
      case 'deactivate': {
        const c = this.clients.get(op.client);
        if (c) c.active = op.kind === 'activate';
        return;
      }
      case 'allocated': {
        const c = this.clients.get(op.client);
        if (!c) return;
        add(c.alloc, 'cpus', op.cpus * 1000);
        add(c.alloc, 'mem', op.mem * 1000);
        c.count++;
        // Every role above the client counts the allocation, including the role of its own name
        // when the client sits in a virtual leaf (`a` beside `a/b`).
        const roles = this.ancestors(op.client);
        if (this.isRole(op.client)) roles.push(op.client);
        for (const r of roles) this.roleCounts.set(r, this.roleCounts.get(r)! + 1);
        return;
      }
      case 'unallocated': {
        const c = this.clients.get(op.client);
        if (!c) return;
        add(c.alloc, 'cpus', -op.cpus * 1000);
        add(c.alloc, 'mem', -op.mem * 1000);
        return;
      }
      case 'addTotal':
        add(this.total, 'cpus', op.cpus * 1000);
        add(this.total, 'mem', op.mem * 1000);
        return;
      case 'weight':
        this.weights.set(op.path, op.weight);
        return;
      case 'check':
        return;
    }
  }

  /** Clamps an unallocation to what the client holds (the sorter's callers never overdraw). */
  clamp(op: Op): Op {
    if (op.kind !== 'unallocated') return op;
    const alloc = this.clients.get(op.client)?.alloc;
    return {
      ...op,
      cpus: Math.min(op.cpus, (alloc?.get('cpus') ?? 0) / 1000),
      mem: Math.min(op.mem, (alloc?.get('mem') ?? 0) / 1000),
    };
  }

  share(alloc: Map<string, number>, weight: number): number {
    let max = 0;
    for (const [name, total] of this.total) {
      if (total <= 0) continue;
      const f = (alloc.get(name) ?? 0) / total;
      if (f > max) max = f;
    }
    return this.policy === 'priority' ? max : max / weight;
  }

  /** The expected visiting order, computed from scratch. */
  order(): string[] {
    interface Entry {
      path: string;
      share: number;
      weight: number;
      count: number;
      /** The client, for leaves; undefined for a role. */
      client?: string;
    }
    const parentOf = (path: string) => (this.hierarchical && path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '');
    const roles = new Set<string>();
    for (const c of this.clients.keys()) for (const r of this.ancestors(c)) roles.add(r);
    const level = (parent: string): string[] => {
      const entries: Entry[] = [];
      for (const r of roles) {
        if (parentOf(r) !== parent) continue;
        const alloc = new Map<string, number>();
        for (const [c, m] of this.clients) {
          if (c === r || c.startsWith(`${r}/`)) for (const [k, v] of m.alloc) add(alloc, k, v);
        }
        const weight = this.weights.get(r) ?? 1;
        entries.push({ path: r, weight, share: this.share(alloc, weight), count: this.roleCounts.get(r)! });
      }
      for (const [c, m] of this.clients) {
        if (!m.active) continue;
        const virtual = roles.has(c);
        const leafParent = virtual ? c : parentOf(c);
        if (leafParent !== parent) continue;
        const weight = virtual ? 1 : (this.weights.get(c) ?? 1);
        const path = virtual ? `${c}/.` : c;
        entries.push({ path, client: c, weight, share: this.share(m.alloc, weight), count: m.count });
      }
      const byWeight = (a: Entry, b: Entry) => (this.policy === 'priority' ? b.weight - a.weight : 0);
      entries.sort(
        (a, b) =>
          byWeight(a, b) ||
          a.share - b.share ||
          a.count - b.count ||
          (a.path < b.path ? -1 : a.path > b.path ? 1 : 0),
      );
      return entries.flatMap((e) => (e.client !== undefined ? [e.client] : level(e.path)));
    };
    return level('');
  }
}

function add(m: Map<string, number>, k: string, v: number): void {
  const n = (m.get(k) ?? 0) + v;
  if (n === 0) m.delete(k);
  else m.set(k, n);
}

function runOnSorter(s: Sorter, op: Op): void {
  switch (op.kind) {
    case 'add':
      return s.add(op.client);
    case 'remove':
      return s.remove(op.client);
    case 'activate':
      return s.activate(op.client);
    case 'deactivate':
      return s.deactivate(op.client);
    case 'allocated':
      return s.allocated(op.client, q(op.cpus, op.mem));
    case 'unallocated':
      return s.unallocated(op.client, q(op.cpus, op.mem));
    case 'addTotal':
      return s.addTotal(q(op.cpus, op.mem));
    case 'weight':
      return s.updateWeight(op.path, op.weight);
    case 'check':
      return;
  }
}

function opArb(clients: string[], paths: string[], withStructure: boolean): fc.Arbitrary<Op> {
  const client = fc.constantFrom(...clients);
  const amount = fc.integer({ min: 0, max: 12 });
  const arbs: fc.WeightedArbitrary<Op>[] = [
    { weight: 3, arbitrary: client.map((c): Op => ({ kind: 'add', client: c })) },
    { weight: 3, arbitrary: client.map((c): Op => ({ kind: 'activate', client: c })) },
    { weight: 2, arbitrary: client.map((c): Op => ({ kind: 'deactivate', client: c })) },
    {
      weight: 6,
      arbitrary: fc.record({ client, cpus: amount, mem: amount }).map((r): Op => ({ kind: 'allocated', ...r })),
    },
    {
      weight: 4,
      arbitrary: fc.record({ client, cpus: amount, mem: amount }).map((r): Op => ({ kind: 'unallocated', ...r })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({ cpus: fc.integer({ min: 0, max: 30 }), mem: fc.integer({ min: 0, max: 30 }) })
        .map((r): Op => ({ kind: 'addTotal', ...r })),
    },
    { weight: 4, arbitrary: fc.constant<Op>({ kind: 'check' }) },
  ];
  if (withStructure) {
    arbs.push(
      { weight: 1, arbitrary: client.map((c): Op => ({ kind: 'remove', client: c })) },
      {
        weight: 1,
        arbitrary: fc
          .record({ path: fc.constantFrom(...paths), weight: fc.constantFrom(0.1, 0.5, 1, 2, 3) })
          .map((r): Op => ({ kind: 'weight', ...r })),
      },
    );
  }
  return fc.oneof(...arbs);
}

/** Runs `ops` on a sorter and the model, comparing the orders at every `check` and at the end. */
function agrees(hierarchical: boolean, ops: Op[], policy: 'drf' | 'priority' = 'drf'): boolean {
  const s = new Sorter(policy, hierarchical);
  const m = new Model(hierarchical, policy);
  const pool: Op = { kind: 'addTotal', cpus: 20, mem: 20 };
  runOnSorter(s, pool);
  m.apply(pool);
  for (const raw of ops) {
    const op = m.clamp(raw);
    runOnSorter(s, op);
    m.apply(op);
    if (op.kind === 'check') {
      const expected = m.order();
      const actual = s.sort();
      if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        throw new Error(`sort() = ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
      }
    }
  }
  const expected = m.order();
  const actual = s.sort();
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(`sort() = ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
  }
  return true;
}

test('property: the incremental order equals a from-scratch DRF order (flat)', (t) => {
  const clients = ['a', 'b', 'c', 'd', 'e'];
  // fc.assert throws (with the shrunk counterexample) when the property fails.
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(opArb(clients, clients, false), { maxLength: 60, size: 'max' }), (ops) => agrees(false, ops)),
      { numRuns: 400 },
    ),
  );
});

test('property: the incremental order equals a from-scratch DRF order (flat, with remove and weights)', (t) => {
  const clients = ['a', 'b', 'c', 'd', 'e'];
  // fc.assert throws (with the shrunk counterexample) when the property fails.
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(opArb(clients, clients, true), { maxLength: 60, size: 'max' }), (ops) => agrees(false, ops)),
      { numRuns: 300 },
    ),
  );
});

test('property: the incremental order equals a from-scratch hierarchical DRF order', (t) => {
  const clients = ['a', 'a/b', 'a/c', 'a/b/x', 'd/e', 'd/f', 'd', 'g'];
  const paths = ['a', 'a/b', 'a/c', 'a/b/x', 'd', 'd/e', 'g'];
  // fc.assert throws (with the shrunk counterexample) when the property fails.
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(opArb(clients, paths, true), { maxLength: 60, size: 'max' }), (ops) => agrees(true, ops)),
      { numRuns: 400 },
    ),
  );
});

test('property: the incremental order equals a from-scratch priority order', (t) => {
  const flat = ['a', 'b', 'c', 'd', 'e'];
  const nested = ['a', 'a/b', 'a/c', 'd/e', 'd'];
  // fc.assert throws (with the shrunk counterexample) when the property fails.
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(opArb(flat, flat, true), { maxLength: 60, size: 'max' }), (ops) => agrees(false, ops, 'priority')),
      { numRuns: 200 },
    ),
  );
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(opArb(nested, ['a', 'a/b', 'd', 'd/e'], true), { maxLength: 60, size: 'max' }), (ops) =>
        agrees(true, ops, 'priority'),
      ),
      { numRuns: 200 },
    ),
  );
});
