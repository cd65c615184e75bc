/**
 * Test helper: the principals of one test cluster, as the project ships them secured. Writes a
 * credential per principal (`writeCredentials`, TLS included) and the server's `authorization` and
 * `tls` blocks, and hands out what each process or connection needs to act as its principal.
 *
 * Besides the shipped kinds there is a fuzzer: a user that may publish anything on the cluster's
 * subjects (and read only its own replies). Garbage and forgery tests use it to get past the
 * server's permissions to the processes' own edge, which must hold too.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConnectionOptions } from '@nats-io/transport-node';
import {
  authorizationConfig,
  connectionOptions,
  createCredential,
  inboxPrefixFor,
  serverUser,
  writeCredentials,
  type Credential,
  type CredentialSet,
} from '../../runtime/credentials.ts';

/** The principal a process of each kind is by default. */
export const DEFAULT_PRINCIPAL = {
  master: 'master', agent: 'agent', scheduler: 'framework', operator: 'operator', observer: 'tap',
} as const;
/** A kind of principal. */
export type Kind = keyof typeof DEFAULT_PRINCIPAL;
/** The fuzzer's principal. */
export const FUZZER = 'fuzzer';

/** The principals of cluster `cluster`, with credential files under `dir`. */
export class TestPrincipals {
  readonly set: CredentialSet;
  readonly fuzzer: Credential;
  /** The server's `authorization` block: every principal and the fuzzer. */
  readonly serverConfig: string;

  /** `frameworks`: framework principals besides `framework`; `operators`: operator principals besides `operator`. */
  constructor(readonly cluster: string, dir: string, frameworks: readonly string[] = [], operators: readonly string[] = []) {
    this.set = writeCredentials(join(dir, 'credentials'), { cluster, frameworks: ['framework', ...frameworks], operators: ['operator', ...operators], observers: ['tap'] });
    this.fuzzer = createCredential(FUZZER, 'scheduler', cluster);
    // TLS certificates are not identities here (NKeys are): the fuzzer shows a framework's.
    const tls = this.set.credentials.find((c) => c.kind === 'scheduler')?.tls;
    if (tls) this.fuzzer.tls = tls;
    const fuzzer = serverUser(this.fuzzer, { publish: [`mesos.${cluster}.>`], subscribe: [`${inboxPrefixFor(FUZZER)}.>`] });
    this.serverConfig = authorizationConfig(this.set.credentials, [fuzzer]) + (this.set.tlsConfig ? readFileSync(this.set.tlsConfig, 'utf8') : '');
  }

  /** The `--credential` flag of a process acting as `principal` of `kind`. */
  flag(kind: Kind, principal: string = DEFAULT_PRINCIPAL[kind]): string {
    const file = this.set.files[`${kind}:${principal}`];
    if (!file) throw new Error(`no credential for ${kind} '${principal}'`);
    return `--credential=${file}`;
  }

  /** The credential file of `principal` of `kind`. */
  file(kind: Kind, principal: string = DEFAULT_PRINCIPAL[kind]): string {
    const file = this.set.files[`${kind}:${principal}`];
    if (!file) throw new Error(`no credential for ${kind} '${principal}'`);
    return file;
  }

  /** Connection options that authenticate as `principal` of `kind`, or as the fuzzer. */
  connectionOptions(kind: Kind | typeof FUZZER, principal?: string): Partial<ConnectionOptions> {
    if (kind === FUZZER) return connectionOptions(this.fuzzer);
    const p = principal ?? DEFAULT_PRINCIPAL[kind];
    const c = this.set.credentials.find((x) => x.kind === kind && x.principal === p);
    if (!c) throw new Error(`no credential for ${kind} '${p}'`);
    return connectionOptions(c);
  }
}
