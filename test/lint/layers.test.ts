// Self-check of the layering rules in eslint.config.js (protocols ← actors ← runtime ← cmd; nothing
// wall-clock, random or NATS under actors/): each forbidden construct is reported for a file under
// actors/, and a clean actor file is not. Files need not exist on disk.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { ESLint } from 'eslint';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const eslint = new ESLint({ cwd: root, overrideConfigFile: join(root, 'eslint.config.js') });

async function lint(code: string, relPath: string): Promise<Array<{ ruleId: string | null; message: string }>> {
  const [result] = await eslint.lintText(code, { filePath: join(root, relPath) });
  if (result === undefined) throw new Error('ESLint returned no result');
  return result.messages.map((m) => ({ ruleId: m.ruleId, message: m.message }));
}

test('Date.now() in an actor module is reported', async (t) => {
  const messages = await lint('export const now = (): number => Date.now();\n', 'actors/x/y.ts');
  t.true(messages.some((m) => m.ruleId === 'no-restricted-syntax' && m.message.includes('Date.now()')), JSON.stringify(messages));
});

test('setTimeout and process in an actor module are reported', async (t) => {
  const code = 'export function f(): void {\n  setTimeout(() => undefined, 1);\n  void process.pid;\n}\n';
  const messages = await lint(code, 'actors/x/y.ts');
  const globals = messages.filter((m) => m.ruleId === 'no-restricted-globals');
  t.is(globals.length, 2, JSON.stringify(messages));
});

test('importing @nats-io/* in an actor file is reported, even in a machine', async (t) => {
  const code = "import { connect } from '@nats-io/transport-node';\nexport const c = connect;\n";
  const messages = await lint(code, 'actors/master/master.machine.ts');
  t.true(messages.some((m) => m.ruleId === 'no-restricted-imports'), JSON.stringify(messages));
});

test('importing runtime/ from an actor file is reported', async (t) => {
  const code = "import { startNatsServer } from '../../runtime/nats-server.ts';\nexport const s = startNatsServer;\n";
  const messages = await lint(code, 'actors/master/master.machine.ts');
  t.true(messages.some((m) => m.ruleId === 'no-restricted-imports'), JSON.stringify(messages));
});

test('xstate in a non-machine actor file is reported, and allowed in a *.machine.ts', async (t) => {
  const pure = await lint("import 'xstate';\n", 'actors/master/allocator.ts');
  t.true(pure.some((m) => m.ruleId === 'no-restricted-imports'), JSON.stringify(pure));

  const machine = await lint("import 'xstate';\n", 'actors/master/master.machine.ts');
  t.deepEqual(machine, []);
});

test('protocols/ may not import actors/ or xstate; runtime/ may not import cmd/', async (t) => {
  const protocols = await lint("import '../actors/master/state.ts';\nimport 'xstate';\n", 'protocols/x.ts');
  t.is(protocols.filter((m) => m.ruleId === 'no-restricted-imports').length, 2, JSON.stringify(protocols));

  const runtime = await lint("import '../cmd/main.ts';\n", 'runtime/x.ts');
  t.true(runtime.some((m) => m.ruleId === 'no-restricted-imports'), JSON.stringify(runtime));
});

test('a clean actor module is not reported', async (t) => {
  const code = [
    "import type { Pid } from '../../protocols/pid.ts';",
    '',
    '/** Deadline for a timeout that started at `now` (time comes from the caller). */',
    'export function deadline(now: number, timeoutMs: number, _who?: Pid): number {',
    '  return now + timeoutMs;',
    '}',
    '',
  ].join('\n');
  const messages = await lint(code, 'actors/x/y.ts');
  t.deepEqual(messages, []);
});

test("examples/ may import only the package ('mesos-ts', 'mesos-ts/…'); runtime/ may not import api/", async (t) => {
  const inside = await lint("import '../runtime/scheduler-driver.ts';\nimport '../../api/index.ts';\n", 'examples/pi/x.ts');
  t.is(inside.filter((m) => m.ruleId === 'no-restricted-imports').length, 2, JSON.stringify(inside));

  const pkg = await lint("import 'mesos-ts';\nimport 'mesos-ts/executor';\nimport 'node:util';\n", 'examples/pi/x.ts');
  t.deepEqual(pkg, []);

  const runtime = await lint("import '../api/index.ts';\n", 'runtime/x.ts');
  t.true(runtime.some((m) => m.ruleId === 'no-restricted-imports'), JSON.stringify(runtime));
});
