/**
 * Process metrics: named counters, as Mesos exposes them at `/metrics/snapshot`
 * (`master/offers_sent`, `bus/dropped/malformed`, …).
 */

/** A set of counters. */
export class Metrics {
  private readonly counters = new Map<string, number>();

  /** Adds `by` to counter `name`. */
  inc(name: string, by = 1): void {
    this.counters.set(name, (this.counters.get(name) ?? 0) + by);
  }

  /** Current value of `name` (0 when never counted). */
  get(name: string): number {
    return this.counters.get(name) ?? 0;
  }

  /** All counters, sorted by name. */
  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counters].sort(([a], [b]) => (a < b ? -1 : 1)));
  }
}
