import test from 'ava';
import fc from 'fast-check';
import { MinHeap } from '../../../../actors/master/allocator/min-heap.ts';

test('min-heap › property: items come out by key, whatever the order of pushes and pops', (t) => {
  // fc.assert throws (with the shrunk counterexample) when the property fails.
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: -50, max: 50 }), fc.constant(null)), { maxLength: 200 }), (ops) => {
        const heap = new MinHeap<number>();
        const model: number[] = [];
        for (const op of ops) {
          if (op === null) {
            model.sort((a, b) => a - b);
            const want = model.shift();
            if (heap.pop() !== want) return false;
          } else {
            heap.push(op, op);
            model.push(op);
          }
          if (heap.length !== model.length) return false;
          if (heap.peekKey() !== (model.length > 0 ? Math.min(...model) : Number.POSITIVE_INFINITY)) return false;
        }
        return true;
      }),
    ),
  );
});
