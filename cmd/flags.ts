/**
 * Command-line flags in Mesos spelling (`--name=value`, `--name value`, `--flag`, `--no-flag`).
 * Unknown flags and bad values end the process with status 2 and a message naming the token.
 */
import type { ConnectionOptions } from '@nats-io/transport-node';
import { existsSync } from 'node:fs';
import { CredentialError, connectionOptions, expectCredential, loadCredential, tlsOptions, type Credential, type PrincipalKind } from '../runtime/credentials.ts';
import type { TlsFiles } from '../runtime/tls.ts';
import { createLogger, type Logger } from '../runtime/log.ts';
import { createInspect, type Inspect } from '../runtime/inspect.ts';

/** A flag's declaration. */
export interface FlagSpec {
  type: 'string' | 'number' | 'boolean' | 'duration';
  help: string;
  default?: string | number | boolean;
}

/** Flags every process takes. */
export const COMMON_FLAGS = {
  nats: { type: 'string', help: 'NATS server URLs, comma-separated', default: 'nats://127.0.0.1:4222' },
  cluster: { type: 'string', help: 'cluster name: the subject namespace and lease bucket', default: 'mesos' },
  credential: { type: 'string', help: 'credential file of the principal to connect as (written by mesos-credentials init)' },
  insecure: { type: 'boolean', help: 'connect without credentials: anyone on the bus can then act as anyone', default: false },
  nats_tls_ca: { type: 'string', help: "CA certificate (PEM) the NATS server's certificate must chain to; turns TLS on (default: the credential's)" },
  nats_tls_cert: { type: 'string', help: "this process's TLS client certificate (PEM) (default: the credential's)" },
  nats_tls_key: { type: 'string', help: "this process's TLS client key (PEM) (default: the credential's)" },
  inspect: { type: 'string', help: 'stream machines to the XState inspector: sky (default), ws://host:port, or log' },
  log_level: { type: 'string', help: 'trace, debug, info, warn, error or silent', default: 'info' },
  help: { type: 'boolean', help: 'print this help', default: false },
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

/** Parses `argv` against `specs`; throws {@link FlagError} naming the bad token. */
export function parseFlags<T extends Record<string, FlagSpec>>(argv: readonly string[], specs: T): Parsed<T> {
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(specs)) if (s.default !== undefined) out[k] = s.type === 'duration' && typeof s.default === 'string' ? parseDuration(s.default) : s.default;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
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
      else if (name === 'inspect') raw = 'sky';
      else {
        raw = argv[++i];
        if (raw === undefined) throw new FlagError(`flag '${token}' needs a value`);
      }
    }
    switch (spec.type) {
      case 'boolean':
        if (raw !== 'true' && raw !== 'false') throw new FlagError(`invalid value '${raw}' for '--${name}': expected true or false`);
        out[name] = raw === 'true';
        break;
      case 'number': {
        const n = Number(raw);
        if (raw.trim() === '' || !Number.isFinite(n)) throw new FlagError(`invalid value '${raw}' for '--${name}': not a number`);
        out[name] = n;
        break;
      }
      case 'duration':
        try {
          out[name] = parseDuration(raw);
        } catch (e) {
          throw new FlagError(`invalid value for '--${name}': ${(e as Error).message}`);
        }
        break;
      default:
        out[name] = raw;
    }
  }
  return out as Parsed<T>;
}

/** Help text for `specs`. */
export function usage(command: string, specs: Record<string, FlagSpec>): string {
  const lines = Object.entries(specs).map(([k, s]) => `  --${k}${s.type === 'boolean' ? '' : '=VALUE'}  ${s.help}${s.default !== undefined ? ` (default: ${String(s.default)})` : ''}`);
  return `Usage: ${command} [flags]\n${lines.join('\n')}`;
}

/**
 * Parses flags for a command, printing help on `--help` and exiting 2 with the error on bad input.
 * Also builds the process logger and inspector from the common flags.
 */
export function commandSetup<T extends Record<string, FlagSpec>>(
  command: string,
  specs: T,
  argv = process.argv.slice(2),
  loggerOpts: { stderr?: boolean } = {},
): { flags: Parsed<T & typeof COMMON_FLAGS>; logger: Logger; inspect: Inspect } {
  const all = { ...COMMON_FLAGS, ...specs } as T & typeof COMMON_FLAGS;
  let flags: Parsed<T & typeof COMMON_FLAGS>;
  try {
    flags = parseFlags(argv, all);
  } catch (e) {
    process.stderr.write(`${command}: ${(e as Error).message}\n${usage(command, all)}\n`);
    process.exit(2);
  }
  if (flags.help) {
    process.stdout.write(`${usage(command, all)}\n`);
    process.exit(0);
  }
  const logger = createLogger({ name: command, level: String(flags.log_level), stderr: loggerOpts.stderr });
  const inspect = createInspect(flags.inspect as string | undefined, logger);
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

/**
 * How a one-process cluster (`mesos-local`, `pi-local`) meets on the bus: secured by default on
 * its own embedded server; on a server given with `--nats`, with that server's `--credentials_dir`
 * or `--insecure`. Neither with `--nats` ends the process with status 2 and one line. `--credential`
 * is for one principal, and a local cluster is several: it is refused.
 */
export function localBus(
  flags: { nats?: string; credentials_dir?: string; credential?: string; insecure: boolean },
  command: string,
): { natsUrl?: string; credentialsDir?: string; insecure?: boolean } {
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
