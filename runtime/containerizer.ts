/**
 * The containerizer: runs each executor in a container — a process group of its own (and, with
 * cgroup isolation, control groups of its own) inside its sandbox directory, with stdout and stderr
 * written to `stdout` and `stderr` files there — and answers for it until it ends: waits for it,
 * reports what it uses, changes its limits, destroys it with every process in it (always by PID or
 * by group, never by name). A restarted agent recovers the containers its predecessor left running.
 *
 * The interface follows Mesos' containerizer: `recover`, `launch`, `update`, `usage`, `status`,
 * `wait` (here: the `onExit` of `launch` and `recover`), `destroy` (`kill`).
 *
 * @see Mesos `MesosContainerizer` with the `posix/*` and `cgroups/*` isolators.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, openSync, closeSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutorInfo, ResourceStatistics } from '../protocols/records.ts';
import type { Logger } from './log.ts';
import type { AgentCheckpoint, ContainerRecord } from './checkpoint.ts';
import { ContainerCgroups, enterCgroupsArgv, leftoverCgroups, type CgroupLayout } from './cgroups.ts';
import { directoryUsageBytes } from './gc.ts';
import { scalar, type Resources } from '../protocols/resources.ts';

/** What the agent asks to launch. */
export interface LaunchRequest {
  frameworkId: string;
  executorId: string;
  containerId: string;
  agentId: string;
  executor: ExecutorInfo;
  /** Run the built-in command executor instead of `executor.command`. */
  commandExecutor: boolean;
  /** Environment the executor driver needs to find its agent (`MESOS_*`). */
  env: Record<string, string>;
  /** What the container may use (the executor's resources and its first task's). */
  resources?: Resources;
  /** The OS user to run as, where the agent switches users. */
  user?: string;
}

/** A container this containerizer answers for. */
interface Container {
  osPid: number;
  /** The executor's process, when this containerizer started it (not one recovered). */
  child?: ChildProcess;
  directory: string;
  exited: boolean;
  whenExited: Promise<ContainerExit>;
  markExited: (exit: ContainerExit) => void;
  killTimer?: NodeJS.Timeout;
  /** Process groups found under the executor when the kill began. */
  groups?: Set<number>;
  /** Its control groups, with cgroup isolation. */
  cgroups?: ContainerCgroups;
  /** A limit it ran into (the agent reports it as the reason its tasks failed). */
  limitation?: ContainerLimitation;
  /** Timers watching it: memory, disk, and (recovered) its process. */
  watches: NodeJS.Timeout[];
  resources: Resources;
  commandExecutor: boolean;
}

/** A resource limit a container exceeded. */
export interface ContainerLimitation {
  reason: 'REASON_CONTAINER_LIMITATION_MEMORY' | 'REASON_CONTAINER_LIMITATION_DISK';
  message: string;
}

/** Cgroup isolation (`--isolation=cgroups/cpu,cgroups/mem`). */
export interface CgroupIsolation {
  layout: CgroupLayout;
  /** The groups' parent path in each hierarchy. */
  base: string;
  cpu: boolean;
  memory: boolean;
  /** Enforce `cpus` as a hard limit (`--cgroups_enable_cfs`). */
  cfs: boolean;
}

/** Disk isolation (`posix/disk`). */
export interface DiskIsolation {
  /** Destroy a container whose sandbox grows past its `disk` (`--enforce_container_disk_quota`). */
  enforce: boolean;
  /** How often sandboxes are measured (`--container_disk_watch_interval`). */
  watchIntervalMs: number;
}

/**
 * Memory the built-in command executor (a Node.js process) needs besides its task, added to the
 * container's limit: it runs in the task's container, as Mesos' command executor does with its
 * 32 MB.
 */
export const COMMAND_EXECUTOR_MEM_MB = 128;

/** How often a memory-limited container is checked for running out of memory. */
const OOM_CHECK_MS = 200;
/** How often a recovered container's process (not a child of this agent) is checked for its end. */
const RECOVERED_EXIT_CHECK_MS = 250;
/** A destroyed container's groups go once its last processes are reaped: tried this often, this many times. */
const DESTROY_RETRY_MS = 100;
const DESTROY_TRIES = 50;
/** Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`: 100 on Linux). */
const TICKS_PER_SECOND = 100;
const PAGE_BYTES = 4096;

/**
 * The fields of `/proc/<pid>/stat` from the third on (state, ppid, pgrp, …: the command name
 * before them may contain spaces), or `undefined` when the process does not exist.
 */
function statFields(pid: number | string): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** The start time of process `pid` in clock ticks since boot (field 22), or `undefined` when it does not exist. */
export function processStartTicks(pid: number): number | undefined {
  const f = statFields(pid);
  return f ? Number(f[19]) : undefined;
}

/** Whether the process recorded as `osPid` started at `startTicks` still runs (not a reused PID, not a zombie). */
export function isRunning(osPid: number, startTicks: number): boolean {
  const f = statFields(osPid);
  return f !== undefined && f[0] !== 'Z' && f[0] !== 'X' && Number(f[19]) === startTicks;
}

/** Sends `sig` to each process group in `groups` (by group id, never by name). */
function signalGroups(groups: Iterable<number>, sig: NodeJS.Signals): void {
  for (const g of groups) {
    try {
      process.kill(-g, sig);
    } catch {
      /* already gone */
    }
  }
}

/** What a container exceeding its memory limit of `limitMb` is told. */
function memoryLimitation(limitMb: number | undefined): ContainerLimitation {
  return { reason: 'REASON_CONTAINER_LIMITATION_MEMORY', message: `Memory limit exceeded: Requested: ${limitMb ?? '?'}MB` };
}

/** Every process in the tree rooted at `root` with its stat fields, read from `/proc` (Linux). */
function processTree(root: number): Map<number, string[]> {
  const children = new Map<number, number[]>();
  const fields = new Map<number, string[]>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return fields;
  }
  for (const d of entries) {
    if (!/^\d+$/.test(d)) continue;
    const rest = statFields(d);
    if (!rest) continue; // the process ended while we looked
    const pid = Number(d);
    fields.set(pid, rest);
    const ppid = Number(rest[1]);
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const tree = new Map<number, string[]>();
  const stack = [root];
  while (stack.length > 0) {
    const p = stack.pop()!;
    const f = fields.get(p);
    if (f) tree.set(p, f);
    stack.push(...(children.get(p) ?? []));
  }
  return tree;
}

/**
 * Every process group in the process tree rooted at `root`. Executors may start their tasks in
 * groups of their own (the command executor does), so signalling only the executor's group would
 * orphan them. @see Mesos `os::killtree` used by the POSIX launcher.
 */
export function processGroupsUnder(root: number): Set<number> {
  const groups = new Set<number>([root]);
  for (const f of processTree(root).values()) {
    const g = Number(f[2]);
    if (g > 1) groups.add(g);
  }
  return groups;
}

/** An OS user as the system's user database (NSS) knows it. */
export interface OsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** Looks `name` up (`getent passwd`, so LDAP and other NSS sources count); `undefined` when unknown. */
export function lookUpUser(name: string): OsUser | undefined {
  if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]*\$?$/.test(name)) return undefined;
  let line: string;
  try {
    line = execFileSync('getent', ['passwd', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
  const [user, , uid, gid, , home] = line.split('\n')[0]!.split(':');
  if (user === undefined || uid === undefined || gid === undefined) return undefined;
  return { name: user, uid: Number(uid), gid: Number(gid), home: home ?? '/' };
}

/** How a container ended. */
export interface ContainerExit {
  status: number;
  signal?: string;
  message?: string;
  limitation?: ContainerLimitation;
}

/** What the containerizer knows of a running container. @see Mesos `ContainerStatus` */
export interface ContainerState {
  containerId: string;
  osPid: number;
  directory: string;
  resources: Resources;
  /** The control groups it runs in (their v2 directory), with cgroup isolation. */
  cgroups: boolean;
}

/** What an agent needs from a containerizer. */
export interface Containerizer {
  /** Starts the executor; `onExit` is called exactly once when it ends or fails to start. Returns the sandbox. */
  launch(req: LaunchRequest, onExit: (exit: ContainerExit) => void): string;
  /** Stops a container: ask politely, force after `graceMs`; every process in it ends. */
  kill(containerId: string, graceMs: number): void;
  /** Kills every container and waits for them to end. */
  destroyAll(): Promise<void>;
  /** The container's limits follow its new resources (tasks were added to its executor). */
  update?(containerId: string, resources: Resources): void;
  /** What the container uses now; `undefined` for one that is not running. */
  usage?(containerId: string): ResourceStatistics | undefined;
  /** The container's process and sandbox; `undefined` for one that is not running. */
  status?(containerId: string): ContainerState | undefined;
  /** Resolves with how the container ended (at once, `undefined`, for one not running). */
  wait?(containerId: string): Promise<ContainerExit | undefined>;
  /** Kills every process of the container now and resolves once it ended. */
  destroy?(containerId: string): Promise<ContainerExit | undefined>;
}

/** What {@link PosixContainerizer.recover} did. */
export interface RecoveredContainers {
  /** Containers kept running and watched again. */
  recovered: string[];
  /** Containers destroyed: not kept, or left by an agent whose executors may not survive it. */
  destroyed: string[];
}

/** Launches, watches and destroys executor processes. */
export class PosixContainerizer implements Containerizer {
  private readonly containers = new Map<string, Container>();

  constructor(
    private readonly opts: {
      workDir: string;
      /** argv of the built-in command executor. */
      commandExecutor: string[];
      logger: Logger;
      /** Where each container's process is recorded while it runs, for {@link PosixContainerizer.recover}. */
      checkpoint?: AgentCheckpoint;
      /** Put each container in control groups of its own (limits, and no process escapes it). */
      cgroups?: CgroupIsolation;
      /** Measure sandboxes (and with `enforce`, destroy those over their `disk`). */
      disk?: DiskIsolation;
      /**
       * Run each container as the user its command or framework names (`--switch_user`); the
       * agent must be root. Without it, everything runs as the agent's user.
       */
      switchUser?: boolean;
    },
  ) {}

  /** The containers an earlier agent on this work dir recorded whose executor still runs. */
  runningRecords(): ContainerRecord[] {
    const cp = this.opts.checkpoint;
    if (!cp) return [];
    return cp.containers().records.filter((r) => isRunning(r.osPid, r.startTicks));
  }

  /**
   * Finds the executors of `expected` containers that run without a record — the agent died
   * between starting one and recording it — by the `MESOS_CONTAINER_ID` in their environment (the
   * process of the container whose parent is not in it), and records them, so that
   * {@link PosixContainerizer.recover} takes them over like any other. @returns the ids found.
   */
  recordUnrecorded(expected: ReadonlyArray<Omit<ContainerRecord, 'osPid' | 'startTicks'>>): string[] {
    const cp = this.opts.checkpoint;
    if (!cp || expected.length === 0) return [];
    const want = new Map(expected.map((e) => [e.containerId, e]));
    const containerOf = new Map<number, string>();
    const parentOf = new Map<number, number>();
    let entries: string[] = [];
    try {
      entries = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
    } catch {
      return [];
    }
    for (const d of entries) {
      let environ: string;
      try {
        environ = readFileSync(`/proc/${d}/environ`, 'latin1');
      } catch {
        continue;
      }
      const id = /(?:^|\0)MESOS_CONTAINER_ID=([^\0]*)/.exec(environ)?.[1];
      const f = statFields(d);
      if (!id || !want.has(id) || !f || f[0] === 'Z') continue;
      containerOf.set(Number(d), id);
      parentOf.set(Number(d), Number(f[1]));
    }
    const found: string[] = [];
    for (const [pid, id] of containerOf) {
      if (containerOf.get(parentOf.get(pid)!) === id) continue; // a process under the executor
      const startTicks = processStartTicks(pid);
      if (startTicks === undefined || found.includes(id)) continue;
      cp.saveContainer({ ...want.get(id)!, osPid: pid, startTicks });
      found.push(id);
      this.opts.logger.info({ containerId: id, osPid: pid }, 'found the executor of a container the earlier agent had not recorded yet');
    }
    return found;
  }

  /**
   * Takes over what an earlier agent on this work dir left running: each recorded container in
   * `keep` whose executor still runs is watched again (`onExit` when it ends) and can be killed,
   * measured and updated as if launched here; every other one is destroyed with every process
   * group under it — and, with cgroups, everything left in its groups, daemons that left the
   * executor's process tree included — and its record removed.
   */
  recover(opts: { keep?: ReadonlySet<string>; onExit?: (record: ContainerRecord, exit: ContainerExit) => void } = {}): RecoveredContainers {
    const result: RecoveredContainers = { recovered: [], destroyed: [] };
    const cp = this.opts.checkpoint;
    if (!cp) return result;
    const { records, unreadable } = cp.containers();
    for (const path of unreadable) this.opts.logger.warn({ path }, 'ignoring an unreadable container checkpoint');
    for (const r of records) {
      const running = isRunning(r.osPid, r.startTicks);
      if (running && opts.keep?.has(r.containerId)) {
        this.#adopt(r, (exit) => opts.onExit?.(r, exit));
        result.recovered.push(r.containerId);
        continue;
      }
      if (running) {
        signalGroups(processGroupsUnder(r.osPid), 'SIGKILL');
        result.destroyed.push(r.containerId);
        this.opts.logger.info({ containerId: r.containerId, frameworkId: r.frameworkId, executorId: r.executorId, osPid: r.osPid }, 'destroyed a container left by an earlier agent');
      }
      cp.removeContainer(r.containerId);
    }
    const iso = this.opts.cgroups;
    if (iso) {
      for (const g of leftoverCgroups(iso.layout, iso.base)) {
        if (this.containers.has(g.name)) continue;
        if (!result.destroyed.includes(g.name)) this.opts.logger.info({ cgroup: g.name }, 'destroying the control groups of a container an earlier agent left');
        if (!g.destroy()) this.#destroying.add(g);
      }
      this.#retryDestroying();
    }
    return result;
  }

  /** Watches a container an earlier agent started (not this process's child: its end is polled). */
  #adopt(r: ContainerRecord, onExit: (exit: ContainerExit) => void): void {
    const iso = this.opts.cgroups;
    const cgroups = iso ? new ContainerCgroups(iso.layout, iso.base, r.containerId, 'existing') : undefined;
    const c = this.#track(r.containerId, {
      osPid: r.osPid,
      directory: this.sandboxOf({ agentId: r.agentId ?? '', frameworkId: r.frameworkId, executorId: r.executorId, containerId: r.containerId }),
      resources: r.resources ?? [],
      commandExecutor: r.commandExecutor ?? false,
      ...(cgroups ? { cgroups } : {}),
    }, onExit);
    const poll = setInterval(() => {
      if (!isRunning(r.osPid, r.startTicks)) this.#ended(r.containerId, c, { status: -1, message: 'Executor exited; its exit status is unknown to the restarted agent' });
    }, RECOVERED_EXIT_CHECK_MS);
    poll.unref();
    c.watches.push(poll);
    this.opts.logger.info({ containerId: r.containerId, osPid: r.osPid }, 'recovered a container');
  }

  /** Resolves once the groups of every ended container are gone (or stopped going after 5 s). */
  async settled(): Promise<void> {
    for (let i = 0; i < DESTROY_TRIES && this.#destroyPass() > 0; i++) await new Promise((r) => setTimeout(r, DESTROY_RETRY_MS));
  }

  /** Keeps removing the groups still being destroyed, in the background. */
  #retryDestroying(tries = DESTROY_TRIES): void {
    if (this.#destroyPass() > 0 && tries > 0) setTimeout(() => this.#retryDestroying(tries - 1), DESTROY_RETRY_MS).unref();
  }

  /** One attempt at every group still being destroyed; how many are left. */
  #destroyPass(): number {
    for (const g of [...this.#destroying]) if (g.destroy()) this.#destroying.delete(g);
    return this.#destroying.size;
  }

  /** The sandbox of a container. */
  sandboxOf(req: Pick<LaunchRequest, 'agentId' | 'frameworkId' | 'executorId' | 'containerId'>): string {
    const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_');
    return join(this.opts.workDir, 'agents', safe(req.agentId), 'frameworks', safe(req.frameworkId), 'executors',
      safe(req.executorId), 'runs', safe(req.containerId));
  }

  /** Every executor run's sandbox under the work dir (each `runs/<container>` of every agent, framework and executor). */
  runDirectories(): string[] {
    const out: string[] = [];
    const sub = (dir: string) => {
      try {
        return readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(dir, d.name));
      } catch {
        return [];
      }
    };
    for (const a of sub(join(this.opts.workDir, 'agents'))) {
      for (const f of sub(join(a, 'frameworks'))) {
        for (const e of sub(join(f, 'executors'))) out.push(...sub(join(e, 'runs')));
      }
    }
    return out;
  }

  /** Starts the executor; `onExit` is called exactly once when it ends or fails to start. */
  launch(req: LaunchRequest, onExit: (exit: ContainerExit) => void): string {
    const directory = this.sandboxOf(req);
    let out: number | undefined;
    let err: number | undefined;
    try {
      const user = this.opts.switchUser && req.user ? lookUpUser(req.user) : undefined;
      if (this.opts.switchUser && req.user && !user) throw new Error(`user '${req.user}' does not exist on this agent's host`);
      mkdirSync(directory, { recursive: true });
      out = openSync(join(directory, 'stdout'), 'a');
      err = openSync(join(directory, 'stderr'), 'a');
      if (user) for (const p of [directory, join(directory, 'stdout'), join(directory, 'stderr')]) chownSync(p, user.uid, user.gid);
      const env: Record<string, string | undefined> = {
        ...process.env,
        ...req.executor.command.environment,
        ...req.env,
        MESOS_DIRECTORY: directory,
        MESOS_SANDBOX: directory,
        ...(user ? { USER: user.name, LOGNAME: user.name, HOME: user.home } : {}),
      };
      let argv = req.commandExecutor
        ? this.opts.commandExecutor
        : req.executor.command.shell === false
          ? [req.executor.command.value, ...(req.executor.command.arguments ?? [])]
          : ['/bin/sh', '-c', req.executor.command.value];
      if (user && req.commandExecutor) {
        // The command executor stays root to talk to its agent; the task it starts runs as the user.
        env.MESOS_TASK_UID = String(user.uid);
        env.MESOS_TASK_GID = String(user.gid);
      } else if (user) {
        // Privileges go after the process entered its groups (that needs root), before the executor runs.
        argv = ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--init-groups', '--', ...argv];
      }
      const cgroups = this.#cgroupsFor(req);
      if (cgroups) argv = enterCgroupsArgv(cgroups.procsFiles, argv);
      const child = spawn(argv[0]!, argv.slice(1), { cwd: directory, env, detached: true, stdio: ['ignore', out, err] });
      const c = this.#track(req.containerId, {
        osPid: child.pid ?? -1, child, directory, resources: req.resources ?? [], commandExecutor: req.commandExecutor, ...(cgroups ? { cgroups } : {}),
      }, onExit);
      const startTicks = child.pid !== undefined ? processStartTicks(child.pid) : undefined;
      if (this.opts.checkpoint && child.pid !== undefined && startTicks !== undefined) {
        try {
          this.opts.checkpoint.saveContainer({
            containerId: req.containerId, frameworkId: req.frameworkId, executorId: req.executorId, agentId: req.agentId,
            osPid: child.pid, startTicks, resources: req.resources ?? [], commandExecutor: req.commandExecutor,
          });
        } catch (e) {
          this.opts.logger.error({ containerId: req.containerId, err: e }, 'could not checkpoint the container: a restarted agent will not find it');
        }
      }
      child.on('error', (e) => this.#ended(req.containerId, c, { status: -1, message: `Failed to launch executor: ${e.message}` }));
      child.on('exit', (code, signal) => this.#ended(req.containerId, c, { status: code ?? 128, ...(signal ? { signal } : {}) }));
      this.opts.logger.info({ containerId: req.containerId, osPid: child.pid, directory }, 'launched executor');
    } catch (e) {
      onExit({ status: -1, message: `Failed to launch executor: ${(e as Error).message}` });
    } finally {
      if (out !== undefined) closeSync(out);
      if (err !== undefined) closeSync(err);
    }
    return directory;
  }

  /** Registers a running container and starts watching its memory and disk. */
  #track(
    containerId: string,
    init: Pick<Container, 'osPid' | 'directory' | 'resources' | 'commandExecutor'> & Partial<Pick<Container, 'child' | 'cgroups'>>,
    onExit: (exit: ContainerExit) => void,
  ): Container {
    let markExited!: (exit: ContainerExit) => void;
    const whenExited = new Promise<ContainerExit>((resolve) => (markExited = resolve));
    const c: Container = { ...init, exited: false, whenExited, markExited, watches: [] };
    this.#onExit.set(c, onExit);
    this.containers.set(containerId, c);
    const cg = c.cgroups;
    const limitMb = cg?.memoryLimitMb();
    if (cg && limitMb !== undefined && this.opts.cgroups?.memory) {
      c.watches.push(setInterval(() => {
        if (c.limitation || !cg.outOfMemory()) return;
        this.#limit(containerId, c, memoryLimitation(limitMb));
      }, OOM_CHECK_MS));
    }
    const disk = this.opts.disk;
    if (disk?.enforce) {
      c.watches.push(setInterval(() => {
        const limitMb = scalar(c.resources, 'disk');
        if (c.limitation || limitMb <= 0) return;
        const used = directoryUsageBytes(c.directory);
        if (used <= limitMb * 1024 * 1024) return;
        this.#limit(containerId, c, { reason: 'REASON_CONTAINER_LIMITATION_DISK', message: `Disk usage (${Math.round(used / (1024 * 1024))}MB) exceeds quota (${limitMb}MB)` });
      }, disk.watchIntervalMs));
    }
    for (const w of c.watches) w.unref();
    return c;
  }

  readonly #onExit = new WeakMap<Container, (exit: ContainerExit) => void>();

  /** A container ran into a limit: it is destroyed, and the limit is why its tasks fail. */
  #limit(containerId: string, c: Container, limitation: ContainerLimitation): void {
    c.limitation = limitation;
    this.opts.logger.warn({ containerId, reason: limitation.reason }, `${limitation.message}: destroying the container`);
    if (c.cgroups) c.cgroups.kill();
    else this.kill(containerId, 0);
  }

  /** The container's executor ended: its groups go, its record goes, and the agent is told once. */
  #ended(containerId: string, c: Container, exit: ContainerExit): void {
    if (c.exited) return;
    c.exited = true;
    for (const w of c.watches) clearInterval(w);
    if (c.cgroups) {
      // The kernel may have killed the whole group before a check saw it (cgroup v2).
      if (!c.limitation && c.cgroups.outOfMemory()) c.limitation = memoryLimitation(c.cgroups.memoryLimitMb());
      this.#destroyCgroups(c.cgroups);
    }
    if (c.limitation) exit = { ...exit, limitation: c.limitation, message: c.limitation.message };
    this.opts.checkpoint?.removeContainer(containerId);
    // A pending kill timer stays armed: it still has to reach groups the executor left.
    this.containers.delete(containerId);
    c.markExited(exit);
    this.#onExit.get(c)?.(exit);
  }

  /** The container's control groups, made and limited, with cgroup isolation. */
  #cgroupsFor(req: LaunchRequest): ContainerCgroups | undefined {
    const iso = this.opts.cgroups;
    if (!iso) return undefined;
    return new ContainerCgroups(iso.layout, iso.base, req.containerId, this.#limitsOf(req.resources ?? [], req.commandExecutor));
  }

  /** Cgroup limits for `resources`. */
  #limitsOf(resources: Resources, commandExecutor: boolean): { cpus?: number; memMb?: number; cfs: boolean } {
    const iso = this.opts.cgroups!;
    const cpus = scalar(resources, 'cpus');
    const mem = scalar(resources, 'mem') + (commandExecutor ? COMMAND_EXECUTOR_MEM_MB : 0);
    return { ...(iso.cpu && cpus > 0 ? { cpus } : {}), ...(iso.memory && mem > 0 ? { memMb: mem } : {}), cfs: iso.cfs };
  }

  /** The container now holds `resources` (its executor was given or finished tasks): limits follow. */
  update(containerId: string, resources: Resources): void {
    const c = this.containers.get(containerId);
    if (!c) return;
    c.resources = resources;
    try {
      c.cgroups?.update(this.#limitsOf(resources, c.commandExecutor));
    } catch (e) {
      this.opts.logger.warn({ containerId, err: e }, 'could not update the container\'s limits');
    }
  }

  /**
   * What the container uses: CPU time and memory from its control groups, or (posix) summed over
   * its executor's process tree; its sandbox's size on disk. @see Mesos `ResourceStatistics`
   */
  usage(containerId: string): ResourceStatistics | undefined {
    const c = this.containers.get(containerId);
    if (!c) return undefined;
    let userSecs = 0;
    let systemSecs = 0;
    let rssBytes = 0;
    let processes = 0;
    if (c.cgroups) {
      ({ userSecs, systemSecs, rssBytes, processes } = c.cgroups.usage());
    } else {
      for (const f of processTree(c.osPid).values()) {
        userSecs += Number(f[11]) / TICKS_PER_SECOND;
        systemSecs += Number(f[12]) / TICKS_PER_SECOND;
        rssBytes += Number(f[21]) * PAGE_BYTES;
        processes++;
      }
    }
    const cpus = scalar(c.resources, 'cpus');
    const memMb = scalar(c.resources, 'mem');
    const diskMb = scalar(c.resources, 'disk');
    const memLimitMb = c.cgroups?.memoryLimitMb() ?? (memMb > 0 ? memMb : undefined);
    return {
      timestamp: Date.now() / 1000,
      cpusUserTimeSecs: userSecs,
      cpusSystemTimeSecs: systemSecs,
      ...(cpus > 0 ? { cpusLimit: cpus } : {}),
      memRssBytes: rssBytes,
      ...(memLimitMb !== undefined ? { memLimitBytes: memLimitMb * 1024 * 1024 } : {}),
      ...(this.opts.disk ? { diskUsedBytes: directoryUsageBytes(c.directory) } : {}),
      ...(diskMb > 0 ? { diskLimitBytes: diskMb * 1024 * 1024 } : {}),
      processes,
    };
  }

  /** How the container ends. @see Mesos `Containerizer::wait` */
  async wait(containerId: string): Promise<ContainerExit | undefined> {
    return this.containers.get(containerId)?.whenExited;
  }

  /** Kills every process of the container now; how it ended. @see Mesos `Containerizer::destroy` */
  async destroy(containerId: string): Promise<ContainerExit | undefined> {
    const ended = this.containers.get(containerId)?.whenExited;
    this.kill(containerId, 0);
    return ended;
  }

  /** The container's process and sandbox. */
  status(containerId: string): ContainerState | undefined {
    const c = this.containers.get(containerId);
    if (!c) return undefined;
    return { containerId, osPid: c.osPid, directory: c.directory, resources: c.resources, cgroups: c.cgroups !== undefined };
  }

  /** Groups of ended containers still being removed (their last processes are dying). */
  readonly #destroying = new Set<{ destroy(): boolean }>();

  /** Kills whatever is left in the groups and removes them once empty (retrying while processes die). */
  #destroyCgroups(cg: ContainerCgroups): void {
    if (cg.destroy()) return;
    this.#destroying.add(cg);
    this.#retryDestroying();
  }

  /**
   * Stops a container: SIGTERM to every process group in its tree, SIGKILL to them after
   * `graceMs` (at once when `graceMs` is 0) — including groups the executor left behind.
   */
  kill(containerId: string, graceMs: number): void {
    const c = this.containers.get(containerId);
    if (!c || c.osPid <= 0) return;
    const pid = c.osPid;
    c.groups ??= new Set();
    for (const g of processGroupsUnder(pid)) c.groups.add(g);
    const signal = (sig: NodeJS.Signals) => signalGroups(c.groups!, sig);
    if (graceMs <= 0) {
      signal('SIGKILL');
      c.cgroups?.kill();
      return;
    }
    signal('SIGTERM');
    c.killTimer ??= setTimeout(() => {
      if (!c.exited) for (const g of processGroupsUnder(pid)) c.groups!.add(g);
      signal('SIGKILL');
      c.cgroups?.kill();
    }, graceMs);
    c.killTimer.unref();
  }

  /** Kills every container now and waits for them to exit. */
  async destroyAll(): Promise<void> {
    const waits = [...this.containers.values()].map((c) => c.whenExited);
    for (const id of [...this.containers.keys()]) this.kill(id, 0);
    await Promise.all(waits);
    // Their groups, and those of containers that ended before, go before the agent does (a
    // daemon may outlive its executor by a moment).
    await this.settled();
  }

  /** Stops watching every container and leaves them running (the agent stops; a restarted one recovers them). */
  release(): void {
    for (const c of this.containers.values()) for (const w of c.watches) clearInterval(w);
    this.containers.clear();
  }
}
