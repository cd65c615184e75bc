/**
 * `mesos-execute`: runs one shell command as a task on the cluster and waits for it to end.
 * Prints each status update, and where the task runs (its container and sandbox) once it starts;
 * with `--tail`, prints the task's `stdout` as it is written (read from its agent's `/files/read`).
 * Exits 0 when the task finished, 1 otherwise (printing the terminal state and message).
 *
 * @see Mesos `src/cli/execute.cpp`.
 */
import { contains, formatResources, parseResources } from '../protocols/resources.ts';
import { isTerminalState } from '../protocols/task-states.ts';
import type { TaskStatus } from '../protocols/records.ts';
import { KvLeaderDetector } from '../runtime/lease.ts';
import { SchedulerDriver, type Scheduler } from '../runtime/scheduler-driver.ts';
import { NatsTransport } from '../runtime/transport-nats.ts';
import { SandboxTail } from '../runtime/http/sandbox-tail.ts';
import { busIdentity, commandSetup, connectBus } from './flags.ts';

const { flags, logger, inspect } = commandSetup('mesos-execute', {
  command: { type: 'string', help: 'shell command to run' },
  name: { type: 'string', help: 'task name (also its id)', default: 'mesos-execute-task' },
  resources: { type: 'string', help: 'task resources', default: 'cpus:0.1;mem:32' },
  framework_name: { type: 'string', help: 'framework name', default: 'mesos-execute' },
  role: { type: 'string', help: 'framework role', default: '*' },
  tail: { type: 'boolean', help: "print the task's stdout as it runs (read from its sandbox through the agent's HTTP endpoints)", default: false },
}, process.argv.slice(2), { stderr: true });

if (!flags.command) {
  process.stderr.write("mesos-execute: missing required flag '--command'\n");
  process.exit(2);
}
let resources;
try {
  resources = parseResources(flags.resources);
} catch (e) {
  process.stderr.write(`mesos-execute: ${(e as Error).message}\n`);
  process.exit(2);
}

const id = busIdentity('mesos-execute', flags, 'scheduler', logger);
const nc = await connectBus('mesos-execute', flags, { name: 'mesos-execute', logger, options: id.options });
const transport = new NatsTransport(nc, { logger });
let launched = false;
let terminal: TaskStatus | undefined;
/** Set once the task's container and sandbox were printed. */
let located = false;
let tail: SandboxTail | undefined;

/** The first update that says where the task runs: print it, and follow its `stdout` with `--tail`. */
function locate(status: TaskStatus): void {
  if (located || status.taskId !== flags.name || !status.containerStatus || !status.sandbox) return;
  located = true;
  process.stdout.write(
    `Task '${status.taskId}' runs in container ${status.containerStatus.containerId}${status.agentId ? ` on agent '${status.agentId}'` : ''}\n` +
    `  sandbox: ${status.sandbox}\n` +
    (status.agentHttp ? `  files: http://${status.agentHttp}/files/browse?path=${encodeURIComponent(status.sandbox)}\n` : ''),
  );
  if (!flags.tail) return;
  if (!status.agentHttp) {
    process.stderr.write("mesos-execute: cannot --tail: the agent did not say where its HTTP endpoints are\n");
    return;
  }
  tail = new SandboxTail({
    agentHttp: status.agentHttp,
    path: `${status.sandbox}/stdout`,
    write: (text) => process.stdout.write(text),
    warn: (message) => process.stderr.write(`mesos-execute: ${message}\n`),
  });
}

const scheduler: Scheduler = {
  registered: (_d, frameworkId) => process.stdout.write(`Subscribed with ID ${frameworkId}\n`),
  resourceOffers: (driver, offers) => {
    for (const offer of offers) {
      if (launched || !contains(offer.resources, resources)) {
        driver.declineOffer(offer.id);
        continue;
      }
      launched = true;
      process.stdout.write(`Submitted task '${flags.name}' to agent '${offer.agentId}' with ${formatResources(resources)}\n`);
      driver.launchTasks([offer.id], [{
        taskId: flags.name,
        name: flags.name,
        agentId: offer.agentId,
        resources,
        command: { value: flags.command! },
      }]);
    }
  },
  statusUpdate: (driver, status) => {
    process.stdout.write(`Received status update ${status.state} for task '${status.taskId}'${status.message ? `\n  message: '${status.message}'` : ''}${status.reason ? `\n  reason: ${status.reason}` : ''}\n`);
    locate(status);
    if (status.taskId === flags.name && isTerminalState(status.state)) {
      terminal = status;
      void driver.stop();
    }
  },
  error: (driver, message) => {
    process.stderr.write(`mesos-execute: framework error: ${message}\n`);
    void driver.stop();
  },
};

const driver = new SchedulerDriver(scheduler, { name: flags.framework_name, roles: [flags.role], ...(id.principal ? { principal: id.principal } : {}) }, {
  transport,
  cluster: flags.cluster,
  detector: new KvLeaderDetector({ nc, cluster: flags.cluster, logger }),
  logger,
  inspect,
});
const stopOnSignal = () => void driver.stop();
process.on('SIGINT', stopOnSignal);
process.on('SIGTERM', stopOnSignal);
await driver.run();
await transport.close();
// The task has ended: what its stdout still holds comes before the verdict.
await tail?.finish();
if (terminal) process.stdout.write(`Task '${terminal.taskId}' ended: ${terminal.state}${terminal.message ? ` (${terminal.message})` : ''}\n`);
process.exit(terminal?.state === 'TASK_FINISHED' ? 0 : 1);
