/**
 * Linux control groups for containers: one group per container in each hierarchy the agent
 * uses, so that every process a container starts — double-forked daemons included — is found,
 * limited and killed with it.
 *
 * Two layouts are met in practice, and detected at start rather than assumed:
 * - **pure v2**: one hierarchy at `/sys/fs/cgroup` whose `cgroup.controllers` lists `cpu memory …`;
 * - **hybrid**: v1 hierarchies per controller (`/sys/fs/cgroup/cpu`, `/sys/fs/cgroup/memory`) and a
 *   v2 mount at `/sys/fs/cgroup/unified` without those controllers, used here only to track
 *   processes (its groups have `cgroup.kill`).
 *
 * CPU: a weight from `cpus` (v1 `cpu.shares` = 1024 × cpus; v2 `cpu.weight`), and with CFS a hard
 * limit (`cpu.cfs_quota_us` / `cpu.max`). Memory: a limit from `mem`; on v1 the kernel's OOM killer
 * is disabled for the group, so a container over its limit stalls until the agent sees it
 * (`under_oom`) and destroys it whole; on v2 `memory.oom.group` makes the kernel kill the whole
 * group, and `memory.events` counts it.
 *
 * @see Mesos `src/slave/containerizer/mesos/isolators/cgroups/`, `docs/cgroups.md`.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Where the hierarchies are. */
export interface CgroupLayout {
  /** A v2 hierarchy whose groups have `cgroup.kill` (tracking, and on pure v2 the controllers). */
  v2?: string;
  /** v1 `cpu` hierarchy (hybrid hosts). */
  cpuV1?: string;
  /** v1 `memory` hierarchy (hybrid hosts). */
  memoryV1?: string;
  /** Controllers the v2 hierarchy enables for its children (`cpu`, `memory`). */
  v2Controllers: Set<string>;
}

const ROOT = '/sys/fs/cgroup';

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The cgroup layout of this host, as mounted. */
export function detectCgroups(root = ROOT): CgroupLayout {
  const controllersAt = (dir: string) => new Set((read(join(dir, 'cgroup.controllers')) ?? '').trim().split(/\s+/).filter(Boolean));
  if (existsSync(join(root, 'cgroup.controllers'))) {
    return { v2: root, v2Controllers: controllersAt(root) };
  }
  const layout: CgroupLayout = { v2Controllers: new Set() };
  if (existsSync(join(root, 'unified', 'cgroup.controllers'))) layout.v2 = join(root, 'unified');
  if (existsSync(join(root, 'cpu', 'cpu.shares'))) layout.cpuV1 = join(root, 'cpu');
  if (existsSync(join(root, 'memory', 'memory.limit_in_bytes'))) layout.memoryV1 = join(root, 'memory');
  return layout;
}

/** What a container is limited to. */
export interface CgroupLimits {
  /** CPUs (weight, and with `cfs` a hard limit). */
  cpus?: number;
  /** Memory in MB. */
  memMb?: number;
  /** Enforce `cpus` as a hard limit (CFS bandwidth). */
  cfs?: boolean;
}

/** Why the isolators cannot be used here, or `undefined` when they can. */
export function cgroupsUnusable(layout: CgroupLayout, want: { cpu: boolean; memory: boolean }, base: string): string | undefined {
  if (!layout.v2) return 'no cgroup v2 hierarchy is mounted (needed to find and kill every process of a container)';
  if (want.cpu && !layout.cpuV1 && !layout.v2Controllers.has('cpu')) return 'no cpu controller is mounted';
  if (want.memory && !layout.memoryV1 && !layout.v2Controllers.has('memory')) return 'no memory controller is mounted';
  const probe = join(layout.v2, base, `probe-${process.pid}`);
  try {
    mkdirSync(probe, { recursive: true });
    rmdirSync(probe);
  } catch (e) {
    return `cannot create cgroups under ${join(layout.v2, base)}: ${(e as Error).message}`;
  }
  return undefined;
}

/** One container's groups. */
export class ContainerCgroups {
  /** Groups to enter, in order: their `cgroup.procs` files. */
  readonly procsFiles: string[] = [];
  readonly #dirs: string[] = [];
  readonly #track: string;
  #memoryV1?: string;
  #memoryV2?: string;
  #cpuV1?: string;

  /**
   * Makes the groups of `containerId` under `base` (e.g. `mesos-ts`) and sets `limits`; with
   * `'existing'`, takes over the groups an earlier agent made for it, as they are.
   */
  constructor(
    readonly layout: CgroupLayout,
    base: string,
    readonly containerId: string,
    limits: CgroupLimits | 'existing',
  ) {
    const name = containerId.replace(/[^A-Za-z0-9_.-]/g, '_');
    const make = (root: string) => {
      const dir = join(root, base, name);
      mkdirSync(dir, { recursive: true });
      this.#dirs.push(dir);
      this.procsFiles.push(join(dir, 'cgroup.procs'));
      return dir;
    };
    if (!layout.v2) throw new Error('no cgroup v2 hierarchy');
    if (limits === 'existing') {
      this.#track = join(layout.v2, base, name);
      for (const root of [layout.v2, layout.cpuV1, layout.memoryV1]) {
        const dir = root ? join(root, base, name) : undefined;
        if (dir && existsSync(dir)) this.#dirs.push(dir);
      }
      const memV1 = layout.memoryV1 ? join(layout.memoryV1, base, name) : undefined;
      if (memV1 && existsSync(memV1)) this.#memoryV1 = memV1;
      else if (layout.v2Controllers.has('memory')) this.#memoryV2 = this.#track;
      this.#cpuV1 = layout.cpuV1 && existsSync(join(layout.cpuV1, base, name)) ? join(layout.cpuV1, base, name) : undefined;
      return;
    }
    if (layout.v2Controllers.size > 0) {
      // Pure v2: the controllers must be enabled for the children of every level above the group.
      const wanted = ['cpu', 'memory'].filter((c) => layout.v2Controllers.has(c));
      enableControllers(layout.v2, base, wanted);
    }
    this.#track = make(layout.v2);
    if (limits.cpus !== undefined && !layout.v2Controllers.has('cpu') && layout.cpuV1) {
      this.#cpuV1 = make(layout.cpuV1);
      if (limits.cfs) writeFileSync(join(this.#cpuV1, 'cpu.cfs_period_us'), '100000');
    }
    if (limits.memMb !== undefined) {
      if (layout.v2Controllers.has('memory')) {
        this.#memoryV2 = this.#track;
        writeFileSync(join(this.#track, 'memory.oom.group'), '1');
      } else if (layout.memoryV1) {
        this.#memoryV1 = make(layout.memoryV1);
        // The agent, not the kernel, ends a container over its limit: it is stalled under OOM
        // until the agent sees it and kills it, so the limit is the reason reported.
        writeFileSync(join(this.#memoryV1, 'memory.oom_control'), '1');
      }
    }
    this.update(limits);
  }

  /** Whether the container ran out of memory (v1: it is stalled under OOM; v2: the kernel killed it). */
  outOfMemory(): boolean {
    if (this.#memoryV1) return /^under_oom 1$/m.test(read(join(this.#memoryV1, 'memory.oom_control')) ?? '');
    if (this.#memoryV2) return Number(/^oom_kill (\d+)$/m.exec(read(join(this.#memoryV2, 'memory.events')) ?? '')?.[1] ?? 0) > 0;
    return false;
  }

  /** Its memory limit in MB, if it has one. */
  memoryLimitMb(): number | undefined {
    const v = this.#memoryV1 ? read(join(this.#memoryV1, 'memory.limit_in_bytes')) : this.#memoryV2 ? read(join(this.#memoryV2, 'memory.max')) : undefined;
    const n = Number(v?.trim());
    return Number.isFinite(n) ? Math.round(n / (1024 * 1024)) : undefined;
  }

  /**
   * CPU time used by the container's processes (user and system, seconds), its memory in use
   * (resident anonymous memory and page cache it holds, bytes) and how many processes it has.
   */
  usage(): { userSecs: number; systemSecs: number; rssBytes: number; processes: number } {
    const stat = read(join(this.#track, 'cpu.stat')) ?? '';
    const usec = (k: string) => Number(new RegExp(`^${k} (\\d+)$`, 'm').exec(stat)?.[1] ?? 0) / 1e6;
    let rssBytes = 0;
    if (this.#memoryV1) rssBytes = Number(/^total_rss (\d+)$/m.exec(read(join(this.#memoryV1, 'memory.stat')) ?? '')?.[1] ?? 0);
    else if (this.#memoryV2) rssBytes = Number(/^anon (\d+)$/m.exec(read(join(this.#memoryV2, 'memory.stat')) ?? '')?.[1] ?? 0);
    const procs = (read(join(this.#track, 'cgroup.procs')) ?? '').split('\n').filter(Boolean).length;
    return { userSecs: usec('user_usec'), systemSecs: usec('system_usec'), rssBytes, processes: procs };
  }

  /** Changes the limits of a running container (it was given more tasks, or fewer). */
  update(limits: CgroupLimits): void {
    if (limits.cpus !== undefined) {
      const shares = Math.max(2, Math.round(limits.cpus * 1024));
      if (this.layout.v2Controllers.has('cpu')) {
        writeFileSync(join(this.#track, 'cpu.weight'), String(Math.max(1, Math.min(10000, 1 + Math.round(((shares - 2) * 9999) / 262142)))));
        if (limits.cfs) writeFileSync(join(this.#track, 'cpu.max'), `${Math.max(1000, Math.round(limits.cpus * 100_000))} 100000`);
      } else if (this.#cpuV1) {
        writeFileSync(join(this.#cpuV1, 'cpu.shares'), String(shares));
        if (limits.cfs) writeFileSync(join(this.#cpuV1, 'cpu.cfs_quota_us'), String(Math.max(1000, Math.round(limits.cpus * 100_000))));
      }
    }
    if (limits.memMb !== undefined) {
      const bytes = String(Math.max(1, Math.round(limits.memMb)) * 1024 * 1024);
      if (this.#memoryV1) writeFileSync(join(this.#memoryV1, 'memory.limit_in_bytes'), bytes);
      else if (this.#memoryV2) writeFileSync(join(this.#memoryV2, 'memory.max'), bytes);
    }
  }

  /** SIGKILLs every process in the container, at once (`cgroup.kill`). */
  kill(): void {
    killGroup(this.#track, this.#memoryV1);
  }

  /** Kills what is left and removes the groups once they are empty; false when processes remain. */
  destroy(): boolean {
    return destroyGroups(this.#track, this.#dirs, this.#memoryV1);
  }
}

/**
 * SIGKILLs every process of the group whose v2 directory is `track`. A v1 memory group
 * (`memoryV1`) first gets its OOM killer back: processes stalled under OOM may need memory to die.
 */
function killGroup(track: string, memoryV1: string | undefined): void {
  if (memoryV1) {
    try {
      writeFileSync(join(memoryV1, 'memory.oom_control'), '0');
    } catch {
      /* gone */
    }
  }
  try {
    writeFileSync(join(track, 'cgroup.kill'), '1');
  } catch {
    /* already gone */
  }
}

/** Kills the group and, once `track` holds no process, removes `dirs` (children first); false while processes remain. */
function destroyGroups(track: string, dirs: readonly string[], memoryV1: string | undefined): boolean {
  killGroup(track, memoryV1);
  if ((read(join(track, 'cgroup.procs')) ?? '').trim() !== '') return false;
  for (const d of [...dirs].reverse()) {
    try {
      rmdirSync(d);
    } catch {
      /* not there */
    }
  }
  return true;
}

/**
 * The groups of containers under `base` (their names), as an earlier agent may have left them,
 * with a way to destroy each: every process killed, then the groups removed once empty.
 */
export function leftoverCgroups(layout: CgroupLayout, base: string): Array<{ name: string; destroy: () => boolean }> {
  if (!layout.v2) return [];
  const v2 = layout.v2;
  let names: string[] = [];
  try {
    names = readdirSync(join(v2, base), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return [];
  }
  return names.map((name) => {
    const track = join(v2, base, name);
    const dirOf = (root: string | undefined) => (root ? join(root, base, name) : undefined);
    const memoryV1 = dirOf(layout.memoryV1);
    // The v2 group is removed last, as for a container's own groups (made first).
    const dirs = [track, dirOf(layout.cpuV1), memoryV1].filter((d): d is string => d !== undefined && existsSync(d));
    return { name, destroy: () => destroyGroups(track, dirs, memoryV1 && existsSync(memoryV1) ? memoryV1 : undefined) };
  });
}

/** Enables `controllers` in `cgroup.subtree_control` from the root down to `<root>/<base>`. */
function enableControllers(root: string, base: string, controllers: string[]): void {
  if (controllers.length === 0) return;
  let dir = root;
  const line = controllers.map((c) => `+${c}`).join(' ');
  for (const part of ['', ...base.split('/').filter(Boolean)]) {
    if (part) {
      dir = join(dir, part);
      mkdirSync(dir, { recursive: true });
    }
    try {
      writeFileSync(join(dir, 'cgroup.subtree_control'), line);
    } catch {
      /* enabled already, or the host does not delegate them: limits will fail loudly */
    }
  }
}

/**
 * argv that enters the groups whose `cgroup.procs` are in `procsFiles` and then runs `argv`:
 * the process joins before it executes anything, so nothing it starts escapes.
 */
export function enterCgroupsArgv(procsFiles: readonly string[], argv: readonly string[]): string[] {
  const script = 'for f in "$@"; do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; shift; done; shift; exec "$@"';
  return ['/bin/sh', '-c', script, 'mesos-cgroups-enter', ...procsFiles, '--', ...argv];
}
