/**
 * An agent swarm: many emulated agents in one process, speaking the real wire protocol (the
 * project's codec, envelopes and subjects) over one NATS connection, for scale benchmarks.
 *
 * Each emulated agent registers with the leading master (re-registers with every task it runs
 * once it has an id), answers pings, "runs" the tasks it is given (reporting TASK_RUNNING, and
 * TASK_KILLED when killed) and retries its registration with the same jittered backoff as a real
 * agent. No executor runs: the swarm measures the master, not the agents.
 *
 * One wildcard subscription receives every agent's messages; one timer walks the agents that
 * wait for an answer. A swarm of 50,000 agents costs one connection and a few hundred MB.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { Codec, envelope } from '../../protocols/envelope.ts';
import type { Message } from '../../protocols/messages.ts';
import { pid as makePid, subjectFor } from '../../protocols/pid.ts';
import type { AgentInfo, Task } from '../../protocols/records.ts';
import { parseResources, type Resources } from '../../protocols/resources.ts';
import { splitToFit } from '../../protocols/chunking.ts';
import { backoffMs, jitter } from '../../actors/common.ts';
import type { LeaderInfo } from '../../runtime/types.ts';

/** One emulated agent. */
interface SwarmAgent {
  index: number;
  pid: string;
  info: AgentInfo;
  agentId?: string;
  /** Registered with the current leader. */
  registered: boolean;
  attempt: number;
  nextRetryAt: number;
  /** When the current leader answered this agent (ms, `performance.now()`). */
  answeredAt?: number;
  tasks: Map<string, Task>;
  /**
   * The encoded (re-)registration, kept until the agent's id or tasks change: for retries, and
   * for the next leader (the bytes do not name the master). One process emulates thousands of
   * agents, each of which would encode its own on its own machine: encoding them all at once when
   * a leader appears would make the swarm, not the master, what is measured (see `prepare`).
   */
  registration?: Uint8Array;
}

/** Options of {@link AgentSwarm}. */
export interface SwarmOptions {
  nc: NatsConnection;
  cluster: string;
  count: number;
  /** Resources of each agent. Default `cpus:4;mem:8192`. */
  resources?: string;
  /** First registration retry (doubles up to 60 s, jittered). Default 1000 ms. */
  backoffMs?: number;
  /** PID ids are `<prefix>-<index>`. Default `swarm`. */
  prefix?: string;
}

/** Counters of a swarm. */
export interface SwarmStats {
  agents: number;
  registered: number;
  registrationsSent: number;
  tasks: number;
  pongs: number;
  dropped: number;
}

/** Many emulated agents on one connection. */
export class AgentSwarm {
  readonly agents: SwarmAgent[] = [];
  readonly #byPid = new Map<string, SwarmAgent>();
  readonly #codec = new Codec();
  readonly #opts: SwarmOptions;
  readonly #resources: Resources;
  #leader: LeaderInfo | undefined;
  #timer: NodeJS.Timeout | undefined;
  #msgSeq = 0;
  #stats = { registrationsSent: 0, pongs: 0, dropped: 0 };
  /** Agents registered with the current leader. */
  #registered = 0;
  #waiters: Array<{ n: number; resolve: () => void }> = [];

  constructor(opts: SwarmOptions) {
    this.#opts = opts;
    this.#resources = parseResources(opts.resources ?? 'cpus:4;mem:8192');
    const prefix = opts.prefix ?? 'swarm';
    for (let i = 0; i < opts.count; i++) {
      const pid = makePid(opts.cluster, 'agent', `${prefix}-${i}`);
      const a: SwarmAgent = {
        index: i, pid, registered: false, attempt: 0, nextRetryAt: Number.POSITIVE_INFINITY, tasks: new Map(),
        info: { hostname: `${prefix}-${i}.swarm`, resources: this.#resources, attributes: [] },
      };
      this.agents.push(a);
      this.#byPid.set(pid, a);
    }
  }

  /** Starts listening (call before the first leader is reported). */
  start(): void {
    this.#opts.nc.subscribe(`mesos.${this.#opts.cluster}.agent.>`, {
      callback: (err, msg) => {
        if (err) return;
        this.#receive(msg.subject, msg.data);
      },
    });
    this.#timer = setInterval(() => this.#retry(), 100);
  }

  /**
   * A new leader: every agent (re-)registers with it, as real agents do — at once if it has no id
   * yet, after a random part of one backoff if it re-registers.
   */
  leaderChanged(leader: LeaderInfo | undefined): void {
    this.#leader = leader;
    const now = performance.now();
    this.#registered = 0;
    for (const a of this.agents) {
      a.registered = false;
      a.answeredAt = undefined;
      a.attempt = 0;
      if (!leader) continue;
      if (a.agentId) a.nextRetryAt = now + (this.#opts.backoffMs ?? 1000) * (jitter(a.pid, -1) - 0.5);
      else this.#register(a);
    }
  }

  /**
   * Encodes every agent's re-registration ahead of a failover. Real agents each encode their own,
   * on their own machines, when a leader appears; done then by this one process for thousands,
   * it would compete with the master being measured.
   */
  prepare(): void {
    for (const a of this.agents) if (a.agentId) a.registration ??= this.#encodeRegistration(a);
  }

  /** Resolves once `n` agents (all by default) are registered with the current leader. */
  registered(n = this.agents.length): Promise<void> {
    if (this.count() >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }

  /** Agents registered with the current leader. */
  count(): number {
    return this.#registered;
  }

  /** The latest answer time (`performance.now()`) among registered agents. */
  lastAnsweredAt(): number {
    let t = 0;
    for (const a of this.agents) if (a.answeredAt !== undefined) t = Math.max(t, a.answeredAt);
    return t;
  }

  stats(): SwarmStats {
    let tasks = 0;
    for (const a of this.agents) tasks += a.tasks.size;
    return { agents: this.agents.length, registered: this.count(), tasks, ...this.#stats };
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
  }

  #send(a: SwarmAgent, msg: Message): void {
    const leader = this.#leader;
    if (!leader) return;
    const id = `${a.index}-${++this.#msgSeq}`;
    const subject = subjectFor(leader.pid, msg.type, 'agent');
    const bytes = this.#codec.encode(envelope(a.pid, id, msg));
    if (bytes.byteLength <= 1_000_000) {
      this.#opts.nc.publish(subject, bytes);
      return;
    }
    for (const part of splitToFit(msg, 1_000_000, (m) => this.#codec.encode(envelope(a.pid, id, m)).byteLength, id)) {
      this.#opts.nc.publish(subject, this.#codec.encode(envelope(a.pid, `${a.index}-${++this.#msgSeq}`, part)));
    }
  }

  #register(a: SwarmAgent): void {
    this.#stats.registrationsSent++;
    a.nextRetryAt = performance.now() + backoffMs(a.attempt, this.#opts.backoffMs ?? 1000, 60_000) * jitter(a.pid, a.attempt);
    a.attempt++;
    const leader = this.#leader;
    if (!leader) return;
    a.registration ??= this.#encodeRegistration(a);
    if (a.registration) this.#opts.nc.publish(subjectFor(leader.pid, a.agentId ? 'ReregisterAgent' : 'RegisterAgent', 'agent'), a.registration);
    else this.#send(a, this.#registrationOf(a)); // too large for one message: sent in parts
  }

  #registrationOf(a: SwarmAgent): Message {
    if (!a.agentId) return { type: 'RegisterAgent', body: { agent: a.info, version: '1' } };
    const frameworks = new Map<string, { id: string; name: string }>();
    for (const t of a.tasks.values()) frameworks.set(t.frameworkId, { id: t.frameworkId, name: '' });
    return {
      type: 'ReregisterAgent',
      body: { agent: { ...a.info, id: a.agentId }, version: '1', tasks: [...a.tasks.values()], executors: [], frameworks: [...frameworks.values()] },
    };
  }

  /** The registration in one message, or `undefined` when it must be split. */
  #encodeRegistration(a: SwarmAgent): Uint8Array | undefined {
    const bytes = this.#codec.encode(envelope(a.pid, `${a.index}-${++this.#msgSeq}`, this.#registrationOf(a)));
    return bytes.byteLength <= 1_000_000 ? bytes : undefined;
  }

  #retry(): void {
    if (!this.#leader) return;
    const now = performance.now();
    for (const a of this.agents) if (!a.registered && now >= a.nextRetryAt) this.#register(a);
  }

  #receive(subject: string, data: Uint8Array): void {
    const to = subject.split('.', 5).join('.');
    const a = this.#byPid.get(to);
    if (!a) return;
    // A repeated answer to an agent already registered changes nothing: skip decoding it (the
    // swarm stands in for thousands of machines, each of which would read its own).
    if (a.registered && /\.Agent(Re)?registered\./.test(subject.slice(to.length))) return;
    const d = this.#codec.decode(data, a.pid, subject);
    if (!d.ok) {
      this.#stats.dropped++;
      return;
    }
    const { envelope: env } = d;
    if (!this.#leader || env.from !== this.#leader.pid) return;
    const m = { type: env.type, body: env.body } as Message;
    switch (m.type) {
      case 'AgentRegistered':
      case 'AgentReregistered':
        if (a.agentId !== m.body.agentId) a.registration = undefined; // now re-registers with this id
        a.agentId = m.body.agentId;
        if (!a.registered) {
          a.registered = true;
          this.#registered++;
          a.answeredAt = performance.now();
          a.nextRetryAt = Number.POSITIVE_INFINITY;
          this.#notify();
        }
        break;
      case 'Ping':
        this.#stats.pongs++;
        this.#send(a, { type: 'Pong', body: a.agentId ? { agentId: a.agentId } : {} });
        if (!m.body.connected && a.registered) {
          a.registered = false;
          this.#registered--;
          a.attempt = 0;
          this.#register(a);
        }
        break;
      case 'RunTask': {
        const { frameworkId, task } = m.body;
        a.registration = undefined;
        a.tasks.set(`${frameworkId}/${task.taskId}`, { taskId: task.taskId, name: task.name, frameworkId, agentId: a.agentId!, state: 'TASK_RUNNING', resources: task.resources });
        this.#update(a, frameworkId, task.taskId, 'TASK_RUNNING');
        break;
      }
      case 'KillTask': {
        const key = `${m.body.frameworkId}/${m.body.taskId}`;
        a.registration = undefined;
        if (a.tasks.delete(key)) this.#update(a, m.body.frameworkId, m.body.taskId, 'TASK_KILLED');
        break;
      }
      case 'ShutdownFramework':
        a.registration = undefined;
        for (const k of [...a.tasks.keys()]) if (k.startsWith(`${m.body.frameworkId}/`)) a.tasks.delete(k);
        break;
      default:
        break;
    }
  }

  #update(a: SwarmAgent, frameworkId: string, taskId: string, state: 'TASK_RUNNING' | 'TASK_KILLED'): void {
    this.#send(a, {
      type: 'StatusUpdate',
      body: { update: { frameworkId, agentId: a.agentId, uuid: `${a.index}-u${++this.#msgSeq}`, status: { taskId, state, source: 'SOURCE_EXECUTOR', agentId: a.agentId, timestamp: Date.now() } } },
    });
  }

  #notify(): void {
    if (this.#waiters.length === 0) return;
    const n = this.count();
    this.#waiters = this.#waiters.filter((w) => {
      if (n < w.n) return true;
      w.resolve();
      return false;
    });
  }
}
