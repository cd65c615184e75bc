/**
 * A list kept in order by a comparator, cheap to insert into and remove from at any size: the
 * items live in blocks of at most {@link MAX_BLOCK}, so a change shifts one short block instead
 * of the whole list, and finding an item is a binary search over the blocks, then within one.
 *
 * The comparator must be a total order over the items present (no two compare equal) and an
 * item's key must not change while it is in the list: remove it, change it, insert it again.
 */

/** Blocks split when they reach this size. */
const MAX_BLOCK = 128;
/** A position is block × this + index in the block (blocks never reach this size). */
const POSITION_STRIDE = 256;

/** An ordered list of distinct items. */
export class SortedList<T> implements Iterable<T> {
  private blocks: T[][] = [];
  private size = 0;

  /** @param compare total order: negative when `a` comes before `b`. */
  constructor(private readonly compare: (a: T, b: T) => number) {}

  /** Number of items. */
  get length(): number {
    return this.size;
  }

  /** The first item, if any. */
  first(): T | undefined {
    return this.blocks[0]?.[0];
  }

  /** Inserts `x` at its place. */
  insert(x: T): void {
    if (this.blocks.length === 0) {
      this.blocks.push([x]);
      this.size = 1;
      return;
    }
    const b = this.blockFor(x);
    const block = this.blocks[b]!;
    // Shift by hand: `splice` would build a result array on every call.
    const at = this.lowerBound(block, x);
    for (let k = block.length; k > at; k--) block[k] = block[k - 1]!;
    block[at] = x;
    this.size += 1;
    if (block.length >= MAX_BLOCK) this.blocks.splice(b + 1, 0, block.splice(MAX_BLOCK >> 1));
  }

  /** Removes `x` (found by its key; by identity as a fallback). Returns whether it was there. */
  remove(x: T): boolean {
    const at = this.find(x);
    if (at < 0) return false;
    this.removeAt(at);
    return true;
  }

  /**
   * Where `x` is, found by its key (by identity as a fallback), or −1. The answer stays valid
   * until the list changes; {@link settle} takes it once `x`'s key has changed.
   */
  find(x: T): number {
    if (this.blocks.length === 0) return -1;
    let b = this.blockFor(x);
    let i = this.lowerBound(this.blocks[b]!, x);
    if (this.blocks[b]![i] !== x) {
      // Its key changed while it was in the list (a caller's mistake): fall back to a scan.
      b = this.blocks.findIndex((blk) => blk.includes(x));
      if (b < 0) return -1;
      i = this.blocks[b]!.indexOf(x);
    }
    return b * POSITION_STRIDE + i;
  }

  /**
   * Puts `x`, found at `at` by {@link find} before its key changed, where its new key belongs.
   * When it is still in order with its neighbours (always so for a lone item), nothing moves.
   */
  settle(at: number, x: T): void {
    const b = Math.floor(at / POSITION_STRIDE);
    const i = at % POSITION_STRIDE;
    const block = this.blocks[b]!;
    const prev = i > 0 ? block[i - 1] : this.blocks[b - 1]?.at(-1);
    const next = i + 1 < block.length ? block[i + 1] : this.blocks[b + 1]?.[0];
    if ((prev === undefined || this.compare(prev, x) < 0) && (next === undefined || this.compare(x, next) < 0)) return;
    this.removeAt(at);
    this.insert(x);
  }

  /** Replaces the contents with `items`, sorted. */
  replace(items: T[]): void {
    items.sort(this.compare);
    this.blocks = [];
    for (let k = 0; k < items.length; k += MAX_BLOCK >> 1) this.blocks.push(items.slice(k, k + (MAX_BLOCK >> 1)));
    this.size = items.length;
  }

  /** The items in order. Do not change the list while iterating. */
  *[Symbol.iterator](): Iterator<T> {
    for (const block of this.blocks) yield* block;
  }

  /**
   * The items in order, block by block: a loop over these is faster than the iterator. Do not
   * change the list while walking them.
   */
  chunks(): ReadonlyArray<readonly T[]> {
    return this.blocks;
  }

  /** The block `x` belongs in: the first whose last item does not come before `x` (else the last block). */
  private blockFor(x: T): number {
    let lo = 0;
    let hi = this.blocks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const block = this.blocks[mid]!;
      if (this.compare(block[block.length - 1]!, x) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Removes the item at a position from {@link find}. */
  private removeAt(at: number): void {
    const b = Math.floor(at / POSITION_STRIDE);
    const block = this.blocks[b]!;
    const last = block.length - 1;
    for (let k = at % POSITION_STRIDE; k < last; k++) block[k] = block[k + 1]!;
    block.pop();
    this.size -= 1;
    if (block.length === 0) this.blocks.splice(b, 1);
  }

  private lowerBound(block: readonly T[], x: T): number {
    let lo = 0;
    let hi = block.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compare(block[mid]!, x) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
