/**
 * `mesos-credentials init --dir DIR`: everything a secured cluster needs, written once.
 *
 * - One credential file per principal (`<kind>-<principal>.json`, owner-only): masters, agents,
 *   each framework principal, operators, and observers (tools that watch the bus). Processes take
 *   theirs with `--credential`.
 * - `auth.conf`: the server's users (public keys only) with their permissions.
 * - With TLS (the default; `--no-tls` for none): the cluster's CA, the server's certificate (for
 *   `localhost`, `127.0.0.1` and `--hostnames`) and a client certificate per principal under
 *   `tls/`; each credential file names its principal's; `tls.conf` is the server's side.
 * - `nats.conf`: a whole nats-server configuration that includes them (`nats-server -c DIR/nats.conf`).
 * - `http-credentials.json`: a random HTTP secret per principal (also in its credential file), for
 *   the masters' and agents' `--http_credentials`; with TLS, the server certificate serves HTTPS
 *   (`--http_tls_cert`, `--http_tls_key`).
 *
 * Principals are comma-separated lists; names are letters, digits and `_-~+=%:@`.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CredentialError, writeCredentials } from '../runtime/credentials.ts';
import { SERVER_TUNING } from '../runtime/nats-server.ts';
import { clusterNameProblem, FlagError, packageVersion, parseFlags, usage, type FlagSpec } from './flags.ts';

const SPECS = {
  dir: { type: 'string', help: 'where to write the credentials and the server config' },
  cluster: { type: 'string', help: 'cluster name the credentials are for', default: 'mesos', check: clusterNameProblem },
  masters: { type: 'string', help: 'master principals', default: 'master' },
  agents: { type: 'string', help: 'agent principals', default: 'agent' },
  frameworks: { type: 'string', help: 'framework principals', default: 'framework' },
  operators: { type: 'string', help: 'operator principals', default: 'operator' },
  observers: { type: 'string', help: 'observer principals (read the whole cluster bus, send nothing)', default: '' },
  listen: { type: 'string', help: 'address the server listens on', default: '127.0.0.1:4222' },
  tls: { type: 'boolean', help: "TLS on every connection, with the cluster's own CA (--no-tls: none)", default: true },
  hostnames: { type: 'string', help: "names and addresses clients reach the server by, besides localhost and 127.0.0.1 (for its certificate)", default: '' },
  store_dir: { type: 'string', help: 'JetStream store of the server (default: DIR/nats-data)' },
  help: { type: 'boolean', help: 'print this help', default: false, env: false },
} as const satisfies Record<string, FlagSpec>;

const COMMAND = 'mesos-credentials';
const fail = (msg: string, code = 2): never => {
  process.stderr.write(`${COMMAND}: ${msg}\n`);
  process.exit(code);
};

const [verb, ...rest] = process.argv.slice(2);
if (verb === '--help' || verb === '-h' || verb === undefined) {
  process.stdout.write(`Usage: ${COMMAND} init --dir=DIR [flags]\n${usage(`${COMMAND} init`, SPECS)}\n`);
  process.exit(verb === undefined ? 2 : 0);
}
if (verb === '--version') {
  process.stdout.write(`${COMMAND} ${packageVersion()}\n`);
  process.exit(0);
}
if (verb !== 'init') fail(`unknown command '${verb}': expected init`);
let flags;
try {
  flags = parseFlags(rest, SPECS, process.env);
} catch (e) {
  fail((e as FlagError).message);
}
if (flags!.help) {
  process.stdout.write(`${usage(`${COMMAND} init`, SPECS)}\n`);
  process.exit(0);
}
const f = flags!;
if (!f.dir) fail("missing '--dir'");
const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);
const dir = resolve(f.dir!);
let set;
try {
  set = writeCredentials(dir, {
    cluster: f.cluster, masters: list(f.masters), agents: list(f.agents), frameworks: list(f.frameworks), operators: list(f.operators), observers: list(f.observers),
    tls: f.tls ? { hosts: list(f.hostnames) } : false,
  });
} catch (e) {
  if (e instanceof CredentialError) fail(e.message);
  throw e;
}
const conf = join(dir, 'nats.conf');
writeFileSync(conf, [
  `# nats-server configuration for cluster '${f.cluster}', written by ${COMMAND}.`,
  `listen: ${JSON.stringify(f.listen)}`,
  `jetstream { store_dir: ${JSON.stringify(f.store_dir ?? join(dir, 'nats-data'))} }`,
  SERVER_TUNING.trimEnd(),
  'include ./auth.conf',
  ...(set!.tlsConfig ? ['include ./tls.conf'] : []),
  '',
].join('\n'), { mode: 0o600 });
process.stdout.write(`Wrote the server config ${conf}\nand credentials:\n${Object.entries(set.files).map(([k, p]) => `  ${k.padEnd(24)} ${p}`).join('\n')}\n` +
  `HTTP: masters and agents take --http_credentials=${set.httpCredentials}` +
  (set.httpTls ? ` --http_tls_cert=${set.httpTls.cert} --http_tls_key=${set.httpTls.key}` : '') +
  ' (with --authenticate_http_readonly and --authenticate_http_readwrite); the mesos CLI takes --credential=<a principal\'s file>\n');
