/**
 * The `mesos` CLI's operator commands, and how it finds the leader by itself:
 *
 *   mesos framework teardown <id>          ends a framework (its tasks are killed)
 *   mesos quota                            the roles' quota
 *   mesos quota set <role> cpus=2,mem=512  sets a role's guarantee (and `--limit=cpus=4,…`)
 *   mesos quota remove <role>              removes it
 *   mesos weights                          the roles' weights
 *   mesos weights set <role>=<w> …         sets weights
 *   mesos top [--once]                     agents' and frameworks' usage, refreshed live
 *
 * Writes go through the master's v1 API (`UPDATE_QUOTA`, `UPDATE_WEIGHTS`, `TEARDOWN`) as the
 * CLI's principal; the master's answer (refused, unknown, …) is printed as one line, exit 1.
 *
 * Without `--master`, the leader's HTTP address is read from the bus (the lease names it), with
 * `--credential` or `--insecure` as the other commands connect; when the bus names no leader with
 * an HTTP address in time, `127.0.0.1:5050` is asked (a bus that cannot be reached at all is one
 * line and exit 1, after `--nats_connect_timeout`). On a terminal a spinner on stderr says what is
 * being waited for.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { KvLeaderDetector } from '../runtime/lease.ts';
import { silentLogger } from '../runtime/log.ts';
import type { LeaderInfo } from '../runtime/types.ts';
import { busIdentity, connectBus, exitBadFlag } from './flags.ts';

type Json = Record<string, any>;

/** The CLI's command name, for messages. */
const COMMAND = 'mesos';
/** The master asked when none is named and the bus names none. */
export const DEFAULT_MASTER = '127.0.0.1:5050';

/** How the master is asked (set up by the CLI from its flags). */
export interface AskClient {
  scheme: 'http' | 'https';
  authorization?: string;
  ca?: Buffer;
}

/** The frames of the spinner. */
const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * Runs `work`, showing `label` with a spinner on stderr meanwhile when stderr is a terminal (and
 * nothing otherwise); the line is cleared when it is done.
 */
export async function withProgress<T>(label: string, work: () => Promise<T>): Promise<T> {
  if (!process.stderr.isTTY) return work();
  let i = 0;
  const draw = () => process.stderr.write(`\r\x1b[2K${FRAMES[i++ % FRAMES.length]} ${label}`);
  // Quick answers show nothing: the spinner starts after a moment.
  let timer: NodeJS.Timeout | undefined = setTimeout(() => {
    draw();
    timer = setInterval(draw, 100);
  }, 150);
  try {
    return await work();
  } finally {
    clearTimeout(timer);
    clearInterval(timer);
    process.stderr.write('\r\x1b[2K');
  }
}

/** The bus flags the leader lookup reads. */
export interface BusFlags {
  nats: string;
  nats_connect_timeout: number;
  cluster: string;
  credential?: string;
  insecure: boolean;
  nats_tls_ca?: string;
  nats_tls_cert?: string;
  nats_tls_key?: string;
}

/** How long the lookup waits for the lease to name a leader with an HTTP address, ms. */
const LEADER_WAIT_MS = 10_000;

/**
 * The master to ask: `--master` when given; else the leader's HTTP address as the lease on the
 * bus names it (with `--credential` or `--insecure`); else {@link DEFAULT_MASTER}, saying why on
 * stderr when the bus was asked and could not tell.
 */
export async function findMaster(master: string | undefined, bus: BusFlags): Promise<string> {
  if (master !== undefined) return master;
  if (bus.credential === undefined && !bus.insecure) return DEFAULT_MASTER;
  const id = busIdentity(COMMAND, bus, ['operator', 'observer', 'master', 'agent', 'scheduler'], silentLogger());
  const leader = await withProgress(`finding the leading master on ${bus.nats}`, async () => {
    const nc = await connectBus(COMMAND, bus, { name: 'mesos-cli', logger: silentLogger(), options: id.options });
    const detector = new KvLeaderDetector({ nc, cluster: bus.cluster, logger: silentLogger() });
    try {
      return await new Promise<LeaderInfo | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), LEADER_WAIT_MS);
        detector.start((l) => {
          if (!l?.http) return;
          clearTimeout(timer);
          resolve(l);
        });
      });
    } finally {
      await detector.stop();
      await nc.close();
    }
  });
  if (leader?.http) return leader.http;
  process.stderr.write(`${COMMAND}: the bus names no leading master with an HTTP address; asking ${DEFAULT_MASTER}\n`);
  return DEFAULT_MASTER;
}

/** One request to the master: its status, `Location` and body (the body streamed to `onData` when given). */
function request(client: AskClient, url: string, method: string, body: string | undefined, onData?: (chunk: string) => void): Promise<{ status: number; location?: string; text: string; res: IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = { ...(client.authorization ? { authorization: client.authorization } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) };
    const done = (res: IncomingMessage) => {
      let text = '';
      res.setEncoding('utf8');
      if (onData && res.statusCode === 200) {
        res.on('data', onData);
        resolve({ status: 200, text: '', res });
        return;
      }
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ...(res.headers.location ? { location: res.headers.location } : {}), text, res }));
      res.on('error', reject);
    };
    // A stream may be quiet for long (a heartbeat every 15 s): it gets a connection of its own,
    // without the shared agent's idle timeout.
    const opts = { method, headers, ...(onData ? { agent: false } : { timeout: 60_000 }) };
    const req = u.protocol === 'https:' ? httpsRequest(u, { ...opts, ...(client.ca ? { ca: client.ca } : {}) }, done) : httpRequest(u, opts, done);
    if (onData) req.setTimeout(0);
    else req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Why a call failed, in one line. */
function failure(status: number, text: string): string {
  let why = text.trim();
  try {
    why = String((JSON.parse(text) as { error?: unknown }).error ?? why);
  } catch {
    /* plain text */
  }
  if (status === 401) return 'the master refused the credentials (401); give --credential, or --principal and --secret';
  if (status === 403) return `not permitted (403): ${why}`;
  if (status === 503) return `the master could not answer (503): ${why || 'no master leads the cluster right now'}`;
  return `${why || 'refused'} (${status})`;
}

/**
 * Calls the master's v1 API with `call`, following a standby's 307 to the leader; exits 1 with one
 * line when it cannot, or when the master says no. Streams the answer to `onData` when given.
 */
export async function v1Call(client: AskClient, master: string, call: Json, onData?: (chunk: string) => void): Promise<{ text: string; res: IncomingMessage }> {
  let url = `${/^https?:\/\//.test(master) ? master.replace(/\/+$/, '') : `${client.scheme}://${master}`}/api/v1`;
  for (let hop = 0; hop < 3; hop++) {
    let r;
    try {
      r = await withProgress(`asking ${new URL(url).host}`, () => request(client, url, 'POST', JSON.stringify(call), onData));
    } catch (e) {
      const cause = (e as { code?: string }).code ?? (e as Error).message;
      process.stderr.write(`${COMMAND}: no master answers at ${master} (${cause}); give one with --master=host:port\n`);
      return process.exit(1);
    }
    if (r.status === 307) {
      url = new URL(r.location ?? '/', url).toString();
      continue;
    }
    if (r.status !== 200) {
      process.stderr.write(`${COMMAND}: ${String(call.type)}: ${failure(r.status, r.text)}\n`);
      return process.exit(1);
    }
    return r;
  }
  process.stderr.write(`${COMMAND}: too many redirects from ${master}\n`);
  return process.exit(1);
}

/** `cpus=2,mem=512` as `{ cpus: { value: 2 }, mem: { value: 512 } }`; a bad token exits 2. */
export function parseQuantities(text: string, what: string): Record<string, { value: number }> {
  const out: Record<string, { value: number }> = {};
  for (const part of text.split(',')) {
    const m = /^([A-Za-z_][A-Za-z0-9_-]*)[=:](\d+(?:\.\d+)?)$/.exec(part.trim());
    if (!m) exitBadFlag(COMMAND, `${what}: '${part}' is not <resource>=<amount> (e.g. cpus=2,mem=512)`);
    out[m[1]!] = { value: Number(m[2]) };
  }
  return out;
}

/** Prints rows as aligned columns, headed by `columns`. */
export function table(columns: string[], rows: string[][]): string {
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return `${[line(columns), ...rows.map(line)].join('\n')}\n`;
}

const quantityText = (q: Record<string, { value: number }> | undefined) => Object.entries(q ?? {}).map(([k, v]) => `${k}=${v.value}`).join(',') || '-';

/** What the operator commands are given. */
export interface CommandContext {
  client: AskClient;
  master: string;
  json: boolean;
  once: boolean;
  limit?: string;
}

/** True when `words` name one of the commands here. */
export function isOperatorCommand(words: readonly string[]): boolean {
  return (words[0] === 'framework' && words[1] === 'teardown') || words[0] === 'quota' || words[0] === 'weights' || words[0] === 'top';
}

const print = (ctx: CommandContext, doc: unknown, text: () => string) => process.stdout.write(ctx.json ? `${JSON.stringify(doc, null, 2)}\n` : text());

/** Runs one of the commands here (see {@link isOperatorCommand}); a bad use exits 2. */
export async function runOperatorCommand(words: readonly string[], ctx: CommandContext): Promise<void> {
  const [a, b, ...rest] = words;
  if (a === 'framework') {
    if (rest.length !== 1) exitBadFlag(COMMAND, 'framework teardown takes one framework id: mesos framework teardown <id>');
    await v1Call(ctx.client, ctx.master, { type: 'TEARDOWN', teardown: { framework_id: { value: rest[0] } } });
    return void print(ctx, { framework_id: rest[0], torn_down: true }, () => `framework ${rest[0]} torn down\n`);
  }
  if (a === 'quota') {
    if (b === undefined) {
      const { text } = await v1Call(ctx.client, ctx.master, { type: 'GET_QUOTA' });
      const configs = ((JSON.parse(text) as Json).get_quota?.status?.configs ?? []) as Json[];
      return void print(ctx, configs, () => table(['ROLE', 'GUARANTEE', 'LIMIT'], configs.map((c) => [c.role, quantityText(c.guarantees), quantityText(c.limits)])));
    }
    if (b === 'set' && rest.length === 2) {
      const guarantees = parseQuantities(rest[1]!, 'quota set');
      const limits = ctx.limit !== undefined ? parseQuantities(ctx.limit, '--limit') : undefined;
      await v1Call(ctx.client, ctx.master, { type: 'UPDATE_QUOTA', update_quota: { quota_configs: [{ role: rest[0], guarantees, ...(limits ? { limits } : {}) }] } });
      return void print(ctx, { role: rest[0], guarantees, ...(limits ? { limits } : {}) }, () => `quota of role '${rest[0]}' set: ${quantityText(guarantees)}${limits ? ` (limit ${quantityText(limits)})` : ''}\n`);
    }
    if (b === 'remove' && rest.length === 1) {
      await v1Call(ctx.client, ctx.master, { type: 'UPDATE_QUOTA', update_quota: { quota_configs: [{ role: rest[0] }] } });
      return void print(ctx, { role: rest[0], removed: true }, () => `quota of role '${rest[0]}' removed\n`);
    }
    exitBadFlag(COMMAND, 'quota takes: mesos quota | mesos quota set <role> cpus=…,mem=… [--limit=cpus=…] | mesos quota remove <role>');
  }
  if (a === 'weights') {
    if (b === undefined) {
      const { text } = await v1Call(ctx.client, ctx.master, { type: 'GET_WEIGHTS' });
      const infos = ((JSON.parse(text) as Json).get_weights?.weight_infos ?? []) as Json[];
      return void print(ctx, infos, () => table(['ROLE', 'WEIGHT'], infos.map((w) => [w.role, String(w.weight)])));
    }
    if (b === 'set' && rest.length > 0) {
      const infos = rest.map((w) => {
        const m = /^([^=\s]+)=(\d+(?:\.\d+)?)$/.exec(w);
        if (!m || Number(m[2]) <= 0) exitBadFlag(COMMAND, `weights set: '${w}' is not <role>=<positive weight>`);
        return { role: m[1]!, weight: Number(m[2]) };
      });
      await v1Call(ctx.client, ctx.master, { type: 'UPDATE_WEIGHTS', update_weights: { weight_infos: infos } });
      return void print(ctx, infos, () => infos.map((w) => `weight of role '${w.role}' set to ${w.weight}\n`).join(''));
    }
    exitBadFlag(COMMAND, 'weights takes: mesos weights | mesos weights set <role>=<weight> …');
  }
  if (a === 'top') {
    if (b !== undefined) exitBadFlag(COMMAND, `top takes no argument (got '${b}')`);
    return top(ctx);
  }
  exitBadFlag(COMMAND, `unknown command '${words.join(' ')}'`);
}

// ── top ───────────────────────────────────────────────────────────────────────────────────────

/**
 * Reads RecordIO (a length, a newline, that many bytes of JSON) from chunks as they come, and
 * hands each record to `onRecord`. Chunks are kept until a record is whole and joined once then,
 * not at every chunk (a SUBSCRIBED of 30 MB comes in thousands). A record that is not JSON is
 * skipped, and a length that is not a number drops what was read: `onProblem` says so.
 */
export function recordReader(onRecord: (record: Json) => void, onProblem: (why: string) => void): (chunk: string | Uint8Array) => void {
  let chunks: Buffer[] = [];
  /** The record being read: its whole length (header included) once its header is in, else -1. */
  let wanted = -1;
  let headerLength = 0;
  let have = 0;
  return (chunk) => {
    const b = Buffer.from(chunk);
    chunks.push(b);
    have += b.length;
    for (;;) {
      if (wanted < 0) {
        if (chunks.length > 1) chunks = [Buffer.concat(chunks)];
        const nl = chunks[0]!.indexOf(10);
        if (nl < 0) return;
        const length = Number(chunks[0]!.subarray(0, nl).toString());
        if (!Number.isInteger(length) || length < 0) {
          onProblem('the master sent a record length that is not a number; dropping what was read');
          chunks = [];
          have = 0;
          return;
        }
        headerLength = nl + 1;
        wanted = headerLength + length;
      }
      if (have < wanted) return;
      const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      const text = buf.subarray(headerLength, wanted).toString();
      chunks = [buf.subarray(wanted)];
      have -= wanted;
      wanted = -1;
      let record: Json;
      try {
        record = JSON.parse(text) as Json;
      } catch {
        onProblem('the master sent a record that is not JSON; skipping it');
        continue;
      }
      onRecord(record);
    }
  };
}

/** What `top` keeps of the cluster, updated from the master's events. */
export class TopModel {
  readonly agents = new Map<string, { hostname: string; total: Record<string, number> }>();
  readonly frameworks = new Map<string, { name: string; role: string }>();
  /** Tasks by `<framework>/<task>`: where they run, what they hold and their state. */
  readonly tasks = new Map<string, { frameworkId: string; agentId: string; state: string; resources: Record<string, number> }>();

  /** Takes the state of a `SUBSCRIBED` or `GET_STATE` answer. */
  load(state: Json): void {
    this.agents.clear();
    this.frameworks.clear();
    this.tasks.clear();
    for (const a of state.get_agents?.agents ?? []) this.addAgent(a);
    for (const f of state.get_frameworks?.frameworks ?? []) this.addFramework(f);
    for (const t of state.get_tasks?.tasks ?? []) this.addTask(t);
  }

  /** Applies one event; `true` when it changed what is shown. */
  apply(e: Json): boolean {
    switch (e.type) {
      case 'SUBSCRIBED': this.load(e.subscribed.get_state); return true;
      case 'AGENT_ADDED': this.addAgent(e.agent_added.agent); return true;
      case 'AGENT_REMOVED': this.agents.delete(e.agent_removed.agent_id.value); return true;
      case 'FRAMEWORK_ADDED': this.addFramework(e.framework_added.framework); return true;
      case 'FRAMEWORK_UPDATED': this.addFramework(e.framework_updated.framework); return true;
      case 'FRAMEWORK_REMOVED': {
        const id = e.framework_removed.framework_info.id.value;
        this.frameworks.delete(id);
        for (const [k, t] of this.tasks) if (t.frameworkId === id) this.tasks.delete(k);
        return true;
      }
      case 'TASK_ADDED': this.addTask(e.task_added.task); return true;
      case 'TASK_UPDATED': {
        const t = this.tasks.get(`${e.task_updated.framework_id.value}/${e.task_updated.status.task_id.value}`);
        if (t) t.state = e.task_updated.state;
        return true;
      }
      default: return false;
    }
  }

  private addAgent(a: Json): void {
    this.agents.set(a.agent_info.id.value, { hostname: a.agent_info.hostname, total: scalars(a.total_resources ?? a.agent_info.resources) });
  }

  private addFramework(f: Json): void {
    this.frameworks.set(f.framework_info.id.value, { name: f.framework_info.name, role: (f.framework_info.roles ?? ['*'])[0] });
  }

  private addTask(t: Json): void {
    this.tasks.set(`${t.framework_id.value}/${t.task_id.value}`, { frameworkId: t.framework_id.value, agentId: t.agent_id.value, state: t.state, resources: scalars(t.resources) });
  }

  /** The screen: agents with what their running tasks use of their total, then frameworks. */
  render(): { agents: Json[]; frameworks: Json[] } {
    const agents = new Map([...this.agents].map(([id, a]) => [id, { id, hostname: a.hostname, tasks: 0, cpus: 0, mem: 0, cpus_total: a.total.cpus ?? 0, mem_total: a.total.mem ?? 0 }]));
    const frameworks = new Map([...this.frameworks].map(([id, f]) => [id, { id, name: f.name, role: f.role, tasks: 0, cpus: 0, mem: 0 }]));
    for (const t of this.tasks.values()) {
      if (!LIVE.has(t.state)) continue;
      for (const row of [agents.get(t.agentId), frameworks.get(t.frameworkId)]) {
        if (!row) continue;
        row.tasks += 1;
        row.cpus = round(row.cpus + (t.resources.cpus ?? 0));
        row.mem = round(row.mem + (t.resources.mem ?? 0));
      }
    }
    return { agents: [...agents.values()], frameworks: [...frameworks.values()] };
  }
}

/** States in which a task holds its resources. */
const LIVE = new Set(['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING']);
const round = (n: number) => Math.round(n * 1000) / 1000;

function scalars(rs: Json[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of rs ?? []) if (r.type === 'SCALAR') out[r.name] = round((out[r.name] ?? 0) + (r.scalar?.value ?? 0));
  return out;
}

/** The text of one `top` screen. */
export function topText(view: { agents: Json[]; frameworks: Json[] }, master: string): string {
  const pct = (used: number, total: number) => (total > 0 ? `${Math.round((100 * used) / total)}%` : '-');
  return `mesos top — ${master} — ${view.agents.length} agent(s), ${view.frameworks.length} framework(s)\n\n` +
    table(['AGENT', 'HOSTNAME', 'TASKS', 'CPUS', 'CPU%', 'MEM (MB)', 'MEM%'], view.agents.map((a) => [a.id, a.hostname, String(a.tasks), `${a.cpus}/${a.cpus_total}`, pct(a.cpus, a.cpus_total), `${a.mem}/${a.mem_total}`, pct(a.mem, a.mem_total)])) +
    '\n' +
    table(['FRAMEWORK', 'NAME', 'ROLE', 'TASKS', 'CPUS', 'MEM (MB)'], view.frameworks.map((f) => [f.id, f.name, f.role, String(f.tasks), String(f.cpus), String(f.mem)]));
}

/** How often the live screen is redrawn at most, ms. */
const REDRAW_MS = 500;

/**
 * `top`: with `--once`, or when stdout is not a terminal, one snapshot (`GET_STATE`); else a
 * full-screen view fed by `SUBSCRIBE`, redrawn as events arrive, until interrupted.
 */
async function top(ctx: CommandContext): Promise<void> {
  const model = new TopModel();
  if (ctx.once || !process.stdout.isTTY) {
    const { text } = await v1Call(ctx.client, ctx.master, { type: 'GET_STATE' });
    model.load((JSON.parse(text) as Json).get_state);
    return void print(ctx, model.render(), () => topText(model.render(), ctx.master));
  }
  let dirty = false;
  const redraw = () => {
    if (!dirty) return;
    dirty = false;
    process.stdout.write(`\x1b[H\x1b[2J${topText(model.render(), ctx.master)}\n(ctrl-c to quit)\n`);
  };
  const timer = setInterval(redraw, REDRAW_MS);
  // The cursor comes back however the process ends (a failed call exits).
  const showCursor = () => process.stdout.write('\x1b[?25h');
  process.once('exit', showCursor);
  process.stdout.write('\x1b[?25l');
  const read = recordReader((e) => {
    if (model.apply(e)) dirty = true;
    // The whole state is drawn at once; events are drawn at most every REDRAW_MS.
    if (e.type === 'SUBSCRIBED') redraw();
  }, (why) => process.stderr.write(`${COMMAND}: ${why}\n`));
  const { res } = await v1Call(ctx.client, ctx.master, { type: 'SUBSCRIBE' }, read);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    res.on('close', () => {
      process.stderr.write(`${COMMAND}: the master ended the event stream\n`);
      resolve();
    });
  });
  clearInterval(timer);
  res.destroy();
  process.off('exit', showCursor);
  showCursor();
}
