/**
 * HTTP authentication: who sent a request. A server that authenticates records the principal it
 * accepted on the request itself, so any handler can act as that principal.
 *
 * @see Mesos' HTTP authentication (`--authenticate_http_readonly`, `--authenticate_http_readwrite`,
 * `--http_credentials`), the basic authenticator of libprocess.
 */
import type { IncomingMessage } from 'node:http';

const principals = new WeakMap<IncomingMessage, string>();

/** The authenticated principal of `req`; `undefined` when it was not authenticated. */
export function requestPrincipal(req: IncomingMessage): string | undefined {
  return principals.get(req);
}

/** Records `principal` as the authenticated sender of `req` (the authenticator calls this). */
export function recordPrincipal(req: IncomingMessage, principal: string): void {
  principals.set(req, principal);
}
