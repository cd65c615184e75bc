/**
 * Runs a master: hosts the master machine at its PID and feeds it leadership events from a lease
 * candidate. When leadership is lost the master resigns; the caller (`mesos-master`) exits so a
 * supervisor restarts it as a standby, as Mesos does.
 */
import { randomUUID } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import { waitFor } from 'xstate';
import { createMasterMachine, type MasterMachine } from '../actors/master/master.machine.ts';
import type { MasterFlags } from '../actors/master/state.ts';
import { pid as makePid } from '../protocols/pid.ts';
import { depsFor, hostActor, type ActorHost } from './actor-host.ts';
import { realClock } from './clock.ts';
import type { Inspect } from './inspect.ts';
import type { Logger } from './log.ts';
import type { Clock, LeaderInfo, LeaseCandidate, Transport } from './types.ts';

/** How to start a master. */
export interface MasterOptions {
  transport: Transport;
  cluster: string;
  logger: Logger;
  /** Builds this master's lease candidacy from the value it should publish. */
  lease: (value: Omit<LeaderInfo, 'epoch'>) => LeaseCandidate;
  hostname?: string;
  flags?: Partial<MasterFlags>;
  clock?: Clock;
  inspect?: Inspect;
  runId?: string;
  /** Called once when leadership is lost after being held. */
  onResign?: (reason: string) => void;
}

/** A running master. */
export interface MasterHandle {
  readonly pid: string;
  readonly runId: string;
  readonly host: ActorHost<MasterMachine>;
  /** Resolves when this master leads. */
  elected(timeoutMs?: number): Promise<void>;
  /** Resigns (if leading) and stops. */
  stop(): Promise<void>;
}

/** Starts a master and its candidacy. */
export function startMaster(opts: MasterOptions): MasterHandle {
  const runId = opts.runId ?? randomUUID().slice(0, 8);
  const pid = makePid(opts.cluster, 'master', runId);
  const hostname = opts.hostname ?? osHostname();
  const clock = opts.clock ?? realClock;
  const host = hostActor(createMasterMachine(depsFor(clock)), { self: pid, runId, hostname, flags: opts.flags }, {
    pid,
    transport: opts.transport,
    logger: opts.logger,
    clock,
    inspect: opts.inspect,
  });
  const candidate = opts.lease({ pid, hostname });
  let resigned = false;
  candidate.start((e) => {
    if (e.type === 'lease.acquired') opts.logger.info({ actorPid: pid, epoch: e.epoch }, 'elected leading master');
    host.send(e);
    if (e.type === 'lease.lost' && !resigned && host.actor.getSnapshot().status === 'done') {
      resigned = true;
      opts.onResign?.(e.reason);
    }
  });
  return {
    pid,
    runId,
    host,
    elected: async (timeoutMs = 30_000) => {
      await waitFor(host.actor, (s) => s.hasTag('leading'), { timeout: timeoutMs });
    },
    stop: async () => {
      await candidate.stop();
      host.stop();
    },
  };
}
