/**
 * Verbatim repeats of retried registrations: the sender makes a retry with nothing new
 * byte-identical to the original, and a receiver with a repeat window drops such a copy unread.
 */
import test from 'ava';
import { enqueueActions, setup } from 'xstate';
import { send, type SendEvent } from '../../actors/common.ts';
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

/**
 * A machine that records the types of the events it is sent and answers a registration at once
 * (except from a host named `slow`, as when a registry write comes first).
 */
const recorder = setup({
  types: { context: {} as { seen: string[] }, events: {} as { type: string; from?: string; body?: { agent?: { hostname: string } } }, emitted: {} as SendEvent },
}).createMachine({
  context: { seen: [] },
  on: {
    '*': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        enqueue.assign({ seen: [...context.seen, event.type] });
        if (event.type === 'RegisterAgent' && event.from && event.body?.agent?.hostname !== 'slow') {
          enqueue.emit(send(event.from, { type: 'AgentRegistered', body: { agentId: `id-${context.seen.length}`, connection: { totalPingTimeoutSeconds: 75 } } }));
        }
      }),
    },
  },
});

function cluster(repeatWindowMs?: number) {
  const clock = new SimClock();
  const bus = new MemoryBus({ manual: true });
  const master = hostActor(recorder, undefined, { pid: MASTER, transport: bus.transport(), logger: silentLogger(), clock, repeatWindowMs });
  const agent = hostActor(recorder, undefined, { pid: AGENT, transport: bus.transport(), logger: silentLogger(), clock });
  const sent: Uint8Array[] = [];
  const answers: Uint8Array[] = [];
  bus.transport().subscribe(`${MASTER}.>`, (_s, data) => sent.push(data));
  bus.transport().subscribe(`${AGENT}.>`, (_s, data) => answers.push(data));
  const seen = () => master.actor.getSnapshot().context.seen;
  const metric = (name: string) => master.metrics.snapshot()[name] ?? 0;
  return { clock, bus, master, agent, sent, answers, seen, metric };
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

test('a verbatim repeat handled within the window gets the same answer again, unread', (t) => {
  const c = cluster(2000);
  c.agent.sendMessage(MASTER, register('h1'));
  c.agent.sendMessage(MASTER, register('h1'));
  c.agent.sendMessage(MASTER, register('h2'));
  c.bus.settle();
  t.deepEqual(c.seen(), ['RegisterAgent', 'RegisterAgent'], 'the repeat of h1 was not handled, h2 was');
  t.is(c.answers.length, 3);
  t.deepEqual(c.answers[1], c.answers[0], 'the repeat got the bytes of the first answer');
  t.notDeepEqual(c.answers[2], c.answers[0]);
  t.is(c.metric('bus/repeats_answered'), 1);
  // Past the window the same request is handled again.
  c.clock.advance(2000);
  c.agent.sendMessage(MASTER, register('h1'));
  c.bus.settle();
  t.is(c.seen().length, 3);
});

test('a repeat of a request not answered at once is handled in full', (t) => {
  const c = cluster(2000);
  c.agent.sendMessage(MASTER, register('slow'));
  c.agent.sendMessage(MASTER, register('slow'));
  c.bus.settle();
  t.is(c.seen().length, 2);
  t.is(c.answers.length, 0);
  t.is(c.metric('bus/repeats_answered'), 0);
});

test('any other message from the sender ends the memory of its request', (t) => {
  const c = cluster(2000);
  c.agent.sendMessage(MASTER, register('h1'));
  c.agent.sendMessage(MASTER, { type: 'UnregisterAgent', body: { agentId: 'id-0' } });
  c.agent.sendMessage(MASTER, register('h1'));
  c.bus.settle();
  t.deepEqual(c.seen(), ['RegisterAgent', 'UnregisterAgent', 'RegisterAgent']);
  t.is(c.metric('bus/repeats_answered'), 0);
});

test('after forgetRepeats (the leadership changed) a repeat is handled', (t) => {
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
  const answer = { subject: 'p1.AgentRegistered.master.m', bytes: new Uint8Array([9]) };
  t.is(f.answerOf(k, 0), undefined);
  f.handled(k, 0, 'p1', answer);
  t.is(f.answerOf(k, 999), answer);
  t.is(f.answerOf(k, 1000), undefined);
  f.handled(f.key('x', a), 1500, 'p2', answer);
  t.is(f.size, 1, 'the entry older than the window was forgotten');
  f.heardFrom('p2');
  t.is(f.size, 0, 'another message from p2 ended the memory of its request');
  t.is(contentId('r', a), contentId('r', new Uint8Array([1, 2, 3])));
  t.not(contentId('r', a), contentId('r', new Uint8Array([3, 2, 1])));
});
