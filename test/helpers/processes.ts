/**
 * Test helper: run our `cmd/` entry points as separate OS processes, the way a user would
 * (`node --import tsx cmd/<name>.ts --flag=value …` from the repository root), and watch their
 * output line by line.
 *
 * - {@link startCommand} spawns one process and returns a {@link ManagedProcess}: every stdout and
 *   stderr line is kept, {@link ManagedProcess.waitForLine} waits (bounded) for a line to appear,
 *   {@link ManagedProcess.exited} resolves when the process ends, {@link ManagedProcess.stop}
 *   ends it by PID (SIGTERM, then SIGKILL after a grace period).
 * - A {@link ProcessRegistry} remembers what it started so a test file can stop everything in
 *   `test.after.always`; an `exit` hook SIGKILLs whatever is still running if the test process
 *   ends first.
 * - {@link findProcesses} scans `/proc` for processes that mention a marker (a cluster name, a
 *   work dir) in their command line, environment or working directory: agents start executors
 *   in their own process groups, so they are not children we can wait for.
 *
 * Nothing here sleeps to synchronise: waits end on an event (a line, an exit) or a timeout.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is `test/helpers/processes.ts`). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Entry points under `cmd/` that can be started. */
export type CommandName =
  | 'mesos-master'
  | 'mesos-agent'
  | 'mesos-execute'
  | 'mesos-local'
  | 'mesos-pi'
  | 'mesos-credentials'
  | 'mesos'
  | 'mesos-executor'
  | 'pi-local';

/** Which stream a line came from. */
export type Stream = 'stdout' | 'stderr';

/** One line of output. */
export interface Line {
  readonly stream: Stream;
  readonly text: string;
  /** Position in the process's combined output (0-based). */
  readonly seq: number;
}

/** How a process ended. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What a line must match: a regular expression, or a predicate over the line. */
export type LineMatcher = RegExp | ((text: string, line: Line) => boolean);

/** Options of {@link LineLog.waitForLine}. */
export interface WaitOptions {
  /** Only look at this stream. Default: both. */
  stream?: Stream;
  /** Only look at lines with `seq >= since` (see {@link LineLog.mark}). Default 0: all lines. */
  since?: number;
  /** Abandons the wait (it rejects) when aborted: for racing several waits. */
  signal?: AbortSignal;
}

/** Default bound on every wait: generous, for slow shared machines. */
export const DEFAULT_WAIT_MS = 60_000;
/** Default time between SIGTERM and SIGKILL in {@link ManagedProcess.stop}. */
export const DEFAULT_KILL_AFTER_MS = 5_000;
/** How long after 'exit' to wait for the pipes to close before settling {@link ManagedProcess.exited}. */
const STDIO_CLOSE_GRACE_MS = 5_000;
/** How many lines of output to quote in error messages. */
const TAIL_LINES = 30;

function matches(m: LineMatcher, line: Line): boolean {
  if (typeof m === 'function') return m(line.text, line);
  m.lastIndex = 0;
  return m.test(line.text);
}

function describe(m: LineMatcher): string {
  return typeof m === 'function' ? (m.name ? `predicate ${m.name}` : 'predicate') : String(m);
}

/** Parses a JSON log line; `undefined` when the line is not a JSON object. */
export function parseJsonLine(text: string): Record<string, unknown> | undefined {
  const t = text.trim();
  if (!t.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(t);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A growing list of output lines with waiters. Used for child processes and, through
 * {@link LineLog.writable}, for in-process loggers.
 */
export class LineLog {
  readonly lines: Line[] = [];
  #waiters = new Set<{ check: (line: Line) => void }>();
  #partial: Record<Stream, string> = { stdout: '', stderr: '' };
  #closedReason: string | undefined;
  #onClose = new Set<() => void>();

  constructor(readonly name: string) {}

  /** The sequence number the next line will get: pass as `since` to wait only for later lines. */
  mark(): number {
    return this.lines.length;
  }

  /** Feeds a chunk of raw output from `stream`. */
  push(stream: Stream, chunk: string): void {
    let buf = this.#partial[stream] + chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      this.#add(stream, buf.slice(0, nl).replace(/\r$/, ''));
      buf = buf.slice(nl + 1);
    }
    this.#partial[stream] = buf;
  }

  /** Flushes unterminated output and makes pending and future waits fail fast with `reason`. */
  close(reason: string): void {
    for (const s of ['stdout', 'stderr'] as const) {
      if (this.#partial[s].length > 0) this.#add(s, this.#partial[s]);
      this.#partial[s] = '';
    }
    this.#closedReason ??= reason;
    for (const f of [...this.#onClose]) f();
  }

  #add(stream: Stream, text: string): void {
    const line: Line = { stream, text, seq: this.lines.length };
    this.lines.push(line);
    for (const w of [...this.#waiters]) w.check(line);
  }

  /** Lines (text only), optionally of one stream. */
  texts(stream?: Stream): string[] {
    return this.lines.filter((l) => !stream || l.stream === stream).map((l) => l.text);
  }

  /** All output joined with newlines, optionally of one stream. */
  output(stream?: Stream): string {
    return this.texts(stream).join('\n');
  }

  /** Lines that are JSON objects (pino logs), parsed. */
  json(opts: WaitOptions = {}): Array<Record<string, unknown>> {
    const out: Array<Record<string, unknown>> = [];
    for (const l of this.lines) {
      if (l.seq < (opts.since ?? 0) || (opts.stream && l.stream !== opts.stream)) continue;
      const j = parseJsonLine(l.text);
      if (j) out.push(j);
    }
    return out;
  }

  /** Lines matching `m`, in order. */
  filter(m: LineMatcher, opts: WaitOptions = {}): Line[] {
    return this.lines.filter((l) => l.seq >= (opts.since ?? 0) && (!opts.stream || l.stream === opts.stream) && matches(m, l));
  }

  /** The last `n` lines, for error messages. */
  tail(n = TAIL_LINES): string {
    const t = this.lines.slice(-n).map((l) => `[${this.name} ${l.stream}] ${l.text}`);
    return t.length > 0 ? t.join('\n') : `[${this.name}] (no output)`;
  }

  /**
   * Resolves with the first line (already seen or still to come) matching `m`. Rejects after
   * `timeoutMs`, or as soon as the log is closed (the process exited) without a match; the error
   * quotes the last lines of output.
   */
  waitForLine(m: LineMatcher, timeoutMs = DEFAULT_WAIT_MS, opts: WaitOptions = {}): Promise<Line> {
    return this.waitForLines(m, 1, timeoutMs, opts).then((ls) => ls[0]!);
  }

  /** Like {@link LineLog.waitForLine}, for the first `count` matching lines. */
  waitForLines(m: LineMatcher, count: number, timeoutMs = DEFAULT_WAIT_MS, opts: WaitOptions = {}): Promise<Line[]> {
    const since = opts.since ?? 0;
    const ok = (l: Line) => l.seq >= since && (!opts.stream || l.stream === opts.stream) && matches(m, l);
    const found = this.lines.filter(ok);
    if (found.length >= count) return Promise.resolve(found.slice(0, count));
    return new Promise<Line[]>((resolvePromise, reject) => {
      const what = () => `${count} line(s) matching ${describe(m)}${opts.stream ? ` on ${opts.stream}` : ''} from ${this.name} (saw ${found.length})`;
      const waiter = {
        check: (l: Line) => {
          if (!ok(l)) return;
          found.push(l);
          if (found.length >= count) finish(() => resolvePromise(found.slice(0, count)));
        },
      };
      const onClose = () => finish(() => reject(new Error(`${what()}: ${this.#closedReason ?? 'closed'} first\n${this.tail()}`)));
      const timer = setTimeout(() => finish(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what()}\n${this.tail()}`))), timeoutMs);
      const onAbort = () => finish(() => reject(new Error(`abandoned waiting for ${what()}`)));
      const finish = (fn: () => void) => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        this.#onClose.delete(onClose);
        opts.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
      if (this.#closedReason !== undefined) onClose();
      else this.#onClose.add(onClose);
    });
  }

  /** A write-stream-like sink (`{ write(chunk) }`) feeding `stream`: hand it to pino as a destination. */
  writable(stream: Stream = 'stdout'): { write(chunk: string | Uint8Array): boolean } {
    const dec = new TextDecoder();
    return {
      write: (chunk) => {
        this.push(stream, typeof chunk === 'string' ? chunk : dec.decode(chunk));
        return true;
      },
    };
  }
}

/**
 * Resolves with the first line matching `m` in any of `logs` (each from its own `since` mark, if
 * given); the other waits are abandoned. Rejects when none matches within `timeoutMs`.
 */
export async function waitForAny<L extends LineLog>(
  logs: readonly L[],
  m: LineMatcher,
  timeoutMs = DEFAULT_WAIT_MS,
  since: readonly number[] = [],
): Promise<{ log: L; line: Line }> {
  const ac = new AbortController();
  try {
    return await Promise.any(logs.map((log, i) =>
      log.waitForLine(m, timeoutMs, { since: since[i] ?? 0, signal: ac.signal }).then((line) => ({ log, line }))));
  } catch (e) {
    const errors = e instanceof AggregateError ? e.errors.map((x: unknown) => (x as Error).message).join('\n') : String(e);
    throw new Error(`no line matching ${describe(m)} in ${logs.map((l) => l.name).join(', ')}:\n${errors}`);
  } finally {
    ac.abort();
  }
}

/** Options of {@link startCommand}. */
export interface StartOptions {
  /** Extra environment (merged over this process's). */
  env?: Record<string, string | undefined>;
  /** Working directory. Default: the repository root. */
  cwd?: string;
  /** Label used in error messages. Default: the command name. */
  label?: string;
  /** Keep stdin open (write to it with {@link ManagedProcess.write}). Default: closed. */
  stdin?: boolean;
}

/** A process started by {@link startCommand}. */
export class ManagedProcess extends LineLog {
  readonly pid: number;
  readonly argv: readonly string[];
  /** Resolves once the process has exited (never rejects). */
  readonly exited: Promise<ExitStatus>;
  #child: ChildProcess;
  #exit: ExitStatus | undefined;
  #stopping: Promise<ExitStatus> | undefined;

  constructor(label: string, child: ChildProcess, argv: readonly string[]) {
    super(label);
    if (child.pid === undefined) throw new Error(`${label}: spawn returned no pid`);
    this.pid = child.pid;
    this.argv = argv;
    this.#child = child;
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (c: string) => this.push('stdout', c));
    child.stderr?.on('data', (c: string) => this.push('stderr', c));
    this.exited = new Promise<ExitStatus>((resolveExit) => {
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        if (this.#exit) return;
        this.#exit = { code, signal };
        live.delete(this);
        this.close(`exited (${signal ?? `code ${String(code)}`})`);
        resolveExit(this.#exit);
      };
      // 'close' comes after 'exit' once stdio has ended, so every line has been seen by then. A
      // grandchild that inherited the pipes could hold them open: then settle shortly after 'exit'.
      child.once('close', done);
      child.once('exit', (code, signal) => {
        setTimeout(() => done(code, signal), STDIO_CLOSE_GRACE_MS).unref();
      });
    });
    child.once('error', (err) => {
      this.push('stderr', `spawn error: ${err.message}\n`);
    });
  }

  /** How it ended, or `undefined` while it runs. */
  get exitStatus(): ExitStatus | undefined {
    return this.#exit;
  }

  /** True until the process has exited (and been reaped). */
  get running(): boolean {
    return this.#exit === undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Resolves with the exit status; rejects (quoting the output) if it takes longer than `timeoutMs`. */
  async waitForExit(timeoutMs = DEFAULT_WAIT_MS): Promise<ExitStatus> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${this.name} (pid ${this.pid}) did not exit within ${timeoutMs} ms\n${this.tail()}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends `signal` to the process by PID, unless it has already exited. */
  signal(sig: NodeJS.Signals): void {
    if (!this.running) return;
    try {
      process.kill(this.pid, sig);
    } catch {
      // already gone
    }
  }

  /**
   * Stops the process by PID: `signal` (SIGTERM), then SIGKILL if it is still running after
   * `killAfterMs`. Resolves with its exit status. Safe to call more than once and after it exited.
   */
  stop(killAfterMs = DEFAULT_KILL_AFTER_MS, signal: NodeJS.Signals = 'SIGTERM'): Promise<ExitStatus> {
    if (!this.running) return this.exited;
    this.#stopping ??= (async () => {
      this.signal(signal);
      let timer: NodeJS.Timeout | undefined;
      const escalate = new Promise<void>((r) => {
        timer = setTimeout(() => {
          this.signal('SIGKILL');
          r();
        }, killAfterMs);
      });
      await Promise.race([this.exited, escalate]);
      clearTimeout(timer);
      return this.exited;
    })();
    return this.#stopping;
  }

  /** Writes a line to the process's stdin (started with `stdin: true`). */
  write(line: string): void {
    this.#child.stdin?.write(`${line}\n`);
  }

  /** Last-resort kill on test-process exit. */
  killNow(): void {
    this.signal('SIGKILL');
  }
}

/** Every started process that has not been seen to exit (for the exit hook). */
const live = new Set<ManagedProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) p.killNow();
  });
}

/**
 * Starts `cmd/<name>.ts` with the current Node and tsx, from the repository root (or `opts.cwd`),
 * stdin closed and stdout/stderr piped (so loggers write JSON, not pretty output).
 */
export function startCommand(name: CommandName, args: readonly string[], opts: StartOptions = {}): ManagedProcess {
  return startScript(`cmd/${name}.ts`, args, { label: name, ...opts });
}

/** Starts a TypeScript file (relative to the repository root) the way {@link startCommand} does. */
export function startScript(script: string, args: readonly string[], opts: StartOptions = {}): ManagedProcess {
  return startNode(['--import', 'tsx', script, ...args], { label: script, ...opts });
}

/** Starts the current Node with `argv` (flags, then a script and its arguments) the way {@link startCommand} does. */
export function startNode(argv: readonly string[], opts: StartOptions = {}): ManagedProcess {
  const env: Record<string, string | undefined> = { ...process.env, ...opts.env };
  // Never let a developer's colour settings or inspector leak into machine-read output.
  delete env.FORCE_COLOR;
  const child = spawn(process.execPath, argv, { cwd: opts.cwd ?? REPO_ROOT, env, stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
  installExitHook();
  const p = new ManagedProcess(opts.label ?? argv.join(' '), child, [process.execPath, ...argv]);
  live.add(p);
  return p;
}

/** Remembers started processes so they can all be stopped (by PID) at the end of a test file. */
export class ProcessRegistry {
  readonly processes: ManagedProcess[] = [];

  /** {@link startCommand}, remembering the process. */
  start(name: CommandName, args: readonly string[], opts: StartOptions = {}): ManagedProcess {
    const p = startCommand(name, args, opts);
    this.processes.push(p);
    return p;
  }

  /** {@link startScript}, remembering the process. */
  startScript(script: string, args: readonly string[], opts: StartOptions = {}): ManagedProcess {
    const p = startScript(script, args, opts);
    this.processes.push(p);
    return p;
  }

  /** {@link startNode}, remembering the process. */
  startNode(argv: readonly string[], opts: StartOptions = {}): ManagedProcess {
    const p = startNode(argv, opts);
    this.processes.push(p);
    return p;
  }

  /** Processes still running. */
  running(): ManagedProcess[] {
    return this.processes.filter((p) => p.running);
  }

  /**
   * Stops every process still running (SIGTERM, SIGKILL after `killAfterMs`), all at once, and
   * waits for them to exit. Never rejects.
   */
  async stopAll(killAfterMs = DEFAULT_KILL_AFTER_MS): Promise<void> {
    await Promise.allSettled(this.processes.map((p) => p.stop(killAfterMs)));
  }
}

/** A process found by {@link findProcesses}. */
export interface FoundProcess {
  pid: number;
  cmdline: string;
  /** Why it matched: `cmdline`, `environ` or `cwd`. */
  matchedIn: 'cmdline' | 'environ' | 'cwd';
}

function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}

/**
 * Live (non-zombie) processes other than this one whose command line, environment or working
 * directory contains any of `markers` (e.g. a test's unique cluster name and its work dir).
 * Linux only (`/proc`); returns an empty list elsewhere.
 */
export function findProcesses(markers: readonly string[]): FoundProcess[] {
  const wanted = markers.filter((m) => m.length > 0);
  if (wanted.length === 0) return [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const out: FoundProcess[] = [];
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    const stat = readProc(`/proc/${pid}/stat`);
    if (stat === undefined) continue;
    // State is the first field after the parenthesised command name; skip zombies and dead ones.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') continue;
    const cmdline = (readProc(`/proc/${pid}/cmdline`) ?? '').split('\0').join(' ').trim();
    const has = (s: string | undefined) => s !== undefined && wanted.some((m) => s.includes(m));
    let matchedIn: FoundProcess['matchedIn'] | undefined;
    if (has(cmdline)) matchedIn = 'cmdline';
    else if (has(readProc(`/proc/${pid}/environ`))) matchedIn = 'environ';
    else {
      let cwd: string | undefined;
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        cwd = undefined;
      }
      if (has(cwd)) matchedIn = 'cwd';
    }
    if (matchedIn) out.push({ pid, cmdline, matchedIn });
  }
  return out;
}

/** The process group id of `pid` (from `/proc/<pid>/stat`), or `undefined` if it is gone. */
export function processGroupOf(pid: number): number | undefined {
  const stat = readProc(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // Fields after the parenthesised command name: state, ppid, pgrp, …
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const pgrp = Number(fields[2]);
  return Number.isInteger(pgrp) && pgrp > 0 ? pgrp : undefined;
}

/** SIGKILLs each process found by {@link findProcesses}, by PID; returns the list. */
export function killProcesses(found: readonly FoundProcess[]): FoundProcess[] {
  for (const f of found) {
    try {
      process.kill(f.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return [...found];
}
