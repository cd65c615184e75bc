/**
 * What an agent keeps on disk so that a restarted agent is the same agent: under
 * `<work_dir>/meta`, its identity (the PID id executors address, the id the master gave it, the
 * `AgentInfo` it registered with, and the boot it ran in) and one record per container it started
 * (the executor's OS process and its start time), so that a restarted agent finds what its
 * predecessor left running.
 *
 * Every file is written whole to a temporary name, fsynced, renamed over the old one and the
 * directory fsynced: a crash leaves the old record or the new one, never a torn one.
 *
 * @see Mesos `src/slave/paths.hpp` (`meta/slaves/latest`, `boot_id`), `src/slave/state.hpp`.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { AgentInfo } from '../protocols/records.ts';
import { normalize } from '../protocols/resources.ts';

/** The agent's identity, as checkpointed. */
export interface AgentIdentity {
  /** The id in the agent's PID (`mesos.<cluster>.agent.<pidId>`): executors keep one address. */
  pidId: string;
  /** The id the master gave it, once registered. */
  agentId?: string;
  /** What it registered with (without the id). */
  info: AgentInfo;
  /** The host boot it ran in (`/proc/sys/kernel/random/boot_id`); another one means a reboot. */
  bootId: string;
}

/** A container an agent started. */
export interface ContainerRecord {
  containerId: string;
  frameworkId: string;
  executorId: string;
  /** The executor's OS process (the leader of its process group). */
  osPid: number;
  /** Its start time in clock ticks since boot (`/proc/<pid>/stat` field 22): tells a reused PID apart. */
  startTicks: number;
}

/** A checkpoint that cannot be read: its path and why. */
export class CheckpointError extends Error {}

/** This host's boot id; '' where the system does not tell. */
export function currentBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '';
  }
}

/** Writes `data` to `path` so that a crash leaves either the old file or the whole new one. */
export function writeDurably(path: string, data: string): void {
  const dir = join(path, '..');
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const d = openSync(dir, 'r');
  try {
    fsyncSync(d);
  } finally {
    closeSync(d);
  }
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CheckpointError(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new CheckpointError(`${path} is not a checkpoint this agent wrote (not JSON)`);
  }
}

/** The checkpoints of one agent work dir. */
export class AgentCheckpoint {
  readonly metaDir: string;

  constructor(workDir: string) {
    this.metaDir = join(workDir, 'meta');
  }

  get identityPath(): string {
    return join(this.metaDir, 'agent.json');
  }

  /** The checkpointed identity, or `undefined` for a fresh work dir. Throws {@link CheckpointError} when unreadable. */
  identity(): AgentIdentity | undefined {
    const j = readJson(this.identityPath) as Partial<AgentIdentity> | undefined;
    if (j === undefined) return undefined;
    if (typeof j !== 'object' || j === null || typeof j.pidId !== 'string' || typeof j.info !== 'object' || typeof j.bootId !== 'string') {
      throw new CheckpointError(`${this.identityPath} is not an agent identity this agent wrote`);
    }
    return j as AgentIdentity;
  }

  saveIdentity(id: AgentIdentity): void {
    writeDurably(this.identityPath, `${JSON.stringify(id)}\n`);
  }

  #containersDir(): string {
    return join(this.metaDir, 'containers');
  }

  /** Records a started container (before anything may depend on it being found again). */
  saveContainer(c: ContainerRecord): void {
    writeDurably(join(this.#containersDir(), `${encodeURIComponent(c.containerId)}.json`), `${JSON.stringify(c)}\n`);
  }

  /** Forgets a container that ended. */
  removeContainer(containerId: string): void {
    rmSync(join(this.#containersDir(), `${encodeURIComponent(containerId)}.json`), { force: true });
  }

  /** Every recorded container; records that cannot be read are skipped and named in `unreadable`. */
  containers(): { records: ContainerRecord[]; unreadable: string[] } {
    const records: ContainerRecord[] = [];
    const unreadable: string[] = [];
    let names: string[] = [];
    try {
      names = readdirSync(this.#containersDir());
    } catch {
      return { records, unreadable };
    }
    for (const n of names) {
      if (!n.endsWith('.json')) continue;
      const path = join(this.#containersDir(), n);
      try {
        const r = readJson(path) as Partial<ContainerRecord> | undefined;
        if (r && typeof r.containerId === 'string' && typeof r.osPid === 'number' && typeof r.startTicks === 'number') records.push(r as ContainerRecord);
        else unreadable.push(path);
      } catch {
        unreadable.push(path);
      }
    }
    return { records, unreadable };
  }
}

/**
 * Why `now` (the flags this agent was started with) cannot be the checkpointed agent, or
 * `undefined` when it can: the hostname, resources and attributes must be the same. Mesos refuses
 * to recover an agent whose `SlaveInfo` changed in the same way.
 */
export function incompatibility(saved: AgentInfo, now: AgentInfo): string | undefined {
  if (saved.hostname !== now.hostname) return `hostname was '${saved.hostname}', now '${now.hostname}'`;
  const canon = (x: unknown) => JSON.stringify(x ?? []);
  if (canon(normalize(saved.resources)) !== canon(normalize(now.resources))) return `resources were ${canon(saved.resources)}, now ${canon(now.resources)}`;
  if (canon(saved.attributes) !== canon(now.attributes)) return `attributes were ${canon(saved.attributes)}, now ${canon(now.attributes)}`;
  return undefined;
}
