/**
 * Start-up and flag errors of the real commands, as a user meets them.
 *
 * - A bad flag, given on the command line or as `MESOS_<FLAG>` in the environment, ends the
 *   command with status 2 and exactly one line on stderr: `<command>: <message>` naming the token
 *   (or the variable). No usage dump, no stack.
 * - `-h` and `--version` print to stdout and exit 0.
 * - A NATS server that does not answer is waited for, with a progress line, up to
 *   `--nats_connect_timeout`; then status 1 and one line naming the URL and how to start a server.
 * - A server that answers and refuses the connection (no credential, an unknown one, a TLS
 *   handshake that fails) ends the command at once: status 1, one line, no stack.
 *
 * Every wait ends on an exit or a line (bounded), never on a sleep.
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCredentials, type CredentialSet } from '../../runtime/credentials.ts';
import { startNatsServer, type NatsServerHandle } from '../../runtime/nats-server.ts';
import { ProcessRegistry, REPO_ROOT, type CommandName, type ManagedProcess } from '../helpers/processes.ts';

const WAIT = 60_000;
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const work = mkdtempSync(join(tmpdir(), 'mesos-flags-'));
const procs = new ProcessRegistry();
/** A loopback port nothing listens on (one that was free a moment ago). */
let closedPort = 0;
/** A secured server as the project ships it (NKeys and TLS), and one secured without TLS. */
let tlsServer: NatsServerHandle;
let plainServer: NatsServerHandle;
let plainCreds: CredentialSet;
/** Credentials for the same cluster name that no server here knows. */
let strangerCreds: CredentialSet;
const CLUSTER = `flags${process.pid}`;

test.before(async () => {
  closedPort = await new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
  plainCreds = writeCredentials(join(work, 'plain'), { cluster: CLUSTER, tls: false });
  strangerCreds = writeCredentials(join(work, 'stranger'), { cluster: CLUSTER, tls: false });
  [tlsServer, plainServer] = await Promise.all([
    startNatsServer({ jetstream: false, config: writeCredentials(join(work, 'tls'), { cluster: CLUSTER }).serverConfig }),
    startNatsServer({ jetstream: false, config: plainCreds.serverConfig }),
  ]);
});

test.after.always(async () => {
  await procs.stopAll(5000);
  await Promise.all([tlsServer?.stop(), plainServer?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

/** Two commands at a time: each is a Node process compiling TypeScript, on a small machine. */
let running = 0;
const queue: Array<() => void> = [];
async function slot<T>(f: () => Promise<T>): Promise<T> {
  if (running >= 2) await new Promise<void>((resolve) => queue.push(resolve));
  running++;
  try {
    return await f();
  } finally {
    running--;
    queue.shift()?.();
  }
}

/** Runs `cmd` to its exit; the environment gets `env` over this process's. */
function run(cmd: CommandName, args: string[], env: Record<string, string> = {}, label?: string): Promise<{ p: ManagedProcess; code: number | null }> {
  return slot(async () => {
    const p = procs.start(cmd, args, { env, ...(label ? { label } : {}) });
    const exit = await p.waitForExit(WAIT);
    return { p, code: exit.code };
  });
}

/** Non-empty stderr lines. */
const stderrLines = (p: ManagedProcess) => p.texts('stderr').filter((l) => l.trim() !== '');

const q = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

// ── bad flags: status 2 and one line ────────────────────────────────────────────────────────

const agentDir = () => `--work_dir=${join(work, 'agent')}`;
const BAD: Array<{ cmd: CommandName; args: () => string[]; env?: Record<string, string>; line: RegExp }> = [
  { cmd: 'mesos-master', args: () => ['--bogus'], line: /^mesos-master: unknown flag '--bogus'$/ },
  { cmd: 'mesos-master', args: () => ['--log_level=loud'], line: /^mesos-master: invalid value 'loud' for '--log_level': expected trace, debug, info, warn, error or silent$/ },
  { cmd: 'mesos-agent', args: () => [agentDir(), '--cluster=a.b'], line: /^mesos-agent: invalid value 'a\.b' for '--cluster': a cluster name is letters, digits and _-~\+=%:@ \(no dots, spaces or wildcards\)/ },
  { cmd: 'mesos-execute', args: () => ['--command=true', '--cluster=a*'], line: /^mesos-execute: invalid value 'a\*' for '--cluster': a cluster name is/ },
  { cmd: 'mesos-execute', args: () => ['--command=true', '--nats=http://127.0.0.1:4222'], line: /^mesos-execute: invalid value 'http:\/\/127\.0\.0\.1:4222' for '--nats': unsupported scheme 'http:\/\/' \(expected nats:\/\/host:port or tls:\/\/host:port\)$/ },
  { cmd: 'mesos-agent', args: () => [agentDir(), '--nats=nats://127.0.0.1:4222,ws://127.0.0.1:8080'], line: /^mesos-agent: invalid value 'nats:\/\/127\.0\.0\.1:4222,ws:\/\/127\.0\.0\.1:8080' for '--nats': 'ws:\/\/127\.0\.0\.1:8080': WebSocket URLs are not supported here/ },
  { cmd: 'mesos-pi', args: () => ['--nats=nats://'], line: /^mesos-pi: invalid value 'nats:\/\/' for '--nats': not a server URL/ },
  { cmd: 'mesos-master', args: () => ['--inspect=sky-high'], line: /^mesos-master: invalid value 'sky-high' for '--inspect': expected ui, log, ws:\/\/host:port or sky$/ },
  { cmd: 'mesos-master', args: () => ['--insecure', '--lease=0secs'], line: /^mesos-master: invalid --lease '0ms': must be positive$/ },
  { cmd: 'mesos-master', args: () => ['--nats_connect_timeout=soon'], line: /^mesos-master: invalid value for '--nats_connect_timeout': invalid duration 'soon'/ },
  { cmd: 'mesos-pi', args: () => ['--tasks=0'], line: /^mesos-pi: invalid value '0' for '--tasks': expected a whole number of at least 1$/ },
  { cmd: 'mesos-pi', args: () => ['--samples=2.5'], line: /^mesos-pi: invalid value '2\.5' for '--samples': expected a whole number of at least 1$/ },
  { cmd: 'pi-local', args: () => ['--tasks=0'], line: /^pi-local: invalid value '0' for '--tasks': expected a whole number of at least 1$/ },
  { cmd: 'pi-local', args: () => ['--agents=0'], line: /^pi-local: invalid value '0' for '--agents': expected a whole number of at least 1$/ },
  { cmd: 'pi-local', args: () => ['--log_level=chatty'], line: /^pi-local: invalid value 'chatty' for '--log_level': expected trace/ },
  { cmd: 'mesos-local', args: () => ['--agents=-2'], line: /^mesos-local: invalid value '-2' for '--agents': expected a whole number of at least 1$/ },
  { cmd: 'mesos-local', args: () => ['--cluster=a.b'], line: /^mesos-local: invalid value 'a\.b' for '--cluster'/ },
  { cmd: 'mesos-credentials', args: () => ['init', `--dir=${join(work, 'never')}`, '--cluster=a.b'], line: /^mesos-credentials: invalid value 'a\.b' for '--cluster'/ },
  // The same checks on values from the environment name the variable.
  { cmd: 'mesos-agent', args: () => [agentDir()], env: { MESOS_LOG_LEVEL: 'bogus' }, line: /^mesos-agent: invalid value 'bogus' for MESOS_LOG_LEVEL: expected trace, debug, info, warn, error or silent$/ },
  { cmd: 'mesos-master', args: () => [], env: { MESOS_CLUSTER: 'a.b' }, line: /^mesos-master: invalid value 'a\.b' for MESOS_CLUSTER: a cluster name is/ },
  { cmd: 'mesos-pi', args: () => [], env: { MESOS_TASKS: '-1' }, line: /^mesos-pi: invalid value '-1' for MESOS_TASKS: expected a whole number of at least 1$/ },
  { cmd: 'mesos-execute', args: () => ['--command=true'], env: { MESOS_INSECURE: 'yes' }, line: /^mesos-execute: invalid value 'yes' for MESOS_INSECURE: expected true or false$/ },
];

for (const c of BAD) {
  const env = Object.entries(c.env ?? {}).map(([k, v]) => `${k}=${v} `).join('');
  const shown = c.args().filter((a) => !a.startsWith('--work_dir=') && !a.startsWith('--dir=')).join(' ');
  test(`bad flag: ${env}${c.cmd} ${shown} exits 2 with one line`, async (t) => {
    t.timeout(3 * WAIT);
    const { p, code } = await run(c.cmd, c.args(), c.env);
    t.is(code, 2, p.tail());
    const err = stderrLines(p);
    t.is(err.length, 1, err.join('\n'));
    t.regex(err[0] ?? '', c.line);
  });
}

// ── help and version ───────────────────────────────────────────────────────────────────────

test('-h and --help print the flags, the common ones and the environment rule included, and exit 0', async (t) => {
  t.timeout(3 * WAIT);
  for (const [cmd, flag] of [['mesos-agent', '-h'], ['mesos-execute', '--help']] as const) {
    const { p, code } = await run(cmd, [flag]);
    t.is(code, 0, p.tail());
    const out = p.output('stdout');
    t.regex(out, new RegExp(`^Usage: ${cmd} \\[flags\\]`));
    t.regex(out, /--nats_connect_timeout=VALUE {2}how long to wait at start-up for a NATS server/);
    t.regex(out, /--inspect\[=VALUE\] {2}where to show the machines: ui \(what --inspect alone means: the local statechart view/);
    t.regex(out, /MESOS_<FLAG>/);
    t.deepEqual(stderrLines(p), []);
  }
  // Help still helps when another flag is wrong.
  const { p, code } = await run('mesos-master', ['--bogus', '-h']);
  t.is(code, 0, p.tail());
  t.regex(p.output('stdout'), /^Usage: mesos-master/);
});

test('--version prints the command and the package version, and exits 0', async (t) => {
  t.timeout(3 * WAIT);
  for (const cmd of ['mesos-master', 'mesos-pi', 'mesos-credentials'] as const) {
    const { p, code } = await run(cmd, ['--version']);
    t.is(code, 0, p.tail());
    t.deepEqual(p.texts('stdout'), [`${cmd} ${VERSION}`]);
    t.deepEqual(stderrLines(p), []);
  }
});

// ── NATS that does not answer, or refuses ──────────────────────────────────────────────────

test('a NATS server that does not answer is waited for with a progress line, then status 1 and one line naming the URL', async (t) => {
  t.timeout(3 * WAIT);
  const url = `nats://127.0.0.1:${closedPort}`;
  await slot(async () => {
    const p = procs.start('mesos-agent', ['--insecure', `--nats=${url}`, '--nats_connect_timeout=2secs', `--work_dir=${join(work, 'unreachable')}`]);
    const waiting = new RegExp(`^mesos-agent: waiting for NATS at ${q(url)} \\(connection refused\\); start one with 'nats-server -js' \\(giving up after 2secs\\)$`);
    await p.waitForLine(waiting, WAIT, { stream: 'stderr' });
    t.is((await p.waitForExit(WAIT)).code, 1, p.tail());
    const err = stderrLines(p);
    t.regex(err.at(-1) ?? '', new RegExp(`^mesos-agent: no NATS server answered at ${q(url)} in 2secs \\(connection refused\\); start one with 'nats-server -js', or point --nats at one$`));
    // Progress lines (at most every few seconds: one in two seconds) and the last word; no stack.
    t.deepEqual(err.slice(0, -1).filter((l) => !waiting.test(l)), [], err.join('\n'));
    t.true(err.length <= 2, err.join('\n'));
  });
});

test('flags from MESOS_<FLAG> take effect, and the command line wins over them', async (t) => {
  t.timeout(3 * WAIT);
  const url = `nats://127.0.0.1:${closedPort}`;
  // MESOS_INSECURE lets it connect without a credential, MESOS_NATS points it at nothing,
  // MESOS_NATS_CONNECT_TIMEOUT=0secs makes it try once; --log_level wins over a bad MESOS_LOG_LEVEL.
  const { p, code } = await run('mesos-execute', ['--command=true', '--log_level=error'], {
    MESOS_INSECURE: 'true', MESOS_NATS: url, MESOS_NATS_CONNECT_TIMEOUT: '0secs', MESOS_LOG_LEVEL: 'bogus',
  });
  t.is(code, 1, p.tail());
  t.deepEqual(stderrLines(p), [`mesos-execute: no NATS server answered at ${url} (connection refused); start one with 'nats-server -js', or point --nats at one`]);
});

test('a server that refuses the connection ends the command at once: status 1, one line naming the URL and the reason', async (t) => {
  t.timeout(3 * WAIT);
  const cases: Array<{ what: string; cmd: CommandName; args: () => string[]; line: () => RegExp }> = [
    {
      what: 'no credential, against TLS with the cluster\'s own CA',
      cmd: 'mesos-agent',
      args: () => ['--insecure', `--nats=${tlsServer.url}`, `--cluster=${CLUSTER}`, `--work_dir=${join(work, 'refused-tls')}`],
      line: () => new RegExp(`^mesos-agent: cannot connect to NATS at ${q(tlsServer.url)}: TLS failed: .*certificate.*; the server uses TLS with its own CA: connect with a --credential`),
    },
    {
      what: 'no credential, against NKey users',
      cmd: 'mesos-pi',
      args: () => ['--insecure', '--log_level=error', `--nats=${plainServer.url}`, `--cluster=${CLUSTER}`],
      line: () => new RegExp(`^mesos-pi: cannot connect to NATS at ${q(plainServer.url)}: the server refused a connection without credentials \\(Authorization Violation\\); pass a --credential$`),
    },
    {
      what: 'a credential the server does not know',
      cmd: 'mesos-agent',
      args: () => [`--credential=${strangerCreds.files['agent:agent']}`, `--nats=${plainServer.url}`, `--cluster=${CLUSTER}`, `--work_dir=${join(work, 'refused-key')}`],
      line: () => new RegExp(`^mesos-agent: cannot connect to NATS at ${q(plainServer.url)}: the server refused this credential \\(Authorization Violation\\)$`),
    },
  ];
  for (const c of cases) {
    // Ten minutes of patience for a server that does not answer: an exit within WAIT was no retry.
    const { p, code } = await run(c.cmd, [...c.args(), '--nats_connect_timeout=10mins'], {}, c.what);
    t.is(code, 1, `${c.what}\n${p.tail()}`);
    const err = stderrLines(p);
    t.is(err.length, 1, `${c.what}\n${err.join('\n')}`);
    t.regex(err[0] ?? '', c.line(), c.what);
  }
});
