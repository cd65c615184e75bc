/**
 * The envelope every bus message travels in, and the msgpack codec that checks it at the edge.
 *
 * Decoding never throws: it returns either a message or a rejection with a reason, which the
 * runtime logs, counts and drops.
 *
 * @see libprocess `Message` (`from`, `to`, `name`, `body`).
 */
import { Packr } from 'msgpackr';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { MESSAGES, isAllowedRoute, isMessageType, type Body, type Message, type MessageType } from './messages.ts';
import { kindOf, parsePid, parseSubject } from './pid.ts';

/** The protocol version carried in every envelope. */
export const PROTOCOL_VERSION = 1;
/** Default largest accepted encoded message. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1 << 20;

/** The envelope's outer shape (the body is checked separately against its type's schema). */
export const EnvelopeSchema = Type.Object({
  v: Type.Number(),
  type: Type.String({ minLength: 1, maxLength: 128 }),
  from: Type.String({ minLength: 1, maxLength: 512 }),
  id: Type.String({ minLength: 1, maxLength: 256 }),
  epoch: Type.Optional(Type.Number()),
  body: Type.Unknown(),
});

/** A decoded, validated envelope. */
export type Envelope<T extends MessageType = MessageType> = Omit<Static<typeof EnvelopeSchema>, 'type' | 'body'> & {
  type: T;
  body: Body<T>;
};

/** Why an inbound message was dropped. */
export const DROP_REASONS = [
  'oversized',
  'malformed',
  'bad-envelope',
  'unsupported-version',
  'unknown-type',
  'wrong-receiver',
  'wrong-sender',
  'invalid-body',
] as const;
/** One of {@link DROP_REASONS}. */
export type DropReason = (typeof DROP_REASONS)[number];

/** Result of {@link Codec.decode}. */
export type Decoded =
  | { ok: true; envelope: Envelope }
  | { ok: false; reason: DropReason; detail: string; type?: string; from?: string };

const envelopeCheck = TypeCompiler.Compile(EnvelopeSchema);
const bodyChecks = new Map<string, TypeCheck<any>>();
function bodyCheck(type: MessageType): TypeCheck<any> {
  let c = bodyChecks.get(type);
  if (!c) {
    c = TypeCompiler.Compile(MESSAGES[type].body);
    bodyChecks.set(type, c);
  }
  return c;
}

/** Validates a body against its type's schema; the first error as text, or `undefined` when valid. */
export function checkBody(type: MessageType, body: unknown): string | undefined {
  const c = bodyCheck(type);
  if (c.Check(body)) return undefined;
  const e = c.Errors(body).First();
  return e ? `${e.path || '/'}: ${e.message}` : 'invalid';
}

/** Encodes and decodes envelopes; one instance per process. */
export class Codec {
  // 64-bit integers from other encoders (timestamps in ms) decode as numbers, not bigints.
  private readonly packr = new Packr({ useRecords: false, variableMapSize: true, int64AsType: 'number' });
  constructor(readonly maxBytes = DEFAULT_MAX_MESSAGE_BYTES) {}

  /** Encodes an envelope to bytes. */
  encode(envelope: Envelope | Static<typeof EnvelopeSchema>): Uint8Array {
    return this.packr.pack(envelope);
  }

  /**
   * Decodes bytes received by the actor at `to` on `subject` and checks, in order: size, msgpack,
   * envelope shape, version, known type, that `to` may receive it, that the subject's sender kind
   * matches the envelope's `from` and may send it, and the body schema.
   */
  decode(bytes: Uint8Array, to: string, subject: string): Decoded {
    if (bytes.byteLength > this.maxBytes) {
      return { ok: false, reason: 'oversized', detail: `${bytes.byteLength} bytes > ${this.maxBytes}` };
    }
    let raw: unknown;
    try {
      raw = this.packr.unpack(bytes);
    } catch (err) {
      return { ok: false, reason: 'malformed', detail: (err as Error).message.slice(0, 200) };
    }
    if (!envelopeCheck.Check(raw)) {
      return { ok: false, reason: 'bad-envelope', detail: 'not an envelope {v,type,from,id,body}' };
    }
    const env = raw as Static<typeof EnvelopeSchema>;
    const meta = { type: env.type, from: env.from };
    if (env.v !== PROTOCOL_VERSION) {
      return { ok: false, reason: 'unsupported-version', detail: `version ${env.v}`, ...meta };
    }
    if (!isMessageType(env.type)) return { ok: false, reason: 'unknown-type', detail: env.type, ...meta };
    const spec = MESSAGES[env.type];
    const toKind = kindOf(to);
    if (!toKind || !spec.to.includes(toKind)) {
      return { ok: false, reason: 'wrong-receiver', detail: `${env.type} is not for ${toKind ? `a ${toKind}` : `'${to}'`}`, ...meta };
    }
    const subj = parseSubject(to, subject);
    const fromPid = parsePid(env.from);
    const fromKind = fromPid?.kind;
    if (!subj || subj.type !== env.type || !fromKind || subj.fromKind !== fromKind || fromPid.cluster !== parsePid(to)?.cluster ||
        !isAllowedRoute(env.type, fromKind, toKind)) {
      return { ok: false, reason: 'wrong-sender', detail: `${env.type} from '${env.from}' on '${subject}'`, ...meta };
    }
    const bad = checkBody(env.type, env.body);
    if (bad) return { ok: false, reason: 'invalid-body', detail: bad, ...meta };
    return { ok: true, envelope: env as Envelope };
  }
}

/** Builds an envelope for `msg` from `from`. */
export function envelope(from: string, id: string, msg: Message, epoch?: number): Envelope {
  const e = { v: PROTOCOL_VERSION, type: msg.type, from, id, body: msg.body } as Envelope;
  if (epoch !== undefined) e.epoch = epoch;
  return e;
}
