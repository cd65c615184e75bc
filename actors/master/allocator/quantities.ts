/**
 * Scalar resource quantities as the sorters and quota see them: name → amount in integer
 * thousandths (so sums never drift), roles and ranges ignored.
 *
 * @see Mesos `ResourceQuantities`.
 */
import type { Resources } from '../../../protocols/resources.ts';

/**
 * name → amount in thousandths.
 *
 * The functions below walk a map by its keys (`for (const k of m.keys())`, then `m.get(k)`), not
 * by its entries: `for (const [k, v] of m)` makes a two-element array per entry, and these run
 * several times per offer. At 20,000 agents that was a third of all an allocation pass allocated,
 * and so of the young-generation collections that interrupt it.
 */
export type Quantities = Map<string, number>;

/** The scalar quantities of `r` (every role, revocable included). */
export function quantitiesOf(r: Resources): Quantities {
  const q: Quantities = new Map();
  for (const x of r) {
    if (x.type !== 'SCALAR' || !x.scalar) continue;
    q.set(x.name, (q.get(x.name) ?? 0) + Math.round(x.scalar * 1000));
  }
  return q;
}

/** Adds `b` into `a` (in place), `sign` = -1 subtracts; entries at zero are removed. */
export function addInto(a: Quantities, b: Quantities, sign = 1): void {
  for (const k of b.keys()) {
    const n = (a.get(k) ?? 0) + sign * b.get(k)!;
    if (n === 0) a.delete(k);
    else a.set(k, n);
  }
}

/**
 * Quantities from a plain record in whole units (`{ cpus: 2, mem: 1024 }`). Zero amounts are kept:
 * a limit of `cpus: 0` means "no cpus", not "no limit".
 */
export function quantities(rec: Record<string, number>): Quantities {
  const q: Quantities = new Map();
  for (const [k, v] of Object.entries(rec)) q.set(k, Math.round(v * 1000));
  return q;
}

/** True when every amount in `b` is at most the one in `a`. */
export function containsQuantities(a: Quantities, b: Quantities): boolean {
  for (const k of b.keys()) if (b.get(k)! > (a.get(k) ?? 0)) return false;
  return true;
}

/** `a − b` per name, clamped at zero (names at zero dropped). */
export function subtractClamped(a: Quantities, b: Quantities): Quantities {
  const out: Quantities = new Map();
  for (const k of a.keys()) {
    const n = a.get(k)! - (b.get(k) ?? 0);
    if (n > 0) out.set(k, n);
  }
  return out;
}

/** True when no amount is positive. */
export function isZero(q: Quantities): boolean {
  for (const v of q.values()) if (v > 0) return false;
  return true;
}
