/**
 * A whole cluster in one process on simulated time: master, agents,
 * in-process executors and scheduler drivers over the in-memory bus, a `SimClock` driving every
 * `after` timer, and the in-memory lease. `settle()` drains messages, `advance(ms)` moves time in
 * small steps and settles after each, like Mesos' `Clock::advance` + `Clock::settle`.
 */
import { v1Event } from '../../runtime/http/operator-events.ts';
import { Packr } from 'msgpackr';
import { MemoryBus, type BusMessage } from '../../runtime/transport-memory.ts';
import { SimClock } from '../../runtime/clock.ts';
import { MemoryLeaseStore } from '../../runtime/lease-memory.ts';
import { startMaster, type MasterHandle } from '../../runtime/master.ts';
import { MemoryRegistry } from '../../runtime/registry.ts';
import { startAgent, type AgentHandle } from '../../runtime/agent.ts';
import { ExecutorDriver, type Executor } from '../../runtime/executor-driver.ts';
import type { Containerizer, ContainerExit, LaunchRequest } from '../../runtime/containerizer.ts';
import { SchedulerDriver, type Scheduler } from '../../runtime/scheduler-driver.ts';
import { silentLogger } from '../../runtime/log.ts';
import { parseResources } from '../../protocols/resources.ts';
import type { FrameworkInfo, Offer, TaskInfo, TaskStatus } from '../../protocols/records.ts';
import type { MasterFlags, OperatorEvent } from '../../actors/master/state.ts';
import type { AgentFlags } from '../../actors/agent/state.ts';
import type { DriverFlags } from '../../actors/scheduler-driver/scheduler-driver.machine.ts';
import { Codec, envelope } from '../../protocols/envelope.ts';
import { pid, subjectFor } from '../../protocols/pid.ts';
import type { Message } from '../../protocols/messages.ts';

/** A command task on `offer`'s agent (the simulated executor runs it: `exit N` ends, anything else runs until killed). */
export function commandTask(offer: Offer, id: string, command: string, resources = 'cpus:1;mem:128'): TaskInfo {
  return { taskId: id, name: id, agentId: offer.agentId, resources: parseResources(resources), command: { value: command } };
}

/** The default test agent of Mesos' suite. */
export const TEST_AGENT_RESOURCES = 'cpus:2;gpus:0;mem:1024;disk:1024;ports:[31000-32000]';

const flushMicrotasks = () => new Promise<void>((resolve) => setImmediate(resolve));
const unpacker = new Packr({ useRecords: false, variableMapSize: true });

/** Decodes a bus message's envelope (for interceptors and filters). */
export function envelopeOf(m: BusMessage): { type: string; from: string; body: any } {
  return unpacker.unpack(m.data) as { type: string; from: string; body: any };
}

/**
 * How a simulated executor behaves for a task, chosen by the task's command: `exit N` ends with
 * FINISHED (N = 0) or FAILED; anything else runs until killed.
 */
class SimExecutor implements Executor {
  constructor(private readonly exit: (e: ContainerExit) => void) {}
  launchTask(driver: ExecutorDriver, task: { taskId: string; command?: { value: string } }): void {
    driver.sendStatusUpdate({ taskId: task.taskId, state: 'TASK_STARTING' });
    driver.sendStatusUpdate({ taskId: task.taskId, state: 'TASK_RUNNING' });
    const m = /^exit (\d+)$/.exec(task.command?.value ?? '');
    if (m) {
      const code = Number(m[1]);
      driver.sendStatusUpdate({ taskId: task.taskId, state: code === 0 ? 'TASK_FINISHED' : 'TASK_FAILED', message: `Command exited with status ${code}` });
    }
  }
  killTask(driver: ExecutorDriver, taskId: string): void {
    driver.sendStatusUpdate({ taskId, state: 'TASK_KILLED' });
  }
  shutdown(): void {
    this.exit({ status: 0 });
  }
}

/** Runs executors in-process on the bus; records launches and kills. */
export class SimContainerizer implements Containerizer {
  readonly launched: LaunchRequest[] = [];
  readonly killed: string[] = [];
  /** When false, launched executors never register (to test registration timeouts). */
  register = true;
  /** When true, launched executors wait for {@link SimContainerizer.releaseRegistrations}. */
  holdRegistrations = false;
  private readonly held: ExecutorDriver[] = [];
  private readonly running = new Map<string, { driver: ExecutorDriver; onExit: (e: ContainerExit) => void }>();
  constructor(private readonly sim: SimCluster) {}

  launch(req: LaunchRequest, onExit: (exit: ContainerExit) => void): string {
    this.launched.push(req);
    let exited = false;
    const exit = (e: ContainerExit) => {
      if (exited) return;
      exited = true;
      const r = this.running.get(req.containerId);
      this.running.delete(req.containerId);
      void r?.driver.stop();
      queueMicrotask(() => onExit(e));
    };
    const driver = new ExecutorDriver(new SimExecutor(exit), {
      transport: this.sim.bus.transport(),
      clock: this.sim.clock,
      logger: silentLogger(),
      env: {
        agentPid: req.env.MESOS_AGENT_PID!,
        agentId: req.agentId,
        frameworkId: req.frameworkId,
        executorId: req.executorId,
        containerId: req.containerId,
        endpoint: '',
        token: '',
        cluster: this.sim.cluster,
        checkpoint: req.env.MESOS_CHECKPOINT === '1',
        directory: `/sandbox/${req.containerId}`,
      },
    });
    this.running.set(req.containerId, { driver, onExit: exit });
    if (this.holdRegistrations) this.held.push(driver);
    else if (this.register) driver.start();
    return `/sandbox/${req.containerId}`;
  }

  /** Lets held executors register. */
  releaseRegistrations(): void {
    this.holdRegistrations = false;
    for (const d of this.held.splice(0)) d.start();
  }

  kill(containerId: string): void {
    this.killed.push(containerId);
    this.running.get(containerId)?.onExit({ status: 137, signal: 'SIGKILL' });
  }

  /** Makes an executor exit as if its process died. */
  crash(containerId: string, status = 1): void {
    this.running.get(containerId)?.onExit({ status });
  }

  async destroyAll(): Promise<void> {
    for (const id of [...this.running.keys()]) this.kill(id);
  }
}

/** A recording scheduler: keeps every callback for assertions and lets tests react. */
export class RecordingScheduler implements Scheduler {
  frameworkId?: string;
  offers: Offer[] = [];
  rescinded: string[] = [];
  updates: TaskStatus[] = [];
  errors: string[] = [];
  lostAgents: string[] = [];
  revocations: Array<{ tasks: Array<{ taskId: string; agentId: string }>; gracePeriodMs: number }> = [];
  disconnects = 0;
  onOffers?: (driver: SchedulerDriver, offers: Offer[]) => void;
  registered(_d: SchedulerDriver, frameworkId: string): void {
    this.frameworkId = frameworkId;
  }
  disconnected(): void {
    this.disconnects += 1;
  }
  resourceOffers(driver: SchedulerDriver, offers: Offer[]): void {
    this.offers.push(...offers);
    this.onOffers?.(driver, offers);
  }
  offerRescinded(_d: SchedulerDriver, offerId: string): void {
    this.rescinded.push(offerId);
  }
  statusUpdate(_d: SchedulerDriver, status: TaskStatus): void {
    this.updates.push(status);
  }
  agentLost(_d: SchedulerDriver, agentId: string): void {
    this.lostAgents.push(agentId);
  }
  error(_d: SchedulerDriver, message: string): void {
    this.errors.push(message);
  }
  revocationScheduled(_d: SchedulerDriver, tasks: Array<{ taskId: string; agentId: string }>, gracePeriodMs: number): void {
    this.revocations.push({ tasks, gracePeriodMs });
  }
  /** States seen for `taskId`, in order. */
  statesOf(taskId: string): string[] {
    return this.updates.filter((u) => u.taskId === taskId).map((u) => u.state);
  }
  /** Takes (and forgets) the offers received so far. */
  takeOffers(): Offer[] {
    const o = this.offers;
    this.offers = [];
    return o;
  }
}

/** Options for {@link SimCluster.start}. */
export interface SimOptions {
  agents?: number;
  agentResources?: string;
  masterFlags?: Partial<MasterFlags>;
  agentFlags?: Partial<AgentFlags>;
  /** The bus's payload limit (NATS' `max_payload`); 1 MiB by default. */
  maxPayload?: number;
}

/** A simulated cluster. */
export class SimCluster {
  readonly cluster = 'sim';
  readonly clock = new SimClock();
  readonly bus: MemoryBus;
  readonly lease = new MemoryLeaseStore();
  /** The registry every master of the simulation shares (JetStream KV in a real cluster). */
  readonly registry = new MemoryRegistry();
  readonly containerizer = new SimContainerizer(this);
  master!: MasterHandle;
  /** Every master started, the first included. */
  readonly masters: MasterHandle[] = [];
  #masterFlags: Partial<MasterFlags> | undefined;
  readonly agents: AgentHandle[] = [];
  readonly drivers: SchedulerDriver[] = [];

  constructor(opts: { maxPayload?: number } = {}) {
    this.bus = new MemoryBus({ manual: true, clock: this.clock, ...(opts.maxPayload ? { maxPayload: opts.maxPayload } : {}) });
  }

  /** Starts a master (elected) and `agents` registered agents. */
  static async start(opts: SimOptions = {}): Promise<SimCluster> {
    const sim = new SimCluster({ maxPayload: opts.maxPayload });
    sim.#masterFlags = opts.masterFlags;
    sim.master = sim.startMaster('m1');
    await sim.settle();
    for (let i = 0; i < (opts.agents ?? 1); i++) sim.addAgent(opts.agentResources ?? TEST_AGENT_RESOURCES, opts.agentFlags, `a${i}`);
    await sim.settle();
    return sim;
  }

  /** Every operator event each master announced, in v1 JSON, in order. */
  readonly operatorEvents: Array<{ master: string; event: Record<string, any> }> = [];
  /** Called with each operator event as announced, and the announcing master's run id. */
  readonly operatorListeners: Array<(e: OperatorEvent, master: string) => void> = [];

  /**
   * Starts a master (a standby while another leads). The first one started by {@link SimCluster.start}
   * is `master`; {@link SimCluster.leader} finds whichever leads.
   */
  startMaster(runId: string, flags: Partial<MasterFlags> | undefined = this.#masterFlags): MasterHandle {
    const m = startMaster({
      transport: this.bus.transport(),
      cluster: this.cluster,
      logger: silentLogger(),
      clock: this.clock,
      flags,
      runId,
      hostname: `${runId}.sim`,
      registry: this.registry,
      lease: (value) => this.lease.candidate(value),
      // As a SUBSCRIBE stream would carry them: turned into JSON the moment they are announced.
      onOperatorEvent: (e) => {
        this.operatorEvents.push({ master: runId, event: v1Event(e) });
        for (const l of this.operatorListeners) l(e, runId);
      },
    });
    this.masters.push(m);
    return m;
  }

  /** The master that leads now, if any. */
  leader(): MasterHandle | undefined {
    return this.masters.find((m) => m.host.actor.getSnapshot().hasTag('leading'));
  }

  /**
   * The leading master dies (SIGKILL): its process is gone without a word, and the next standby
   * takes the lease.
   */
  async killLeader(): Promise<MasterHandle | undefined> {
    const m = this.leader();
    if (!m) return undefined;
    this.lease.crash();
    m.host.stop();
    this.masters.splice(this.masters.indexOf(m), 1);
    await this.settle();
    return m;
  }

  /** Starts one more agent. */
  addAgent(resources: string, flags?: Partial<AgentFlags>, id?: string): AgentHandle {
    const a = startAgent({
      transport: this.bus.transport(),
      cluster: this.cluster,
      logger: silentLogger(),
      detector: this.lease.detector(),
      resources: parseResources(resources),
      hostname: `${id ?? 'agent'}.sim`,
      workDir: '/sim',
      commandExecutor: [],
      clock: this.clock,
      containerizer: this.containerizer,
      flags,
      ...(id ? { id } : {}),
    });
    this.agents.push(a);
    return a;
  }

  /**
   * Subscribes a {@link RecordingScheduler} and waits for its first offers: the scheduler, its
   * driver and the first offer (`undefined` if none came).
   */
  async framework(framework: Partial<FrameworkInfo> = {}): Promise<{ sched: RecordingScheduler; d: SchedulerDriver; offer: Offer | undefined }> {
    const sched = new RecordingScheduler();
    const d = this.driver(sched, framework);
    await this.settle();
    return { sched, d, offer: sched.takeOffers()[0] };
  }

  /** Starts a scheduler driver for `scheduler`. */
  driver(scheduler: Scheduler, framework: Partial<FrameworkInfo> = {}, flags?: Partial<DriverFlags>): SchedulerDriver {
    const d = new SchedulerDriver(scheduler, { name: 'test-framework', roles: ['*'], ...framework }, {
      transport: this.bus.transport(),
      cluster: this.cluster,
      detector: this.lease.detector(),
      logger: silentLogger(),
      clock: this.clock,
      ...(flags ? { flags } : {}),
    });
    this.drivers.push(d);
    d.start();
    return d;
  }

  /**
   * Delivers every queued message (and what handlers publish in turn), and fires the timers due
   * now (an allocation step waits for the next turn of the loop), until quiet — Mesos'
   * `Clock::settle`.
   */
  async settle(): Promise<void> {
    for (let i = 0; i < 10_000; i++) {
      await flushMicrotasks();
      const n = this.bus.settle();
      await flushMicrotasks();
      const fired = this.clock.advance(0);
      if (n === 0 && fired === 0 && this.bus.pending() === 0) return;
    }
    throw new Error('bus did not settle');
  }

  /** Moves simulated time forward by `ms` in steps of `stepMs`, settling after each step. */
  async advance(ms: number, stepMs = 100): Promise<void> {
    let left = ms;
    while (left > 0) {
      const step = Math.min(stepMs, left);
      this.clock.advance(step);
      left -= step;
      await this.settle();
    }
  }

  /** Counts messages of `type` published from now on (dropped ones included). */
  count(type: string): { readonly n: number } {
    const c = { n: 0 };
    this.bus.addFilter((m) => {
      if (m.subject.split('.')[5] === type) c.n += 1;
      return 'deliver';
    });
    return c;
  }

  /** Drops messages of `type` matching `pred` until the returned function is called. */
  drop(type: string, pred: (env: { type: string; from: string; body: any }) => boolean = () => true): () => void {
    return this.bus.addFilter((m) => (m.subject.split('.')[5] === type && pred(envelopeOf(m)) ? 'drop' : 'deliver'));
  }

  /**
   * Cuts the actor at `actorPid` off the bus (a network partition): nothing it sends and nothing
   * sent to it is delivered until the returned function heals it.
   */
  partition(actorPid: string): () => void {
    return this.bus.addFilter((m) => (m.subject.startsWith(`${actorPid}.`) || envelopeOf(m).from === actorPid ? 'drop' : 'deliver'));
  }

  /** Sends `msg` to the master as an operator would (acting for `principal`, else anonymously). */
  operator(msg: Message, principal?: string): void {
    const from = pid(this.cluster, 'operator', 'op', principal);
    this.bus.transport().publish(subjectFor((this.leader() ?? this.master).pid, msg.type, 'operator', principal), this.codec.encode(envelope(from, `op-${++this.opSeq}`, msg)));
  }

  private readonly codec = new Codec();
  private opSeq = 0;

  /** The leading master's soft state (the first master's when none leads). */
  get masterState() {
    return (this.leader() ?? this.master).host.actor.getSnapshot().context.state;
  }

  /** The leading master's metrics. */
  metrics(): Record<string, number> {
    return (this.leader() ?? this.master).metrics();
  }

  /** Stops everything. */
  async stop(): Promise<void> {
    for (const d of this.drivers) d.actor?.stop();
    for (const a of this.agents) await a.stop();
    for (const m of this.masters) await m.stop();
  }
}
