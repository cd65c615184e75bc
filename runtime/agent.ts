/**
 * Runs an agent: hosts the agent machine, feeds it the leader from a detector, and performs its
 * effects — launching executors in sandboxes and killing them through the containerizer, writing
 * checkpoints. A restarted agent first recovers: it reads its checkpoints, takes back the
 * containers still running, and only looks for a master once its executors re-registered (or the
 * re-registration timeout passed).
 */
import { randomUUID } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { hostname as osHostname } from 'node:os';
import { waitFor } from 'xstate';
import { createAgentMachine, type AgentMachine } from '../actors/agent/agent.machine.ts';
import { isIdle, type AgentEffect, type AgentFlags, type RecoveredAgent } from '../actors/agent/state.ts';
import type { Attribute } from '../protocols/attributes.ts';
import type { AgentInfo } from '../protocols/records.ts';
import type { Resources } from '../protocols/resources.ts';
import { pid as makePid } from '../protocols/pid.ts';
import { depsFor, hostActor, type ActorHost } from './actor-host.ts';
import { realClock } from './clock.ts';
import { PosixContainerizer, type CgroupIsolation, type ContainerExit, type Containerizer, type DiskIsolation } from './containerizer.ts';
import { cgroupsUnusable, detectCgroups } from './cgroups.ts';
import { AgentCheckpoint, CheckpointError, currentBootId, incompatibility, type AgentIdentity, type ContainerRecord } from './checkpoint.ts';
import { SandboxGc } from './gc.ts';
import type { Inspect } from './inspect.ts';
import type { ActorRecorder } from './inspection.ts';
import type { Logger } from './log.ts';
import type { Clock, LeaderDetector, Transport } from './types.ts';
import { AgentTransport, ExecutorChannelServer, channelEndpoint, endpointForEnv, loadExecutorSecret } from './executor-channel.ts';
import { Metrics } from './metrics.ts';

/** How to start an agent. */
export interface AgentOptions {
  /** The principal it connects to the bus as (its PID names it). Default `anonymous`. */
  principal?: string;
  transport: Transport;
  cluster: string;
  logger: Logger;
  detector: LeaderDetector;
  resources: Resources;
  attributes?: Attribute[];
  hostname?: string;
  /**
   * Where the agent's HTTP endpoints listen (`host:port`, `runtime/http/agent-http.ts`): told to
   * the master in the agent's info, and stamped on status updates next to the sandbox.
   */
  httpAddress?: string;
  /**
   * Called when the master tells the agent to shut down (it was marked gone), once the agent has
   * begun ending its executors; the process is expected to stop.
   */
  onShutdownRequested?: (message: string) => void;
  workDir: string;
  /** argv of the built-in command executor. */
  commandExecutor: string[];
  flags?: Partial<AgentFlags>;
  clock?: Clock;
  /** XState's inspection (`--inspect=log`, `ws://…`), at XState's price. */
  inspect?: Inspect;
  /** Records the machine's events and states for the statechart view, without XState's inspection. */
  inspection?: ActorRecorder;
  id?: string;
  /** Runs executors; the POSIX containerizer (child processes) by default. */
  containerizer?: Containerizer;
  /**
   * Keep the agent's identity and its containers under `<workDir>/meta`, so that an agent started
   * again on the same work dir is the same agent (same PID, same agent id) and destroys what its
   * predecessor left running. `mesos-agent` does; tests that share a work dir do not.
   */
  checkpoint?: boolean;
  /**
   * Isolators (`--isolation`): `cgroups/cpu` and `cgroups/mem` put each container in control
   * groups of its own, with limits from its resources; `posix/cpu` and `posix/mem` (the default)
   * only run it in a process group. Where cgroups cannot be used, the agent says why and runs
   * without them.
   */
  isolation?: readonly string[];
  /** The groups' parent in each hierarchy (`--cgroups_root`). */
  cgroupsRoot?: string;
  /** `cpus` is a hard limit, not only a weight (`--cgroups_enable_cfs`). */
  cgroupsEnableCfs?: boolean;
  /** Sandbox sizes measured (`posix/disk`), and with `enforce` limited to `disk`. */
  disk?: DiskIsolation;
  /**
   * Sandboxes of ended executor runs are removed after `delayMs` (`--gc_delay`), sooner as the
   * disk fills (`--gc_disk_headroom`, checked every `diskWatchIntervalMs`). Without it they stay.
   */
  gc?: { delayMs: number; diskHeadroom: number; diskWatchIntervalMs?: number };
  /**
   * Run containers as the user their command or framework names (`--switch_user`, default: when
   * the agent runs as root). An unknown user fails the launch with a message naming it.
   */
  switchUser?: boolean;
  /**
   * Refuse to start on a checkpoint that cannot be read (`--strict`, the default); without it, what
   * cannot be read is logged and left out.
   */
  strict?: boolean;
}

/** The isolators an agent knows. */
export const ISOLATORS = ['posix/cpu', 'posix/mem', 'posix/disk', 'cgroups/cpu', 'cgroups/mem'] as const;

/** Cgroup isolation for `isolation`, or `undefined` (with a warning naming why, when it was asked for). */
function cgroupIsolation(opts: Pick<AgentOptions, 'isolation' | 'cgroupsRoot' | 'cgroupsEnableCfs' | 'logger'>): CgroupIsolation | undefined {
  const cpu = opts.isolation?.includes('cgroups/cpu') ?? false;
  const memory = opts.isolation?.includes('cgroups/mem') ?? false;
  if (!cpu && !memory) return undefined;
  const layout = detectCgroups();
  const base = opts.cgroupsRoot ?? 'mesos';
  const why = cgroupsUnusable(layout, { cpu, memory }, base);
  if (why) {
    opts.logger.warn({ isolation: opts.isolation }, `cgroup isolation is not available: ${why}; containers run without limits (posix)`);
    return undefined;
  }
  opts.logger.info({ v2: layout.v2, cpuV1: layout.cpuV1, memoryV1: layout.memoryV1, controllers: [...layout.v2Controllers] }, 'cgroup isolation');
  return { layout, base, cpu, memory, cfs: opts.cgroupsEnableCfs ?? false };
}

/** A running agent. */
export interface AgentHandle {
  readonly pid: string;
  readonly host: ActorHost<AgentMachine>;
  readonly containerizer: Containerizer;
  /** Resolves with the agent id once registered. */
  registered(timeoutMs?: number): Promise<string>;
  /**
   * Leaves the cluster cleanly (SIGTERM): shuts every executor down so each task ends with an
   * update the master sees, waits (at most `timeoutMs`) until those updates are acknowledged, then
   * unregisters, so the master removes the agent at once instead of after missed pings.
   * @returns whether everything was acknowledged in time.
   */
  leave(timeoutMs?: number): Promise<boolean>;
  /**
   * Stops the agent. Executors are killed too, unless `keepExecutors`: then those of frameworks
   * that checkpoint keep running for a restarted agent to recover, and only the others are killed
   * (SIGTERM, as Mesos' agent does on SIGTERM).
   */
  stop(opts?: { keepExecutors?: boolean }): Promise<void>;
  /** What recovery found and did at start. */
  readonly recovery: { recovered: string[]; destroyed: string[] };
  /**
   * Resolves once executors can connect to the agent's local channel; rejects when it cannot
   * listen (another agent runs on the same work dir). Resolved at once without a channel (an agent
   * given its own containerizer).
   */
  readonly listening: Promise<void>;
}

/**
 * `--recover=cleanup`: destroys every container an earlier agent on the work dir left running,
 * with everything in their control groups, and returns their ids; no agent starts. For an
 * upgrade that executors of the old version must not survive. @see Mesos `--recover=cleanup`.
 */
export async function cleanUpAgent(
  opts: Pick<AgentOptions, 'workDir' | 'logger' | 'commandExecutor' | 'isolation' | 'cgroupsRoot' | 'cgroupsEnableCfs'>,
): Promise<string[]> {
  const cgroups = cgroupIsolation(opts);
  const c = new PosixContainerizer({ workDir: opts.workDir, commandExecutor: opts.commandExecutor, logger: opts.logger, checkpoint: new AgentCheckpoint(opts.workDir), ...(cgroups ? { cgroups } : {}) });
  const { destroyed } = c.recover();
  await c.settled();
  return destroyed;
}

/**
 * The identity of the agent on `checkpoint`'s work dir: the checkpointed one when its settings
 * still match (after a host reboot too: the id stays, the processes are gone), a new one for a
 * fresh work dir. Throws {@link CheckpointError} when the work dir belongs to an agent with other
 * settings, or cannot be read.
 */
function recoverIdentity(checkpoint: AgentCheckpoint, info: AgentInfo, opts: AgentOptions): AgentIdentity & { rebooted: boolean } {
  const saved = checkpoint.identity();
  if (saved) {
    const why = incompatibility(saved.info, info);
    if (why) {
      throw new CheckpointError(`${opts.workDir} belongs to an agent started with other settings (${why}); start with those settings, use another --work_dir, or remove ${checkpoint.identityPath} to start as a new agent`);
    }
  }
  const bootId = currentBootId();
  const identity: AgentIdentity = { pidId: saved?.pidId ?? opts.id ?? randomUUID().slice(0, 8), info, bootId, ...(saved?.agentId ? { agentId: saved.agentId } : {}) };
  const rebooted = saved !== undefined && saved.bootId !== bootId;
  if (saved) opts.logger.info({ agentId: saved.agentId, pidId: saved.pidId, rebooted }, 'recovered the agent identity from its checkpoint');
  checkpoint.saveIdentity(identity);
  return { ...identity, rebooted };
}

/**
 * What an earlier agent on this work dir left: the checkpointed frameworks, executors, tasks and
 * update streams, with which executors' containers still run (none after a reboot: the boot id
 * changed). Those containers are kept and watched again (`onExit`); every other container is
 * destroyed. Throws {@link CheckpointError} for unreadable checkpoints under `strict`.
 */
function recoverWork(
  checkpoint: AgentCheckpoint | undefined,
  posix: PosixContainerizer | undefined,
  identity: AgentIdentity & { rebooted?: boolean },
  opts: AgentOptions,
  onExit: (record: ContainerRecord, exit: ContainerExit) => void,
): { recovered?: RecoveredAgent; recovery: { recovered: string[]; destroyed: string[] } } {
  if (!checkpoint || !posix) return { recovery: { recovered: [], destroyed: [] } };
  const { state, errors, skipped } = checkpoint.recovered(() => false);
  for (const path of skipped) opts.logger.warn({ path }, 'a checkpoint was never written (the agent died while writing it): what it would describe is not recovered');
  if (!identity.rebooted) {
    const running = new Set(posix.runningRecords().map((r) => r.containerId));
    // An executor started just before the agent died may run without a record.
    const unrecorded = state.executors.filter((x) => !running.has(x.containerId));
    const found = posix.recordUnrecorded(unrecorded.map((x) => ({
      containerId: x.containerId, frameworkId: x.frameworkId, executorId: x.info.executorId, agentId: identity.agentId ?? '', commandExecutor: x.commandExecutor,
    })));
    for (const id of found) running.add(id);
    for (const x of state.executors) x.alive = running.has(x.containerId);
  }
  if (errors.length > 0) {
    if (opts.strict ?? true) {
      throw new CheckpointError(`cannot recover from ${checkpoint.metaDir}: ${errors[0]}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}; start with --strict=false to recover what can be read, or with --recover=cleanup`);
    }
    for (const err of errors) opts.logger.warn({ error: err }, 'ignoring a checkpoint that cannot be read (--strict=false)');
  }
  const keep = new Set(state.executors.filter((x) => x.alive).map((x) => x.containerId));
  for (const x of state.executors) {
    x.directory = posix.sandboxOf({ agentId: identity.agentId ?? '', frameworkId: x.frameworkId, executorId: x.info.executorId, containerId: x.containerId });
  }
  const recovery = posix.recover({ keep, onExit });
  if (recovery.destroyed.length > 0) opts.logger.warn({ containers: recovery.destroyed.length }, 'destroyed containers an earlier agent left running that cannot be recovered');
  const any = state.frameworks.length > 0 || state.executors.length > 0;
  return { ...(any ? { recovered: state } : {}), recovery };
}

/** When `path` was last modified (ms), or now when it cannot be read. */
function mtimeOf(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return Date.now();
  }
}

/** Starts an agent. */
export function startAgent(opts: AgentOptions): AgentHandle {
  const info: AgentInfo = { hostname: opts.hostname ?? osHostname(), resources: opts.resources, attributes: opts.attributes ?? [], ...(opts.httpAddress ? { http: opts.httpAddress } : {}) };
  const checkpoint = opts.checkpoint ? new AgentCheckpoint(opts.workDir) : undefined;
  const identity: AgentIdentity & { rebooted?: boolean } = checkpoint ? recoverIdentity(checkpoint, info, opts) : { pidId: opts.id ?? randomUUID().slice(0, 8), info, bootId: '' };
  const pid = makePid(opts.cluster, 'agent', identity.pidId, opts.principal);
  const clock = opts.clock ?? realClock;
  const cgroups = opts.containerizer ? undefined : cgroupIsolation(opts);
  const posix = opts.containerizer ? undefined : new PosixContainerizer({
    workDir: opts.workDir, commandExecutor: opts.commandExecutor, logger: opts.logger, checkpoint, ...(cgroups ? { cgroups } : {}), ...(opts.disk ? { disk: opts.disk } : {}),
    switchUser: (opts.switchUser ?? true) && process.getuid?.() === 0,
  });
  const containerizer = opts.containerizer ?? posix!;
  const metrics = new Metrics();
  // Executors speak to this agent, and only to it, over its local channel: they are never on the
  // bus. Agents given a containerizer of their own (simulations) start no executor processes.
  const endpoint = channelEndpoint(opts.workDir);
  const channel = posix ? new ExecutorChannelServer({
    endpoint, cluster: opts.cluster, agentPid: pid, secret: loadExecutorSecret(join(opts.workDir, 'meta', 'executor-secret')),
    logger: opts.logger, metrics,
  }) : undefined;
  const gc = opts.gc ? new SandboxGc({ clock, logger: opts.logger, workDir: opts.workDir, gcDelayMs: opts.gc.delayMs, diskHeadroom: opts.gc.diskHeadroom }) : undefined;
  /** A container ended: its sandbox is kept for a while, and the machine learns how it ended. */
  const exited = (c: { frameworkId: string; executorId: string; containerId: string; agentId?: string }, exit: ContainerExit) => {
    if (gc && posix) gc.schedule(posix.sandboxOf({ ...c, agentId: c.agentId ?? host.actor.getSnapshot().context.state.agentId ?? '' }));
    // What the executor sent before it ended (its terminal update, say) is heard first: its end
    // would otherwise fail tasks it had finished.
    if (channel) void channel.drained(c.containerId).then(() => tellExited(c, exit));
    else tellExited(c, exit);
  };
  const tellExited = (c: { frameworkId: string; executorId: string; containerId: string }, exit: ContainerExit) => {
    host.send({
      type: 'executor.exited', frameworkId: c.frameworkId, executorId: c.executorId, containerId: c.containerId, status: exit.status,
      ...(exit.message ? { message: exit.message } : {}), ...(exit.limitation ? { limitation: exit.limitation } : {}),
    });
  };
  const { recovered, recovery } = recoverWork(checkpoint, posix, identity, opts, exited);
  if (gc && posix) {
    // Sandboxes of runs that ended before this start (not recovered) are collected as if they had
    // ended when last written to.
    for (const dir of posix.runDirectories()) {
      if (!recovery.recovered.some((id) => dir.endsWith(`/runs/${id.replace(/[^A-Za-z0-9_.-]/g, '_')}`))) gc.schedule(dir, mtimeOf(dir));
    }
    gc.start(opts.gc?.diskWatchIntervalMs);
  }

  // `host` is defined below; effects are only emitted once it exists.
  const onEffect = (ev: { type: string }) => {
    const e = ev as AgentEffect;
    if (e.type === 'effect.launchExecutor') {
      const directory = containerizer.launch(
        {
          ...e,
          env: {
            MESOS_AGENT_PID: pid,
            MESOS_AGENT_OS_PID: String(process.pid),
            MESOS_CHECKPOINT: e.checkpoint ? '1' : '0',
            MESOS_RECOVERY_TIMEOUT_MS: String(host.actor.getSnapshot().context.flags.recoveryTimeoutMs),
            MESOS_AGENT_ID: e.agentId,
            MESOS_FRAMEWORK_ID: e.frameworkId,
            MESOS_EXECUTOR_ID: e.executorId,
            MESOS_CONTAINER_ID: e.containerId,
            MESOS_CLUSTER: opts.cluster,
            ...(channel ? { MESOS_AGENT_ENDPOINT: endpointForEnv(endpoint), MESOS_EXECUTOR_TOKEN: channel.tokenFor(e.containerId) } : {}),
          },
        },
        (exit) => exited(e, exit),
      );
      host.send({ type: 'executor.launched', frameworkId: e.frameworkId, executorId: e.executorId, containerId: e.containerId, directory });
    } else if (e.type === 'effect.killExecutor') {
      containerizer.kill(e.containerId, e.graceMs);
    } else if (e.type === 'effect.shutdown') {
      opts.onShutdownRequested?.(e.message);
    } else if (e.type === 'effect.updateContainer') {
      containerizer.update?.(e.containerId, e.resources);
    } else if (e.type === 'effect.reportUsage') {
      const executors = [];
      for (const c of e.containers) {
        const statistics = containerizer.usage?.(c.containerId);
        if (statistics) executors.push({ ...c, statistics });
      }
      const agentId = host.actor.getSnapshot().context.state.agentId;
      host.sendMessage(e.to, { type: 'ContainerStatistics', body: { ...(agentId ? { agentId } : {}), executors } });
    } else if (e.type === 'effect.checkpoint') {
      try {
        checkpoint?.apply(e);
      } catch (err) {
        host.metrics.inc('slave/checkpoint_errors');
        opts.logger.error({ err, op: e.op, frameworkId: e.frameworkId }, 'could not write a checkpoint: a restarted agent may not recover this work');
      }
    }
  };
  const host: ActorHost<AgentMachine> = hostActor(createAgentMachine(depsFor(clock)), {
    self: pid, info, flags: opts.flags, osPid: process.pid, ...(identity.agentId ? { agentId: identity.agentId } : {}), ...(recovered ? { recovered } : {}),
  }, {
    pid,
    transport: channel ? new AgentTransport(opts.transport, channel, opts.cluster) : opts.transport,
    logger: opts.logger,
    clock,
    metrics,
    inspect: opts.inspect,
    ...(opts.inspection ? { inspection: opts.inspection } : {}),
    onEmit: onEffect,
  });
  const listening = channel ? channel.listen() : Promise.resolve();
  listening.catch((err: unknown) => opts.logger.error({ err }, 'cannot open the executors\' channel: is another agent running on this work dir?'));
  /** Set once the agent left the cluster: it starts as a new agent next time. */
  let left = false;
  if (checkpoint) {
    // The id the master gives is checkpointed as soon as it is known.
    let saved = identity.agentId;
    host.actor.subscribe((snap) => {
      const id = snap.context.state.agentId;
      if (left || id === undefined || id === saved) return;
      saved = id;
      try {
        checkpoint.saveIdentity({ ...identity, agentId: id });
      } catch (e) {
        opts.logger.error({ err: e, path: checkpoint.identityPath }, 'could not checkpoint the agent id: a restarted agent will register as a new one');
      }
    });
  }
  // As in Mesos, the agent looks for a master only once recovery is over: it then re-registers
  // with every task its executors reported.
  let detecting = false;
  const startDetecting = () => {
    if (detecting) return;
    detecting = true;
    opts.detector.start((leader) => {
      opts.logger.info({ leader: leader?.pid, epoch: leader?.epoch }, leader ? 'detected leading master' : 'no leading master');
      host.send({ type: 'detector.leaderChanged', ...(leader ? { leader: { pid: leader.pid, epoch: leader.epoch } } : {}) });
    });
  };
  if (host.actor.getSnapshot().hasTag('recovered')) startDetecting();
  else {
    const sub = host.actor.subscribe((snap) => {
      if (!snap.hasTag('recovered')) return;
      sub.unsubscribe();
      startDetecting();
    });
  }
  return {
    pid,
    host,
    containerizer,
    registered: async (timeoutMs = 30_000) => {
      const s = await waitFor(host.actor, (snap) => snap.hasTag('registered'), { timeout: timeoutMs });
      return s.context.state.agentId!;
    },
    leave: async (timeoutMs = 10_000) => {
      host.send({ type: 'agent.leave' });
      let settled = true;
      try {
        await waitFor(host.actor, (snap) => isIdle(snap.context.state), { timeout: timeoutMs });
      } catch {
        settled = false;
        opts.logger.warn({ timeoutMs }, 'leaving with status updates still unacknowledged');
      }
      host.send({ type: 'agent.unregister' });
      await opts.transport.flush();
      // The master forgets an agent that unregistered: started again, it registers as a new one.
      left = true;
      try {
        checkpoint?.saveIdentity({ pidId: identity.pidId, info: identity.info, bootId: identity.bootId });
      } catch (e) {
        opts.logger.error({ err: e }, 'could not clear the checkpointed agent id');
      }
      return settled;
    },
    stop: async (stopOpts = {}) => {
      gc?.stop();
      if (detecting) await opts.detector.stop();
      const state = host.actor.getSnapshot().context.state;
      host.stop();
      await channel?.close();
      if (!stopOpts.keepExecutors) {
        await containerizer.destroyAll();
        return;
      }
      // Executors of frameworks that do not checkpoint could not be recovered: they go now.
      const grace = host.actor.getSnapshot().context.flags.executorShutdownGracePeriodMs;
      for (const e of state.executors.values()) {
        if (state.frameworks.get(e.frameworkId)?.checkpoint !== true && e.phase !== 'terminated') containerizer.kill(e.containerId, grace);
      }
      posix?.release();
    },
    recovery,
    listening,
  };
}
