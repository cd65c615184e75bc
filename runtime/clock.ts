/**
 * Clocks: the real one (wall time, Node timers) and a simulated one for deterministic tests.
 * Both satisfy {@link Clock} and can be passed to XState's `createActor(machine, { clock })`.
 */
import type { Clock, TimerId } from './types.ts';

/** Wall-clock time and the global Node timers. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number): TimerId => setTimeout(fn, ms),
  clearTimeout: (id: TimerId): void => {
    clearTimeout(id as ReturnType<typeof setTimeout>);
  },
};

/** The default start of simulated time: 2023-11-14T22:13:20Z. */
export const DEFAULT_SIM_EPOCH = 1_700_000_000_000;

interface SimTimer {
  id: number;
  due: number;
  /** Insertion order; breaks ties between timers due at the same instant (FIFO). */
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Options of {@link SimClock}. */
export interface SimClockOptions {
  /** Value of `now()` before any time has passed. Default {@link DEFAULT_SIM_EPOCH}. */
  epoch?: number;
}

/**
 * Simulated time. Nothing happens until {@link SimClock.advance} (or {@link SimClock.set},
 * {@link SimClock.runNext}) moves time forward; timers then fire in due-time order (ties in
 * scheduling order), with `now()` equal to each timer's due time while it runs. Timers scheduled
 * by a firing timer that fall due inside the advanced window fire in the same call.
 *
 * Compatible with XState v5's `clock` option (it only calls `setTimeout`/`clearTimeout`); unlike
 * XState's `SimulatedClock`, time starts at a configurable epoch and advances step by step.
 */
export class SimClock implements Clock {
  #now: number;
  #nextId = 1;
  #seq = 0;
  /** Live (not fired, not cancelled) timers by id. */
  readonly #live = new Map<number, SimTimer>();
  /** Binary min-heap on (due, seq); cancelled entries are skipped lazily. */
  readonly #heap: SimTimer[] = [];

  /** @param opts `epoch`: the initial `now()`. */
  constructor(opts: SimClockOptions | number = {}) {
    this.#now = typeof opts === 'number' ? opts : (opts.epoch ?? DEFAULT_SIM_EPOCH);
  }

  /** Current simulated time in ms since the Unix epoch. */
  now(): number {
    return this.#now;
  }

  /** Schedules `fn` at `now() + ms` (negative or non-finite delays count as 0). */
  setTimeout(fn: () => void, ms: number): TimerId {
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    const timer: SimTimer = { id: this.#nextId++, due: this.#now + delay, seq: this.#seq++, fn, cancelled: false };
    this.#live.set(timer.id, timer);
    this.#push(timer);
    return timer.id;
  }

  /** Cancels a timer; unknown or already fired ids are ignored. */
  clearTimeout(id: TimerId): void {
    const timer = this.#live.get(id as number);
    if (timer) {
      timer.cancelled = true;
      this.#live.delete(timer.id);
    }
  }

  /** Number of timers that have neither fired nor been cancelled. */
  pending(): number {
    return this.#live.size;
  }

  /** Due time of the earliest pending timer, or `undefined` when none is pending. */
  nextDue(): number | undefined {
    return this.#peek()?.due;
  }

  /**
   * Moves time forward by `ms`, firing every timer due up to the new time in order.
   * If timer callbacks throw, the remaining timers still fire and the first error is rethrown.
   * @returns the number of timers fired.
   */
  advance(ms: number): number {
    if (!(ms >= 0)) throw new RangeError(`SimClock.advance: ms must be >= 0, got ${ms}`);
    return this.set(this.#now + ms);
  }

  /** Alias of {@link SimClock.advance}, named like XState's `SimulatedClock.increment`. */
  increment(ms: number): number {
    return this.advance(ms);
  }

  /**
   * Moves time to the absolute instant `time` (never backwards), firing due timers in order.
   * @returns the number of timers fired.
   */
  set(time: number): number {
    if (time < this.#now) throw new RangeError('SimClock: unable to travel back in time');
    let fired = 0;
    let firstError: { error: unknown } | undefined;
    for (let t = this.#peek(); t !== undefined && t.due <= time; t = this.#peek()) {
      this.#pop();
      this.#live.delete(t.id);
      if (t.due > this.#now) this.#now = t.due;
      fired++;
      try {
        t.fn();
      } catch (error) {
        firstError ??= { error };
      }
    }
    this.#now = time;
    if (firstError) throw firstError.error;
    return fired;
  }

  /**
   * Fires exactly one timer, the earliest pending one (moving time to it): one turn of a loop
   * whose timers reschedule themselves at once.
   * @returns whether a timer fired.
   */
  step(): boolean {
    const t = this.#peek();
    if (t === undefined) return false;
    this.#pop();
    this.#live.delete(t.id);
    if (t.due > this.#now) this.#now = t.due;
    t.fn();
    return true;
  }

  /**
   * Advances exactly to the earliest pending timer and fires the timers due at that instant.
   * @returns the number fired (0 when nothing is pending; time does not move then).
   */
  runNext(): number {
    const due = this.nextDue();
    return due === undefined ? 0 : this.set(Math.max(due, this.#now));
  }

  #peek(): SimTimer | undefined {
    const heap = this.#heap;
    while (heap.length > 0 && heap[0]!.cancelled) this.#pop();
    return heap[0];
  }

  #less(a: SimTimer, b: SimTimer): boolean {
    return a.due < b.due || (a.due === b.due && a.seq < b.seq);
  }

  #push(t: SimTimer): void {
    const heap = this.#heap;
    heap.push(t);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && this.#less(heap[l]!, heap[m]!)) m = l;
      if (r < heap.length && this.#less(heap[r]!, heap[m]!)) m = r;
      if (m === i) break;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  }
}
