/**
 * The built-in command executor: runs one task's shell command in the sandbox and reports
 * TASK_STARTING → TASK_RUNNING → TASK_FINISHED (exit 0) or TASK_FAILED ("Command exited with
 * status N"), or TASK_KILLED after a kill. The command inherits the executor's stdout and stderr,
 * which the agent points at the sandbox's `stdout` and `stderr` files.
 *
 * @see Mesos `src/launcher/executor.cpp` (`CommandExecutor`).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import type { TaskInfo } from '../protocols/records.ts';
import type { Executor, ExecutorDriver } from './executor-driver.ts';
import type { Logger } from './log.ts';

/** Grace period between SIGTERM and SIGKILL when a task without a kill policy is killed. @see `KillPolicy.grace_period` */
export const DEFAULT_KILL_GRACE_MS = 3000;

/** Runs exactly one command task, then resolves {@link CommandExecutor.done}. */
export class CommandExecutor implements Executor {
  private child?: ChildProcess;
  private task?: TaskInfo;
  private killed = false;
  private killTimer?: NodeJS.Timeout;
  private finish!: () => void;
  /** Resolves when the task has ended and its terminal update was sent. */
  readonly done = new Promise<void>((resolve) => (this.finish = resolve));

  constructor(private readonly opts: { cwd: string; logger: Logger; killGraceMs?: number }) {}

  launchTask(driver: ExecutorDriver, task: TaskInfo): void {
    if (this.task) {
      driver.sendStatusUpdate({ taskId: task.taskId, state: 'TASK_ERROR', message: 'The command executor runs exactly one task' });
      return;
    }
    this.task = task;
    const command = task.command;
    if (!command) {
      driver.sendStatusUpdate({ taskId: task.taskId, state: 'TASK_FAILED', message: 'Task has no command' });
      this.finish();
      return;
    }
    driver.sendStatusUpdate({ taskId: task.taskId, state: 'TASK_STARTING' });
    const { MESOS_TASK_UID, MESOS_TASK_GID, ...inherited } = process.env;
    const env = { ...inherited, ...command.environment };
    // The agent names the user the task runs as (`--switch_user`); the executor itself stays root.
    const ids = MESOS_TASK_UID !== undefined && MESOS_TASK_GID !== undefined ? { uid: Number(MESOS_TASK_UID), gid: Number(MESOS_TASK_GID) } : {};
    const opts: SpawnOptions = { cwd: this.opts.cwd, env, stdio: ['ignore', 'inherit', 'inherit'], detached: true, ...ids };
    const child = command.shell === false
      ? spawn(command.value, command.arguments ?? [], opts)
      : spawn('/bin/sh', ['-c', command.value], opts);
    this.child = child;
    let reported = false;
    const end = (state: 'TASK_FINISHED' | 'TASK_FAILED' | 'TASK_KILLED', message: string) => {
      if (reported) return;
      reported = true;
      if (this.killTimer) clearTimeout(this.killTimer);
      driver.sendStatusUpdate({ taskId: task.taskId, state, message });
      this.finish();
    };
    child.on('spawn', () => {
      this.opts.logger.info({ taskId: task.taskId, osPid: child.pid }, 'started command');
      driver.sendStatusUpdate({ taskId: task.taskId, state: 'TASK_RUNNING', message: `Command started with pid ${child.pid}` });
    });
    child.on('error', (e) => end('TASK_FAILED', `Failed to start command: ${e.message}`));
    child.on('exit', (code, signal) => {
      if (this.killed) end('TASK_KILLED', 'Command terminated by a kill');
      else if (code === 0) end('TASK_FINISHED', 'Command exited with status 0');
      else if (code !== null) end('TASK_FAILED', `Command exited with status ${code}`);
      else end('TASK_FAILED', `Command terminated with signal ${signal}`);
    });
  }

  killTask(driver: ExecutorDriver, taskId: string): void {
    if (!this.task || this.task.taskId !== taskId) return;
    const policy = this.task.killPolicy?.gracePeriodSeconds;
    this.stopChild(policy !== undefined ? policy * 1000 : (this.opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS));
    if (!this.child) {
      driver.sendStatusUpdate({ taskId, state: 'TASK_KILLED', message: 'Killed before start' });
      this.finish();
    }
  }

  shutdown(driver: ExecutorDriver, gracePeriodMs: number): void {
    if (this.task && this.child) this.stopChild(Math.max(0, gracePeriodMs - 500));
    else this.finish();
    void driver;
  }

  /** SIGTERM to the command's process group, SIGKILL after `graceMs`. */
  private stopChild(graceMs: number): void {
    const pid = this.child?.pid;
    if (pid === undefined || this.killed) return;
    this.killed = true;
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig);
      } catch {
        /* already gone */
      }
    };
    signal('SIGTERM');
    this.killTimer = setTimeout(() => signal('SIGKILL'), graceMs);
  }
}
