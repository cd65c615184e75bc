import test from 'ava';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setup } from 'xstate';
import { extractDiagram, mermaidFor, renderAll } from '../../scripts/diagrams.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const diagrams = renderAll();

test('every actor has a README diagram', (t) => {
  t.deepEqual(Object.keys(diagrams), [
    'actors/agent/README.md',
    'actors/executor/README.md',
    'actors/lease/candidate.md',
    'actors/lease/detector.md',
    'actors/master/README.md',
    'actors/scheduler-driver/README.md',
  ]);
});

for (const [path, diagram] of Object.entries(diagrams)) {
  test(`${path} shows the diagram of the current machine`, (t) => {
    const readme = readFileSync(join(root, path), 'utf8');
    t.is(extractDiagram(readme), diagram, 'the machine changed: run `npm run docs:diagrams`');
  });
}

test('the master diagram shows its life: standby, leading (recovering, then serving) and back to standby', (t) => {
  const d = diagrams['actors/master/README.md']!;
  t.regex(d, /^ {2}\[\*\] --> standby$/m);
  t.regex(d, /^ {2}standby --> leading : lease\.acquired \/ recordEpoch, logElected$/m);
  t.regex(d, /^ {2}state "leading «leading»" as leading \{$/m);
  t.regex(d, /^ {6}state "recovering «recovering»" as recovering \{$/m);
  t.regex(d, /^ {8}loadingRegistry : \* \[isBusMessage\] \/ deferMessage$/m);
  t.regex(d, /^ {6}recovering --> serving : always \[hasNoRecoveringAgents\]/m);
  t.regex(d, /^ {2}leading --> standby : lease\.lost \/ logLeaseLost$/m);
  t.regex(d, /^ {2}leading --> standby : master\.abdicate \/ resignLease$/m);
  t.notRegex(d, /resigned/, 'a master that loses the lease stands by again; it never ends');
});

test('the agent diagram shows its regions recovery, connection, executors and sweeper side by side', (t) => {
  const d = diagrams['actors/agent/README.md']!;
  const regions = /^ {2}state agent \{\n {4}state recovery \{\n[\s\S]*?^ {4}--\n {4}state connection \{\n[\s\S]*?^ {4}\}\n {4}--\n {4}state "executors" as executors\n[\s\S]*?^ {4}--\n {4}state sweeper \{$/m;
  t.regex(d, regions);
  t.regex(d, /^ {6}registering --> registered : AgentRegistered, AgentReregistered \[isFromMaster\] \/ recordRegistered, resetAttempts$/m);
  t.regex(d, /^ {6}registered --> registering : agent\.pingTimeout \/ logPingTimeout, resetAttempts$/m);
  t.regex(d, /^ {6}waiting --> waiting : after sweepInterval \/ sweep, checkPings$/m);
  t.regex(d, /^ {6}recovering --> recovered : after executorReregistrationTimeout \/ recoveryTimedOut$/m);
});

test('mermaidFor draws guards, else branches, delays, wildcards, regions and inherited transitions', (t) => {
  const machine = setup({
    guards: { isReady: () => true },
    actions: { start: () => {}, note: () => {} },
    delays: { patience: 10 },
  }).createMachine({
    id: 'demo',
    initial: 'idle',
    on: { RESET: { target: '.idle' } },
    states: {
      idle: {
        on: { GO: [{ guard: 'isReady', target: 'busy', actions: 'start' }, { actions: 'note' }], '*': {} },
      },
      busy: {
        tags: ['working'],
        type: 'parallel',
        states: {
          upper: { initial: 'waiting', states: { waiting: { after: { patience: 'waiting' } } } },
          lower: {},
        },
      },
      done: { type: 'final' },
    },
  });
  t.is(mermaidFor(machine), [
    'stateDiagram-v2',
    '  [*] --> idle',
    '  state "idle" as idle',
    '  idle : GO [else] / note',
    '  idle : * (ignored)',
    '  state "busy «working»" as busy {',
    '    state upper {',
    '      [*] --> waiting',
    '      waiting',
    '      waiting --> waiting : after patience',
    '    }',
    '    --',
    '    lower',
    '  }',
    '  done',
    '  idle --> busy : GO [isReady] / start',
    '  busy --> idle : RESET',
    '  done --> [*]',
    '',
  ].join('\n'));
});
