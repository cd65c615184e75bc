/** Runs each shell command given after the flags as a task (`-- 'echo one' 'echo two'`); exits 0 if every one finished. */
import { parseArgs } from 'node:util';
import { SchedulerDriver, contains, isTerminalState, parseResources, subtract, type Scheduler, type TaskInfo } from 'mesos-ts';

const { values: flags, positionals: commands } = parseArgs({ allowPositionals: true, options: {
  nats: { type: 'string' }, cluster: { type: 'string' }, credential: { type: 'string' }, insecure: { type: 'boolean' },
} });
if (commands.length === 0) throw new Error('no commands: give them after the flags');
const perTask = parseResources('cpus:0.1;mem:32');
const pending = commands.map((value, i) => ({ taskId: `command-${i}`, value }));
const ended = new Map<string, string>(); // task → its terminal state

const scheduler: Scheduler = {
  resourceOffers: (driver, offers) => {
    for (const offer of offers) {
      const launch: TaskInfo[] = [];
      for (let free = offer.resources; pending.length > 0 && contains(free, perTask); free = subtract(free, perTask)) {
        const { taskId, value } = pending.shift()!;
        launch.push({ taskId, name: value, agentId: offer.agentId, resources: perTask, command: { value } });
      }
      driver.launchTasks([offer.id], launch, { refuseSeconds: pending.length > 0 ? 1 : 60 });
    }
  },
  statusUpdate: (driver, status) => {
    if (!isTerminalState(status.state) || ended.has(status.taskId)) return;
    ended.set(status.taskId, status.state);
    console.log(`${status.taskId} ${status.state}${status.message ? ` (${status.message})` : ''}${status.sandbox ? `; output in ${status.sandbox}` : ''}`);
    if (ended.size === commands.length) void driver.stop();
  },
};

const driver = await SchedulerDriver.connect(scheduler, { name: 'run-commands', roles: ['*'] }, flags);
driver.stopOnSignals();
await driver.run();
process.exitCode = [...ended.values()].filter((s) => s === 'TASK_FINISHED').length === commands.length ? 0 : 1;
