/**
 * The messages a new leader keeps while it reads the registry, and hands to its handlers once it
 * has. A message that only repeats an earlier one still waiting — a registration, re-registration,
 * subscription, pong or heartbeat retried by a sender that got no answer yet — takes the earlier
 * one's place instead of queueing behind it: the latest says all the earlier one did, and a storm
 * of retries does not grow the queue (or the work) by a copy per retry.
 *
 * While the kept messages are handed back, a new message waits only if its sender still has one
 * waiting (each sender's messages stay in order); any other is handled at once.
 */
import type { MessageType } from '../../protocols/messages.ts';
import type { Inbound } from '../common.ts';

/** Messages whose latest copy from a sender replaces an earlier one still waiting. */
const REPLACEABLE: ReadonlySet<MessageType> = new Set<MessageType>(['RegisterAgent', 'ReregisterAgent', 'SubscribeFramework', 'Pong', 'Heartbeat']);

/** Kept messages in arrival order (the slot of a replaced one keeps its place). */
export interface DeferredQueue {
  items: Array<Inbound | undefined>;
  head: number;
  /** `type\0sender` → slot of the waiting message that a repeat replaces. */
  slots: Map<string, number>;
  /** Sender → how many of its messages wait. */
  from: Map<string, number>;
}

/** An empty queue. */
export function emptyQueue(): DeferredQueue {
  return { items: [], head: 0, slots: new Map(), from: new Map() };
}

/** True when a message of `sender` waits: a newer one from it must wait behind it. */
export function hasWaitingFrom(q: DeferredQueue, sender: string): boolean {
  return q.from.has(sender);
}

/** Messages waiting. */
export function waiting(q: DeferredQueue): number {
  return q.items.length - q.head;
}

function keyOf(ev: Inbound): string | undefined {
  if (!REPLACEABLE.has(ev.type)) return undefined;
  // A part of a split re-registration is not a repeat of another part.
  if (ev.type === 'ReregisterAgent' && ev.body.part) return undefined;
  return `${ev.type}\u0000${ev.from}`;
}

/**
 * Keeps `ev`: replaces a waiting repeat, or queues it when there is room.
 * @returns what happened to it.
 */
export function keep(q: DeferredQueue, ev: Inbound, max: number): 'queued' | 'replaced' | 'full' {
  const key = keyOf(ev);
  if (key !== undefined) {
    const slot = q.slots.get(key);
    if (slot !== undefined && slot >= q.head) {
      q.items[slot] = ev;
      return 'replaced';
    }
  }
  if (waiting(q) >= max) return 'full';
  if (key !== undefined) q.slots.set(key, q.items.length);
  q.items.push(ev);
  q.from.set(ev.from, (q.from.get(ev.from) ?? 0) + 1);
  return 'queued';
}

/** Takes the next `n` messages, oldest first. */
export function take(q: DeferredQueue, n: number): Inbound[] {
  const end = Math.min(q.items.length, q.head + n);
  const out: Inbound[] = [];
  for (let i = q.head; i < end; i++) {
    const ev = q.items[i]!;
    out.push(ev);
    q.items[i] = undefined;
    const key = keyOf(ev);
    if (key !== undefined && q.slots.get(key) === i) q.slots.delete(key);
    const n = (q.from.get(ev.from) ?? 1) - 1;
    if (n > 0) q.from.set(ev.from, n);
    else q.from.delete(ev.from);
  }
  q.head = end;
  if (q.head === q.items.length) {
    q.items = [];
    q.head = 0;
  }
  return out;
}
