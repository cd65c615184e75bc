/**
 * `mesos-pi`: the Pi example framework against a running cluster (`--nats`, `--cluster`).
 * Prints `Pi is roughly 3.14…` and exits 0, or exits 1 if the estimate could not be made.
 */
import { KvLeaderDetector } from '../runtime/lease.ts';
import { nodeScriptCommand, siblingPath } from '../runtime/node-command.ts';
import { NatsTransport } from '../runtime/transport-nats.ts';
import { busIdentity, commandSetup, connectBus, positiveCount } from './flags.ts';
import { createPiScheduler, runPi } from './pi/pi-scheduler.ts';

const { flags, logger, inspect } = commandSetup('mesos-pi', {
  tasks: { type: 'number', help: 'number of tasks', default: 10, check: positiveCount },
  samples: { type: 'number', help: 'samples per task', default: 2_000_000, check: positiveCount },
  name: { type: 'string', help: 'framework name', default: 'Pi' },
}, process.argv.slice(2), { stderr: true });

const id = busIdentity('mesos-pi', flags, 'scheduler', logger);
const nc = await connectBus('mesos-pi', flags, { name: 'mesos-pi', logger, options: id.options });
const transport = new NatsTransport(nc, { logger });
const pi = createPiScheduler({
  tasks: flags.tasks,
  samplesPerTask: flags.samples,
  executorCommand: nodeScriptCommand(siblingPath(import.meta.url, './pi/pi-executor.ts')),
  log: (line) => logger.info(line),
});
const code = await runPi(pi, flags.name, {
  transport,
  cluster: flags.cluster,
  detector: new KvLeaderDetector({ nc, cluster: flags.cluster, logger }),
  logger,
  inspect,
}, 'mesos-pi', id.principal);
await transport.close();
process.exit(code);
