import test from 'ava';
import { SimClock } from '../../runtime/clock.ts';
import { MemoryBus, subjectMatches } from '../../runtime/transport-memory.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();
const b = (s: string): Uint8Array => enc.encode(s);

test('subjectMatches follows NATS wildcard rules', (t) => {
  t.true(subjectMatches('a.b.c', 'a.b.c'));
  t.false(subjectMatches('a.b.c', 'a.b'));
  t.false(subjectMatches('a.b', 'a.b.c'));
  t.true(subjectMatches('a.*.c', 'a.x.c'));
  t.false(subjectMatches('a.*.c', 'a.x.y.c'));
  t.false(subjectMatches('a.*', 'a'));
  t.true(subjectMatches('a.>', 'a.b'));
  t.true(subjectMatches('a.>', 'a.b.c.d'));
  t.false(subjectMatches('a.>', 'a'));
  t.true(subjectMatches('*.b.>', 'x.b.c'));
  t.true(subjectMatches('>', 'anything.at.all'));
});

test('wildcard subscriptions receive matching messages only', (t) => {
  const bus = new MemoryBus({ manual: true });
  const a = bus.transport();
  const got: Record<string, string[]> = { star: [], tail: [], exact: [] };
  a.subscribe('mesos.c1.agent.*.Ping', (s) => got.star!.push(s));
  a.subscribe('mesos.c1.>', (s) => got.tail!.push(s));
  a.subscribe('mesos.c1.master.m1.RegisterAgent', (s) => got.exact!.push(s));
  const p = bus.transport();
  p.publish('mesos.c1.agent.a1.Ping', b('1'));
  p.publish('mesos.c1.agent.a1.x.Ping', b('2'));
  p.publish('mesos.c1.master.m1.RegisterAgent', b('3'));
  p.publish('mesos.c2.agent.a1.Ping', b('4'));
  t.is(bus.settle(), 5);
  t.deepEqual(got.star, ['mesos.c1.agent.a1.Ping']);
  t.deepEqual(got.tail, ['mesos.c1.agent.a1.Ping', 'mesos.c1.agent.a1.x.Ping', 'mesos.c1.master.m1.RegisterAgent']);
  t.deepEqual(got.exact, ['mesos.c1.master.m1.RegisterAgent']);
  t.like(bus.stats(), { published: 4, delivered: 5, dropped: 0, unrouted: 1, queued: 0 });
});

test('settle delivers FIFO, including messages published by handlers', (t) => {
  const bus = new MemoryBus({ manual: true });
  const tr = bus.transport();
  const order: string[] = [];
  tr.subscribe('x.*', (s, d) => {
    const body = dec.decode(d);
    order.push(`${s}:${body}`);
    if (body === 'first') tr.publish('x.reply', b('from-handler'));
  });
  tr.publish('x.a', b('first'));
  tr.publish('x.b', b('second'));
  t.deepEqual(order, []);
  t.is(bus.settle(), 3);
  t.deepEqual(order, ['x.a:first', 'x.b:second', 'x.reply:from-handler']);
  t.is(bus.settle(), 0);
});

test('published bytes are copied', (t) => {
  const bus = new MemoryBus({ manual: true });
  const tr = bus.transport();
  let seen = '';
  tr.subscribe('s', (_s, d) => (seen = dec.decode(d)));
  const buf = b('abc');
  tr.publish('s', buf);
  buf[0] = 'z'.charCodeAt(0);
  bus.settle();
  t.is(seen, 'abc');
});

test('a throwing handler does not stop delivery', (t) => {
  const bus = new MemoryBus({ manual: true });
  const tr = bus.transport();
  let ok = 0;
  tr.subscribe('s', () => {
    throw new Error('handler bug');
  });
  tr.subscribe('s', () => ok++);
  tr.publish('s', b('1'));
  tr.publish('s', b('2'));
  t.is(bus.settle(), 4);
  t.is(ok, 2);
});

test('settle guards against publish loops', (t) => {
  const bus = new MemoryBus({ manual: true, maxSettle: 1000 });
  const tr = bus.transport();
  tr.subscribe('ping', () => tr.publish('ping', b('again')));
  tr.publish('ping', b('start'));
  t.throws(() => bus.settle(), { message: /publish loop/ });
});

test('automatic delivery on a microtask', async (t) => {
  const bus = new MemoryBus();
  const tr = bus.transport();
  const received = new Promise<string>((resolve) => tr.subscribe('auto', (_s, d) => resolve(dec.decode(d))));
  tr.publish('auto', b('hello'));
  t.is(await received, 'hello');
});

test('drop filter drops matching messages until removed', (t) => {
  const bus = new MemoryBus({ manual: true });
  const tr = bus.transport();
  const got: string[] = [];
  tr.subscribe('>', (s) => got.push(s));
  const remove = bus.addFilter((m) => (m.subject.endsWith('.Ping') ? 'drop' : 'deliver'));
  tr.publish('a.Ping', b(''));
  tr.publish('a.Pong', b(''));
  bus.settle();
  t.deepEqual(got, ['a.Pong']);
  t.is(bus.stats().dropped, 1);
  remove();
  tr.publish('a.Ping', b(''));
  bus.settle();
  t.deepEqual(got, ['a.Pong', 'a.Ping']);
});

test('duplicate filter delivers twice', (t) => {
  const bus = new MemoryBus({ manual: true });
  const tr = bus.transport();
  const got: string[] = [];
  tr.subscribe('d', (_s, d) => got.push(dec.decode(d)));
  bus.addFilter(() => 'duplicate');
  tr.publish('d', b('once'));
  t.is(bus.settle(), 2);
  t.deepEqual(got, ['once', 'once']);
});

test('delay filter holds messages on the bus clock', (t) => {
  const clock = new SimClock();
  const bus = new MemoryBus({ manual: true, clock });
  const tr = bus.transport();
  const got: string[] = [];
  tr.subscribe('>', (s) => got.push(s));
  bus.addFilter((m) => (m.subject === 'slow' ? { delayMs: 100 } : 'deliver'));
  tr.publish('slow', b(''));
  tr.publish('fast', b(''));
  bus.settle();
  t.deepEqual(got, ['fast']);
  t.is(bus.stats().delayed, 1);
  clock.advance(99);
  t.is(bus.settle(), 0);
  clock.advance(1);
  t.is(bus.stats().queued, 1);
  t.is(bus.settle(), 1);
  t.deepEqual(got, ['fast', 'slow']);
  t.is(bus.stats().delayed, 0);
});

test('intercept resolves with the first matching message without affecting delivery', async (t) => {
  const bus = new MemoryBus({ manual: true });
  const tr = bus.transport();
  const got: string[] = [];
  tr.subscribe('>', (_s, d) => got.push(dec.decode(d)));
  const future = bus.intercept((m) => m.subject === 'reg' && dec.decode(m.data) === 'two');
  tr.publish('reg', b('one'));
  tr.publish('reg', b('two'));
  tr.publish('reg', b('three'));
  const msg = await future;
  t.is(dec.decode(msg.data), 'two');
  bus.settle();
  t.deepEqual(got, ['one', 'two', 'three']);
});

test('intercept sees messages that a filter drops', async (t) => {
  const bus = new MemoryBus({ manual: true });
  const tr = bus.transport();
  bus.addFilter(() => 'drop');
  const future = bus.intercept((m) => m.subject === 'gone');
  tr.publish('gone', b('x'));
  t.is((await future).subject, 'gone');
  t.is(bus.settle(), 0);
});

test('close removes a transport subscriptions and drops its publishes', async (t) => {
  const bus = new MemoryBus({ manual: true });
  const a = bus.transport();
  const other = bus.transport();
  let aGot = 0;
  let otherGot = 0;
  a.subscribe('s', () => aGot++);
  other.subscribe('s', () => otherGot++);
  await a.close();
  other.publish('s', b(''));
  a.publish('s', b(''));
  bus.settle();
  t.is(aGot, 0);
  t.is(otherGot, 1);
  t.like(bus.stats(), { published: 2, dropped: 1 });
});

test('unsubscribe during delivery stops further deliveries to that handler', (t) => {
  const bus = new MemoryBus({ manual: true });
  const tr = bus.transport();
  let n = 0;
  const sub = tr.subscribe('s', () => {
    n++;
    sub.unsubscribe();
  });
  tr.publish('s', b(''));
  tr.publish('s', b(''));
  bus.settle();
  t.is(n, 1);
});
