/**
 * The executor author's API: an `ExecutorDriver` that runs the executor machine on the bus and
 * calls the `Executor` callbacks. An executor process reads where its agent is from the `MESOS_*`
 * environment the agent sets ({@link executorEnv}).
 *
 * @see Mesos `MesosExecutorDriver` and `Executor` (`include/mesos/executor.hpp`).
 */
import { randomUUID } from 'node:crypto';
import { waitFor } from 'xstate';
import { createExecutorMachine, type ExecutorCallback, type ExecutorMachine } from '../actors/executor/executor.machine.ts';
import type { AgentInfo, ExecutorInfo, FrameworkInfo, TaskInfo, TaskStatus } from '../protocols/records.ts';
import { executorPid } from '../protocols/pid.ts';
import { depsFor, hostActor, type ActorHost } from './actor-host.ts';
import { realClock } from './clock.ts';
import type { Inspect } from './inspect.ts';
import { createLogger, type Logger } from './log.ts';
import type { Clock, Transport } from './types.ts';
import { ExecutorChannel, endpointFromEnv } from './executor-channel.ts';

/** An executor's callbacks; all optional. @see Mesos `Executor` */
export interface Executor {
  registered?(driver: ExecutorDriver, executor: ExecutorInfo, framework: FrameworkInfo, agent: AgentInfo): void;
  launchTask?(driver: ExecutorDriver, task: TaskInfo): void;
  killTask?(driver: ExecutorDriver, taskId: string): void;
  frameworkMessage?(driver: ExecutorDriver, data: Uint8Array): void;
  /** The agent exited; a checkpointing executor waits for it to come back. */
  disconnected?(driver: ExecutorDriver): void;
  /** A restarted agent took the executor back. */
  reregistered?(driver: ExecutorDriver, agent: AgentInfo): void;
  /** Stop every task and exit within `gracePeriodMs`. */
  shutdown?(driver: ExecutorDriver, gracePeriodMs: number): void;
  error?(driver: ExecutorDriver, message: string): void;
}

/** The environment an agent gives an executor process. */
export interface ExecutorEnv {
  agentPid: string;
  agentId: string;
  frameworkId: string;
  executorId: string;
  containerId: string;
  /** The agent's local channel (`MESOS_AGENT_ENDPOINT`) and this executor's token for it (`MESOS_EXECUTOR_TOKEN`). */
  endpoint: string;
  token: string;
  cluster: string;
  directory: string;
  /** The framework checkpoints: outlive the agent's process and wait for it to restart (`MESOS_CHECKPOINT=1`). */
  checkpoint: boolean;
  /** How long to wait for a restarted agent (`MESOS_RECOVERY_TIMEOUT_MS`). */
  recoveryTimeoutMs?: number;
  /** The agent's OS process, which started this one: its end is noticed (`MESOS_AGENT_OS_PID`). */
  agentOsPid?: number;
}

/** How often an executor looks whether its agent's process still runs. */
const AGENT_WATCH_MS = 500;

/** Whether process `pid` exists (signal 0 probes without signalling). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Reads {@link ExecutorEnv} from `MESOS_*` variables; throws naming the first missing one. */
export function executorEnv(env: NodeJS.ProcessEnv = process.env): ExecutorEnv {
  const need = (k: string) => {
    const v = env[k];
    if (!v) throw new Error(`missing environment variable ${k}: executors are started by a mesos-agent`);
    return v;
  };
  return {
    agentPid: need('MESOS_AGENT_PID'),
    agentId: env.MESOS_AGENT_ID ?? '',
    frameworkId: need('MESOS_FRAMEWORK_ID'),
    executorId: need('MESOS_EXECUTOR_ID'),
    containerId: env.MESOS_CONTAINER_ID ?? randomUUID(),
    endpoint: endpointFromEnv(need('MESOS_AGENT_ENDPOINT')),
    token: need('MESOS_EXECUTOR_TOKEN'),
    cluster: need('MESOS_CLUSTER'),
    directory: env.MESOS_DIRECTORY ?? process.cwd(),
    checkpoint: env.MESOS_CHECKPOINT === '1',
    ...(Number(env.MESOS_RECOVERY_TIMEOUT_MS) > 0 ? { recoveryTimeoutMs: Number(env.MESOS_RECOVERY_TIMEOUT_MS) } : {}),
    ...(Number(env.MESOS_AGENT_OS_PID) > 0 ? { agentOsPid: Number(env.MESOS_AGENT_OS_PID) } : {}),
  };
}

/** Options of {@link ExecutorDriver}; an executor the agent started needs none. */
export interface ExecutorDriverOptions {
  /** How to reach the agent; its local channel ({@link ExecutorChannel}) by default, closed by {@link ExecutorDriver.stop}. */
  transport?: Transport;
  /** Where the agent is; default {@link executorEnv}() (the `MESOS_*` environment the agent set). */
  env?: ExecutorEnv;
  /** Default: JSON lines on stderr (stdout is the tasks'), at `MESOS_LOG_LEVEL` else `info`. */
  logger?: Logger;
  clock?: Clock;
  inspect?: Inspect;
}

/** Runs an executor against its agent. */
export class ExecutorDriver {
  readonly pid: string;
  private host?: ActorHost<ExecutorMachine>;
  private agentWatch?: NodeJS.Timeout;

  private readonly opts: Required<Pick<ExecutorDriverOptions, 'env' | 'logger'>> & ExecutorDriverOptions;

  /** Reads where its agent is from the `MESOS_*` environment unless `opts.env` says (throws naming a missing variable). */
  constructor(
    private readonly executor: Executor,
    opts: ExecutorDriverOptions = {},
  ) {
    const env = opts.env ?? executorEnv();
    // stdout belongs to the tasks: an executor logs on stderr.
    const logger = opts.logger ?? createLogger({ name: 'executor', stderr: true, pretty: false, level: process.env.MESOS_LOG_LEVEL ?? 'info' });
    this.opts = { ...opts, env, logger };
    this.pid = executorPid(env.cluster, env.containerId);
    this.#ownTransport = opts.transport ? undefined : new ExecutorChannel({ endpoint: env.endpoint, containerId: env.containerId, token: env.token, logger });
    this.#transport = opts.transport ?? this.#ownTransport!;
    this.#stopped = new Promise((resolve) => (this.#resolveStopped = resolve));
  }

  readonly #transport: Transport;
  readonly #ownTransport: ExecutorChannel | undefined;
  readonly #stopped: Promise<void>;
  #resolveStopped!: () => void;

  /** The machine actor. */
  get actor() {
    return this.host?.actor;
  }

  /** Registers with the agent. */
  start(): void {
    const clock = this.opts.clock ?? realClock;
    const { env } = this.opts;
    this.host = hostActor(createExecutorMachine(depsFor(clock)), {
      self: this.pid, agentPid: env.agentPid, frameworkId: env.frameworkId, executorId: env.executorId,
      checkpoint: env.checkpoint, ...(env.recoveryTimeoutMs ? { recoveryTimeoutMs: env.recoveryTimeoutMs } : {}),
    }, {
      pid: this.pid,
      transport: this.#transport,
      logger: this.opts.logger,
      clock,
      inspect: this.opts.inspect,
      onEmit: (ev) => this.deliver(ev as ExecutorCallback),
    });
    // Started by the agent, this process is re-parented when the agent's process ends: that is
    // how its exit is noticed (Mesos' executors see the agent's socket close).
    if (env.agentOsPid !== undefined && process.ppid === env.agentOsPid) this.#watchAgent(env.agentOsPid);
  }

  /**
   * Tells the machine when the agent's OS process `osPid` ends: its parent, or (after a restart)
   * the agent it registered or re-registered with, whose process it then watches.
   */
  #watchAgent(osPid: number): void {
    clearInterval(this.agentWatch);
    const parent = process.ppid === osPid;
    this.agentWatch = setInterval(() => {
      if (parent ? process.ppid === osPid : processExists(osPid)) return;
      clearInterval(this.agentWatch);
      this.host?.send({ type: 'driver.agentExited' });
    }, AGENT_WATCH_MS);
    this.agentWatch.unref();
  }

  /** Sends a task's status to the agent (at-least-once until acknowledged). */
  sendStatusUpdate(status: Omit<TaskStatus, 'timestamp'> & { timestamp?: number }): void {
    this.host?.send({ type: 'driver.sendStatusUpdate', status });
  }

  /** Sends opaque data to the framework's scheduler. */
  sendFrameworkMessage(data: Uint8Array): void {
    this.host?.send({ type: 'driver.sendFrameworkMessage', data });
  }

  /**
   * Resolves once every status update sent so far is acknowledged, or after `timeoutMs` with the
   * agent there. While the agent is away (a checkpointing executor waiting for it to restart) the
   * wait goes on, up to the recovery timeout: the restarted agent takes the updates then.
   * @returns whether everything was acknowledged.
   */
  async awaitAcknowledgements(timeoutMs = 10_000): Promise<boolean> {
    const host = this.host;
    if (!host) return true;
    const done = waitFor(host.actor, (s) => Object.keys(s.context.unacknowledged).length === 0 || s.hasTag('abandoned') || s.status !== 'active', { timeout: Infinity })
      .then((s) => Object.keys(s.context.unacknowledged).length === 0, () => false);
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([done, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)))]);
      clearTimeout(timer);
      if (r !== 'timeout') return r;
      if (!host.actor.getSnapshot().hasTag('disconnected')) return false;
    }
  }

  /**
   * `start()`, then resolves once {@link ExecutorDriver.stop} has run (typically from the
   * executor's `shutdown` callback). The agent's channel is closed by then, so the process can end
   * by itself.
   */
  async run(): Promise<void> {
    if (!this.host) this.start();
    return this.#stopped;
  }

  /** Stops the driver and closes the channel it opened. */
  async stop(): Promise<void> {
    clearInterval(this.agentWatch);
    this.host?.send({ type: 'driver.stop' });
    await this.#transport.flush();
    this.host?.stop();
    await this.#ownTransport?.close();
    this.#resolveStopped();
  }

  private deliver(cb: ExecutorCallback): void {
    const e = this.executor;
    try {
      switch (cb.type) {
        case 'callback.registered':
          // Registered with an agent that is not its parent (it restarted before this executor
          // registered), the executor watches that agent's process instead.
          if (cb.agentOsPid !== undefined) this.#watchAgent(cb.agentOsPid);
          e.registered?.(this, cb.executor, cb.framework, cb.agent);
          break;
        case 'callback.launchTask': e.launchTask?.(this, cb.task); break;
        case 'callback.killTask': e.killTask?.(this, cb.taskId); break;
        case 'callback.frameworkMessage': e.frameworkMessage?.(this, cb.data); break;
        case 'callback.disconnected': e.disconnected?.(this); break;
        case 'callback.reregistered':
          if (cb.agentOsPid !== undefined) this.#watchAgent(cb.agentOsPid);
          e.reregistered?.(this, cb.agent);
          break;
        case 'callback.shutdown': e.shutdown?.(this, cb.gracePeriodMs); break;
        case 'callback.error': e.error?.(this, cb.message); break;
        default: break;
      }
    } catch (err) {
      this.opts.logger.error({ err, callback: cb.type }, 'executor callback threw');
    }
  }
}
