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
import { processStartTicks, type AgentCheckpoint } from './checkpoint.ts';

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
}

/** A running container. */
interface Container {
  child: ChildProcess;
  directory: string;
  exited: boolean;
  killTimer?: NodeJS.Timeout;
  /** Process groups found under the executor when the kill began. */
  groups?: Set<number>;
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
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // Fields after the command name: state ppid pgrp …
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const pid = Number(d);
      const ppid = Number(rest[1]);
      groupOf.set(pid, Number(rest[2]));
      const list = children.get(ppid) ?? [];
      list.push(pid);
      children.set(ppid, list);
    } catch {
      /* the process ended while we looked */
    }
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
        for (const g of processGroupsUnder(r.osPid)) {
          try {
            process.kill(-g, 'SIGKILL');
          } catch {
            /* already gone */
          }
        }
        destroyed.push(r.containerId);
        this.opts.logger.info({ containerId: r.containerId, frameworkId: r.frameworkId, executorId: r.executorId, osPid: r.osPid }, 'destroyed a container left by an earlier agent');
      }
      cp.removeContainer(r.containerId);
    }
    return destroyed;
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
      const child = req.commandExecutor
        ? spawn(this.opts.commandExecutor[0]!, this.opts.commandExecutor.slice(1), { cwd: directory, env, detached: true, stdio: ['ignore', out, err] })
        : req.executor.command.shell === false
          ? spawn(req.executor.command.value, req.executor.command.arguments ?? [], { cwd: directory, env, detached: true, stdio: ['ignore', out, err] })
          : spawn('/bin/sh', ['-c', req.executor.command.value], { cwd: directory, env, detached: true, stdio: ['ignore', out, err] });
      const c: Container = { child, directory, exited: false };
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
    const signal = (sig: NodeJS.Signals) => {
      for (const g of c.groups!) {
        try {
          process.kill(-g, sig);
        } catch {
          /* already gone */
        }
      }
    };
    if (graceMs <= 0) {
      signal('SIGKILL');
      return;
    }
    signal('SIGTERM');
    c.killTimer ??= setTimeout(() => {
      if (!c.exited) for (const g of processGroupsUnder(pid)) c.groups!.add(g);
      signal('SIGKILL');
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
  }
}
