/**
 * Command-line flags in Mesos spelling (`--name=value`, `--name value`, `--flag`, `--no-flag`),
 * each also read from the environment as `MESOS_<NAME>` (the command line wins), as Mesos' flags
 * are. Unknown flags and bad values end the process with status 2 and one line naming the token
 * (or the variable).
 *
 * @see Mesos `stout/flags` (`FlagsBase::load` with the `MESOS_` prefix).
 */
import { PACKAGE_VERSION } from '../runtime/version.ts';
import type { ConnectionOptions, NatsConnection } from '@nats-io/transport-node';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isToken } from '../protocols/pid.ts';
import { CredentialError, connectionOptions, expectCredential, loadCredential, tlsOptions, type Credential, type PrincipalKind } from '../runtime/credentials.ts';
import type { TlsFiles } from '../runtime/tls.ts';
import { createLogger, type Logger } from '../runtime/log.ts';
import { INSPECT_HELP, inspectValueProblem, createInspect, type Inspect } from '../runtime/inspect.ts';
import { connectNatsPatiently, NatsConnectError, type ConnectNatsOptions, type NatsWaiting } from '../runtime/transport-nats.ts';

/** A flag's declaration. */
export interface FlagSpec {
  type: 'string' | 'number' | 'boolean' | 'duration';
  help: string;
  default?: string | number | boolean;
  /** What a bare `--name` means for a flag that otherwise takes a value. */
  implicit?: string;
  /**
   * Judges a parsed value given on the command line or in the environment (defaults are not
   * judged): returns what is wrong with it, or `undefined` when it is fine. Takes the flag's
   * value type (`string`, `number` for numbers and durations in ms, `boolean`).
   */
  check?: (value: never) => string | undefined;
  /** `false`: not read from the environment (`help`, `version`). */
  env?: boolean;
}

/** Levels `--log_level` takes. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const;

/** {@link FlagSpec.check} for `--log_level`. */
export function logLevelProblem(level: string): string | undefined {
  return (LOG_LEVELS as readonly string[]).includes(level) ? undefined : 'expected trace, debug, info, warn, error or silent';
}

/** {@link FlagSpec.check} for counts: a whole number of at least 1. */
export const positiveCount = (n: number): string | undefined => (Number.isInteger(n) && n >= 1 ? undefined : 'expected a whole number of at least 1');

/** {@link FlagSpec.check} for `--cluster`: one subject token, as PIDs need it. */
export function clusterNameProblem(name: string): string | undefined {
  return isToken(name) ? undefined : 'a cluster name is letters, digits and _-~+=%:@ (no dots, spaces or wildcards), at most 128 characters';
}

/**
 * {@link FlagSpec.check} for `--nats`: comma-separated `nats://host:port` or `tls://host:port`
 * (or a bare `host:port`), as the Node NATS client takes them. WebSocket URLs (`ws://`, `wss://`)
 * need a client this one is not, so they are refused up front, naming the URL.
 */
export function natsUrlsProblem(value: string): string | undefined {
  const urls = value.split(',').map((u) => u.trim());
  const expected = 'expected nats://host:port or tls://host:port';
  for (const u of urls) {
    if (u === '') return `an empty server URL (${expected})`;
    // With several URLs, say which one is wrong.
    const which = urls.length > 1 ? `'${u}': ` : '';
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(u)?.[1]?.toLowerCase();
    if (scheme === 'ws' || scheme === 'wss') return `${which}WebSocket URLs are not supported here (this NATS client speaks nats:// and tls://)`;
    if (scheme !== undefined && scheme !== 'nats' && scheme !== 'tls') return `${which}unsupported scheme '${scheme}://' (${expected})`;
    let url: URL | undefined;
    try {
      url = new URL(scheme === undefined ? `nats://${u}` : u);
    } catch {
      url = undefined;
    }
    if (!url || url.hostname === '' || (url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') {
      return `${which}not a server URL (${expected})`;
    }
  }
  return undefined;
}

/** Flags every process takes. */
export const COMMON_FLAGS = {
  nats: { type: 'string', help: 'NATS server URLs (nats://host:port or tls://host:port), comma-separated', default: 'nats://127.0.0.1:4222', check: natsUrlsProblem },
  nats_connect_timeout: { type: 'duration', help: 'how long to wait at start-up for a NATS server that does not answer (0secs: try once)', default: '1mins' },
  cluster: { type: 'string', help: 'cluster name: the subject namespace and lease bucket', default: 'mesos', check: clusterNameProblem },
  credential: { type: 'string', help: 'credential file of the principal to connect as (written by mesos-credentials init)' },
  insecure: { type: 'boolean', help: 'connect without credentials: anyone on the bus can then act as anyone', default: false },
  nats_tls_ca: { type: 'string', help: "CA certificate (PEM) the NATS server's certificate must chain to; turns TLS on (default: the credential's)" },
  nats_tls_cert: { type: 'string', help: "this process's TLS client certificate (PEM) (default: the credential's)" },
  nats_tls_key: { type: 'string', help: "this process's TLS client key (PEM) (default: the credential's)" },
  inspect: { type: 'string', help: INSPECT_HELP, implicit: 'ui', check: inspectValueProblem },
  log_level: { type: 'string', help: 'trace, debug, info, warn, error or silent', default: 'info', check: logLevelProblem },
  help: { type: 'boolean', help: 'print this help and exit (also -h)', default: false, env: false },
  version: { type: 'boolean', help: 'print the version and exit', default: false, env: false },
} as const satisfies Record<string, FlagSpec>;

/** Thrown for a bad flag; the message names the token. */
export class FlagError extends Error {
  override name = 'FlagError';
}

/** Parses a Mesos duration (`10secs`, `1mins`, `500ms`, `2hrs`, `1days`, or a bare number of seconds) to ms. */
export function parseDuration(token: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ns|us|ms|secs?|s|mins?|m|hrs?|h|days?|d|weeks?|w)?$/.exec(token.trim());
  if (!m) throw new FlagError(`invalid duration '${token}': expected e.g. 10secs, 500ms, 1mins`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'secs';
  const scale: Record<string, number> = {
    ns: 1e-6, us: 1e-3, ms: 1, sec: 1000, secs: 1000, s: 1000, min: 60_000, mins: 60_000, m: 60_000,
    hr: 3_600_000, hrs: 3_600_000, h: 3_600_000, day: 86_400_000, days: 86_400_000, d: 86_400_000,
    week: 604_800_000, weeks: 604_800_000, w: 604_800_000,
  };
  return n * scale[unit]!;
}

type Value<S extends FlagSpec> = S['type'] extends 'boolean' ? boolean : S['type'] extends 'string' ? string : number;
/** Parsed flags: a value for every declared flag that has a default or was given. */
export type Parsed<T extends Record<string, FlagSpec>> = { [K in keyof T]: Value<T[K]> | (T[K]['default'] extends undefined ? undefined : never) };

/** The environment variable a flag is read from: `MESOS_<NAME>`, as Mesos reads its flags. */
export function envName(flag: string): string {
  return `MESOS_${flag.toUpperCase()}`;
}

/**
 * Parses `argv` against `specs`, with the `MESOS_<NAME>` variables of `env` under it (the
 * command line wins; a variable the command line overrides is not even parsed, as in Mesos).
 * `-h` is `--help`. Throws {@link FlagError} naming the bad token, or the variable it came from.
 */
export function parseFlags<T extends Record<string, FlagSpec>>(argv: readonly string[], specs: T, env: Readonly<Record<string, string | undefined>> = {}): Parsed<T> {
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(specs)) if (s.default !== undefined) out[k] = s.type === 'duration' && typeof s.default === 'string' ? parseDuration(s.default) : s.default;
  /** Raw values by flag name, with where each came from (`'--name'` or `MESOS_NAME`). */
  const given = new Map<string, { raw: string; from: string }>();
  for (const [k, s] of Object.entries(specs)) {
    const raw = s.env === false ? undefined : env[envName(k)];
    if (raw !== undefined) given.set(k, { raw, from: envName(k) });
  }
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] === '-h' ? '--help' : argv[i]!;
    if (!token.startsWith('--')) throw new FlagError(`unexpected argument '${token}'`);
    const eq = token.indexOf('=');
    let name = token.slice(2, eq < 0 ? undefined : eq).replace(/-/g, '_');
    let raw: string | undefined = eq < 0 ? undefined : token.slice(eq + 1);
    let spec = specs[name];
    if (!spec && name.startsWith('no_') && specs[name.slice(3)]?.type === 'boolean') {
      name = name.slice(3);
      spec = specs[name];
      raw = 'false';
    }
    if (!spec) throw new FlagError(`unknown flag '${token}'`);
    if (raw === undefined) {
      if (spec.type === 'boolean') raw = 'true';
      else if (spec.implicit !== undefined) raw = spec.implicit;
      else {
        raw = argv[++i];
        if (raw === undefined) throw new FlagError(`flag '${token}' needs a value`);
      }
    }
    given.set(name, { raw, from: `'--${name}'` });
  }
  for (const [name, { raw, from }] of given) {
    const spec = specs[name]!;
    let value: unknown;
    switch (spec.type) {
      case 'boolean':
        if (raw !== 'true' && raw !== 'false') throw new FlagError(`invalid value '${raw}' for ${from}: expected true or false`);
        value = raw === 'true';
        break;
      case 'number': {
        const n = Number(raw);
        if (raw.trim() === '' || !Number.isFinite(n)) throw new FlagError(`invalid value '${raw}' for ${from}: not a number`);
        value = n;
        break;
      }
      case 'duration':
        try {
          value = parseDuration(raw);
        } catch (e) {
          throw new FlagError(`invalid value for ${from}: ${(e as Error).message}`);
        }
        break;
      default:
        value = raw;
    }
    const problem = (spec.check as ((v: unknown) => string | undefined) | undefined)?.(value);
    if (problem !== undefined) throw new FlagError(`invalid value '${raw}' for ${from}: ${problem}`);
    out[name] = value;
  }
  return out as Parsed<T>;
}

/** Help text for `specs`. */
export function usage(command: string, specs: Record<string, FlagSpec>): string {
  const lines = Object.entries(specs).map(([k, s]) => {
    const value = s.type === 'boolean' ? '' : s.implicit !== undefined ? '[=VALUE]' : '=VALUE';
    return `  --${k}${value}  ${s.help}${s.default !== undefined ? ` (default: ${String(s.default)})` : ''}`;
  });
  return `Usage: ${command} [flags]\n${lines.join('\n')}\n` +
    'Each flag may also be set in the environment as MESOS_<FLAG> (e.g. MESOS_LOG_LEVEL=debug); the command line wins.';
}

/** This package's version (from its `package.json`). */
export function packageVersion(): string {
  return PACKAGE_VERSION;
}

/**
 * The flags of a command: `COMMON_FLAGS` and its own. A command may give a common flag its own
 * help and default; the common flag's check stays unless it brings one.
 */
function withCommon<T extends Record<string, FlagSpec>>(specs: T): T & typeof COMMON_FLAGS {
  const all: Record<string, FlagSpec> = { ...COMMON_FLAGS };
  for (const [k, s] of Object.entries(specs)) {
    const common = (COMMON_FLAGS as Record<string, FlagSpec>)[k];
    all[k] = common?.check !== undefined && s.check === undefined ? { ...s, check: common.check } : s;
  }
  return all as T & typeof COMMON_FLAGS;
}

/**
 * Parses flags for a command (`MESOS_<NAME>` variables under the command line): `--help` (or
 * `-h`) prints help and `--version` prints `<command> <version>`, both exiting 0; a bad flag
 * exits 2 with one line `<command>: <message>`. Also builds the process logger and inspector
 * from the common flags.
 *
 * @see Mesos' `main`s: help wins over a bad flag; a bad flag ends with the message.
 */
export function commandSetup<T extends Record<string, FlagSpec>>(
  command: string,
  specs: T,
  argv = process.argv.slice(2),
  loggerOpts: {
    stderr?: boolean;
    /** The command serves the statechart view (`/inspect`): `--inspect=ui` needs nothing more here. */
    statechartView?: boolean;
  } = {},
): { flags: Parsed<T & typeof COMMON_FLAGS>; logger: Logger; inspect: Inspect } {
  const all = withCommon(specs);
  const asked = (flag: string) => argv.some((a) => a === `--${flag}` || a === `--${flag}=true` || (flag === 'help' && a === '-h'));
  let flags: Parsed<T & typeof COMMON_FLAGS>;
  try {
    flags = parseFlags(argv, all, process.env);
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    // Help still helps when something else is wrong.
    if (asked('help')) flags = { help: true } as Parsed<T & typeof COMMON_FLAGS>;
    else exitBadFlag(command, e.message);
  }
  if (flags.help) {
    process.stdout.write(`${usage(command, all)}\n`);
    process.exit(0);
  }
  if (flags.version) {
    process.stdout.write(`${command} ${packageVersion()}\n`);
    process.exit(0);
  }
  const logger = createLogger({ name: command, level: String(flags.log_level), stderr: loggerOpts.stderr });
  const inspect = createInspect(flags.inspect as string | undefined, logger);
  // A bare --inspect asks for the statechart view: say so where there is none, rather than nothing.
  if (flags.inspect === 'ui' && !loggerOpts.statechartView) {
    logger.warn({ inspect: 'ui' }, `--inspect=ui: ${command} serves no statechart view (mesos-master, mesos-agent and mesos-local do, at /inspect); --inspect=log or --inspect=ws://host:port show this process's machines`);
  }
  return { flags, logger, inspect };
}

/** Ends the process with status 2 and one line: `<command>: <message>`. */
export function exitBadFlag(command: string, message: string): never {
  process.stderr.write(`${command}: ${message}\n`);
  process.exit(2);
}

/** Who a process is on the bus: its principal (for its PID) and how it authenticates. */
export interface BusIdentity {
  /** The principal token; `undefined` without credentials (the PID then says `anonymous`). */
  principal?: string;
  /** Options for `connectNats` (authentication, TLS and the principal's reply-inbox prefix). */
  options: Partial<ConnectionOptions>;
  /** The credential, with the TLS files the flags gave (for other connections of the process). */
  credential?: Credential;
}

/**
 * The identity a command connects with: its `--credential` (which must be for `kind` and the
 * cluster), or none with `--insecure` (logged as a warning). A credential that cannot be used, or
 * neither flag, ends the process with status 2 and one line saying why.
 */
export function busIdentity(
  command: string,
  flags: { credential?: string; insecure: boolean; cluster: string; nats_tls_ca?: string; nats_tls_cert?: string; nats_tls_key?: string },
  kind: PrincipalKind | readonly PrincipalKind[],
  logger: Logger,
): BusIdentity {
  const refuse = (msg: string) => exitBadFlag(command, msg);
  // TLS files given as flags win over the credential's.
  const given: TlsFiles = {
    ...(flags.nats_tls_ca !== undefined ? { ca: flags.nats_tls_ca } : {}),
    ...(flags.nats_tls_cert !== undefined ? { cert: flags.nats_tls_cert } : {}),
    ...(flags.nats_tls_key !== undefined ? { key: flags.nats_tls_key } : {}),
  };
  for (const [k, path] of Object.entries(given)) if (!existsSync(path)) refuse(`--nats_tls_${k}: no such file '${path}'`);
  if ((given.cert === undefined) !== (given.key === undefined)) refuse('--nats_tls_cert and --nats_tls_key go together');
  if (flags.credential !== undefined) {
    try {
      const loaded = expectCredential(loadCredential(flags.credential), kind, flags.cluster);
      const tls = { ...loaded.tls, ...given };
      const c: Credential = Object.keys(tls).length > 0 ? { ...loaded, tls } : loaded;
      logger.info({ principal: c.principal, kind: c.kind, tls: c.tls !== undefined }, 'authenticating as principal');
      return { principal: c.principal, options: connectionOptions(c), credential: c };
    } catch (e) {
      if (!(e instanceof CredentialError)) throw e;
      return refuse(e.message);
    }
  }
  if (!flags.insecure) {
    refuse(`no --credential: pass this ${typeof kind === 'string' ? kind : kind.join(' or ')}'s credential file (mesos-credentials init writes them), or --insecure to connect without one`);
  }
  logger.warn('--insecure: connecting without credentials; anyone on the bus can act as anyone');
  return { options: tlsOptions(given) };
}

/** A duration in Mesos' spelling (`2secs`, `1mins`, `500ms`): the largest unit that divides it. */
export function formatDuration(ms: number): string {
  const units: Array<[string, number]> = [['weeks', 604_800_000], ['days', 86_400_000], ['hrs', 3_600_000], ['mins', 60_000], ['secs', 1000]];
  for (const [unit, size] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** How to start the server a command waits for: the secured cluster's own config when it lies beside the credentials. */
function natsStartHint(credentialsDir: string | undefined): string {
  const conf = credentialsDir !== undefined ? join(credentialsDir, 'nats.conf') : undefined;
  return conf !== undefined && existsSync(conf) ? `start it with 'nats-server -c ${conf}'` : "start one with 'nats-server -js'";
}

/** Where a command's first connection to NATS is reported (stderr, one line each). */
export interface NatsReporting {
  command: string;
  /** `--nats_connect_timeout`, in ms. */
  timeoutMs: number;
  /** The directory of the credentials the command connects with (for the server's config), if any. */
  credentialsDir?: string;
  /** True when the command connects without credentials (`--insecure`). */
  insecure: boolean;
}

/** A progress line while a command waits for NATS: `<command>: waiting for NATS at <url> (<reason>); start one with …`. */
export function natsWaitingLine(r: NatsReporting): (w: NatsWaiting) => void {
  return (w) => process.stderr.write(`${r.command}: waiting for NATS at ${w.servers} (${w.reason}); ${natsStartHint(r.credentialsDir)} (giving up after ${formatDuration(r.timeoutMs)})\n`);
}

/**
 * Ends the process with status 1 and one line naming the servers: none answered within the
 * timeout (and how to start one), or one answered and turned the connection down (and why).
 */
export function exitNatsUnavailable(r: NatsReporting, e: NatsConnectError): never {
  let line: string;
  switch (e.failure.kind) {
    case 'unreachable':
      line = `no NATS server answered at ${e.servers}${r.timeoutMs > 0 ? ` in ${formatDuration(r.timeoutMs)}` : ''} (${e.failure.reason}); ${natsStartHint(r.credentialsDir)}, or point --nats at one`;
      break;
    case 'refused':
      line = `cannot connect to NATS at ${e.servers}: ${r.insecure ? `the server refused a connection without credentials (${e.failure.detail}); pass a --credential` : e.failure.reason}`;
      break;
    case 'tls':
      line = `cannot connect to NATS at ${e.servers}: ${e.failure.reason}${r.insecure ? "; the server uses TLS with its own CA: connect with a --credential (or --nats_tls_ca, --nats_tls_cert and --nats_tls_key)" : ''}`;
      break;
    default:
      line = `cannot connect to NATS at ${e.servers}: ${e.failure.reason}`;
  }
  process.stderr.write(`${r.command}: ${line}\n`);
  process.exit(1);
}

/**
 * A command's connection to its bus: waits up to `--nats_connect_timeout` for a server that does
 * not answer yet, saying so on stderr every few seconds; gives up with status 1 and one line when
 * none answers, or at once when the server refuses the credential or the TLS handshake fails.
 */
export async function connectBus(
  command: string,
  flags: { nats: string; nats_connect_timeout: number; credential?: string; insecure: boolean },
  opts: Omit<ConnectNatsOptions, 'servers'>,
): Promise<NatsConnection> {
  const reporting: NatsReporting = {
    command,
    timeoutMs: flags.nats_connect_timeout,
    insecure: flags.insecure && flags.credential === undefined,
    ...(flags.credential !== undefined ? { credentialsDir: dirname(flags.credential) } : {}),
  };
  try {
    return await connectNatsPatiently({ ...opts, servers: flags.nats.split(',').map((u) => u.trim()), timeoutMs: flags.nats_connect_timeout, onWaiting: natsWaitingLine(reporting) });
  } catch (e) {
    if (e instanceof NatsConnectError) exitNatsUnavailable(reporting, e);
    throw e;
  }
}

/**
 * How a one-process cluster (`mesos-local`, `pi-local`) meets on the bus: secured by default on
 * its own embedded server; on a server given with `--nats`, with that server's `--credentials_dir`
 * or `--insecure`. Neither with `--nats` ends the process with status 2 and one line. `--credential`
 * is for one principal, and a local cluster is several: it is refused.
 */
export function localBus(
  flags: { nats?: string; credentials_dir?: string; credential?: string; insecure: boolean; nats_connect_timeout: number },
  command: string,
): { natsUrl?: string; credentialsDir?: string; insecure?: boolean; natsConnectTimeoutMs: number; onNatsWaiting: (w: NatsWaiting) => void } {
  const refuse = (msg: string) => exitBadFlag(command, msg);
  if (flags.credential !== undefined) refuse("--credential is for one principal; a local cluster takes --credentials_dir (with --nats)");
  if (flags.credentials_dir !== undefined && flags.nats === undefined) refuse('--credentials_dir needs --nats: without it the embedded server gets credentials of its own');
  if (flags.nats !== undefined && flags.credentials_dir === undefined && !flags.insecure) {
    refuse('--nats needs --credentials_dir (the directory mesos-credentials init wrote for that server), or --insecure');
  }
  return {
    ...(flags.nats !== undefined ? { natsUrl: flags.nats } : {}),
    ...(flags.credentials_dir !== undefined ? { credentialsDir: flags.credentials_dir } : {}),
    ...(flags.insecure ? { insecure: true } : {}),
    natsConnectTimeoutMs: flags.nats_connect_timeout,
    onNatsWaiting: natsWaitingLine(localNatsReporting(flags, command)),
  };
}

/** How a local cluster's wait for the server given with `--nats` is reported (see {@link exitNatsUnavailable}). */
export function localNatsReporting(flags: { credentials_dir?: string; insecure: boolean; nats_connect_timeout: number }, command: string): NatsReporting {
  return {
    command,
    timeoutMs: flags.nats_connect_timeout,
    insecure: flags.insecure,
    ...(flags.credentials_dir !== undefined ? { credentialsDir: flags.credentials_dir } : {}),
  };
}

/** Runs `fn` (given the signal) on the first of `signals` (SIGINT, SIGTERM) received, then exits with `code`. */
export function onShutdown(fn: (signal: NodeJS.Signals) => Promise<void>, code = 0, signals: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM']): void {
  let stopping = false;
  const handler = (sig: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`received ${sig}, shutting down\n`);
    fn(sig).then(() => process.exit(code), () => process.exit(1));
  };
  for (const sig of signals) process.on(sig, () => handler(sig));
}
