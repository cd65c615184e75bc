/**
 * Verbatim repeats of retried requests.
 *
 * An agent that hears nothing back retries its (re-)registration with backoff. In a storm (every
 * agent of a large cluster re-registering with a new leader) many retries are sent while the
 * original still waits in the leader's inbound queue; the leader then reads the original, answers
 * it, and reads the retry right behind it. Handling that retry fully (decode, validate, dispatch,
 * answer again) is pure waste, and it slows the storm down, which causes more retries.
 *
 * So such requests are retried *verbatim*: their message id is derived from their content (see
 * {@link contentId}), so a retry with nothing new is byte-identical to the original, and a retry
 * that carries news (a task finished meanwhile) is not. A receiver keeps a short memory of what it
 * handled ({@link RepeatFilter}) and drops an identical copy seen within the window, before
 * decoding it. Nothing is lost: a sender whose answer really went missing retries again later,
 * after the window, and is answered then.
 */
import type { MessageType } from '../protocols/messages.ts';

/** Requests whose retries are sent verbatim and may be dropped by a receiver that just handled them. */
export const RETRIED_VERBATIM: ReadonlySet<string> = new Set<MessageType>(['RegisterAgent', 'ReregisterAgent']);

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
 * Remembers the messages handled in the last `windowMs` (by subject, length and a 53-bit content
 * hash) and tells whether a new one is a verbatim repeat of one of them.
 */
export class RepeatFilter {
  readonly #seen = new Map<number, number>();
  constructor(readonly windowMs: number) {}

  /** The key of a message: its subject and bytes hashed together. */
  key(subject: string, bytes: Uint8Array): number {
    const [a, b] = lanes(bytes, subject);
    return a * 0x200000 + (b & 0x1fffff);
  }

  /** True when a message with this key was handled less than the window ago. */
  isRepeat(key: number, now: number): boolean {
    const at = this.#seen.get(key);
    return at !== undefined && now - at < this.windowMs;
  }

  /** Records that the message with this key was handled at `now`, and forgets what is older than the window. */
  handled(key: number, now: number): void {
    this.#seen.delete(key);
    this.#seen.set(key, now);
    // Insertion order is age order: drop from the oldest end.
    for (const [k, at] of this.#seen) {
      if (now - at < this.windowMs) break;
      this.#seen.delete(k);
    }
  }

  /** Forgets everything. */
  clear(): void {
    this.#seen.clear();
  }

  /** How many messages are remembered. */
  get size(): number {
    return this.#seen.size;
  }
}
