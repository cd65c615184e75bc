import test from 'ava';
import fc from 'fast-check';
import { backoffMs, jitter } from '../../actors/common.ts';

test('jitter is a factor in [0.5, 1.5), the same for the same seed and attempt', (t) => {
  t.notThrows(() =>
    fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 80 }), fc.nat(60), (seed, attempt) => {
      const f = jitter(seed, attempt);
      return f >= 0.5 && f < 1.5 && f === jitter(seed, attempt);
    })),
  );
});

test('jitter spreads a storm: 10,000 agents retrying together come back spread over the window', (t) => {
  // The PIDs of an agent swarm differ only in a counter; their first retries must not bunch up.
  const buckets = new Array<number>(10).fill(0);
  for (let i = 0; i < 10_000; i++) {
    const f = jitter(`mesos.c.agent.swarm-${i}`, 0);
    buckets[Math.floor((f - 0.5) * 10)]! += 1;
  }
  // Each tenth of the window gets roughly a tenth of the agents (1,000 ± 20%).
  for (const [i, n] of buckets.entries()) t.true(n > 800 && n < 1200, `bucket ${i}: ${n}`);
});

test('backoff doubles up to its cap', (t) => {
  // 1 s, 2 s, 4 s, … capped at 60 s.
  t.deepEqual([0, 1, 2, 3, 6, 7, 40].map((a) => backoffMs(a, 1000, 60_000)), [1000, 2000, 4000, 8000, 60_000, 60_000, 60_000]);
});
