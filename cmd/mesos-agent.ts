/**
 * `mesos-agent`: registers with the leading master of `--cluster`, offers `--resources`, and runs
 * executors in sandboxes under `--work_dir`.
 *
 * Signals: SIGTERM and SIGINT stop the agent and leave the executors of checkpointing frameworks
 * running, for the agent started again on the same work dir to recover; SIGUSR1 kills every task
 * (each with a status update) and unregisters the agent from the cluster before exiting.
 */
import { cpus, totalmem, tmpdir, hostname } from 'node:os';
import { join } from 'node:path';
import { defaultAgentResources, parseResources } from '../protocols/resources.ts';
import { parseAttributes } from '../protocols/attributes.ts';
import { ISOLATORS, cleanUpAgent, startAgent, type AgentHandle } from '../runtime/agent.ts';
import { CheckpointError } from '../runtime/checkpoint.ts';
import { KvLeaderDetector } from '../runtime/lease.ts';
import { InspectionHub } from '../runtime/inspection.ts';
import { channelEndpoint, channelInUse } from '../runtime/executor-channel.ts';
import { nodeScriptArgv, siblingPath } from '../runtime/node-command.ts';
import { NatsTransport } from '../runtime/transport-nats.ts';
import { agentView, rememberingLeader, startAgentHttp } from '../runtime/http/agent-http.ts';
import { PACKAGE_VERSION } from '../runtime/version.ts';
import { busIdentity, commandSetup, connectBus, onShutdown } from './flags.ts';
import { aclsFlag, HTTP_SECURITY_FLAGS, httpSecurity, shownFlags } from './http-flags.ts';
import { viewFilters } from '../runtime/http/view-filter.ts';

const { flags, logger, inspect } = commandSetup('mesos-agent', {
  resources: { type: 'string', help: "resources to offer, e.g. 'cpus:4;mem:4096;ports:[31000-32000]' (default: this machine's)" },
  attributes: { type: 'string', help: "attributes, e.g. 'rack:r1;zone:a'", default: '' },
  work_dir: { type: 'string', help: 'where executor sandboxes live', default: join(tmpdir(), 'mesos-ts', 'agent') },
  hostname: { type: 'string', help: 'hostname advertised to the master', default: hostname() },
  registration_backoff_factor: { type: 'duration', help: 'first registration retry; doubles up to 1 min', default: '1secs' },
  executor_registration_timeout: { type: 'duration', help: 'how long an executor may take to register', default: '1mins' },
  executor_shutdown_grace_period: { type: 'duration', help: 'time between SIGTERM and SIGKILL of an executor', default: '5secs' },
  isolation: { type: 'string', help: `isolators, comma-separated: ${ISOLATORS.join(', ')}`, default: 'posix/cpu,posix/mem' },
  cgroups_root: { type: 'string', help: 'parent of the containers\' groups in each cgroup hierarchy', default: 'mesos' },
  cgroups_enable_cfs: { type: 'boolean', help: 'enforce cpus as a hard limit (CFS bandwidth), not only a weight', default: false },
  recover: { type: 'string', help: "'reconnect': start as the agent this work dir belongs to; 'cleanup': destroy what it left running and exit", default: 'reconnect' },
  recovery_timeout: { type: 'duration', help: 'how long executors of checkpointing frameworks wait for a restarted agent', default: '15mins' },
  executor_reregistration_timeout: { type: 'duration', help: 'how long a restarted agent waits for its executors to re-register', default: '2secs' },
  strict: { type: 'boolean', help: 'refuse to start on a checkpoint that cannot be read (else: recover what can be)', default: true },
  enforce_container_disk_quota: { type: 'boolean', help: 'with posix/disk: destroy a container whose sandbox grows past its disk', default: false },
  container_disk_watch_interval: { type: 'duration', help: 'how often sandboxes are measured (posix/disk)', default: '15secs' },
  switch_user: { type: 'boolean', help: 'run tasks as the user their command or framework names (needs root)', default: true },
  gc_delay: { type: 'duration', help: 'how long the sandboxes of ended executors are kept (less as the disk fills)', default: '1weeks' },
  gc_disk_headroom: { type: 'number', help: 'fraction of the disk to keep free: sandboxes go sooner the fuller it is (0 to 1)', default: 0.1 },
  disk_watch_interval: { type: 'duration', help: 'how often the work dir\'s disk is checked for sandboxes to remove', default: '1mins' },
  ip: { type: 'string', help: 'address the HTTP endpoints (state, sandbox files) listen on', default: '127.0.0.1' },
  port: {
    type: 'number', help: 'port of the HTTP endpoints (0: a free one, printed at start)', default: 5051,
    check: (n: number) => (Number.isInteger(n) && n >= 0 && n <= 65535 ? undefined : 'expected a port number, 0 to 65535 (0: a free one)'),
  },
  acls: { type: 'string', help: 'who may see what over HTTP (the view_* rules): Mesos ACLs as JSON, or a file holding them (path or file:// URL)' },
  ...HTTP_SECURITY_FLAGS,
}, process.argv.slice(2), { statechartView: true });

let resources;
let attributes;
const isolation = flags.isolation.split(',').map((x) => x.trim()).filter(Boolean);
try {
  resources = flags.resources
    ? parseResources(flags.resources)
    : defaultAgentResources({ cpus: cpus().length, memMb: Math.floor(totalmem() / (1024 * 1024)) });
  attributes = parseAttributes(flags.attributes);
  for (const i of isolation) if (!(ISOLATORS as readonly string[]).includes(i)) throw new Error(`unknown isolator '${i}' in --isolation (known: ${ISOLATORS.join(', ')})`);
  if (flags.recover !== 'reconnect' && flags.recover !== 'cleanup') throw new Error(`bad --recover '${flags.recover}': 'reconnect' or 'cleanup'`);
  if (!(flags.gc_disk_headroom >= 0 && flags.gc_disk_headroom <= 1)) throw new Error(`bad --gc_disk_headroom '${flags.gc_disk_headroom}': a fraction from 0 to 1`);
} catch (e) {
  process.stderr.write(`mesos-agent: ${(e as Error).message}\n`);
  process.exit(2);
}

const acls = aclsFlag('mesos-agent', flags.acls);
const httpSec = httpSecurity('mesos-agent', flags, logger);

const commandExecutor = nodeScriptArgv(siblingPath(import.meta.url, './mesos-executor.ts'));
if (flags.recover === 'cleanup') {
  const destroyed = await cleanUpAgent({
    workDir: flags.work_dir, logger, commandExecutor, isolation, cgroupsRoot: flags.cgroups_root, cgroupsEnableCfs: flags.cgroups_enable_cfs,
  });
  logger.info({ workDir: flags.work_dir, destroyed }, `cleaned up: ${destroyed.length} container(s) destroyed`);
  await new Promise<void>((resolve) => logger.flush(() => resolve()));
  process.exit(0);
}

// Two agents on one work dir would take each other's containers: refuse before recovering anything.
if (await channelInUse(channelEndpoint(flags.work_dir))) {
  process.stderr.write(`mesos-agent: another agent is running on work dir ${flags.work_dir}\n`);
  process.exit(1);
}
const id = busIdentity('mesos-agent', flags, 'agent', logger);
const nc = await connectBus('mesos-agent', flags, { name: 'mesos-agent', logger, options: id.options });
const transport = new NatsTransport(nc, { logger });
// HTTP first: its address goes into the agent's info and onto its status updates.
let agent: AgentHandle | undefined;
// Every machine of this process, for the statechart view (`/inspect`).
const inspection = new InspectionHub();
const detector = rememberingLeader(new KvLeaderDetector({ nc, cluster: flags.cluster, logger, inspection, ...(inspect ? { inspect } : {}) }));
let http;
try {
  http = await startAgentHttp({
    ip: flags.ip,
    port: flags.port,
    logger,
    workDir: flags.work_dir,
    version: PACKAGE_VERSION,
    flags: shownFlags(flags),
    view: agentView(() => agent, detector.leader),
    auth: httpSec.auth,
    views: viewFilters(acls),
    ...(httpSec.tls ? { tls: httpSec.tls } : {}),
    inspection,
  });
} catch (e) {
  process.stderr.write(`mesos-agent: cannot listen on ${flags.ip}:${flags.port}: ${(e as Error).message}${flags.port !== 0 ? ' (--port=0 picks a free port)' : ''}\n`);
  await transport.close();
  process.exit(1);
}
logger.info({ http: http.address }, `HTTP endpoints on ${http.scheme}://${http.address}`);
if (flags.inspect === 'ui') logger.info({ inspect: `${http.scheme}://${http.address}/inspect` }, `statecharts of this agent's machines on ${http.scheme}://${http.address}/inspect`);
try {
  agent = startAgent({
    httpAddress: http.address,
    // Marked gone by an operator: its executors end with it, and it exits. Its id stays
    // checkpointed, so started again on this work dir it is refused again.
    onShutdownRequested: (message) => {
      logger.error({ reason: message }, 'the master asked this agent to shut down; exiting');
      void (async () => {
        await agent?.stop();
        await http.close();
        await transport.close();
        process.exit(0);
      })();
    },
    ...(id.principal ? { principal: id.principal } : {}),
    transport,
    cluster: flags.cluster,
    logger,
    // The view's records are taken without XState's inspection; --inspect=log or ws:// add it.
    inspection,
    inspect,
    detector: detector.detector,
    resources,
    attributes,
    hostname: flags.hostname,
    workDir: flags.work_dir,
    commandExecutor,
    flags: {
      registrationBackoffMs: flags.registration_backoff_factor,
      executorRegistrationTimeoutMs: flags.executor_registration_timeout,
      executorShutdownGracePeriodMs: flags.executor_shutdown_grace_period,
      executorReregistrationTimeoutMs: flags.executor_reregistration_timeout,
      recoveryTimeoutMs: flags.recovery_timeout,
    },
    strict: flags.strict,
    switchUser: flags.switch_user,
    gc: { delayMs: flags.gc_delay, diskHeadroom: flags.gc_disk_headroom, diskWatchIntervalMs: flags.disk_watch_interval },
    ...(isolation.includes('posix/disk') || flags.enforce_container_disk_quota
      ? { disk: { enforce: flags.enforce_container_disk_quota, watchIntervalMs: flags.container_disk_watch_interval } }
      : {}),
    checkpoint: true,
    isolation,
    cgroupsRoot: flags.cgroups_root,
    cgroupsEnableCfs: flags.cgroups_enable_cfs,
  });
} catch (e) {
  if (!(e instanceof CheckpointError)) throw e;
  process.stderr.write(`mesos-agent: ${e.message}\n`);
  await http.close();
  await transport.close();
  process.exit(1);
}
try {
  await agent.listening;
} catch (e) {
  process.stderr.write(`mesos-agent: cannot open the executors' channel for work dir ${flags.work_dir}: ${(e as Error).message}\n`);
  await agent.stop({ keepExecutors: true });
  await http.close();
  await transport.close();
  process.exit(1);
}
const started = agent;
logger.info({ actorPid: started.pid, workDir: flags.work_dir, http: http.address }, 'agent started');
started.registered(Number.POSITIVE_INFINITY).then((id) => logger.info({ agentId: id }, 'agent registered'), () => {});
onShutdown(async (signal) => {
  if (signal === 'SIGUSR1') {
    // End every task with an update the master sees, then unregister: the agent leaves the cluster.
    await started.leave(flags.executor_shutdown_grace_period + 5000);
    await started.stop();
  } else {
    // Checkpointed work keeps running for the agent started again on this work dir.
    await started.stop({ keepExecutors: true });
  }
  await http.close();
  await transport.close();
}, 0, ['SIGINT', 'SIGTERM', 'SIGUSR1']);
