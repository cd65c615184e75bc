import test from 'ava';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { ChunkingError, splitToFit } from '../../protocols/chunking.ts';
import type { Body, Message } from '../../protocols/messages.ts';
import { parseResources } from '../../protocols/resources.ts';

const packr = new Packr({ useRecords: false, variableMapSize: true });
const size = (m: Message) => packr.pack(m).byteLength;

const offer = (i: number) => ({
  id: `run-O${i}`, frameworkId: 'f', agentId: `run-S${i}`, hostname: `host-${i}.example`, resources: parseResources('cpus:2;mem:1024;ports:[31000-32000]'),
  attributes: [], executorIds: [], role: '*',
});

test('a message that fits is sent whole', (t) => {
  const m: Message = { type: 'ResourceOffers', body: { offers: [offer(1)] } };
  t.deepEqual(splitToFit(m, 1 << 20, size, 'x'), [m]);
});

test('offers split into messages that each fit, in order, with none lost', (t) => {
  t.notThrows(() => fc.assert(fc.property(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 600, max: 20_000 }), (n, max) => {
    const offers = Array.from({ length: n }, (_, i) => offer(i));
    const parts = splitToFit({ type: 'ResourceOffers', body: { offers } }, max, size, 'x');
    for (const p of parts) if (size(p) > max) return false;
    const back = parts.flatMap((p) => (p.body as Body<'ResourceOffers'>).offers.map((o) => o.id));
    return JSON.stringify(back) === JSON.stringify(offers.map((o) => o.id));
  })));
});

test('a re-registration splits into numbered parts of one report; every part carries the agent', (t) => {
  const tasks = Array.from({ length: 500 }, (_, i) => ({ taskId: `t${i}`, name: 't', frameworkId: 'f', agentId: 'a', state: 'TASK_RUNNING' as const, resources: parseResources('cpus:0.1;mem:32') }));
  const body: Body<'ReregisterAgent'> = { agent: { id: 'a', hostname: 'h', resources: [], attributes: [] }, version: '1', tasks, executors: [], frameworks: [{ id: 'f', name: 'f' }] };
  const parts = splitToFit({ type: 'ReregisterAgent', body }, 8192, size, 'rr1');
  t.true(parts.length > 1);
  parts.forEach((p, i) => {
    const b = p.body as Body<'ReregisterAgent'>;
    t.deepEqual(b.part, { id: 'rr1', index: i, count: parts.length });
    t.is(b.agent.id, 'a');
    t.true(size(p) <= 8192);
  });
  t.is(parts.flatMap((p) => (p.body as Body<'ReregisterAgent'>).tasks).length, 500);
  t.is(parts.flatMap((p) => (p.body as Body<'ReregisterAgent'>).frameworks).length, 1);
});

test('a type that cannot be split, or one item alone too large, is refused with a reason', (t) => {
  t.throws(() => splitToFit({ type: 'FrameworkError', body: { message: 'x'.repeat(5000) } }, 1000, size, 'x'), { instanceOf: ChunkingError, message: /cannot be split/ });
  t.throws(() => splitToFit({ type: 'ResourceOffers', body: { offers: [offer(1), { ...offer(2), hostname: 'h'.repeat(3000) }] } }, 1000, size, 'x'), { instanceOf: ChunkingError, message: /alone exceeds/ });
});
