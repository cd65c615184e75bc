#!/usr/bin/env node
// Runs ava in TAP mode, streams its output, and ends with one plain summary line that CI reads:
//   N passed, M failed[, K skipped]
// Extra arguments are passed to ava (file filters such as test/runtime/nats-server.test.ts).
// Exit code: ava's when non-zero; 1 when no test ran (ava can exit 0 when test files fail to load)
// or when a failure was seen although ava exited 0.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const extraArgs = process.argv.slice(2);

/** The local ava CLI run with this Node, or `npx ava` when it cannot be located. */
function avaCommand() {
  try {
    const pkg = JSON.parse(readFileSync(join(root, 'node_modules', 'ava', 'package.json'), 'utf8'));
    const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.ava;
    const cli = bin ? join(root, 'node_modules', 'ava', bin) : undefined;
    if (cli && existsSync(cli)) return { cmd: process.execPath, args: [cli] };
  } catch {
    // fall through to npx
  }
  return { cmd: 'npx', args: ['--no-install', 'ava'] };
}

// "ok 3 - file › title", "not ok 4 - title # TODO", "ok 2 - title # SKIP"
const TEST_LINE = /^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*)$/;
const DIRECTIVE = /\s#\s*(SKIP|TODO)\b[^#]*$/i;

let passed = 0;
let failed = 0;
let skipped = 0;
let bailedOut = false;
/** Failed tests with their YAML diagnostics, repeated at the end so they are easy to find. */
const failures = [];
let currentFailure;
let inYaml = false;

function onLine(line) {
  process.stdout.write(`${line}\n`);

  if (inYaml) {
    currentFailure?.details.push(line);
    if (/^\s*\.\.\.\s*$/.test(line)) inYaml = false;
    return;
  }
  if (currentFailure && /^\s+---\s*$/.test(line)) {
    inYaml = true;
    currentFailure.details.push(line);
    return;
  }
  if (currentFailure && /^#\s{3}/.test(line)) {
    // t.log() output attached to the failed test
    currentFailure.details.push(line);
    return;
  }
  currentFailure = undefined;

  if (/^Bail out!/.test(line)) {
    bailedOut = true;
    return;
  }
  const m = TEST_LINE.exec(line);
  if (!m) return;
  const ok = m[1] === 'ok';
  const description = m[3] ?? '';
  if (DIRECTIVE.test(description)) {
    skipped += 1;
  } else if (ok) {
    passed += 1;
  } else {
    failed += 1;
    currentFailure = { title: description, details: [] };
    failures.push(currentFailure);
  }
}

const { cmd, args } = avaCommand();
const child = spawn(cmd, [...args, '--tap', ...extraArgs], {
  cwd: root,
  stdio: ['ignore', 'pipe', 'inherit'],
  env: process.env,
});

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  });
}

let partial = '';
child.stdout.setEncoding('utf8');
child.stdout.on('data', (chunk) => {
  partial += chunk;
  let nl;
  while ((nl = partial.indexOf('\n')) >= 0) {
    onLine(partial.slice(0, nl).replace(/\r$/, ''));
    partial = partial.slice(nl + 1);
  }
});

child.on('error', (err) => {
  console.error(`run-tests: could not start ava (${cmd}): ${err.message}`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(1);
});

child.on('close', (code, signal) => {
  if (partial.length > 0) onLine(partial);

  let exitCode = code ?? 1;
  if (signal) console.error(`run-tests: ava was killed by ${signal}`);
  if (bailedOut) console.error('run-tests: ava bailed out');

  if (failures.length > 0) {
    console.log('');
    console.log(`Failures (${failures.length}):`);
    for (const f of failures) {
      console.log(`  ✘ ${f.title}`);
      for (const d of f.details) console.log(`    ${d}`);
    }
  }

  if (passed + failed === 0) {
    console.error(
      'run-tests: no tests ran — check that the test files load (ava needs "workerThreads": false with tsx) and that the filters match files',
    );
    if (exitCode === 0) exitCode = 1;
  }
  if (failed > 0 && exitCode === 0) exitCode = 1;

  console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
  process.exit(exitCode);
});
