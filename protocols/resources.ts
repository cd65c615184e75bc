/**
 * The resource model: what agents have, what offers carry and what tasks consume.
 *
 * A resource is a named quantity of one of three kinds: a SCALAR (cpus, mem, disk, gpus), a set of
 * integer RANGES (ports) or a SET of strings. Resources may be reserved to a role and may be
 * revocable. Every function here is pure: inputs are never mutated and results are normalised
 * (see {@link normalize}).
 *
 * Scalars are exact to three decimal places. Internally every scalar is held as an integer number
 * of thousandths, so `0.1 + 0.2` is `0.3` and adding then removing `0.001` a thousand times lands
 * exactly where it started.
 *
 * Canonical form: one entry per (name, type, role, revocable); unreserved entries carry no `role`
 * field (`'*'` on input means the same); `revocable` appears only when true; empty entries are
 * dropped; entries are sorted by name, then role (unreserved first), then non-revocable before
 * revocable, then type.
 *
 * @see Mesos `Resources` (src/common/resources.cpp) and `Value` arithmetic (src/common/values.cpp).
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

// ---------------------------------------------------------------------------------------------
// Wire types
// ---------------------------------------------------------------------------------------------

/** The kinds of value a resource can hold. @see mesos.proto `Value.Type` */
export const RESOURCE_TYPES = ['SCALAR', 'RANGES', 'SET'] as const;
/** One of {@link RESOURCE_TYPES}. @see mesos.proto `Value.Type` */
export type ResourceType = (typeof RESOURCE_TYPES)[number];

/** The role name meaning "not reserved". @see Mesos `Resource.role` default `"*"` */
export const UNRESERVED_ROLE = '*';

/** Largest scalar representable exactly (as integer thousandths within the safe-integer range). */
export const MAX_SCALAR = Math.floor(Number.MAX_SAFE_INTEGER / 1000);

const MAX_ITEMS = 65536;

/**
 * An inclusive interval of non-negative integers, e.g. ports 31000 through 32000.
 * @see mesos.proto `Value.Range`
 */
export const RangeSchema = Type.Object({
  begin: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
  end: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
});
/** @see RangeSchema */
export type Range = Static<typeof RangeSchema>;

/**
 * One resource entry. Exactly the field matching `type` is meaningful: `scalar` for SCALAR,
 * `ranges` for RANGES, `set` for SET. `role` absent or `'*'` means unreserved; otherwise it is the
 * (possibly hierarchical, `a/b`) role the resource is reserved to.
 * @see mesos.proto `Resource`
 */
export const ResourceSchema = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 256 }),
  type: Type.Union(RESOURCE_TYPES.map((t) => Type.Literal(t))),
  scalar: Type.Optional(Type.Number({ minimum: 0, maximum: MAX_SCALAR })),
  ranges: Type.Optional(Type.Array(RangeSchema, { maxItems: MAX_ITEMS })),
  set: Type.Optional(Type.Array(Type.String({ maxLength: 1024 }), { maxItems: MAX_ITEMS })),
  role: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  revocable: Type.Optional(Type.Boolean()),
});
/** @see ResourceSchema */
export type Resource = Static<typeof ResourceSchema>;

/** A collection of resources, e.g. an agent's total or an offer's contents. @see Mesos `Resources` */
export const ResourcesSchema = Type.Array(ResourceSchema, { maxItems: 4096 });
/** @see ResourcesSchema */
export type Resources = Static<typeof ResourcesSchema>;

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/**
 * A resource operation that cannot be carried out: a malformed entry, or subtracting resources
 * that are not contained.
 * @see Mesos `Resources::operator-=` (which CHECKs containment)
 */
export class ResourceError extends Error {
  /** @param message what went wrong, naming the offending resource. */
  constructor(message: string) {
    super(message);
    this.name = 'ResourceError';
  }
}

/**
 * Text that is not a valid resource description. The message reads
 * `invalid resource '<token>': <reason>`.
 * @see Mesos `Resources::parse`
 */
export class ResourceParseError extends Error {
  /** The offending token, exactly as written (trimmed). */
  readonly token: string;
  /** Why the token is invalid, without the token prefix. */
  readonly reason: string;

  /**
   * @param token the bad token as written.
   * @param reason why it is bad.
   */
  constructor(token: string, reason: string) {
    super(`invalid resource '${token}': ${reason}`);
    this.name = 'ResourceParseError';
    this.token = token;
    this.reason = reason;
  }
}

// ---------------------------------------------------------------------------------------------
// Internal canonical model
// ---------------------------------------------------------------------------------------------

/** An inclusive integer interval `[begin, end]`, the internal form of a {@link Range}. */
export type Span = [number, number];

interface Entry {
  name: string;
  type: ResourceType;
  /** `undefined` = unreserved. */
  role: string | undefined;
  revocable: boolean;
  /** SCALAR: integer thousandths. */
  milli: number;
  /** RANGES: sorted, coalesced. */
  spans: Span[];
  /** SET: unique items. */
  items: Set<string>;
}

type EntryMap = Map<string, Entry>;

const toMilli = (x: number): number => Math.round(x * 1000);
const fromMilli = (m: number): number => m / 1000;

const keyOf = (name: string, type: string, role: string | undefined, revocable: boolean): string =>
  `${name}\u0000${type}\u0000${role ?? ''}\u0000${revocable ? 1 : 0}`;

/** One shared empty item set for non-SET entries (only SET entries ever change `items`). */
const NO_ITEMS: Set<string> = new Set();

/** Throws the parse error for an entry (module level: no closure is made per entry). */
function bad(fail: (r: unknown, why: string) => Error, r: unknown, why: string): never {
  throw fail(r, why);
}

/** Why `role` is not a valid role name, or `undefined` if it is. `'*'` is accepted as unreserved. */
function roleProblem(role: string): string | undefined {
  if (role === UNRESERVED_ROLE) return undefined;
  if (role.length === 0) return 'role is empty';
  if (role.length > 256) return `role '${role}' is longer than 256 characters`;
  if (role.startsWith('/') || role.endsWith('/')) return `role '${role}' must not start or end with '/'`;
  for (const part of role.split('/')) {
    if (part === '') return `role '${role}' has an empty path component`;
    if (part === '.' || part === '..') return `role '${role}' must not have '.' or '..' components`;
    if (part === '*') return `role '${role}' must not use '*' as a path component`;
    if (part.startsWith('-')) return `role '${role}' has a component starting with '-'`;
    // eslint-disable-next-line no-control-regex
    if (/[\s\x00-\x1f\x7f()[\]{}:;,]/.test(part)) return `role '${role}' contains a forbidden character`;
  }
  return undefined;
}

/** Sorted, coalesced copy (overlapping or adjacent spans merged). */
function coalesce(spans: readonly Span[]): Span[] {
  const sorted = spans.map((s): Span => [s[0], s[1]]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const out: Span[] = [];
  for (const [b, e] of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && b <= last[1] + 1) {
      if (e > last[1]) last[1] = e;
    } else {
      out.push([b, e]);
    }
  }
  return out;
}

/** `a \ b` for sorted, coalesced span lists; the result is sorted and coalesced. */
export function spanDifference(a: ReadonlyArray<readonly [number, number]>, b: ReadonlyArray<readonly [number, number]>): Span[] {
  const out: Span[] = [];
  let j = 0;
  for (const [s, e] of a) {
    let cur = s;
    while (j < b.length && b[j][1] < cur) j++;
    for (let k = j; k < b.length && b[k][0] <= e; k++) {
      if (b[k][0] > cur) out.push([cur, b[k][0] - 1]);
      cur = Math.max(cur, b[k][1] + 1);
      if (cur > e) break;
    }
    if (cur <= e) out.push([cur, e]);
  }
  return out;
}

function describe(r: unknown): string {
  try {
    return JSON.stringify(r);
  } catch {
    return String(r);
  }
}

const resourceError = (r: unknown, why: string): Error => new ResourceError(`invalid resource ${describe(r)}: ${why}`);

/** Validates one wire entry and converts it to the internal form. Throws `fail(r, why)`. */
function toEntry(r: Resource, fail: (r: unknown, why: string) => Error = resourceError): Entry {
  if (r === null || typeof r !== 'object') bad(fail, r, 'not an object');
  if (typeof r.name !== 'string' || r.name.length === 0) bad(fail, r, 'name must be a non-empty string');
  if (!(RESOURCE_TYPES as readonly string[]).includes(r.type)) bad(fail, r, `unknown type '${String(r.type)}'`);
  let role: string | undefined;
  if (r.role !== undefined) {
    if (typeof r.role !== 'string') bad(fail, r, 'role must be a string');
    const problem = roleProblem(r.role);
    if (problem !== undefined) bad(fail, r, problem);
    role = r.role === UNRESERVED_ROLE ? undefined : r.role;
  }
  if (r.revocable !== undefined && typeof r.revocable !== 'boolean') bad(fail, r, 'revocable must be a boolean');
  const entry: Entry = { name: r.name, type: r.type, role, revocable: r.revocable === true, milli: 0, spans: [], items: r.type === 'SET' ? new Set() : NO_ITEMS };
  switch (r.type) {
    case 'SCALAR': {
      const v = r.scalar;
      if (typeof v !== 'number' || Number.isNaN(v)) bad(fail, r, 'SCALAR resource needs a numeric scalar');
      if (!Number.isFinite(v)) bad(fail, r, `scalar ${v} is not finite`);
      if ((v as number) < 0) bad(fail, r, `scalar ${v} is negative`);
      if ((v as number) > MAX_SCALAR) bad(fail, r, `scalar ${v} is too large`);
      entry.milli = toMilli(v as number);
      break;
    }
    case 'RANGES': {
      if (!Array.isArray(r.ranges)) bad(fail, r, 'RANGES resource needs a ranges array');
      const spans: Span[] = [];
      for (const range of r.ranges as Range[]) {
        const { begin, end } = range ?? ({} as Range);
        if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || begin < 0 || end < 0) {
          bad(fail, r, `range ${describe(range)} must have non-negative integer begin and end`);
        }
        if (begin > end) bad(fail, r, `range begin ${begin} is greater than end ${end}`);
        spans.push([begin, end]);
      }
      entry.spans = coalesce(spans);
      break;
    }
    case 'SET': {
      if (!Array.isArray(r.set)) bad(fail, r, 'SET resource needs a set array');
      for (const item of r.set as string[]) {
        if (typeof item !== 'string') bad(fail, r, 'set items must be strings');
        entry.items.add(item);
      }
      break;
    }
  }
  return entry;
}

function isEmptyEntry(e: Entry): boolean {
  switch (e.type) {
    case 'SCALAR':
      return e.milli === 0;
    case 'RANGES':
      return e.spans.length === 0;
    case 'SET':
      return e.items.size === 0;
  }
}

/** Adds `src` into `dst` (same key). Mutates `dst` only; `dst` is always a private copy. */
function addInto(dst: Entry, src: Entry): void {
  switch (dst.type) {
    case 'SCALAR':
      dst.milli += src.milli;
      break;
    case 'RANGES':
      dst.spans = coalesce([...dst.spans, ...src.spans]);
      break;
    case 'SET':
      for (const item of src.items) dst.items.add(item);
      break;
  }
}

function cloneEntry(e: Entry): Entry {
  return { ...e, spans: e.spans.map((s): Span => [s[0], s[1]]), items: e.type === 'SET' ? new Set(e.items) : NO_ITEMS };
}

function toMap(r: readonly Resource[]): EntryMap {
  if (!Array.isArray(r)) throw new ResourceError(`resources must be an array, got ${describe(r)}`);
  const map: EntryMap = new Map();
  for (const resource of r) {
    const e = toEntry(resource);
    const key = keyOf(e.name, e.type, e.role, e.revocable);
    const existing = map.get(key);
    if (existing === undefined) map.set(key, e);
    else addInto(existing, e);
  }
  return map;
}

/** What identifies a resource entry: entries with equal identities combine. */
export interface ResourceIdentity {
  readonly name: string;
  readonly type: ResourceType;
  /** `undefined`: unreserved. */
  readonly role: string | undefined;
  readonly revocable: boolean;
}

/** The canonical order of entries: by name, then role (unreserved first), non-revocable first, then type. */
export function compareIdentity(x: ResourceIdentity, y: ResourceIdentity): number {
  if (x.name !== y.name) return x.name < y.name ? -1 : 1;
  if (x.role !== y.role) {
    if (x.role === undefined) return -1;
    if (y.role === undefined) return 1;
    return x.role < y.role ? -1 : 1;
  }
  if (x.revocable !== y.revocable) return x.revocable ? 1 : -1;
  if (x.type !== y.type) return x.type < y.type ? -1 : 1;
  return 0;
}

function fromEntry(e: Entry): Resource {
  const out: Resource = { name: e.name, type: e.type };
  switch (e.type) {
    case 'SCALAR':
      out.scalar = fromMilli(e.milli);
      break;
    case 'RANGES':
      out.ranges = e.spans.map(([begin, end]) => ({ begin, end }));
      break;
    case 'SET':
      out.set = [...e.items].sort();
      break;
  }
  if (e.role !== undefined) out.role = e.role;
  if (e.revocable) out.revocable = true;
  return out;
}

function fromEntries(entries: Iterable<Entry>): Resources {
  return [...entries]
    .filter((e) => !isEmptyEntry(e))
    .sort(compareIdentity)
    .map(fromEntry);
}

const fromMap = (map: EntryMap): Resources => fromEntries(map.values());

function filterResources(r: readonly Resource[], keep: (e: Entry) => boolean): Resources {
  return fromEntries([...toMap(r).values()].filter(keep));
}

/** Does `a` hold at least everything in `b` (same key)? */
function entryContains(a: Entry | undefined, b: Entry): boolean {
  if (isEmptyEntry(b)) return true;
  if (a === undefined) return false;
  switch (b.type) {
    case 'SCALAR':
      return a.milli >= b.milli;
    case 'RANGES':
      return spanDifference(b.spans, a.spans).length === 0;
    case 'SET':
      for (const item of b.items) if (!a.items.has(item)) return false;
      return true;
  }
}

/** `a - b` for one key, clamping at empty. */
function entryMinus(a: Entry, b: Entry): Entry {
  const out = cloneEntry(a);
  switch (a.type) {
    case 'SCALAR':
      out.milli = Math.max(0, a.milli - b.milli);
      break;
    case 'RANGES':
      out.spans = spanDifference(a.spans, b.spans);
      break;
    case 'SET':
      for (const item of b.items) out.items.delete(item);
      break;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Arithmetic and queries
// ---------------------------------------------------------------------------------------------

/**
 * The canonical form of `r`: same (name, type, role, revocable) combined into one entry (scalars
 * summed to the nearest thousandth, ranges merged, sets unioned and sorted), empty entries dropped,
 * sorted by name then role. Throws {@link ResourceError} on a malformed entry (negative or
 * non-finite scalar, `begin > end`, invalid role, missing value field).
 * @see Mesos `Resources::operator+=(const Resource&)` and `Resources::validate`
 */
export function normalize(r: readonly Resource[]): Resources {
  return fromMap(toMap(r));
}

/**
 * `a + b`: scalars summed exactly (in thousandths); ranges and sets unioned.
 * @see Mesos `Resources::operator+`
 */
export function add(a: readonly Resource[], b: readonly Resource[]): Resources {
  return normalize([...a, ...b]);
}

/**
 * `a - b`, which requires `contains(a, b)`; otherwise throws {@link ResourceError} naming the first
 * entry of `b` that `a` cannot cover. Ranges are split as needed.
 * @see Mesos `Resources::operator-` (callers there must ensure containment)
 */
export function subtract(a: readonly Resource[], b: readonly Resource[]): Resources {
  const ma = toMap(a);
  const mb = toMap(b);
  for (const [key, eb] of mb) {
    const ea = ma.get(key);
    if (!entryContains(ea, eb)) {
      const have = ea === undefined ? 'none' : formatResources([fromEntry(ea)]);
      throw new ResourceError(
        `cannot subtract '${formatResources([fromEntry(eb)])}': not contained (available: ${have})`,
      );
    }
    if (ea !== undefined) ma.set(key, entryMinus(ea, eb));
  }
  return fromMap(ma);
}

/**
 * `a - b` clamped at empty: whatever of `b` is not in `a` is ignored. Never throws for containment.
 * @see Mesos `Resources::operator-` (this is the forgiving variant)
 */
export function subtractSaturating(a: readonly Resource[], b: readonly Resource[]): Resources {
  const ma = toMap(a);
  for (const [key, eb] of toMap(b)) {
    const ea = ma.get(key);
    if (ea !== undefined) ma.set(key, entryMinus(ea, eb));
  }
  return fromMap(ma);
}

/**
 * Whether `a ⊇ b`: for every entry of `b` there is an entry of `a` with the same name, type, role
 * and revocability holding at least as much (scalar ≥, ranges and sets as supersets). Reserved
 * resources never stand in for unreserved ones or vice versa.
 * @see Mesos `Resources::contains`
 */
export function contains(a: readonly Resource[], b: readonly Resource[]): boolean {
  const ma = toMap(a);
  for (const [key, eb] of toMap(b)) if (!entryContains(ma.get(key), eb)) return false;
  return true;
}

/**
 * Whether `a` and `b` describe the same resources (compared in canonical form).
 * @see Mesos `Resources::operator==`
 */
export function equals(a: readonly Resource[], b: readonly Resource[]): boolean {
  return contains(a, b) && contains(b, a);
}

/**
 * Whether `r` holds nothing (every entry is zero or empty).
 * @see Mesos `Resources::empty`
 */
export function isEmpty(r: readonly Resource[]): boolean {
  if (!Array.isArray(r)) throw new ResourceError(`resources must be an array, got ${describe(r)}`);
  for (const x of r) if (!isEmptyEntry(toEntry(x))) return false;
  return true;
}

function milliOf(r: readonly Resource[], name: string): number {
  let m = 0;
  for (const e of toMap(r).values()) if (e.name === name && e.type === 'SCALAR') m += e.milli;
  return m;
}

/**
 * The total SCALAR quantity named `name`, summed over all roles and revocability; 0 if absent.
 * @see Mesos `Resources::get<Value::Scalar>(name)`, `Resources::cpus()`, `Resources::mem()`
 */
export function scalar(r: readonly Resource[], name: string): number {
  return fromMilli(milliOf(r, name));
}

/**
 * All RANGES named `name` across every role, merged. `[]` if absent.
 * @see Mesos `Resources::get<Value::Ranges>(name)`, `Resources::ports()`
 */
export function rangesOf(r: readonly Resource[], name: string): Range[] {
  const spans: Span[] = [];
  for (const e of toMap(r).values()) if (e.name === name && e.type === 'RANGES') spans.push(...e.spans);
  return coalesce(spans).map(([begin, end]) => ({ begin, end }));
}

/**
 * All SET items named `name` across every role, unique and sorted. `[]` if absent.
 * @see Mesos `Resources::get<Value::Set>(name)`
 */
export function setOf(r: readonly Resource[], name: string): string[] {
  const items = new Set<string>();
  for (const e of toMap(r).values()) if (e.name === name && e.type === 'SET') for (const i of e.items) items.add(i);
  return [...items].sort();
}

/**
 * The unreserved part of `r`.
 * @see Mesos `Resources::unreserved`
 */
export function unreserved(r: readonly Resource[]): Resources {
  return filterResources(r, (e) => e.role === undefined);
}

/**
 * The part of `r` reserved to exactly `role` (not its ancestors or descendants). `'*'` selects the
 * unreserved part.
 * @see Mesos `Resources::reserved(role)`
 */
export function reservedTo(r: readonly Resource[], role: string): Resources {
  if (role === UNRESERVED_ROLE) return unreserved(r);
  return filterResources(r, (e) => e.role === role);
}

/**
 * The part of `r` a framework in `role` may be offered: unreserved resources plus those reserved to
 * `role` itself or to any of its ancestors (`a` and `a/b` for role `a/b/c`).
 * @see Mesos `Resources::allocatableTo`, `roles::isStrictSubroleOf`
 */
export function allocatableTo(r: readonly Resource[], role: string): Resources {
  return filterResources(
    r,
    (e) => e.role === undefined || e.role === role || role.startsWith(`${e.role}/`),
  );
}

/**
 * The revocable part of `r` (e.g. oversubscribed resources).
 * @see Mesos `Resources::revocable`
 */
export function revocable(r: readonly Resource[]): Resources {
  return filterResources(r, (e) => e.revocable);
}

/**
 * The non-revocable part of `r`.
 * @see Mesos `Resources::nonRevocable`
 */
export function nonRevocable(r: readonly Resource[]): Resources {
  return filterResources(r, (e) => !e.revocable);
}

/**
 * `r` with every reservation removed (all entries become unreserved, then combined). Revocability
 * is kept.
 * @see Mesos `Resources::toUnreserved` / `flatten`
 */
export function flatten(r: readonly Resource[]): Resources {
  const map: EntryMap = new Map();
  for (const e of toMap(r).values()) {
    const u = { ...e, role: undefined };
    const key = keyOf(u.name, u.type, undefined, u.revocable);
    const existing = map.get(key);
    if (existing === undefined) map.set(key, u);
    else addInto(existing, u);
  }
  return fromMap(map);
}

/** The default minimum an offer must reach: at least 0.01 cpus or at least 32 MB of memory. */
export const DEFAULT_MIN_ALLOCATABLE: Readonly<Record<string, number>> = Object.freeze({ cpus: 0.01, mem: 32 });

/**
 * Whether `r` is worth offering. Each key of `min` is an alternative: `r` is allocatable when, for
 * at least one named scalar, its total (all roles) reaches the minimum. The default is
 * `cpus ≥ 0.01 or mem ≥ 32`. An empty `r` is never allocatable; an empty `min` accepts any
 * non-empty `r`.
 * @see Mesos allocator `isAllocatable`, master flag `--min_allocatable_resources` (default `cpus:0.01|mem:32`)
 */
export function isAllocatable(
  r: readonly Resource[],
  min: Readonly<Record<string, number>> = DEFAULT_MIN_ALLOCATABLE,
): boolean {
  if (isEmpty(r)) return false;
  const names = Object.keys(min);
  if (names.length === 0) return true;
  return names.some((name) => milliOf(r, name) >= toMilli(min[name]));
}

/**
 * The dominant share of `allocated` against `total`: the largest `allocated/total` ratio over the
 * SCALAR names in `total` (all roles summed). Names whose total is 0 are ignored; 0 if none remain.
 * @see Mesos DRF sorter `DRFSorter::calculateShare`
 */
export function dominantShare(allocated: readonly Resource[], total: readonly Resource[]): number {
  const totals = new Map<string, number>();
  for (const e of toMap(total).values()) if (e.type === 'SCALAR') totals.set(e.name, (totals.get(e.name) ?? 0) + e.milli);
  const used = new Map<string, number>();
  for (const e of toMap(allocated).values()) if (e.type === 'SCALAR') used.set(e.name, (used.get(e.name) ?? 0) + e.milli);
  let share = 0;
  for (const [name, t] of totals) {
    if (t <= 0) continue;
    share = Math.max(share, (used.get(name) ?? 0) / t);
  }
  return share;
}

// ---------------------------------------------------------------------------------------------
// Text form
// ---------------------------------------------------------------------------------------------

const NAME_FORBIDDEN = /[\s()[\]{}:;,]/;
const DECIMAL = /^\+?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const REVOCABLE_MARK = '{REV}';

/** Parses `[b-e,...]` contents; throws ResourceParseError against `token`. */
function parseSpans(token: string, value: string): Span[] {
  if (!value.endsWith(']')) throw new ResourceParseError(token, `ranges '${value}' must be enclosed in '[' and ']'`);
  const inner = value.slice(1, -1).trim();
  if (inner === '') return [];
  const spans: Span[] = [];
  for (const raw of inner.split(',')) {
    const part = raw.trim();
    if (part === '') throw new ResourceParseError(token, `ranges '${value}' contain an empty range`);
    const m = /^(\d+)\s*-\s*(\d+)$/.exec(part);
    if (m === null) throw new ResourceParseError(token, `range '${part}' is not of the form 'begin-end' with non-negative integers`);
    const begin = Number(m[1]);
    const end = Number(m[2]);
    if (!Number.isSafeInteger(begin) || !Number.isSafeInteger(end)) {
      throw new ResourceParseError(token, `range '${part}' is out of the safe integer range`);
    }
    if (begin > end) throw new ResourceParseError(token, `range begin ${begin} is greater than end ${end}`);
    spans.push([begin, end]);
  }
  return spans;
}

/**
 * Parses a Mesos range list such as `[31000-32000]` or `[1-10, 20-30]` into merged ranges.
 * Throws {@link ResourceParseError} (with the text as token) if it is malformed.
 * @see Mesos `Values::parse` for `Value::Ranges`
 */
export function parseRanges(text: string): Range[] {
  const value = text.trim();
  if (!value.startsWith('[')) throw new ResourceParseError(value, `ranges '${value}' must be enclosed in '[' and ']'`);
  return coalesce(parseSpans(value, value)).map(([begin, end]) => ({ begin, end }));
}

/**
 * Mesos text for a range list: `[1-10,20-30]` (merged and sorted first).
 * @see Mesos `operator<<(ostream&, const Value::Ranges&)`
 */
export function formatRanges(ranges: readonly Range[]): string {
  const spans = coalesce(ranges.map((r): Span => [r.begin, r.end]));
  return `[${spans.map(([b, e]) => `${b}-${e}`).join(',')}]`;
}

/** Parses a non-negative scalar value text; throws against `token`. */
function parseScalarText(token: string, value: string): number {
  if (DECIMAL.test(value)) {
    const v = Number(value);
    if (!Number.isFinite(v)) throw new ResourceParseError(token, `value '${value}' is not finite`);
    if (v > MAX_SCALAR) throw new ResourceParseError(token, `value '${value}' is too large (max ${MAX_SCALAR})`);
    return v;
  }
  if (/^-/.test(value) && DECIMAL.test(value.slice(1))) {
    throw new ResourceParseError(token, `value '${value}' is negative`);
  }
  if (/^[+-]?inf(inity)?$/i.test(value)) throw new ResourceParseError(token, `value '${value}' is not finite`);
  throw new ResourceParseError(token, `value '${value}' is not a number`);
}

function parseToken(token: string, defaultRole: string): Resource {
  const colons = token.split(':').length - 1;
  if (colons === 0) throw new ResourceParseError(token, `missing ':' between name and value`);
  if (colons > 1) throw new ResourceParseError(token, `expected exactly one ':' between name and value`);
  const [rawSpec, rawValue] = token.split(':') as [string, string];
  let spec = rawSpec.trim();
  const value = rawValue.trim();

  let isRevocable = false;
  if (spec.endsWith(REVOCABLE_MARK)) {
    isRevocable = true;
    spec = spec.slice(0, -REVOCABLE_MARK.length).trim();
  }
  let name = spec;
  let role = defaultRole;
  const open = spec.indexOf('(');
  if (open >= 0 || spec.includes(')')) {
    const m = /^([^()]*)\(([^()]*)\)$/.exec(spec);
    if (m === null) throw new ResourceParseError(token, `'${spec}' is not of the form 'name' or 'name(role)'`);
    name = m[1].trim();
    role = m[2].trim();
  }
  if (name === '') throw new ResourceParseError(token, 'resource name is empty');
  if (NAME_FORBIDDEN.test(name)) throw new ResourceParseError(token, `resource name '${name}' contains a forbidden character`);
  const problem = roleProblem(role);
  if (problem !== undefined) throw new ResourceParseError(token, problem);
  if (value === '') throw new ResourceParseError(token, 'value is empty');

  const base = { name, ...(role === UNRESERVED_ROLE ? {} : { role }), ...(isRevocable ? { revocable: true } : {}) };
  if (value.startsWith('[')) {
    return { ...base, type: 'RANGES', ranges: parseSpans(token, value).map(([begin, end]) => ({ begin, end })) };
  }
  if (value.startsWith('{')) {
    if (!value.endsWith('}')) throw new ResourceParseError(token, `set '${value}' must be enclosed in '{' and '}'`);
    const inner = value.slice(1, -1).trim();
    const items = inner === '' ? [] : inner.split(',').map((s) => s.trim());
    for (const item of items) {
      if (item === '') throw new ResourceParseError(token, `set '${value}' has an empty item`);
      if (/[{}[\]]/.test(item)) throw new ResourceParseError(token, `set item '${item}' contains a bracket`);
    }
    return { ...base, type: 'SET', set: items };
  }
  return { ...base, type: 'SCALAR', scalar: parseScalarText(token, value) };
}

/** Rejects one name given with two different types, as Mesos does. */
function checkConsistentTypes(tokens: readonly { token: string; resource: Resource }[]): void {
  const seen = new Map<string, ResourceType>();
  for (const { token, resource } of tokens) {
    const prior = seen.get(resource.name);
    if (prior !== undefined && prior !== resource.type) {
      throw new ResourceParseError(token, `'${resource.name}' was already given as ${prior}, not ${resource.type}`);
    }
    seen.set(resource.name, resource.type);
  }
}

function parseJson(text: string, defaultRole: string): Resources {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ResourceParseError(text, `malformed JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(data)) throw new ResourceParseError(text, 'JSON form must be an array of resources');
  const parsed: { token: string; resource: Resource }[] = [];
  for (const item of data as unknown[]) {
    const token = describe(item);
    if (!Value.Check(ResourceSchema, item)) {
      const first = Value.Errors(ResourceSchema, item).First();
      const where = first === undefined ? '' : `${first.path || '/'}: `;
      throw new ResourceParseError(token, `${where}${first?.message ?? 'does not match the resource schema'}`);
    }
    const resource: Resource = item.role === undefined && defaultRole !== UNRESERVED_ROLE ? { ...item, role: defaultRole } : item;
    toEntry(resource, (_r, why) => new ResourceParseError(token, why));
    parsed.push({ token, resource });
  }
  checkConsistentTypes(parsed);
  return normalize(parsed.map((p) => p.resource));
}

/**
 * Parses resources from Mesos flag text — `cpus:4;mem:4096;ports:[31000-32000];names:{a,b}`,
 * reservations as `cpus(role):2` or `cpus(a/b):1`, a revocable marker as `cpus{REV}:1` — or from the
 * JSON form (an array of {@link Resource} objects). Entries without a role get `defaultRole`
 * (`'*'` = unreserved). Duplicate names are summed; the result is normalised. Empty text gives `[]`.
 * Throws {@link ResourceParseError} naming the bad token on any malformed input (missing or extra
 * `:`, non-numeric/negative/non-finite scalars, `begin > end`, bad roles, unbalanced brackets, one
 * name given with two types).
 * @see Mesos `Resources::parse`, agent flag `--resources`
 */
export function parseResources(text: string, defaultRole: string = UNRESERVED_ROLE): Resources {
  const defaultProblem = roleProblem(defaultRole);
  if (defaultProblem !== undefined) throw new ResourceParseError(defaultRole, `bad default role: ${defaultProblem}`);
  const trimmed = text.trim();
  if (trimmed === '') return [];
  if (trimmed.startsWith('[')) return parseJson(trimmed, defaultRole);
  const parsed: { token: string; resource: Resource }[] = [];
  for (const raw of trimmed.split(';')) {
    const token = raw.trim();
    if (token === '') continue;
    parsed.push({ token, resource: parseToken(token, defaultRole) });
  }
  checkConsistentTypes(parsed);
  return normalize(parsed.map((p) => p.resource));
}

/**
 * Mesos text for `r` (normalised first): `cpus:4;mem:4096;ports:[31000-32000]`, reservations as
 * `cpus(role):2`, revocable entries as `cpus{REV}:1`, scalars without float noise (`0.3`).
 * Round-trips through {@link parseResources} as long as names and set items avoid the syntax
 * characters `:;,()[]{}`.
 * @see Mesos `operator<<(ostream&, const Resources&)`
 */
export function formatResources(r: readonly Resource[]): string {
  return normalize(r)
    .map((res) => {
      const head = `${res.name}${res.role !== undefined ? `(${res.role})` : ''}${res.revocable ? REVOCABLE_MARK : ''}`;
      switch (res.type) {
        case 'SCALAR':
          return `${head}:${String(res.scalar)}`;
        case 'RANGES':
          return `${head}:${formatRanges(res.ranges ?? [])}`;
        case 'SET':
          return `${head}:{${(res.set ?? []).join(',')}}`;
      }
    })
    .join(';');
}

// ---------------------------------------------------------------------------------------------
// Defaults
// ---------------------------------------------------------------------------------------------

/** The port range an agent offers when none is configured. @see Mesos `DEFAULT_PORTS` */
export const DEFAULT_PORTS: Readonly<Range> = Object.freeze({ begin: 31000, end: 32000 });

/** Disk offered when the host's disk size is unknown, in MB. */
export const DEFAULT_DISK_MB = 10240;

/**
 * The resources an agent advertises when none are configured, from the host's size:
 * `cpus` = cores; `mem` = max(RAM − 1024, RAM / 2) MB (leave 1 GB for the host, or half when small);
 * `disk` = max(disk − 5120, disk / 2) MB when `diskMb` is known (leave 5 GB, or half when small),
 * else 10240 MB; `ports` = `[31000-32000]`. Memory and disk are rounded down to whole MB.
 * Throws {@link ResourceError} on negative or non-finite sizes.
 * @see Mesos `Containerizer::resources` (agent default resource detection)
 */
export function defaultAgentResources(host: { cpus: number; memMb: number; diskMb?: number }): Resources {
  for (const [k, v] of Object.entries(host)) {
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ResourceError(`host ${k} must be a non-negative number, got ${String(v)}`);
  }
  const mem = Math.floor(Math.max(host.memMb - 1024, host.memMb / 2));
  const disk = host.diskMb === undefined ? DEFAULT_DISK_MB : Math.floor(Math.max(host.diskMb - 5120, host.diskMb / 2));
  return normalize([
    { name: 'cpus', type: 'SCALAR', scalar: host.cpus },
    { name: 'mem', type: 'SCALAR', scalar: mem },
    { name: 'disk', type: 'SCALAR', scalar: disk },
    { name: 'ports', type: 'RANGES', ranges: [{ ...DEFAULT_PORTS }] },
  ]);
}
