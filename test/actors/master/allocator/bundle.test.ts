import test from 'ava';
import fc from 'fast-check';
import { Slots } from '../../../../actors/master/allocator/bundle.ts';
import { normalize, type Resource } from '../../../../protocols/resources.ts';

// A task's resources usually are a few plain scalars; fromWire takes a short cut for them. It must
// give exactly what the general path (normalisation) gives, for any input, plain or not.
const resource: fc.Arbitrary<Resource> = fc.oneof(
  fc.record({
    name: fc.constantFrom('cpus', 'mem', 'disk', 'gpus'),
    type: fc.constant('SCALAR' as const),
    scalar: fc.oneof(fc.constant(0), fc.double({ min: 0.001, max: 1e6, noNaN: true })),
    role: fc.constantFrom(undefined, '*', 'web'),
    revocable: fc.constantFrom(undefined, false, true),
  }, { requiredKeys: ['name', 'type', 'scalar'] }),
  fc.constant<Resource>({ name: 'ports', type: 'RANGES', ranges: [{ begin: 31000, end: 31005 }] }),
);

test('fromWire gives the normalised resources whether or not it takes its short cut for plain scalars', (t) => {
  t.notThrows(() => fc.assert(fc.property(fc.array(resource, { maxLength: 6 }), (r) => {
    const slots = new Slots();
    const wire = slots.toWire(slots.fromWire(r));
    const expected = normalize(r);
    if (JSON.stringify(wire) !== JSON.stringify(expected)) throw new Error(`${JSON.stringify(r)} → ${JSON.stringify(wire)}, expected ${JSON.stringify(expected)}`);
  }), { numRuns: 3000 }));
});
