/**
 * `mesos`: the operator's command line, over the master's HTTP endpoints.
 *
 *   mesos agent list               agents: id, hostname, state, resources used / total
 *   mesos framework list           frameworks: id, name, principal, state, tasks, resources used
 *   mesos task list [--all]        running tasks (with --all: also the ended ones)
 *   mesos task log <task> [--stderr] [--follow]
 *                                  a running task's stdout (or stderr), read from its agent;
 *                                  --follow keeps printing what it writes, until interrupted
 *   mesos task cat <task> <file>   a file of a running task's sandbox
 *   mesos state                    the master's whole state (JSON)
 *   mesos roles                    roles with their weights and frameworks
 *   mesos framework teardown <id>, mesos quota [set|remove], mesos weights [set], mesos top
 *                                  the operator's writes and a live view (`operator-commands.ts`)
 *
 * `--master=host:port` names any master: a standby's 307 leads to the leader. Without it, the
 * leader's HTTP address is read from the bus (`--nats`, with `--credential` or `--insecure`),
 * else `127.0.0.1:5050` is asked. Tables on a terminal, `--json` for scripts. Exit codes: 0 done, 1 the cluster could not
 * be asked (no master answers, none leads, the credentials are refused), 2 a bad command or flag.
 *
 * A cluster whose endpoints authenticate is asked with HTTP Basic: `--credential=<file>` (a
 * principal's credential file from `mesos-credentials init`: its HTTP secret, and the cluster's CA
 * for HTTPS) or `--principal` and `--secret`. With a CA (the credential's or `--ca`) the master is
 * asked over HTTPS and its certificate must chain to that CA; `--master=https://…` or `http://…`
 * says which outright.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { SandboxTail } from '../runtime/http/sandbox-tail.ts';
import { basicHeader } from '../runtime/http/http-auth.ts';
import { CredentialError, loadCredential } from '../runtime/credentials.ts';
import { COMMON_FLAGS, exitBadFlag, packageVersion, parseFlags, usage, type FlagSpec } from './flags.ts';
import { findMaster, isOperatorCommand, runOperatorCommand } from './operator-commands.ts';

const COMMAND = 'mesos';
const SPECS = {
  master: { type: 'string', help: 'a master to ask (host:port); a standby sends the request on to the leader (default: the leader the bus names, else 127.0.0.1:5050)' },
  json: { type: 'boolean', help: 'print JSON instead of a table', default: false },
  all: { type: 'boolean', help: 'task list: the ended tasks too', default: false },
  stderr: { type: 'boolean', help: 'task log: stderr instead of stdout', default: false },
  follow: { type: 'boolean', help: 'task log: keep printing what the task writes', default: false },
  once: { type: 'boolean', help: 'top: print one snapshot and exit (also when stdout is not a terminal)', default: false },
  limit: { type: 'string', help: 'quota set: the limits too (cpus=4,mem=1024)' },
  nats: COMMON_FLAGS.nats,
  nats_connect_timeout: { ...COMMON_FLAGS.nats_connect_timeout, default: '5secs' },
  cluster: COMMON_FLAGS.cluster,
  insecure: { type: 'boolean', help: 'find the leader on a bus without credentials', default: false },
  nats_tls_ca: COMMON_FLAGS.nats_tls_ca,
  nats_tls_cert: COMMON_FLAGS.nats_tls_cert,
  nats_tls_key: COMMON_FLAGS.nats_tls_key,
  credential: { type: 'string', help: "a principal's credential file (mesos-credentials init): its HTTP secret, and the cluster's CA for HTTPS" },
  principal: { type: 'string', help: 'the principal to authenticate as (with --secret)' },
  secret: { type: 'string', help: "the principal's HTTP secret (with --principal)" },
  ca: { type: 'string', help: "CA certificate (PEM) the master's HTTPS certificate must chain to (default: the credential's)" },
  help: COMMON_FLAGS.help,
  version: COMMON_FLAGS.version,
} as const satisfies Record<string, FlagSpec>;

const HELP = `Usage: ${COMMAND} <command> [flags]
Commands:
  agent list         the agents, their state and resources
  framework list     the frameworks, their state, tasks and resources
  task list [--all]  the running tasks (--all: the ended ones too)
  task log <task> [--stderr] [--follow]
                     a running task's stdout or stderr, from its agent
  task cat <task> <file>
                     a file of a running task's sandbox
  state              the master's whole state, as JSON
  roles              the roles, their weights and frameworks
  framework teardown <id>
                     end a framework: its tasks are killed
  quota              the roles' quota
  quota set <role> cpus=…,mem=… [--limit=cpus=…]
  quota remove <role>
  weights            the roles' weights
  weights set <role>=<weight> …
  top [--once]       agents' and frameworks' usage, live on a terminal
${usage(COMMAND, SPECS).split('\n').slice(1).join('\n')}`;

type Json = Record<string, any>;

/** How the master is asked: HTTP or HTTPS (trusting `ca`), with or without Basic credentials. */
interface Client {
  scheme: 'http' | 'https';
  authorization?: string;
  ca?: Buffer;
}
const client: Client = { scheme: 'http' };

/** A `GET` of `url` as {@link client}: its status, `Location` and body. */
function get(url: string): Promise<{ status: number; location?: string; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers = client.authorization ? { authorization: client.authorization } : {};
    const done = (res: import('node:http').IncomingMessage) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ...(res.headers.location ? { location: res.headers.location } : {}), text }));
      res.on('error', reject);
    };
    const req = u.protocol === 'https:'
      ? httpsRequest(u, { headers, ...(client.ca ? { ca: client.ca } : {}), timeout: 30_000 }, done)
      : httpRequest(u, { headers, timeout: 30_000 }, done);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** The master's base URL: `--master` as given with a scheme, else {@link client}'s scheme. */
const baseUrl = (master: string) => (/^https?:\/\//.test(master) ? master.replace(/\/+$/, '') : `${client.scheme}://${master}`);

/** Sets {@link client} up from the flags; a bad combination exits 2. */
function setUpClient(flags: { credential?: string; principal?: string; secret?: string; ca?: string }): void {
  let principal = flags.principal;
  let secret = flags.secret;
  let ca = flags.ca;
  if ((principal === undefined) !== (secret === undefined)) exitBadFlag(COMMAND, '--principal and --secret go together');
  if (flags.credential !== undefined) {
    if (principal !== undefined) exitBadFlag(COMMAND, '--credential or --principal and --secret, not both');
    try {
      const c = loadCredential(flags.credential);
      if (c.httpSecret === undefined) exitBadFlag(COMMAND, `--credential: ${flags.credential} has no HTTP secret (written by an older mesos-credentials init?)`);
      principal = c.principal;
      secret = c.httpSecret;
      ca ??= c.tls?.ca;
    } catch (e) {
      if (!(e instanceof CredentialError)) throw e;
      exitBadFlag(COMMAND, `--credential: ${e.message}`);
    }
  }
  if (principal !== undefined && secret !== undefined) client.authorization = basicHeader(principal, secret);
  if (ca !== undefined) {
    try {
      client.ca = readFileSync(ca);
    } catch (e) {
      exitBadFlag(COMMAND, `--ca: cannot read '${ca}': ${(e as Error).message}`);
    }
    client.scheme = 'https';
  }
}

/** Asks the cluster for `path`; a standby's 307 is followed to the leader. Exits 1 when it cannot. */
async function ask(master: string, path: string): Promise<Json> {
  let url = `${baseUrl(master)}${path}`;
  for (let hop = 0; hop < 3; hop++) {
    let r: { status: number; location?: string; text: string };
    try {
      r = await get(url);
    } catch (e) {
      const cause = (e as { code?: string }).code ?? (e as Error).message;
      process.stderr.write(`${COMMAND}: no master answers at ${master} (${cause}); give one with --master=host:port\n`);
      process.exit(1);
    }
    if (r.status === 307) {
      url = new URL(r.location ?? '/', url).toString();
      continue;
    }
    if (r.status === 401) {
      process.stderr.write(`${COMMAND}: the master refused the credentials (401)${client.authorization ? '' : '; give --credential, or --principal and --secret'}\n`);
      process.exit(1);
    }
    if (r.status === 403) {
      process.stderr.write(`${COMMAND}: not permitted (403): ${url}\n`);
      process.exit(1);
    }
    if (r.status === 503) {
      process.stderr.write(`${COMMAND}: no master leads the cluster right now; try again shortly\n`);
      process.exit(1);
    }
    if (r.status !== 200) {
      process.stderr.write(`${COMMAND}: ${url} answered ${r.status}: ${r.text.slice(0, 200)}\n`);
      process.exit(1);
    }
    try {
      return JSON.parse(r.text) as Json;
    } catch {
      process.stderr.write(`${COMMAND}: ${url} answered something other than JSON\n`);
      return process.exit(1);
    }
  }
  process.stderr.write(`${COMMAND}: too many redirects from ${master}\n`);
  return process.exit(1);
}

/** Prints rows as aligned columns, headed by `columns`. */
function table(columns: string[], rows: string[][]): void {
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  process.stdout.write(`${[line(columns), ...rows.map(line)].join('\n')}\n`);
}

const res = (r: Json | undefined) => `cpus ${r?.cpus ?? 0}, mem ${r?.mem ?? 0} MB`;

/** Whether the agent at `agentHttp` has a file at `path` (its size is asked: a missing file is 404). */
async function sandboxHas(agentHttp: string, path: string): Promise<boolean> {
  try {
    const r = await fetch(`http://${agentHttp}/files/read?path=${encodeURIComponent(path)}&offset=-1`, { signal: AbortSignal.timeout(30_000) });
    return r.status !== 404;
  } catch {
    // The agent does not answer: the read says so.
    return true;
  }
}

/**
 * `task log` and `task cat`: finds the task's sandbox and agent in the master's state, then reads
 * `file` of the sandbox from the agent (following it, with `follow`, until interrupted).
 */
async function taskFile(flags: { master: string }, taskId: string, file: string, follow: boolean): Promise<void> {
  const s = await ask(flags.master, '/master/frameworks');
  const task = (s.frameworks as Json[]).flatMap((f) => f.tasks as Json[]).find((t) => t.id === taskId);
  if (!task) {
    const ended = [...s.frameworks, ...s.completed_frameworks].some((f: Json) => (f.completed_tasks as Json[]).some((t) => t.id === taskId));
    process.stderr.write(`${COMMAND}: ${ended ? `task '${taskId}' has ended; the master no longer says where its sandbox was` : `no running task '${taskId}'`}\n`);
    process.exit(1);
  }
  const { slaves } = await ask(flags.master, '/master/slaves');
  const agent = (slaves as Json[]).find((a) => a.id === task.slave_id);
  if (!task.sandbox || !agent?.http_address) {
    process.stderr.write(`${COMMAND}: the master does not know where task '${taskId}' writes its output yet; try again shortly\n`);
    process.exit(1);
  }
  if (!follow && !(await sandboxHas(String(agent.http_address), `${String(task.sandbox)}/${file}`))) {
    process.stderr.write(`${COMMAND}: task '${taskId}' has no file '${file}' in its sandbox\n`);
    process.exit(1);
  }
  const tail = new SandboxTail({
    agentHttp: String(agent.http_address),
    path: `${String(task.sandbox)}/${file}`,
    write: (text) => process.stdout.write(text),
    warn: (m) => process.stderr.write(`${COMMAND}: ${m}\n`),
  });
  if (follow) {
    // Until interrupted; what is left is printed on the way out.
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  }
  await tail.finish();
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const words = argv.filter((a) => !a.startsWith('-'));
  let flags;
  try {
    flags = parseFlags(argv.filter((a) => a.startsWith('-')), SPECS);
  } catch (e) {
    exitBadFlag(COMMAND, (e as Error).message);
  }
  if (flags.help || words.length === 0) {
    process.stdout.write(`${HELP}\n`);
    process.exit(flags.help ? 0 : 2);
  }
  if (flags.version) {
    process.stdout.write(`${COMMAND} ${packageVersion()}\n`);
    process.exit(0);
  }
  setUpClient(flags);
  const master = await findMaster(flags.master, flags);
  if (isOperatorCommand(words)) {
    return runOperatorCommand(words, { client, master, json: flags.json, once: flags.once, ...(flags.limit !== undefined ? { limit: flags.limit } : {}) });
  }
  const out = (doc: unknown, print: () => void) => (flags.json ? process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`) : print());
  if (words[0] === 'task' && words[1] === 'log') {
    if (words.length !== 3) exitBadFlag(COMMAND, 'task log takes one task id: mesos task log <task> [--stderr] [--follow]');
    return taskFile({ master }, words[2]!, flags.stderr ? 'stderr' : 'stdout', flags.follow);
  }
  if (words[0] === 'task' && words[1] === 'cat') {
    if (words.length !== 4) exitBadFlag(COMMAND, 'task cat takes a task id and a file: mesos task cat <task> <file>');
    if (words[3]!.split('/').includes('..')) exitBadFlag(COMMAND, `'${words[3]}': a file inside the sandbox`);
    return taskFile({ master }, words[2]!, words[3]!, false);
  }
  const cmd = words.join(' ');
  switch (cmd) {
    case 'agent list': {
      const { slaves } = await ask(master, '/master/slaves');
      return void out(slaves, () => table(['ID', 'HOSTNAME', 'STATE', 'USED', 'TOTAL'],
        (slaves as Json[]).map((a) => [a.id, a.hostname, a.active ? 'active' : 'inactive', res(a.used_resources), res(a.resources)])));
    }
    case 'framework list': {
      const s = await ask(master, '/master/frameworks');
      const rows: Json[] = [...(s.frameworks as Json[]).map((f) => ({ ...f, state: f.connected ? 'connected' : 'disconnected' })),
        ...(s.completed_frameworks as Json[]).map((f) => ({ ...f, state: 'completed' }))];
      return void out(rows, () => table(['ID', 'NAME', 'PRINCIPAL', 'STATE', 'TASKS', 'USED'],
        rows.map((f) => [f.id, f.name, f.principal ?? '', f.state, String(f.tasks.length), res(f.used_resources)])));
    }
    case 'task list': {
      const s = await ask(master, '/master/frameworks');
      const tasks: Json[] = [];
      for (const f of [...s.frameworks, ...s.completed_frameworks] as Json[]) {
        tasks.push(...f.tasks, ...(f.unreachable_tasks ?? []));
        if (flags.all) tasks.push(...f.completed_tasks);
      }
      return void out(tasks, () => table(['ID', 'FRAMEWORK', 'AGENT', 'STATE', 'RESOURCES'],
        tasks.map((t) => [t.id, t.framework_id, t.slave_id, t.state, res(t.resources)])));
    }
    case 'state':
      return void process.stdout.write(`${JSON.stringify(await ask(master, '/master/state'), null, 2)}\n`);
    case 'roles': {
      const { roles } = await ask(master, '/master/roles');
      return void out(roles, () => table(['ROLE', 'WEIGHT', 'FRAMEWORKS', 'USED'],
        (roles as Json[]).map((r) => [r.name, String(r.weight), String(r.frameworks.length), res(r.resources)])));
    }
    default:
      exitBadFlag(COMMAND, `unknown command '${cmd}' (try: agent list, framework list, task list, state, roles, quota, weights, top)`);
  }
}

await main();
