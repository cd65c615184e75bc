/**
 * The sorted list under the sorters: random inserts, removes and key changes (through `find`,
 * then `settle` once the key has changed, as the sorter repositions a client) against a plain
 * array sorted after every step. Sizes go past several blocks, so splitting, emptying and the
 * neighbour check across block edges are all exercised. Seeds are fixed.
 */
import test from 'ava';
import fc from 'fast-check';
import { SortedList } from '../../../../actors/master/allocator/sorted-list.ts';

/** An item with a changeable key; the id breaks ties, so the order is total. */
interface Item {
  id: number;
  key: number;
}

const byKey = (a: Item, b: Item): number => (a.key !== b.key ? (a.key < b.key ? -1 : 1) : a.id - b.id);

type Op = { kind: 'insert'; key: number } | { kind: 'remove'; pick: number } | { kind: 'rekey'; pick: number; key: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('insert' as const), key: fc.integer({ min: 0, max: 50 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('rekey' as const), pick: fc.nat(), key: fc.integer({ min: 0, max: 50 }) }) },
);

test('inserts, removes and key changes settled in place keep the list in order and complete', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 800 }), (ops) => {
        const list = new SortedList<Item>(byKey);
        const model: Item[] = [];
        let nextId = 0;
        for (const o of ops) {
          if (o.kind === 'insert') {
            const x = { id: nextId++, key: o.key };
            list.insert(x);
            model.push(x);
          } else if (model.length > 0) {
            const x = model[o.pick % model.length]!;
            if (o.kind === 'remove') {
              if (!list.remove(x)) throw new Error(`item ${x.id} not found for removal`);
              model.splice(model.indexOf(x), 1);
            } else {
              const at = list.find(x);
              if (at < 0) throw new Error(`item ${x.id} not found`);
              x.key = o.key;
              list.settle(at, x);
            }
          }
          model.sort(byKey);
          const got = [...list];
          if (got.length !== list.length || got.length !== model.length) throw new Error(`length ${got.length}/${list.length}, expected ${model.length}`);
          got.forEach((x, k) => {
            if (x !== model[k]) throw new Error(`position ${k}: item ${x.id}, expected ${model[k]!.id}`);
          });
        }
        return true;
      }),
      { seed: 7, numRuns: 200 },
    ),
  );
});

test('find gives -1 for an item not in the list, and remove reports it', (t) => {
  const list = new SortedList<Item>(byKey);
  const a = { id: 1, key: 1 };
  // An empty list holds nothing.
  t.is(list.find(a), -1);
  list.insert(a);
  const b = { id: 2, key: 1 };
  // b compares after a and was never inserted.
  t.is(list.find(b), -1);
  t.false(list.remove(b));
  t.deepEqual([...list], [a]);
});
