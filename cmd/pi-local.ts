/**
 * The main job (`npm start`): brings up a local cluster with an embedded NATS server, runs the Pi
 * framework on it, prints the estimate, shuts everything down and exits 0.
 */
import { commandSetup } from './flags.ts';
import { startLocalCluster } from '../runtime/local-cluster.ts';
import { nodeScriptArgv, nodeScriptCommand, siblingPath } from '../runtime/node-command.ts';
import { NatsTransport } from '../runtime/transport-nats.ts';
import { createPiScheduler, runPi } from './pi/pi-scheduler.ts';

const { flags, logger, inspect } = commandSetup('pi-local', {
  nats: { type: 'string', help: 'use this NATS server instead of starting one' },
  cluster: { type: 'string', help: 'cluster name', default: 'local' },
  agents: { type: 'number', help: 'number of agents', default: 2 },
  resources: { type: 'string', help: 'resources of each agent', default: 'cpus:2;mem:2048;disk:4096;ports:[31000-32000]' },
  tasks: { type: 'number', help: 'number of Pi tasks', default: 10 },
  samples: { type: 'number', help: 'samples per task', default: 2_000_000 },
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
  ...(flags.nats ? { natsUrl: flags.nats } : {}),
});
process.stdout.write(`Cluster up (NATS ${cluster.natsUrl}); running Pi with ${flags.tasks} tasks × ${flags.samples} samples…\n`);
const pi = createPiScheduler({
  tasks: flags.tasks,
  samplesPerTask: flags.samples,
  executorCommand: nodeScriptCommand(siblingPath(import.meta.url, './pi/pi-executor.ts')),
  log: (line) => process.stdout.write(`  ${line}\n`),
});
const transport = new NatsTransport(cluster.nc, { logger });
const code = await runPi(pi, 'Pi', {
  transport,
  cluster: cluster.cluster,
  detector: cluster.detector(),
  logger,
  inspect,
}, 'pi-local');
await cluster.stop();
process.stdout.write(`Done in ${((Date.now() - started) / 1000).toFixed(1)} s; cluster shut down.\n`);
process.exit(code);
