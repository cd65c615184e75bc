/**
 * The package as another project gets it: `npm pack` (whose `prepare` compiles `dist/`), a fresh
 * project outside the repository that installs the tarball, a `main.ts` importing
 * `mesos-ts/scheduler` and `mesos-ts/resources` checked by plain `tsc`, and the compiled framework
 * run by plain `node` (no tsx, no source condition) against a secured cluster, to completion.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { DEFAULT_WAIT_MS, REPO_ROOT } from '../helpers/processes.ts';
import { E2ECluster } from './support.ts';

const run = promisify(execFile);
const e2e = new E2ECluster('e2e-package');
/** Packing (a `tsc` build), installing from the npm cache and type-checking, on a slow shared machine. */
const SETUP_MS = 300_000;
let project: string | undefined;

test.before(async (t) => {
  t.timeout(4 * DEFAULT_WAIT_MS);
  await e2e.start(1);
});

test.after.always(async () => {
  await e2e.stop();
  if (project) await rm(project, { recursive: true, force: true });
});

/** The consumer's framework: one shell command as a task; exits 0 once it finished. */
const MAIN = `import { parseArgs } from 'node:util';
import { SchedulerDriver, isTerminalState, type Scheduler, type TaskState } from 'mesos-ts/scheduler';
import { parseResources } from 'mesos-ts/resources';

// @ts-expect-error: the package's types are real (a task state is one of Mesos')
const notAState: TaskState = 'TASK_BOGUS';
void notAState;

const { values: flags } = parseArgs({ options: { nats: { type: 'string' }, cluster: { type: 'string' }, credential: { type: 'string' }, insecure: { type: 'boolean' } } });
const resources = parseResources('cpus:0.1;mem:32');
let launched = false;
let finished = false;
const scheduler: Scheduler = {
  resourceOffers: (driver, offers) => {
    for (const offer of offers) {
      if (launched) {
        driver.declineOffer(offer.id);
        continue;
      }
      launched = true;
      driver.launchTasks([offer.id], [{ taskId: 'hello', name: 'hello', agentId: offer.agentId, resources, command: { value: 'echo hello' } }]);
    }
  },
  statusUpdate: (driver, status) => {
    if (!isTerminalState(status.state)) return;
    finished = status.state === 'TASK_FINISHED';
    void driver.stop();
  },
};
const driver = await SchedulerDriver.connect(scheduler, { name: 'consumer', roles: ['*'] }, flags);
console.log(\`\${await driver.run()}: task hello \${finished ? 'finished' : 'did not finish'}\`);
process.exitCode = finished ? 0 : 1;
`;

test('a project outside the repository installs the packed package, type-checks against it with tsc and runs a framework with plain node', async (t) => {
  t.timeout(SETUP_MS + DEFAULT_WAIT_MS);
  project = await mkdtemp(join(tmpdir(), 'mesos-ts-consumer-'));
  const env = { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' };

  // `npm pack` runs `prepare`, which builds dist/.
  await run('npm', ['pack', '--pack-destination', project], { cwd: REPO_ROOT, env, timeout: SETUP_MS });
  const tarball = (await readdir(project)).find((f) => f.endsWith('.tgz'));
  if (!tarball) return t.fail('npm pack wrote no tarball');

  // Everything comes from the npm cache the repository's own install filled (@types/node at the
  // repository's version, so that it is there too).
  const typesNode = JSON.parse(await readFile(join(REPO_ROOT, 'node_modules', '@types', 'node', 'package.json'), 'utf8')) as { version: string };
  await writeFile(join(project, 'package.json'), `${JSON.stringify({ name: 'consumer', private: true, type: 'module' })}\n`);
  await run('npm', ['install', '--prefer-offline', `./${tarball}`, `@types/node@${typesNode.version}`], { cwd: project, env, timeout: SETUP_MS });

  await writeFile(join(project, 'tsconfig.json'), `${JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'nodenext', strict: true, types: ['node'], skipLibCheck: true, outDir: 'out' },
    files: ['main.ts'],
  })}\n`);
  await writeFile(join(project, 'main.ts'), MAIN);
  // Plain tsc (the repository's), on the installed declarations: no error, and the expected one is there.
  const tsc = await run(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], { cwd: project, timeout: SETUP_MS }).then(
    () => ({ ok: true, out: '' }),
    (e: { stdout?: string }) => ({ ok: false, out: e.stdout ?? String(e) }),
  );
  t.true(tsc.ok, tsc.out);

  // Plain node: the package's compiled JavaScript, ending by itself once the task finished.
  const p = e2e.procs.startNode([join(project, 'out', 'main.js'), ...e2e.flags('scheduler')], { cwd: project, label: 'consumer' });
  const { code } = await p.waitForExit(2 * DEFAULT_WAIT_MS);
  t.is(code, 0, p.tail());
  t.regex(p.output('stdout'), /^DRIVER_STOPPED: task hello finished$/m);
});
