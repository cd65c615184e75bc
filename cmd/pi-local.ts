/**
 * The main job (`npm start`): brings up a local cluster with an embedded NATS server, runs the Pi
 * framework on it, prints the estimate, shuts everything down and exits 0.
 */
import { commandSetup, exitNatsUnavailable, localBus, localNatsReporting, positiveCount } from './flags.ts';
import { startLocalCluster } from '../runtime/local-cluster.ts';
import { NatsConnectError } from '../runtime/transport-nats.ts';
import { nodeScriptArgv, nodeScriptCommand, siblingPath } from '../runtime/node-command.ts';
import { createPiScheduler, runPi } from './pi/pi-scheduler.ts';

const { flags, logger, inspect } = commandSetup('pi-local', {
  nats: { type: 'string', help: 'use this NATS server instead of starting one' },
  credentials_dir: { type: 'string', help: 'with --nats: the credentials mesos-credentials init wrote for that server' },
  cluster: { type: 'string', help: 'cluster name', default: 'local' },
  agents: { type: 'number', help: 'number of agents', default: 2, check: positiveCount },
  resources: { type: 'string', help: 'resources of each agent', default: 'cpus:2;mem:2048;disk:4096;ports:[31000-32000]' },
  tasks: { type: 'number', help: 'number of Pi tasks', default: 10, check: positiveCount },
  samples: { type: 'number', help: 'samples per task', default: 2_000_000, check: positiveCount },
  log_level: { type: 'string', help: 'trace, debug, info, warn, error or silent', default: 'warn' },
}, process.argv.slice(2), { stderr: true });

const started = Date.now();
process.stdout.write(`Starting a local cluster with ${flags.agents} agent(s)…\n`);
const cluster = await startLocalCluster({
  agents: flags.agents,
  logger,
  inspect,
  cluster: flags.cluster,
  resources: flags.resources,
  commandExecutor: nodeScriptArgv(siblingPath(import.meta.url, './mesos-executor.ts')),
  ...localBus(flags, 'pi-local'),
}).catch((e: unknown) => {
  if (e instanceof NatsConnectError) exitNatsUnavailable(localNatsReporting(flags, 'pi-local'), e);
  throw e;
});
process.stdout.write(`Cluster up (NATS ${cluster.natsUrl}); running Pi with ${flags.tasks} tasks × ${flags.samples} samples…\n`);
const pi = createPiScheduler({
  tasks: flags.tasks,
  samplesPerTask: flags.samples,
  executorCommand: nodeScriptCommand(siblingPath(import.meta.url, './pi/pi-executor.ts')),
  log: (line) => process.stdout.write(`  ${line}\n`),
});
const bus = await cluster.framework();
const code = await runPi(pi, 'Pi', {
  transport: bus.transport,
  cluster: cluster.cluster,
  detector: bus.detector(),
  logger,
  inspect,
}, 'pi-local', bus.principal);
await cluster.stop();
process.stdout.write(`Done in ${((Date.now() - started) / 1000).toFixed(1)} s; cluster shut down.\n`);
process.exit(code);
