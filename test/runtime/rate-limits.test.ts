/**
 * `--rate_limits`: parsing, the token buckets on a fake clock, and a master that keeps serving one
 * framework while another floods it.
 */
import test from 'ava';
import { pino } from 'pino';
import { parseRateLimits, RateLimiter, type RateLimits } from '../../runtime/rate-limits.ts';
import { Metrics } from '../../runtime/metrics.ts';
import { startMaster } from '../../runtime/master.ts';
import { silentLogger } from '../../runtime/log.ts';
import { Codec, envelope } from '../../protocols/envelope.ts';
import { pid, subjectFor, type ActorKind } from '../../protocols/pid.ts';
import { SimCluster, TEST_AGENT_RESOURCES } from '../helpers/sim-cluster.ts';

const MASTER = 'mesos.c.master.m.1';
const from = (kind: ActorKind, principal: string, type = 'KillTask') => subjectFor(MASTER, type, kind, principal);

/** A limiter on a clock the test moves, with its metrics and the warn lines it logged. */
function limiter(text: string) {
  let now = 1_000_000;
  const metrics = new Metrics();
  const warnings: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line) as Record<string, unknown>) });
  const l = new RateLimiter(parseRateLimits(text), () => now, metrics, logger);
  return {
    metrics,
    warnings,
    advance: (ms: number) => void (now += ms),
    /** How many of `n` messages on `subject` are let through. */
    burst: (subject: string, n: number) => Array.from({ length: n }, () => l.admit(subject)).filter(Boolean).length,
  };
}

// ── parsing ─────────────────────────────────────────────────────────────────────────

test('parses limits, unlimited principals and the aggregate default', (t) => {
  const r = parseRateLimits('{"limits":[{"principal":"foo","qps":55.5,"capacity":100},{"principal":"bar"}],"aggregate_default_qps":33.3,"aggregate_default_capacity":1000}');
  t.deepEqual(r, {
    limits: [{ principal: 'foo', qps: 55.5, capacity: 100 }, { principal: 'bar' }],
    aggregateDefaultQps: 33.3,
    aggregateDefaultCapacity: 1000,
  } satisfies RateLimits);
  t.deepEqual(parseRateLimits('{}'), { limits: [] });
  t.deepEqual(parseRateLimits('{"limits":[]}'), { limits: [] });
});

const bad: Array<[string, string, RegExp]> = [
  ['not JSON', '{"limits":', /^not JSON: /],
  ['not an object', '[1]', /expected a JSON object/],
  ['unknown top-level field', '{"limits":[],"qps":3}', /unknown field 'qps'/],
  ['limits not an array', '{"limits":{"principal":"a"}}', /'limits' must be an array/],
  ['a limit not an object', '{"limits":["a"]}', /limits\[0\] must be an object/],
  ['unknown limit field', '{"limits":[{"principal":"a","rate":3}]}', /limits\[0\]: unknown field 'rate'/],
  ['missing principal', '{"limits":[{"qps":3}]}', /limits\[0\]: 'principal' must be a non-empty string/],
  ['empty principal', '{"limits":[{"principal":""}]}', /'principal' must be a non-empty string/],
  ['repeated principal', '{"limits":[{"principal":"a"},{"principal":"a","qps":1}]}', /limits\[1\]: principal 'a' is listed twice/],
  ['reserved principal', '{"limits":[{"principal":"default","qps":1}]}', /principal 'default' is reserved/],
  ['negative qps', '{"limits":[{"principal":"a","qps":-1}]}', /limits\[0\]\.qps must be a positive number, not -1/],
  ['zero qps', '{"limits":[{"principal":"a","qps":0}]}', /limits\[0\]\.qps must be a positive number/],
  ['string qps', '{"limits":[{"principal":"a","qps":"10"}]}', /limits\[0\]\.qps must be a positive number, not "10"/],
  ['negative capacity', '{"limits":[{"principal":"a","qps":1,"capacity":-5}]}', /limits\[0\]\.capacity must be a whole number of at least 1/],
  ['fractional capacity', '{"limits":[{"principal":"a","qps":1,"capacity":2.5}]}', /capacity must be a whole number/],
  ['negative aggregate qps', '{"aggregate_default_qps":-3}', /aggregate_default_qps must be a positive number/],
  ['non-numeric aggregate capacity', '{"aggregate_default_qps":3,"aggregate_default_capacity":"x"}', /aggregate_default_capacity must be a whole number/],
];
for (const [what, text, message] of bad) {
  test(`rejects ${what} with a one-line message`, (t) => {
    const err = t.throws(() => parseRateLimits(text), { message });
    t.false(err!.message.includes('\n'));
  });
}

// ── buckets ─────────────────────────────────────────────────────────────────────────

test('a limited principal gets its capacity at once, then qps a second', (t) => {
  const l = limiter('{"limits":[{"principal":"alice","qps":10,"capacity":5}]}');
  const alice = from('scheduler', 'alice');
  t.is(l.burst(alice, 20), 5);
  // Over the next second, a burst of 20 every tenth of a second: one message of each gets through.
  let admitted = 0;
  for (let i = 0; i < 10; i++) {
    l.advance(100);
    admitted += l.burst(alice, 20);
  }
  t.is(admitted, 10, 'ten more in one second');
  l.advance(60_000);
  t.is(l.burst(alice, 20), 5, 'a quiet minute refills the bucket only to its capacity');
  t.is(l.metrics.get('master/frameworks/alice/messages_received'), 240);
  t.is(l.metrics.get('master/frameworks/alice/messages_processed'), 20);
  t.is(l.metrics.get('master/frameworks/alice/messages_dropped'), 220);
  t.is(l.metrics.get('master/rate_limited'), 220);
});

test('without capacity, a bucket holds one second of its rate (and at least one message)', (t) => {
  const l = limiter('{"limits":[{"principal":"fast","qps":20},{"principal":"slow","qps":0.5}]}');
  t.is(l.burst(from('scheduler', 'fast'), 50), 20);
  t.is(l.burst(from('scheduler', 'slow'), 5), 1);
  l.advance(1000);
  t.is(l.burst(from('scheduler', 'slow'), 5), 0, 'half a token after one second');
  l.advance(1000);
  t.is(l.burst(from('scheduler', 'slow'), 5), 1);
});

test('a listed principal without qps, and everyone when there is no aggregate default, is never limited', (t) => {
  const l = limiter('{"limits":[{"principal":"ops"},{"principal":"alice","qps":1,"capacity":1}]}');
  t.is(l.burst(from('scheduler', 'ops'), 1000), 1000);
  t.is(l.burst(from('operator', 'ops'), 1000), 1000);
  t.is(l.burst(from('scheduler', 'bob'), 1000), 1000);
  t.deepEqual(Object.keys(l.metrics.snapshot()), [], 'nothing counted for principals that are not limited');
});

test('principals not listed share one aggregate bucket, counted as default', (t) => {
  const l = limiter('{"limits":[{"principal":"alice","qps":100}],"aggregate_default_qps":2,"aggregate_default_capacity":4}');
  t.is(l.burst(from('scheduler', 'bob'), 3), 3);
  t.is(l.burst(from('operator', 'carol'), 3), 1, 'carol gets what bob left');
  t.is(l.burst(from('scheduler', 'alice'), 3), 3, 'a listed principal keeps its own bucket');
  l.advance(1000);
  t.is(l.burst(from('scheduler', 'carol'), 3), 2);
  t.like(l.metrics.snapshot(), {
    'master/frameworks/default/messages_received': 9,
    'master/frameworks/default/messages_processed': 6,
    'master/frameworks/default/messages_dropped': 3,
    'master/rate_limited': 3,
  });
  t.is(l.metrics.get('master/frameworks/bob/messages_received'), 0, 'no names of their own for principals not listed');
});

test('messages from masters and agents are never limited', (t) => {
  const l = limiter('{"limits":[{"principal":"alice","qps":1,"capacity":1}],"aggregate_default_qps":1,"aggregate_default_capacity":1}');
  t.is(l.burst(from('agent', 'alice'), 100), 100);
  t.is(l.burst(from('master', 'alice'), 100), 100);
  t.is(l.burst(from('agent', 'anonymous'), 100), 100);
  t.is(l.burst(from('executor', 'local'), 100), 100);
  t.is(l.burst(from('scheduler', 'alice'), 100), 1);
  t.is(l.burst(from('operator', 'anonymous'), 100), 1);
});

test('a listed principal is matched as it is spelled on the bus', (t) => {
  const l = limiter('{"limits":[{"principal":"team a","qps":1,"capacity":1}]}');
  t.is(l.burst(from('scheduler', 'team%20a'), 5), 1);
  t.is(l.metrics.get('master/frameworks/team%20a/messages_dropped'), 4);
});

test('drops are logged about once a second per bucket, with how many were dropped', (t) => {
  const l = limiter('{"limits":[{"principal":"alice","qps":1,"capacity":1},{"principal":"bob","qps":1,"capacity":1}]}');
  t.is(l.burst(from('scheduler', 'alice'), 1001), 1);
  t.is(l.burst(from('scheduler', 'bob'), 11), 1);
  t.is(l.warnings.length, 2, 'one line each for alice and bob, not one per message');
  t.like(l.warnings[0], { principal: 'alice', bucket: 'alice', dropped: 1, type: 'KillTask', msg: 'rate limit exceeded; dropping messages' });
  t.like(l.warnings[1], { principal: 'bob', dropped: 1 });
  l.advance(999);
  t.is(l.burst(from('scheduler', 'alice'), 10), 0);
  t.is(l.warnings.length, 2);
  l.advance(1);
  t.is(l.burst(from('scheduler', 'alice'), 10), 1);
  t.is(l.warnings.length, 3);
  // 999 unlogged after the first line, 10 more, and the one that triggers this line.
  t.like(l.warnings[2], { principal: 'alice', dropped: 1010, qps: 1, capacity: 1 }, 'the line counts the drops since the last one');
});

// ── through a master ────────────────────────────────────────────────────────────────

test('a master flooded by one principal drops its excess, counts it, and still serves another framework', async (t) => {
  const sim = new SimCluster();
  sim.master = startMaster({
    transport: sim.bus.transport(),
    cluster: sim.cluster,
    logger: silentLogger(),
    clock: sim.clock,
    runId: 'm1',
    hostname: 'm1.sim',
    registry: sim.registry,
    lease: (value) => sim.lease.candidate(value),
    rateLimits: parseRateLimits('{"limits":[{"principal":"flood","qps":1,"capacity":3},{"principal":"alice"}]}'),
  });
  sim.masters.push(sim.master);
  t.teardown(() => sim.stop());
  await sim.settle();
  sim.addAgent(TEST_AGENT_RESOURCES, undefined, 'a0');
  await sim.settle();

  // 50 requests at once from scheduler `flood`; the simulated clock stands still meanwhile.
  const codec = new Codec();
  const flooder = pid(sim.cluster, 'scheduler', 'f1', 'flood');
  const transport = sim.bus.transport();
  for (let i = 0; i < 50; i++) {
    transport.publish(subjectFor(sim.master.pid, 'ReconcileTasks', 'scheduler', 'flood'), codec.encode(envelope(flooder, `f-${i}`, { type: 'ReconcileTasks', body: { frameworkId: 'nope', statuses: [] } })));
  }
  const { sched, offer } = await sim.framework({ principal: 'alice' });
  t.truthy(sched.frameworkId, 'alice registered');
  t.truthy(offer, 'and was offered the agent');

  const m = sim.metrics();
  t.is(m['master/frameworks/flood/messages_received'], 50);
  t.is(m['master/frameworks/flood/messages_processed'], 3);
  t.is(m['master/frameworks/flood/messages_dropped'], 47);
  t.is(m['master/rate_limited'], 47);
  t.false(Object.keys(m).some((k) => k.startsWith('master/frameworks/alice/')), 'alice is not limited, so not counted');
});
