/** Pi: estimates π with darts thrown by tasks across the cluster (the Mesos paper's Figure 2). */
import { parseArgs } from 'node:util';
import { SchedulerDriver, contains, isTerminalState, nodeCommand, parseResources, subtract, type ExecutorInfo, type Scheduler, type TaskInfo } from 'mesos-ts';

const { values: flags } = parseArgs({ options: { nats: { type: 'string' }, cluster: { type: 'string' }, credential: { type: 'string' },
  insecure: { type: 'boolean' }, tasks: { type: 'string', default: '10' }, samples: { type: 'string', default: '1000000' } } });
const tasks = Number(flags.tasks);
const perTask = parseResources('cpus:0.2;mem:32');
// An agent runs one executor per executor id for all of its tasks: ./executor.ts, started the way this file was.
const executor: ExecutorInfo = { executorId: 'pi', command: { value: nodeCommand(new URL('executor.ts', import.meta.url)) }, resources: parseResources('cpus:0.1;mem:32') };
const pending = Array.from({ length: tasks }, (_, i) => `pi-${i}`);
const inside = new Map<string, number>(); // finished task → darts inside the quarter circle
let failures = 0;

const scheduler: Scheduler = {
  resourceOffers: (driver, offers) => {
    for (const offer of offers) {
      const hasExecutor = offer.executorIds.includes(executor.executorId); // else its resources come out of this offer
      let free = hasExecutor ? offer.resources : contains(offer.resources, executor.resources) ? subtract(offer.resources, executor.resources) : [];
      const launch: TaskInfo[] = [];
      for (; pending.length > 0 && contains(free, perTask); free = subtract(free, perTask)) {
        const taskId = pending.shift()!;
        launch.push({ taskId, name: taskId, agentId: offer.agentId, resources: perTask, executor, data: new TextEncoder().encode(flags.samples) });
      }
      driver.launchTasks([offer.id], launch, { refuseSeconds: 1 }); // what is not used is declined
    }
  },
  statusUpdate: (driver, status) => {
    if (status.state === 'TASK_FINISHED') inside.set(status.taskId, Number(new TextDecoder().decode(status.data)));
    else if (isTerminalState(status.state) && ++failures <= tasks) pending.push(status.taskId); // run it again
    if (inside.size === tasks || failures > tasks) void driver.stop(); // tears the framework down
  },
};

const driver = await SchedulerDriver.connect(scheduler, { name: 'Pi', roles: ['*'] }, flags);
driver.stopOnSignals();
await driver.run(); // resolves once stopped, with the connection closed
const hits = [...inside.values()].reduce((a, b) => a + b, 0);
console.log(inside.size === tasks ? `Pi is roughly ${(4 * hits) / (tasks * Number(flags.samples))}` : 'no estimate: tasks kept failing');
process.exitCode = inside.size === tasks ? 0 : 1;
