/**
 * HTTP authentication: who sent a request, and whether it may be served without saying.
 *
 * - Credentials are Mesos' `--http_credentials` JSON, `{"credentials":[{"principal","secret"}]}`.
 * - A request authenticates with HTTP Basic (`Authorization: Basic base64(principal:secret)`);
 *   secrets are compared in constant time (both sides hashed first, so their lengths say nothing).
 * - Endpoints are read-only, read-write or open ({@link pathAccess}, {@link callAccess}); with
 *   `--authenticate_http_readonly` / `--authenticate_http_readwrite` a request to one of the first
 *   two kinds needs a known principal and its secret, else it is answered 401 with
 *   `WWW-Authenticate: Basic realm="mesos"`. Refusals are counted and logged (at most one line per
 *   {@link REFUSAL_LOG_INTERVAL_MS}, saying how many were not logged).
 * - A server that authenticates records the principal it accepted on the request itself
 *   ({@link requestPrincipal}), so any handler can act as that principal. Valid credentials are
 *   recorded even where they are not required; invalid ones there are ignored, as if absent.
 *
 * @see Mesos `docs/authentication.md` (HTTP authentication, the basic authenticator),
 * `--authenticate_http_readonly`, `--authenticate_http_readwrite`, `--http_credentials`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.ts';
import { ANONYMOUS_PRINCIPAL, isToken } from '../../protocols/pid.ts';

const principals = new WeakMap<IncomingMessage, string>();

/** The authenticated principal of `req`; `undefined` when it was not authenticated. */
export function requestPrincipal(req: IncomingMessage): string | undefined {
  return principals.get(req);
}

/** Records `principal` as the authenticated sender of `req` (the authenticator calls this). */
export function recordPrincipal(req: IncomingMessage, principal: string): void {
  principals.set(req, principal);
}

/** The realm every 401 names. */
export const REALM = 'mesos';

/** What an endpoint (or a v1 call) asks of its caller. */
export type Access = 'open' | 'readonly' | 'readwrite';

/** Paths served to anyone, authenticated or not (as in Mesos). */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/health', '/master/health', '/slave(1)/health', '/master/redirect', '/redirect', '/version']);

/** v1 calls that only read, besides every `GET_*` call. */
const READ_CALLS: ReadonlySet<string> = new Set(['SUBSCRIBE', 'READ_FILE', 'LIST_FILES']);

/**
 * What a v1 operator call asks: read-only for `GET_*`, `SUBSCRIBE`, `READ_FILE` and `LIST_FILES`;
 * read-write for every other call (`TEARDOWN`, `UPDATE_QUOTA`, `UPDATE_WEIGHTS`,
 * `MARK_AGENT_GONE`, and any call added later: a new call is a write until said otherwise).
 */
export function callAccess(type: string | undefined): Exclude<Access, 'open'> {
  if (type !== undefined && (type.startsWith('GET_') || READ_CALLS.has(type))) return 'readonly';
  return 'readwrite';
}

/**
 * What a request to `path` with `method` asks (`/api/v1` is judged by its call, {@link callAccess}):
 * open for {@link OPEN_PATHS}, read-only for `GET` and `HEAD`, read-write for any other method
 * (`POST /master/teardown`, writes of `/master/quota` and `/master/weights`).
 */
export function pathAccess(method: string | undefined, path: string): Access {
  if (OPEN_PATHS.has(path)) return 'open';
  return method === 'GET' || method === 'HEAD' ? 'readonly' : 'readwrite';
}

/** A principal and secret from an `Authorization` header. */
export interface BasicCredentials {
  principal: string;
  secret: string;
}

/**
 * The principal and secret of an `Authorization: Basic …` header; `undefined` for none, another
 * scheme, bad base64 or no `:`. The principal is what comes before the first `:`.
 */
export function parseBasic(header: string | undefined): BasicCredentials | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const b64 = m[1]!;
  if (b64.length % 4 !== 0) return undefined;
  const text = Buffer.from(b64, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return { principal: text.slice(0, colon), secret: text.slice(colon + 1) };
}

/** The `Authorization` header for `principal` and `secret`. */
export function basicHeader(principal: string, secret: string): string {
  return `Basic ${Buffer.from(`${principal}:${secret}`, 'utf8').toString('base64')}`;
}

/** `--http_credentials` that cannot be used, and why. */
export class HttpCredentialsError extends Error {
  override name = 'HttpCredentialsError';
}

/** Secrets by principal. */
export type HttpCredentials = ReadonlyMap<string, string>;

/**
 * Parses Mesos' credentials JSON, `{"credentials":[{"principal":…,"secret":…}]}`; throws
 * {@link HttpCredentialsError} naming the bad part. A principal may appear once.
 */
export function parseHttpCredentials(text: string): HttpCredentials {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new HttpCredentialsError(`not JSON: ${(e as Error).message}`);
  }
  const list = (raw as { credentials?: unknown } | null)?.credentials;
  if (typeof raw !== 'object' || raw === null || !Array.isArray(list)) throw new HttpCredentialsError("expected {\"credentials\": [{\"principal\": …, \"secret\": …}]}");
  const out = new Map<string, string>();
  list.forEach((c: unknown, i) => {
    const e = c as { principal?: unknown; secret?: unknown } | null;
    if (typeof e !== 'object' || e === null) throw new HttpCredentialsError(`credentials[${i}]: expected an object`);
    // A principal acts on the bus under its own name (operator calls): it must be a bus token.
    if (typeof e.principal !== 'string' || !isToken(e.principal) || e.principal.includes(':') || e.principal === ANONYMOUS_PRINCIPAL) {
      throw new HttpCredentialsError(`credentials[${i}].principal: one word without dots, spaces, wildcards or ':' (a bus name), not '${ANONYMOUS_PRINCIPAL}'`);
    }
    if (typeof e.secret !== 'string' || e.secret === '') throw new HttpCredentialsError(`credentials[${i}].secret: a non-empty string`);
    if (out.has(e.principal)) throw new HttpCredentialsError(`credentials[${i}]: principal '${e.principal}' appears twice`);
    out.set(e.principal, e.secret);
  });
  return out;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
/** Compared against when the principal is unknown, so that an unknown principal costs the same. */
const NOBODY = digest('\0no such principal\0');

/** Whether `given` is the secret of its principal in `credentials`, in constant time. */
export function checkCredentials(credentials: HttpCredentials, given: BasicCredentials): boolean {
  const secret = credentials.get(given.principal);
  const ok = timingSafeEqual(digest(given.secret), secret === undefined ? NOBODY : digest(secret));
  return ok && secret !== undefined;
}

/** Least time between two log lines about refusals, ms. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;

/** How a server authenticates. */
export interface HttpAuthOptions {
  credentials: HttpCredentials;
  /** `--authenticate_http_readonly`. */
  readonly: boolean;
  /** `--authenticate_http_readwrite`. */
  readwrite: boolean;
  logger: Logger;
  /** The clock refusal logging is paced by (default `Date.now`). */
  now?: () => number;
}

/** A server's authenticator. */
export class HttpAuthenticator {
  /** Requests refused for want of valid credentials. */
  refusals = 0;
  #logged = 0;
  #lastLogAt = -Infinity;

  constructor(private readonly opts: HttpAuthOptions) {}

  /** No authentication at all: every request is served, none gets a principal. */
  static none(logger: Logger): HttpAuthenticator {
    return new HttpAuthenticator({ credentials: new Map(), readonly: false, readwrite: false, logger });
  }

  /** Whether `access` needs credentials here. */
  required(access: Access): boolean {
    return (access === 'readonly' && this.opts.readonly) || (access === 'readwrite' && this.opts.readwrite);
  }

  /**
   * Authenticates `req` for `access`: records its principal when its credentials are valid, and
   * returns true when it may be served. Otherwise answers 401 and returns false.
   */
  admit(req: IncomingMessage, res: ServerResponse, access: Access): boolean {
    if (access === 'open') return true;
    const given = parseBasic(req.headers.authorization);
    const valid = given !== undefined && checkCredentials(this.opts.credentials, given);
    if (valid) recordPrincipal(req, given.principal);
    if (valid || !this.required(access)) return true;
    this.#refused(req, given === undefined ? 'no credentials' : 'bad credentials', given?.principal);
    res.writeHead(401, { 'www-authenticate': `Basic realm="${REALM}"`, 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'authentication required: HTTP Basic with a known principal and its secret' }));
    return false;
  }

  #refused(req: IncomingMessage, why: string, principal: string | undefined): void {
    this.refusals++;
    const now = (this.opts.now ?? Date.now)();
    if (now - this.#lastLogAt < REFUSAL_LOG_INTERVAL_MS) return;
    const unlogged = this.refusals - this.#logged - 1;
    this.#lastLogAt = now;
    this.#logged = this.refusals;
    this.opts.logger.warn({ url: req.url, method: req.method, remote: req.socket.remoteAddress, why, ...(principal !== undefined ? { principal } : {}), refusals: this.refusals, unlogged },
      `HTTP request refused: ${why}`);
  }
}
