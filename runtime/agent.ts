/**
 * Runs an agent: hosts the agent machine, feeds it the leader from a detector, and performs its
 * effects — launching executors in sandboxes and killing them — through the containerizer.
 */
import { randomUUID } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import { waitFor } from 'xstate';
import { createAgentMachine, type AgentMachine } from '../actors/agent/agent.machine.ts';
import { isIdle, type AgentEffect, type AgentFlags } from '../actors/agent/state.ts';
import type { Attribute } from '../protocols/attributes.ts';
import type { Resources } from '../protocols/resources.ts';
import { pid as makePid } from '../protocols/pid.ts';
import { depsFor, hostActor, type ActorHost } from './actor-host.ts';
import { realClock } from './clock.ts';
import { PosixContainerizer, type Containerizer } from './containerizer.ts';
import type { Inspect } from './inspect.ts';
import type { Logger } from './log.ts';
import type { Clock, LeaderDetector, Transport } from './types.ts';

/** How to start an agent. */
export interface AgentOptions {
  transport: Transport;
  cluster: string;
  logger: Logger;
  detector: LeaderDetector;
  resources: Resources;
  attributes?: Attribute[];
  hostname?: string;
  workDir: string;
  /** argv of the built-in command executor. */
  commandExecutor: string[];
  /** NATS URLs handed to executors. */
  natsServers: string;
  flags?: Partial<AgentFlags>;
  clock?: Clock;
  inspect?: Inspect;
  id?: string;
  /** Runs executors; the POSIX containerizer (child processes) by default. */
  containerizer?: Containerizer;
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
  /** Stops the agent; executors are killed too unless `keepExecutors`. */
  stop(opts?: { keepExecutors?: boolean }): Promise<void>;
}

/** Starts an agent. */
export function startAgent(opts: AgentOptions): AgentHandle {
  const id = opts.id ?? randomUUID().slice(0, 8);
  const pid = makePid(opts.cluster, 'agent', id);
  const clock = opts.clock ?? realClock;
  const containerizer = opts.containerizer ?? new PosixContainerizer({ workDir: opts.workDir, commandExecutor: opts.commandExecutor, logger: opts.logger });
  const info = { hostname: opts.hostname ?? osHostname(), resources: opts.resources, attributes: opts.attributes ?? [] };

  // `host` is defined below; effects are only emitted once it exists.
  const onEffect = (ev: { type: string }) => {
    const e = ev as AgentEffect;
    if (e.type === 'effect.launchExecutor') {
      containerizer.launch(
        {
          ...e,
          env: {
            MESOS_AGENT_PID: pid,
            MESOS_AGENT_ID: e.agentId,
            MESOS_FRAMEWORK_ID: e.frameworkId,
            MESOS_EXECUTOR_ID: e.executorId,
            MESOS_CONTAINER_ID: e.containerId,
            MESOS_NATS: opts.natsServers,
            MESOS_CLUSTER: opts.cluster,
          },
        },
        (exit) => host.send({ type: 'executor.exited', frameworkId: e.frameworkId, executorId: e.executorId, containerId: e.containerId, status: exit.status, ...(exit.message ? { message: exit.message } : {}) }),
      );
    } else if (e.type === 'effect.killExecutor') {
      containerizer.kill(e.containerId, e.graceMs);
    }
  };
  const host: ActorHost<AgentMachine> = hostActor(createAgentMachine(depsFor(clock)), { self: pid, info, flags: opts.flags }, {
    pid,
    transport: opts.transport,
    logger: opts.logger,
    clock,
    inspect: opts.inspect,
    onEmit: onEffect,
  });
  opts.detector.start((leader) => {
    opts.logger.info({ leader: leader?.pid, epoch: leader?.epoch }, leader ? 'detected leading master' : 'no leading master');
    host.send({ type: 'detector.leaderChanged', ...(leader ? { leader: { pid: leader.pid, epoch: leader.epoch } } : {}) });
  });
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
      return settled;
    },
    stop: async (stopOpts = {}) => {
      await opts.detector.stop();
      host.stop();
      if (!stopOpts.keepExecutors) await containerizer.destroyAll();
    },
  };
}
