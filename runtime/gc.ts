/**
 * The agent's garbage collector of sandboxes: the directories of executor runs that ended are kept
 * for a while (their `stdout`/`stderr` help to debug what went wrong), then removed. They are kept
 * `--gc_delay` (default one week), but the fuller the disk the sooner they go: each disk check
 * removes at once every sandbox older than `gc_delay × max(0, 1 − gc_disk_headroom − usage)`.
 *
 * @see Mesos `src/slave/gc.cpp` (`GarbageCollector`) and `Slave::checkDiskUsage`/`Slave::age`.
 */
import { lstatSync, readdirSync, rmdirSync, rmSync, statfsSync, type Dirent, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Clock, TimerId } from './types.ts';
import type { Logger } from './log.ts';

/** Mesos' default `--gc_delay`: one week. */
export const DEFAULT_GC_DELAY_MS = 7 * 24 * 60 * 60 * 1000;
/** Mesos' default `--gc_disk_headroom`. */
export const DEFAULT_GC_DISK_HEADROOM = 0.1;
/** Mesos' default `--disk_watch_interval`: how often the disk is checked. */
export const DEFAULT_DISK_WATCH_INTERVAL_MS = 60 * 1000;

/**
 * The longest delay a timer is armed for. Node's `setTimeout` fires after 1 ms (with a warning)
 * when given more than 2^31 − 1 ms (about 24.8 days), and a `--gc_delay` of a month is plausible;
 * a longer wait is made of several timers instead.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** How full a filesystem is, in bytes. */
export interface DiskUsage {
  used: number;
  total: number;
}

/** Options of {@link SandboxGc}. */
export interface SandboxGcOptions {
  clock: Clock;
  logger: Logger;
  /**
   * The agent's work dir: the disk checked is the filesystem holding it, and emptied parents of a
   * removed sandbox are removed up to (not including) its `agents` dir.
   */
  workDir: string;
  /** How long a sandbox is kept once it is no longer used (`--gc_delay`), in ms. */
  gcDelayMs: number;
  /** The fraction of the disk to keep free (`--gc_disk_headroom`), in [0, 1]. */
  diskHeadroom: number;
  /** How full the filesystem holding `path` is; by default `statfs(2)`. Injected by tests. */
  diskUsage?: (path: string) => DiskUsage;
  /** Removes a sandbox and everything under it; by default `rm -rf`. Injected by tests. */
  remove?: (path: string) => void;
}

/** A sandbox waiting to be removed. */
export interface PendingRemoval {
  path: string;
  /** When its executor run was removed (ended): its age counts from then. */
  removedAt: number;
  /** When it is removed unless the disk fills first (`removedAt + gcDelayMs`). */
  dueAt: number;
}

/** What a disk check found and did. */
export interface DiskCheck {
  /** The fraction of the disk used, in [0, 1]. */
  usage: number;
  /** Sandboxes at least this old (ms) were removed. */
  maxAgeMs: number;
  /** How many sandboxes were removed (or failed to be). */
  removed: number;
}

/** The GC's counters, under Mesos' metric names. */
export interface GcMetrics {
  'gc/path_removals_succeeded': number;
  'gc/path_removals_failed': number;
  'gc/path_removals_pending': number;
}

/**
 * How full the filesystem holding `path` is, from `statfs(2)`. "Used" counts the blocks reserved
 * for root as used (`blocks − bavail`), as `df` does: an agent that does not run as root cannot
 * write to them, so they are not free for its sandboxes.
 */
export function statfsUsage(path: string): DiskUsage {
  const s = statfsSync(path);
  return { used: (s.blocks - s.bavail) * s.bsize, total: s.blocks * s.bsize };
}

/**
 * The longest a sandbox may be kept when the disk is `usage` full (Mesos `Slave::age`): the whole
 * delay on an empty disk, shrinking linearly to nothing once only the headroom is left free.
 */
export function maxSandboxAgeMs(gcDelayMs: number, diskHeadroom: number, usage: number): number {
  return gcDelayMs * Math.max(0, 1 - diskHeadroom - usage);
}

/** Whether an fs error means the entry went away (or a directory on its path became a file) under us. */
function vanished(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Bytes of disk used by the regular files under `root` (`st_blocks × 512`, so sparse files count
 * what they occupy, not their length). Symbolic links are not followed, so a task cannot make its
 * sandbox look small or large by linking elsewhere, and a file hard-linked several times counts
 * once, as `du` counts it. Entries removed while the walk runs are skipped, not errors: the
 * sandbox of a running task changes all the time. Other errors (e.g. EACCES) are thrown, as an
 * undercount would let a container exceed its quota unnoticed.
 *
 * Directories are walked with `readdir(withFileTypes)`, whose entry types come from the directory
 * itself, so only regular files cost an `lstat`; the walk uses an explicit stack, so deep trees
 * cannot overflow the call stack. It is synchronous: a few thousand files take milliseconds.
 *
 * @returns 0 when `root` does not exist; the file's own usage when `root` is a regular file.
 */
export function directoryUsageBytes(root: string): number {
  const rootStat = lstatOrUndefined(root);
  if (rootStat === undefined) return 0;
  if (rootStat.isFile()) return rootStat.blocks * 512;
  if (!rootStat.isDirectory()) return 0;

  let bytes = 0;
  /** Inodes with several links already counted, as `dev:ino`. */
  const linked = new Set<string>();
  const dirs = [root];
  for (let dir = dirs.pop(); dir !== undefined; dir = dirs.pop()) {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (error) {
      if (vanished(error)) continue;
      throw error;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        dirs.push(path);
        continue;
      }
      if (!entry.isFile()) continue; // symlinks, FIFOs, sockets, devices occupy no data blocks
      const st = lstatOrUndefined(path);
      if (st === undefined || !st.isFile()) continue; // gone, or replaced by something else
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        if (linked.has(key)) continue;
        linked.add(key);
      }
      bytes += st.blocks * 512;
    }
  }
  return bytes;
}

/** `lstat`, or `undefined` when the entry (or a directory on its path) no longer exists. */
function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path, { throwIfNoEntry: false });
  } catch (error) {
    if (vanished(error)) return undefined;
    throw error;
  }
}

/** The default removal: like `rm -rf`, so a sandbox that is already gone counts as removed. */
function removeTree(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

/**
 * Removes the sandboxes of executor runs that ended, `gcDelayMs` after they ended or sooner when
 * the disk fills up.
 *
 * Nothing is removed on its own until {@link SandboxGc.start}: removals then happen on timers of
 * the injected clock (a simulated clock drives them in tests), and the disk is checked every
 * interval. Removal never throws: a sandbox that cannot be removed is logged, counted as failed
 * and forgotten (as in Mesos, it is not retried).
 */
export class SandboxGc {
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #gcDelayMs: number;
  readonly #diskHeadroom: number;
  readonly #workDir: string;
  /** The directory emptied parents are removed up to (exclusive). */
  readonly #agentsDir: string;
  readonly #diskUsage: (path: string) => DiskUsage;
  readonly #remove: (path: string) => void;
  /** Scheduled sandboxes by normalized path. */
  readonly #pending = new Map<string, PendingRemoval>();
  #succeeded = 0;
  #failed = 0;
  /** Set while started: how often the disk is checked. */
  #intervalMs: number | undefined;
  /** The timer of the next due removal, while started and something is pending. */
  #removalTimer: TimerId | undefined;
  #diskTimer: TimerId | undefined;

  /** @throws RangeError on a negative or non-finite delay, or a headroom outside [0, 1] (as Mesos' flag validation). */
  constructor(opts: SandboxGcOptions) {
    if (!(Number.isFinite(opts.gcDelayMs) && opts.gcDelayMs >= 0)) {
      throw new RangeError(`SandboxGc: gcDelayMs must be a finite number >= 0, got ${opts.gcDelayMs}`);
    }
    if (!(opts.diskHeadroom >= 0 && opts.diskHeadroom <= 1)) {
      throw new RangeError(`SandboxGc: diskHeadroom must be in [0, 1], got ${opts.diskHeadroom}`);
    }
    this.#clock = opts.clock;
    this.#logger = opts.logger;
    this.#gcDelayMs = opts.gcDelayMs;
    this.#diskHeadroom = opts.diskHeadroom;
    this.#workDir = resolve(opts.workDir);
    this.#agentsDir = join(this.#workDir, 'agents');
    this.#diskUsage = opts.diskUsage ?? statfsUsage;
    this.#remove = opts.remove ?? removeTree;
  }

  /**
   * Schedules the sandbox at `path` for removal `gcDelayMs` after `removedAt`. Scheduling a path
   * already scheduled replaces its schedule (its age restarts from the new `removedAt`). Paths are
   * compared resolved, so `a/b/` and `a/b` are the same sandbox.
   *
   * @param removedAt when the sandbox stopped being used (its executor run ended), default now.
   *   A restarted agent passes the directory's mtime for sandboxes it finds, so their age counts
   *   from when they were last used, not from the restart (as Mesos' `Slave::garbageCollect` does).
   * @returns when it will be removed unless the disk fills first.
   */
  schedule(path: string, removedAt: number = this.#clock.now()): number {
    if (!Number.isFinite(removedAt)) {
      throw new RangeError(`SandboxGc.schedule: removedAt must be a finite time, got ${removedAt}`);
    }
    const key = resolve(path);
    const dueAt = removedAt + this.#gcDelayMs;
    const replaced = this.#pending.delete(key);
    this.#pending.set(key, { path: key, removedAt, dueAt });
    this.#logger.debug({ path: key, dueAt, replaced }, 'scheduled a sandbox for removal');
    this.#armRemoval();
    return dueAt;
  }

  /**
   * Cancels the removal of `path`: its sandbox is in use again (e.g. a recovered executor).
   * @returns whether it was scheduled.
   */
  unschedule(path: string): boolean {
    const key = resolve(path);
    if (!this.#pending.delete(key)) return false;
    this.#logger.debug({ path: key }, 'unscheduled a sandbox from removal');
    this.#armRemoval();
    return true;
  }

  /** The scheduled sandboxes, soonest due first. */
  pending(): PendingRemoval[] {
    return [...this.#pending.values()].map((p) => ({ ...p })).sort((a, b) => a.dueAt - b.dueAt);
  }

  /** Counts of removals done, failed and pending. */
  metrics(): GcMetrics {
    return {
      'gc/path_removals_succeeded': this.#succeeded,
      'gc/path_removals_failed': this.#failed,
      'gc/path_removals_pending': this.#pending.size,
    };
  }

  /**
   * Measures how full the work dir's filesystem is and removes at once every sandbox at least
   * {@link maxSandboxAgeMs} old. Never throws: when the usage cannot be read, that is logged and
   * nothing is pruned.
   * @returns what it found and did, or `undefined` when the usage could not be read.
   */
  checkDisk(): DiskCheck | undefined {
    let disk: DiskUsage;
    try {
      disk = this.#diskUsage(this.#workDir);
    } catch (error) {
      this.#logger.warn({ err: error, workDir: this.#workDir }, 'failed to read the disk usage of the work dir');
      return undefined;
    }
    if (!(disk.total > 0 && disk.used >= 0)) {
      this.#logger.warn({ ...disk, workDir: this.#workDir }, 'the work dir\'s filesystem reported an impossible usage');
      return undefined;
    }
    const usage = Math.min(1, disk.used / disk.total);
    const maxAgeMs = maxSandboxAgeMs(this.#gcDelayMs, this.#diskHeadroom, usage);
    const now = this.#clock.now();
    const old = this.pending().filter((p) => now - p.removedAt >= maxAgeMs);
    this.#logger.debug({ usage, maxAgeMs, pruning: old.length }, 'checked the disk usage');
    for (const p of old) this.#removeOne(p, now);
    if (old.length > 0) this.#armRemoval();
    return { usage, maxAgeMs, removed: old.length };
  }

  /**
   * Starts removing sandboxes when due and checking the disk every `intervalMs`
   * (`--disk_watch_interval`). The first check comes after one interval, as in Mesos, so a very
   * long interval disables disk checks. Starting again restarts with the new interval.
   */
  start(intervalMs: number = DEFAULT_DISK_WATCH_INTERVAL_MS): void {
    if (!(Number.isFinite(intervalMs) && intervalMs > 0)) {
      throw new RangeError(`SandboxGc.start: intervalMs must be a finite number > 0, got ${intervalMs}`);
    }
    this.stop();
    this.#intervalMs = intervalMs;
    this.#armDiskCheck();
    this.#armRemoval();
  }

  /** Cancels every timer; what is scheduled stays scheduled, for a later {@link SandboxGc.start}. */
  stop(): void {
    this.#intervalMs = undefined;
    this.#removalTimer = this.#cancel(this.#removalTimer);
    this.#diskTimer = this.#cancel(this.#diskTimer);
  }

  /** Cancels timer `id` if set; returns `undefined`, to assign to the field that held it. */
  #cancel(id: TimerId | undefined): undefined {
    if (id !== undefined) this.#clock.clearTimeout(id);
    return undefined;
  }

  /** Arms the next disk check, which arms the one after it. */
  #armDiskCheck(): void {
    if (this.#intervalMs === undefined) return;
    this.#diskTimer = this.#clock.setTimeout(() => {
      this.#diskTimer = undefined;
      this.checkDisk();
      this.#armDiskCheck();
    }, Math.min(this.#intervalMs, MAX_TIMER_MS));
  }

  /**
   * (Re)arms the single removal timer for the soonest due sandbox, as Mesos' GC does: one timer
   * whatever the number of sandboxes. Finding the soonest is a scan, which is cheap for the
   * thousands of sandboxes an agent keeps at most, and happens only when the schedule changes.
   */
  #armRemoval(): void {
    this.#removalTimer = this.#cancel(this.#removalTimer);
    if (this.#intervalMs === undefined || this.#pending.size === 0) return;
    let soonest = Infinity;
    for (const p of this.#pending.values()) soonest = Math.min(soonest, p.dueAt);
    const delay = Math.min(Math.max(0, soonest - this.#clock.now()), MAX_TIMER_MS);
    this.#removalTimer = this.#clock.setTimeout(() => {
      this.#removalTimer = undefined;
      this.#removeDue();
      this.#armRemoval();
    }, delay);
  }

  /** Removes every sandbox whose time has come, oldest first. */
  #removeDue(): void {
    const now = this.#clock.now();
    for (const p of this.pending()) {
      if (p.dueAt > now) break;
      this.#removeOne(p, now);
    }
  }

  /** Forgets `p` and removes its sandbox, then its emptied parents; logs and counts, never throws. */
  #removeOne(p: PendingRemoval, now: number): void {
    this.#pending.delete(p.path);
    try {
      this.#remove(p.path);
    } catch (error) {
      this.#failed++;
      this.#logger.warn({ err: error, path: p.path }, 'failed to remove a sandbox');
      return;
    }
    this.#succeeded++;
    this.#logger.info({ path: p.path, ageMs: now - p.removedAt }, 'removed a sandbox');
    this.#removeEmptyParents(p.path);
  }

  /**
   * Removes the parents of a removed sandbox that it left empty (`runs/`, then `executors/<ex>/`,
   * …), up to (not including) the work dir's `agents` dir, so that finished frameworks do not
   * leave a skeleton of empty directories behind. `rmdir(2)` refuses a non-empty directory, so a
   * directory in use (say a new run of the same executor) is never removed, and there is no window
   * between checking and removing. Paths outside `agents/` have no parent removed.
   */
  #removeEmptyParents(path: string): void {
    for (let dir = dirname(path); this.#isUnderAgents(dir); dir = dirname(dir)) {
      try {
        rmdirSync(dir);
        this.#logger.debug({ path: dir }, 'removed an empty sandbox parent');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // already gone: look further up
        return; // not empty (or not ours to remove): neither are its parents
      }
    }
  }

  /** Whether `dir` is strictly inside `<workDir>/agents`. */
  #isUnderAgents(dir: string): boolean {
    const rel = relative(this.#agentsDir, dir);
    return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
  }
}
