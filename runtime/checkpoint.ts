/**
 * What an agent keeps on disk so that a restarted agent is the same agent: under
 * `<work_dir>/meta`, its identity (the PID id executors address, the id the master gave it, the
 * `AgentInfo` it registered with, and the boot it ran in) and one record per container it started
 * (the executor's OS process and its start time), so that a restarted agent finds what its
 * predecessor left running.
 *
 * For frameworks that checkpoint, it also keeps their framework, executor and task infos and each
 * task's status-update stream under `meta/frameworks/<framework>/executors/<executor>/`:
 *
 *     framework.json                       FrameworkInfo
 *     executors/<executor>/executor.json   ExecutorInfo, container id, command executor or not
 *     executors/<executor>/tasks/<task>/task.json   TaskInfo
 *     executors/<executor>/tasks/<task>/updates     one JSON record per line: an update, or an ack
 *
 * Records are files written whole to a temporary name, fsynced, renamed over the old one and the
 * directory fsynced: a crash leaves the old record or the new one, never a torn one. An update
 * stream is appended to and fsynced before the update goes anywhere; a crash in the middle of an
 * append leaves a torn last line, which reading drops (and cuts off, so the next append is whole).
 *
 * @see Mesos `src/slave/paths.hpp` (`meta/slaves/latest`, `boot_id`), `src/slave/state.hpp`.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckpointOp, RecoveredAgent, RecoveredExecutor } from '../actors/agent/state.ts';
import type { AgentInfo, ExecutorInfo, FrameworkInfo, StatusUpdateRecord, TaskInfo } from '../protocols/records.ts';
import { normalize, type Resources } from '../protocols/resources.ts';

/** The agent's identity, as checkpointed. */
export interface AgentIdentity {
  /** The id in the agent's PID (`mesos.<cluster>.agent.<principal>.<pidId>`): executors keep one address. */
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
  /** The agent id its sandbox is under. */
  agentId?: string;
  /** What it was given (its limits). */
  resources?: Resources;
  commandExecutor?: boolean;
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
  syncedWrite(tmp, 'w', data);
  renameSync(tmp, path);
  syncedWrite(dir, 'r');
}

/** Opens `path` with `flags`, writes `data` (if any), fsyncs and closes: a directory is opened `r` to fsync its entries. */
function syncedWrite(path: string, flags: 'w' | 'a' | 'r', data?: string): void {
  const fd = openSync(path, flags);
  try {
    if (data !== undefined) writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Appends one line to `path` and fsyncs it (and its directory when the file is new). */
export function appendDurably(path: string, line: string): void {
  const dir = join(path, '..');
  const fresh = !existsSync(path);
  if (fresh) mkdirSync(dir, { recursive: true });
  syncedWrite(path, 'a', line);
  if (fresh) syncedWrite(dir, 'r');
}

/** One record of an update stream. */
export type StreamRecord = { update: StatusUpdateRecord } | { ack: string };

/**
 * Reads an update stream: its records, and whether the last line was torn (cut off by a crash in
 * the middle of an append; dropped). Any other bad line makes the stream unreadable.
 */
export function decodeStream(text: string): { records: StreamRecord[]; torn: boolean; goodBytes: number } {
  const records: StreamRecord[] = [];
  const lines = text.split('\n');
  // `lines` ends with '' when the text ends with a newline: every line before it is whole.
  const last = lines.length - 1;
  let goodBytes = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (i === last && line === '') break;
    const rec = parseRecord(line);
    // The last line may be cut short (no newline) or half-written: a torn append, dropped.
    const lastWritten = i === last || (i === last - 1 && lines[last] === '');
    if (!rec || i === last) {
      if (lastWritten) return { records, torn: true, goodBytes };
      throw new CheckpointError(`bad record at byte ${goodBytes}`);
    }
    records.push(rec);
    goodBytes += Buffer.byteLength(line) + 1;
  }
  return { records, torn: false, goodBytes };
}

function parseRecord(line: string): StreamRecord | undefined {
  let rec: unknown;
  try {
    rec = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof rec !== 'object' || rec === null) return undefined;
  if ('update' in rec && typeof rec.update === 'object' && rec.update !== null) return rec as StreamRecord;
  if ('ack' in rec && typeof rec.ack === 'string') return rec as StreamRecord;
  return undefined;
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

  #frameworkDir(frameworkId: string): string {
    return join(this.metaDir, 'frameworks', encodeURIComponent(frameworkId));
  }

  #executorDir(frameworkId: string, executorId: string): string {
    return join(this.#frameworkDir(frameworkId), 'executors', encodeURIComponent(executorId));
  }

  #taskDir(frameworkId: string, executorId: string, taskId: string): string {
    return join(this.#executorDir(frameworkId, executorId), 'tasks', encodeURIComponent(taskId));
  }

  /** Performs one checkpoint write of a checkpointing framework (see {@link CheckpointOp}). */
  apply(op: CheckpointOp): void {
    switch (op.op) {
      case 'framework':
        writeDurably(join(this.#frameworkDir(op.frameworkId), 'framework.json'), `${JSON.stringify(op.info)}\n`);
        break;
      case 'executor':
        writeDurably(join(this.#executorDir(op.frameworkId, op.executorId), 'executor.json'),
          `${JSON.stringify({ info: op.info, commandExecutor: op.commandExecutor, containerId: op.containerId })}\n`);
        break;
      case 'task':
        writeDurably(join(this.#taskDir(op.frameworkId, op.executorId, op.task.taskId), 'task.json'), `${JSON.stringify(op.task)}\n`);
        break;
      case 'update':
        appendDurably(join(this.#taskDir(op.frameworkId, op.executorId, op.taskId), 'updates'), `${JSON.stringify({ update: op.update })}\n`);
        break;
      case 'ack':
        appendDurably(join(this.#taskDir(op.frameworkId, op.executorId, op.taskId), 'updates'), `${JSON.stringify({ ack: op.uuid })}\n`);
        break;
      case 'forgetTask':
        rmSync(this.#taskDir(op.frameworkId, op.executorId, op.taskId), { recursive: true, force: true });
        break;
      case 'forgetExecutor':
        rmSync(this.#executorDir(op.frameworkId, op.executorId), { recursive: true, force: true });
        break;
      case 'forgetFramework':
        rmSync(this.#frameworkDir(op.frameworkId), { recursive: true, force: true });
        break;
      default:
        break;
    }
  }

  /**
   * What the checkpoints of checkpointing frameworks hold, with `alive(containerId)` telling which
   * executors' containers still run. A record that cannot be read is named in `errors` (the agent
   * refuses to start on them under `--strict`) and the framework, executor or task it belongs to
   * is left out. A record never written — the agent died between making its directory and
   * renaming the record into it — is no error: what it would have described is named in
   * `skipped` and left out, as Mesos does.
   */
  recovered(alive: (containerId: string) => boolean): { state: RecoveredAgent; errors: string[]; skipped: string[] } {
    const state: RecoveredAgent = { frameworks: [], executors: [] };
    const errors: string[] = [];
    const skipped: string[] = [];
    const list = (dir: string) => {
      try {
        return readdirSync(dir).filter((n) => !n.endsWith('.tmp'));
      } catch {
        return [];
      }
    };
    const read = <T>(path: string, ok: (j: any) => boolean): T | undefined => {
      try {
        const j = readJson(path);
        if (j === undefined) skipped.push(path);
        else if (ok(j)) return j as T;
        else errors.push(`${path}: not a record this agent wrote`);
      } catch (e) {
        errors.push((e as Error).message);
      }
      return undefined;
    };
    const fwRoot = join(this.metaDir, 'frameworks');
    for (const fwName of list(fwRoot)) {
      const frameworkId = decodeURIComponent(fwName);
      const fwDir = join(fwRoot, fwName);
      const info = read<FrameworkInfo>(join(fwDir, 'framework.json'), (j) => typeof j.name === 'string');
      if (!info) continue;
      state.frameworks.push({ ...info, id: frameworkId });
      for (const exName of list(join(fwDir, 'executors'))) {
        const exDir = join(fwDir, 'executors', exName);
        const rec = read<{ info: ExecutorInfo; commandExecutor: boolean; containerId: string }>(join(exDir, 'executor.json'),
          (j) => typeof j.containerId === 'string' && typeof j.info === 'object' && typeof j.commandExecutor === 'boolean');
        if (!rec) continue;
        const executor: RecoveredExecutor = { frameworkId, info: rec.info, commandExecutor: rec.commandExecutor, containerId: rec.containerId, alive: alive(rec.containerId), tasks: [] };
        for (const taskName of list(join(exDir, 'tasks'))) {
          const taskDir = join(exDir, 'tasks', taskName);
          const task = read<TaskInfo>(join(taskDir, 'task.json'), (j) => typeof j.taskId === 'string');
          if (!task) continue;
          const stream = this.#readStream(join(taskDir, 'updates'), errors);
          if (!stream) continue;
          executor.tasks.push({ info: task, ...stream });
        }
        state.executors.push(executor);
      }
    }
    return { state, errors, skipped };
  }

  /** An update stream's updates and acknowledged uuids; a torn last record is cut off. */
  #readStream(path: string, errors: string[]): { updates: StatusUpdateRecord[]; acked: string[] } | undefined {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { updates: [], acked: [] };
      errors.push(`cannot read ${path}: ${(e as Error).message}`);
      return undefined;
    }
    try {
      const { records, torn, goodBytes } = decodeStream(text);
      if (torn) truncateSync(path, goodBytes);
      const updates: StatusUpdateRecord[] = [];
      const acked: string[] = [];
      for (const r of records) {
        if ('update' in r) updates.push(r.update);
        else acked.push(r.ack);
      }
      return { updates, acked };
    } catch (e) {
      errors.push(`${path}: ${(e as Error).message}`);
      return undefined;
    }
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
