/**
 * The host's `coalesce`: messages of the listed types that arrive in one burst reach the machine
 * as one event (the first, with the rest in `more`), in order, and never overtake or fall behind
 * anything else.
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
import { MemoryBus } from '../../runtime/transport-memory.ts';

const MASTER = pid('c', 'master', 'm1');
const AGENTS = [pid('c', 'agent', 'a1'), pid('c', 'agent', 'a2'), pid('c', 'agent', 'a3')];
const register = (hostname: string): Message => ({
  type: 'RegisterAgent',
  body: { agent: { hostname, resources: parseResources('cpus:1;mem:64'), attributes: [] }, version: '1' },
});
const unregister: Message = { type: 'UnregisterAgent', body: { agentId: 'x' } };

type Ev = { type: string; from?: string; body?: { agent?: { hostname: string } }; more?: Ev[] };

/** Records each event as the hostnames (or type) it carries, and answers every registration in it. */
const recorder = setup({
  types: { context: {} as { seen: string[][] }, events: {} as Ev, emitted: {} as SendEvent },
}).createMachine({
  context: { seen: [] },
  on: {
    '*': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        const all = [event, ...(event.more ?? [])];
        enqueue.assign({ seen: [...context.seen, all.map((e) => e.body?.agent?.hostname ?? e.type)] });
        for (const e of all) {
          if (e.type === 'RegisterAgent' && e.from) {
            enqueue.emit(send(e.from, { type: 'AgentRegistered', body: { agentId: `id-${e.body!.agent!.hostname}`, connection: { totalPingTimeoutSeconds: 75 } } }));
          }
        }
      }),
    },
  },
});

function cluster(repeatWindowMs?: number) {
  const clock = new SimClock();
  const bus = new MemoryBus({ manual: true });
  const master = hostActor(recorder, undefined, {
    pid: MASTER, transport: bus.transport(), logger: silentLogger(), clock, repeatWindowMs, coalesce: new Set(['RegisterAgent']),
  });
  const agents = AGENTS.map((p) => hostActor(recorder, undefined, { pid: p, transport: bus.transport(), logger: silentLogger(), clock }));
  const answers: string[] = [];
  bus.transport().subscribe('mesos.c.agent.>', (subject) => answers.push(subject.split('.')[4]!));
  const seen = () => master.actor.getSnapshot().context.seen;
  const metric = (name: string) => master.metrics.snapshot()[name] ?? 0;
  /** Delivers everything sent so far in one burst, then lets the burst end. */
  const burst = async () => {
    bus.settle();
    await Promise.resolve();
  };
  return { clock, bus, master, agents, answers, seen, metric, burst };
}

test('registrations arriving together are one event, in order; another type in between splits them', async (t) => {
  const c = cluster();
  const [a1, a2, a3] = c.agents;
  a1!.sendMessage(MASTER, register('h1'));
  a2!.sendMessage(MASTER, register('h2'));
  a3!.sendMessage(MASTER, unregister);
  a3!.sendMessage(MASTER, register('h3'));
  c.bus.settle();
  t.deepEqual(c.seen(), [['h1', 'h2'], ['UnregisterAgent']], 'the other type delivered what waited before it');
  await c.burst();
  t.deepEqual(c.seen(), [['h1', 'h2'], ['UnregisterAgent'], ['h3']], 'the rest waited for the end of the burst');
  c.bus.settle();
  t.is(c.metric('bus/coalesced'), 1);
  t.deepEqual(c.answers.sort(), ['a1', 'a2', 'a3'], 'every registration in the event was answered');
});

test('a local event sent during a burst comes after the messages that arrived before it', async (t) => {
  const c = cluster();
  c.agents[0]!.sendMessage(MASTER, register('h1'));
  c.agents[1]!.sendMessage(MASTER, register('h2'));
  c.bus.settle();
  c.master.send({ type: 'local' });
  t.deepEqual(c.seen(), [['h1', 'h2'], ['local']]);
  await c.burst();
  t.deepEqual(c.seen(), [['h1', 'h2'], ['local']], 'and nothing is delivered twice');
});

test('with a repeat window, each request of a coalesced event has its own answer repeated', async (t) => {
  const c = cluster(2000);
  c.agents[0]!.sendMessage(MASTER, register('h1'));
  c.agents[1]!.sendMessage(MASTER, register('h2'));
  await c.burst();
  t.deepEqual(c.seen(), [['h1', 'h2']]);
  c.bus.settle(); // the answers
  t.deepEqual(c.answers, ['a1', 'a2']);
  c.answers.length = 0;
  // Both agents retry verbatim: each gets its own answer again, neither is handled.
  c.agents[1]!.sendMessage(MASTER, register('h2'));
  c.agents[0]!.sendMessage(MASTER, register('h1'));
  await c.burst();
  c.bus.settle();
  t.deepEqual(c.seen(), [['h1', 'h2']]);
  t.deepEqual(c.answers, ['a2', 'a1']);
  t.is(c.metric('bus/repeats_answered'), 2);
});

test('what waits for the end of a burst is dropped when the host stops', async (t) => {
  const c = cluster();
  c.agents[0]!.sendMessage(MASTER, register('h1'));
  c.bus.settle();
  c.master.stop();
  await c.burst();
  t.deepEqual(c.seen(), []);
});
