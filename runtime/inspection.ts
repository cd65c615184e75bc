/**
 * The in-process inspection hub: what every machine a process runs looks like (its definition),
 * where it is (its state value) and what it was sent lately (a bounded ring of events), for the
 * local statechart view (`/inspect/machines`, `/inspect/stream`, `webui/statechart.ts`).
 *
 * The hub follows a machine in one of two ways:
 *
 * - {@link InspectionHub.record} (what the runtime's hosts use, always on): the actor's events are
 *   taken where XState hands them to it and its states from a subscription ({@link watchActor}),
 *   so XState builds none of its inspection records. Those records (`@xstate.microstep`,
 *   `@xstate.action`, … for every event, once any `inspect` observer is given) are what made
 *   inspection cost a busy master a tenth of its throughput or more;
 * - {@link InspectionHub.inspect}, an XState inspection observer: pass it to `createActor` and it
 *   learns every machine actor of that actor's system as it is created. It gives the same
 *   records, at XState's price: for when inspection is paid for anyway.
 *
 * Either way it keeps only the event's type, its sender, the time, the state it led to (the
 * snapshot's own value, by reference: XState's snapshots are immutable) and a few scalar fields
 * of the event (never a payload), and at most {@link InspectionHubOptions.eventsPerMachine} of
 * them per machine, so it can stay on in every master and agent.
 *
 * @see the XState inspector (`@statelyai/inspect`), whose statechart view this serves offline.
 */
import type { AnyActorRef, AnyStateMachine, AnyStateNode, AnyTransitionDefinition, InspectionEvent, Observer } from 'xstate';
import type { Inspect } from './inspect.ts';

/** One transition of a state, as the view lists it. */
export interface TransitionJson {
  /** The event type; `after <delay>` for a delayed one, `always` for an eventless one, `*` the wildcard. */
  event: string;
  /** Target state paths (dotted, from the root); none for a transition that stays. */
  targets: string[];
  guard?: string;
  actions?: string[];
  /** Re-enters its own state. */
  reenter?: boolean;
}

/** One state and the states inside it. */
export interface StateJson {
  /** Its key in its parent (the machine's id for the root). */
  key: string;
  /** Its path from the root, dotted (`''` for the root, `leading.phase.serving`). */
  path: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** The initial child's key, for a compound state. */
  initial?: string;
  tags?: string[];
  entry?: string[];
  exit?: string[];
  /** Transitions declared on this state (not its children), in the order XState tries them per event. */
  on: TransitionJson[];
  /** Child states, in document order. */
  states: StateJson[];
}

/** A recorded event. */
export interface EventRecord {
  /** Rising across the hub (orders events of different machines). */
  seq: number;
  type: string;
  /** When it was delivered, epoch ms. */
  at: number;
  /** The sending actor's id, when an actor sent it. */
  source?: string;
  /** The state value it led to (absent until the machine has taken it, or when it was stopped). */
  after?: unknown;
  /** A few scalar fields of the event (`from`, `epoch`, …); never the payload. */
  fields?: Record<string, string | number | boolean>;
}

/** A machine as `/inspect/machines` lists it. */
export interface MachineJson {
  /** The hub's key for it (unique in the process). */
  key: string;
  /** The actor's id (a PID for hosted actors). */
  id: string;
  /** The machine's own id (`master`, `agent`, …). */
  machine: string;
  status: string;
  value: unknown;
  /** Paths of every active state (dotted; the root is `''`), for highlighting. */
  active: string[];
  definition: StateJson;
  events: EventRecord[];
}

/** What the hub tells its listeners. */
export type HubChange =
  | { kind: 'machine'; machine: MachineJson }
  | { kind: 'snapshot'; key: string; status: string; value: unknown; active: string[] }
  | { kind: 'event'; key: string; event: EventRecord };

/** Options of {@link InspectionHub}. */
export interface InspectionHubOptions {
  /** Events kept per machine. Default 50. */
  eventsPerMachine?: number;
  /** Machines kept; the oldest stopped ones are forgotten first. Default 32. */
  maxMachines?: number;
  /** The time events are stamped with, epoch ms. Default the wall clock. */
  now?: () => number;
}

/** The scalar fields of an event kept, at most. */
const MAX_FIELDS = 4;
/** A kept string field is cut to this many characters. */
const MAX_FIELD_CHARS = 120;

/** How a guard reads: its name, or the names it combines. */
function guardText(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const parts = (guard as { guards?: unknown[] }).guards;
    const names = parts?.map((g) => guardText(g) ?? 'inline');
    if (names && guard.name === 'not') return `!${names.length === 1 ? names[0] : `(${names.join(', ')})`}`;
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

/** An event type as the view shows it: `after <delay>` for XState's delayed events of `node`. */
function eventText(eventType: string, node: AnyStateNode): string {
  const after = 'xstate.after.';
  if (eventType.startsWith(after) && eventType.endsWith(`.${node.id}`)) {
    const delay = eventType.slice(after.length, eventType.length - node.id.length - 1);
    return `after ${/^\d+$/.test(delay) ? `${delay}ms` : delay}`;
  }
  if (eventType === '') return 'always';
  if (eventType === `xstate.done.state.${node.id}`) return 'done';
  return eventType;
}

/** The dotted path of a state node from its machine's root. */
const pathOf = (node: AnyStateNode): string => (node.path as string[]).join('.');

/** A state node and everything below it as JSON. */
function stateJson(node: AnyStateNode, key: string): StateJson {
  const on: TransitionJson[] = [];
  const lists: Array<[string, AnyTransitionDefinition[]]> = [...(node.transitions as Map<string, AnyTransitionDefinition[]>)];
  if (node.always) lists.push(['', node.always as AnyTransitionDefinition[]]);
  for (const [eventType, list] of lists) {
    for (const t of list) {
      const tr: TransitionJson = { event: eventText(eventType, node), targets: ((t.target ?? []) as AnyStateNode[]).map(pathOf) };
      const guard = guardText(t.guard);
      if (guard) tr.guard = guard;
      const actions = (t.actions ?? []).map(actionText);
      if (actions.length > 0) tr.actions = actions;
      if (t.reenter) tr.reenter = true;
      on.push(tr);
    }
  }
  const children = Object.entries(node.states as Record<string, AnyStateNode>).sort(([, a], [, b]) => a.order - b.order);
  const json: StateJson = { key, path: pathOf(node), type: node.type as StateJson['type'], on, states: children.map(([k, c]) => stateJson(c, k)) };
  const initial = (node.initial as { target?: readonly AnyStateNode[] } | undefined)?.target?.[0];
  if (node.type === 'compound' && initial) json.initial = initial.key;
  if (node.tags.length > 0) json.tags = [...node.tags];
  const entry = (node.entry as unknown[]).map(actionText);
  if (entry.length > 0) json.entry = entry;
  const exit = (node.exit as unknown[]).map(actionText);
  if (exit.length > 0) json.exit = exit;
  return json;
}

/**
 * The state tree of `machine`: ids, children, initial states, tags, entry and exit actions, and
 * each state's transitions (event, guard, actions, targets), from `machine.root`.
 */
export function machineDefinition(machine: AnyStateMachine): StateJson {
  return stateJson(machine.root, machine.id);
}

/**
 * The dotted paths of every active state in a state `value` (`'a'`, `{ a: 'b' }`, `{ p: { r1: 'x', r2: 'y' } }`),
 * the root (`''`) first.
 */
export function activePaths(value: unknown): string[] {
  const out = [''];
  const walk = (v: unknown, prefix: string): void => {
    if (typeof v === 'string') {
      out.push(prefix ? `${prefix}.${v}` : v);
      return;
    }
    if (typeof v !== 'object' || v === null) return;
    for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
      const p = prefix ? `${prefix}.${k}` : k;
      out.push(p);
      walk(child, p);
    }
  };
  walk(value, '');
  return out;
}

/** Whether two state values name the same states (values are strings, or objects of values). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  let n = 0;
  for (const k in a) {
    if (!sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
    n++;
  }
  for (const k in b) if (--n < 0 || !(k in a)) return false;
  return n === 0;
}

/** The few scalar fields of an event that are kept; `undefined` when there are none. */
function scalarFields(event: Record<string, unknown>): Record<string, string | number | boolean> | undefined {
  let out: Record<string, string | number | boolean> | undefined;
  let n = 0;
  for (const k in event) {
    if (k === 'type') continue;
    const v = event[k];
    if (typeof v === 'number' || typeof v === 'boolean') (out ??= {})[k] = v;
    else if (typeof v === 'string') (out ??= {})[k] = v.length > MAX_FIELD_CHARS ? `${v.slice(0, MAX_FIELD_CHARS)}…` : v;
    else continue;
    if (++n >= MAX_FIELDS) break;
  }
  return out;
}

/**
 * A machine the hub follows that runs elsewhere (another thread): its host reports what the
 * machine's inspection records said.
 */
export interface RemoteMachine {
  /** The machine was sent an event; `token` names it in the {@link RemoteMachine.snapshot} it leads to. */
  event(token: unknown, event: { type: string } & Record<string, unknown>, source?: string): void;
  /** The machine is in `value` now, after the event named `token`. */
  snapshot(token: unknown, status: string, value: unknown): void;
}

/** Options of {@link watchActor} (and {@link ActorRecorder.record}). */
export interface WatchOptions {
  /**
   * Let an error of the actor still reach the process as an unhandled one. XState throws an
   * actor's error out of the actor only when no observer of it handles errors; the watcher's own
   * subscription handles them, so an actor that nothing else observes for errors (its failure
   * should end the process) needs this to keep failing loudly.
   */
  reportErrors?: boolean;
}

/** Something that follows actors without XState's inspection: the hub, or a reporter to another thread. */
export interface ActorRecorder {
  /** Follows `actor` (a state machine actor) from now on; call it before `actor.start()`. */
  record(actor: AnyActorRef, opts?: WatchOptions): void;
}

/** The part of XState's actor system the watcher hooks: where every event to one of its actors passes. */
interface RelayingSystem {
  _relay?: (source: AnyActorRef | undefined, target: AnyActorRef, event: { type: string }) => void;
}

/** Per actor system, the watchers of its actors (the system's relay is wrapped once). */
const relayWatchers = new WeakMap<object, Map<AnyActorRef, (event: { type: string } & Record<string, unknown>, source: AnyActorRef | undefined) => void>>();

/**
 * Reports `actor`'s events and the states they lead to into `to` (a {@link RemoteMachine}: each
 * event numbered by a token, each state naming the token of the event it followed), without
 * XState's inspection. Call it before `actor.start()`: the start is reported as `xstate.init`.
 *
 * - Events: XState hands every event for an actor — sent by `actor.send`, by another actor, or a
 *   delayed one firing — through its system's relay (the same place its `@xstate.event` record
 *   is made); the relay is wrapped once per system and tells each watcher of its own actor's.
 * - States: a subscription. The actor handles its events one at a time in the order they were
 *   relayed, and tells its observers once per event, so each snapshot settles the oldest event
 *   not settled yet. Stopping, finishing and failing are reported with the actor's last state.
 *
 * Returns a function that stops watching. Where the relay cannot be found (another XState), it
 * falls back to XState's inspection records, at their price.
 */
export function watchActor(actor: AnyActorRef, to: RemoteMachine, opts: WatchOptions = {}): () => void {
  let token = 0;
  /** Tokens of the events reported and not settled yet, oldest first. */
  const unsettled: number[] = [];
  const system = actor.system as unknown as RelayingSystem;
  if (typeof system._relay !== 'function') {
    const sub = actor.system.inspect((e: InspectionEvent) => {
      if (e.actorRef !== actor) return;
      if (e.type === '@xstate.event') {
        unsettled.push(++token);
        const source = e.sourceRef !== actor ? (e.sourceRef as { id?: unknown } | undefined)?.id : undefined;
        to.event(token, e.event, typeof source === 'string' ? source : undefined);
      } else if (e.type === '@xstate.snapshot') {
        const s = e.snapshot as { status: string; value?: unknown };
        to.snapshot(unsettled.shift(), s.status, s.value);
      }
    });
    return () => sub.unsubscribe();
  }
  let watchers = relayWatchers.get(system);
  if (!watchers) {
    const byTarget = new Map<AnyActorRef, (event: { type: string } & Record<string, unknown>, source: AnyActorRef | undefined) => void>();
    watchers = byTarget;
    relayWatchers.set(system, byTarget);
    const relay = system._relay;
    system._relay = function relayWatched(this: unknown, source, target, event) {
      const watcher = byTarget.get(target);
      if (watcher !== undefined) watcher(event as { type: string } & Record<string, unknown>, source);
      relay.call(this, source, target, event);
    };
  }
  const onEvent = (event: { type: string } & Record<string, unknown>, source: AnyActorRef | undefined): void => {
    unsettled.push(++token);
    to.event(token, event, source !== undefined && source !== actor ? source.id : undefined);
  };
  watchers.set(actor, onEvent);
  // XState reports the start as the event `xstate.init` carrying the input, sent by the parent.
  const parent = (actor as { _parent?: AnyActorRef })._parent;
  onEvent({ type: 'xstate.init', input: (actor as { options?: { input?: unknown } }).options?.input }, parent);
  const last = (): { status: string; value?: unknown } => actor.getSnapshot() as { status: string; value?: unknown };
  const sub = actor.subscribe({
    next: (s: { status: string; value?: unknown }) => to.snapshot(unsettled.shift(), s.status, s.value),
    error: (err: unknown) => {
      to.snapshot(undefined, 'error', last().value);
      if (opts.reportErrors) throw err;
    },
    complete: () => {
      const s = last();
      to.snapshot(undefined, s.status, s.value);
    },
  });
  return () => {
    sub.unsubscribe();
    if (watchers.get(actor) === onEvent) watchers.delete(actor);
  };
}

/** One machine the hub follows. */
interface Tracked {
  key: string;
  id: string;
  /** The actor, when it runs in this thread. */
  ref?: AnyActorRef;
  machine: AnyStateMachine;
  definition?: StateJson;
  status: string;
  value: unknown;
  active: string[];
  /** Ring of recent events, oldest first once full (`next` is where the next one goes). */
  ring: EventRecord[];
  next: number;
  /** Events delivered whose resulting snapshot has not come yet, oldest first. */
  pending: Array<{ event: unknown; record: EventRecord }>;
}

/** Whether an actor's logic is a state machine (has a state tree). */
const isMachine = (logic: unknown): logic is AnyStateMachine =>
  typeof logic === 'object' && logic !== null && 'root' in logic && typeof (logic as { getInitialSnapshot?: unknown }).getInitialSnapshot === 'function';

/** The machines of one process, their current states and recent events. See the module comment. */
export class InspectionHub implements ActorRecorder {
  readonly #perMachine: number;
  readonly #maxMachines: number;
  readonly #now: () => number;
  /** By actor, or by the entry itself for a machine running elsewhere. */
  readonly #byRef = new Map<object, Tracked>();
  readonly #listeners = new Set<(c: HubChange) => void>();
  #seq = 0;
  #keys = 0;

  constructor(opts: InspectionHubOptions = {}) {
    this.#perMachine = Math.max(1, opts.eventsPerMachine ?? 50);
    this.#maxMachines = Math.max(1, opts.maxMachines ?? 32);
    this.#now = opts.now ?? (() => Date.now());
  }

  /** The inspection observer to give `createActor` (bound: pass it as it is). */
  readonly inspect = (e: InspectionEvent): void => {
    switch (e.type) {
      case '@xstate.actor':
        this.#track(e.actorRef as AnyActorRef);
        break;
      case '@xstate.event':
        this.#event(e.actorRef as AnyActorRef, e.event, e.sourceRef);
        break;
      case '@xstate.snapshot':
        this.#snapshot(e.actorRef as AnyActorRef, e.event, e.snapshot as { status: string; value?: unknown });
        break;
      default:
        break;
    }
  };

  /** Every machine followed, with its recent events (oldest first). */
  machines(): MachineJson[] {
    return [...this.#byRef.values()].map((t) => this.#json(t));
  }

  /** Calls `listener` with every change until the returned function is called. */
  subscribe(listener: (c: HubChange) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  #emit(c: HubChange): void {
    for (const l of this.#listeners) {
      try {
        l(c);
      } catch {
        // A listener's failure is its own; the machines carry on.
      }
    }
  }

  #json(t: Tracked): MachineJson {
    t.definition ??= machineDefinition(t.machine);
    // The actor's own snapshot is the truth (stopping one sends no inspection record).
    const s = t.ref?.getSnapshot() as { status?: string; value?: unknown } | undefined;
    if (s && s.status !== undefined) {
      if (s.value !== t.value) t.active = activePaths(s.value);
      t.status = s.status;
      t.value = s.value;
    }
    const events = t.ring.length < this.#perMachine ? [...t.ring] : [...t.ring.slice(t.next), ...t.ring.slice(0, t.next)];
    return { key: t.key, id: t.id, machine: t.machine.id, status: t.status, value: t.value, active: t.active, definition: t.definition, events };
  }

  #track(ref: AnyActorRef): Tracked | undefined {
    const existing = this.#byRef.get(ref);
    if (existing) return existing;
    const logic = (ref as { logic?: unknown }).logic;
    if (!isMachine(logic)) return undefined;
    return this.#add({ key: `m${++this.#keys}`, id: ref.id, ref, machine: logic, status: 'active', value: undefined, active: [], ring: [], next: 0, pending: [] });
  }

  #add(t: Tracked): Tracked {
    if (this.#byRef.size >= this.#maxMachines) this.#forgetOne();
    this.#byRef.set(t.ref ?? t, t);
    if (this.#listeners.size > 0) this.#emit({ kind: 'machine', machine: this.#json(t) });
    return t;
  }

  /** Follows `machine`, running elsewhere as actor `id`: its host reports through the handle returned. */
  follow(id: string, machine: AnyStateMachine): RemoteMachine {
    const t = this.#add({ key: `m${++this.#keys}`, id, machine, status: 'active', value: undefined, active: [], ring: [], next: 0, pending: [] });
    return {
      event: (token, event, source) => this.#record(t, token, event, source),
      snapshot: (token, status, value) => this.#settle(t, token, { status, value }),
    };
  }

  /**
   * Follows `actor` (a state machine actor, before its start) without XState's inspection: see
   * {@link watchActor}. An actor that is not a state machine is ignored.
   */
  record(actor: AnyActorRef, opts?: WatchOptions): void {
    if (this.#byRef.has(actor)) return;
    const logic = (actor as { logic?: unknown }).logic;
    if (!isMachine(logic)) return;
    const t = this.#add({ key: `m${++this.#keys}`, id: actor.id, ref: actor, machine: logic, status: 'active', value: undefined, active: [], ring: [], next: 0, pending: [] });
    watchActor(actor, { event: (token, event, source) => this.#record(t, token, event, source), snapshot: (token, status, value) => this.#settle(t, token, { status, value }) }, opts);
  }

  /** Forgets the oldest stopped machine, or the oldest one when all run. */
  #forgetOne(): void {
    let victim: object | undefined;
    for (const [ref, t] of this.#byRef) {
      if (((t.ref?.getSnapshot() as { status?: string } | undefined)?.status ?? t.status) !== 'active') {
        victim = ref;
        break;
      }
    }
    victim ??= this.#byRef.keys().next().value;
    if (victim) this.#byRef.delete(victim);
  }

  #event(ref: AnyActorRef, event: { type: string } & Record<string, unknown>, source: unknown): void {
    const t = this.#byRef.get(ref) ?? this.#track(ref);
    if (!t) return;
    const sourceId = source !== ref ? (source as { id?: unknown } | undefined)?.id : undefined;
    this.#record(t, event, event, typeof sourceId === 'string' ? sourceId : undefined);
  }

  #record(t: Tracked, token: unknown, event: { type: string } & Record<string, unknown>, source: string | undefined): void {
    const record: EventRecord = { seq: ++this.#seq, type: event.type, at: this.#now() };
    if (source !== undefined) record.source = source;
    const fields = scalarFields(event);
    if (fields) record.fields = fields;
    if (t.ring.length < this.#perMachine) t.ring.push(record);
    else {
      t.ring[t.next] = record;
      t.next = (t.next + 1) % this.#perMachine;
    }
    // A stopped actor takes no more snapshots: such events are reported at once.
    if (t.status !== 'active' || t.pending.length >= this.#perMachine) {
      if (this.#listeners.size > 0) this.#emit({ kind: 'event', key: t.key, event: record });
      return;
    }
    t.pending.push({ event: token, record });
  }

  #snapshot(ref: AnyActorRef, event: unknown, snapshot: { status: string; value?: unknown }): void {
    const t = this.#byRef.get(ref) ?? this.#track(ref);
    if (t) this.#settle(t, event, snapshot);
  }

  #settle(t: Tracked, event: unknown, snapshot: { status: string; value?: unknown }): void {
    const changed = !sameValue(snapshot.value, t.value);
    const statusChanged = snapshot.status !== t.status;
    t.value = snapshot.value;
    t.status = snapshot.status;
    if (changed) t.active = activePaths(snapshot.value);
    // Events delivered before this one without a snapshot of their own (dropped while stopping)
    // are reported as they are; this one with the state it led to.
    if (this.#listeners.size === 0) {
      // Nobody listens: only the record needs its state (the usual case, kept cheap).
      if (t.pending.length > 0 && t.pending[0]!.event === event) t.pending.shift()!.record.after = snapshot.value;
      else this.#settled(t, event, snapshot.value);
      return;
    }
    const done = this.#settled(t, event, snapshot.value);
    if (changed || statusChanged) this.#emit({ kind: 'snapshot', key: t.key, status: t.status, value: t.value, active: t.active });
    for (const d of done) this.#emit({ kind: 'event', key: t.key, event: d.record });
  }

  /** Takes the pending events up to the one named `event` off `t`, the last with the state `value`. */
  #settled(t: Tracked, event: unknown, value: unknown): Array<{ event: unknown; record: EventRecord }> {
    const i = t.pending.findIndex((p) => p.event === event);
    const done = i >= 0 ? t.pending.splice(0, i + 1) : [];
    if (done.length > 0) done[done.length - 1]!.record.after = value;
    return done;
  }
}

/** One observer that hands every inspection record to each of `inspects` (the ones given). */
export function inspectAll(...inspects: Inspect[]): Inspect {
  const fns = inspects.filter((i): i is NonNullable<Inspect> => i !== undefined).map((i) =>
    typeof i === 'function' ? i : (e: InspectionEvent) => (i as Observer<InspectionEvent>).next?.(e));
  if (fns.length === 0) return undefined;
  if (fns.length === 1) return fns[0];
  return (e: InspectionEvent) => {
    for (const f of fns) f(e);
  };
}
