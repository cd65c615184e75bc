/**
 * The allocator's own form of resources. An allocation pass adds, subtracts and compares the
 * same few resources of thousands of agents many times; the wire form (`Resources`, validated and
 * normalised on every call) is built for safety at the edges, not for that. Here:
 *
 * - every resource identity — (name, type, role, revocable) — is interned once as a {@link Slot}
 *   with a small number, so two bundles are merged by walking both in slot order, without string
 *   keys or re-validation;
 * - a {@link Bundle} is immutable; it shares unchanged parts with the bundles it came from, and
 *   operations that change nothing return their input, so "the same resources" is very often the
 *   same object (which is what the allocator's caches key on);
 * - its scalar quantities and its wire form are computed once, when first asked for.
 *
 * Wire resources enter through {@link Slots.fromWire} (validated by `normalize`) and leave through
 * {@link Slots.toWire}, whose arrays are frozen and remembered, so an offer declined as it was
 * made comes back without being parsed again.
 *
 * Scalars are integer thousandths, as in `protocols/resources.ts`.
 */
import {
  MAX_SCALAR,
  compareIdentity,
  normalize,
  spanDifference,
  type Range,
  type Resource,
  type ResourceIdentity,
  type Resources,
  type ResourceType,
} from '../../../protocols/resources.ts';
import type { Quantities } from './quantities.ts';

type Span = readonly [number, number];

/** One interned resource identity. */
export interface Slot extends ResourceIdentity {
  readonly id: number;
  /** An unreserved, non-revocable scalar: what quota headroom and limits count. */
  readonly quotaScalar: boolean;
  /** Position in the wire form's canonical order among all slots interned so far. */
  rank: number;
}

/** One non-empty resource of a bundle. Exactly the field of the slot's type is meaningful. */
interface Part {
  readonly slot: Slot;
  /** SCALAR: thousandths. */
  readonly milli: number;
  /** RANGES: sorted, coalesced. */
  readonly spans: readonly Span[];
  /** SET: the items. */
  readonly items: ReadonlySet<string>;
  /** The wire entry, once built (frozen). */
  wire?: Resource;
}

const NO_SPANS: readonly Span[] = [];
const NO_ITEMS: ReadonlySet<string> = new Set();
/** Distinct plain-scalar bundles remembered before the memo starts over. */
const PLAIN_INTERNED = 4096;
/** A node of the plain-scalar memo: the bundle ending here, and the next (slot id → amount →) nodes. */
interface PlainNode {
  bundle?: Bundle;
  next: Map<number, Map<number, PlainNode>>;
}

/** An immutable set of resources: non-empty parts in slot order. */
export class Bundle {
  private q?: Quantities;
  private qq?: Quantities;
  /** @internal set by {@link Slots.toWire}. */
  wire?: Resources;
  /**
   * A cache its owner may keep with the bundle (the allocator keeps what each role may be offered
   * of an agent's free resources here): it lives exactly as long as the bundle, with no lookup.
   */
  memo?: unknown;

  /** @param parts non-empty, in ascending slot id, one per slot (not checked). */
  constructor(readonly parts: readonly Part[]) {}

  /** True when it holds nothing. */
  get empty(): boolean {
    return this.parts.length === 0;
  }

  /** Scalar amounts by name (every role and revocability), in thousandths. Do not mutate. */
  quantities(): Quantities {
    if (this.q === undefined) {
      const q: Quantities = new Map();
      for (const p of this.parts) if (p.slot.type === 'SCALAR') q.set(p.slot.name, (q.get(p.slot.name) ?? 0) + p.milli);
      this.q = q;
    }
    return this.q;
  }

  /**
   * Amounts of the unreserved, non-revocable scalars only (what quota counts). Do not mutate.
   * When every scalar is of that kind, this is the very map {@link quantities} returns.
   */
  quotaQuantities(): Quantities {
    if (this.qq === undefined) {
      let onlyQuota = true;
      for (const p of this.parts) if (p.slot.type === 'SCALAR' && !p.slot.quotaScalar) onlyQuota = false;
      if (onlyQuota) {
        this.qq = this.quantities();
      } else {
        const q: Quantities = new Map();
        for (const p of this.parts) if (p.slot.quotaScalar) q.set(p.slot.name, p.milli);
        this.qq = q;
      }
    }
    return this.qq;
  }
}

/** The bundle holding nothing. */
export const EMPTY = new Bundle([]);

const makePart = (slot: Slot, milli: number, spans: readonly Span[], items: ReadonlySet<string>): Part => ({
  slot,
  milli,
  spans,
  items,
  wire: undefined,
});

function partEmpty(p: Part): boolean {
  switch (p.slot.type) {
    case 'SCALAR':
      return p.milli === 0;
    case 'RANGES':
      return p.spans.length === 0;
    case 'SET':
      return p.items.size === 0;
  }
}

/** Union of two coalesced span lists, coalesced. */
function spanUnion(a: readonly Span[], b: readonly Span[]): Span[] {
  const out: Array<[number, number]> = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const next = j >= b.length || (i < a.length && a[i]![0] <= b[j]![0]) ? a[i++]! : b[j++]!;
    const last = out[out.length - 1];
    if (last !== undefined && next[0] <= last[1] + 1) {
      if (next[1] > last[1]) last[1] = next[1];
    } else {
      out.push([next[0], next[1]]);
    }
  }
  return out;
}

/** Whether every span of `b` lies within a span of `a` (both coalesced). */
function spansCover(a: readonly Span[], b: readonly Span[]): boolean {
  let i = 0;
  for (const [s, e] of b) {
    while (i < a.length && a[i]![1] < s) i++;
    if (i >= a.length || a[i]![0] > s || a[i]![1] < e) return false;
  }
  return true;
}

function sumParts(x: Part, y: Part): Part {
  switch (x.slot.type) {
    case 'SCALAR':
      return makePart(x.slot, x.milli + y.milli, NO_SPANS, NO_ITEMS);
    case 'RANGES':
      return makePart(x.slot, 0, spanUnion(x.spans, y.spans), NO_ITEMS);
    case 'SET':
      return makePart(x.slot, 0, NO_SPANS, new Set([...x.items, ...y.items]));
  }
}

/** `x − y` clamped at empty; `x` itself when `y` takes nothing. */
function minusPart(x: Part, y: Part): Part {
  switch (x.slot.type) {
    case 'SCALAR':
      return y.milli === 0 ? x : makePart(x.slot, Math.max(0, x.milli - y.milli), NO_SPANS, NO_ITEMS);
    case 'RANGES': {
      const spans = spanDifference(x.spans, y.spans);
      return spans.length === x.spans.length && spans.every((s, k) => s[0] === x.spans[k]![0] && s[1] === x.spans[k]![1])
        ? x
        : makePart(x.slot, 0, spans, NO_ITEMS);
    }
    case 'SET': {
      const items = new Set(x.items);
      for (const i of y.items) items.delete(i);
      return items.size === x.items.size ? x : makePart(x.slot, 0, NO_SPANS, items);
    }
  }
}

function partCovers(x: Part, y: Part): boolean {
  if (x === y) return true;
  switch (x.slot.type) {
    case 'SCALAR':
      return x.milli >= y.milli;
    case 'RANGES':
      return spansCover(x.spans, y.spans);
    case 'SET':
      for (const i of y.items) if (!x.items.has(i)) return false;
      return true;
  }
}

function samePart(x: Part, y: Part): boolean {
  if (x === y) return true;
  if (x.slot !== y.slot) return false;
  switch (x.slot.type) {
    case 'SCALAR':
      return x.milli === y.milli;
    case 'RANGES':
      return x.spans.length === y.spans.length && x.spans.every((s, k) => s[0] === y.spans[k]![0] && s[1] === y.spans[k]![1]);
    case 'SET':
      return x.items.size === y.items.size && partCovers(x, y);
  }
}

/** `a + b`. */
export function plus(a: Bundle, b: Bundle): Bundle {
  if (b.parts.length === 0) return a;
  if (a.parts.length === 0) return b;
  const out: Part[] = [];
  const pa = a.parts;
  const pb = b.parts;
  let i = 0;
  let j = 0;
  while (i < pa.length || j < pb.length) {
    const x = pa[i];
    const y = pb[j];
    if (y === undefined || (x !== undefined && x.slot.id < y.slot.id)) {
      out.push(x!);
      i++;
    } else if (x === undefined || y.slot.id < x.slot.id) {
      out.push(y);
      j++;
    } else {
      out.push(sumParts(x, y));
      i++;
      j++;
    }
  }
  return new Bundle(out);
}

/** The sum of `bs` (non-empty): with scalars only, one new bundle instead of one per addition. */
export function sumAll(bs: readonly Bundle[]): Bundle {
  const first = bs[0]!;
  if (bs.length === 1) return first;
  if (bs.every((b) => b === first) && first.parts.every((p) => p.slot.type === 'SCALAR')) {
    // The tasks of one framework on one agent often share one (interned) bundle.
    return new Bundle(first.parts.map((p) => makePart(p.slot, p.milli * bs.length, NO_SPANS, NO_ITEMS)));
  }
  const milli = new Map<Slot, number>();
  for (const b of bs) {
    for (const p of b.parts) {
      if (p.slot.type !== 'SCALAR') return bs.reduce(plus);
      milli.set(p.slot, (milli.get(p.slot) ?? 0) + p.milli);
    }
  }
  const parts: Part[] = [];
  for (const [slot, m] of milli) {
    let at = parts.length;
    parts.push(makePart(slot, m, NO_SPANS, NO_ITEMS));
    for (; at > 0 && parts[at - 1]!.slot.id > slot.id; at--) [parts[at - 1], parts[at]] = [parts[at]!, parts[at - 1]!];
  }
  return new Bundle(parts);
}

/** `a − b`, clamped at empty (what `a` lacks of `b` is ignored); `a` itself when nothing changes. */
export function minus(a: Bundle, b: Bundle): Bundle {
  if (b.parts.length === 0 || a.parts.length === 0) return a;
  if (a === b) return EMPTY;
  const out: Part[] = [];
  let changed = false;
  let j = 0;
  const pb = b.parts;
  for (const x of a.parts) {
    while (j < pb.length && pb[j]!.slot.id < x.slot.id) j++;
    const y = pb[j];
    if (y === undefined || y.slot.id !== x.slot.id) {
      out.push(x);
      continue;
    }
    const d = x === y ? undefined : minusPart(x, y);
    if (d === x) {
      out.push(x);
      continue;
    }
    changed = true;
    if (d !== undefined && !partEmpty(d)) out.push(d);
  }
  return changed ? new Bundle(out) : a;
}

/** Whether `a ⊇ b` (per slot: scalar ≥, ranges and sets as supersets). */
export function covers(a: Bundle, b: Bundle): boolean {
  if (a === b || b.parts.length === 0) return true;
  const pa = a.parts;
  let i = 0;
  for (const y of b.parts) {
    while (i < pa.length && pa[i]!.slot.id < y.slot.id) i++;
    const x = pa[i];
    if (x === undefined || x.slot.id !== y.slot.id || !partCovers(x, y)) return false;
  }
  return true;
}

/** Whether `a` and `b` hold the same resources. */
export function same(a: Bundle, b: Bundle): boolean {
  if (a === b) return true;
  if (a.parts.length !== b.parts.length) return false;
  for (let k = 0; k < a.parts.length; k++) if (!samePart(a.parts[k]!, b.parts[k]!)) return false;
  return true;
}

/**
 * `b` with each part that holds the same as a part of one of `known` replaced by that part (so
 * cached wire entries are reused); `b` itself when none is.
 */
export function reuseParts(b: Bundle, known: readonly Bundle[]): Bundle {
  let out: Part[] | undefined;
  for (let k = 0; k < b.parts.length; k++) {
    const p = b.parts[k]!;
    let hit: Part | undefined;
    for (const other of known) {
      for (const q of other.parts) {
        if (q.slot === p.slot) {
          if (q !== p && samePart(q, p)) hit = q;
          break;
        }
      }
      if (hit !== undefined) break;
    }
    if (hit === undefined) {
      out?.push(p);
      continue;
    }
    out ??= b.parts.slice(0, k);
    out.push(hit);
  }
  return out === undefined ? b : new Bundle(out);
}

/** The parts whose slot passes `keep`; `a` itself when all do. */
export function select(a: Bundle, keep: (s: Slot) => boolean): Bundle {
  let out: Part[] | undefined;
  for (let k = 0; k < a.parts.length; k++) {
    const p = a.parts[k]!;
    if (keep(p.slot)) {
      out?.push(p);
    } else if (out === undefined) {
      out = a.parts.slice(0, k);
    }
  }
  return out === undefined ? a : new Bundle(out);
}

/**
 * Caps each quota scalar (unreserved, non-revocable) of `a` at its amount in `cap`; other parts
 * are kept. A quota scalar whose name `cap` lacks is dropped when `missingIsZero`, kept otherwise.
 */
export function capQuotaScalars(a: Bundle, cap: Quantities, missingIsZero: boolean): Bundle {
  let out: Part[] | undefined;
  for (let k = 0; k < a.parts.length; k++) {
    const p = a.parts[k]!;
    let q: Part | undefined = p;
    if (p.slot.quotaScalar) {
      const c = cap.get(p.slot.name);
      if (c === undefined) q = missingIsZero ? undefined : p;
      else if (c < p.milli) q = c > 0 ? makePart(p.slot, c, NO_SPANS, NO_ITEMS) : undefined;
    }
    if (q === p) {
      out?.push(p);
      continue;
    }
    out ??= a.parts.slice(0, k);
    if (q !== undefined) out.push(q);
  }
  return out === undefined ? a : new Bundle(out);
}

/** Whether a framework in `role` may be offered resources of this slot: unreserved, or reserved to `role` or an ancestor. */
export function allocatableSlot(slot: Slot, role: string): boolean {
  const r = slot.role;
  return r === undefined || r === role || (role.length > r.length && role.charCodeAt(r.length) === 47 && role.startsWith(r));
}

/**
 * What a framework in `role` may be offered of `a`: the parts {@link allocatableSlot} to the
 * role, without revocable ones unless `revocable`; `a` itself when that is all of it.
 */
export function offerableTo(a: Bundle, role: string, revocable: boolean): Bundle {
  let out: Part[] | undefined;
  for (let k = 0; k < a.parts.length; k++) {
    const p = a.parts[k]!;
    if (allocatableSlot(p.slot, role) && (revocable || !p.slot.revocable)) {
      out?.push(p);
    } else if (out === undefined) {
      out = a.parts.slice(0, k);
    }
  }
  return out === undefined ? a : new Bundle(out);
}

/** The interned slots of one allocator, and the conversions to and from the wire form. */
export class Slots {
  private readonly byKey = new Map<string, Slot>();
  /**
   * Wire arrays made by {@link toWire} carry their bundle under this key (hidden from every
   * encoder; one key per instance, as slot numbers are per instance). A property costs nothing
   * to collect, where a weak map's entries are expensive for the garbage collector.
   */
  private readonly origin = Symbol('bundle');
  /** Plain-scalar bundles by (slot, amount) pairs in canonical order (see `#plainScalars`). */
  #plain: PlainNode = { next: new Map() };
  #plainCount = 0;
  /** The unreserved, non-revocable scalar slot of each name. */
  readonly #plainSlots = new Map<string, Slot>();
  /** Scratch space of `#plainScalars`. */
  readonly #scratchSlots: Slot[] = [];
  readonly #scratchMilli: number[] = [];

  /** The slot of an identity, interned on first use. */
  slot(name: string, type: ResourceType, role: string | undefined, revocable: boolean): Slot {
    const key = `${name}\u0000${type}\u0000${role ?? ''}\u0000${revocable ? 1 : 0}`;
    let s = this.byKey.get(key);
    if (s === undefined) {
      s = { id: this.byKey.size, name, type, role, revocable, quotaScalar: type === 'SCALAR' && role === undefined && !revocable, rank: 0 };
      this.byKey.set(key, s);
      [...this.byKey.values()].sort(compareIdentity).forEach((x, k) => {
        x.rank = k;
      });
    }
    return s;
  }

  /** The bundle of wire resources (validated; throws `ResourceError` as `normalize` does). */
  fromWire(r: readonly Resource[]): Bundle {
    const known: unknown = typeof r === 'object' && r !== null ? Reflect.get(r, this.origin) : undefined;
    if (known instanceof Bundle) return known;
    const plain = this.#plainScalars(r);
    if (plain) return plain;
    const parts: Part[] = [];
    for (const x of normalize(r)) {
      const slot = this.slot(x.name, x.type, x.role, x.revocable === true);
      switch (x.type) {
        case 'SCALAR':
          parts.push(makePart(slot, Math.round((x.scalar ?? 0) * 1000), NO_SPANS, NO_ITEMS));
          break;
        case 'RANGES':
          parts.push(makePart(slot, 0, (x.ranges ?? []).map((g): Span => [g.begin, g.end]), NO_ITEMS));
          break;
        case 'SET':
          parts.push(makePart(slot, 0, NO_SPANS, new Set(x.set)));
          break;
      }
    }
    parts.sort((p, q) => p.slot.id - q.slot.id);
    return new Bundle(parts);
  }

  /**
   * The common case of a task's resources — a few unreserved, non-revocable, positive scalars
   * with distinct names — without the general normalisation (which a re-registration storm would
   * pay for every task of every agent). `undefined` for anything else.
   */
  #plainScalars(r: readonly Resource[]): Bundle | undefined {
    if (!Array.isArray(r) || r.length > 8) return undefined;
    // (slot, amount) pairs go to two reused arrays, sorted by slot id as they come (an agent's
    // resources are usually in order already): a lookup that finds its bundle allocates nothing.
    const slots = this.#scratchSlots;
    const milli = this.#scratchMilli;
    const n = r.length;
    for (let k = 0; k < n; k++) {
      const x = r[k];
      if (x === null || typeof x !== 'object' || x.type !== 'SCALAR' || (x.role !== undefined && x.role !== '*') || x.revocable === true) return undefined;
      const v = x.scalar;
      if (typeof x.name !== 'string' || x.name.length === 0 || typeof v !== 'number' || !(v > 0) || v > MAX_SCALAR) return undefined;
      let slot = this.#plainSlots.get(x.name);
      if (slot === undefined) {
        slot = this.slot(x.name, 'SCALAR', undefined, false);
        this.#plainSlots.set(x.name, slot);
      }
      const m = Math.round(v * 1000);
      let at = k;
      while (at > 0 && slots[at - 1]!.id > slot.id) {
        slots[at] = slots[at - 1]!;
        milli[at] = milli[at - 1]!;
        at--;
      }
      if (at > 0 && slots[at - 1] === slot) return undefined; // a name twice
      slots[at] = slot;
      milli[at] = m;
    }
    // The same few shapes recur for every task of a framework: one bundle (and one wire array)
    // serves them all. Looked up by (slot, amount) pairs in nested maps, with no key to build.
    let node = this.#plain;
    for (let k = 0; k < n; k++) {
      const slotId = slots[k]!.id;
      let bySlot = node.next.get(slotId);
      if (bySlot === undefined) node.next.set(slotId, (bySlot = new Map()));
      let child = bySlot.get(milli[k]!);
      if (child === undefined) {
        if (this.#plainCount >= PLAIN_INTERNED) {
          this.#plain = { next: new Map() };
          this.#plainCount = 0;
          return this.#plainBundle(n);
        }
        bySlot.set(milli[k]!, (child = { next: new Map() }));
      }
      node = child;
    }
    if (node.bundle === undefined) {
      node.bundle = this.#plainBundle(n);
      this.#plainCount++;
    }
    return node.bundle;
  }

  /** The bundle of the first `n` scratch pairs. */
  #plainBundle(n: number): Bundle {
    const parts: Part[] = [];
    for (let k = 0; k < n; k++) parts.push(makePart(this.#scratchSlots[k]!, this.#scratchMilli[k]!, NO_SPANS, NO_ITEMS));
    return new Bundle(parts);
  }

  /** The wire form (canonical order, frozen), built once per bundle. */
  toWire(b: Bundle): Resources {
    if (b.wire !== undefined) return b.wire;
    let parts = b.parts;
    for (let k = 1; k < parts.length; k++) {
      if (parts[k - 1]!.slot.rank > parts[k]!.slot.rank) {
        parts = [...parts].sort((p, q) => p.slot.rank - q.slot.rank);
        break;
      }
    }
    const wire = parts.map(wireOf);
    Object.defineProperty(wire, this.origin, { value: b });
    b.wire = Object.freeze(wire) as Resources;
    return b.wire;
  }
}

function wireOf(p: Part): Resource {
  if (p.wire !== undefined) return p.wire;
  const s = p.slot;
  // Each form is made whole in one literal: a field added afterwards would go to a second object.
  let out: Resource;
  switch (s.type) {
    case 'SCALAR':
      out = { name: s.name, type: s.type, scalar: p.milli / 1000 };
      break;
    case 'RANGES':
      out = { name: s.name, type: s.type, ranges: Object.freeze(p.spans.map(([begin, end]) => Object.freeze({ begin, end }))) as Range[] };
      break;
    case 'SET':
      out = { name: s.name, type: s.type, set: Object.freeze([...p.items].sort()) as string[] };
      break;
  }
  if (s.role !== undefined) out.role = s.role;
  if (s.revocable) out.revocable = true;
  p.wire = Object.freeze(out);
  return p.wire;
}
