/**
 * Generates each actor's state diagram from its machine definition, so that the diagram in
 * `actors/<name>/README.md` cannot drift from the machine.
 *
 * `npx tsx scripts/diagrams.ts` rewrites the block between `<!-- diagram:begin -->` and
 * `<!-- diagram:end -->` in every actor README (creating a README from a template when there is
 * none); `--check` only compares and exits 1 when a README is out of date.
 *
 * How a machine becomes a Mermaid `stateDiagram-v2`:
 * - compound states become nested states, parallel states nest their regions between `--`
 *   separators, final states lead to `[*]`; a parallel root is drawn as one state named after the
 *   machine; tags follow the state's name in guillemets (`registered «registered»`);
 * - a transition reads `event [guard] / action, action`: `after` delays read `after <delayName>`,
 *   eventless transitions `always`, the wildcard stays `*`; an unguarded candidate after guarded
 *   ones for the same event reads `[else]`, one with neither target nor action `(ignored)`; lines
 *   that differ only in their event are written once, listing the events (`A, B [g] / act`);
 * - a transition without a target is written inside its state (`state : label`), like a UML
 *   internal transition, and so are entry and exit actions and invoked actors; a composite
 *   state's box cannot hold such lines, so they go in a note beside it;
 * - a transition declared on a compound state that targets the state's own children (and, on the
 *   root, one without a target) holds in every child that does not handle the event itself, so it
 *   is drawn from each such child: Mermaid cannot draw an edge from a composite state into its own
 *   children, and a compound root is not drawn as a box;
 * - a transition between states that are not siblings is drawn between their ancestors that are,
 *   with `(from …)` / `(to …)` naming the real ends; one that cannot be drawn at all (into its own
 *   children from a parallel state, or across parallel regions) is written as a line with `→ target`.
 *
 * Output is deterministic: states keep their order in the definition and the candidates for one
 * event keep theirs (the order XState tries them in); events are sorted by name, then `after`
 * delays, eventless transitions and wildcards last.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';
import { createAgentMachine } from '../actors/agent/agent.machine.ts';
import { createExecutorMachine } from '../actors/executor/executor.machine.ts';
import { createMasterMachine } from '../actors/master/master.machine.ts';
import { createSchedulerDriverMachine } from '../actors/scheduler-driver/scheduler-driver.machine.ts';
import { createCandidateMachine } from '../actors/lease/candidate.machine.ts';
import { createDetectorMachine } from '../actors/lease/detector.machine.ts';

/** Opens the generated block in a README. */
export const DIAGRAM_BEGIN = '<!-- diagram:begin -->';
/** Closes the generated block in a README. */
export const DIAGRAM_END = '<!-- diagram:end -->';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/** Dependencies for building machines that are only inspected, never run. */
const DUMMY_DEPS = { now: () => 0, newId: () => 'diagram' };

/**
 * The machines that have a README with a diagram: by folder name under `actors/` (its
 * `README.md`), or `folder/name` for a folder with several machines (`actors/folder/name.md`).
 */
const ACTORS: Record<string, () => AnyStateMachine> = {
  'lease/candidate': () => createCandidateMachine(DUMMY_DEPS),
  'lease/detector': () => createDetectorMachine(DUMMY_DEPS),
  master: () => createMasterMachine(DUMMY_DEPS),
  agent: () => createAgentMachine(DUMMY_DEPS),
  'scheduler-driver': () => createSchedulerDriverMachine(DUMMY_DEPS),
  executor: () => createExecutorMachine(DUMMY_DEPS),
};

/** Words Mermaid reads as keywords, or uses for ids of its own, that cannot name a state. */
const RESERVED = new Set(['as', 'class', 'classDef', 'click', 'default', 'direction', 'end', 'hide', 'left', 'note', 'of', 'right', 'root', 'state', 'style']);

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Sorts by the keys in order, comparing numbers as numbers and strings by code unit. */
function byKeys<T>(key: (x: T) => Array<number | string>): (a: T, b: T) => number {
  return (a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < ka.length; i++) {
      const x = ka[i]!;
      const y = kb[i]!;
      const c = typeof x === 'number' && typeof y === 'number' ? x - y : compare(String(x), String(y));
      if (c !== 0) return c;
    }
    return 0;
  };
}

/** Keeps text from ending a Mermaid statement early. */
function clean(text: string): string {
  return text.replace(/\s+/g, ' ').replace(/"/g, "'").replace(/;/g, ',').replace(/:/g, '∶').replace(/[{]/g, '(').replace(/[}]/g, ')');
}

/** The child states of `node`, in document order. */
function children(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states as Record<string, AnyStateNode>).sort((a, b) => a.order - b.order);
}

/** Whether `node` is drawn as a box holding other states. */
function isComposite(node: AnyStateNode): boolean {
  return node.type === 'compound' || node.type === 'parallel';
}

/** `node` and every state below it, in document order. */
function walk(node: AnyStateNode): AnyStateNode[] {
  return [node, ...children(node).flatMap(walk)];
}

/** Whether `node` lies (strictly) below `ancestor`. */
function isDescendant(node: AnyStateNode, ancestor: AnyStateNode): boolean {
  for (let p = node.parent; p; p = p.parent) if (p === ancestor) return true;
  return false;
}

/** The ancestor of `node` (or `node` itself) whose parent is `parent`. */
function childOn(node: AnyStateNode, parent: AnyStateNode): AnyStateNode {
  let n = node;
  while (n.parent && n.parent !== parent) n = n.parent;
  return n;
}

/** The closest state that holds both `a` and `b` below it. */
function leastCommonAncestor(a: AnyStateNode, b: AnyStateNode): AnyStateNode {
  for (let p = a.parent; p; p = p.parent) if (b === p || isDescendant(b, p)) return p;
  return a.machine.root;
}

/** Mermaid ids: the state's key when it is unique in the machine, else its path. */
function assignIds(root: AnyStateNode): Map<AnyStateNode, string> {
  const nodes = walk(root);
  const name = (n: AnyStateNode) => (n === root ? n.id : n.key);
  const counts = new Map<string, number>();
  for (const n of nodes) counts.set(name(n), (counts.get(name(n)) ?? 0) + 1);
  const ids = new Map<AnyStateNode, string>();
  const used = new Set<string>();
  for (const n of nodes) {
    let id = name(n);
    if (counts.get(id) !== 1 || RESERVED.has(id) || !/^[A-Za-z]\w*$/.test(id)) {
      id = (n === root ? [n.id, 'machine'] : n.path).join('_').replace(/\W/g, '_');
      if (!/^[A-Za-z]/.test(id) || RESERVED.has(id)) id = `s_${id}`;
    }
    let unique = id;
    for (let i = 2; used.has(unique); i++) unique = `${id}_${i}`;
    used.add(unique);
    ids.set(n, unique);
  }
  return ids;
}

/** How a guard reads: its name, or the names it combines. */
function guardText(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const parts = (guard as { guards?: unknown[] }).guards;
    const names = parts?.map((g) => guardText(g) ?? 'inline');
    if (names && guard.name === 'not') return `!${names.length === 1 && /^\w+$/.test(names[0]!) ? names[0] : `(${names.join(', ')})`}`;
    if (names && guard.name === 'and') return names.join(' && ');
    if (names && guard.name === 'or') return names.join(' || ');
    return guard.name || 'inline';
  }
  if (typeof guard === 'object' && 'type' in guard) return String((guard as { type: unknown }).type);
  return 'inline';
}

/** How an action reads: its name; XState's built-ins without their `xstate.` prefix. */
function actionText(action: unknown): string {
  if (typeof action === 'string') return action;
  if ((typeof action === 'object' || typeof action === 'function') && action !== null) {
    const type = (action as { type?: unknown }).type;
    if (typeof type === 'string') return type.replace(/^xstate\./, '');
    if (typeof action === 'function' && action.name) return action.name;
  }
  return 'inline';
}

/** An event as drawn, with its rank: named events, then delays, eventless, wildcards. */
function eventText(eventType: string, source: AnyStateNode): { text: string; rank: number } {
  const after = `xstate.after.`;
  if (eventType.startsWith(after) && eventType.endsWith(`.${source.id}`)) {
    const delay = eventType.slice(after.length, eventType.length - source.id.length - 1);
    return { text: `after ${/^\d+$/.test(delay) ? `${delay}ms` : delay}`, rank: 1 };
  }
  if (eventType === '') return { text: 'always', rank: 2 };
  if (eventType === '*') return { text: '*', rank: 4 };
  if (eventType.endsWith('.*')) return { text: eventType, rank: 3 };
  if (eventType === `xstate.done.state.${source.id}`) return { text: 'done', rank: 0 };
  const done = /^xstate\.(done|error)\.actor\.(.+)$/.exec(eventType);
  if (done) return { text: `${done[1]}(${done[2]})`, rank: 0 };
  return { text: eventType, rank: 0 };
}

/** Whether `node` has transitions of its own for `eventType`, wildcards included (a parent's then do not apply there). */
function handles(node: AnyStateNode, eventType: string): boolean {
  for (const descriptor of (node.transitions as Map<string, unknown>).keys()) {
    if (descriptor === eventType || descriptor === '*') return true;
    if (descriptor.endsWith('.*') && eventType.startsWith(descriptor.slice(0, -1))) return true;
  }
  return false;
}

/** One candidate transition: its event and the rest of its label (`[guard] / actions`). */
interface Candidate {
  eventType: string;
  rank: number;
  event: string;
  index: number;
  rest: string;
  targets: AnyStateNode[];
}

/** The transitions declared on `node` (not its children), sorted as drawn. */
function candidates(node: AnyStateNode): Candidate[] {
  const lists: Array<[string, AnyTransitionDefinition[]]> = [...(node.transitions as Map<string, AnyTransitionDefinition[]>)];
  if (node.always) lists.push(['', node.always]);
  const out: Candidate[] = [];
  for (const [eventType, list] of lists) {
    const { text, rank } = eventText(eventType, node);
    list.forEach((t, index) => {
      const guard = guardText(t.guard);
      const isElse = !guard && list.slice(0, index).some((c) => c.guard !== undefined);
      const actions = (t.actions ?? []).map(actionText);
      const targets = (t.target ?? []) as AnyStateNode[];
      let rest = '';
      if (guard) rest += ` [${guard}]`;
      else if (isElse) rest += ' [else]';
      if (actions.length > 0) rest += ` / ${actions.join(', ')}`;
      else if (targets.length === 0) rest += ' (ignored)';
      out.push({ eventType, rank, event: clean(text), index, rest: clean(rest), targets });
    });
  }
  return out.sort(byKeys((c) => [c.rank, c.event, c.index]));
}

/**
 * A line to draw: `head` (`a --> b : `, or nothing inside a state), then `event` and `rest`. Lines
 * that differ only in their event are drawn once with the events listed, as UML writes a
 * transition with several triggers.
 */
interface Placed {
  key: Array<number | string>;
  head: string;
  event: string;
  rest: string;
}

/** Sorts placed lines and merges those that differ only in their event. */
function render(list: Placed[] | undefined): string[] {
  const merged = new Map<string, { events: string[]; head: string; rest: string }>();
  for (const x of [...(list ?? [])].sort(byKeys((y) => y.key))) {
    const id = `${x.key[0]}\u0000${x.head}\u0000${x.rest}`;
    const line = merged.get(id);
    if (line) {
      if (!line.events.includes(x.event)) line.events.push(x.event);
    } else {
      merged.set(id, { events: [x.event], head: x.head, rest: x.rest });
    }
  }
  return [...merged.values()].map((l) => `${l.head}${l.events.join(', ')}${l.rest}`);
}

/** Where each transition is drawn: edges by the state whose body holds them, other lines by state. */
interface Plan {
  edges: Map<AnyStateNode, Placed[]>;
  inside: Map<AnyStateNode, Placed[]>;
  notes: Map<AnyStateNode, Placed[]>;
}

function plan(root: AnyStateNode, ids: Map<AnyStateNode, string>): Plan {
  const p: Plan = { edges: new Map(), inside: new Map(), notes: new Map() };
  const push = (m: Map<AnyStateNode, Placed[]>, n: AnyStateNode, x: Placed) => {
    const list = m.get(n) ?? [];
    list.push(x);
    m.set(n, list);
  };
  /** A compound root is the diagram itself; any other state is drawn as a box. */
  const drawn = (n: AnyStateNode) => n !== root || root.type !== 'compound';
  /**
   * A line written inside a state: in its box when atomic, in a note beside it when composite. A
   * compound root has no box: its lines go to each child that can receive the event.
   */
  const line = (n: AnyStateNode, key: Array<number | string>, event: string, rest: string, eventType?: string): void => {
    if (drawn(n)) {
      push(isComposite(n) ? p.notes : p.inside, n, { key, head: '', event, rest });
      return;
    }
    for (const child of children(n)) {
      if (child.type !== 'final' && (eventType === undefined || !handles(child, eventType))) line(child, [key[0]!, 1, ...key.slice(2)], event, rest);
    }
  };
  const edge = (scope: AnyStateNode, from: AnyStateNode, to: AnyStateNode, key: Array<number | string>, event: string, rest: string) =>
    push(p.edges, scope, { key: [from.order, ...key], head: `${ids.get(from)} --> ${ids.get(to)} : `, event, rest });
  const path = (n: AnyStateNode) => clean(n === root ? n.id : n.path.join('.'));

  for (const node of walk(root)) {
    if (node.type === 'history') continue;
    // XState adds a `raise` on entry and a `cancel` on exit for each `after` delay; the delays are drawn as transitions.
    const timers = node.after.length > 0 ? new Set(['xstate.raise', 'xstate.cancel']) : new Set<string>();
    const hooks = (rank: number, what: string, actions: unknown[]) => {
      const names = actions.filter((a) => !timers.has(String((a as { type?: unknown } | null)?.type))).map(actionText);
      if (names.length > 0) line(node, [rank], what, clean(` / ${names.join(', ')}`));
    };
    hooks(-3, 'entry', node.entry);
    hooks(-2, 'exit', node.exit);
    for (const inv of node.invoke) line(node, [-1, inv.id], 'invoke', clean(` ${typeof inv.src === 'string' ? inv.src : inv.id}`));

    for (const c of candidates(node)) {
      const key = [c.rank, 0, c.index, c.event];
      const intoItself = c.targets.some((t) => t === node || isDescendant(t, node));
      // A compound state's transitions into its own children, and the root's targetless ones, hold
      // in each child that does not handle the event itself: draw them from those children.
      if (node.type === 'compound' && !c.targets.includes(node) && intoItself) {
        for (const child of children(node)) {
          if (handles(child, c.eventType) || (node === root && child.type === 'final')) continue;
          for (const t of c.targets) edge(node, child, childOn(t, node), [c.rank, 1, c.index, c.event], c.event, c.rest);
        }
        continue;
      }
      if (c.targets.length === 0) {
        line(node, key, c.event, c.rest, c.eventType);
        continue;
      }
      for (const t of c.targets) {
        if (t === node && node.parent) {
          edge(node.parent, node, node, key, c.event, c.rest);
          continue;
        }
        const scope = leastCommonAncestor(node, t);
        if (intoItself || isDescendant(node, t) || scope.type !== 'compound') {
          // Mermaid cannot draw an edge between a state and its own children, or across parallel regions.
          line(node, key, c.event, `${c.rest} → ${path(t)}`, c.eventType);
          continue;
        }
        const from = childOn(node, scope);
        const to = childOn(t, scope);
        let rest = c.rest;
        if (from !== node) rest += ` (from ${path(node)})`;
        if (to !== t) rest += ` (to ${path(t)})`;
        edge(scope, from, to, key, c.event, rest);
      }
    }
  }
  return p;
}

/**
 * The machine as a Mermaid `stateDiagram-v2` (see the module comment for the notation).
 * @param machine A machine built by `createMachine` or `setup().createMachine`.
 */
export function mermaidFor(machine: AnyStateMachine): string {
  const root = machine.root as AnyStateNode;
  const ids = assignIds(root);
  const p = plan(root, ids);
  const out = ['stateDiagram-v2'];
  const id = (n: AnyStateNode) => ids.get(n)!;
  const title = (n: AnyStateNode) => {
    const base = n === root ? n.id : n.key;
    const tags = [...(n.tags as string[])].sort(compare);
    const suffix = n.type === 'history' ? ' (history)' : tags.length > 0 ? ` «${tags.join(', ')}»` : '';
    return clean(`${base}${suffix}`);
  };
  const declaration = (n: AnyStateNode) => (title(n) === id(n) ? `state ${id(n)}` : `state "${title(n)}" as ${id(n)}`);

  const emitState = (n: AnyStateNode, pad: string) => {
    if (isComposite(n)) {
      out.push(`${pad}${declaration(n)} {`);
      emitBody(n, `${pad}  `);
      out.push(`${pad}}`);
      return;
    }
    const lines = render(p.inside.get(n));
    // Mermaid takes a state's first description line as its title unless the title is given.
    out.push(`${pad}${title(n) === id(n) && lines.length === 0 ? id(n) : `state "${title(n)}" as ${id(n)}`}`);
    for (const text of lines) out.push(`${pad}${id(n)} : ${text}`);
  };
  const emitNote = (n: AnyStateNode, pad: string) => {
    const lines = render(p.notes.get(n));
    if (lines.length === 0) return;
    out.push(`${pad}note right of ${id(n)}`);
    for (const text of lines) out.push(`${pad}  ${text}`);
    out.push(`${pad}end note`);
  };
  const emitBody = (n: AnyStateNode, pad: string) => {
    const kids = children(n);
    const edges = p.edges.get(n) ?? [];
    if (n.type === 'parallel') {
      kids.forEach((k, i) => {
        if (i > 0) out.push(`${pad}--`);
        emitState(k, pad);
        for (const text of render(edges.filter((e) => e.key[0] === k.order))) out.push(`${pad}${text}`);
        emitNote(k, pad);
      });
      return;
    }
    const initial = n.initial?.target?.[0] as AnyStateNode | undefined;
    if (initial) out.push(`${pad}[*] --> ${id(childOn(initial, n))}`);
    for (const k of kids) emitState(k, pad);
    for (const text of render(edges)) out.push(`${pad}${text}`);
    for (const k of kids) if (k.type === 'final') out.push(`${pad}${id(k)} --> [*]`);
    for (const k of kids) emitNote(k, pad);
  };

  if (root.type === 'compound') {
    emitBody(root, '  ');
  } else {
    out.push(`  [*] --> ${id(root)}`);
    emitState(root, '  ');
    if (root.type === 'final') out.push(`  ${id(root)} --> [*]`);
    emitNote(root, '  ');
  }
  return `${out.join('\n')}\n`;
}

/** The README path (relative to the repository, `/`-separated) of an actor folder or machine. */
function readmePath(name: string): string {
  return name.includes('/') ? `actors/${name}.md` : `actors/${name}/README.md`;
}

/** Every actor README's diagram, by README path relative to the repository root. */
export function renderAll(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(ACTORS).sort(compare)) out[readmePath(name)] = mermaidFor(ACTORS[name]!());
  return out;
}

/** The generated block for a diagram: the markers around a fenced `mermaid` block. */
export function diagramBlock(diagram: string): string {
  return `${DIAGRAM_BEGIN}\n\`\`\`mermaid\n${diagram}\`\`\`\n${DIAGRAM_END}`;
}

/** The diagram inside a README's generated block, or `undefined` when it has none. */
export function extractDiagram(readme: string): string | undefined {
  const begin = readme.indexOf(DIAGRAM_BEGIN);
  const end = readme.indexOf(DIAGRAM_END, begin);
  if (begin < 0 || end < 0) return undefined;
  const block = readme.slice(begin + DIAGRAM_BEGIN.length, end);
  const m = /^\s*```mermaid\n([\s\S]*?)```\s*$/.exec(block);
  return m ? m[1] : undefined;
}

/** A new README for an actor that has none yet. */
function template(name: string, diagram: string): string {
  return [
    `# ${name}`,
    '',
    'What this actor does, and the Mesos component it mirrors.',
    '',
    '## Diagram',
    '',
    diagramBlock(diagram),
    '',
    '## Vocabulary',
    '',
    'States, the messages and local events it handles, what it emits, and its pure modules.',
    '',
  ].join('\n');
}

/** `readme` with its generated block replaced by `diagram` (appended when it has no block). */
export function withDiagram(readme: string, diagram: string): string {
  const begin = readme.indexOf(DIAGRAM_BEGIN);
  const end = readme.indexOf(DIAGRAM_END, begin);
  if (begin < 0 || end < 0) return `${readme.trimEnd()}\n\n## Diagram\n\n${diagramBlock(diagram)}\n`;
  return readme.slice(0, begin) + diagramBlock(diagram) + readme.slice(end + DIAGRAM_END.length);
}

/** Rewrites (or with `--check`, only checks) every actor README; returns the exit code. */
function main(args: string[]): number {
  const check = args.includes('--check');
  const stale: string[] = [];
  for (const [path, diagram] of Object.entries(renderAll())) {
    const file = join(ROOT, path);
    const current = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
    const name = path.split('/').slice(1).join('/').replace(/\/README\.md$|\.md$/, '');
    const next = current === undefined ? template(name, diagram) : withDiagram(current, diagram);
    if (next === current) continue;
    stale.push(path);
    if (!check) writeFileSync(file, next);
  }
  if (check) {
    for (const path of stale) console.error(`${path} is out of date: run \`npm run docs:diagrams\``);
    return stale.length > 0 ? 1 : 0;
  }
  console.log(stale.length > 0 ? `Updated ${stale.join(', ')}` : 'Diagrams are up to date');
  return 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
