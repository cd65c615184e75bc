import test from 'ava';
import { emptyQueue, keep, take, waiting } from '../../../actors/master/inbox.ts';
import type { Inbound } from '../../../actors/common.ts';

const ev = (type: string, from: string, body: Record<string, unknown> = {}) => ({ type, from, body }) as unknown as Inbound;

test('kept messages come back in arrival order; a repeat replaces the waiting one in its place', (t) => {
  const q = emptyQueue();
  t.is(keep(q, ev('ReregisterAgent', 'a1', { n: 1 }), 100), 'queued');
  t.is(keep(q, ev('StatusUpdate', 'a2'), 100), 'queued');
  t.is(keep(q, ev('ReregisterAgent', 'a2', { n: 1 }), 100), 'queued');
  t.is(keep(q, ev('ReregisterAgent', 'a1', { n: 2 }), 100), 'replaced', "a1's retry");
  t.is(waiting(q), 3);
  const out = take(q, 10);
  t.deepEqual(out.map((e) => [e.type, e.from, (e.body as { n?: number }).n]), [['ReregisterAgent', 'a1', 2], ['StatusUpdate', 'a2', undefined], ['ReregisterAgent', 'a2', 1]]);
  t.is(waiting(q), 0);
});

test('status updates, parts of a split report and messages already handed back are never replaced', (t) => {
  const q = emptyQueue();
  keep(q, ev('StatusUpdate', 'a1', { n: 1 }), 100);
  t.is(keep(q, ev('StatusUpdate', 'a1', { n: 2 }), 100), 'queued');
  keep(q, ev('ReregisterAgent', 'a1', { part: { id: 'p', index: 0, count: 2 } }), 100);
  t.is(keep(q, ev('ReregisterAgent', 'a1', { part: { id: 'p', index: 1, count: 2 } }), 100), 'queued');
  keep(q, ev('Pong', 'a2'), 100);
  t.is(take(q, 5).length, 5);
  t.is(keep(q, ev('Pong', 'a2'), 100), 'queued', 'the earlier pong was handed back already');
});

test('beyond its bound the queue refuses new messages, but a repeat still replaces', (t) => {
  const q = emptyQueue();
  keep(q, ev('Pong', 'a1'), 2);
  keep(q, ev('Pong', 'a2'), 2);
  t.is(keep(q, ev('Pong', 'a3'), 2), 'full');
  t.is(keep(q, ev('Pong', 'a1'), 2), 'replaced');
  t.is(take(q, 1).length, 1);
  t.is(take(q, 1).length, 1);
  t.is(waiting(q), 0);
});
