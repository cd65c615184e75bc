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
import { pid as makePid } from '../protocols/pid.ts';
import { depsFor, hostActor, type ActorHost } from './actor-host.ts';
import { realClock } from './clock.ts';
import type { Inspect } from './inspect.ts';
import type { Logger } from './log.ts';
import type { Clock, Transport } from './types.ts';

/** An executor's callbacks; all optional. @see Mesos `Executor` */
export interface Executor {
  registered?(driver: ExecutorDriver, executor: ExecutorInfo, framework: FrameworkInfo, agent: AgentInfo): void;
  launchTask?(driver: ExecutorDriver, task: TaskInfo): void;
  killTask?(driver: ExecutorDriver, taskId: string): void;
  frameworkMessage?(driver: ExecutorDriver, data: Uint8Array): void;
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
  nats: string;
  cluster: string;
  directory: string;
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
    nats: need('MESOS_NATS'),
    cluster: need('MESOS_CLUSTER'),
    directory: env.MESOS_DIRECTORY ?? process.cwd(),
  };
}

/** Runs an executor against its agent. */
export class ExecutorDriver {
  readonly pid: string;
  private host?: ActorHost<ExecutorMachine>;

  constructor(
    private readonly executor: Executor,
    private readonly opts: { transport: Transport; env: ExecutorEnv; logger: Logger; clock?: Clock; inspect?: Inspect },
  ) {
    this.pid = makePid(opts.env.cluster, 'executor', opts.env.containerId.replace(/[^A-Za-z0-9_-]/g, '_'));
  }

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
    }, {
      pid: this.pid,
      transport: this.opts.transport,
      logger: this.opts.logger,
      clock,
      inspect: this.opts.inspect,
      onEmit: (ev) => this.deliver(ev as ExecutorCallback),
    });
  }

  /** Sends a task's status to the agent (at-least-once until acknowledged). */
  sendStatusUpdate(status: Omit<TaskStatus, 'timestamp'> & { timestamp?: number }): void {
    this.host?.send({ type: 'driver.sendStatusUpdate', status });
  }

  /** Sends opaque data to the framework's scheduler. */
  sendFrameworkMessage(data: Uint8Array): void {
    this.host?.send({ type: 'driver.sendFrameworkMessage', data });
  }

  /** Resolves once every status update sent so far is acknowledged (or after `timeoutMs`). */
  async awaitAcknowledgements(timeoutMs = 10_000): Promise<boolean> {
    if (!this.host) return true;
    try {
      await waitFor(this.host.actor, (s) => Object.keys(s.context.unacknowledged).length === 0, { timeout: timeoutMs });
      return true;
    } catch {
      return false;
    }
  }

  /** Stops the driver. */
  async stop(): Promise<void> {
    this.host?.send({ type: 'driver.stop' });
    await this.opts.transport.flush();
    this.host?.stop();
  }

  private deliver(cb: ExecutorCallback): void {
    const e = this.executor;
    try {
      switch (cb.type) {
        case 'callback.registered': e.registered?.(this, cb.executor, cb.framework, cb.agent); break;
        case 'callback.launchTask': e.launchTask?.(this, cb.task); break;
        case 'callback.killTask': e.killTask?.(this, cb.taskId); break;
        case 'callback.frameworkMessage': e.frameworkMessage?.(this, cb.data); break;
        case 'callback.shutdown': e.shutdown?.(this, cb.gracePeriodMs); break;
        case 'callback.error': e.error?.(this, cb.message); break;
        default: break;
      }
    } catch (err) {
      this.opts.logger.error({ err, callback: cb.type }, 'executor callback threw');
    }
  }
}
