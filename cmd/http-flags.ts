/**
 * The HTTP security flags of `mesos-master` and `mesos-agent`, in Mesos' names:
 * `--authenticate_http_readonly`, `--authenticate_http_readwrite` and `--http_credentials` (who
 * must authenticate, and the principals and secrets), and `--http_tls_cert` / `--http_tls_key`
 * (serve HTTPS). A flag that cannot be used ends the process with status 2 and one line.
 *
 * @see Mesos `docs/authentication.md`, `docs/configuration/master.md`.
 */
import { readFileSync } from 'node:fs';
import { HttpAuthenticator, HttpCredentialsError, parseHttpCredentials } from '../runtime/http/http-auth.ts';
import { HttpTlsError, readTlsFiles, type HttpTlsFiles } from '../runtime/http/server.ts';
import type { Logger } from '../runtime/log.ts';
import { parseAcls, PERMISSIVE_ACLS, type Acls } from '../actors/master/acls.ts';
import { exitBadFlag, type FlagSpec } from './flags.ts';

/** The flags, to spread into a command's. */
export const HTTP_SECURITY_FLAGS = {
  authenticate_http_readonly: { type: 'boolean', help: 'read-only HTTP endpoints (state, metrics, files, v1 reads) need HTTP Basic credentials from --http_credentials', default: false },
  authenticate_http_readwrite: { type: 'boolean', help: 'read-write HTTP endpoints (teardown, quota and weights writes, v1 writes) need HTTP Basic credentials from --http_credentials', default: false },
  http_credentials: { type: 'string', help: 'HTTP principals and secrets: Mesos credentials JSON {"credentials":[{"principal":…,"secret":…}]}, or a file holding it (path or file:// URL)' },
  http_tls_cert: { type: 'string', help: 'serve HTTPS with this certificate (PEM; with --http_tls_key)' },
  http_tls_key: { type: 'string', help: "the HTTPS certificate's private key (PEM)" },
} as const satisfies Record<string, FlagSpec>;

/** Parsed values of {@link HTTP_SECURITY_FLAGS}. */
export interface HttpSecurityFlagValues {
  authenticate_http_readonly: boolean;
  authenticate_http_readwrite: boolean;
  http_credentials?: string;
  http_tls_cert?: string;
  http_tls_key?: string;
}

/** The text of a JSON flag: given inline (it starts with `{`), or read from the path or file:// URL given. */
export function jsonFlagText(command: string, name: string, value: string): string {
  if (value.trimStart().startsWith('{')) return value;
  const path = value.replace(/^file:\/\//, '');
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    return exitBadFlag(command, `invalid --${name}: cannot read '${path}': ${(e as Error).message}`);
  }
}

/** `--acls` (inline JSON, a path or a file:// URL) as ACLs: permissive when absent; exits 2 naming what is wrong. */
export function aclsFlag(command: string, value: string | undefined): Acls {
  if (value === undefined) return PERMISSIVE_ACLS;
  const text = jsonFlagText(command, 'acls', value);
  try {
    return parseAcls(text);
  } catch (e) {
    return exitBadFlag(command, `invalid --acls: ${(e as Error).message}`);
  }
}

/** The authenticator and HTTPS files the flags ask for; exits 2 naming a flag that cannot be used. */
export function httpSecurity(command: string, flags: HttpSecurityFlagValues, logger: Logger): { auth: HttpAuthenticator; tls?: HttpTlsFiles } {
  let credentials = new Map<string, string>() as ReadonlyMap<string, string>;
  if (flags.http_credentials !== undefined) {
    try {
      credentials = parseHttpCredentials(jsonFlagText(command, 'http_credentials', flags.http_credentials));
    } catch (e) {
      if (!(e instanceof HttpCredentialsError)) throw e;
      exitBadFlag(command, `invalid --http_credentials: ${e.message}`);
    }
  }
  const wanted = flags.authenticate_http_readonly || flags.authenticate_http_readwrite;
  if (wanted && credentials.size === 0) {
    exitBadFlag(command, `--authenticate_http_${flags.authenticate_http_readonly ? 'readonly' : 'readwrite'} needs --http_credentials with at least one principal`);
  }
  let tls: HttpTlsFiles | undefined;
  if ((flags.http_tls_cert === undefined) !== (flags.http_tls_key === undefined)) exitBadFlag(command, '--http_tls_cert and --http_tls_key go together');
  if (flags.http_tls_cert !== undefined && flags.http_tls_key !== undefined) {
    tls = { cert: flags.http_tls_cert, key: flags.http_tls_key };
    try {
      readTlsFiles(tls);
    } catch (e) {
      if (!(e instanceof HttpTlsError)) throw e;
      exitBadFlag(command, e.message);
    }
  }
  if (wanted) logger.info({ readonly: flags.authenticate_http_readonly, readwrite: flags.authenticate_http_readwrite, principals: credentials.size }, 'HTTP authentication on');
  else if (credentials.size > 0) logger.info({ principals: credentials.size }, 'HTTP credentials given, but no endpoint requires them (--authenticate_http_readonly, --authenticate_http_readwrite)');
  return {
    auth: new HttpAuthenticator({ credentials, readonly: flags.authenticate_http_readonly, readwrite: flags.authenticate_http_readwrite, logger }),
    ...(tls ? { tls } : {}),
  };
}

/**
 * A command's flags as its `/flags` endpoint shows them (Mesos style, every value as text):
 * `--http_credentials` given inline is not shown, only that it was.
 */
export function shownFlags(flags: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(flags)) {
    if (k === 'help' || v === undefined) continue;
    out[k] = k === 'http_credentials' && String(v).trimStart().startsWith('{') ? '(given inline)' : String(v);
  }
  return out;
}
