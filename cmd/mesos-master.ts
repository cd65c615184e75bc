/**
 * `mesos-master`: contends for leadership of `--cluster` and, once elected, runs the master. A
 * master that loses the leadership stands by again in the same process and contends anew; the
 * lease is renewed from a worker thread with its own NATS connection.
 */
import { hostname } from 'node:os';
import { startMaster } from '../runtime/master.ts';
import { startMasterHttp } from '../runtime/http/master-http.ts';
import { SLICE_MS } from '../runtime/slicer.ts';
import { OperatorEventHub } from '../runtime/http/operator-events.ts';
import { KvLeaderDetector } from '../runtime/lease.ts';
import type { LeaderInfo } from '../runtime/types.ts';
import { parseRateLimits, type RateLimits } from '../runtime/rate-limits.ts';
import { WorkerLeaseCandidate } from '../runtime/lease-worker.ts';
import { KvRegistry } from '../runtime/registry.ts';
import { InspectionHub } from '../runtime/inspection.ts';
import { NatsTransport } from '../runtime/transport-nats.ts';
import { busIdentity, commandSetup, connectBus, onShutdown, packageVersion } from './flags.ts';
import { aclsFlag, HTTP_SECURITY_FLAGS, httpSecurity, jsonFlagText, shownFlags } from './http-flags.ts';
import { viewFilters } from '../runtime/http/view-filter.ts';
import { parseResources } from '../protocols/resources.ts';
import { SORTER_POLICIES, type SorterPolicy } from '../actors/master/allocator/sorter.ts';

const { flags, logger, inspect } = commandSetup('mesos-master', {
  hostname: { type: 'string', help: 'hostname advertised to agents and frameworks', default: hostname() },
  allocation_interval: { type: 'duration', help: 'time between batch allocations', default: '1secs' },
  offer_timeout: { type: 'duration', help: 'rescind unanswered offers after this long (0 = never)', default: '0secs' },
  lease: { type: 'duration', help: 'leader lease length', default: '3secs' },
  agent_ping_timeout: { type: 'duration', help: 'time to wait for an agent pong', default: '15secs' },
  max_agent_ping_timeouts: { type: 'number', help: 'missed pongs before an agent is marked unreachable', default: 5 },
  agent_reregister_timeout: { type: 'duration', help: 'after a failover, how long agents have to re-register before they are marked unreachable', default: '10mins' },
  framework_heartbeat_interval: { type: 'duration', help: 'how often schedulers and the master exchange heartbeats', default: '15secs' },
  max_framework_heartbeat_misses: { type: 'number', help: 'heartbeat intervals without a word before a scheduler counts as disconnected', default: 5 },
  allocation_chunk_agents: { type: 'number', help: 'agents visited per allocation step; longer passes are split across turns of the event loop', default: 5000 },
  allocator: { type: 'string', help: 'allocator: HierarchicalDRF (the only one)', default: 'HierarchicalDRF' },
  role_sorter: { type: 'string', help: 'how roles are ordered: drf, priority (weight first) or random', default: 'drf' },
  framework_sorter: { type: 'string', help: 'how frameworks of a role are ordered: drf, priority or random', default: 'drf' },
  min_allocatable_resources: { type: 'string', help: "smallest offer, alternatives separated by '|'", default: 'cpus:0.01|mem:32' },
  revocation_grace_period: { type: 'duration', help: 'time between announcing a revocation and killing the tasks', default: '5secs' },
  seed: { type: 'number', help: 'seed of the agent shuffle and the random sorter', default: 1 },
  ip: { type: 'string', help: 'address the HTTP endpoints listen on', default: '127.0.0.1' },
  port: { type: 'number', help: 'port of the HTTP endpoints (0: a free one, printed at start)', default: 5050 },
  acls: { type: 'string', help: "who may do what: Mesos ACLs as JSON, or a file holding them (path or file:// URL)" },
  rate_limits: { type: 'string', help: 'per-principal message rates (excess dropped): Mesos RateLimits as JSON, or a file holding them (path or file:// URL)' },
  ...HTTP_SECURITY_FLAGS,
}, process.argv.slice(2), { statechartView: true });

/** Exits 2 naming the bad token. */
function badFlag(message: string): never {
  process.stderr.write(`mesos-master: ${message}\n`);
  process.exit(2);
}
if (!(flags.lease > 0)) badFlag(`invalid --lease '${flags.lease}ms': must be positive`);
for (const [name, v] of [['max_agent_ping_timeouts', flags.max_agent_ping_timeouts], ['max_framework_heartbeat_misses', flags.max_framework_heartbeat_misses], ['allocation_chunk_agents', flags.allocation_chunk_agents]] as const) {
  if (!(Number.isInteger(v) && v >= 1)) badFlag(`invalid --${name} '${v}': expected a whole number of at least 1`);
}
for (const [name, v] of [['agent_ping_timeout', flags.agent_ping_timeout], ['framework_heartbeat_interval', flags.framework_heartbeat_interval], ['allocation_interval', flags.allocation_interval]] as const) {
  if (!(v > 0)) badFlag(`invalid --${name} '${v}ms': must be positive`);
}
if (flags.allocator !== 'HierarchicalDRF') badFlag(`unknown allocator '${flags.allocator}' (only HierarchicalDRF)`);
for (const [name, value] of [['role_sorter', flags.role_sorter], ['framework_sorter', flags.framework_sorter]] as const) {
  if (!(SORTER_POLICIES as readonly string[]).includes(value)) badFlag(`invalid --${name} '${value}': expected ${SORTER_POLICIES.join(', ')}`);
}
let minAllocatable: Array<Record<string, number>>;
try {
  minAllocatable = flags.min_allocatable_resources.split('|').filter((x) => x.trim() !== '').map((alt) => {
    const r: Record<string, number> = {};
    for (const x of parseResources(alt)) {
      if (x.type !== 'SCALAR') throw new Error(`'${alt}': only scalar resources may set a minimum`);
      r[x.name] = (r[x.name] ?? 0) + (x.scalar ?? 0);
    }
    return r;
  });
} catch (e) {
  badFlag(`invalid --min_allocatable_resources: ${(e as Error).message}`);
}

const acls = aclsFlag('mesos-master', flags.acls);
let rateLimits: RateLimits | undefined;
if (flags.rate_limits !== undefined) {
  const text = jsonFlagText('mesos-master', 'rate_limits', flags.rate_limits);
  try {
    rateLimits = parseRateLimits(text);
  } catch (e) {
    badFlag(`invalid --rate_limits: ${(e as Error).message}`);
  }
}
const httpSec = httpSecurity('mesos-master', flags, logger);

const servers = flags.nats.split(',');
const id = busIdentity('mesos-master', flags, 'master', logger);
const nc = await connectBus('mesos-master', flags, { name: 'mesos-master', logger, options: id.options });
const transport = new NatsTransport(nc, { logger });
// HTTP first: its address goes into the lease, for standbys to redirect to.
if (!(Number.isInteger(flags.port) && flags.port >= 0 && flags.port <= 65535)) badFlag(`invalid --port '${flags.port}': expected 0 to 65535`);
// Every machine of this process, for the statechart view (`/inspect`).
const inspection = new InspectionHub();
const leaderDetector = new KvLeaderDetector({ nc, cluster: flags.cluster, leaseMs: flags.lease, logger, inspection, ...(inspect ? { inspect } : {}) });
let leader: LeaderInfo | undefined;
leaderDetector.start((l) => {
  leader = l;
});
/** The master, once started (the HTTP endpoints come up first). */
const current: { master?: ReturnType<typeof startMaster> } = {};
const events = new OperatorEventHub();
const http = await startMasterHttp({
  ip: flags.ip,
  port: flags.port,
  logger,
  cluster: flags.cluster,
  version: packageVersion(),
  events,
  auth: httpSec.auth,
  views: viewFilters(acls),
  acls,
  ...(httpSec.tls ? { tls: httpSec.tls } : {}),
  inspection,
  flags: shownFlags(flags),
  view: {
    context: () => current.master?.host.actor.getSnapshot().context,
    leading: () => current.master?.host.actor.getSnapshot().hasTag('leading') ?? false,
    leader: () => leader,
    metrics: () => current.master?.metrics() ?? {},
    weightOf: (role) => current.master?.host.actor.getSnapshot().context.state.allocator.weightOf(role) ?? 1,
    // Writes go into the master as an operator acting for the request's principal.
    operatorCall: (msg, principal) => current.master?.operatorCall(msg, principal) ?? Promise.resolve({ outcome: 'timeout', message: 'the master is not started yet' }),
  },
}).catch((e: Error) => {
  process.stderr.write(`mesos-master: cannot listen on ${flags.ip}:${flags.port}: ${e.message}${flags.port !== 0 ? ' (--port=0 picks a free port)' : ''}\n`);
  return process.exit(1);
});
logger.info({ http: http.address }, `HTTP endpoints on ${http.scheme}://${http.address}`);
if (flags.inspect === 'ui') logger.info({ inspect: `${http.scheme}://${http.address}/inspect` }, `statecharts of this master's machines on ${http.scheme}://${http.address}/inspect`);
const master = startMaster({
  httpAddress: http.address,
  // A burst of thousands of messages is handled a slice at a time, with timers and HTTP between.
  inboundSliceMs: SLICE_MS,
  onOperatorEvent: (e) => events.publish(e),
  ...(id.principal ? { principal: id.principal } : {}),
  transport,
  cluster: flags.cluster,
  hostname: flags.hostname,
  logger,
  // The view's records are taken without XState's inspection; --inspect=log or ws:// add it.
  inspection,
  inspect,
  registry: new KvRegistry(nc, flags.cluster),
  ...(rateLimits ? { rateLimits } : {}),
  flags: {
    allocationIntervalMs: flags.allocation_interval,
    offerTimeoutMs: flags.offer_timeout,
    agentPingTimeoutMs: flags.agent_ping_timeout,
    maxAgentPingTimeouts: flags.max_agent_ping_timeouts,
    agentReregisterTimeoutMs: flags.agent_reregister_timeout,
    frameworkHeartbeatIntervalMs: flags.framework_heartbeat_interval,
    maxFrameworkHeartbeatMisses: flags.max_framework_heartbeat_misses,
    allocationChunkAgents: flags.allocation_chunk_agents,
    revocationGracePeriodMs: flags.revocation_grace_period,
    acls,
    allocator: {
      roleSorter: flags.role_sorter as SorterPolicy,
      frameworkSorter: flags.framework_sorter as SorterPolicy,
      minAllocatable,
      seed: flags.seed,
    },
  },
  lease: (value) => new WorkerLeaseCandidate({ servers, cluster: flags.cluster, leaseMs: flags.lease, value, logLevel: String(flags.log_level), inspection, ...(id.credential ? { credential: id.credential } : { connectOptions: id.options }) }),
});
current.master = master;
logger.info({ actorPid: master.pid, cluster: flags.cluster, http: http.address }, 'master started; contending for leadership');
onShutdown(async () => {
  await http.close();
  await leaderDetector.stop();
  await master.stop();
  await transport.close();
});
