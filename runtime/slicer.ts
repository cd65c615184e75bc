/**
 * Long work done in slices: whoever walks something large (a state document, a 30 MB answer
 * going out) asks `tick()` between items, and the event loop is given back whenever the slice has
 * run its time, so the messages and timers waiting meanwhile go first.
 */

/** Longest stretch of work between two turns of the event loop, ms. */
export const SLICE_MS = 4;

/** Gives the event loop back when the current slice has run its time (one walker's budget). */
export class Slicer {
  #start = performance.now();
  constructor(readonly budgetMs = SLICE_MS) {}

  /** Resolves at once within the budget, else after one turn of the event loop. */
  async tick(): Promise<void> {
    if (performance.now() - this.#start < this.budgetMs) return;
    await new Promise<void>((r) => setImmediate(r));
    this.#start = performance.now();
  }
}

/**
 * One budget per turn of the event loop shared by every walker that ticks it. With a
 * {@link Slicer} each, ten answers going out at once would each take their own slice in the same
 * turn (ten times the budget before a timer runs); sharing one, all of them together take at
 * most about one slice per turn, and whoever finds it spent waits for the next turn.
 */
export class SharedSlicer {
  #turnStart = performance.now();
  #nextTurn: Promise<void> | undefined;
  constructor(readonly budgetMs = SLICE_MS) {}

  /** Resolves at once while this turn's budget lasts, else once a later turn has budget left. */
  async tick(): Promise<void> {
    while (performance.now() - this.#turnStart >= this.budgetMs) {
      this.#nextTurn ??= new Promise<void>((resolve) =>
        setImmediate(() => {
          this.#nextTurn = undefined;
          this.#turnStart = performance.now();
          resolve();
        }),
      );
      await this.#nextTurn;
    }
  }
}

/** The budget this thread's background work (answers going out, state sent to the worker) shares. */
export const BACKGROUND = new SharedSlicer();
