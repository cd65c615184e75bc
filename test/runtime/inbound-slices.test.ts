/**
 * The host's `inboundSliceMs`: messages read in one burst are queued and handled a slice at a
 * time, with the event loop given back between slices (a timer or an HTTP answer runs between
 * them), in the order they came, none lost; off, a burst is handled as it is read.
 */
import test from 'ava';
import { assign, setup } from 'xstate';
import type { Message } from '../../protocols/messages.ts';
import { pid } from '../../protocols/pid.ts';
import { hostActor } from '../../runtime/actor-host.ts';
import { SimClock } from '../../runtime/clock.ts';
import { silentLogger } from '../../runtime/log.ts';
import { MemoryBus } from '../../runtime/transport-memory.ts';

const MASTER = pid('c', 'master', 'm1');
const AGENT = pid('c', 'agent', 'a1');
const N = 200;

/** Records the order of the messages it handles; each takes a little work (a fifth of a millisecond). */
const slowRecorder = setup({ types: { context: {} as { seen: string[] }, events: {} as { type: string; body?: { agentId?: string } } } }).createMachine({
  context: { seen: [] },
  on: {
    '*': {
      actions: assign(({ context, event }) => {
        const until = performance.now() + 0.2;
        while (performance.now() < until) {
          // work
        }
        return { seen: [...context.seen, event.body?.agentId ?? event.type] };
      }),
    },
  },
});

function start(inboundSliceMs?: number) {
  const bus = new MemoryBus({ manual: true });
  const clock = new SimClock();
  const master = hostActor(slowRecorder, undefined, { pid: MASTER, transport: bus.transport(), logger: silentLogger(), clock, ...(inboundSliceMs !== undefined ? { inboundSliceMs } : {}) });
  const agent = hostActor(slowRecorder, undefined, { pid: AGENT, transport: bus.transport(), logger: silentLogger(), clock });
  // Numbered by the one field this message has.
  for (let i = 0; i < N; i++) agent.sendMessage(MASTER, { type: 'UnregisterAgent', body: { agentId: String(i) } } as Message);
  const order = () => master.actor.getSnapshot().context.seen;
  const seen = () => order().length;
  return { bus, master, seen, order };
}

test('with inboundSliceMs, a burst is handled over several turns of the event loop, all of it', async (t) => {
  const c = start(1);
  c.bus.settle();
  t.is(c.seen(), 0, 'nothing is handled while the burst is read');
  let turns = 0;
  while (c.seen() < N) {
    await new Promise<void>((r) => setImmediate(r));
    turns++;
  }
  t.deepEqual(c.order(), Array.from({ length: N }, (_, i) => String(i)), 'every message handled, in order');
  t.true(turns > 1, `handled over ${turns} turns`);
  t.is(c.master.metrics.snapshot()['bus/received'], N);
  c.master.stop();
});

test('without it, a burst is handled as it is read', (t) => {
  const c = start();
  c.bus.settle();
  t.is(c.seen(), N);
  c.master.stop();
});

test('messages queued when the host stops are dropped, not handled after', async (t) => {
  const c = start(1);
  c.bus.settle();
  await new Promise<void>((r) => setImmediate(r));
  const handled = c.seen();
  c.master.stop();
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
  t.is(c.seen(), handled);
  t.true(handled < N);
});
