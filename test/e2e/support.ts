/**
 * Shared plumbing for the multi-process end-to-end tests: a private nats-server, one
 * `mesos-master` and N `mesos-agent` processes under a unique cluster name and a temporary work
 * dir, a NATS "tap" that sees every bus message of the cluster, and a teardown that stops
 * everything by PID and hunts down executor processes the agents may have left behind.
 *
 * The cluster is secured as the project ships it: credentials from `writeCredentials`, a server
 * with their permissions, and every process and connection authenticated as its own principal
 * ({@link E2ECluster.flags}, {@link E2ECluster.connect}). Only a server the test did not start
 * (`NATS_URL`, a container) cannot be configured: the cluster then runs `--insecure`.
 *
 * Not a test file (ava only runs `*.test.ts`).
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { Packr } from 'msgpackr';
import type { ConnectionOptions, NatsConnection } from '@nats-io/transport-node';
import type { Credential } from '../../runtime/credentials.ts';
import { OperatorClient } from '../../runtime/operator-client.ts';
import { connectNats, NatsTransport } from '../../runtime/transport-nats.ts';
import { acquireNats, type AcquiredNats } from '../helpers/nats.ts';
import { DEFAULT_PRINCIPAL, FUZZER, TestPrincipals, type Kind } from '../helpers/principals.ts';
import { startNatsServer, type NatsServerHandle } from '../../runtime/nats-server.ts';
import {
  DEFAULT_WAIT_MS,
  findProcesses,
  killProcesses,
  parseJsonLine,
  ProcessRegistry,
  type FoundProcess,
  type LineMatcher,
  type ManagedProcess,
} from '../helpers/processes.ts';

/** Resources every test agent offers. */
export const AGENT_RESOURCES = 'cpus:2;mem:1024;disk:1024;ports:[31000-32000]';

/** A cluster name no other test file (or run) uses: subject-token characters only. */
export function uniqueClusterName(prefix: string): string {
  return `${prefix}-${process.pid}-${randomUUID().slice(0, 8)}`;
}

/** Matches a pino JSON line whose `msg` equals `msg` (string) or matches it (RegExp). */
export function logMsg(msg: string | RegExp, extra?: (j: Record<string, unknown>) => boolean): LineMatcher {
  const f = (text: string) => {
    const j = parseJsonLine(text);
    if (!j || typeof j.msg !== 'string') return false;
    const ok = typeof msg === 'string' ? j.msg === msg : msg.test(j.msg);
    return ok && (extra ? extra(j) : true);
  };
  Object.defineProperty(f, 'name', { value: `log msg ${String(msg)}` });
  return f;
}

/** One agent process of the test cluster. */
export interface TestAgent {
  readonly proc: ManagedProcess;
  /** Its bus PID (`mesos.<cluster>.agent.<principal>.<id>`), from the 'agent started' log line. */
  readonly pid: string;
  /** The id the master assigned, from the 'agent registered' log line. */
  readonly agentId: string;
  readonly workDir: string;
  /** Its HTTP address (`host:port`), from the 'agent started' log line. */
  readonly http: string;
}

/** How {@link E2ECluster.start} sets a cluster up. */
export interface E2EOptions {
  /** Extra flags for every master. */
  masterArgs?: string[];
  /** Extra flags for every agent. */
  agentArgs?: string[];
  /** Masters standing by behind the leader. */
  standbys?: number;
  /**
   * Start this file's own nats-server (always, even when `NATS_URL` is set), on a store this
   * cluster keeps, so that a test can crash and restart it ({@link E2ECluster.restartNats}).
   */
  ownServer?: boolean;
  /** Framework principals besides `framework` (each gets a credential). */
  frameworks?: string[];
  /** Operator principals besides `operator` (each gets a credential, with an HTTP secret). */
  operators?: string[];
  /**
   * Opt-in (the default stays plain, open HTTP): masters and agents serve HTTPS with the cluster's
   * server certificate and require HTTP Basic credentials (`http-credentials.json`) for read-only
   * and read-write endpoints. Needs the test's own server (credentials), so not with `NATS_URL`.
   */
  httpAuth?: boolean;
}

/** A master, agents and a NATS server for one test file; {@link E2ECluster.stop} undoes it all. */
export class E2ECluster {
  readonly cluster: string;
  readonly procs = new ProcessRegistry();
  nats?: AcquiredNats;
  workRoot?: string;
  master?: ManagedProcess;
  /** The master's bus PID, from its 'master started' log line. */
  masterPid?: string;
  agents: TestAgent[] = [];
  /** Every master started (the first one and its standbys), with its bus PID. */
  masters: Array<{ proc: ManagedProcess; pid: string; /** Its HTTP address, `host:port`. */ http: string }> = [];
  #opts: E2EOptions = {};
  #server?: NatsServerHandle;
  #storeDir?: string;
  /** Processes found (and killed) after the agents stopped; filled by {@link E2ECluster.stop}. */
  leftovers: FoundProcess[] = [];
  #taps: NatsConnection[] = [];
  /** The principals, when the server checks them (else every process runs `--insecure`). */
  principals?: TestPrincipals;
  /** With `httpAuth`: the principals, whose credential files carry HTTP secrets and the CA. */
  httpPrincipals?: TestPrincipals;
  #serverConfig?: string;

  constructor(prefix: string) {
    this.cluster = uniqueClusterName(prefix);
  }

  /** `--nats`, `--cluster` and the identity flag of a process acting as `principal` of `kind`. */
  flags(kind: Kind, principal?: string): string[] {
    return [`--nats=${this.natsUrl}`, `--cluster=${this.cluster}`, this.principals ? this.principals.flag(kind, principal) : '--insecure'];
  }

  get natsUrl(): string {
    if (!this.nats) throw new Error('NATS not started');
    return this.nats.url;
  }

  /** The principal `kind` acts as here (`undefined` when insecure). */
  principal(kind: Kind, principal: string = DEFAULT_PRINCIPAL[kind]): string | undefined {
    return this.principals ? principal : undefined;
  }

  /** Connection options that authenticate as `principal` of `kind` (or as the fuzzer). */
  connectionOptions(kind: Kind | typeof FUZZER, principal?: string): Partial<ConnectionOptions> {
    return this.principals?.connectionOptions(kind, principal) ?? {};
  }

  /** The fuzzer's credential (see `FUZZER`); `undefined` when insecure. */
  get fuzzer(): Credential | undefined {
    return this.principals?.fuzzer;
  }

  /** Starts NATS, the master (and standbys) and `agents` agents, and waits until every agent is registered. */
  async start(agents = 2, timeoutMs = DEFAULT_WAIT_MS, opts: E2EOptions = {}): Promise<void> {
    this.#opts = opts;
    this.workRoot = await mkdtemp(join(tmpdir(), `mesos-e2e-${this.cluster}-`));
    const principals = new TestPrincipals(this.cluster, this.workRoot, opts.frameworks, opts.operators);
    if (opts.httpAuth) {
      const { httpCredentials, httpTls } = principals.set;
      const http = [`--http_credentials=${httpCredentials}`, '--authenticate_http_readonly', '--authenticate_http_readwrite', ...(httpTls ? [`--http_tls_cert=${httpTls.cert}`, `--http_tls_key=${httpTls.key}`] : [])];
      this.#opts = { ...opts, masterArgs: [...http, ...(opts.masterArgs ?? [])], agentArgs: [...http, ...(opts.agentArgs ?? [])] };
      this.httpPrincipals = principals;
    }
    this.#serverConfig = principals.serverConfig;
    if (opts.ownServer) {
      this.#storeDir = join(this.workRoot, 'nats-store');
      this.#server = await startNatsServer({ storeDir: this.#storeDir, config: this.#serverConfig });
      const server = this.#server;
      this.nats = { url: server.url, kind: 'binary', configured: true, stop: () => this.#server?.stop() ?? Promise.resolve() };
    } else {
      this.nats = await acquireNats({ config: this.#serverConfig });
    }
    if (this.nats.configured) this.principals = principals;
    this.master = await this.startMaster('master', timeoutMs);
    this.masterPid = this.masters[0]!.pid;
    for (let i = 0; i < (opts.standbys ?? 0); i++) await this.startMaster(`standby${i + 1}`, timeoutMs);
    const procs = Array.from({ length: agents }, (_, i) => this.spawnAgent(i + 1));
    this.agents = await Promise.all(procs.map((p) => this.awaitAgent(p, timeoutMs)));
  }

  /** Starts one more master (a standby while another leads). */
  async startMaster(label: string, timeoutMs = DEFAULT_WAIT_MS): Promise<ManagedProcess> {
    const proc = this.procs.start('mesos-master', [...this.flags('master'), '--log_level=info', '--port=0', ...(this.#opts.masterArgs ?? [])], { label });
    const started = await proc.waitForLine(logMsg(/^master started/), timeoutMs);
    const j = parseJsonLine(started.text)!;
    this.masters.push({ proc, pid: String(j.actorPid), http: String(j.http) });
    return proc;
  }

  /** The running master whose PID is `pid`. */
  masterByPid(pid: string): ManagedProcess | undefined {
    return this.masters.find((m) => m.pid === pid && m.proc.running)?.proc;
  }

  /** Starts agent number `n` (its work dir is `a<n>`), with `extraArgs` after the cluster's agent flags. */
  spawnAgent(n: number, extraArgs: string[] = []): { proc: ManagedProcess; workDir: string } {
    const workDir = join(this.workRoot!, `a${n}`);
    const proc = this.procs.start('mesos-agent', [
      ...this.flags('agent'),
      '--log_level=info',
      `--resources=${AGENT_RESOURCES}`,
      `--work_dir=${workDir}`,
      '--port=0',
      ...(this.#opts.agentArgs ?? []),
      ...extraArgs,
    ], { label: `agent${n}` });
    return { proc, workDir };
  }

  /** Waits for a started agent to register. */
  async awaitAgent({ proc, workDir }: { proc: ManagedProcess; workDir: string }, timeoutMs = DEFAULT_WAIT_MS): Promise<TestAgent> {
    const s = await proc.waitForLine(logMsg('agent started'), timeoutMs);
    const r = await proc.waitForLine(logMsg('agent registered'), timeoutMs);
    const started = parseJsonLine(s.text)!;
    return { proc, workDir, pid: String(started.actorPid), agentId: String(parseJsonLine(r.text)!.agentId), http: String(started.http) };
  }

  /**
   * Crashes this file's own nats-server (SIGKILL) and starts it again on the same port, on the same
   * store or (with `emptyStore`) on an empty one, as after a disk loss.
   */
  async restartNats(emptyStore = false): Promise<void> {
    const old = this.#server;
    if (!old || !this.#storeDir) throw new Error('restartNats needs start(…, { ownServer: true })');
    await old.crash();
    if (emptyStore) await rm(this.#storeDir, { recursive: true, force: true });
    this.#server = await startNatsServer({ storeDir: this.#storeDir, port: old.port, config: this.#serverConfig });
  }

  /** Markers that identify this cluster's processes: the cluster name and the work dir. */
  get markers(): string[] {
    return [this.cluster, ...(this.workRoot ? [this.workRoot] : [])];
  }

  /** Processes of this cluster still alive other than the ones the registry started and still runs. */
  strayProcesses(): FoundProcess[] {
    const ours = new Set(this.procs.running().map((p) => p.pid));
    return findProcesses(this.markers).filter((f) => !ours.has(f.pid));
  }

  /**
   * Stops the agents with SIGUSR1 (every task killed, the agent unregistered; SIGKILL after 5 s)
   * and waits for them to exit: SIGTERM would leave checkpointing frameworks' executors running.
   */
  async stopAgents(): Promise<void> {
    await Promise.allSettled(this.agents.map((a) => a.proc.stop(undefined, 'SIGUSR1')));
    // Agents that never reported 'agent started' are not in `agents`.
    await Promise.allSettled(this.procs.processes.filter((p) => p.name.startsWith('agent')).map((p) => p.stop(undefined, 'SIGUSR1')));
  }

  /**
   * Opens a NATS connection (as the observer `tap`) that sees every message of the cluster;
   * closed by {@link E2ECluster.stop}.
   */
  async tap(onMessage: (subject: string, data: Uint8Array) => void): Promise<NatsConnection> {
    const nc = await connectNats({ servers: this.natsUrl, name: 'e2e-tap', options: this.connectionOptions('observer') });
    this.#taps.push(nc);
    nc.subscribe(`mesos.${this.cluster}.>`, { callback: (err, msg) => {
      if (!err) onMessage(msg.subject, msg.data);
    } });
    await nc.flush();
    return nc;
  }

  /**
   * A NATS connection as `principal` of `kind` (by default, as the fuzzer: for publishing garbage);
   * closed by {@link E2ECluster.stop}.
   */
  async connect(name: string, kind: Kind | typeof FUZZER = FUZZER, principal?: string): Promise<NatsConnection> {
    const nc = await connectNats({ servers: this.natsUrl, name, options: this.connectionOptions(kind, principal) });
    this.#taps.push(nc);
    return nc;
  }

  /** An operator client acting as the `operator` principal; close it when done. */
  async operator(): Promise<OperatorClient> {
    return new OperatorClient(new NatsTransport(await this.connect('e2e-operator', 'operator')), this.cluster, undefined, this.principal('operator'));
  }

  /**
   * Undoes {@link E2ECluster.start}, whatever state it reached: agents first (they take their
   * executors down), then every other process, all by PID; then any process still mentioning the
   * cluster name or work dir is SIGKILLed by PID and recorded in {@link E2ECluster.leftovers};
   * then NATS connections, the server and the work dir. Never throws.
   */
  async stop(): Promise<void> {
    await this.stopAgents();
    await this.procs.stopAll();
    this.leftovers.push(...killProcesses(this.strayProcesses()));
    await Promise.allSettled(this.#taps.map((nc) => nc.close()));
    await this.nats?.stop().catch(() => {});
    if (this.workRoot) await rm(this.workRoot, { recursive: true, force: true }).catch(() => {});
  }
}

/** A sandbox found by {@link findSandboxes}. */
export interface Sandbox {
  /** `<work_dir>/agents/<agentId>/frameworks/<frameworkId>/executors/<executorId>/runs/<containerId>` */
  dir: string;
  agentId: string;
  frameworkId: string;
  executorId: string;
  containerId: string;
}

/** Every run directory of `executorId` under `workDir` (Mesos sandbox layout). */
export async function findSandboxes(workDir: string, executorId: string): Promise<Sandbox[]> {
  const out: Sandbox[] = [];
  const ls = async (d: string) => {
    try {
      return (await readdir(d, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return [];
    }
  };
  for (const agentId of await ls(join(workDir, 'agents'))) {
    const fwRoot = join(workDir, 'agents', agentId, 'frameworks');
    for (const frameworkId of await ls(fwRoot)) {
      const runs = join(fwRoot, frameworkId, 'executors', executorId, 'runs');
      for (const containerId of await ls(runs)) {
        out.push({ dir: join(runs, containerId), agentId, frameworkId, executorId, containerId });
      }
    }
  }
  return out;
}

/** `path` relative to `root`, with `/` separators (for messages). */
export function rel(root: string, path: string): string {
  return relative(root, path).split(sep).join('/');
}

/** The codec settings the bus uses, for building and reading envelopes by hand. */
export const packr = new Packr({ useRecords: false, variableMapSize: true });

/** Decodes a bus message leniently (the tap must never throw). */
export function tryUnpack(data: Uint8Array): Record<string, unknown> | undefined {
  try {
    const v: unknown = packr.unpack(data);
    return v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** A framework process (`fixtures/framework.ts`): its callbacks as events, commands on stdin. */
export class TestFramework {
  readonly proc: ManagedProcess;
  constructor(e2e: E2ECluster, name: string, extra: string[] = [], principal?: string) {
    this.proc = e2e.procs.startScript('test/e2e/fixtures/framework.ts', [...e2e.flags('scheduler', principal), `--name=${name}`, ...extra], { label: name, stdin: true });
  }

  /** Waits for an event (already seen or to come) matching `pred`, after line `since`. */
  async next(event: string, pred: (j: Record<string, any>) => boolean = () => true, since = 0, timeoutMs = 60_000): Promise<Record<string, any>> {
    const line = await this.proc.waitForLine((text) => {
      const j = parseJsonLine(text);
      return j?.event === event && pred(j);
    }, timeoutMs, { since });
    return parseJsonLine(line.text)!;
  }

  events(event: string, since = 0): Array<Record<string, any>> {
    return this.proc.json({ since }).filter((j) => j.event === event);
  }

  statesOf(taskId: string, since = 0): string[] {
    return this.events('status', since).filter((j) => j.taskId === taskId).map((j) => String(j.state));
  }

  send(cmd: Record<string, unknown>): void {
    this.proc.write(JSON.stringify(cmd));
  }

  /** Launches a task and waits for `state`. */
  async run(taskId: string, command: string, state = 'TASK_RUNNING'): Promise<Record<string, any>> {
    const since = this.proc.mark();
    this.send({ launch: { taskId, command } });
    return this.next('status', (j) => j.taskId === taskId && j.state === state, since);
  }
}

/**
 * Every file named `name` under `dir`, at any depth. Directories may go while it looks (an agent's
 * sandbox GC removes them): those are skipped, not an error.
 */
export async function findFiles(dir: string, name: string): Promise<string[]> {
  const out: string[] = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return out;
    throw e;
  }
  for (const e of entries) {
    if (e.isFile() && e.name === name) out.push(join(dir, e.name));
    else if (e.isDirectory()) out.push(...(await findFiles(join(dir, e.name), name)));
  }
  return out;
}

/** Whether process `pid` exists (a zombie not yet reaped counts). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits until `cond` holds, at most `timeoutMs`; its last value. For what no event announces —
 * a process of another parent dying, a cgroup emptying, CPU time adding up — so it asks again
 * every 100 ms.
 */
export async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}
