/**
 * Executors start from the bundle `scripts/build.mjs` made while it is current, and through tsx
 * otherwise.
 */
import test from 'ava';
import { existsSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import { bundleOf, nodeCommand, nodeScriptArgv } from '../../runtime/node-command.ts';

const script = fileURLToPath(new URL('../../cmd/mesos-executor.ts', import.meta.url));
const build = fileURLToPath(new URL('../../scripts/build.mjs', import.meta.url));

test('a current bundle is used; a stale one is not', (t) => {
  t.is(spawnSync(process.execPath, [build]).status, 0);
  const bundle = bundleOf(script);
  t.truthy(bundle);
  t.true(existsSync(bundle!));
  t.deepEqual(nodeScriptArgv(script), [process.execPath, bundle]);
  const { atime, mtime } = statSync(bundle!);
  try {
    // A bundle older than the sources would run old code: fall back to tsx.
    utimesSync(bundle!, new Date(0), new Date(0));
    t.is(bundleOf(script), undefined);
    t.deepEqual(nodeScriptArgv(script).slice(1, 2), ['--import']);
  } finally {
    utimesSync(bundle!, atime, mtime);
  }
});

test('scripts outside the project never use a bundle', (t) => {
  t.is(bundleOf('/elsewhere/x.ts'), undefined);
});

test("nodeCommand runs a module with this process's Node and flags, whatever its path holds", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "node-command it's $HOME "));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const module = join(dir, 'print.ts');
  // TypeScript: it runs only with the loader this test process runs with (ava's --import=tsx).
  writeFileSync(module, 'const flags: string[] = process.execArgv;\nconsole.log(JSON.stringify(flags));\n');
  for (const given of [module, pathToFileURL(module), pathToFileURL(module).href]) {
    const r = spawnSync('/bin/sh', ['-c', nodeCommand(given)], { cwd: process.cwd(), encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    t.deepEqual(JSON.parse(r.stdout), process.execArgv);
  }
});
