/**
 * Executors start from the bundle `scripts/build.mjs` made while it is current, and through tsx
 * otherwise.
 */
import test from 'ava';
import { existsSync, statSync, utimesSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { bundleOf, nodeScriptArgv } from '../../runtime/node-command.ts';

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
