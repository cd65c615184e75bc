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
import { MAX_BYTES_BY_TYPE, MESSAGES, isAllowedRoute, isMessageType, normalizeVocabulary, type Body, type Message, type MessageType } from './messages.ts';
import { parsePid, type ActorKind, type Pid } from './pid.ts';

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

function rejection(reason: DropReason, detail: string, env: { type: string; from: string }): Decoded {
  return { ok: false, reason, detail, type: env.type, from: env.from };
}

/** Encodes and decodes envelopes; one instance per process. */
export class Codec {
  // 64-bit integers from other encoders (timestamps in ms) decode as numbers, not bigints.
  private readonly packr = new Packr({ useRecords: false, variableMapSize: true, int64AsType: 'number' });
  private readonly receivers = new Map<string, { prefix: string; kind?: ActorKind; cluster?: string }>();
  private readonly senders = new Map<string, Pid | null>();
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
    const type = env.type;
    if (env.v !== PROTOCOL_VERSION) return rejection('unsupported-version', `version ${env.v}`, env);
    if (!isMessageType(type)) return rejection('unknown-type', type, env);
    const limit = MAX_BYTES_BY_TYPE[type];
    if (limit !== undefined && bytes.byteLength > limit) return rejection('oversized', `${type} of ${bytes.byteLength} bytes > ${limit}`, env);
    const r = this.receiver(to);
    if (!r.kind || !MESSAGES[type].to.includes(r.kind)) {
      return rejection('wrong-receiver', `${type} is not for ${r.kind ? `a ${r.kind}` : `'${to}'`}`, env);
    }
    // The subject must read <to>.<type>.<sender kind>.<sender principal>, as the envelope's sender
    // PID names them (the bus lets a connection publish only as its own kind and principal), the
    // sender from the receiver's cluster, and the hop one the message type may take.
    const from = this.sender(env.from);
    if (!from || from.cluster !== r.cluster || subject.length !== r.prefix.length + type.length + from.kind.length + from.principal.length + 2 ||
        !subject.startsWith(r.prefix) || !subject.endsWith(`${type}.${from.kind}.${from.principal}`) || !isAllowedRoute(type, from.kind, r.kind)) {
      return rejection('wrong-sender', `${type} from '${env.from}' on '${subject}'`, env);
    }
    const bad = checkBody(type, env.body);
    if (bad) return rejection('invalid-body', bad, env);
    normalizeVocabulary(type, env.body);
    return { ok: true, envelope: env as Envelope };
  }

  /** What decoding needs to know about a receiving PID, worked out once per PID. */
  private receiver(to: string): { prefix: string; kind?: ActorKind; cluster?: string } {
    let r = this.receivers.get(to);
    if (!r) {
      const p = parsePid(to);
      r = { prefix: `${to}.`, kind: p?.kind, cluster: p?.cluster };
      this.receivers.set(to, r);
    }
    return r;
  }

  /** A sender PID parsed, from a bounded cache (senders are few and repeat). */
  private sender(from: string): Pid | undefined {
    let p = this.senders.get(from);
    if (p === undefined) {
      p = parsePid(from) ?? null;
      if (this.senders.size >= 4096) this.senders.clear();
      this.senders.set(from, p);
    }
    return p ?? undefined;
  }
}

/** Builds an envelope for `msg` from `from`. */
export function envelope(from: string, id: string, msg: Message, epoch?: number): Envelope {
  const e = { v: PROTOCOL_VERSION, type: msg.type, from, id, body: msg.body } as Envelope;
  if (epoch !== undefined) e.epoch = epoch;
  return e;
}
