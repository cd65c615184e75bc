/**
 * The live statecharts of a process's machines, drawn from its `/inspect` endpoints
 * (`runtime/http/inspect-http.ts`): each machine's states as nested boxes (a compound state holds
 * its children, a parallel state's regions stand side by side), the active states highlighted,
 * each state's transitions listed in it, and the machine's recent events, newest first. It reads
 * `/inspect/machines` once and then follows `/inspect/stream` (Server-Sent Events), so it moves
 * as the machines do. Plain DOM, no external assets; text is only ever set as text.
 *
 * @see the XState inspector's statechart view, which this draws offline.
 */

/** One transition, as the endpoints describe it (`TransitionJson` in `runtime/inspection.ts`). */
interface Transition {
  event: string;
  targets: string[];
  guard?: string;
  actions?: string[];
}

/** One state and its children (`StateJson`). */
interface StateDef {
  key: string;
  path: string;
  type: string;
  initial?: string;
  tags?: string[];
  entry?: string[];
  exit?: string[];
  on: Transition[];
  states: StateDef[];
}

/** A recorded event (`EventRecord`). */
interface EventRec {
  seq: number;
  type: string;
  at: number;
  source?: string;
  after?: unknown;
  fields?: Record<string, string | number | boolean>;
}

/** A machine (`MachineJson`). */
interface Machine {
  key: string;
  id: string;
  machine: string;
  status: string;
  value: unknown;
  active: string[];
  definition: StateDef;
  events: EventRec[];
}

/** Events listed per machine, at most. */
const EVENTS_SHOWN = 50;

const CSS = `
.sc-root{font:13px/1.35 system-ui,sans-serif;color:#1d2430}
.sc-status{color:#667;margin:4px 0 8px}
.sc-machine{border:1px solid #c9d1dc;border-radius:6px;margin:0 0 16px;padding:8px 10px;background:#fbfcfe}
.sc-machine>h3{margin:0 0 6px;font-size:15px}
.sc-machine>h3 small{font-weight:normal;color:#667;margin-left:8px}
.sc-value{font-family:ui-monospace,monospace;font-size:12px;color:#345;margin-bottom:6px;word-break:break-all}
.sc-body{display:flex;gap:12px;align-items:flex-start;flex-wrap:wrap}
.sc-chart{flex:1 1 520px;min-width:0;overflow:auto}
.sc-events{flex:0 1 320px;max-height:480px;overflow:auto;font-size:12px}
.sc-events ol{list-style:none;margin:0;padding:0}
.sc-events li{border-bottom:1px solid #e3e7ee;padding:2px 0}
.sc-events .sc-ev-type{font-weight:600}
.sc-events .sc-ev-meta{color:#778}
.sc-state{border:1px solid #aab4c3;border-radius:5px;padding:3px 6px;margin:3px 0;background:#fff}
.sc-state.sc-active{border:2px solid #1f7a3d;background:#eaf7ee}
.sc-state.sc-final{border-style:double;border-width:3px}
.sc-head{font-weight:600}
.sc-head .sc-initial{color:#1f7a3d;margin-right:3px}
.sc-head .sc-tag{font-weight:normal;color:#7a4b1f;margin-left:4px}
.sc-head .sc-kind{font-weight:normal;color:#889;margin-left:4px;font-size:11px}
.sc-on{list-style:none;margin:1px 0 2px;padding:0 0 0 6px;font-size:11px;color:#445}
.sc-on .sc-ev{color:#1a4f8b}
.sc-children{display:flex;flex-direction:column;gap:2px;padding-left:6px}
.sc-children.sc-parallel{flex-direction:row;flex-wrap:wrap;align-items:flex-start;gap:6px}
.sc-children.sc-parallel>.sc-state{border-style:dashed;flex:1 1 200px}
.sc-children.sc-parallel>.sc-state.sc-active{border-style:dashed}
`;

/** `<tag class=…>` holding `text`. */
function el(doc: Document, tag: string, cls?: string, text?: string): HTMLElement {
  const e = doc.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** How a transition reads: `event [guard] → target / actions`. */
export function transitionText(t: Transition): string {
  let s = t.event;
  if (t.guard) s += ` [${t.guard}]`;
  if (t.targets.length > 0) s += ` → ${t.targets.map((p) => p || '(root)').join(', ')}`;
  if (t.actions && t.actions.length > 0) s += ` / ${t.actions.join(', ')}`;
  else if (t.targets.length === 0) s += ' (ignored)';
  return s;
}

/** A state's box, its transitions and its children's boxes; every box is indexed by path in `boxes`. */
function stateBox(doc: Document, s: StateDef, parent: StateDef | undefined, boxes: Map<string, HTMLElement>): HTMLElement {
  const box = el(doc, 'div', `sc-state sc-${s.type}`);
  box.dataset.path = s.path;
  const head = el(doc, 'div', 'sc-head');
  if (parent?.initial === s.key) head.append(el(doc, 'span', 'sc-initial', '●'));
  head.append(doc.createTextNode(s.key));
  for (const tag of s.tags ?? []) head.append(el(doc, 'span', 'sc-tag', `«${tag}»`));
  if (s.type === 'parallel' || s.type === 'final') head.append(el(doc, 'span', 'sc-kind', s.type));
  box.append(head);
  const lines = [
    ...(s.entry ?? []).length > 0 ? [`entry / ${s.entry!.join(', ')}`] : [],
    ...(s.exit ?? []).length > 0 ? [`exit / ${s.exit!.join(', ')}`] : [],
    ...s.on.map(transitionText),
  ];
  if (lines.length > 0) {
    const ul = el(doc, 'ul', 'sc-on');
    for (const line of lines) ul.append(el(doc, 'li', undefined, line));
    box.append(ul);
  }
  if (s.states.length > 0) {
    const kids = el(doc, 'div', `sc-children${s.type === 'parallel' ? ' sc-parallel' : ''}`);
    for (const c of s.states) kids.append(stateBox(doc, c, s, boxes));
    box.append(kids);
  }
  boxes.set(s.path, box);
  return box;
}

/** A state value as one line (`leading.phase.serving`, or JSON for parallel states). */
function valueText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return '(not started)';
  // One path per active leaf: `on.light.dim | on.fan.still`.
  const leaves = (v: unknown, prefix: string): string[] => {
    if (typeof v === 'string') return [prefix + v];
    if (typeof v !== 'object' || v === null) return [];
    const entries = Object.entries(v as Record<string, unknown>);
    return entries.length === 0 ? [prefix.slice(0, -1)] : entries.flatMap(([k, c]) => leaves(c, `${prefix}${k}.`));
  };
  return leaves(value, '').join(' | ');
}

/** An event's line: type, then time, sender, kept fields and the state it led to. */
function eventItem(doc: Document, e: EventRec): HTMLElement {
  const li = el(doc, 'li');
  li.dataset.seq = String(e.seq);
  li.append(el(doc, 'span', 'sc-ev-type', e.type));
  const meta: string[] = [new Date(e.at).toISOString().slice(11, 23)];
  if (e.source) meta.push(`from ${e.source}`);
  for (const [k, v] of Object.entries(e.fields ?? {})) meta.push(`${k}=${String(v)}`);
  if (e.after !== undefined) meta.push(`→ ${valueText(e.after)}`);
  li.append(doc.createTextNode(' '), el(doc, 'span', 'sc-ev-meta', meta.join(' · ')));
  return li;
}

/** One machine on the page: its section and what changes in it. */
class MachineView {
  readonly section: HTMLElement;
  readonly #doc: Document;
  readonly #boxes = new Map<string, HTMLElement>();
  readonly #value: HTMLElement;
  readonly #status: HTMLElement;
  readonly #events: HTMLElement;
  #active = new Set<string>();

  constructor(doc: Document, m: Machine) {
    this.#doc = doc;
    this.section = el(doc, 'section', 'sc-machine');
    this.section.dataset.key = m.key;
    this.section.dataset.machine = m.machine;
    const title = el(doc, 'h3', undefined, m.machine);
    this.#status = el(doc, 'small');
    title.append(el(doc, 'small', undefined, m.id), this.#status);
    this.#value = el(doc, 'div', 'sc-value');
    const body = el(doc, 'div', 'sc-body');
    const chart = el(doc, 'div', 'sc-chart');
    // The root is the machine itself: its children are drawn, its own transitions listed first.
    chart.append(stateBox(doc, m.definition, undefined, this.#boxes));
    const events = el(doc, 'div', 'sc-events');
    events.append(el(doc, 'div', 'sc-head', 'Recent events'));
    this.#events = el(doc, 'ol');
    events.append(this.#events);
    body.append(chart, events);
    this.section.append(title, this.#value, body);
    this.update(m.status, m.value, m.active);
    for (const e of m.events) this.event(e);
  }

  /** Moves the highlight to `active`. */
  update(status: string, value: unknown, active: string[]): void {
    this.#status.textContent = status === 'active' ? '' : status;
    this.#value.textContent = valueText(value);
    const now = new Set(active);
    for (const p of this.#active) if (!now.has(p)) this.#boxes.get(p)?.classList.remove('sc-active');
    for (const p of now) this.#boxes.get(p)?.classList.add('sc-active');
    this.#active = now;
  }

  /** Lists `e` first, dropping the oldest past {@link EVENTS_SHOWN}. */
  event(e: EventRec): void {
    this.#events.insertBefore(eventItem(this.#doc, e), this.#events.firstChild);
    while (this.#events.childElementCount > EVENTS_SHOWN) this.#events.lastElementChild!.remove();
  }
}

/**
 * Draws the machines of the process at `baseUrl` (`''` for this page's own origin) into `el`,
 * and keeps them current; returns how to stop (the stream is closed and `el` emptied).
 */
export function mountStatechart(host: HTMLElement, baseUrl: string): () => void {
  const doc = host.ownerDocument;
  const base = baseUrl.replace(/\/+$/, '');
  const root = el(doc, 'div', 'sc-root');
  const style = el(doc, 'style', undefined, CSS);
  const status = el(doc, 'div', 'sc-status', 'loading machines…');
  const list = el(doc, 'div', 'sc-machines');
  root.append(style, status, list);
  host.append(root);
  const views = new Map<string, MachineView>();
  let stopped = false;

  const show = (m: Machine) => {
    const v = new MachineView(doc, m);
    const old = views.get(m.key);
    if (old) old.section.replaceWith(v.section);
    else list.append(v.section);
    views.set(m.key, v);
  };
  const showAll = (ms: Machine[]) => {
    for (const v of views.values()) v.section.remove();
    views.clear();
    for (const m of ms) show(m);
    status.textContent = ms.length === 0 ? 'no machines' : '';
  };

  const abort = typeof AbortController === 'function' ? new AbortController() : undefined;
  fetch(`${base}/inspect/machines`, abort ? { signal: abort.signal } : {})
    .then(async (r) => {
      if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
      return (await r.json()) as Machine[];
    })
    .then((ms) => {
      if (!stopped && views.size === 0) showAll(ms);
    })
    .catch((err: Error) => {
      if (!stopped) status.textContent = `cannot read the machines: ${err.message}`;
    });

  let source: EventSource | undefined;
  if (typeof EventSource === 'function') {
    source = new EventSource(`${base}/inspect/stream`);
    const on = <T>(type: string, f: (data: T) => void) => source!.addEventListener(type, (e) => {
      if (stopped) return;
      try {
        f(JSON.parse((e as MessageEvent<string>).data) as T);
      } catch {
        // A message that does not parse is skipped; the next `machines` puts the page right.
      }
    });
    on<Machine[]>('machines', showAll);
    on<Machine>('machine', show);
    on<{ key: string; status: string; value: unknown; active: string[] }>('snapshot', (s) => views.get(s.key)?.update(s.status, s.value, s.active));
    on<EventRec & { key: string }>('event', (e) => views.get(e.key)?.event(e));
    on<{ events: number }>('skipped', (s) => {
      status.textContent = `${s.events} events went by too fast to list`;
    });
    source.addEventListener('error', () => {
      if (!stopped) status.textContent = 'the stream broke; reconnecting…';
    });
    source.addEventListener('open', () => {
      if (!stopped && status.textContent?.startsWith('the stream broke')) status.textContent = '';
    });
  }

  return () => {
    stopped = true;
    source?.close();
    abort?.abort();
    root.remove();
  };
}
