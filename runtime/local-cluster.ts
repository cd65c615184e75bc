/**
 * A whole cluster in one process, as `mesos-local` runs it: an embedded `nats-server` (unless a
 * URL is given), one master and N agents sharing one NATS connection. Executors still run as
 * separate processes.
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
import type { Inspect } from './inspect.ts';
import { KvLeaderDetector, KvLeaseCandidate } from './lease.ts';
import type { Logger } from './log.ts';
import { startMaster, type MasterHandle } from './master.ts';
import { startNatsServer, type NatsServerHandle } from './nats-server.ts';
import { connectNats, NatsTransport } from './transport-nats.ts';
import { KvRegistry } from './registry.ts';

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
  workDir?: string;
  leaseMs?: number;
  masterFlags?: Partial<MasterFlags>;
  agentFlags?: Partial<AgentFlags>;
  /** Isolators of every agent (`AgentOptions.isolation`, e.g. `cgroups/cpu`); default: the agent's (posix). */
  isolation?: readonly string[];
  /** Parent of the agents' control groups in each hierarchy (`AgentOptions.cgroupsRoot`); default: the agent's. */
  cgroupsRoot?: string;
  inspect?: Inspect;
}

/** A running local cluster. */
export interface LocalCluster {
  readonly natsUrl: string;
  readonly cluster: string;
  readonly workDir: string;
  readonly nc: NatsConnection;
  readonly master: MasterHandle;
  readonly agents: AgentHandle[];
  /** A leader detector for a framework in this process. */
  detector(): KvLeaderDetector;
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
  let server: NatsServerHandle | undefined;
  const natsUrl = opts.natsUrl ?? (server = await startNatsServer({ logger: { info: () => {}, warn: (m: string) => opts.logger.warn(m) } })).url;
  const ownWorkDir = opts.workDir === undefined;
  const workDir = opts.workDir ?? mkdtempSync(join(tmpdir(), 'mesos-local-'));
  const nc = await connectNats({ servers: natsUrl, name: 'mesos-local', logger: opts.logger });
  const transport = new NatsTransport(nc, { logger: opts.logger });
  const leaseMs = opts.leaseMs ?? 3000;
  const master = startMaster({
    transport,
    cluster,
    logger: opts.logger,
    flags: opts.masterFlags,
    inspect: opts.inspect,
    registry: new KvRegistry(nc, cluster),
    // A server started just now has a brand-new store: no lost lease can be held in it, so the
    // master need not watch one lease before contending.
    lease: (value) => new KvLeaseCandidate({ nc, cluster, leaseMs, value, logger: opts.logger, watchFirst: server === undefined }),
  });
  await master.elected();
  const resources = typeof opts.resources === 'string' ? parseResources(opts.resources) : opts.resources ?? machineResources();
  const detector = () => new KvLeaderDetector({ nc, cluster, leaseMs, logger: opts.logger });
  const agents: AgentHandle[] = [];
  for (let i = 0; i < opts.agents; i++) {
    agents.push(startAgent({
      transport,
      cluster,
      logger: opts.logger,
      detector: detector(),
      resources,
      workDir: join(workDir, `agent-${i}`),
      commandExecutor: opts.commandExecutor,
      flags: opts.agentFlags,
      inspect: opts.inspect,
      isolation: opts.isolation,
      cgroupsRoot: opts.cgroupsRoot,
    }));
  }
  await Promise.all(agents.map((a) => a.registered()));
  return {
    natsUrl,
    cluster,
    workDir,
    nc,
    master,
    agents,
    detector,
    stop: async () => {
      await Promise.all(agents.map((a) => a.stop()));
      await master.stop();
      await transport.close();
      await server?.stop();
      // Sandboxes in a directory we made ourselves go with the cluster.
      if (ownWorkDir) rmSync(workDir, { recursive: true, force: true });
    },
  };
}
