/**
 * The sandbox garbage collector: sandboxes go `gcDelay` after their run ended, sooner when the
 * disk fills; emptied parents go with them; failures are counted, never thrown. Time is driven by
 * the simulated clock only.
 */
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { pino } from 'pino';
import { SimClock } from '../../runtime/clock.ts';
import { SandboxGc, directoryUsageBytes, maxSandboxAgeMs, type SandboxGcOptions } from '../../runtime/gc.ts';
import { silentLogger } from '../../runtime/log.ts';
import type { Clock } from '../../runtime/types.ts';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const MiB = 1024 * 1024;

function workDir(t: { teardown: (f: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'mesos-gc-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Creates the sandbox of one executor run, as the containerizer lays it out, with a `stdout` in it. */
function sandbox(dir: string, fw = 'fw1', ex = 'ex1', run = 'c1', agent = 'a-S0'): string {
  const path = join(dir, 'agents', agent, 'frameworks', fw, 'executors', ex, 'runs', run);
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'stdout'), 'hello\n');
  return path;
}

/** A logger whose JSON lines are kept, to check what was logged. */
function capturedLogger(): { logger: SandboxGcOptions['logger']; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

/**
 * A GC over `dir` with a one-week delay and the simulated clock. By default the disk is empty and
 * no headroom is kept, so disk checks remove nothing younger than the delay (with a headroom `h`,
 * even an empty disk limits the age to `(1 − h) × delay`, as in Mesos).
 */
function gcFor(dir: string, clock: Clock, over: Partial<SandboxGcOptions> = {}): SandboxGc {
  return new SandboxGc({
    clock,
    logger: silentLogger(),
    workDir: dir,
    gcDelayMs: WEEK,
    diskHeadroom: 0,
    diskUsage: () => ({ used: 0, total: 100 }),
    ...over,
  });
}

test('a scheduled sandbox is removed gcDelay after it was scheduled, not before', (t) => {
  const dir = workDir(t);
  const clock = new SimClock();
  const { logger, lines } = capturedLogger();
  const gc = gcFor(dir, clock, { logger });
  const box = sandbox(dir);
  gc.start(60_000);
  t.teardown(() => gc.stop());
  const scheduledAt = clock.now();
  t.is(gc.schedule(box), scheduledAt + WEEK);
  t.deepEqual(gc.pending(), [{ path: box, removedAt: scheduledAt, dueAt: scheduledAt + WEEK }]);

  clock.advance(WEEK - 1);
  t.true(existsSync(box), 'still there 1 ms before its time');
  t.is(gc.metrics()['gc/path_removals_pending'], 1);

  clock.advance(1);
  t.false(existsSync(box), 'gone at its time');
  t.deepEqual(gc.pending(), []);
  t.deepEqual(gc.metrics(), { 'gc/path_removals_succeeded': 1, 'gc/path_removals_failed': 0, 'gc/path_removals_pending': 0 });
  const removals = lines.filter((l) => l.msg === 'removed a sandbox');
  t.is(removals.length, 1, 'one info line per removal');
  t.like(removals[0], { level: 30, path: box, ageMs: WEEK });
});

test('the age of a sandbox counts from when its run was removed; rescheduling replaces the schedule', (t) => {
  const dir = workDir(t);
  const clock = new SimClock();
  const gc = gcFor(dir, clock);
  const box = sandbox(dir);
  gc.start(60_000);
  t.teardown(() => gc.stop());
  gc.schedule(box, clock.now() - 6 * DAY); // e.g. found by a restarted agent, last modified 6 days ago
  t.is(gc.pending()[0]!.dueAt, clock.now() + DAY);
  gc.schedule(`${box}/`, clock.now() - 5 * DAY); // the same path, spelled differently
  t.is(gc.pending().length, 1);
  clock.advance(DAY);
  t.true(existsSync(box), 'kept: its age restarted 5 days ago');
  clock.advance(DAY);
  t.false(existsSync(box));
});

test('a filling disk shortens the age limit: older sandboxes go at the next disk check', (t) => {
  const dir = workDir(t);
  const clock = new SimClock();
  const usage = { used: 85, total: 100 };
  const gc = gcFor(dir, clock, { diskHeadroom: 0.1, diskUsage: () => usage });
  const old = sandbox(dir, 'fw1', 'ex1', 'old');
  const recent = sandbox(dir, 'fw1', 'ex1', 'recent');
  gc.schedule(old);
  clock.advance(DAY - HOUR);
  gc.schedule(recent);
  clock.advance(HOUR);

  const check = gc.checkDisk();
  t.truthy(check);
  t.is(check!.usage, 0.85);
  t.true(Math.abs(check!.maxAgeMs - 0.05 * WEEK) < 1, `age limit ≈ 8.4 h, got ${check!.maxAgeMs / HOUR} h`);
  t.is(check!.removed, 1);
  t.false(existsSync(old), 'scheduled a day ago: removed');
  t.true(existsSync(recent), 'scheduled an hour ago: kept');
  t.deepEqual(gc.pending().map((p) => p.path), [recent]);

  usage.used = 95; // past the headroom: everything goes
  t.is(gc.checkDisk()!.maxAgeMs, 0);
  t.false(existsSync(recent));
  t.is(gc.metrics()['gc/path_removals_succeeded'], 2);
});

test('with a headroom, even an empty disk keeps sandboxes only (1 − headroom) × gcDelay', (t) => {
  const dir = workDir(t);
  const clock = new SimClock();
  const gc = gcFor(dir, clock, { diskHeadroom: 0.1 });
  const box = sandbox(dir);
  gc.schedule(box);
  clock.advance(0.9 * WEEK - 1);
  t.is(gc.checkDisk()!.removed, 0);
  clock.advance(1);
  t.is(gc.checkDisk()!.removed, 1);
  t.false(existsSync(box));
});

test('maxSandboxAgeMs is gcDelay × max(0, 1 − headroom − usage)', (t) => {
  t.is(maxSandboxAgeMs(WEEK, 0.1, 0), 0.9 * WEEK);
  t.is(maxSandboxAgeMs(WEEK, 0, 0.5), 0.5 * WEEK);
  t.is(maxSandboxAgeMs(WEEK, 0.1, 0.95), 0);
});

test('start() removes what is due and checks the disk on the clock every interval; stop() cancels every timer', (t) => {
  const dir = workDir(t);
  const clock = new SimClock();
  let checks = 0;
  const gc = gcFor(dir, clock, {
    diskHeadroom: 0.1,
    diskUsage: () => {
      checks++;
      return { used: 95, total: 100 };
    },
  });
  const overdue = sandbox(dir, 'fw1', 'ex1', 'overdue');
  gc.schedule(overdue);
  clock.advance(WEEK);
  t.true(existsSync(overdue), 'nothing happens before start()');
  t.is(clock.pending(), 0, 'and no timer is armed');

  gc.start(60_000);
  clock.advance(0);
  t.false(existsSync(overdue), 'what fell due while stopped goes as soon as started');
  t.is(checks, 0);

  const fresh = sandbox(dir, 'fw1', 'ex1', 'fresh');
  gc.schedule(fresh);
  clock.advance(59_999);
  t.is(checks, 0, 'the first check comes after one interval');
  t.true(existsSync(fresh));
  clock.advance(1);
  t.is(checks, 1);
  t.false(existsSync(fresh), 'the disk is past its headroom: everything goes');
  clock.advance(120_000);
  t.is(checks, 3);

  gc.stop();
  t.is(clock.pending(), 0);
  clock.advance(DAY);
  t.is(checks, 3);
});

test('a delay longer than a Node timer can hold is waited out with several timers', (t) => {
  const dir = workDir(t);
  const sim = new SimClock();
  const delays: number[] = [];
  const clock: Clock = {
    now: () => sim.now(),
    setTimeout: (fn, ms) => {
      delays.push(ms);
      return sim.setTimeout(fn, ms);
    },
    clearTimeout: (id) => sim.clearTimeout(id),
  };
  const gc = gcFor(dir, clock, { gcDelayMs: 30 * DAY });
  const box = sandbox(dir);
  gc.start(DAY);
  t.teardown(() => gc.stop());
  gc.schedule(box);
  sim.advance(30 * DAY - 1);
  t.true(existsSync(box));
  sim.advance(1);
  t.false(existsSync(box));
  t.true(delays.every((ms) => ms <= 2 ** 31 - 1), 'no timer beyond 2^31 − 1 ms');
});

test('an unscheduled sandbox is kept', (t) => {
  const dir = workDir(t);
  const clock = new SimClock();
  const gc = gcFor(dir, clock, { diskUsage: () => ({ used: 99, total: 100 }) });
  const box = sandbox(dir);
  gc.start(60_000);
  t.teardown(() => gc.stop());
  gc.schedule(box);
  t.true(gc.unschedule(box));
  t.false(gc.unschedule(box), 'no longer scheduled');
  t.false(gc.unschedule(join(dir, 'never-scheduled')));
  clock.advance(2 * WEEK);
  t.is(gc.checkDisk()!.removed, 0);
  t.true(existsSync(box));
  t.deepEqual(gc.metrics(), { 'gc/path_removals_succeeded': 0, 'gc/path_removals_failed': 0, 'gc/path_removals_pending': 0 });
});

test('parents a removal left empty are removed up to agents/, non-empty ones are kept', (t) => {
  const dir = workDir(t);
  const clock = new SimClock();
  const gc = gcFor(dir, clock, { diskUsage: () => ({ used: 100, total: 100 }) });
  const agents = join(dir, 'agents');
  const lone = sandbox(dir, 'fw1', 'ex1', 'c1');
  const sibling1 = sandbox(dir, 'fw2', 'ex1', 'c1');
  const sibling2 = sandbox(dir, 'fw2', 'ex2', 'c1');

  gc.schedule(lone);
  gc.schedule(sibling1);
  gc.checkDisk();
  t.false(existsSync(join(agents, 'a-S0', 'frameworks', 'fw1')), 'fw1 had nothing else: removed up to frameworks/fw1');
  t.false(existsSync(join(agents, 'a-S0', 'frameworks', 'fw2', 'executors', 'ex1')), 'ex1 of fw2 emptied: removed');
  t.true(existsSync(sibling2), 'the other executor of fw2 stays');
  t.true(existsSync(join(agents, 'a-S0', 'frameworks', 'fw2', 'executors')), 'executors/ of fw2 is not empty: kept');

  gc.schedule(sibling2);
  gc.checkDisk();
  t.true(existsSync(agents), 'agents/ itself is never removed');
  t.false(existsSync(join(agents, 'a-S0')), 'the agent dir emptied: removed');
  t.true(existsSync(dir));
});

test('a path outside agents/ is removed without touching its parents', (t) => {
  const dir = workDir(t);
  const clock = new SimClock();
  const gc = gcFor(dir, clock, { diskUsage: () => ({ used: 100, total: 100 }) });
  const other = join(dir, 'elsewhere', 'x');
  mkdirSync(other, { recursive: true });
  gc.schedule(other);
  gc.checkDisk();
  t.false(existsSync(other));
  t.true(existsSync(join(dir, 'elsewhere')), 'its empty parent is not the GC’s business');
});

test('directoryUsageBytes counts the blocks of nested files, once per inode, without following symlinks', (t) => {
  const dir = workDir(t);
  const nested = join(dir, 'a', 'b');
  mkdirSync(nested, { recursive: true });
  const big = join(dir, 'big');
  const fd = openSync(big, 'w');
  writeSync(fd, randomBytes(MiB)); // real (incompressible) data, flushed so the blocks are allocated
  fsyncSync(fd);
  closeSync(fd);
  const alone = directoryUsageBytes(dir);
  t.true(alone >= MiB, `a 1 MiB file uses at least 1 MiB, got ${alone}`);

  writeFileSync(join(nested, 'small'), randomBytes(10_000));
  const withNested = directoryUsageBytes(dir);
  t.true(withNested > alone, 'the nested file counts');

  linkSync(big, join(nested, 'hardlink'));
  symlinkSync(big, join(nested, 'symlink'));
  symlinkSync(tmpdir(), join(nested, 'dirlink'));
  t.is(directoryUsageBytes(dir), withNested, 'neither a hard link nor symlinks count again');

  t.is(directoryUsageBytes(join(dir, 'missing')), 0);
  t.true(directoryUsageBytes(big) >= MiB, 'a file counts as itself');
});

test('a sandbox that cannot be removed is counted as failed and logged; nothing throws', (t) => {
  const dir = workDir(t);
  const clock = new SimClock();
  const { logger, lines } = capturedLogger();
  const stuck = sandbox(dir, 'fw1', 'ex1', 'stuck');
  const fine = sandbox(dir, 'fw1', 'ex1', 'fine');
  const gc = gcFor(dir, clock, {
    logger,
    remove: (path) => {
      if (path === stuck) throw Object.assign(new Error('EBUSY: resource busy'), { code: 'EBUSY' });
      rmSync(path, { recursive: true, force: true });
    },
  });
  gc.start(60_000);
  t.teardown(() => gc.stop());
  gc.schedule(stuck);
  gc.schedule(fine);
  t.notThrows(() => clock.advance(WEEK));
  t.true(existsSync(stuck));
  t.false(existsSync(fine));
  t.deepEqual(gc.metrics(), { 'gc/path_removals_succeeded': 1, 'gc/path_removals_failed': 1, 'gc/path_removals_pending': 0 });
  t.true(existsSync(join(dir, 'agents', 'a-S0', 'frameworks', 'fw1', 'executors', 'ex1', 'runs')), 'runs/ still holds the stuck one');
  t.like(lines.find((l) => l.msg === 'failed to remove a sandbox'), { level: 40, path: stuck });
});

test('the default removal fails on an invalid path without throwing', (t) => {
  const dir = workDir(t);
  const gc = gcFor(dir, new SimClock(), { diskUsage: () => ({ used: 100, total: 100 }) });
  gc.schedule(join(dir, 'bad\0name'));
  t.notThrows(() => gc.checkDisk());
  t.is(gc.metrics()['gc/path_removals_failed'], 1);
});

test('a disk usage that cannot be read is logged and prunes nothing', (t) => {
  const dir = workDir(t);
  const { logger, lines } = capturedLogger();
  const gc = gcFor(dir, new SimClock(), {
    logger,
    diskUsage: () => {
      throw new Error('statfs failed');
    },
  });
  gc.schedule(sandbox(dir));
  t.is(gc.checkDisk(), undefined);
  t.is(gc.pending().length, 1);
  t.true(lines.some((l) => l.level === 40));
});

test('the default disk usage reads the work dir’s filesystem', (t) => {
  const dir = workDir(t);
  const gc = new SandboxGc({ clock: new SimClock(), logger: silentLogger(), workDir: dir, gcDelayMs: WEEK, diskHeadroom: 0.1 });
  const check = gc.checkDisk();
  t.truthy(check);
  t.true(check!.usage >= 0 && check!.usage <= 1);
});

test('invalid settings are refused', (t) => {
  const dir = workDir(t);
  t.throws(() => gcFor(dir, new SimClock(), { diskHeadroom: 1.5 }), { instanceOf: RangeError });
  t.throws(() => gcFor(dir, new SimClock(), { gcDelayMs: -1 }), { instanceOf: RangeError });
  t.throws(() => gcFor(dir, new SimClock()).start(0), { instanceOf: RangeError });
});
