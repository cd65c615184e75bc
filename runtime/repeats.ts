/**
 * Verbatim repeats of retried requests.
 *
 * An agent that hears nothing back retries its (re-)registration with backoff. In a storm (every
 * agent of a large cluster re-registering with a new leader) many retries are sent while the
 * original still waits in the leader's inbound queue, or while the answer is on its way back;
 * the leader then reads the retry after it has answered the original. Handling that retry fully
 * (decode, validate, dispatch, answer again) is waste, and it slows the storm down, which causes
 * more retries.
 *
 * So such requests are retried *verbatim*: their message id is derived from their content (see
 * {@link contentId}), so a retry with nothing new is byte-identical to the original, and a retry
 * that carries news (a task finished meanwhile) is not. A receiver keeps a short memory of what it
 * answered at once ({@link RepeatFilter}): an identical copy seen within the window gets the bytes
 * of that answer again, without being decoded. Anything else (a request not answered at once, a
 * copy after the window) is handled in full.
 */
import type { MessageType } from '../protocols/messages.ts';

/**
 * Requests whose retries are sent verbatim, each with the answer a receiver may give a repeat
 * again: request type → answer type.
 */
export const RETRIED_VERBATIM: ReadonlyMap<string, MessageType> = new Map<MessageType, MessageType>([
  ['RegisterAgent', 'AgentRegistered'],
  ['ReregisterAgent', 'AgentReregistered'],
]);

/** The answer a handled request got: where it went and its bytes. */
export interface RecordedAnswer {
  subject: string;
  bytes: Uint8Array;
}

/** Two independent 32-bit FNV-1a lanes over `bytes`, after `seed`'s characters. */
function lanes(bytes: Uint8Array, seed: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ bytes.byteLength;
  for (let i = 0; i < seed.length; i++) {
    const c = seed.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 13;
  }
  return [a >>> 0, b >>> 0];
}

/** A message id that is the same for the same content: `<prefix>~<hash>`. */
export function contentId(prefix: string, content: Uint8Array): string {
  const [a, b] = lanes(content, '');
  return `${prefix}~${a.toString(36)}${b.toString(36)}`;
}

/**
 * Remembers the requests answered in the last `windowMs` (by subject, length and a 53-bit content
 * hash) with their answers, and tells whether a new one is a verbatim repeat of one of them. Any other message from
 * the same sender ends the memory of its request: after an `UnregisterAgent`, say, the same
 * registration must be handled again.
 */
export class RepeatFilter {
  readonly #seen = new Map<number, { at: number; from: string; answer: RecordedAnswer }>();
  readonly #keyOf = new Map<string, number>();
  constructor(readonly windowMs: number) {}

  /** The key of a message: its subject and bytes hashed together. */
  key(subject: string, bytes: Uint8Array): number {
    const [a, b] = lanes(bytes, subject);
    return a * 0x200000 + (b & 0x1fffff);
  }

  /** The answer a request with this key got less than the window ago, or `undefined`. */
  answerOf(key: number, now: number): RecordedAnswer | undefined {
    const seen = this.#seen.get(key);
    return seen !== undefined && now - seen.at < this.windowMs ? seen.answer : undefined;
  }

  /**
   * Records that the request with this key from `from` was answered with `answer` at `now`, and
   * forgets what is older than the window.
   */
  handled(key: number, now: number, from: string, answer: RecordedAnswer): void {
    this.heardFrom(from);
    this.#seen.delete(key);
    this.#seen.set(key, { at: now, from, answer });
    this.#keyOf.set(from, key);
    // Insertion order is age order: drop from the oldest end.
    for (const [k, seen] of this.#seen) {
      if (now - seen.at < this.windowMs) break;
      this.#forget(k, seen.from);
    }
  }

  /** Another message from `from` was handled: its earlier request is no longer answered for it. */
  heardFrom(from: string): void {
    const k = this.#keyOf.get(from);
    if (k !== undefined) this.#forget(k, from);
  }

  #forget(key: number, from: string): void {
    this.#seen.delete(key);
    if (this.#keyOf.get(from) === key) this.#keyOf.delete(from);
  }

  /** Forgets everything. */
  clear(): void {
    this.#seen.clear();
    this.#keyOf.clear();
  }

  /** How many requests are remembered. */
  get size(): number {
    return this.#seen.size;
  }
}
