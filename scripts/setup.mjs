#!/usr/bin/env node
// Prepares a checkout to run: installs npm dependencies when they are missing or stale, and makes
// sure a nats-server binary and Chromium (for the web UI's browser tests) exist, installing the
// Debian packages when running as root; bundles the executors and the web UI.
// Runs before `npm start` and `npm test` (pre-scripts). Plain Node, no dependencies.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const NATS_DIRS = ['/usr/sbin', '/usr/local/bin', '/usr/bin'];

function say(line) {
  console.log(`[setup] ${line}`);
}

function fail(line) {
  console.error(`[setup] ${line}`);
  process.exit(1);
}

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Runs a command with inherited output; exits the setup on failure. */
function run(cmd, args, env = process.env) {
  say(`running: ${cmd} ${args.join(' ')}`);
  const res = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env });
  if (res.error) fail(`could not run ${cmd}: ${res.error.message}`);
  if (res.status !== 0) {
    const how = res.signal ? `signal ${res.signal}` : `exit code ${res.status}`;
    fail(`'${cmd} ${args.join(' ')}' failed (${how})`);
  }
}

function ensureDependencies() {
  const installedAt = mtime(join(root, 'node_modules', '.package-lock.json'));
  const newestManifest = Math.max(mtime(join(root, 'package.json')) ?? 0, mtime(join(root, 'package-lock.json')) ?? 0);
  if (installedAt !== undefined && installedAt >= newestManifest) {
    say('dependencies up to date');
    return;
  }
  say(installedAt === undefined ? 'node_modules missing: installing dependencies' : 'package.json or the lock changed: installing dependencies');
  // `npm install` follows package-lock.json. (`npm ci` refuses this lock: npm 11 leaves other
  // platforms' optional native packages out of it and then reports it out of sync.)
  run('npm', ['install', '--no-audit', '--no-fund']);
}

function findNatsServer() {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean).concat(NATS_DIRS);
  for (const dir of dirs) {
    const candidate = join(dir, 'nats-server');
    try {
      if (statSync(candidate).isFile()) {
        accessSync(candidate, constants.X_OK);
        return candidate;
      }
    } catch {
      // not here
    }
  }
  return undefined;
}

function ensureNatsServer() {
  if (process.env.NATS_URL) {
    say('NATS_URL is set: not checking for nats-server');
    return;
  }
  const found = findNatsServer();
  if (found) {
    say(`nats-server found: ${found}`);
    return;
  }
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    console.error("nats-server is missing: run 'sudo apt-get install -y nats-server' (or set NATS_URL)");
    process.exit(1);
  }
  say('nats-server missing: installing the Debian package');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update'], env);
  run('apt-get', ['install', '-y', '--no-install-recommends', 'nats-server'], env);
  const installed = findNatsServer();
  if (!installed) fail('apt-get installed nats-server but no nats-server binary was found afterwards');
  say(`nats-server installed: ${installed}`);
}

const CHROMIUM_NAMES = ['chromium', 'chromium-browser'];

/** The Chromium binary the web UI's browser tests drive, when one is installed. */
function findChromium() {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean).concat(['/usr/bin']);
  for (const dir of dirs) {
    for (const name of CHROMIUM_NAMES) {
      const candidate = join(dir, name);
      try {
        if (statSync(candidate).isFile()) {
          accessSync(candidate, constants.X_OK);
          return candidate;
        }
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/**
 * Makes sure a headless Chromium exists for the web UI's browser tests (playwright-core drives
 * it; its own browser download is not used): the Debian package when running as root, else a
 * hint (only those tests need it).
 */
function ensureChromium() {
  if (process.env.CHROMIUM_PATH) {
    say(`CHROMIUM_PATH is set: ${process.env.CHROMIUM_PATH}`);
    return;
  }
  const found = findChromium();
  if (found) {
    say(`chromium found: ${found}`);
    return;
  }
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    say("chromium is missing: the web UI's browser tests need it ('sudo apt-get install -y chromium', or set CHROMIUM_PATH)");
    return;
  }
  say('chromium missing: installing the Debian package');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update'], env);
  run('apt-get', ['install', '-y', 'chromium'], env);
  const installed = findChromium();
  if (!installed) fail('apt-get installed chromium but no chromium binary was found afterwards');
  say(`chromium installed: ${installed}`);
}

/** Bundles the executors (see scripts/build.mjs); a failure only costs start-up time. */
function buildExecutors() {
  const res = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (res.status !== 0) say('could not bundle the executors; they will start through tsx (slower)');
}

ensureDependencies();
ensureNatsServer();
ensureChromium();
buildExecutors();
say('ready');
