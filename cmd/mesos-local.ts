/**
 * `mesos-local`: a whole cluster in one command — an embedded `nats-server` (unless `--nats` is
 * given), one master and `--agents` agents. Prints how to reach it and runs until interrupted.
 */
import { commandSetup, exitNatsUnavailable, localBus, localNatsReporting, onShutdown, positiveCount } from './flags.ts';
import { join } from 'node:path';
import { startLocalCluster } from '../runtime/local-cluster.ts';
import { InspectionHub } from '../runtime/inspection.ts';
import { nodeScriptArgv, siblingPath } from '../runtime/node-command.ts';
import { NatsConnectError } from '../runtime/transport-nats.ts';

const { flags, logger, inspect } = commandSetup('mesos-local', {
  nats: { type: 'string', help: 'use this NATS server instead of starting one' },
  credentials_dir: { type: 'string', help: 'with --nats: the credentials mesos-credentials init wrote for that server' },
  cluster: { type: 'string', help: 'cluster name', default: 'local' },
  agents: { type: 'number', help: 'number of agents', default: 1, check: positiveCount },
  resources: { type: 'string', help: "resources of each agent (default: this machine's)" },
  work_dir: { type: 'string', help: 'root of the agents’ sandboxes (default: a new temporary directory)' },
  cleanup: { type: 'boolean', help: 'remove the sandboxes when stopping (only a temporary directory mesos-local made; a --work_dir always stays)', default: false },
}, process.argv.slice(2), { statechartView: true });

// Every machine of the cluster (all run in this process), for the statechart view each agent's
// HTTP endpoints serve (`/inspect`).
const inspection = new InspectionHub({ maxMachines: 2 + 2 * flags.agents });
let cluster;
try {
  cluster = await startLocalCluster({
    agents: flags.agents,
    logger,
    inspect,
    inspection,
    cluster: flags.cluster,
    commandExecutor: nodeScriptArgv(siblingPath(import.meta.url, './mesos-executor.ts')),
    ...localBus(flags, 'mesos-local'),
    ...(flags.resources ? { resources: flags.resources } : {}),
    ...(flags.work_dir ? { workDir: flags.work_dir } : {}),
    keepWorkDir: !flags.cleanup,
  });
} catch (e) {
  if (e instanceof NatsConnectError) exitNatsUnavailable(localNatsReporting(flags, 'mesos-local'), e);
  process.stderr.write(`mesos-local: ${(e as Error).message}\n`);
  process.exit(2);
}
process.stdout.write(
  `mesos-local is up: master ${cluster.master.pid}, ${cluster.agents.length} agent(s)\n` +
  `  NATS: ${cluster.natsUrl}   cluster: ${cluster.cluster}   sandboxes: ${cluster.workDir}\n` +
  `  agents' HTTP (state, sandbox files): ${cluster.agentHttp.map((a) => `http://${a}`).join(' ')}\n` +
  `  statecharts of the cluster's machines: http://${cluster.agentHttp[0]}/inspect\n` +
  (cluster.credentialsDir !== undefined ? `  credentials: ${cluster.credentialsDir}\n` : '') +
  `  try: npx mesos-execute --nats=${cluster.natsUrl} --cluster=${cluster.cluster} ${cluster.credentialsDir !== undefined ? `--credential=${join(cluster.credentialsDir, 'scheduler-framework.json')}` : '--insecure'} --command="echo hello" --tail\n`,
);
onShutdown(async () => {
  await cluster.stop();
  const kept = flags.work_dir !== undefined || !flags.cleanup;
  if (kept) process.stdout.write(`Sandboxes kept in ${cluster.workDir}${flags.work_dir === undefined ? ' (--cleanup removes them on stop)' : ''}\n`);
});
