/**
 * Actor addresses and the subject grammar of the bus.
 *
 * A PID names one actor and the principal it acts for: `mesos.<cluster>.<kind>.<principal>.<id>`.
 * A message of type `T` sent by the actor at PID `mesos.<cluster>.<K>.<P>.<id>` travels on
 * `<to>.<T>.<K>.<P>`, so that
 * - every actor subscribes to `<pid>.>` (one subscription per actor),
 * - each actor and message type has its own subject prefix (`<pid>.<T>`),
 * - server-side permissions pin what a principal may publish (`mesos.c.*.*.*.*.scheduler.alice`:
 *   anything, as scheduler alice) and read (`mesos.c.scheduler.alice.>`: its own inboxes), and
 * - a receiver checks that the sender PID in the envelope names the kind and principal the subject
 *   names: with the permissions, the sender PID cannot be forged.
 *
 * @see libprocess `UPID` (`id@ip:port`) and its `POST /<id>/<name>` message transport.
 */

/** The kinds of actor that live on the bus. */
export const ACTOR_KINDS = ['master', 'agent', 'scheduler', 'executor', 'operator'] as const;
/** One of {@link ACTOR_KINDS}. */
export type ActorKind = (typeof ACTOR_KINDS)[number];

/** The principal of an actor without credentials (a bus without authentication). */
export const ANONYMOUS_PRINCIPAL = 'anonymous';
/**
 * The principal token of every executor: executors have no identity on the bus of their own. They
 * speak only to their agent, which knows each one by the container it started.
 */
export const EXECUTOR_PRINCIPAL = 'local';

/** A parsed PID. */
export interface Pid {
  readonly cluster: string;
  readonly kind: ActorKind;
  readonly principal: string;
  readonly id: string;
}

/** Thrown when a PID or subject does not follow the grammar. */
export class PidError extends Error {
  override name = 'PidError';
}

const TOKEN = /^[A-Za-z0-9_\-~+=%:@]+$/;

/** True when `s` can stand as one subject token (no dots, spaces or wildcards). */
export function isToken(s: string): boolean {
  return s.length > 0 && s.length <= 128 && TOKEN.test(s);
}

/**
 * Turns any identifier into a subject-safe token by percent-encoding the characters NATS treats
 * specially. Identity for ids we generate ourselves.
 */
export function toToken(s: string): string {
  // `%` is the escape character, so an input containing one is always encoded: that keeps the
  // mapping one-to-one.
  if (isToken(s) && !s.includes('%')) return s;
  const encoded = Array.from(new TextEncoder().encode(s), (b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9_\-~+=:@]/.test(c) ? c : `%${b.toString(16).padStart(2, '0').toUpperCase()}`;
  }).join('');
  if (encoded.length <= 128) return encoded;
  // Too long for one token: keep a readable prefix and add a digest of the whole input.
  return `${encoded.slice(0, 110)}~${fnv1a(s)}`;
}

/** FNV-1a over UTF-16 code units, as 16 hex digits (two 32-bit halves with different seeds). */
function fnv1a(s: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x01000193 + 2) >>> 0;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

/**
 * Builds a PID string from its parts (`principal` as a token: see {@link toToken}). Throws
 * {@link PidError} on a bad cluster, kind, principal or id.
 */
export function pid(cluster: string, kind: ActorKind, id: string, principal: string = ANONYMOUS_PRINCIPAL): string {
  if (!isToken(cluster)) throw new PidError(`invalid cluster name '${cluster}'`);
  if (!ACTOR_KINDS.includes(kind)) throw new PidError(`invalid actor kind '${kind}'`);
  if (!isToken(principal)) throw new PidError(`invalid principal '${principal}'`);
  if (!isToken(id)) throw new PidError(`invalid actor id '${id}'`);
  return `mesos.${cluster}.${kind}.${principal}.${id}`;
}

/**
 * The PID of the executor running in container `containerId`: derived, not chosen, so that an
 * agent restarted from its checkpoint can address the executors its predecessor started.
 */
export function executorPid(cluster: string, containerId: string): string {
  return pid(cluster, 'executor', containerId.replace(/[^A-Za-z0-9_-]/g, '_'), EXECUTOR_PRINCIPAL);
}

/** Parses a PID string; `undefined` when it does not follow the grammar. */
export function parsePid(s: string): Pid | undefined {
  const parts = s.split('.');
  if (parts.length !== 5 || parts[0] !== 'mesos') return undefined;
  const [, cluster, kind, principal, id] = parts as [string, string, string, string, string];
  if (!isToken(cluster) || !isToken(principal) || !isToken(id) || !(ACTOR_KINDS as readonly string[]).includes(kind)) return undefined;
  return { cluster, kind: kind as ActorKind, principal, id };
}

/** The subject a message of `type` to `to`, sent by an actor of `fromKind` acting for `principal`, travels on. */
export function subjectFor(to: string, type: string, fromKind: ActorKind, principal = ANONYMOUS_PRINCIPAL): string {
  return `${to}.${type}.${fromKind}.${principal}`;
}

/** The subject a message of `type` from the actor at PID `from` to `to` travels on. */
export function subjectFrom(to: string, type: string, from: Pid): string {
  return `${to}.${type}.${from.kind}.${from.principal}`;
}

/** The wildcard subscription that receives everything sent to `to`. */
export function inboxOf(to: string): string {
  return `${to}.>`;
}

/** What the subject of an inbound message says, parsed relative to the receiving PID. */
export interface SubjectParts {
  readonly type: string;
  readonly fromKind: string;
  readonly principal: string;
}

/** Splits `<to>.<type>.<fromKind>.<principal>`; `undefined` when the tail has the wrong shape. */
export function parseSubject(to: string, subject: string): SubjectParts | undefined {
  if (!subject.startsWith(`${to}.`)) return undefined;
  const rest = subject.slice(to.length + 1).split('.');
  if (rest.length !== 3) return undefined;
  const [type, fromKind, principal] = rest as [string, string, string];
  return { type, fromKind, principal };
}

/** The kind of actor a PID string names, or `undefined`. */
export function kindOf(p: string): ActorKind | undefined {
  return parsePid(p)?.kind;
}
