/**
 * The master's web UI: an overview, agents, frameworks, tasks (with each task's states and its
 * sandbox), offers, roles, metrics and the machines' statecharts. The cluster comes by push from
 * the master's `SUBSCRIBE` stream (`connection.ts` into `store.ts`); each page redraws at most
 * once a frame when it changed. Pages are addressed by the URL's hash (`#/tasks`, `#/task/<fw>/<id>`).
 */
import { cpus, h, mb, shortState, when } from './dom.ts';
import { stayConnected, type ConnectionStatus } from './connection.ts';
import { ClusterStore, type AgentRow, type FrameworkRow, type Scalars, type TaskRow } from './store.ts';
import { VirtualTable } from './table.ts';
import { sparkline } from './sparkline.ts';
import { sandboxView } from './sandbox.ts';
import { machinesPage } from './machines.ts';
import { isTerminalState, TASK_STATES, type TaskState } from '../protocols/task-states.ts';

const store = new ClusterStore();

/** A page: its element, how it redraws from the store, and what to stop when it is left. */
interface Page {
  el: HTMLElement;
  update?: () => void;
  dispose?: () => void;
}

const NAV: Array<[string, string]> = [
  ['#/', 'Overview'],
  ['#/agents', 'Agents'],
  ['#/frameworks', 'Frameworks'],
  ['#/tasks', 'Tasks'],
  ['#/offers', 'Offers'],
  ['#/roles', 'Roles'],
  ['#/metrics', 'Metrics'],
  ['#/machines', 'Machines'],
];

const statusEl = h('span', { class: 'conn', 'data-conn': 'connecting' }, 'connecting…');
const navEl = h('nav', {}, ...NAV.map(([href, label]) => h('a', { href, 'data-nav': label.toLowerCase() }, label)));
const main = h('main');
document.body.append(h('header', {}, h('strong', { class: 'brand' }, 'mesos-ts'), navEl, statusEl), main);

let page: Page | undefined;
let drawn = -1;
let frame = 0;

/** Redraws the page at the next frame if the store moved. */
function schedule(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    if (drawn === store.version) return;
    drawn = store.version;
    page?.update?.();
  });
}

function showStatus(s: ConnectionStatus): void {
  statusEl.dataset.conn = s.state;
  statusEl.textContent = `${s.state === 'connected' ? '● live' : s.state === 'connecting' ? 'connecting…' : '○ reconnecting…'} · leader ${s.leader ?? 'unknown'} · answering ${s.answering}`;
  statusEl.title = s.error ?? '';
  leaderInfo = s;
  if (currentRoute().name === 'overview') page?.update?.();
}
let leaderInfo: ConnectionStatus | undefined;

// ── pages ─────────────────────────────────────────────────────────────────────────────────

const res = (r: Scalars) => `${cpus(r.cpus)} cpus · ${mb(r.mem)} mem · ${mb(r.disk)} disk${r.gpus ? ` · ${r.gpus} gpus` : ''}`;
const stateBadge = (s: string) => h('span', { class: `state s-${shortState(s).toLowerCase()}` }, shortState(s));

/** Offers and their resources, read from `/master/state` when asked (the event stream has none). */
let offers: { at: number; list: Array<{ id: string; framework: string; agent: string; resources: Record<string, unknown> }> } | undefined;

async function loadOffers(): Promise<void> {
  try {
    const r = await fetch('/master/state', { cache: 'no-store' });
    if (!r.ok) return;
    const s = (await r.json()) as { frameworks?: Array<{ offers?: Array<{ id: string; framework_id: string; slave_id: string; resources: Record<string, unknown> }> }> };
    offers = { at: Date.now(), list: (s.frameworks ?? []).flatMap((f) => (f.offers ?? []).map((o) => ({ id: o.id, framework: o.framework_id, agent: o.slave_id, resources: o.resources }))) };
  } catch {
    // Shown as not loaded.
  }
}

function offeredTotal(): Scalars {
  const out: Scalars = {};
  for (const o of offers?.list ?? []) for (const k of ['cpus', 'mem', 'disk', 'gpus']) out[k] = (out[k] ?? 0) + Number(o.resources[k] ?? 0);
  return out;
}

function overview(): Page {
  const el = h('section', { class: 'overview' });
  void loadOffers().then(() => update());
  const update = () => {
    const total = store.total();
    const used = store.used;
    const offered = offeredTotal();
    const idle: Scalars = {};
    for (const k of ['cpus', 'mem', 'disk', 'gpus']) idle[k] = Math.max(0, (total[k] ?? 0) - (used[k] ?? 0) - (offered[k] ?? 0));
    const agents = [...store.agents.values()];
    const byStatus = (s: AgentRow['status']) => agents.filter((a) => a.status === s).length;
    const fws = [...store.frameworks.values()];
    el.replaceChildren(
      h('h2', {}, 'Cluster'),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Leader'), h('dd', { 'data-fact': 'leader' }, leaderInfo?.leader ?? 'unknown'),
        h('dt', {}, 'Answering'), h('dd', { 'data-fact': 'answering' }, location.host),
        h('dt', {}, 'Agents'), h('dd', { 'data-fact': 'agents' }, `${byStatus('active')} active, ${byStatus('unreachable')} unreachable, ${byStatus('recovering')} recovering`),
        h('dt', {}, 'Frameworks'), h('dd', { 'data-fact': 'frameworks' }, `${fws.filter((f) => f.status !== 'removed').length} (${fws.filter((f) => f.status === 'removed').length} completed)`),
      ),
      h('h2', {}, 'Resources'),
      h('table', { class: 'grid' },
        h('tr', {}, h('th'), h('th', {}, 'cpus'), h('th', {}, 'mem'), h('th', {}, 'disk'), h('th', {}, 'gpus')),
        ...([['Total', total], ['Used', used], [`Offered${offers ? ` (read ${new Date(offers.at).toLocaleTimeString()})` : ''}`, offered], ['Idle', idle]] as Array<[string, Scalars]>).map(([name, r]) =>
          h('tr', { 'data-res': name.split(' ')[0]!.toLowerCase() }, h('th', {}, name), h('td', {}, cpus(r.cpus)), h('td', {}, mb(r.mem)), h('td', {}, mb(r.disk)), h('td', {}, String(r.gpus ?? 0))),
        ),
      ),
      h('h2', {}, 'Tasks'),
      h('div', { class: 'counts' }, ...TASK_STATES.filter((s) => (store.counts[s] ?? 0) > 0 || ['TASK_STAGING', 'TASK_RUNNING', 'TASK_FINISHED', 'TASK_FAILED'].includes(s)).map((s) =>
        h('a', { href: `#/tasks?state=${s}`, class: 'count', 'data-count': s }, h('b', {}, String(store.counts[s] ?? 0)), stateBadge(s)),
      )),
    );
  };
  update();
  return { el, update };
}

function agentsPage(): Page {
  const table = new VirtualTable<AgentRow>([
    { title: 'ID', cell: (a) => a.id, width: '22em' },
    { title: 'Hostname', cell: (a) => a.hostname },
    { title: 'State', cell: (a) => h('span', { class: `agent-state a-${a.status}` }, a.status), width: '8em', class: 'status' },
    { title: 'Resources', cell: (a) => res(a.resources), width: '22em' },
    { title: 'Attributes', cell: (a) => Object.entries(a.attributes).map(([k, v]) => `${k}=${v}`).join(' ') },
    { title: 'Address', cell: (a) => a.httpAddress ?? '', width: '12em' },
  ], { key: (a) => a.id, name: 'agents', empty: 'No agents' });
  const search = h('input', { type: 'search', placeholder: 'filter by id, hostname or attribute', oninput: () => update() });
  const update = () => {
    const q = search.value.trim().toLowerCase();
    const rows = [...store.agents.values()].filter((a) => !q || a.id.toLowerCase().includes(q) || a.hostname.toLowerCase().includes(q) || Object.entries(a.attributes).some(([k, v]) => `${k}=${v}`.toLowerCase().includes(q)));
    table.setRows(rows);
  };
  const el = h('section', {}, h('div', { class: 'tools' }, h('h2', {}, 'Agents'), search), table.el);
  queueMicrotask(update);
  return { el, update };
}

function frameworksPage(): Page {
  const taskCount = new Map<string, number>();
  const table = new VirtualTable<FrameworkRow>([
    { title: 'ID', cell: (f) => f.id, width: '24em' },
    { title: 'Name', cell: (f) => f.name },
    { title: 'User', cell: (f) => f.user, width: '8em' },
    { title: 'Principal', cell: (f) => f.principal ?? '', width: '10em' },
    { title: 'Roles', cell: (f) => f.roles.join(', '), width: '10em' },
    { title: 'State', cell: (f) => f.status, width: '8em' },
    { title: 'Active tasks', cell: (f) => String(taskCount.get(f.id) ?? 0), width: '7em' },
    { title: 'Registered', cell: (f) => when(f.registeredAt), width: '12em' },
  ], { key: (f) => f.id, name: 'frameworks', onClick: (f) => (location.hash = `#/tasks?q=${encodeURIComponent(f.id)}`), empty: 'No frameworks' });
  const update = () => {
    taskCount.clear();
    for (const t of store.tasks.values()) if (!isTerminalState(t.state as TaskState)) taskCount.set(t.frameworkId, (taskCount.get(t.frameworkId) ?? 0) + 1);
    table.setRows([...store.frameworks.values()].sort((a, b) => Number(a.status === 'removed') - Number(b.status === 'removed')));
  };
  queueMicrotask(update);
  return { el: h('section', {}, h('h2', {}, 'Frameworks'), table.el), update };
}

function tasksPage(params: URLSearchParams): Page {
  const table = new VirtualTable<TaskRow>([
    { title: 'ID', cell: (t) => t.id },
    { title: 'Name', cell: (t) => t.name },
    { title: 'State', cell: (t) => stateBadge(t.state), width: '9em', class: 'task-state' },
    { title: 'Framework', cell: (t) => store.frameworks.get(t.frameworkId)?.name ?? t.frameworkId, width: '12em' },
    { title: 'Agent', cell: (t) => store.agents.get(t.agentId)?.hostname ?? t.agentId, width: '12em' },
    { title: 'Resources', cell: (t) => `${cpus(t.resources.cpus)} cpus · ${mb(t.resources.mem)}`, width: '12em' },
    { title: 'Since', cell: (t) => when(t.history.at(-1)?.at), width: '12em' },
  ], { key: (t) => t.id, name: 'tasks', onClick: (t) => (location.hash = `#/task/${encodeURIComponent(t.frameworkId)}/${encodeURIComponent(t.id)}`), empty: 'No tasks' });
  const state = h('select', { onchange: () => update(), name: 'state' }, h('option', { value: '' }, 'any state'), ...TASK_STATES.map((s) => h('option', { value: s }, shortState(s))));
  state.value = params.get('state') ?? '';
  const search = h('input', { type: 'search', name: 'q', placeholder: 'search id, name or framework', value: params.get('q') ?? '', oninput: () => update() });
  const count = h('span', { class: 'muted' });
  const update = () => {
    const q = search.value.trim().toLowerCase();
    const s = state.value;
    const rows: TaskRow[] = [];
    for (const t of store.tasks.values()) {
      if (s && t.state !== s) continue;
      if (q && !(t.id.toLowerCase().includes(q) || t.name.toLowerCase().includes(q) || t.frameworkId.toLowerCase().includes(q) || (store.frameworks.get(t.frameworkId)?.name.toLowerCase().includes(q) ?? false))) continue;
      rows.push(t);
    }
    // Newest first (the order the master added them in, reversed).
    rows.reverse();
    count.textContent = `${rows.length} of ${store.tasks.size}`;
    table.setRows(rows);
  };
  queueMicrotask(update);
  return { el: h('section', {}, h('div', { class: 'tools' }, h('h2', {}, 'Tasks'), state, search, count), table.el), update };
}

function taskPage(frameworkId: string, taskId: string): Page {
  const head = h('div');
  const sandbox = h('div', { class: 'sandbox' });
  let sandboxOf: string | undefined;
  let stopSandbox: (() => void) | undefined;
  const update = () => {
    const t = store.tasks.get(ClusterStore.key(frameworkId, taskId));
    if (!t) {
      head.replaceChildren(h('h2', {}, `Task ${taskId}`), h('p', {}, 'This task is not known to the master (yet).'));
      return;
    }
    const agent = store.agents.get(t.agentId);
    head.replaceChildren(
      h('h2', {}, `Task ${t.id} `, stateBadge(t.state)),
      h('dl', { class: 'facts' },
        h('dt', {}, 'Name'), h('dd', {}, t.name),
        h('dt', {}, 'Framework'), h('dd', {}, `${store.frameworks.get(t.frameworkId)?.name ?? ''} (${t.frameworkId})`),
        h('dt', {}, 'Agent'), h('dd', {}, `${agent?.hostname ?? ''} (${t.agentId})${agent ? ` · ${agent.status}` : ''}`),
        h('dt', {}, 'Resources'), h('dd', {}, res(t.resources)),
        h('dt', {}, 'Sandbox'), h('dd', {}, t.sandbox ?? 'not reported yet'),
      ),
      h('h3', {}, 'States seen'),
      h('ol', { class: 'history', 'data-history': t.id }, ...t.history.map((x) => h('li', {}, stateBadge(x.state), ` ${when(x.at)}`, x.reason ? ` · ${x.reason}` : '', x.message ? ` · ${x.message}` : ''))),
    );
    if (t.sandbox && t.sandbox !== sandboxOf) {
      sandboxOf = t.sandbox;
      stopSandbox?.();
      const view = sandboxView(t.agentId, t.sandbox);
      stopSandbox = view.dispose;
      sandbox.replaceChildren(h('h3', {}, 'Sandbox'), view.el);
    }
  };
  update();
  return { el: h('section', {}, head, sandbox), update, dispose: () => stopSandbox?.() };
}

function offersPage(): Page {
  const table = new VirtualTable<NonNullable<typeof offers>['list'][number]>([
    { title: 'Offer', cell: (o) => o.id, width: '24em' },
    { title: 'Framework', cell: (o) => store.frameworks.get(o.framework)?.name ?? o.framework },
    { title: 'Agent', cell: (o) => store.agents.get(o.agent)?.hostname ?? o.agent },
    { title: 'Resources', cell: (o) => Object.entries(o.resources).filter(([, v]) => v !== 0).map(([k, v]) => `${k}:${String(v)}`).join(' ') },
  ], { key: (o) => o.id, name: 'offers', empty: 'No outstanding offers' });
  const note = h('span', { class: 'muted' });
  const refresh = async () => {
    await loadOffers();
    note.textContent = offers ? `read ${new Date(offers.at).toLocaleTimeString()} (the event stream carries no offers)` : 'could not read the offers';
    table.setRows(offers?.list ?? []);
  };
  void refresh();
  return { el: h('section', {}, h('div', { class: 'tools' }, h('h2', {}, 'Offers'), h('button', { onclick: () => void refresh() }, 'Refresh'), note), table.el) };
}

/** JSON read leniently: whatever a master answers, a missing field is only left blank. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- checked field by field where used
type Loose = Record<string, any>;

/** Resources in any of Mesos' shapes (an object by name, or a list of v1 `Resource`s) as text. */
function anyResources(v: unknown): string {
  if (Array.isArray(v)) return v.map((r: { name?: string; scalar?: { value?: number } }) => `${r.name}:${r.scalar?.value ?? '?'}`).join(' ');
  if (v && typeof v === 'object') return Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== 0 && x !== '').map(([k, x]) => `${k}:${typeof x === 'object' ? JSON.stringify(x) : String(x)}`).join(' ');
  return '';
}

function rolesPage(): Page {
  const body = h('div');
  const load = async () => {
    const get = async (path: string): Promise<Loose | undefined> => {
      try {
        const r = await fetch(path, { cache: 'no-store' });
        return r.ok ? ((await r.json()) as Loose) : undefined;
      } catch {
        return undefined;
      }
    };
    const [roles, quota] = await Promise.all([get('/master/roles'), get('/master/quota')]);
    const quotas = new Map<string, Loose>();
    for (const q of (quota?.infos ?? quota?.quotas ?? []) as Array<Loose>) if (typeof q.role === 'string') quotas.set(q.role, q);
    for (const r of (roles?.roles ?? []) as Array<Loose>) if (r.quota && !quotas.has(r.name)) quotas.set(r.name, r.quota);
    const names = new Set<string>([...((roles?.roles ?? []) as Array<{ name: string }>).map((r) => r.name), ...quotas.keys()]);
    const roleOf = (n: string) => ((roles?.roles ?? []) as Array<Loose>).find((r) => r.name === n);
    body.replaceChildren(
      roles ? h('table', { class: 'grid', 'data-table': 'roles' },
        h('tr', {}, h('th', {}, 'Role'), h('th', {}, 'Weight'), h('th', {}, 'Frameworks'), h('th', {}, 'Allocated'), h('th', {}, 'Quota guarantee'), h('th', {}, 'Quota limit')),
        ...[...names].sort().map((n) => {
          const r = roleOf(n);
          const q = quotas.get(n);
          return h('tr', { 'data-role': n }, h('td', {}, n), h('td', {}, String(r?.weight ?? 1)), h('td', {}, String((r?.frameworks ?? []).length)), h('td', {}, anyResources(r?.resources)), h('td', {}, anyResources(q?.guarantee ?? q?.guarantees)), h('td', {}, anyResources(q?.limit ?? q?.limits)));
        }),
      ) : h('p', {}, 'The master did not answer /master/roles.'),
      quota ? '' : h('p', { class: 'muted' }, 'This master has no /master/quota.'),
    );
  };
  void load();
  return { el: h('section', {}, h('div', { class: 'tools' }, h('h2', {}, 'Roles'), h('button', { onclick: () => void load() }, 'Refresh')), body) };
}

/** Metrics drawn as sparklines (those the master reports), sampled while the UI is open. */
const CHARTED = [
  'master/slaves_active',
  'master/slaves_unreachable',
  'master/frameworks_active',
  'master/outstanding_offers',
  'master/tasks_launched',
  'master/valid_status_updates',
  'master/offers_sent',
  'master/event_loop_delay_p99_ms',
];
const SAMPLE_MS = 2000;
const KEEP = 90;
const samples = new Map<string, number[]>();
let latest: Record<string, number> = {};
let sampler: ReturnType<typeof setInterval> | undefined;

async function sample(): Promise<void> {
  try {
    const r = await fetch('/metrics/snapshot', { cache: 'no-store' });
    if (!r.ok) return;
    latest = (await r.json()) as Record<string, number>;
    for (const [k, v] of Object.entries(latest)) {
      if (typeof v !== 'number') continue;
      const s = samples.get(k) ?? samples.set(k, []).get(k)!;
      s.push(v);
      if (s.length > KEEP) s.shift();
    }
    if (currentRoute().name === 'metrics') page?.update?.();
  } catch {
    // The next sample will tell.
  }
}

function metricsPage(): Page {
  const el = h('section');
  const update = () => {
    const charted = CHARTED.filter((k) => samples.has(k) || Object.keys(latest).some((x) => x.endsWith(k.slice(k.indexOf('/')))));
    const names = charted.map((k) => (samples.has(k) ? k : Object.keys(latest).find((x) => x.endsWith(k.slice(k.indexOf('/'))))!));
    el.replaceChildren(
      h('h2', {}, 'Metrics'),
      h('p', { class: 'muted' }, `/metrics/snapshot sampled every ${SAMPLE_MS / 1000} s while this page is open`),
      h('div', { class: 'charts' }, ...names.map((k) => h('figure', { 'data-metric': k }, h('figcaption', {}, k), sparkline(samples.get(k) ?? []), h('b', {}, String(latest[k] ?? ''))))),
      h('table', { class: 'grid metrics' }, ...Object.entries(latest).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => h('tr', {}, h('td', {}, k), h('td', {}, String(v))))),
    );
  };
  void sample();
  sampler ??= setInterval(() => void sample(), SAMPLE_MS);
  update();
  return { el, update, dispose: () => {
    clearInterval(sampler);
    sampler = undefined;
  } };
}

// ── routing ───────────────────────────────────────────────────────────────────────────────

function currentRoute(): { name: string; parts: string[]; params: URLSearchParams } {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path = '', query = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { name: parts[0] ?? 'overview', parts, params: new URLSearchParams(query) };
}

function route(): void {
  page?.dispose?.();
  const r = currentRoute();
  switch (r.name) {
    case 'agents': page = agentsPage(); break;
    case 'frameworks': page = frameworksPage(); break;
    case 'tasks': page = tasksPage(r.params); break;
    case 'task': page = taskPage(r.parts[1] ?? '', r.parts[2] ?? ''); break;
    case 'offers': page = offersPage(); break;
    case 'roles': page = rolesPage(); break;
    case 'metrics': page = metricsPage(); break;
    case 'machines': page = machinesPage(); break;
    default: page = overview();
  }
  for (const a of navEl.querySelectorAll('a')) a.classList.toggle('current', a.getAttribute('href') === `#/${r.name === 'overview' ? '' : r.name === 'task' ? 'tasks' : r.name}`);
  main.replaceChildren(page.el);
  drawn = store.version;
}

window.addEventListener('hashchange', route);
route();
void stayConnected(store, showStatus, schedule);
