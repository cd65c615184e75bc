/**
 * The Pi framework's scheduler — the example of the Mesos paper's Figure 2, in a few callbacks.
 *
 * It estimates π by Monte Carlo: each task throws `samplesPerTask` darts at the unit square and
 * reports how many fell inside the quarter circle. Tasks share one executor per agent (they run
 * concurrently inside it); results travel back in the status update's `data`.
 */
import { add, contains, parseResources, subtract, type Resources } from '../../protocols/resources.ts';
import type { ExecutorInfo, TaskInfo } from '../../protocols/records.ts';
import { isTerminalState } from '../../protocols/task-states.ts';
import { SchedulerDriver, type DriverOptions, type Scheduler } from '../../runtime/scheduler-driver.ts';

/** What a Pi task reports in its TASK_FINISHED data. */
export interface PiTaskResult {
  inside: number;
  samples: number;
}

/** Options for {@link createPiScheduler}. */
export interface PiOptions {
  tasks: number;
  samplesPerTask: number;
  /** Shell command that starts the Pi executor. */
  executorCommand: string;
  taskResources?: string;
  executorResources?: string;
  /** Relaunches allowed per task after it fails or is lost. */
  maxAttempts?: number;
  log?: (line: string) => void;
}

/** The scheduler plus a promise of the estimate. */
export interface PiScheduler extends Scheduler {
  /** Resolves with π's estimate once every task finished; rejects if a task keeps failing. */
  readonly result: Promise<number>;
}

/** Builds the Pi scheduler. */
export function createPiScheduler(opts: PiOptions): PiScheduler {
  const taskResources = parseResources(opts.taskResources ?? 'cpus:0.2;mem:32');
  const executorResources = parseResources(opts.executorResources ?? 'cpus:0.1;mem:32');
  const log = opts.log ?? (() => {});
  const pending: string[] = Array.from({ length: opts.tasks }, (_, i) => `pi-${i}`);
  const attempts = new Map<string, number>();
  const running = new Set<string>();
  let inside = 0;
  let samples = 0;
  let finished = 0;
  let settle!: { resolve: (pi: number) => void; reject: (e: Error) => void };
  const result = new Promise<number>((resolve, reject) => (settle = { resolve, reject }));
  const decoder = new TextDecoder();

  const executorFor = (): ExecutorInfo => ({
    executorId: 'pi-executor',
    name: 'Pi executor',
    command: { value: opts.executorCommand },
    resources: executorResources,
  });

  return {
    result,
    registered: (_driver: SchedulerDriver, frameworkId: string) => log(`Registered with framework ID ${frameworkId}`),
    resourceOffers: (driver, offers) => {
      for (const offer of offers) {
        const hasExecutor = offer.executorIds.includes('pi-executor');
        let left: Resources = hasExecutor ? offer.resources : contains(offer.resources, executorResources) ? subtract(offer.resources, executorResources) : [];
        const tasks: TaskInfo[] = [];
        while (pending.length > 0 && contains(left, taskResources)) {
          const taskId = pending.shift()!;
          left = subtract(left, taskResources);
          running.add(taskId);
          tasks.push({
            taskId,
            name: `Pi ${taskId}`,
            agentId: offer.agentId,
            resources: taskResources,
            executor: executorFor(),
            data: new TextEncoder().encode(JSON.stringify({ samples: opts.samplesPerTask })),
          });
        }
        if (tasks.length === 0) driver.declineOffer(offer.id, { refuseSeconds: pending.length > 0 ? 1 : 3600 });
        else {
          log(`Launching ${tasks.length} task(s) on ${offer.hostname} (${offer.agentId})`);
          driver.launchTasks([offer.id], tasks, { refuseSeconds: 1 });
        }
      }
    },
    statusUpdate: (driver, status) => {
      if (!isTerminalState(status.state)) return;
      running.delete(status.taskId);
      if (status.state === 'TASK_FINISHED' && status.data) {
        const r = JSON.parse(decoder.decode(status.data)) as PiTaskResult;
        inside += r.inside;
        samples += r.samples;
        finished += 1;
        log(`Task ${status.taskId} finished: ${r.inside}/${r.samples} inside (${finished}/${opts.tasks})`);
        if (finished === opts.tasks) settle.resolve((4 * inside) / samples);
        return;
      }
      const n = (attempts.get(status.taskId) ?? 0) + 1;
      attempts.set(status.taskId, n);
      log(`Task ${status.taskId} ended ${status.state}${status.message ? `: ${status.message}` : ''}`);
      if (n >= (opts.maxAttempts ?? 3)) {
        settle.reject(new Error(`task ${status.taskId} ended ${status.state} ${n} times: ${status.message ?? ''}`));
        return;
      }
      pending.push(status.taskId);
      driver.reviveOffers();
    },
    error: (_driver, message) => settle.reject(new Error(`framework error: ${message}`)),
  };
}

/** Total resources a Pi run of `tasks` tasks needs on one agent (for sizing examples). */
export function piDemand(tasks: number, taskResources = 'cpus:0.2;mem:32', executorResources = 'cpus:0.1;mem:32'): Resources {
  let r = parseResources(executorResources);
  for (let i = 0; i < tasks; i++) r = add(r, parseResources(taskResources));
  return r;
}

/**
 * Runs the Pi framework to the end: starts a driver for `pi`, prints `Pi is roughly …` (or the
 * error, prefixed with `command`), stops the driver (tearing the framework down) and resolves with
 * the process exit code.
 */
export async function runPi(pi: PiScheduler, name: string, driverOptions: DriverOptions, command: string, principal?: string): Promise<number> {
  const driver = new SchedulerDriver(pi, { name, roles: ['*'], ...(principal !== undefined ? { principal } : {}) }, driverOptions);
  driver.start();
  let code = 0;
  try {
    const estimate = await pi.result;
    process.stdout.write(`Pi is roughly ${estimate}\n`);
  } catch (e) {
    process.stderr.write(`${command}: ${(e as Error).message}\n`);
    code = 1;
  }
  await driver.stop();
  return code;
}
