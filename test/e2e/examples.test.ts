/**
 * The example frameworks under `examples/`, run as a framework author runs them: separate
 * processes importing only `mesos-ts` (resolved to `api/` by the `mesos-ts-source` condition),
 * against a secured cluster of real processes, with the flags `mesos-local` prints. Each must end
 * by itself: nothing calls `process.exit`, so a connection left open fails the test by timeout.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { DEFAULT_WAIT_MS, REPO_ROOT, type ManagedProcess } from '../helpers/processes.ts';
import { E2ECluster, logMsg } from './support.ts';

const e2e = new E2ECluster('e2e-examples');
/** Upper bound for one example to run to completion on a slow, shared machine. */
const RUN_MS = 120_000;

test.before(async (t) => {
  t.timeout(4 * DEFAULT_WAIT_MS);
  await e2e.start(1);
});

test.after.always(async () => {
  await e2e.stop();
  if (e2e.leftovers.length > 0) console.error(`examples.test.ts: killed leftover processes: ${JSON.stringify(e2e.leftovers)}`);
});

/**
 * Starts `examples/<file>` with the cluster's framework flags. The loader is named by path (as the
 * `tsx` command does), so the executor command the example builds from this process's flags
 * (`nodeCommand`) works from a sandbox too.
 */
function startExample(file: string, args: readonly string[], label = file): ManagedProcess {
  return e2e.procs.startNode(['--conditions=mesos-ts-source', '--import', import.meta.resolve('tsx'), join('examples', file), ...e2e.flags('scheduler'), ...args], { label });
}

test.serial('examples/pi: the estimate is printed and the process ends by itself with status 0', async (t) => {
  t.timeout(RUN_MS + DEFAULT_WAIT_MS);
  const p = startExample('pi/scheduler.ts', ['--tasks=4', '--samples=200000']);
  const { code } = await p.waitForExit(RUN_MS);
  t.is(code, 0, p.tail());
  const estimate = Number(/Pi is roughly (\S+)/.exec(p.output('stdout'))?.[1]);
  // 800,000 darts: the standard error of the estimate is about 0.002.
  t.true(Math.abs(estimate - Math.PI) < 0.05, `estimate ${estimate}\n${p.tail()}`);
});

test.serial('examples/run-commands: every command runs as a task, its output lands in its sandbox, and the status is 0 only when all finished', async (t) => {
  t.timeout(2 * RUN_MS);
  const ok = startExample('run-commands.ts', ['--', 'echo one-from-examples', 'echo two-from-examples'], 'run-commands ok');
  t.is((await ok.waitForExit(RUN_MS)).code, 0, ok.tail());
  for (const [i, word] of ['one', 'two'].entries()) {
    const line = ok.filter(new RegExp(`^command-${i} TASK_FINISHED .*; output in (\\S+)$`))[0];
    if (!line) return t.fail(`no TASK_FINISHED line for command-${i}\n${ok.tail()}`);
    const sandbox = /output in (\S+)$/.exec(line.text)![1]!;
    t.is(await readFile(join(sandbox, 'stdout'), 'utf8'), `${word}-from-examples\n`);
  }

  const failing = startExample('run-commands.ts', ['--', 'true', 'exit 3'], 'run-commands failing');
  t.is((await failing.waitForExit(RUN_MS)).code, 1, failing.tail());
  t.regex(failing.output('stdout'), /command-1 TASK_FAILED/);
});

test.serial('examples/run-commands: SIGTERM tears the framework down, killing its task, and the process ends', async (t) => {
  t.timeout(RUN_MS + DEFAULT_WAIT_MS);
  const seen: string[] = [];
  let updated!: () => void;
  const statusUpdate = new Promise<void>((resolve) => (updated = resolve));
  await e2e.tap((subject) => {
    // mesos.<cluster>.<kind>.<principal>.<id>.<Type>.…
    const type = subject.split('.')[5]!;
    seen.push(type);
    if (type === 'StatusUpdate') updated();
  });
  const agent = e2e.agents[0]!.proc;
  const since = agent.mark();
  const p = startExample('run-commands.ts', ['--', 'sleep 600'], 'run-commands sleeping');
  // The agent reports the task starting: it runs.
  await statusUpdate;
  p.signal('SIGTERM');
  const { code } = await p.waitForExit(DEFAULT_WAIT_MS);
  t.is(code, 1, p.tail());
  t.true(seen.includes('TeardownFramework'), seen.join(' '));
  // The master shut the framework down on the agent, which kills its tasks.
  await t.notThrowsAsync(agent.waitForLine(logMsg(/^Shutting down framework /), DEFAULT_WAIT_MS, { since }));
});

test('the README shows examples/pi/scheduler.ts verbatim', async (t) => {
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  const example = await readFile(join(REPO_ROOT, 'examples', 'pi', 'scheduler.ts'), 'utf8');
  t.true(readme.includes(`\`\`\`ts\n${example}\`\`\`\n`), 'the README block differs from examples/pi/scheduler.ts');
});
