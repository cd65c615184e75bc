/**
 * A whole cluster in one process, as `mesos-local` runs it: an embedded `nats-server` (unless a
 * URL is given), one master and N agents. Executors still run as separate processes.
 *
 * Secured by default, as a cluster of separate processes is: the embedded server is configured
 * with a fresh set of credentials (one principal per role, see `credentials.ts`), and the master,
 * the agents and the framework each connect as their own principal. With a server of one's own,
 * the credentials written for it (`mesos-credentials init`) are read from `credentialsDir`.
 *
 * @see Mesos `mesos-local` (`src/local/local.cpp`).
 */
import { cpus, totalmem, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { defaultAgentResources, parseResources, type Resources } from '../protocols/resources.ts';
import type { AgentFlags } from '../actors/agent/state.ts';
import type { MasterFlags } from '../actors/master/state.ts';
import { startAgent, type AgentHandle } from './agent.ts';
import { agentView, rememberingLeader, startAgentHttp } from './http/agent-http.ts';
import { connectionOptions, credentialFile, loadCredential, writeCredentials, type PrincipalKind } from './credentials.ts';
import type { Inspect } from './inspect.ts';
import type { InspectionHub } from './inspection.ts';
import { KvLeaderDetector, KvLeaseCandidate } from './lease.ts';
import type { Logger } from './log.ts';
import { startMaster, type MasterHandle } from './master.ts';
import { startNatsServer, type NatsServerHandle } from './nats-server.ts';
import { connectNatsPatiently, NatsTransport, type NatsWaiting } from './transport-nats.ts';
import { KvRegistry } from './registry.ts';
import { PACKAGE_VERSION } from './version.ts';

/** How to start a local cluster. */
export interface LocalClusterOptions {
  agents: number;
  logger: Logger;
  /** argv of the built-in command executor. */
  commandExecutor: string[];
  /** Per-agent resources; default: this machine's, Mesos style. */
  resources?: Resources | string;
  cluster?: string;
  /** Use this NATS server instead of starting one. */
  natsUrl?: string;
  /**
   * How long to wait for a server (the one of `natsUrl`) that does not answer yet, in ms; then
   * `startLocalCluster` rejects with a `NatsConnectError`. Default 60 s.
   */
  natsConnectTimeoutMs?: number;
  /** Told while waiting for the server, every few seconds. */
  onNatsWaiting?: (w: NatsWaiting) => void;
  /**
   * Connect without credentials (the embedded server then has no users): anyone on the bus can
   * act as anyone. Default false.
   */
  insecure?: boolean;
  /**
   * With `natsUrl` (and not `insecure`): the directory `mesos-credentials init` wrote for that
   * server; the master, agents and framework use its `master`, `agent` and `framework` principals.
   */
  credentialsDir?: string;
  workDir?: string;
  /**
   * Keep the work dir (the sandboxes) when the cluster stops, also one it made itself (which
   * otherwise goes with it). `mesos-local` keeps it unless `--cleanup`.
   */
  keepWorkDir?: boolean;
  leaseMs?: number;
  masterFlags?: Partial<MasterFlags>;
  agentFlags?: Partial<AgentFlags>;
  /** Isolators of every agent (`AgentOptions.isolation`, e.g. `cgroups/cpu`); default: the agent's (posix). */
  isolation?: readonly string[];
  /** Parent of the agents' control groups in each hierarchy (`AgentOptions.cgroupsRoot`); default: the agent's. */
  cgroupsRoot?: string;
  inspect?: Inspect;
  /**
   * Records every machine of the cluster (the master, its lease candidate, each agent and its
   * leader detector) for the statechart view, which each agent's HTTP endpoints then serve
   * (`/inspect`). Size its `maxMachines` for 2 + 2 × agents.
   */
  inspection?: InspectionHub;
}

/** A running local cluster. */
export interface LocalCluster {
  readonly natsUrl: string;
  readonly cluster: string;
  readonly workDir: string;
  /** The master's connection. */
  readonly nc: NatsConnection;
  /** Where the principals' credential files are (none when insecure). */
  readonly credentialsDir?: string;
  readonly master: MasterHandle;
  readonly agents: AgentHandle[];
  /** Each agent's HTTP address (`host:port`, on 127.0.0.1), in the order of {@link agents}. */
  readonly agentHttp: string[];
  /**
   * The bus of frameworks in this process: a connection as the `framework` principal (opened on
   * the first call, closed by `stop()`), a transport on it, and a new leader detector per driver
   * (a driver stops its detector when it stops).
   */
  framework(): Promise<{ transport: NatsTransport; detector(): KvLeaderDetector; principal?: string }>;
  /** Stops agents (killing executors), master, connection and the embedded server. */
  stop(): Promise<void>;
}

/** Resources of one agent when none are given: this machine's cpus, memory and disk. */
export function machineResources(): Resources {
  return defaultAgentResources({ cpus: cpus().length, memMb: Math.floor(totalmem() / (1024 * 1024)) });
}

/** Starts nats-server (if needed), a master, and `agents` agents; resolves once all agents registered. */
export async function startLocalCluster(opts: LocalClusterOptions): Promise<LocalCluster> {
  const cluster = opts.cluster ?? 'local';
  const cleanups: Array<() => unknown> = [];
  try {
    return await start(opts, cluster, cleanups);
  } catch (e) {
    for (const f of cleanups.reverse()) await f();
    throw e;
  }
}

async function start(opts: LocalClusterOptions, cluster: string, cleanups: Array<() => unknown>): Promise<LocalCluster> {
  let server: NatsServerHandle | undefined;
  let credentialsDir: string | undefined;
  /** The embedded server's users and TLS, when it gets credentials. */
  let serverConfig: string | undefined;
  if (!opts.insecure) {
    if (opts.natsUrl !== undefined) {
      if (opts.credentialsDir === undefined) throw new Error('a cluster on a server of its own needs the credentials written for that server (credentialsDir), or insecure');
      credentialsDir = opts.credentialsDir;
    } else {
      const dir = mkdtempSync(join(tmpdir(), 'mesos-local-credentials-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      credentialsDir = dir;
      serverConfig = writeCredentials(dir, { cluster, frameworks: ['framework'] }).serverConfig;
    }
  }
  if (opts.natsUrl === undefined) {
    server = await startNatsServer({
      logger: { info: () => {}, warn: (m: string) => opts.logger.warn(m) },
      ...(serverConfig !== undefined ? { config: serverConfig } : {}),
    });
    cleanups.push(() => server?.stop());
  }
  const natsUrl = opts.natsUrl ?? server!.url;
  /** A connection as the `kind` principal of this cluster (anonymous when insecure). */
  const connectAs = async (kind: PrincipalKind, principal: string) => {
    const credential = credentialsDir !== undefined ? loadCredential(credentialFile(credentialsDir, kind, principal)) : undefined;
    const nc = await connectNatsPatiently({
      servers: natsUrl,
      name: `mesos-local-${kind}`,
      logger: opts.logger,
      options: credential ? connectionOptions(credential) : {},
      timeoutMs: opts.natsConnectTimeoutMs ?? 60_000,
      ...(opts.onNatsWaiting ? { onWaiting: opts.onNatsWaiting } : {}),
    });
    const transport = new NatsTransport(nc, { logger: opts.logger });
    cleanups.push(() => transport.close());
    return { nc, transport, principal: credential?.principal };
  };
  const ownWorkDir = opts.workDir === undefined;
  const workDir = opts.workDir ?? mkdtempSync(join(tmpdir(), 'mesos-local-'));
  // Sandboxes in a directory we made ourselves go with the cluster, unless asked to stay.
  if (ownWorkDir && !opts.keepWorkDir) cleanups.push(() => rmSync(workDir, { recursive: true, force: true }));
  const leaseMs = opts.leaseMs ?? 3000;
  const m = await connectAs('master', 'master');
  const master = startMaster({
    ...(m.principal ? { principal: m.principal } : {}),
    transport: m.transport,
    cluster,
    logger: opts.logger,
    flags: opts.masterFlags,
    inspect: opts.inspect,
    ...(opts.inspection ? { inspection: opts.inspection } : {}),
    registry: new KvRegistry(m.nc, cluster),
    // A server started just now has a brand-new store: no lost lease can be held in it, so the
    // master need not watch one lease before contending.
    lease: (value) => new KvLeaseCandidate({ nc: m.nc, cluster, leaseMs, value, logger: opts.logger, watchFirst: server === undefined, ...(opts.inspection ? { inspection: opts.inspection } : {}) }),
  });
  cleanups.push(() => master.stop());
  await master.elected();
  const resources = typeof opts.resources === 'string' ? parseResources(opts.resources) : opts.resources ?? machineResources();
  const a = await connectAs('agent', 'agent');
  const agents: AgentHandle[] = [];
  const agentHttp: string[] = [];
  for (let i = 0; i < opts.agents; i++) {
    const agentWorkDir = join(workDir, `agent-${i}`);
    // Each agent serves its state and sandboxes on a free port of its own.
    const started: { agent?: AgentHandle } = {};
    const detector = rememberingLeader(new KvLeaderDetector({ nc: a.nc, cluster, leaseMs, logger: opts.logger, ...(opts.inspection ? { inspection: opts.inspection } : {}) }));
    const http = await startAgentHttp({
      ip: '127.0.0.1', port: 0, logger: opts.logger, workDir: agentWorkDir, version: PACKAGE_VERSION,
      flags: { cluster, work_dir: agentWorkDir }, view: agentView(() => started.agent, detector.leader),
      ...(opts.inspection ? { inspection: opts.inspection } : {}),
    });
    cleanups.push(() => http.close());
    agentHttp.push(http.address);
    const agent = startAgent({
      ...(a.principal ? { principal: a.principal } : {}),
      transport: a.transport,
      cluster,
      logger: opts.logger,
      detector: detector.detector,
      httpAddress: http.address,
      resources,
      workDir: agentWorkDir,
      commandExecutor: opts.commandExecutor,
      flags: opts.agentFlags,
      inspect: opts.inspect,
      ...(opts.inspection ? { inspection: opts.inspection } : {}),
      isolation: opts.isolation,
      cgroupsRoot: opts.cgroupsRoot,
    });
    started.agent = agent;
    agents.push(agent);
    cleanups.push(() => agent.stop());
  }
  await Promise.all(agents.map((x) => x.registered()));
  let framework: ReturnType<LocalCluster['framework']> | undefined;
  return {
    natsUrl,
    cluster,
    workDir,
    nc: m.nc,
    ...(credentialsDir !== undefined ? { credentialsDir } : {}),
    master,
    agents,
    agentHttp,
    framework: () => (framework ??= connectAs('scheduler', 'framework').then((f) => ({
      transport: f.transport,
      detector: () => new KvLeaderDetector({ nc: f.nc, cluster, leaseMs, logger: opts.logger }),
      ...(f.principal ? { principal: f.principal } : {}),
    }))),
    // Agents (killing executors), the master, the connections, the server, then the directories.
    stop: async () => {
      for (const f of cleanups.splice(0).reverse()) await f();
    },
  };
}
