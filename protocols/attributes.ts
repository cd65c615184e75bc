/**
 * Agent attributes: free-form labels (`rack:r1;zone:a;level:2;rooms:[1-3]`) an agent advertises
 * and offers carry, which schedulers use for placement. Unlike resources they are never consumed.
 *
 * @see mesos.proto `Attribute`; Mesos `Attributes` (src/common/attributes.cpp).
 */
import { Type, type Static } from '@sinclair/typebox';
import { RangeSchema, ResourceParseError, formatRanges, parseRanges, type Range } from './resources.ts';

/** The kinds of value an attribute can hold. @see mesos.proto `Value.Type` */
export const ATTRIBUTE_TYPES = ['SCALAR', 'RANGES', 'SET', 'TEXT'] as const;
/** One of {@link ATTRIBUTE_TYPES}. @see mesos.proto `Value.Type` */
export type AttributeType = (typeof ATTRIBUTE_TYPES)[number];

/**
 * One attribute. Exactly the field matching `type` is meaningful: `scalar`, `ranges`, `set` or
 * `text`.
 * @see mesos.proto `Attribute`
 */
export const AttributeSchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 256 }),
  type: Type.Union(ATTRIBUTE_TYPES.map((t) => Type.Literal(t))),
  scalar: Type.Optional(Type.Number()),
  ranges: Type.Optional(Type.Array(RangeSchema, { maxItems: 65536 })),
  set: Type.Optional(Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 65536 })),
  text: Type.Optional(Type.String({ maxLength: 4096 })),
});
/** @see AttributeSchema */
export type Attribute = Static<typeof AttributeSchema>;

/** An agent's attributes. @see Mesos `Attributes` */
export const AttributesSchema = Type.Array(AttributeSchema, { maxItems: 1024 });
/** @see AttributesSchema */
export type Attributes = Static<typeof AttributesSchema>;

/** The value of one attribute, as returned by {@link attributeValue}. */
export type AttributeValue = number | Range[] | string[] | string;

/**
 * Text that is not a valid attribute description. The message reads
 * `invalid attribute '<token>': <reason>`.
 * @see Mesos `Attributes::parse`
 */
export class AttributeParseError extends Error {
  /** The offending token, exactly as written (trimmed). */
  readonly token: string;
  /** Why the token is invalid, without the token prefix. */
  readonly reason: string;

  /**
   * @param token the bad token as written.
   * @param reason why it is bad.
   */
  constructor(token: string, reason: string) {
    super(`invalid attribute '${token}': ${reason}`);
    this.name = 'AttributeParseError';
    this.token = token;
    this.reason = reason;
  }
}

const NAME_FORBIDDEN = /[\s()[\]{}:;,]/;
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
// eslint-disable-next-line no-control-regex
const TEXT_FORBIDDEN = /[[\]{}\x00-\x1f\x7f]/;

function parseOne(token: string): Attribute {
  const colons = token.split(':').length - 1;
  if (colons === 0) throw new AttributeParseError(token, `missing ':' between name and value`);
  if (colons > 1) throw new AttributeParseError(token, `expected exactly one ':' between name and value`);
  const [rawName, rawValue] = token.split(':') as [string, string];
  const name = rawName.trim();
  const value = rawValue.trim();
  if (name === '') throw new AttributeParseError(token, 'attribute name is empty');
  if (NAME_FORBIDDEN.test(name)) throw new AttributeParseError(token, `attribute name '${name}' contains a forbidden character`);
  if (value === '') throw new AttributeParseError(token, 'value is empty');

  if (value.startsWith('[')) {
    try {
      return { name, type: 'RANGES', ranges: parseRanges(value) };
    } catch (e) {
      if (e instanceof ResourceParseError) throw new AttributeParseError(token, e.reason);
      throw e;
    }
  }
  if (value.startsWith('{')) {
    if (!value.endsWith('}')) throw new AttributeParseError(token, `set '${value}' must be enclosed in '{' and '}'`);
    const inner = value.slice(1, -1).trim();
    const items = inner === '' ? [] : inner.split(',').map((s) => s.trim());
    for (const item of items) {
      if (item === '') throw new AttributeParseError(token, `set '${value}' has an empty item`);
      if (TEXT_FORBIDDEN.test(item)) throw new AttributeParseError(token, `set item '${item}' contains a forbidden character`);
    }
    return { name, type: 'SET', set: [...new Set(items)].sort() };
  }
  if (NUMBER.test(value)) {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new AttributeParseError(token, `value '${value}' is not finite`);
    return { name, type: 'SCALAR', scalar: n };
  }
  if (TEXT_FORBIDDEN.test(value)) throw new AttributeParseError(token, `text '${value}' contains a bracket or control character`);
  return { name, type: 'TEXT', text: value };
}

/**
 * Parses Mesos attribute text, `name:value` pairs separated by `;`. A value that is a number becomes
 * SCALAR, `[b-e,...]` RANGES, `{a,b}` SET (unique, sorted), anything else TEXT. Whitespace around
 * tokens is ignored, empty text gives `[]`, order is kept. Throws {@link AttributeParseError}
 * naming the bad token on an empty name or value, a missing or extra `:`, a malformed range or set,
 * a stray bracket in text, or a name given twice.
 * @see Mesos `Attributes::parse`, agent flag `--attributes`
 */
export function parseAttributes(text: string): Attributes {
  const out: Attributes = [];
  const seen = new Set<string>();
  for (const raw of text.split(';')) {
    const token = raw.trim();
    if (token === '') continue;
    const attr = parseOne(token);
    if (seen.has(attr.name)) throw new AttributeParseError(token, `attribute '${attr.name}' is given more than once`);
    seen.add(attr.name);
    out.push(attr);
  }
  return out;
}

function formatValue(a: Attribute): string {
  switch (a.type) {
    case 'SCALAR':
      return String(a.scalar ?? 0);
    case 'RANGES':
      return formatRanges(a.ranges ?? []);
    case 'SET':
      return `{${(a.set ?? []).join(',')}}`;
    case 'TEXT':
      return a.text ?? '';
  }
}

/**
 * Mesos text for `attrs`, in their order: `rack:r1;zone:a;level:2;rooms:[1-3]`. Round-trips
 * through {@link parseAttributes} for attributes that parse could have produced.
 * @see Mesos `operator<<(ostream&, const Attribute&)`
 */
export function formatAttributes(attrs: readonly Attribute[]): string {
  return attrs.map((a) => `${a.name}:${formatValue(a)}`).join(';');
}

/**
 * The value of the first attribute named `name` (a number, ranges, set items or text, by its
 * type), or `undefined` if there is none.
 * @see Mesos `Attributes::get`
 */
export function attributeValue(attrs: readonly Attribute[], name: string): AttributeValue | undefined {
  const a = attrs.find((x) => x.name === name);
  if (a === undefined) return undefined;
  switch (a.type) {
    case 'SCALAR':
      return a.scalar ?? 0;
    case 'RANGES':
      return (a.ranges ?? []).map((r) => ({ ...r }));
    case 'SET':
      return [...(a.set ?? [])];
    case 'TEXT':
      return a.text ?? '';
  }
}
