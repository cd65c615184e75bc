/**
 * The framework author's API: a `SchedulerDriver` that runs the scheduler-driver machine on the
 * bus and calls the framework's `Scheduler` callbacks. A scheduler can be a plain object of
 * callbacks or an XState actor (see {@link schedulerFromActor}).
 *
 * ```ts
 * const driver = await SchedulerDriver.connect(myScheduler, { name: 'pi', roles: ['*'] }, { nats, credential });
 * driver.stopOnSignals();
 * const status = await driver.run(); // the connection is closed: the process can end
 * ```
 *
 * `new SchedulerDriver(…, { transport, cluster, detector, logger })` runs on a bus the caller
 * opened (and closes).
 *
 * @see Mesos `MesosSchedulerDriver` and `Scheduler` (`include/mesos/scheduler.hpp`).
 */
import { randomUUID } from 'node:crypto';
import { constants as osConstants } from 'node:os';
import { waitFor, type AnyActorRef } from 'xstate';
import {
  createSchedulerDriverMachine,
  type DriverCall,
  type DriverCallback,
  type DriverFlags,
  type SchedulerDriverMachine,
} from '../actors/scheduler-driver/scheduler-driver.machine.ts';
import type { Filters, FrameworkInfo, MasterInfo, Offer, TaskInfo, TaskStatus } from '../protocols/records.ts';
import type { Resources } from '../protocols/resources.ts';
import { pid as makePid, toToken } from '../protocols/pid.ts';
import { depsFor, hostActor, type ActorHost } from './actor-host.ts';
import { realClock } from './clock.ts';
import type { Inspect } from './inspect.ts';
import type { Logger } from './log.ts';
import { openSchedulerBus, type ConnectOptions } from './scheduler-connection.ts';
import type { Clock, LeaderDetector, Transport } from './types.ts';

/**
 * A framework's scheduler: every callback is optional. Each receives the driver so it can answer
 * (launch on an offer, acknowledge, stop).
 * @see Mesos `Scheduler`.
 */
export interface Scheduler {
  registered?(driver: SchedulerDriver, frameworkId: string, master: MasterInfo): void;
  reregistered?(driver: SchedulerDriver, master: MasterInfo): void;
  disconnected?(driver: SchedulerDriver): void;
  resourceOffers?(driver: SchedulerDriver, offers: Offer[]): void;
  offerRescinded?(driver: SchedulerDriver, offerId: string): void;
  statusUpdate?(driver: SchedulerDriver, status: TaskStatus): void;
  frameworkMessage?(driver: SchedulerDriver, executorId: string, agentId: string, data: Uint8Array): void;
  agentLost?(driver: SchedulerDriver, agentId: string): void;
  executorLost?(driver: SchedulerDriver, executorId: string, agentId: string, status: number): void;
  error?(driver: SchedulerDriver, message: string): void;
  /** These tasks will be killed after `gracePeriodMs` so that another role gets its guarantee. */
  revocationScheduled?(driver: SchedulerDriver, tasks: Array<{ taskId: string; agentId: string }>, gracePeriodMs: number): void;
}

/** Where a driver ended. @see Mesos `Status` (`DRIVER_STOPPED`, `DRIVER_ABORTED`) */
export type DriverStatus = 'DRIVER_NOT_STARTED' | 'DRIVER_RUNNING' | 'DRIVER_STOPPED' | 'DRIVER_ABORTED';

/** What a driver needs from its process. */
export interface DriverOptions {
  transport: Transport;
  cluster: string;
  detector: LeaderDetector;
  logger: Logger;
  clock?: Clock;
  inspect?: Inspect;
  flags?: Partial<DriverFlags>;
  /**
   * Closes what the driver owns (the bus {@link SchedulerDriver.connect} opened) once it has
   * stopped or aborted; {@link SchedulerDriver.join} resolves after it.
   */
  release?: () => Promise<void>;
}

/** Options of {@link SchedulerDriver.stopOnSignals}. */
export interface StopOnSignalsOptions {
  /**
   * Leave the framework registered (its tasks keep running) so that a new scheduler subscribing
   * with its `FrameworkInfo.id` within `failoverTimeoutSeconds` takes it over. Default false:
   * the framework is torn down and its tasks killed.
   */
  failover?: boolean;
  /** Default SIGINT and SIGTERM. */
  signals?: readonly NodeJS.Signals[];
}

/** Runs a framework's scheduler against the leading master. */
export class SchedulerDriver {
  readonly pid: string;
  private host?: ActorHost<SchedulerDriverMachine>;
  private status: DriverStatus = 'DRIVER_NOT_STARTED';
  private ended?: Promise<DriverStatus>;
  /** Settles with the final status once the driver ended and released what it owns. */
  readonly #finished: Promise<DriverStatus>;
  #finish!: (s: DriverStatus) => void;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly framework: FrameworkInfo,
    private readonly opts: DriverOptions,
  ) {
    // The PID names the framework's principal: the bus lets only that principal's connections
    // publish as it, and the master checks it against `FrameworkInfo.principal`.
    this.pid = makePid(opts.cluster, 'scheduler', randomUUID().slice(0, 12), framework.principal !== undefined ? toToken(framework.principal) : undefined);
    this.#finished = new Promise((resolve) => (this.#finish = resolve));
  }

  /**
   * A driver on a bus of its own: connects to NATS as the framework's principal (its
   * `credential`, whose principal becomes `FrameworkInfo.principal`), or without one when
   * `insecure: true` says so (neither is refused with an `Error`). {@link SchedulerDriver.run},
   * {@link SchedulerDriver.stop} and an abort close the connection, so a process whose scheduler
   * stops its driver ends by itself.
   * @see Mesos `MesosSchedulerDriver(scheduler, framework, master, credential)`
   */
  static async connect(scheduler: Scheduler, framework: FrameworkInfo, opts: ConnectOptions = {}): Promise<SchedulerDriver> {
    const bus = await openSchedulerBus(framework, opts);
    return new SchedulerDriver(scheduler, bus.framework, {
      transport: bus.transport,
      cluster: bus.cluster,
      detector: bus.detector,
      logger: bus.logger,
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.inspect ? { inspect: opts.inspect } : {}),
      ...(opts.flags ? { flags: opts.flags } : {}),
      release: bus.close,
    });
  }

  /** The machine actor (for inspection and `waitFor`). */
  get actor() {
    return this.host?.actor;
  }

  /** The framework id, once registered. */
  get frameworkId(): string | undefined {
    return this.host?.actor.getSnapshot().context.frameworkId;
  }

  /** Starts the driver: it detects the leader and subscribes. */
  start(): DriverStatus {
    if (this.status !== 'DRIVER_NOT_STARTED') return this.status;
    const clock = this.opts.clock ?? realClock;
    this.host = hostActor(createSchedulerDriverMachine(depsFor(clock)), { self: this.pid, framework: this.framework, flags: this.opts.flags }, {
      pid: this.pid,
      transport: this.opts.transport,
      logger: this.opts.logger,
      clock,
      inspect: this.opts.inspect,
      onEmit: (ev) => this.deliver(ev as DriverCallback),
    });
    const actor = this.host.actor;
    this.ended = waitFor(actor, (s) => s.status === 'done', { timeout: Infinity }).then(
      (s) => (s.hasTag('aborted') ? 'DRIVER_ABORTED' : 'DRIVER_STOPPED') as DriverStatus,
      // Stopped from outside (the actor was stopped before reaching a final state).
      () => 'DRIVER_STOPPED' as DriverStatus,
    ).then(async (status) => {
      this.status = status;
      const release = this.opts.release;
      if (!release) {
        void this.opts.detector.stop();
      } else {
        // Whatever the machine sent last (a teardown) leaves before the bus it owns is closed.
        await this.opts.transport.flush().catch(() => {});
        this.#stopHost();
        await release().catch((err: unknown) => this.opts.logger.warn({ err }, 'closing the driver connection failed'));
      }
      this.#finish(status);
      return status;
    });
    this.opts.detector.start((leader) => {
      this.host?.send({ type: 'detector.leaderChanged', ...(leader ? { leader: { pid: leader.pid, epoch: leader.epoch } } : {}) });
    });
    this.status = 'DRIVER_RUNNING';
    return this.status;
  }

  /** Resolves when the driver is stopped or aborted (and what it owns is closed). */
  async join(): Promise<DriverStatus> {
    if (!this.ended) return this.status;
    return this.ended;
  }

  /** `start()` then `join()`. */
  async run(): Promise<DriverStatus> {
    this.start();
    return this.join();
  }

  /**
   * Stops the driver. With `failover` the framework stays registered (its tasks keep running) so
   * another scheduler can take over; without it the framework is torn down.
   */
  async stop(failover = false): Promise<DriverStatus> {
    if (!this.host) {
      // Never started: nothing to tell the master, only the bus to release.
      this.status = 'DRIVER_STOPPED';
      await this.opts.release?.();
      this.#finish(this.status);
      return this.status;
    }
    this.call({ type: 'driver.stop', failover });
    if (!this.opts.release) await this.opts.transport.flush();
    const s = await this.join();
    this.#stopHost();
    return s;
  }

  /**
   * Stops the driver on the first of `signals` (SIGINT, SIGTERM): tearing the framework down, or
   * with `failover` leaving it registered for a new scheduler to take over (see
   * {@link SchedulerDriver.stop}). A second signal ends the process at once. The handlers go
   * once the driver has ended. Returns a function that removes them.
   */
  stopOnSignals(opts: StopOnSignalsOptions = {}): () => void {
    const signals = opts.signals ?? ['SIGINT', 'SIGTERM'];
    const failover = opts.failover ?? false;
    let received = false;
    const handler = (signal: NodeJS.Signals) => {
      if (received) process.exit(128 + (osConstants.signals[signal] ?? 0));
      received = true;
      this.opts.logger.info({ signal, failover }, failover ? 'stopping on signal; the framework stays registered for failover' : 'stopping on signal; tearing the framework down');
      void this.stop(failover);
    };
    const remove = () => {
      for (const s of signals) process.off(s, handler);
    };
    for (const s of signals) process.on(s, handler);
    void this.#finished.then(remove);
    return remove;
  }

  #hostStopped = false;
  #stopHost(): void {
    if (this.#hostStopped) return;
    this.#hostStopped = true;
    this.host?.stop();
  }

  /** Launches `tasks` on the given offers (all from one agent); what is left is declined with `filters`. */
  launchTasks(offerIds: string[], tasks: TaskInfo[], filters?: Filters): void {
    this.call({ type: 'driver.launchTasks', offerIds, tasks, ...(filters ? { filters } : {}) });
  }

  /** Declines an offer, refusing its resources for `filters.refuseSeconds` (default 5 s). */
  declineOffer(offerId: string, filters?: Filters): void {
    this.call({ type: 'driver.declineOffer', offerId, ...(filters ? { filters } : {}) });
  }

  /** Declines many offers in one message (Mesos v1 `DECLINE` with several offer ids). */
  declineOffers(offerIds: string[], filters?: Filters): void {
    this.call({ type: 'driver.declineOffers', offerIds, ...(filters ? { filters } : {}) });
  }

  /** Asks the master to kill a task. */
  killTask(taskId: string): void {
    this.call({ type: 'driver.killTask', taskId });
  }

  /** Removes all filters and resumes offers. */
  reviveOffers(): void {
    this.call({ type: 'driver.reviveOffers' });
  }

  /** Stops offers until revived. */
  suppressOffers(): void {
    this.call({ type: 'driver.suppressOffers' });
  }

  /** Acknowledges a status update (only needed with `implicitAcknowledgements: false`). */
  acknowledgeStatusUpdate(status: TaskStatus): void {
    this.call({ type: 'driver.acknowledgeStatusUpdate', status });
  }

  /** Sends opaque data to an executor. */
  sendFrameworkMessage(executorId: string, agentId: string, data: Uint8Array): void {
    this.call({ type: 'driver.sendFrameworkMessage', executorId, agentId, data });
  }

  /** Asks for the latest state of tasks; an empty list reconciles all of them. */
  reconcileTasks(statuses: Array<{ taskId: string; agentId?: string }>): void {
    this.call({ type: 'driver.reconcileTasks', statuses });
  }

  /**
   * Tells the master what to offer this framework (the paper's requests): nothing smaller than
   * `minOffer`, never `excludedAgents`, `preferredAgents` (ids or hostnames) first. An empty request
   * clears it. @see `SchedulerDriver::requestResources`
   */
  requestResources(request: { minOffer?: Resources; preferredAgents?: string[]; excludedAgents?: string[] }): void {
    this.call({ type: 'driver.requestResources', request });
  }

  private call(c: DriverCall): void {
    if (!this.host) throw new Error('driver not started');
    this.host.send(c);
  }

  private deliver(cb: DriverCallback): void {
    const s = this.scheduler;
    try {
      switch (cb.type) {
        case 'callback.registered': s.registered?.(this, cb.frameworkId, cb.master); break;
        case 'callback.reregistered': s.reregistered?.(this, cb.master); break;
        case 'callback.disconnected': s.disconnected?.(this); break;
        case 'callback.resourceOffers': s.resourceOffers?.(this, cb.offers); break;
        case 'callback.offerRescinded': s.offerRescinded?.(this, cb.offerId); break;
        case 'callback.statusUpdate': s.statusUpdate?.(this, cb.status); break;
        case 'callback.frameworkMessage': s.frameworkMessage?.(this, cb.executorId, cb.agentId, cb.data); break;
        case 'callback.agentLost': s.agentLost?.(this, cb.agentId); break;
        case 'callback.executorLost': s.executorLost?.(this, cb.executorId, cb.agentId, cb.status); break;
        case 'callback.error': s.error?.(this, cb.message); break;
        case 'callback.revocationScheduled': s.revocationScheduled?.(this, cb.tasks, cb.gracePeriodMs); break;
        default: break;
      }
    } catch (err) {
      this.opts.logger.error({ err, callback: cb.type }, 'scheduler callback threw');
    }
  }
}

/**
 * Adapts a scheduler written as an XState actor: every callback is sent to `actor` as an event
 * (`{ type: 'registered', frameworkId, master }`, `{ type: 'resourceOffers', offers }`, …) with the
 * driver attached as `driver`, so the actor's actions can call `event.driver.launchTasks(…)`.
 */
export function schedulerFromActor(actor: AnyActorRef): Scheduler {
  return {
    registered: (driver, frameworkId, master) => actor.send({ type: 'registered', driver, frameworkId, master }),
    reregistered: (driver, master) => actor.send({ type: 'reregistered', driver, master }),
    disconnected: (driver) => actor.send({ type: 'disconnected', driver }),
    resourceOffers: (driver, offers) => actor.send({ type: 'resourceOffers', driver, offers }),
    offerRescinded: (driver, offerId) => actor.send({ type: 'offerRescinded', driver, offerId }),
    statusUpdate: (driver, status) => actor.send({ type: 'statusUpdate', driver, status }),
    frameworkMessage: (driver, executorId, agentId, data) => actor.send({ type: 'frameworkMessage', driver, executorId, agentId, data }),
    agentLost: (driver, agentId) => actor.send({ type: 'agentLost', driver, agentId }),
    executorLost: (driver, executorId, agentId, status) => actor.send({ type: 'executorLost', driver, executorId, agentId, status }),
    error: (driver, message) => actor.send({ type: 'error', driver, message }),
    revocationScheduled: (driver, tasks, gracePeriodMs) => actor.send({ type: 'revocationScheduled', driver, tasks, gracePeriodMs }),
  };
}
