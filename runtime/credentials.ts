/**
 * Principals on the bus: each master, agent, framework and operator connects to NATS as a user
 * of its own, authenticated with an NKey (an Ed25519 key pair: the server holds only the public
 * key, the process signs the server's nonce with its seed). The server's permissions let each
 * connection publish only as its own kind and principal and read only its own inboxes, so a
 * forged message is stopped by the server before any actor sees it.
 *
 * What each kind may do, for cluster `C` and principal `P` (`B` is the cluster's lease bucket):
 *
 * | kind      | publish                                                    | subscribe                          |
 * |-----------|------------------------------------------------------------|------------------------------------|
 * | master    | `mesos.C.*.*.*.*.master.P`, the leader subject, JetStream   | `mesos.C.master.P.>`               |
 * | agent     | `mesos.C.*.*.*.*.agent.P`, reads of `B`                     | `mesos.C.agent.P.>`                |
 * | scheduler | `mesos.C.*.*.*.*.scheduler.P`, reads of `B`                 | `mesos.C.scheduler.P.>`            |
 * | operator  | `mesos.C.*.*.*.*.operator.P`, reads of `B`                  | `mesos.C.operator.P.>`             |
 * | observer  | reads of `B`                                               | `mesos.C.>` (watching, for tools)  |
 *
 * Everyone may also read the leader's announcements and its own reply inbox (`_INBOX_P.>`, the
 * connection's inbox prefix). Only masters may write the lease or touch JetStream otherwise.
 * Executors have no credentials: they talk to their agent over its local channel.
 *
 * A credential file (`--credential`, as in Mesos) is JSON: `{ principal, kind, cluster, seed }`,
 * readable by its owner only, and with TLS `tls: { ca, cert, key }`: the cluster's CA and the
 * principal's client certificate and key (`tls.ts`), as paths relative to the credential file, so
 * that a credentials directory can be copied to another host whole. @see Mesos `--credential`, `--credentials`, `docs/authentication.md`.
 *
 * For HTTP, each principal also gets a random secret (`httpSecret` in its credential file), and
 * the directory an `http-credentials.json` in Mesos' `--http_credentials` format naming them all:
 * the masters and agents check HTTP Basic credentials against it, and a client (the `mesos` CLI)
 * authenticates with the principal's own file. The server certificate also serves HTTPS.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { nkeyAuthenticator, nkeys, type ConnectionOptions } from '@nats-io/transport-node';
import { isToken } from '../protocols/pid.ts';
import { leaderSubject, leaseBucketName } from './lease.ts';
import { registryBucketName } from './registry.ts';
import { writeTls, type TlsFiles } from './tls.ts';

/** Who a credential is for. */
export const PRINCIPAL_KINDS = ['master', 'agent', 'scheduler', 'operator', 'observer'] as const;
/** One of {@link PRINCIPAL_KINDS}. */
export type PrincipalKind = (typeof PRINCIPAL_KINDS)[number];

/** A principal's credential. */
export interface Credential {
  principal: string;
  kind: PrincipalKind;
  cluster: string;
  /** The NKey seed (`SU…`): the secret. */
  seed: string;
  /** TLS files (absolute paths once loaded). */
  tls?: TlsFiles;
  /** The principal's HTTP Basic secret, when the cluster's HTTP endpoints know it. */
  httpSecret?: string;
}

/** A credential file that cannot be used, and why. */
export class CredentialError extends Error {
  override name = 'CredentialError';
}

/** A new credential for `principal`, with a fresh key pair. */
export function createCredential(principal: string, kind: PrincipalKind, cluster: string): Credential {
  if (!isToken(principal)) throw new CredentialError(`invalid principal '${principal}': letters, digits and _-~+=%:@ only`);
  if (!isToken(cluster)) throw new CredentialError(`invalid cluster name '${cluster}'`);
  const kp = nkeys.createUser();
  return { principal, kind, cluster, seed: new TextDecoder().decode(kp.getSeed()) };
}

/** The public key the server knows the credential by (`U…`). */
export function publicKeyOf(c: Credential): string {
  return nkeys.fromSeed(new TextEncoder().encode(c.seed)).getPublicKey();
}

/** Reads a credential file; throws {@link CredentialError} naming what is wrong. */
export function loadCredential(path: string): Credential {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new CredentialError(`cannot read credential ${path}: ${(e as Error).message}`);
  }
  const c = raw as Partial<Credential> | null;
  if (!c || typeof c.principal !== 'string' || !isToken(c.principal)) throw new CredentialError(`credential ${path}: no valid 'principal'`);
  if (typeof c.kind !== 'string' || !(PRINCIPAL_KINDS as readonly string[]).includes(c.kind)) throw new CredentialError(`credential ${path}: 'kind' must be one of ${PRINCIPAL_KINDS.join(', ')}`);
  if (typeof c.cluster !== 'string' || !isToken(c.cluster)) throw new CredentialError(`credential ${path}: no valid 'cluster'`);
  if (typeof c.seed !== 'string') throw new CredentialError(`credential ${path}: no 'seed'`);
  try {
    nkeys.fromSeed(new TextEncoder().encode(c.seed));
  } catch {
    throw new CredentialError(`credential ${path}: 'seed' is not an NKey seed`);
  }
  let tls: TlsFiles | undefined;
  if (c.tls !== undefined) {
    const t = c.tls as Record<string, unknown> | null;
    if (!t || typeof t !== 'object') throw new CredentialError(`credential ${path}: 'tls' must be an object of file paths`);
    tls = {};
    for (const k of ['ca', 'cert', 'key'] as const) {
      if (t[k] === undefined) continue;
      if (typeof t[k] !== 'string') throw new CredentialError(`credential ${path}: 'tls.${k}' must be a file path`);
      tls[k] = resolve(dirname(path), t[k]);
    }
  }
  if (c.httpSecret !== undefined && (typeof c.httpSecret !== 'string' || c.httpSecret === '')) throw new CredentialError(`credential ${path}: 'httpSecret' must be a non-empty string`);
  return { principal: c.principal, kind: c.kind as PrincipalKind, cluster: c.cluster, seed: c.seed, ...(tls ? { tls } : {}), ...(c.httpSecret !== undefined ? { httpSecret: c.httpSecret } : {}) };
}

/** Checks that a credential is for `kind` in `cluster`; throws {@link CredentialError} otherwise. */
export function expectCredential(c: Credential, kind: PrincipalKind | readonly PrincipalKind[], cluster: string): Credential {
  const kinds = typeof kind === 'string' ? [kind] : kind;
  if (!kinds.includes(c.kind)) throw new CredentialError(`the credential of '${c.principal}' is for kind ${c.kind}, not ${kinds.join(' or ')}`);
  if (c.cluster !== cluster) throw new CredentialError(`the credential of '${c.principal}' is for cluster '${c.cluster}', not '${cluster}'`);
  return c;
}

/** The reply-inbox prefix of a principal's connections (they may read only their own replies). */
export function inboxPrefixFor(principal: string): string {
  return `_INBOX_${principal}`;
}

/** NATS connection options that authenticate as `c` (over TLS, with its `tls` files). */
export function connectionOptions(c: Credential): Partial<ConnectionOptions> {
  return {
    authenticator: nkeyAuthenticator(new TextEncoder().encode(c.seed)),
    inboxPrefix: inboxPrefixFor(c.principal),
    ...tlsOptions(c.tls),
  };
}

/** NATS connection options for TLS with `files` (none without a CA, certificate or key). */
export function tlsOptions(files: TlsFiles | undefined): Partial<ConnectionOptions> {
  if (!files || (files.ca === undefined && files.cert === undefined && files.key === undefined)) return {};
  return {
    tls: {
      ...(files.ca !== undefined ? { caFile: files.ca } : {}),
      ...(files.cert !== undefined ? { certFile: files.cert } : {}),
      ...(files.key !== undefined ? { keyFile: files.key } : {}),
    },
  };
}

/** The subjects `kind` may publish and subscribe to, for `principal` in `cluster`. */
export function permissionsFor(kind: PrincipalKind, principal: string, cluster: string): { publish: string[]; subscribe: string[] } {
  const lease = `KV_${leaseBucketName(cluster)}`;
  // What a leader detector needs: the lease bucket's info, reads, and a watch (an ordered consumer).
  const readLease = [
    '$JS.API.INFO',
    `$JS.API.STREAM.INFO.${lease}`,
    `$JS.API.STREAM.MSG.GET.${lease}`,
    `$JS.API.DIRECT.GET.${lease}`,
    `$JS.API.DIRECT.GET.${lease}.>`,
    `$JS.API.CONSUMER.CREATE.${lease}`,
    `$JS.API.CONSUMER.CREATE.${lease}.>`,
    `$JS.API.CONSUMER.DELETE.${lease}.>`,
    `$JS.API.CONSUMER.INFO.${lease}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${lease}.>`,
    `$JS.FC.${lease}.>`,
  ];
  const everyone = [leaderSubject(cluster), `${inboxPrefixFor(principal)}.>`];
  if (kind === 'observer') return { publish: readLease, subscribe: [...everyone, `mesos.${cluster}.>`] };
  const publish = [`mesos.${cluster}.*.*.*.*.${kind}.${principal}`];
  const subscribe = [...everyone, `mesos.${cluster}.${kind}.${principal}.>`];
  if (kind === 'master') {
    // Masters hold the lease and keep the registry: JetStream is theirs.
    publish.push(leaderSubject(cluster), '$JS.API.>', `$KV.${leaseBucketName(cluster)}.>`, `$KV.${registryBucketName(cluster)}.>`, '$JS.FC.>', '$JS.ACK.>');
  } else {
    publish.push(...readLease);
  }
  return { publish, subscribe };
}

/** Seconds a connecting client has to authenticate. */
export const AUTH_TIMEOUT_SECONDS = 10;

/** A user in the server's `authorization` block. */
export interface ServerUser {
  nkey: string;
  permissions: { publish: { allow: string[] }; subscribe: { allow: string[] } };
}

/** The server's user for credential `c`, with the permissions of its kind. */
export function serverUser(c: Credential, p = permissionsFor(c.kind, c.principal, c.cluster)): ServerUser {
  return { nkey: publicKeyOf(c), permissions: { publish: { allow: p.publish }, subscribe: { allow: p.subscribe } } };
}

/** The server's `authorization` block for these credentials (NATS config syntax; JSON is valid in it). */
export function authorizationConfig(creds: readonly Credential[], extra: readonly ServerUser[] = []): string {
  const users = [...creds.map((c) => serverUser(c)), ...extra];
  // A client has `timeout` seconds to sign the server's nonce (2 by default): a process starting on
  // a loaded host can take longer, and would fail its first connection.
  return `# One user per principal: what each may publish and read. Generated by mesos-credentials.\nauthorization: ${JSON.stringify({ timeout: AUTH_TIMEOUT_SECONDS, users }, null, 2)}\n`;
}

/** What {@link writeCredentials} writes. */
export interface CredentialSet {
  /** Credential file of each principal, by `<kind>:<principal>`. */
  files: Record<string, string>;
  /** The file with the `authorization` block to include in the server's config (`auth.conf`). */
  authConfig: string;
  /** With TLS: the file with the server's `tls` block (`tls.conf`). */
  tlsConfig?: string;
  /** What the server's config needs: the text of `auth.conf` and, with TLS, of `tls.conf`. */
  serverConfig: string;
  credentials: Credential[];
  /** Every principal's HTTP secret, as `--http_credentials` reads them (`http-credentials.json`). */
  httpCredentials: string;
  /** With TLS: the certificate and key an HTTPS endpoint serves (the server's, for the same hosts). */
  httpTls?: { cert: string; key: string };
}

/** Who gets a credential: principals per kind. */
export interface CredentialPlan {
  cluster: string;
  masters?: string[];
  agents?: string[];
  frameworks?: string[];
  operators?: string[];
  observers?: string[];
  /**
   * TLS for every connection (default): a CA, the server's certificate for `hosts` (besides
   * `localhost` and `127.0.0.1`), and a client certificate per principal, under `<dir>/tls`.
   * `false`: none.
   */
  tls?: false | { hosts?: readonly string[] };
}

/** Where {@link writeCredentials} puts the credential of `principal` of `kind` in `dir`. */
export function credentialFile(dir: string, kind: PrincipalKind, principal: string): string {
  return join(dir, `${kind}-${principal}.json`);
}

/** Writes a credential file (0600) per principal and the server's `auth.conf` into `dir`. */
export function writeCredentials(dir: string, plan: CredentialPlan): CredentialSet {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const want: Array<[PrincipalKind, string[]]> = [
    ['master', plan.masters ?? ['master']],
    ['agent', plan.agents ?? ['agent']],
    ['scheduler', plan.frameworks ?? []],
    ['operator', plan.operators ?? ['operator']],
    ['observer', plan.observers ?? []],
  ];
  const principals = want.flatMap(([kind, names]) => names.map((principal) => ({ kind, principal })));
  const tls = plan.tls === false ? undefined : writeTls(join(dir, 'tls'), {
    cluster: plan.cluster,
    hosts: plan.tls?.hosts ?? [],
    clients: principals.map(({ kind, principal }) => `${kind}-${principal}`),
  });
  const files: Record<string, string> = {};
  const credentials: Credential[] = [];
  const httpSecrets = new Map<string, string>();
  for (const { kind, principal } of principals) {
    const c = createCredential(principal, kind, plan.cluster);
    // One HTTP secret per principal name, also when it names principals of two kinds.
    c.httpSecret = httpSecrets.get(principal) ?? httpSecrets.set(principal, randomBytes(24).toString('base64url')).get(principal)!;
    const path = credentialFile(dir, kind, principal);
    const client = tls?.clients[`${kind}-${principal}`];
    if (tls && client) c.tls = { ca: tls.ca, cert: client.cert, key: client.key };
    // On disk the TLS paths are relative to the credential file.
    const onDisk = c.tls ? { ...c, tls: Object.fromEntries(Object.entries(c.tls).map(([k, v]) => [k, relative(dir, v)])) } : c;
    writeFileSync(path, `${JSON.stringify(onDisk, null, 2)}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
    files[`${kind}:${principal}`] = path;
    credentials.push(c);
  }
  const authText = authorizationConfig(credentials);
  const authConfig = join(dir, 'auth.conf');
  writeFileSync(authConfig, authText, { mode: 0o600 });
  let tlsConfig: string | undefined;
  if (tls) {
    tlsConfig = join(dir, 'tls.conf');
    writeFileSync(tlsConfig, tls.serverConfig, { mode: 0o600 });
  }
  const httpCredentials = join(dir, 'http-credentials.json');
  const http = { credentials: [...httpSecrets].map(([principal, secret]) => ({ principal, secret })) };
  writeFileSync(httpCredentials, `${JSON.stringify(http, null, 2)}\n`, { mode: 0o600 });
  chmodSync(httpCredentials, 0o600);
  return {
    files, authConfig, ...(tlsConfig ? { tlsConfig } : {}), serverConfig: authText + (tls?.serverConfig ?? ''), credentials, httpCredentials,
    ...(tls ? { httpTls: { cert: tls.server.cert, key: tls.server.key } } : {}),
  };
}
