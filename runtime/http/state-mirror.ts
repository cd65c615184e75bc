/**
 * A copy of the master's tables, kept current by deltas, for writing the state documents away
 * from the master's event loop.
 *
 * `/master/state` of 10,000 agents and 100,000 tasks is 30 MB of JSON. Walking the master's own
 * tables for it, even a slice at a time, fills the master's heap with garbage each time it is
 * asked, and the collector then stops the master's thread. So the master thread only notes what
 * changed ({@link StateFeed}: the tasks its operator events name, and a cheap comparison of
 * agents, frameworks and offers against what it last sent) and sends those entries, copied, to a
 * worker thread; the worker keeps them in a {@link StateMirror} and writes the documents from it
 * with the same writers (`master-state.ts`). The master thread's work per document is then
 * proportional to what changed since the last one, not to the size of the cluster.
 *
 * The feed gives the loop back between slices ({@link Slicer}), and sends large deltas (the
 * first one: everything) in batches of {@link BATCH} entries.
 */
import type { AgentEntry, FrameworkEntry, MasterState, OfferEntry, OperatorEvent, TaskEntry, UnreachableTask } from '../../actors/master/state.ts';
import type { AgentInfo, Task } from '../../protocols/records.ts';
import type { StateSource } from './master-state.ts';
import { taskJson } from './mesos-json.ts';
import { BACKGROUND, type SharedSlicer, type Slicer } from '../slicer.ts';

/** An agent as sent: everything the documents read (its tasks are found from the frameworks'). */
export type AgentRecord = Omit<AgentEntry, 'tasks' | 'lastAnswer'>;
/** A framework as sent, without its task tables (they travel as tasks). */
export type FrameworkRecord = Omit<FrameworkEntry, 'tasks' | 'unreachableTasks' | 'completedTasks'>;

/** What changed in the master's tables since the last delta. */
export interface StateDelta {
  /** Forget everything first (a new master state: the first delta, or a new leadership). */
  reset?: true;
  head?: { runId: string; self: string; hostname: string; unreachableAgents: number };
  agents?: AgentRecord[];
  agentsGone?: string[];
  /** `fresh`: the framework's task tables follow whole (drop what was kept for it). */
  frameworks?: Array<{ record: FrameworkRecord; fresh: boolean }>;
  frameworksGone?: string[];
  tasks?: Array<{ framework: string; entry: TaskEntry }>;
  unreachable?: Array<{ framework: string; entry: UnreachableTask }>;
  /** Tasks in neither table any more (ended into `completed`, or gone with their agent). */
  tasksGone?: Array<{ framework: string; id: string }>;
  completed?: Array<{ framework: string; tasks: Task[] }>;
  offers?: OfferEntry[];
  offersGone?: string[];
  recovered?: Array<[string, { info: AgentInfo }]>;
  completedFrameworks?: Array<{ record: FrameworkRecord; completedTasks: Task[] }>;
}

/** Entries per posted delta: a larger one is split, so no one copy holds the loop long. */
const BATCH = 2000;
/** Tasks noted between two flushes beyond which the next flush sends everything. */
const MAX_DIRTY = 200_000;

/** What was last sent of an agent: the entry and its fields that change in place. */
interface AgentMark {
  entry: AgentEntry;
  pid: string;
  registeredAt: number;
  removing: AgentEntry['removing'];
  info: AgentInfo;
  total: AgentEntry['total'];
  executors: number;
}

/** What was last sent of a framework. */
interface FrameworkMark {
  entry: FrameworkEntry;
  key: string;
  completed: number;
  completedFirst: Task | undefined;
  completedLast: Task | undefined;
}

const agentRecord = ({ tasks: _tasks, lastAnswer: _answer, ...rest }: AgentEntry): AgentRecord => rest;
const frameworkRecord = ({ tasks: _t, unreachableTasks: _u, completedTasks: _c, ...rest }: FrameworkEntry): FrameworkRecord => rest;
/** The framework fields that change in place and show in the documents. */
const frameworkKey = (fw: FrameworkEntry) => `${fw.pid ?? ''}|${fw.active}|${fw.connected}|${fw.recovered}|${fw.suppressed}|${fw.role}|${fw.registeredAt}`;

const agentChanged = (m: AgentMark, a: AgentEntry) =>
  m.entry !== a || m.pid !== a.pid || m.registeredAt !== a.registeredAt || m.removing !== a.removing || m.info !== a.info || m.total !== a.total || m.executors !== a.executors.size;

const taskKey = (framework: string, id: string) => `${framework}\u0000${id}`;

/** The master thread's side: notes changes, and turns them into deltas on demand. */
export class StateFeed {
  #state: MasterState | undefined;
  /** Tasks named by operator events since the last delta, `framework\0task` → framework. */
  #dirty = new Map<string, { framework: string; id: string; agent: string }>();
  #agents = new Map<string, AgentMark>();
  #frameworks = new Map<string, FrameworkMark>();
  #offers = new Map<string, OfferEntry>();
  #recovered = new Set<string>();
  #completedFrameworks: { length: number; last: FrameworkEntry | undefined } = { length: 0, last: undefined };

  /**
   * Takes note of an operator event (the master's announcement of a change). Nothing is noted
   * before the first flush (it sends everything), and past {@link MAX_DIRTY} tasks noted the
   * next flush sends everything again instead: a master nobody asks keeps no growing list.
   */
  note(e: OperatorEvent): void {
    if (this.#state === undefined) return;
    if (e.kind === 'TASK_ADDED' || e.kind === 'TASK_UPDATED') {
      this.#dirty.set(taskKey(e.task.frameworkId, e.task.taskId), { framework: e.task.frameworkId, id: e.task.taskId, agent: e.task.agentId });
      if (this.#dirty.size > MAX_DIRTY) this.reset();
    }
  }

  /** Everything is sent again by the next {@link flush} (its receiver starts from nothing). */
  reset(): void {
    this.#state = undefined;
    this.#dirty.clear();
  }

  /**
   * Sends, through `post`, what changed in `src` since the last flush: one or more deltas, the
   * event loop given back between slices.
   */
  async flush(src: StateSource & { state: MasterState }, post: (d: StateDelta) => void, slicer: Slicer | SharedSlicer = BACKGROUND): Promise<void> {
    const s = src.state;
    let d: StateDelta = {};
    let size = 0;
    const add = <K extends keyof StateDelta>(k: K, item: NonNullable<StateDelta[K]> extends Array<infer I> ? I : never) => {
      ((d[k] ??= [] as never) as unknown[]).push(item);
      if (++size >= BATCH) {
        post(d);
        d = {};
        size = 0;
      }
    };
    if (s !== this.#state) {
      this.#state = s;
      this.#agents.clear();
      this.#frameworks.clear();
      this.#offers.clear();
      this.#recovered.clear();
      this.#completedFrameworks = { length: -1, last: undefined };
      this.#dirty.clear();
      d.reset = true;
    }
    const dirty = this.#dirty;
    this.#dirty = new Map();
    d.head = { runId: src.runId, self: src.self, hostname: src.hostname, unreachableAgents: s.registry.unreachable.size };
    const changedAgents = new Set<string>();
    for (const t of dirty.values()) changedAgents.add(t.agent);

    for (const a of s.agents.values()) {
      const m = this.#agents.get(a.id);
      if (!m || agentChanged(m, a) || changedAgents.has(a.id)) {
        this.#agents.set(a.id, { entry: a, pid: a.pid, registeredAt: a.registeredAt, removing: a.removing, info: a.info, total: a.total, executors: a.executors.size });
        add('agents', agentRecord(a));
      }
      await slicer.tick();
    }
    for (const id of this.#agents.keys()) {
      if (!s.agents.has(id)) {
        this.#agents.delete(id);
        add('agentsGone', id);
      }
    }

    const fresh = new Set<string>();
    for (const fw of s.frameworks.values()) {
      const m = this.#frameworks.get(fw.id);
      const key = frameworkKey(fw);
      const completedChanged = !m || m.completed !== fw.completedTasks.length || m.completedFirst !== fw.completedTasks[0] || m.completedLast !== fw.completedTasks.at(-1);
      if (!m || m.entry !== fw) {
        fresh.add(fw.id);
        add('frameworks', { record: frameworkRecord(fw), fresh: true });
        for (const t of fw.tasks.values()) {
          add('tasks', { framework: fw.id, entry: t });
          await slicer.tick();
        }
        for (const u of fw.unreachableTasks.values()) add('unreachable', { framework: fw.id, entry: u });
      } else if (m.key !== key || m.entry.info !== fw.info) {
        add('frameworks', { record: frameworkRecord(fw), fresh: false });
      }
      if (completedChanged) add('completed', { framework: fw.id, tasks: fw.completedTasks });
      this.#frameworks.set(fw.id, { entry: fw, key, completed: fw.completedTasks.length, completedFirst: fw.completedTasks[0], completedLast: fw.completedTasks.at(-1) });
      await slicer.tick();
    }
    for (const id of this.#frameworks.keys()) {
      if (!s.frameworks.has(id)) {
        this.#frameworks.delete(id);
        add('frameworksGone', id);
      }
    }

    for (const t of dirty.values()) {
      const fw = s.frameworks.get(t.framework);
      if (!fw || fresh.has(fw.id)) continue;
      const entry = fw.tasks.get(t.id);
      const u = entry ? undefined : fw.unreachableTasks.get(t.id);
      if (entry) add('tasks', { framework: fw.id, entry });
      else if (u) add('unreachable', { framework: fw.id, entry: u });
      else add('tasksGone', { framework: fw.id, id: t.id });
      await slicer.tick();
    }

    for (const o of s.offers.values()) {
      if (this.#offers.get(o.offer.id) !== o) {
        this.#offers.set(o.offer.id, o);
        add('offers', o);
      }
      await slicer.tick();
    }
    for (const id of this.#offers.keys()) {
      if (!s.offers.has(id)) {
        this.#offers.delete(id);
        add('offersGone', id);
      }
    }

    let recoveredChanged = s.recovered.size !== this.#recovered.size;
    if (!recoveredChanged) for (const id of s.recovered.keys()) if (!this.#recovered.has(id)) recoveredChanged = true;
    if (recoveredChanged) {
      this.#recovered = new Set(s.recovered.keys());
      d.recovered = [...s.recovered].map(([id, r]) => [id, { info: r.info }]);
    }

    const cf = s.completedFrameworks;
    if (cf.length !== this.#completedFrameworks.length || cf.at(-1) !== this.#completedFrameworks.last) {
      this.#completedFrameworks = { length: cf.length, last: cf.at(-1) };
      d.completedFrameworks = cf.map((fw) => ({ record: frameworkRecord(fw), completedTasks: fw.completedTasks }));
    }
    post(d);
  }
}

const newFramework = (record: FrameworkRecord): FrameworkEntry => ({ ...record, tasks: new Map(), unreachableTasks: new Map(), completedTasks: [] });

/** The worker's side: the tables, rebuilt from deltas, readable by the state writers. */
export class StateMirror implements StateSource {
  runId = '';
  self = '';
  hostname = '';
  readonly state = {
    agents: new Map<string, AgentEntry>(),
    frameworks: new Map<string, FrameworkEntry>(),
    offers: new Map<string, OfferEntry>(),
    recovered: new Map<string, { info: AgentInfo }>(),
    completedFrameworks: [] as FrameworkEntry[],
    registry: { unreachable: { size: 0 } },
  };
  /** The agents' task sets are rebuilt before the next read. */
  #agentTasksStale = true;
  /**
   * Each task's JSON text, written once: an entry that changes is replaced by a new one (a delta
   * carries copies), so a text is never stale, and one of an entry gone goes with it.
   */
  readonly #taskTexts = new WeakMap<TaskEntry, string>();

  taskText(t: TaskEntry): string {
    let text = this.#taskTexts.get(t);
    if (text === undefined) this.#taskTexts.set(t, (text = JSON.stringify(taskJson(t.task, t.role, t.status))));
    return text;
  }

  apply(d: StateDelta): void {
    const s = this.state;
    if (d.reset) {
      s.agents.clear();
      s.frameworks.clear();
      s.offers.clear();
      s.recovered.clear();
      s.completedFrameworks = [];
    }
    if (d.head) {
      this.runId = d.head.runId;
      this.self = d.head.self;
      this.hostname = d.head.hostname;
      s.registry.unreachable.size = d.head.unreachableAgents;
    }
    for (const a of d.agents ?? []) s.agents.set(a.id, { ...a, tasks: new Set() });
    for (const id of d.agentsGone ?? []) s.agents.delete(id);
    for (const { record, fresh } of d.frameworks ?? []) {
      const old = s.frameworks.get(record.id);
      s.frameworks.set(record.id, old && !fresh ? { ...record, tasks: old.tasks, unreachableTasks: old.unreachableTasks, completedTasks: old.completedTasks } : newFramework(record));
    }
    for (const id of d.frameworksGone ?? []) s.frameworks.delete(id);
    for (const { framework, entry } of d.tasks ?? []) {
      const fw = s.frameworks.get(framework);
      if (!fw) continue;
      fw.unreachableTasks.delete(entry.task.taskId);
      fw.tasks.set(entry.task.taskId, entry);
    }
    for (const { framework, entry } of d.unreachable ?? []) {
      const fw = s.frameworks.get(framework);
      if (!fw) continue;
      fw.tasks.delete(entry.task.taskId);
      fw.unreachableTasks.set(entry.task.taskId, entry);
    }
    for (const { framework, id } of d.tasksGone ?? []) {
      const fw = s.frameworks.get(framework);
      fw?.tasks.delete(id);
      fw?.unreachableTasks.delete(id);
    }
    for (const { framework, tasks } of d.completed ?? []) {
      const fw = s.frameworks.get(framework);
      if (fw) fw.completedTasks = tasks;
    }
    for (const o of d.offers ?? []) s.offers.set(o.offer.id, o);
    for (const id of d.offersGone ?? []) s.offers.delete(id);
    if (d.recovered) s.recovered = new Map(d.recovered);
    if (d.completedFrameworks) s.completedFrameworks = d.completedFrameworks.map(({ record, completedTasks }) => ({ ...newFramework(record), completedTasks }));
    if (d.agents || d.tasks || d.unreachable || d.tasksGone || d.frameworks || d.frameworksGone || d.reset) this.#agentTasksStale = true;
  }

  /** The mirror, ready to be read: each agent's task set as the master keeps it. */
  ready(): StateSource {
    if (this.#agentTasksStale) {
      for (const a of this.state.agents.values()) a.tasks.clear();
      for (const fw of this.state.frameworks.values()) for (const t of fw.tasks.values()) this.state.agents.get(t.task.agentId)?.tasks.add(t);
      this.#agentTasksStale = false;
    }
    return this;
  }
}
