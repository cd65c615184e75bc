/**
 * The inspection hub and the definition JSON the statechart view draws: every machine of
 * `actors/` yields the states of its own diagram; the hub follows a machine's state and keeps a
 * bounded ring of its events with the state each led to, and tells listeners as it happens.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createActor, fromCallback, sendTo, setup, type AnyActorRef, type AnyStateMachine } from 'xstate';
import { createAgentMachine } from '../../actors/agent/agent.machine.ts';
import { createExecutorMachine } from '../../actors/executor/executor.machine.ts';
import { createCandidateMachine } from '../../actors/lease/candidate.machine.ts';
import { createDetectorMachine } from '../../actors/lease/detector.machine.ts';
import { createMasterMachine } from '../../actors/master/master.machine.ts';
import { createSchedulerDriverMachine } from '../../actors/scheduler-driver/scheduler-driver.machine.ts';
import { SimClock } from '../../runtime/clock.ts';
import { activePaths, inspectAll, InspectionHub, machineDefinition, watchActor, type HubChange, type MachineJson, type StateJson } from '../../runtime/inspection.ts';
import { extractDiagram } from '../../scripts/diagrams.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEPS = { now: () => 0, newId: () => 'x' };

/** Each machine of `actors/` and the file holding its diagram. */
const MACHINES: Array<[string, AnyStateMachine]> = [
  ['actors/master/README.md', createMasterMachine(DEPS)],
  ['actors/agent/README.md', createAgentMachine(DEPS)],
  ['actors/scheduler-driver/README.md', createSchedulerDriverMachine(DEPS)],
  ['actors/executor/README.md', createExecutorMachine(DEPS)],
  ['actors/lease/candidate.md', createCandidateMachine(DEPS)],
  ['actors/lease/detector.md', createDetectorMachine(DEPS)],
];

/** Every state below the root, depth first. */
function below(s: StateJson): StateJson[] {
  return s.states.flatMap((c) => [c, ...below(c)]);
}

/** The state ids a Mermaid `stateDiagram-v2` names (declared, described or at either end of an edge). */
function mermaidStates(diagram: string): Set<string> {
  const ids = new Set<string>();
  let inNote = false;
  for (const raw of diagram.split('\n')) {
    const line = raw.trim();
    if (inNote) {
      if (line === 'end note') inNote = false;
      continue;
    }
    if (line.startsWith('note ')) {
      inNote = true;
      continue;
    }
    let m;
    if ((m = /^state "[^"]*" as (\w+)/.exec(line))) ids.add(m[1]!);
    else if ((m = /^state (\w+) \{$/.exec(line))) ids.add(m[1]!);
    else if ((m = /^(\S+) --> (\S+)/.exec(line))) {
      for (const x of [m[1]!, m[2]!]) if (x !== '[*]') ids.add(x);
    } else if ((m = /^(\w+)(?: :|$)/.exec(line))) ids.add(m[1]!);
  }
  ids.delete('stateDiagram');
  return ids;
}

for (const [file, machine] of MACHINES) {
  test(`${machine.id}: the definition's states are those of ${file}`, (t) => {
    const def = machineDefinition(machine);
    t.is(def.key, machine.id);
    t.is(def.path, '');
    const diagram = extractDiagram(readFileSync(join(root, file), 'utf8'));
    t.truthy(diagram, `${file} has a diagram`);
    const drawn = mermaidStates(diagram!);
    // A state is drawn under its key, or under its path when its key is not unique.
    const names = (s: StateJson) => [s.key, s.path.replace(/\./g, '_')];
    const states = below(def);
    t.true(states.length > 0);
    for (const s of states) t.true(names(s).some((n) => drawn.has(n)), `${s.path} is in the diagram`);
    const known = new Set(states.flatMap(names));
    // A parallel root is drawn as one state named after the machine.
    if (def.type === 'parallel') known.add(def.key);
    for (const id of drawn) t.true(known.has(id), `${id} of the diagram is a state of the machine`);
  });
}

test('the master definition: standby and leading, whose regions hold recovering and serving; transitions name their targets', (t) => {
  const def = machineDefinition(createMasterMachine(DEPS));
  t.is(def.type, 'compound');
  t.is(def.initial, 'standby');
  t.deepEqual(def.states.map((s) => s.key), ['standby', 'leading']);
  const standby = def.states[0]!;
  t.deepEqual(standby.tags, ['standby']);
  t.true(standby.on.some((tr) => tr.event === 'lease.acquired' && tr.targets[0] === 'leading'));
  const leading = def.states[1]!;
  t.is(leading.type, 'parallel');
  const phase = leading.states.find((s) => s.key === 'phase')!;
  t.is(phase.initial, 'recovering');
  t.deepEqual(phase.states.map((s) => s.path), ['leading.phase.recovering', 'leading.phase.serving']);
  t.true(leading.on.some((tr) => tr.event === 'lease.lost' && tr.targets[0] === 'standby'));
  // Delayed transitions read `after <delay>`, eventless ones `always`.
  const awaiting = below(phase).find((s) => s.key === 'awaitingAgents')!;
  t.true(awaiting.on.some((tr) => tr.event === 'after agentReregisterTimeout' && tr.targets[0] === 'leading.phase.serving'));
  t.true(below(def).some((s) => s.on.some((tr) => tr.event === 'always')));
});

test('activePaths lists every active state of a value, the root first', (t) => {
  t.deepEqual(activePaths('standby'), ['', 'standby']);
  t.deepEqual(activePaths({ leading: { phase: { recovering: 'awaitingAgents' }, agents: 'idle' } }), [
    '', 'leading', 'leading.phase', 'leading.phase.recovering', 'leading.phase.recovering.awaitingAgents', 'leading.agents', 'leading.agents.idle',
  ]);
});

/** A door: closed ↔ open, locked after a while closed. */
const door = setup({
  types: { events: {} as { type: 'OPEN' | 'CLOSE'; by?: string; count?: number; body?: unknown } },
  delays: { lockDelay: 1000 },
}).createMachine({
  id: 'door',
  initial: 'closed',
  states: {
    closed: { on: { OPEN: 'open' }, after: { lockDelay: 'locked' } },
    open: { on: { CLOSE: 'closed' } },
    locked: {},
  },
});

test('the hub follows a machine: its value, and each event with its sender, time, kept scalar fields and the state it led to', (t) => {
  const clock = new SimClock();
  const hub = new InspectionHub({ now: () => clock.now() });
  const actor = createActor(door, { id: 'front-door', inspect: hub.inspect, clock: clock as never });
  actor.start();
  actor.send({ type: 'OPEN', by: 'alice', count: 2, body: { secret: 'never kept' } });
  clock.advance(5);
  actor.send({ type: 'CLOSE' });
  clock.advance(1000);
  const [m] = hub.machines();
  t.is(m!.id, 'front-door');
  t.is(m!.machine, 'door');
  t.is(m!.value, 'locked');
  t.deepEqual(m!.active, ['', 'locked']);
  t.deepEqual(m!.events.map((e) => [e.type, e.after]), [['xstate.init', 'closed'], ['OPEN', 'open'], ['CLOSE', 'closed'], ['xstate.after.lockDelay.door.closed', 'locked']]);
  const open = m!.events[1]!;
  t.deepEqual(open.fields, { by: 'alice', count: 2 }, 'scalars only: the body is not kept');
  t.is(open.at, clock.now() - 1005);
  t.is(m!.events[3]!.source, undefined, 'a delayed event the machine sent itself names no other sender');
  t.deepEqual(m!.definition.states.map((s) => s.key), ['closed', 'open', 'locked']);
  t.true(m!.definition.states[0]!.on.some((tr) => tr.event === 'after lockDelay' && tr.targets[0] === 'locked'));
});

test('the hub keeps only the last N events of a machine, oldest first', (t) => {
  const hub = new InspectionHub({ eventsPerMachine: 3 });
  const actor = createActor(door, { inspect: hub.inspect });
  actor.start();
  for (let i = 0; i < 5; i++) {
    actor.send({ type: 'OPEN', count: i });
    actor.send({ type: 'CLOSE', count: i });
  }
  actor.stop();
  const events = hub.machines()[0]!.events;
  t.deepEqual(events.map((e) => `${e.type}${String(e.fields?.count)}`), ['CLOSE3', 'OPEN4', 'CLOSE4']);
  t.true(events[0]!.seq < events[1]!.seq && events[1]!.seq < events[2]!.seq);
  t.is(hub.machines()[0]!.status, 'stopped');
});

test('listeners hear of new machines, changes of state and events as they happen; an unchanged state is not repeated', (t) => {
  const hub = new InspectionHub();
  const heard: HubChange[] = [];
  const unsubscribe = hub.subscribe((c) => heard.push(c));
  const actor = createActor(door, { inspect: hub.inspect });
  actor.start();
  actor.send({ type: 'CLOSE' }); // not handled in `closed`: an event, no new state
  actor.send({ type: 'OPEN' });
  unsubscribe();
  actor.send({ type: 'CLOSE' });
  const seen = heard.map((c) => (c.kind === 'machine' ? `machine ${c.machine.machine}` : c.kind === 'snapshot' ? `snapshot ${String(c.value)}` : `event ${c.event.type} → ${String(c.event.after)}`));
  t.deepEqual(seen, ['machine door', 'snapshot closed', 'event xstate.init → closed', 'event CLOSE → closed', 'snapshot open', 'event OPEN → open']);
  actor.stop();
});

test('the hub ignores actors that are not state machines, and inspectAll hands records to every observer given', (t) => {
  const hub = new InspectionHub();
  let other = 0;
  const inspect = inspectAll(undefined, hub.inspect, { next: () => other++ });
  const actor = createActor(door, { inspect: inspect as never });
  actor.start();
  t.is(hub.machines().length, 1);
  t.true(other > 0);
  t.is(inspectAll(undefined, undefined), undefined);
  actor.stop();
});

/**
 * A bell: pulling it makes its clapper (a child actor) swing, which rings the bell (an event from
 * the child, arriving while the bell still handles the pull), and a ringing bell falls quiet
 * after a while (a delayed event).
 */
const bell = setup({
  types: { events: {} as { type: 'PULL'; times: number; by?: string } | { type: 'RANG'; times: number } },
  actors: {
    clapper: fromCallback<{ type: 'SWING'; times: number }>(({ sendBack, receive }) => {
      receive((e) => sendBack({ type: 'RANG', times: e.times }));
    }),
  },
  delays: { fade: 10 },
}).createMachine({
  id: 'bell',
  initial: 'quiet',
  invoke: { id: 'clapper', src: 'clapper' },
  states: {
    quiet: { on: { PULL: { actions: sendTo('clapper', ({ event }) => ({ type: 'SWING' as const, times: event.times })) }, RANG: 'ringing' } },
    ringing: { after: { fade: 'quiet' }, on: { PULL: {} } },
  },
});

/**
 * Runs the same story on `door` and `bell`, each followed by a hub through XState's inspection
 * (`inspect`) or without it (`record`), and returns what the hub kept and told.
 */
function story(how: 'inspect' | 'record'): { machines: MachineJson[]; events: unknown[] } {
  const clock = new SimClock();
  const hub = new InspectionHub({ now: () => clock.now(), eventsPerMachine: 6 });
  const events: unknown[] = [];
  hub.subscribe((c) => {
    if (c.kind === 'event') events.push(c.event);
  });
  const actors = [door, bell].map((m, i) => {
    const a: AnyActorRef = createActor(m as AnyStateMachine, { id: `a${i}`, clock: clock as never, ...(how === 'inspect' ? { inspect: hub.inspect } : {}) });
    if (how === 'record') hub.record(a);
    a.start();
    return a;
  });
  const [d, b] = [actors[0]!, actors[1]!];
  d.send({ type: 'OPEN', by: 'alice', count: 2, body: { secret: 'never kept' } });
  b.send({ type: 'PULL', times: 3, by: 'bob' });
  clock.advance(5);
  b.send({ type: 'PULL', times: 1 }); // ringing: handled, stays
  d.send({ type: 'CLOSE' });
  d.send({ type: 'CLOSE' }); // not handled in `closed`
  clock.advance(1000);
  for (let i = 0; i < 4; i++) b.send({ type: 'PULL', times: i }); // more than the ring keeps
  clock.advance(20);
  d.stop();
  d.send({ type: 'OPEN' }); // to a stopped actor
  return { machines: hub.machines(), events };
}

test('recording without XState inspection keeps the same records as the inspection observer: events, senders, fields, times and the states they led to', (t) => {
  const inspected = story('inspect');
  const recorded = story('record');
  t.deepEqual(recorded.machines, inspected.machines);
  t.deepEqual(recorded.events, inspected.events);
  // What the story should have left, so that the comparison above compares something.
  const [d, b] = recorded.machines;
  t.deepEqual(d!.events.map((e) => [e.type, e.after]), [['xstate.init', 'closed'], ['OPEN', 'open'], ['CLOSE', 'closed'], ['CLOSE', 'closed'], ['xstate.after.lockDelay.door.closed', 'locked'], ['OPEN', undefined]]);
  t.is(d!.status, 'stopped');
  t.deepEqual(d!.events[1]!.fields, { by: 'alice', count: 2 });
  t.deepEqual(b!.events.map((e) => `${e.type}${e.source ? ` from ${e.source}` : ''} → ${String(e.after)}`), [
    'PULL → quiet', 'RANG from clapper → ringing', 'PULL → ringing', 'PULL → ringing', 'PULL → ringing', 'xstate.after.fade.bell.ringing → quiet',
  ]);
  t.is(b!.value, 'quiet');
});

test('a recorded machine whose actor fails reads as failed', (t) => {
  const failing = setup({}).createMachine({ id: 'fragile', on: { BREAK: { actions: () => { throw new Error('broken'); } } } });
  const hub = new InspectionHub();
  const actor = createActor(failing);
  hub.record(actor);
  actor.subscribe({ error: () => {} });
  actor.start();
  actor.send({ type: 'BREAK' });
  t.is(hub.machines()[0]!.status, 'error');
  t.deepEqual(hub.machines()[0]!.events.map((e) => e.type), ['xstate.init', 'BREAK']);
});

test('watchActor reports to a machine followed elsewhere, as a lease worker does: tokens name the events the states followed', (t) => {
  const hub = new InspectionHub();
  const remote = hub.follow('front-door', door);
  const reports: string[] = [];
  const actor = createActor(door);
  const stop = watchActor(actor, {
    event: (token, event, source) => {
      reports.push(`event ${String(token)} ${event.type}`);
      remote.event(token, event, source);
    },
    snapshot: (token, status, value) => {
      reports.push(`state ${String(token)} ${String(value)}`);
      remote.snapshot(token, status, value);
    },
  });
  actor.start();
  actor.send({ type: 'OPEN' });
  stop();
  actor.send({ type: 'CLOSE' });
  t.deepEqual(reports, ['event 1 xstate.init', 'state 1 closed', 'event 2 OPEN', 'state 2 open']);
  t.deepEqual(hub.machines()[0]!.events.map((e) => [e.type, e.after]), [['xstate.init', 'closed'], ['OPEN', 'open']]);
});
