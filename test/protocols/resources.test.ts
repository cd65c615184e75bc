import test from 'ava';
import fc from 'fast-check';
import { Value } from '@sinclair/typebox/value';
import {
  ResourceError,
  ResourceParseError,
  ResourcesSchema,
  add,
  allocatableTo,
  contains,
  defaultAgentResources,
  dominantShare,
  equals,
  flatten,
  formatRanges,
  formatResources,
  isAllocatable,
  isEmpty,
  nonRevocable,
  normalize,
  parseRanges,
  parseResources,
  rangesOf,
  reservedTo,
  revocable,
  scalar,
  setOf,
  subtract,
  subtractSaturating,
  unreserved,
  type Resource,
  type Resources,
} from '../../protocols/resources.ts';

const cpus = (n: number, role?: string): Resource => ({ name: 'cpus', type: 'SCALAR', scalar: n, ...(role ? { role } : {}) });
const mem = (n: number, role?: string): Resource => ({ name: 'mem', type: 'SCALAR', scalar: n, ...(role ? { role } : {}) });
const ports = (...spans: [number, number][]): Resource => ({
  name: 'ports',
  type: 'RANGES',
  ranges: spans.map(([begin, end]) => ({ begin, end })),
});

/** Deep-freezes so any mutation inside the library throws in strict mode. */
function frozen<T>(x: T): T {
  if (x !== null && typeof x === 'object') {
    for (const v of Object.values(x)) frozen(v);
    Object.freeze(x);
  }
  return x;
}

// --- exact scalar arithmetic -------------------------------------------------------------------

test('0.1 + 0.2 is exactly 0.3', (t) => {
  // In floats 0.1 + 0.2 = 0.30000000000000004; in thousandths it is 100 + 200 = 300 → 0.3.
  const sum = add([cpus(0.1)], [cpus(0.2)]);
  t.is(scalar(sum, 'cpus'), 0.3);
  t.deepEqual(sum, [cpus(0.3)]);
  t.is(formatResources(sum), 'cpus:0.3');
});

test('1000 adds of 0.001 then 1000 subtracts return exactly to the start', (t) => {
  // Start at 1.5; +0.001 ×1000 = 1.5 + 1 = 2.5 exactly; −0.001 ×1000 = 1.5 exactly.
  let r: Resources = [cpus(1.5)];
  for (let i = 0; i < 1000; i++) r = add(r, [cpus(0.001)]);
  t.is(scalar(r, 'cpus'), 2.5);
  for (let i = 0; i < 1000; i++) r = subtract(r, [cpus(0.001)]);
  t.is(scalar(r, 'cpus'), 1.5);
  t.deepEqual(r, [cpus(1.5)]);
  // And down to nothing: 1.5 − 1.5 = 0 → the entry is dropped.
  t.deepEqual(subtract(r, [cpus(1.5)]), []);
});

test('scalars are kept to three decimals', (t) => {
  // 0.0004 rounds to 0.000 → dropped; 1.2345 rounds to 1.235 (round half up on thousandths: 1234.5 → 1235).
  t.deepEqual(normalize([cpus(0.0004)]), []);
  t.is(scalar([cpus(1.2345)], 'cpus'), 1.235);
});

// --- ranges and sets ---------------------------------------------------------------------------

test('ranges merge: [1-10,20-30] + [11-19] = [1-30]', (t) => {
  // 10 and 11 are adjacent, 19 and 20 are adjacent → one span.
  t.deepEqual(add([ports([1, 10], [20, 30])], [ports([11, 19])]), [ports([1, 30])]);
});

test('ranges normalise: unsorted and overlapping spans coalesce', (t) => {
  // [20-25],[1-5],[4-8],[9-9] → [1-9] (1-5 ∪ 4-8 = 1-8, 9 adjacent) and [20-25].
  t.deepEqual(normalize([ports([20, 25], [1, 5], [4, 8], [9, 9])]), [ports([1, 9], [20, 25])]);
});

test('subtract splits [31000-32000] − [31005-31005]', (t) => {
  // Removing the single port 31005 leaves 31000..31004 and 31006..32000.
  t.deepEqual(subtract([ports([31000, 32000])], [ports([31005, 31005])]), [ports([31000, 31004], [31006, 32000])]);
  // Removing the ends trims: [31000-32000] − [31000-31000, 32000-32000] = [31001-31999].
  t.deepEqual(subtract([ports([31000, 32000])], [ports([31000, 31000], [32000, 32000])]), [ports([31001, 31999])]);
});

test('a subtracted range spanning several spans of the minuend', (t) => {
  // [1-10,20-30,40-50] − [5-45] = [1-4] and [46-50]; this needs contains, so use the saturating form.
  t.deepEqual(subtractSaturating([ports([1, 10], [20, 30], [40, 50])], [ports([5, 45])]), [ports([1, 4], [46, 50])]);
});

test('sets: union on add, difference on subtract, unique and sorted', (t) => {
  const s = (...items: string[]): Resource => ({ name: 'names', type: 'SET', set: items });
  // {c,a} + {b,a} = {a,b,c}; minus {b} = {a,c}.
  const sum = add([s('c', 'a')], [s('b', 'a')]);
  t.deepEqual(sum, [s('a', 'b', 'c')]);
  t.deepEqual(subtract(sum, [s('b')]), [s('a', 'c')]);
  t.deepEqual(setOf(sum, 'names'), ['a', 'b', 'c']);
});

// --- contains / subtract -----------------------------------------------------------------------

test('contains with scalars, ranges, sets and roles', (t) => {
  const total = parseResources('cpus:4;mem:1024;ports:[31000-32000];names:{a,b,c};cpus(r1):2');
  t.true(contains(total, parseResources('cpus:4;ports:[31000-31010,31500-31500];names:{a,c}')));
  t.true(contains(total, parseResources('cpus(r1):2')));
  t.true(contains(total, [])); // everything contains nothing
  // 4.001 > 4 (in thousandths 4001 > 4000).
  t.false(contains(total, parseResources('cpus:4.001')));
  // 32001 lies outside [31000-32000].
  t.false(contains(total, parseResources('ports:[32000-32001]')));
  t.false(contains(total, parseResources('names:{d}')));
  // Reserved cpus(r1):2 does not cover 2.5 for r1, and never stands in for unreserved.
  t.false(contains(total, parseResources('cpus(r1):2.5')));
  t.false(contains(total, parseResources('cpus(r2):1')));
  t.false(contains(parseResources('cpus(r1):8'), parseResources('cpus:1')));
  // Revocable and non-revocable are distinct.
  t.false(contains(parseResources('cpus:8'), parseResources('cpus{REV}:1')));
});

test('subtract of uncontained resources throws ResourceError; saturating clamps', (t) => {
  const err = t.throws(() => subtract([cpus(1)], [cpus(2)]), { instanceOf: ResourceError });
  t.regex(err.message, /cpus:2/);
  t.throws(() => subtract([cpus(1)], [mem(1)]), { instanceOf: ResourceError });
  t.throws(() => subtract([ports([1, 10])], [ports([10, 11])]), { instanceOf: ResourceError });
  t.throws(() => subtract([cpus(1, 'r1')], [cpus(1)]), { instanceOf: ResourceError });
  // Saturating: cpus 1 − 2 → 0 (dropped); mem untouched; ports [1-10] − [10-11] = [1-9].
  t.deepEqual(subtractSaturating([cpus(1), mem(64), ports([1, 10])], [cpus(2), ports([10, 11])]), [mem(64), ports([1, 9])]);
});

test('equals and isEmpty compare canonical forms', (t) => {
  // Order, '*' vs absent role, split entries and zero entries do not matter.
  t.true(equals([mem(1), cpus(0.5), cpus(0.5), { ...cpus(0), name: 'gpus' }], [{ ...cpus(1), role: '*' }, mem(1)]));
  t.false(equals([cpus(1)], [cpus(1, 'r')]));
  t.true(isEmpty([]));
  t.true(isEmpty([cpus(0), ports(), { name: 's', type: 'SET', set: [] }]));
  t.false(isEmpty([cpus(0.001)]));
});

test('functions never mutate their inputs', (t) => {
  const a = frozen([ports([20, 30], [1, 10]), cpus(2), cpus(1)]);
  const b = frozen([ports([5, 5]), cpus(1)]);
  const before = JSON.stringify([a, b]);
  add(a, b);
  subtract(a, b);
  subtractSaturating(a, b);
  normalize(a);
  flatten(a);
  allocatableTo(a, 'x');
  t.is(JSON.stringify([a, b]), before);
});

test('malformed entries are rejected with ResourceError', (t) => {
  t.throws(() => normalize([cpus(-1)]), { instanceOf: ResourceError, message: /negative/ });
  t.throws(() => normalize([cpus(Number.NaN)]), { instanceOf: ResourceError });
  t.throws(() => normalize([ports([5, 1])]), { instanceOf: ResourceError, message: /begin 5 is greater than end 1/ });
  t.throws(() => normalize([{ name: 'cpus', type: 'SCALAR' }]), { instanceOf: ResourceError });
  t.throws(() => normalize([cpus(1, '/bad')]), { instanceOf: ResourceError });
});

test('normalised order is by name then role, unreserved first', (t) => {
  const r = normalize([cpus(1, 'b'), mem(2), cpus(1, 'a'), cpus(3)]);
  t.deepEqual(
    r.map((x) => `${x.name}/${x.role ?? '*'}`),
    ['cpus/*', 'cpus/a', 'cpus/b', 'mem/*'],
  );
  t.true(Value.Check(ResourcesSchema, r));
});

// --- queries -----------------------------------------------------------------------------------

test('scalar and rangesOf sum over all roles', (t) => {
  const r = parseResources('cpus:1;cpus(a):2;cpus(a/b){REV}:0.5;ports:[1-5];ports(a):[6-9]');
  // 1 + 2 + 0.5 = 3.5; [1-5] ∪ [6-9] = [1-9].
  t.is(scalar(r, 'cpus'), 3.5);
  t.is(scalar(r, 'gpus'), 0);
  t.deepEqual(rangesOf(r, 'ports'), [{ begin: 1, end: 9 }]);
  t.deepEqual(rangesOf(r, 'nope'), []);
});

test('reservations: unreserved, reservedTo, allocatableTo, flatten', (t) => {
  const r = parseResources('cpus:1;cpus(a):2;cpus(a/b):4;cpus(a/b/c):8;cpus(ab):16;mem(x):64');
  t.deepEqual(unreserved(r), [cpus(1)]);
  t.deepEqual(reservedTo(r, 'a/b'), [cpus(4, 'a/b')]);
  t.deepEqual(reservedTo(r, '*'), [cpus(1)]);
  // Role a/b may use: unreserved (1) + a (2) + a/b (4) = 7; not a/b/c (a child) nor ab (a sibling-ish name).
  const forAB = allocatableTo(r, 'a/b');
  t.deepEqual(forAB, [cpus(1), cpus(2, 'a'), cpus(4, 'a/b')]);
  t.is(scalar(forAB, 'cpus'), 7);
  // Role ab gets 1 + 16 = 17 (the 'a' reservation is not its ancestor).
  t.is(scalar(allocatableTo(r, 'ab'), 'cpus'), 17);
  // Role '*' gets only the unreserved part.
  t.deepEqual(allocatableTo(r, '*'), [cpus(1)]);
  // Flatten: all cpus 1+2+4+8+16 = 31 unreserved, mem 64 unreserved.
  t.deepEqual(flatten(r), [cpus(31), mem(64)]);
});

test('revocable and nonRevocable split the collection', (t) => {
  const r = parseResources('cpus:2;cpus{REV}:1;mem(r){REV}:10');
  t.deepEqual(revocable(r), [{ ...cpus(1), revocable: true }, { ...mem(10, 'r'), revocable: true }]);
  t.deepEqual(nonRevocable(r), [cpus(2)]);
  // Flatten keeps revocability: cpus 2 and cpus{REV} 1 stay apart.
  t.deepEqual(flatten(r), [cpus(2), { ...cpus(1), revocable: true }, { ...mem(10), revocable: true }]);
});

test('isAllocatable follows the cpus:0.01|mem:32 default', (t) => {
  t.true(isAllocatable([cpus(0.01)]));
  t.true(isAllocatable([mem(32)]));
  t.true(isAllocatable(parseResources('cpus(r):0.005;cpus:0.005'))); // 0.005 + 0.005 = 0.01
  t.false(isAllocatable([cpus(0.009), mem(31.999)]));
  t.false(isAllocatable([ports([31000, 32000])]));
  t.false(isAllocatable([]));
  t.true(isAllocatable([ports([1, 1])], {}));
  t.false(isAllocatable([cpus(4)], { gpus: 1 }));
});

test('dominantShare is the largest allocated/total ratio', (t) => {
  const total = parseResources('cpus:10;mem:1000;gpus:0;ports:[1-100]');
  // cpus 2/10 = 0.2, mem 500/1000 = 0.5 → 0.5. gpus total 0 is ignored; ranges are ignored.
  t.is(dominantShare(parseResources('cpus:2;mem:500;gpus:1;ports:[1-100]'), total), 0.5);
  // Reserved allocations count too: cpus(r) 3 + cpus 3 = 6 → 0.6 > mem 0.1.
  t.is(dominantShare(parseResources('cpus(r):3;cpus:3;mem:100'), total), 0.6);
  t.is(dominantShare([], total), 0);
  t.is(dominantShare([cpus(1)], []), 0);
});

test('defaultAgentResources follows the Mesos defaults', (t) => {
  // 8 cores, 16384 MB: mem = max(16384 − 1024, 8192) = 15360; disk default 10240; ports 31000-32000.
  t.is(formatResources(defaultAgentResources({ cpus: 8, memMb: 16384 })), 'cpus:8;disk:10240;mem:15360;ports:[31000-32000]');
  // 1536 MB: max(512, 768) = 768. Disk 8000 MB: max(2880, 4000) = 4000; 100000 MB: 94880.
  const small = defaultAgentResources({ cpus: 1, memMb: 1536, diskMb: 8000 });
  t.is(scalar(small, 'mem'), 768);
  t.is(scalar(small, 'disk'), 4000);
  t.is(scalar(defaultAgentResources({ cpus: 1, memMb: 4096, diskMb: 100000 }), 'disk'), 94880);
  t.throws(() => defaultAgentResources({ cpus: -1, memMb: 1024 }), { instanceOf: ResourceError });
});

// --- parsing -----------------------------------------------------------------------------------

test('parseResources reads Mesos flag syntax', (t) => {
  const r = parseResources(' cpus : 4 ; mem:4096;disk:10240;ports:[31000-32000];gpus:0 ; ');
  // gpus:0 is empty and dropped; order is by name.
  t.deepEqual(r, [
    cpus(4),
    { name: 'disk', type: 'SCALAR', scalar: 10240 },
    mem(4096),
    ports([31000, 32000]),
  ]);
  t.deepEqual(parseResources('ports:[1-10, 20-30]'), [ports([1, 10], [20, 30])]);
  t.deepEqual(parseResources('ports:[5-5]'), [ports([5, 5])]);
  t.deepEqual(parseResources('names:{ b, a ,c,a}'), [{ name: 'names', type: 'SET', set: ['a', 'b', 'c'] }]);
  t.deepEqual(parseResources('cpus(role1):2;cpus(a/b):1'), [cpus(1, 'a/b'), cpus(2, 'role1')]);
  t.deepEqual(parseResources(''), []);
  t.deepEqual(parseResources('   '), []);
  t.deepEqual(parseResources('mem:1e3'), [mem(1000)]);
});

test('parseResources sums duplicate names and applies the default role', (t) => {
  // 1 + 2.5 = 3.5 unreserved; explicit (*) is unreserved too.
  t.deepEqual(parseResources('cpus:1;cpus:2.5;mem(*):5'), [cpus(3.5), mem(5)]);
  // defaultRole r applies only where no role is written.
  t.deepEqual(parseResources('cpus:1;cpus(x):2;mem(*):3', 'r'), [cpus(1, 'r'), cpus(2, 'x'), mem(3)]);
});

test('parseResources accepts the JSON form', (t) => {
  const json = JSON.stringify([cpus(1), cpus(0.5), ports([1, 5]), { name: 'mem', type: 'SCALAR', scalar: 10, role: 'r' }]);
  t.deepEqual(parseResources(json), [cpus(1.5), mem(10, 'r'), ports([1, 5])]);
  t.deepEqual(parseResources(JSON.stringify([cpus(1)]), 'dflt'), [cpus(1, 'dflt')]);
  t.throws(() => parseResources('[{"name":"cpus","type":"SCALAR","scalar":-1}]'), { instanceOf: ResourceParseError });
  t.throws(() => parseResources('[{"name":"cpus","type":"FOO","scalar":1}]'), { instanceOf: ResourceParseError });
  t.throws(() => parseResources('[{"name":"p","type":"RANGES","ranges":[{"begin":5,"end":1}]}]'), {
    instanceOf: ResourceParseError,
    message: /range begin 5 is greater than end 1/,
  });
  t.throws(() => parseResources('[not json'), { instanceOf: ResourceParseError, message: /malformed JSON/ });
});

// Each bad input, with the token its error must name.
const badInputs: [input: string, token: string, reason: RegExp][] = [
  ['cpus:abc', 'cpus:abc', /value 'abc' is not a number/],
  ['mem:64;ports:[5-1]', 'ports:[5-1]', /range begin 5 is greater than end 1/],
  ['cpus:-1', 'cpus:-1', /negative/],
  ['cpus:1;foo', 'foo', /missing ':'/],
  ['cpus:NaN', 'cpus:NaN', /not a number/],
  ['cpus:Infinity', 'cpus:Infinity', /not finite/],
  ['cpus:1e400', 'cpus:1e400', /not finite/],
  ['cpus:', 'cpus:', /value is empty/],
  [':4', ':4', /name is empty/],
  ['cpus:1:2', 'cpus:1:2', /exactly one ':'/],
  ['ports:[1-2', 'ports:[1-2', /enclosed/],
  ['ports:[1-2,]', 'ports:[1-2,]', /empty range/],
  ['ports:[a-b]', 'ports:[a-b]', /'a-b' is not of the form/],
  ['ports:[5]', 'ports:[5]', /'5' is not of the form/],
  ['names:{a,b', 'names:{a,b', /enclosed/],
  ['names:{a,,b}', 'names:{a,,b}', /empty item/],
  ['cpus(r1:2', 'cpus(r1:2', /name\(role\)/],
  ['cpus(/r):2', 'cpus(/r):2', /must not start or end with '\/'/],
  ['cpus(a//b):2', 'cpus(a//b):2', /empty path component/],
  ['cpus():2', 'cpus():2', /role is empty/],
  ['cp us:2', 'cp us:2', /forbidden character/],
  ['cpus:0x10', 'cpus:0x10', /not a number/],
  ['cpus:1;cpus:[1-2]', 'cpus:[1-2]', /already given as SCALAR/],
];

for (const [input, token, reason] of badInputs) {
  test(`parse error names the token: ${JSON.stringify(input)}`, (t) => {
    const err = t.throws(() => parseResources(input), { instanceOf: ResourceParseError });
    t.is(err.name, 'ResourceParseError');
    t.is(err.token, token);
    t.true(err.message.includes(`'${token}'`), err.message);
    t.regex(err.message, reason);
  });
}

test('the documented message text', (t) => {
  t.throws(() => parseResources('cpus:abc'), { message: "invalid resource 'cpus:abc': value 'abc' is not a number" });
  t.throws(() => parseResources('ports:[5-1]'), { message: "invalid resource 'ports:[5-1]': range begin 5 is greater than end 1" });
});

test('a bad default role is rejected', (t) => {
  t.throws(() => parseResources('cpus:1', 'a//b'), { instanceOf: ResourceParseError });
});

// --- formatting --------------------------------------------------------------------------------

test('formatResources writes Mesos text', (t) => {
  t.is(formatResources(parseResources('mem:4096;cpus:4;ports:[31000-32000]')), 'cpus:4;mem:4096;ports:[31000-32000]');
  t.is(formatResources([cpus(2, 'role')]), 'cpus(role):2');
  t.is(formatResources(add([cpus(0.1)], [cpus(0.2)])), 'cpus:0.3');
  t.is(formatResources([{ ...cpus(1), revocable: true }]), 'cpus{REV}:1');
  t.is(formatResources([{ name: 'names', type: 'SET', set: ['b', 'a'] }]), 'names:{a,b}');
  t.is(formatResources([]), '');
  t.is(formatRanges([{ begin: 20, end: 30 }, { begin: 1, end: 10 }]), '[1-10,20-30]');
  t.deepEqual(parseRanges(' [1-3, 4-6] '), [{ begin: 1, end: 6 }]);
});

test('format/parse round-trip', (t) => {
  const text = 'cpus:0.125;cpus(a/b):1;cpus(r){REV}:2;disk:10240;mem:4096.5;names:{a,b};ports:[1-10,20-30]';
  t.is(formatResources(parseResources(text)), text);
  const r = parseResources(text);
  t.deepEqual(parseResources(formatResources(r)), r);
});

// --- properties --------------------------------------------------------------------------------

const ROLES = [undefined, 'r1', 'a/b'] as const;

/** A scalar: either an exact number of thousandths or an arbitrary double (rounded by the library). */
const scalarValue = fc.oneof(
  fc.integer({ min: 0, max: 10_000_000 }).map((m) => m / 1000),
  fc.double({ min: 0, max: 1e6, noNaN: true, noDefaultInfinity: true }),
);

const scalarEntry = fc.record({
  name: fc.constantFrom('cpus', 'mem', 'disk', 'gpus'),
  role: fc.constantFrom(...ROLES),
  revocable: fc.boolean(),
  scalar: scalarValue,
});

/**
 * Two resource collections a and b. Range and set items are dealt out to a or b without repeats,
 * because adding ranges or sets is a union: with overlap, (a + b) − b would lose the shared items
 * (just as in Mesos), so the identity only holds for disjoint ranges and sets.
 */
const pair = fc
  .record({
    scalarsA: fc.array(scalarEntry, { maxLength: 6 }),
    scalarsB: fc.array(scalarEntry, { maxLength: 6 }),
    ports: fc.uniqueArray(
      fc.record({ port: fc.integer({ min: 0, max: 200 }), toA: fc.boolean(), role: fc.constantFrom(...ROLES) }),
      { selector: (p) => p.port, maxLength: 40 },
    ),
    items: fc.uniqueArray(
      fc.record({ item: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'), toA: fc.boolean(), role: fc.constantFrom(...ROLES) }),
      { selector: (s) => s.item },
    ),
  })
  .map(({ scalarsA, scalarsB, ports: ps, items }) => {
    const scalarRes = (e: (typeof scalarsA)[number]): Resource => ({
      name: e.name,
      type: 'SCALAR',
      scalar: e.scalar,
      ...(e.role ? { role: e.role } : {}),
      ...(e.revocable ? { revocable: true } : {}),
    });
    const side = (toA: boolean): Resources => [
      ...(toA ? scalarsA : scalarsB).map(scalarRes),
      ...ps
        .filter((p) => p.toA === toA)
        .map((p): Resource => ({ name: 'ports', type: 'RANGES', ranges: [{ begin: p.port, end: p.port }], ...(p.role ? { role: p.role } : {}) })),
      ...items
        .filter((s) => s.toA === toA)
        .map((s): Resource => ({ name: 'names', type: 'SET', set: [s.item], ...(s.role ? { role: s.role } : {}) })),
    ];
    return { a: side(true), b: side(false) };
  });

test('property: (a + b) − b = a, a + b ⊇ a, a + b = b + a', (t) => {
  // fc.assert throws (with the shrunk counterexample) when the property fails.
  t.notThrows(() =>
    fc.assert(
      fc.property(pair, ({ a, b }) => {
        const sum = add(a, b);
        return equals(subtract(sum, b), a) && contains(sum, a) && contains(sum, b) && equals(sum, add(b, a));
      }),
      { numRuns: 300 },
    ),
  );
});

test('property: normalised results are canonical and round-trip through text', (t) => {
  // fc.assert throws (with the shrunk counterexample) when the property fails.
  t.notThrows(() =>
    fc.assert(
      fc.property(pair, ({ a, b }) => {
        const sum = add(a, b);
        // Canonical: normalising again changes nothing, and deep equality agrees with equals().
        const again = normalize(sum);
        const text = formatResources(sum);
        return (
          JSON.stringify(again) === JSON.stringify(sum) &&
          JSON.stringify(parseResources(text)) === JSON.stringify(sum) &&
          isEmpty(subtractSaturating(a, sum))
        );
      }),
      { numRuns: 200 },
    ),
  );
});
