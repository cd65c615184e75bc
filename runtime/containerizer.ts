/**
 * The POSIX containerizer: runs an executor as a child process in its own process group, inside
 * its sandbox directory, with stdout and stderr written to `stdout` and `stderr` files there.
 * Killing sends SIGTERM to the group, then SIGKILL after the grace period — always by PID.
 *
 * @see Mesos `MesosContainerizer` with the `posix/cpu,posix/mem` isolators.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutorInfo } from '../protocols/records.ts';
import type { Logger } from './log.ts';
import type { AgentCheckpoint } from './checkpoint.ts';
import { ContainerCgroups, enterCgroupsArgv, leftoverCgroups, type CgroupLayout } from './cgroups.ts';
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
}

/** A running container. */
interface Container {
  child: ChildProcess;
  directory: string;
  exited: boolean;
  killTimer?: NodeJS.Timeout;
  /** Process groups found under the executor when the kill began. */
  groups?: Set<number>;
  /** Its control groups, with cgroup isolation. */
  cgroups?: ContainerCgroups;
  /** A limit it ran into (the agent reports it as the reason its tasks failed). */
  limitation?: ContainerLimitation;
  oomWatch?: NodeJS.Timeout;
}

/** A resource limit a container exceeded. */
export interface ContainerLimitation {
  reason: 'REASON_CONTAINER_LIMITATION_MEMORY';
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

/**
 * Memory the built-in command executor (a Node.js process) needs besides its task, added to the
 * container's limit: it runs in the task's container, as Mesos' command executor does with its
 * 32 MB.
 */
export const COMMAND_EXECUTOR_MEM_MB = 128;

/** How often a memory-limited container is checked for running out of memory. */
const OOM_CHECK_MS = 200;
/** A destroyed container's groups go once its last processes are reaped: tried this often, this many times. */
const DESTROY_RETRY_MS = 100;
const DESTROY_TRIES = 50;

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

/**
 * Every process group in the process tree rooted at `root`, read from `/proc` (Linux). Executors
 * may start their tasks in groups of their own (the command executor does), so signalling only
 * the executor's group would orphan them.
 * @see Mesos `os::killtree` used by the POSIX launcher.
 */
export function processGroupsUnder(root: number): Set<number> {
  const children = new Map<number, number[]>();
  const groupOf = new Map<number, number>();
  let entries: string[] = [];
  try {
    entries = readdirSync('/proc');
  } catch {
    return new Set([root]);
  }
  for (const d of entries) {
    if (!/^\d+$/.test(d)) continue;
    const rest = statFields(d);
    if (!rest) continue; // the process ended while we looked
    const pid = Number(d);
    const ppid = Number(rest[1]);
    groupOf.set(pid, Number(rest[2]));
    const list = children.get(ppid) ?? [];
    list.push(pid);
    children.set(ppid, list);
  }
  const groups = new Set<number>([root]);
  const stack = [root];
  while (stack.length > 0) {
    const p = stack.pop()!;
    const g = groupOf.get(p);
    if (g !== undefined && g > 1) groups.add(g);
    stack.push(...(children.get(p) ?? []));
  }
  return groups;
}

/** How a container ended. */
export interface ContainerExit {
  status: number;
  signal?: string;
  message?: string;
  limitation?: ContainerLimitation;
}

/** What an agent needs from a containerizer. */
export interface Containerizer {
  /** Starts the executor; `onExit` is called exactly once when it ends or fails to start. Returns the sandbox. */
  launch(req: LaunchRequest, onExit: (exit: ContainerExit) => void): string;
  /** Stops a container: ask politely, force after `graceMs`. */
  kill(containerId: string, graceMs: number): void;
  /** Kills every container and waits for them to end. */
  destroyAll(): Promise<void>;
}

/** Launches and destroys executor processes. */
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
    },
  ) {}

  /**
   * Destroys what an earlier agent on this work dir left running: every recorded container whose
   * process is still the one recorded (not a reused PID) is killed with every process group under
   * it, and its record removed. Executors are not reconnected yet, so none is kept.
   * @returns the containers destroyed.
   */
  recover(): string[] {
    const cp = this.opts.checkpoint;
    if (!cp) return [];
    const { records, unreadable } = cp.containers();
    for (const path of unreadable) this.opts.logger.warn({ path }, 'ignoring an unreadable container checkpoint');
    const destroyed: string[] = [];
    for (const r of records) {
      if (processStartTicks(r.osPid) === r.startTicks) {
        signalGroups(processGroupsUnder(r.osPid), 'SIGKILL');
        destroyed.push(r.containerId);
        this.opts.logger.info({ containerId: r.containerId, frameworkId: r.frameworkId, executorId: r.executorId, osPid: r.osPid }, 'destroyed a container left by an earlier agent');
      }
      cp.removeContainer(r.containerId);
    }
    // With cgroups, whatever is left in a container's groups — daemons that left the executor's
    // process tree included — is killed, and the groups removed.
    const iso = this.opts.cgroups;
    if (iso) {
      for (const g of leftoverCgroups(iso.layout, iso.base)) {
        if (!destroyed.includes(g.name)) this.opts.logger.info({ cgroup: g.name }, 'destroying the control groups of a container an earlier agent left');
        if (!g.destroy()) this.#destroying.add(g);
      }
      this.#retryDestroying();
    }
    return destroyed;
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

  /** Starts the executor; `onExit` is called exactly once when it ends or fails to start. */
  launch(req: LaunchRequest, onExit: (exit: ContainerExit) => void): string {
    const directory = this.sandboxOf(req);
    let out: number | undefined;
    let err: number | undefined;
    try {
      mkdirSync(directory, { recursive: true });
      out = openSync(join(directory, 'stdout'), 'a');
      err = openSync(join(directory, 'stderr'), 'a');
      const env = {
        ...process.env,
        ...req.executor.command.environment,
        ...req.env,
        MESOS_DIRECTORY: directory,
        MESOS_SANDBOX: directory,
      };
      let argv = req.commandExecutor
        ? this.opts.commandExecutor
        : req.executor.command.shell === false
          ? [req.executor.command.value, ...(req.executor.command.arguments ?? [])]
          : ['/bin/sh', '-c', req.executor.command.value];
      const cgroups = this.#cgroupsFor(req);
      if (cgroups) argv = enterCgroupsArgv(cgroups.procsFiles, argv);
      const child = spawn(argv[0]!, argv.slice(1), { cwd: directory, env, detached: true, stdio: ['ignore', out, err] });
      const c: Container = { child, directory, exited: false, ...(cgroups ? { cgroups } : {}) };
      const limitMb = cgroups?.memoryLimitMb();
      if (cgroups && limitMb !== undefined && this.opts.cgroups?.memory) {
        c.oomWatch = setInterval(() => {
          if (c.limitation || !cgroups.outOfMemory()) return;
          c.limitation = memoryLimitation(limitMb);
          this.opts.logger.warn({ containerId: req.containerId, limitMb }, 'container ran out of memory: destroying it');
          cgroups.kill();
        }, OOM_CHECK_MS);
        c.oomWatch.unref();
      }
      this.containers.set(req.containerId, c);
      const startTicks = child.pid !== undefined ? processStartTicks(child.pid) : undefined;
      if (this.opts.checkpoint && child.pid !== undefined && startTicks !== undefined) {
        try {
          this.opts.checkpoint.saveContainer({ containerId: req.containerId, frameworkId: req.frameworkId, executorId: req.executorId, osPid: child.pid, startTicks });
        } catch (e) {
          this.opts.logger.error({ containerId: req.containerId, err: e }, 'could not checkpoint the container: a restarted agent will not find it');
        }
      }
      const done = (exit: ContainerExit) => {
        if (c.exited) return;
        c.exited = true;
        if (c.oomWatch) clearInterval(c.oomWatch);
        if (c.cgroups) {
          // The kernel may have killed the whole group before a check saw it (cgroup v2).
          if (!c.limitation && c.cgroups.outOfMemory()) {
            c.limitation = memoryLimitation(c.cgroups.memoryLimitMb());
          }
          this.#destroyCgroups(c.cgroups);
        }
        if (c.limitation) exit = { ...exit, limitation: c.limitation, message: c.limitation.message };
        this.opts.checkpoint?.removeContainer(req.containerId);
        // A pending kill timer stays armed: it still has to reach groups the executor left.
        this.containers.delete(req.containerId);
        onExit(exit);
      };
      child.on('error', (e) => done({ status: -1, message: `Failed to launch executor: ${e.message}` }));
      child.on('exit', (code, signal) => done({ status: code ?? 128, ...(signal ? { signal } : {}) }));
      this.opts.logger.info({ containerId: req.containerId, osPid: child.pid, directory }, 'launched executor');
    } catch (e) {
      onExit({ status: -1, message: `Failed to launch executor: ${(e as Error).message}` });
    } finally {
      if (out !== undefined) closeSync(out);
      if (err !== undefined) closeSync(err);
    }
    return directory;
  }

  /** The container's control groups, made and limited, with cgroup isolation. */
  #cgroupsFor(req: LaunchRequest): ContainerCgroups | undefined {
    const iso = this.opts.cgroups;
    if (!iso) return undefined;
    const r = req.resources ?? [];
    const cpus = scalar(r, 'cpus');
    const mem = scalar(r, 'mem') + (req.commandExecutor ? COMMAND_EXECUTOR_MEM_MB : 0);
    return new ContainerCgroups(iso.layout, iso.base, req.containerId, {
      ...(iso.cpu && cpus > 0 ? { cpus } : {}),
      ...(iso.memory && mem > 0 ? { memMb: mem } : {}),
      cfs: iso.cfs,
    });
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
    if (!c || c.child.pid === undefined) return;
    const pid = c.child.pid;
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
    const waits = [...this.containers.values()].map(
      (c) => new Promise<void>((resolve) => {
        if (c.exited) return resolve();
        c.child.once('exit', () => resolve());
      }),
    );
    for (const id of [...this.containers.keys()]) this.kill(id, 0);
    await Promise.all(waits);
    // Their groups, and those of containers that ended before, go before the agent does (a
    // daemon may outlive its executor by a moment).
    await this.settled();
  }
}
