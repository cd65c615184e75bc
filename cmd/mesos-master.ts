/**
 * `mesos-master`: contends for leadership of `--cluster` and, once elected, runs the master.
 * Exits non-zero when it loses leadership, for a supervisor to restart it as a standby.
 */
import { hostname } from 'node:os';
import { startMaster } from '../runtime/master.ts';
import { KvLeaseCandidate } from '../runtime/lease.ts';
import { connectNats, NatsTransport } from '../runtime/transport-nats.ts';
import { commandSetup, onShutdown } from './flags.ts';

const { flags, logger, inspect } = commandSetup('mesos-master', {
  hostname: { type: 'string', help: 'hostname advertised to agents and frameworks', default: hostname() },
  allocation_interval: { type: 'duration', help: 'time between batch allocations', default: '1secs' },
  offer_timeout: { type: 'duration', help: 'rescind unanswered offers after this long (0 = never)', default: '0secs' },
  lease: { type: 'duration', help: 'leader lease length', default: '3secs' },
  agent_ping_timeout: { type: 'duration', help: 'time to wait for an agent pong', default: '15secs' },
  max_agent_ping_timeouts: { type: 'number', help: 'missed pongs before an agent is removed', default: 5 },
});

const nc = await connectNats({ servers: flags.nats.split(','), name: 'mesos-master', logger });
const transport = new NatsTransport(nc, { logger });
const master = startMaster({
  transport,
  cluster: flags.cluster,
  hostname: flags.hostname,
  logger,
  inspect,
  flags: {
    allocationIntervalMs: flags.allocation_interval,
    offerTimeoutMs: flags.offer_timeout,
    agentPingTimeoutMs: flags.agent_ping_timeout,
    maxAgentPingTimeouts: flags.max_agent_ping_timeouts,
  },
  lease: (value) => new KvLeaseCandidate({ nc, cluster: flags.cluster, leaseMs: flags.lease, value, logger }),
  onResign: (reason) => {
    logger.error({ reason }, 'lost leadership; exiting');
    process.exit(1);
  },
});
logger.info({ actorPid: master.pid, cluster: flags.cluster }, 'master started; contending for leadership');
onShutdown(async () => {
  await master.stop();
  await transport.close();
});
