/**
 * The POSIX containerizer: runs an executor as a child process in its own process group, inside
 * its sandbox directory, with stdout and stderr written to `stdout` and `stderr` files there.
 * Killing sends SIGTERM to the group, then SIGKILL after the grace period — always by PID.
 *
 * @see Mesos `MesosContainerizer` with the `posix/cpu,posix/mem` isolators.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutorInfo } from '../protocols/records.ts';
import type { Logger } from './log.ts';

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
    },
  ) {}

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
      const done = (exit: ContainerExit) => {
        if (c.exited) return;
        c.exited = true;
        if (c.killTimer) clearTimeout(c.killTimer);
        this.containers.delete(req.containerId);
        onExit(exit);
      };
      child.on('error', (e) => done({ status: -1, message: `Failed to launch executor: ${e.message}` }));
      child.on('exit', (code, signal) => done({ status: code ?? 128, ...(signal ? { signal } : {}) }));
      this.opts.logger.info({ containerId: req.containerId, pid: child.pid, directory }, 'launched executor');
    } catch (e) {
      onExit({ status: -1, message: `Failed to launch executor: ${(e as Error).message}` });
    } finally {
      if (out !== undefined) closeSync(out);
      if (err !== undefined) closeSync(err);
    }
    return directory;
  }

  /** Stops a container: SIGTERM to its process group, SIGKILL after `graceMs`. */
  kill(containerId: string, graceMs: number): void {
    const c = this.containers.get(containerId);
    if (!c || c.exited || c.child.pid === undefined) return;
    const pid = c.child.pid;
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig);
      } catch {
        /* already gone */
      }
    };
    if (graceMs <= 0) {
      signal('SIGKILL');
      return;
    }
    signal('SIGTERM');
    c.killTimer ??= setTimeout(() => signal('SIGKILL'), graceMs);
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
