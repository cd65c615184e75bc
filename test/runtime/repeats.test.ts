/**
 * Verbatim repeats of retried registrations: the sender makes a retry with nothing new
 * byte-identical to the original, and a receiver with a repeat window drops such a copy unread.
 */
import test from 'ava';
import { assign, setup } from 'xstate';
import { parseResources } from '../../protocols/resources.ts';
import type { Message } from '../../protocols/messages.ts';
import { pid } from '../../protocols/pid.ts';
import { hostActor } from '../../runtime/actor-host.ts';
import { SimClock } from '../../runtime/clock.ts';
import { silentLogger } from '../../runtime/log.ts';
import { RepeatFilter, contentId } from '../../runtime/repeats.ts';
import { MemoryBus } from '../../runtime/transport-memory.ts';

const MASTER = pid('c', 'master', 'm1');
const AGENT = pid('c', 'agent', 'a1');
const register = (hostname: string): Message => ({
  type: 'RegisterAgent',
  body: { agent: { hostname, resources: parseResources('cpus:1;mem:64'), attributes: [] }, version: '1' },
});

/** A machine that only records the types of the events it is sent. */
const recorder = setup({
  types: { context: {} as { seen: string[] }, events: {} as { type: string } },
}).createMachine({
  context: { seen: [] },
  on: { '*': { actions: assign({ seen: ({ context, event }) => [...context.seen, event.type] }) } },
});

function cluster(repeatWindowMs?: number) {
  const clock = new SimClock();
  const bus = new MemoryBus({ manual: true });
  const master = hostActor(recorder, undefined, { pid: MASTER, transport: bus.transport(), logger: silentLogger(), clock, repeatWindowMs });
  const agent = hostActor(recorder, undefined, { pid: AGENT, transport: bus.transport(), logger: silentLogger(), clock });
  const sent: Uint8Array[] = [];
  bus.transport().subscribe(`${MASTER}.>`, (_s, data) => sent.push(data));
  const seen = () => master.actor.getSnapshot().context.seen;
  return { clock, bus, master, agent, sent, seen };
}

test('a retried registration with nothing new is sent byte for byte as before; one with news is not', (t) => {
  const c = cluster();
  c.agent.sendMessage(MASTER, register('h1'));
  c.agent.sendMessage(MASTER, register('h1'));
  c.agent.sendMessage(MASTER, register('h2'));
  c.bus.settle();
  t.is(c.sent.length, 3);
  t.deepEqual(c.sent[1], c.sent[0]);
  t.notDeepEqual(c.sent[2], c.sent[0]);
});

test('a receiver with a repeat window drops a verbatim repeat it handled within the window, unread', (t) => {
  const c = cluster(2000);
  c.agent.sendMessage(MASTER, register('h1'));
  c.agent.sendMessage(MASTER, register('h1'));
  c.agent.sendMessage(MASTER, register('h2'));
  c.bus.settle();
  t.deepEqual(c.seen(), ['RegisterAgent', 'RegisterAgent'], 'the repeat of h1 was dropped, h2 was handled');
  t.is(c.master.metrics.snapshot()['bus/repeats_dropped'], 1);
  // Past the window the same request is handled again (its answer may really have been lost).
  c.clock.advance(2000);
  c.agent.sendMessage(MASTER, register('h1'));
  c.bus.settle();
  t.is(c.seen().length, 3);
});

test('after forgetRepeats (a standby that just won the lease) a repeat is handled', (t) => {
  const c = cluster(2000);
  c.agent.sendMessage(MASTER, register('h1'));
  c.bus.settle();
  c.master.forgetRepeats();
  c.agent.sendMessage(MASTER, register('h1'));
  c.bus.settle();
  t.is(c.seen().length, 2);
});

test('without a repeat window every copy is handled', (t) => {
  const c = cluster();
  c.agent.sendMessage(MASTER, register('h1'));
  c.agent.sendMessage(MASTER, register('h1'));
  c.bus.settle();
  t.is(c.seen().length, 2);
});

test('RepeatFilter: keyed by subject and content, forgets what is older than its window', (t) => {
  const f = new RepeatFilter(1000);
  const a = new Uint8Array([1, 2, 3]);
  const k = f.key('s.RegisterAgent.agent.p', a);
  t.not(f.key('s.ReregisterAgent.agent.p', a), k, 'another subject');
  t.not(f.key('s.RegisterAgent.agent.p', new Uint8Array([1, 2, 4])), k, 'other content');
  t.false(f.isRepeat(k, 0));
  f.handled(k, 0);
  t.true(f.isRepeat(k, 999));
  t.false(f.isRepeat(k, 1000));
  f.handled(f.key('x', a), 1500);
  t.is(f.size, 1, 'the entry older than the window was forgotten');
  t.is(contentId('r', a), contentId('r', new Uint8Array([1, 2, 3])));
  t.not(contentId('r', a), contentId('r', new Uint8Array([3, 2, 1])));
});
