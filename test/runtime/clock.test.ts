import test from 'ava';
import { createActor, createMachine } from 'xstate';
import { DEFAULT_SIM_EPOCH, SimClock, realClock } from '../../runtime/clock.ts';

test('SimClock starts at the configured epoch', (t) => {
  t.is(new SimClock().now(), DEFAULT_SIM_EPOCH);
  t.is(new SimClock({ epoch: 5 }).now(), 5);
  t.is(new SimClock(0).now(), 0);
});

test('SimClock fires timers in due order with now() at each due time', (t) => {
  const clock = new SimClock({ epoch: 1000 });
  const log: string[] = [];
  clock.setTimeout(() => log.push(`c@${clock.now()}`), 30);
  clock.setTimeout(() => log.push(`a@${clock.now()}`), 10);
  clock.setTimeout(() => log.push(`b1@${clock.now()}`), 20);
  clock.setTimeout(() => log.push(`b2@${clock.now()}`), 20); // same due time: scheduling order
  const cancelled = clock.setTimeout(() => log.push('never'), 15);
  clock.clearTimeout(cancelled);
  t.is(clock.pending(), 4);
  t.is(clock.advance(25), 3);
  t.deepEqual(log, ['a@1010', 'b1@1020', 'b2@1020']);
  t.is(clock.now(), 1025);
  t.is(clock.pending(), 1);
  t.is(clock.advance(5), 1);
  t.deepEqual(log.at(-1), 'c@1030');
  t.is(clock.pending(), 0);
});

test('SimClock fires timers scheduled during advance when due within the window', (t) => {
  const clock = new SimClock({ epoch: 0 });
  const log: number[] = [];
  clock.setTimeout(() => {
    log.push(clock.now());
    clock.setTimeout(() => log.push(clock.now()), 5); // due 15: inside the window
    clock.setTimeout(() => log.push(clock.now()), 0); // due 10: now
    clock.setTimeout(() => log.push(clock.now()), 50); // due 60: outside
  }, 10);
  t.is(clock.advance(20), 3);
  t.deepEqual(log, [10, 10, 15]);
  t.is(clock.pending(), 1);
  t.is(clock.nextDue(), 60);
  t.is(clock.runNext(), 1);
  t.is(clock.now(), 60);
  t.deepEqual(log, [10, 10, 15, 60]);
  t.throws(() => clock.set(59), { instanceOf: RangeError });
});

test('SimClock keeps firing after a throwing timer and rethrows the first error', (t) => {
  const clock = new SimClock({ epoch: 0 });
  let ran = false;
  clock.setTimeout(() => {
    throw new Error('boom');
  }, 1);
  clock.setTimeout(() => (ran = true), 2);
  t.throws(() => clock.advance(5), { message: 'boom' });
  t.true(ran);
  t.is(clock.now(), 5);
});

test('SimClock drives an XState after delay as the actor clock', (t) => {
  const machine = createMachine({
    id: 'timer',
    initial: 'waiting',
    states: {
      waiting: { after: { 1000: 'done' } },
      done: { type: 'final' },
    },
  });
  const clock = new SimClock();
  const actor = createActor(machine, { clock });
  actor.start();
  t.is(actor.getSnapshot().value, 'waiting');
  t.is(clock.pending(), 1);
  clock.advance(999);
  t.is(actor.getSnapshot().value, 'waiting');
  clock.advance(1);
  t.is(actor.getSnapshot().value, 'done');
  t.is(clock.pending(), 0);
});

test('SimClock honours XState cancelling a delay on exit', (t) => {
  const machine = createMachine({
    id: 'cancel',
    initial: 'a',
    states: {
      a: { after: { 500: 'timedOut' }, on: { GO: 'b' } },
      b: {},
      timedOut: {},
    },
  });
  const clock = new SimClock();
  const actor = createActor(machine, { clock }).start();
  actor.send({ type: 'GO' });
  t.is(clock.pending(), 0);
  clock.advance(1000);
  t.is(actor.getSnapshot().value, 'b');
});

test('realClock runs real timers', async (t) => {
  const start = realClock.now();
  await new Promise<void>((resolve) => realClock.setTimeout(resolve, 5));
  t.true(realClock.now() >= start);
  const id = realClock.setTimeout(() => t.fail('cleared timer fired'), 1);
  realClock.clearTimeout(id);
  await new Promise<void>((resolve) => setTimeout(resolve, 10));
});
