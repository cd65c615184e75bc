/**
 * The inspection hub and the definition JSON the statechart view draws: every machine of
 * `actors/` yields the states of its own diagram; the hub follows a machine's state and keeps a
 * bounded ring of its events with the state each led to, and tells listeners as it happens.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createActor, setup, type AnyStateMachine } from 'xstate';
import { createAgentMachine } from '../../actors/agent/agent.machine.ts';
import { createExecutorMachine } from '../../actors/executor/executor.machine.ts';
import { createCandidateMachine } from '../../actors/lease/candidate.machine.ts';
import { createDetectorMachine } from '../../actors/lease/detector.machine.ts';
import { createMasterMachine } from '../../actors/master/master.machine.ts';
import { createSchedulerDriverMachine } from '../../actors/scheduler-driver/scheduler-driver.machine.ts';
import { SimClock } from '../../runtime/clock.ts';
import { activePaths, inspectAll, InspectionHub, machineDefinition, type HubChange, type StateJson } from '../../runtime/inspection.ts';
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
