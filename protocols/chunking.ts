/**
 * Messages whose size grows with the cluster (offers, rescinds, a re-registration carrying every
 * task of an agent, reconciliation requests) are split into parts that each fit under the bus's
 * payload limit. A message that fits is sent whole.
 *
 * - Lists of independent items (offers, offer ids, revoked tasks, reconciliation statuses) split
 *   into messages of the same type, each a valid message on its own.
 * - A re-registration is one report: its parts carry `part: { id, index, count }` and the master
 *   acts only once it holds every part (`actors/master/reassembly.ts`).
 *
 * @see NATS `max_payload` (1 MiB by default), read from the server at connect.
 */
import type { Body, Message, MessageType } from './messages.ts';

/** The list fields a message type may be split along, in order. */
const SPLITTABLE: { readonly [T in MessageType]?: ReadonlyArray<keyof Body<T> & string> } = {
  ResourceOffers: ['offers'],
  OffersRescinded: ['offerIds'],
  RevocationScheduled: ['tasks'],
  ReconcileTasks: ['statuses'],
  DeclineOffers: ['offerIds'],
  ReregisterAgent: ['tasks', 'executors', 'frameworks'],
};

/** Message types whose parts belong together and are numbered. */
const NUMBERED: ReadonlySet<MessageType> = new Set<MessageType>(['ReregisterAgent']);

/** Why a message could not be made to fit. */
export class ChunkingError extends Error {
  override name = 'ChunkingError';
}

/** True when messages of `type` can be split to fit a payload limit. */
export function isSplittable(type: MessageType): boolean {
  return SPLITTABLE[type] !== undefined;
}

type Item = { field: string; value: unknown };

/**
 * Splits `msg` into messages that each encode to at most `maxBytes` (as measured by `sizeOf`).
 * Returns `[msg]` when it fits. Parts of numbered types get `part: { id: partId, index, count }`.
 * Throws {@link ChunkingError} when the type cannot be split, or when a single item alone is too
 * large.
 */
export function splitToFit(msg: Message, maxBytes: number, sizeOf: (m: Message) => number, partId: string): Message[] {
  if (sizeOf(msg) <= maxBytes) return [msg];
  const fields = SPLITTABLE[msg.type] as readonly string[] | undefined;
  if (!fields) throw new ChunkingError(`${msg.type} of ${sizeOf(msg)} bytes exceeds ${maxBytes} and cannot be split`);
  const body = msg.body as unknown as Record<string, unknown>;
  const items: Item[] = [];
  for (const f of fields) for (const value of (body[f] as unknown[] | undefined) ?? []) items.push({ field: f, value });
  const numbered = NUMBERED.has(msg.type);
  // Room for the part header, so that numbering the parts cannot push one over the limit.
  const limit = numbered ? maxBytes - 64 : maxBytes;
  const build = (slice: readonly Item[]): Message => {
    const b: Record<string, unknown> = { ...body };
    for (const f of fields) if (b[f] !== undefined || slice.some((i) => i.field === f)) b[f] = [];
    for (const i of slice) (b[i.field] as unknown[]).push(i.value);
    return { type: msg.type, body: b } as unknown as Message;
  };
  const parts: Item[][] = [];
  // Halve until every part fits: O(n log parts) encodings, and parts end up well filled.
  const place = (slice: Item[]): void => {
    if (slice.length <= 1 || sizeOf(build(slice)) <= limit) {
      if (slice.length === 1 && sizeOf(build(slice)) > limit) {
        throw new ChunkingError(`one ${slice[0]!.field} item of ${msg.type} alone exceeds ${maxBytes} bytes`);
      }
      parts.push(slice);
      return;
    }
    const mid = slice.length >> 1;
    place(slice.slice(0, mid));
    place(slice.slice(mid));
  };
  place(items);
  return parts.map((slice, index) => {
    const m = build(slice);
    if (numbered) (m.body as unknown as Record<string, unknown>).part = { id: partId, index, count: parts.length };
    return m;
  });
}
