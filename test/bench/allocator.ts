/**
 * Allocator benchmark (`npm run bench:allocator`): the cost of one allocation pass of the pure
 * `HierarchicalAllocator` on large clusters, after Mesos' `HierarchicalAllocator_BENCHMARK_Test`.
 *
 *     npm run bench:allocator                                   # the whole grid, both profiles
 *     npm run bench:allocator -- --agents 20000 --frameworks 2000 --profile decline
 *     npm run bench:allocator -- --agents 1000,5000 --frameworks 50 --verbose
 *     npm run bench:allocator -- --growth                       # the growth ratio, 5 runs a profile
 *
 * Grid (no flags): agents {1000, 5000, 10000, 20000, 50000} × frameworks {1, 50, 200, 1000, 2000},
 * plus 2000 × 200 (for the growth ratio 2k × 200 → 20k × 2k), for both profiles. `--agents` and
 * `--frameworks` take comma lists; `--profile` is `decline`, `launch` or `all`.
 *
 * Every cell runs in a child process of its own (so memory never accumulates), which is killed if
 * it runs past `--hard-timeout-s` (default: the cell budget + 15 s; one `allocate()` call cannot be
 * interrupted, so a cell whose rounds are very slow ends this way). Its line is then printed with
 * `"timedOut": true` and whatever the cell had measured so far. `--inline` runs the cells in this
 * process instead (for `node --cpu-prof --import tsx test/bench/allocator.ts --inline …`);
 * profiling through `NODE_OPTIONS=--cpu-prof` works too, each child writing its own profile.
 *
 * Common setup (seeded by `--seed`, default 1; allocation interval 1 s; all frameworks in role `*`):
 * F frameworks are added, then A agents of `cpus:24;mem:4096;disk:4096;ports:[31000-32000]`, agent
 * i with `cpus:16;mem:2014;disk:1024` and 16 single ports already used by framework `i % F` (passed
 * as `used` to `addAgent`). That leaves 8 cpus, 2082 mem, 3072 disk and 17 port fragments free on
 * each agent. `setupMs` is the time of these adds.
 *
 * Profile `decline` (Mesos' DeclineOffers). Round 0 (the offers Mesos collects from the agent adds;
 * reported as `initialMs`, not among the timed rounds) and then rounds 1, 2, …, 2F: each round
 * advances `now` by the interval, calls `allocate(now, { batch: true })` (timed), and every
 * framework declines every offer it got with a 365-day filter (`recoverResources` with
 * `refuseSeconds` = 365 days). Every agent is offered to one framework a round until every
 * framework filters every agent (after about F rounds); the rounds after that make no offer, and
 * each checks all A × F (framework, agent) pairs against their filters: the expensive case.
 * Running all 2F rounds of a large cell would take far too long, so:
 *
 * 1. *Organic rounds*: rounds run as above until all 2F have run, `--final-rounds` of them have
 *    run at final density, or the round budget (`--round-budget-s`, default 40 s from the start of
 *    the cell, setup included) would be passed by the next round. These cover filter densities from
 *    0 up to about `rounds / F`.
 * 2. If rounds remain and some pairs are still unfiltered, the filter state the remaining rounds
 *    would build is filled in directly: every (framework, agent) pair without a filter gets one,
 *    by `recoverResources(framework, agent, '*', <the agent's free resources>, now, 365 days)` at
 *    the `now` of the last organic round — the filter that framework's decline of that agent would
 *    have created. The one exception is the pair of the framework already using part of the agent:
 *    `recoverResources` gives back whatever part of the given resources the framework holds on
 *    the agent (here, some of the cpus, mem and disk it uses), so that pair is left to a real offer
 *    and decline (the next pass over the agent offers it to that framework, the only one left).
 *    First only for a seeded sample of S = clamp(⌈200000 / F⌉, min(A, 8), A) agents: one
 *    `allocate(now, { agentIds: sample })` (each sampled agent has exactly one framework left
 *    that does not filter it, its user, which must be found among all F: scaled like the passes
 *    below, `lastOfferEstMs` estimates the costliest round of the 2F, the last one before every
 *    pair is filtered; its offers are declined), then three timed ones over
 *    just those agents (every pair filtered), scaled by A / S after taking off the fixed cost of a
 *    pass (the median of three passes over no agent, added back once; a full garbage collection
 *    runs before each sampled pass, so that a collection owed by earlier rounds is not scaled up
 *    with it): `finalEstMs` from the
 *    median pass and `finalEstMaxMs` from the slowest, an estimate of one full round at final
 *    density (not a batch pass, so it leaves out expiring filters). Then, if filling all
 *    remaining pairs (at the measured cost per `recoverResources`), a round of `finalEstMaxMs`
 *    and one of `finalEstMs` fit in the cell budget (`--cell-budget-s`, default 60 s), every pair
 *    is filled; otherwise the cell ends with the estimate only (`finalRounds: 0`).
 * 3. *Final rounds*: once every pair is filtered (by organic rounds, or by the fill and one more
 *    timed round whose offers go to the agents' users and are declined), rounds run until
 *    `--final-rounds` (default 5) rounds at final density (density 1) have been timed, all 2F
 *    rounds have run, or the cell budget would be passed (at least one such round runs).
 *
 * Profile `launch`: the same cluster; up to `--launch-rounds` rounds (default 10, within the round
 * budget), all timed. Each advances `now` by the interval and calls `allocate(now, { batch: true })`;
 * every framework launches one task of `cpus:1;mem:128` from each offer that holds it (that part is
 * simply not recovered, so it stays allocated) and declines the rest with a short filter
 * (`--launch-refuse-s`, default 1 s, i.e. one allocation interval: such a filter still holds at
 * the next round, so with a single framework every other round makes no offer).
 *
 * Measurement: `performance.now()` around `allocate()` only; `rssMb` is `process.memoryUsage().rss`
 * (MiB) after the rounds. Output: one JSON line per cell on stdout, as soon as the cell is done:
 *
 * - `agents`, `frameworks`, `profile`; `rounds`: the timed full rounds (decline: organic rounds
 *   1… plus final rounds; the sampled passes are not rounds); `medianMs`, `maxMs` over those rounds;
 * - `offers`: the **median** number of offers made per timed round; `offersTotal`: their sum;
 * - `rssMb`, `heapMb`, `setupMs`, `cellMs` (wall time of the whole cell);
 * - decline: `initialMs`, `initialOffers`, `organicRounds`, `mesosRounds` (= 2F), `finalRounds`,
 *   `finalMedianMs` (median over the final-density rounds, `null` if none), `finalEstMs`,
 *   `finalEstMaxMs`, `lastOfferEstMs`, `sampleAgents`, `densityMax` (the highest filter density, filters in force
 *   ÷ (A·F), at a timed full round), `usPerRecover` (mean cost of one declining
 *   `recoverResources`, fill included), `filled` (pairs filled in);
 * - launch: `tasks` launched in total;
 * - `timedOut` (and `error` if the child failed).
 *
 * `--growth` measures how cost grows from 2k × 200 to 20k × 2k: for each profile, `--runs` (default
 * 5) runs of the two cells, one after the other (so that a slow spell of the machine falls on both),
 * each cell line printed as above; then one line per profile with `growth: true`, `from` and `to`
 * (the two sizes), `fromMs` and `toMs` (the runs' `medianMs`), `fromMedianMs`, `toMedianMs` (the
 * median of each) and `ratio` (= toMedianMs / fromMedianMs), to compare with the limit of ×12.
 *
 * Logs go to stderr (`--verbose`: one line per round, as Mesos prints). `--impl <path>` loads the
 * allocator from another module exporting `HierarchicalAllocator` (to compare an experimental copy).
 */
import { fork } from 'node:child_process';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as hierarchical from '../../actors/master/allocator/hierarchical.ts';
import { contains, parseResources, subtract, type Resources } from '../../protocols/resources.ts';

type AllocatorModule = Pick<typeof hierarchical, 'HierarchicalAllocator'>;
type Allocator = InstanceType<AllocatorModule['HierarchicalAllocator']>;

const GRID_AGENTS = [1000, 5000, 10000, 20000, 50000];
const GRID_FRAMEWORKS = [1, 50, 200, 1000, 2000];
/** Extra cell of the default grid: the base of the 2k × 200 → 20k × 2k growth ratio. */
const EXTRA_CELL = { agents: 2000, frameworks: 200 };
/** The far end of the growth ratio. */
const GROWTH_TO = { agents: 20000, frameworks: 2000 };
const PROFILES = ['decline', 'launch'] as const;
type Profile = (typeof PROFILES)[number];

const INTERVAL_MS = 1000;
const YEAR_S = 365 * 24 * 3600;
/** (framework, agent) pairs the sampled final-density passes aim at. */
const PROBE_PAIRS = 200000;
const PROBE_PASSES = 3;

const AGENT_TOTAL = parseResources('cpus:24;mem:4096;disk:4096;ports:[31000-32000]');
const USED_PORTS = Array.from({ length: 16 }, (_, k) => `${31000 + 2 * k}-${31000 + 2 * k}`).join(',');
const AGENT_USED = parseResources(`cpus:16;mem:2014;disk:1024;ports:[${USED_PORTS}]`);
const TASK = parseResources('cpus:1;mem:128');

/** Everything one cell needs; passed to the child as JSON. */
interface CellConfig {
  profile: Profile;
  agents: number;
  frameworks: number;
  seed: number;
  roundBudgetMs: number;
  cellBudgetMs: number;
  finalRounds: number;
  launchRounds: number;
  launchRefuseS: number;
  verbose: boolean;
  impl?: string;
}

type CellResult = Record<string, unknown>;

interface ChildMessage {
  type: 'progress' | 'result';
  line: CellResult;
}

const say = (msg: string): void => {
  process.stderr.write(`[bench:allocator] ${msg}\n`);
};

const round1 = (x: number): number => Math.round(x * 10) / 10;

function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const maxOf = (xs: readonly number[]): number | null => (xs.length === 0 ? null : Math.max(...xs));
const ms = (x: number | null): number | null => (x === null ? null : round1(x));
const mib = (bytes: number): number => Math.round(bytes / (1024 * 1024));

/** A full collection, when the process runs with `--expose-gc` (the cell children do). */
const collectGarbage = (): void => {
  (globalThis as { gc?: () => void }).gc?.();
};

/** The allocator's own seeded PRNG, for the sample of agents. */
const prng = hierarchical.seededRandom;

const AGENT_PREFIX = 'agent-';
const FRAMEWORK_PREFIX = 'fw-';
const agentId = (i: number): string => `${AGENT_PREFIX}${i}`;
const frameworkId = (f: number): string => `${FRAMEWORK_PREFIX}${f}`;
const agentIndex = (id: string): number => Number(id.slice(AGENT_PREFIX.length));
const frameworkIndex = (id: string): number => Number(id.slice(FRAMEWORK_PREFIX.length));

async function loadImpl(path: string | undefined): Promise<AllocatorModule> {
  if (path === undefined) return hierarchical;
  const mod = (await import(pathToFileURL(resolve(path)).href)) as Partial<AllocatorModule>;
  if (typeof mod.HierarchicalAllocator !== 'function') throw new Error(`${path} exports no HierarchicalAllocator`);
  return mod as AllocatorModule;
}

/** Adds the frameworks and agents of a cell; returns the allocator and the time the adds took. */
function setUp(mod: AllocatorModule, cfg: CellConfig): { alloc: Allocator; setupMs: number } {
  const t0 = performance.now();
  const alloc = new mod.HierarchicalAllocator({ seed: cfg.seed, allocationIntervalMs: INTERVAL_MS });
  for (let f = 0; f < cfg.frameworks; f++) alloc.addFramework(frameworkId(f), { roles: ['*'] });
  for (let i = 0; i < cfg.agents; i++) {
    const id = agentId(i);
    alloc.addAgent(id, { hostname: `host-${i}`, total: AGENT_TOTAL }, [
      { frameworkId: frameworkId(i % cfg.frameworks), role: '*', agentId: id, resources: AGENT_USED },
    ]);
  }
  return { alloc, setupMs: performance.now() - t0 };
}

/** One bit per (agent, framework) pair: does the framework filter the agent? */
class PairBits {
  private readonly bits: Uint32Array;
  count = 0;
  constructor(
    private readonly frameworks: number,
    agents: number,
  ) {
    this.bits = new Uint32Array(Math.ceil((agents * frameworks) / 32));
  }
  has(a: number, f: number): boolean {
    const k = a * this.frameworks + f;
    return (this.bits[k >>> 5]! & (1 << (k & 31))) !== 0;
  }
  set(a: number, f: number): void {
    const k = a * this.frameworks + f;
    const w = k >>> 5;
    const m = 1 << (k & 31);
    if ((this.bits[w]! & m) === 0) {
      this.bits[w] = this.bits[w]! | m;
      this.count++;
    }
  }
}

function memory(): { rssMb: number; heapMb: number } {
  const m = process.memoryUsage();
  return { rssMb: mib(m.rss), heapMb: mib(m.heapUsed) };
}

/** The figures every cell reports: its timed rounds, the offers they made, memory and times. */
function roundFigures(roundMs: readonly number[], roundOffers: readonly number[], setupMs: number, cellMs: number): CellResult {
  return {
    rounds: roundMs.length,
    medianMs: ms(median(roundMs)),
    maxMs: ms(maxOf(roundMs)),
    offers: median(roundOffers),
    offersTotal: roundOffers.reduce((x, y) => x + y, 0),
    ...memory(),
    setupMs: round1(setupMs),
    cellMs: round1(cellMs),
  };
}

/** Mesos' DeclineOffers, with the filter state of the rounds not run filled in (see the header). */
function runDecline(mod: AllocatorModule, cfg: CellConfig, report: (partial: CellResult) => void): CellResult {
  const cellStart = performance.now();
  const elapsed = (): number => performance.now() - cellStart;
  const A = cfg.agents;
  const F = cfg.frameworks;
  const pairs = A * F;
  const { alloc, setupMs } = setUp(mod, cfg);
  const filters = new PairBits(F, A);
  let recovers = 0;
  let recoverMs = 0;
  let now = 0;

  const decline = (offers: ReturnType<Allocator['allocate']>, at: number): void => {
    const t = performance.now();
    for (const o of offers) {
      alloc.recoverResources(o.frameworkId, o.agentId, o.role, o.resources, at, YEAR_S);
      filters.set(agentIndex(o.agentId), frameworkIndex(o.frameworkId));
    }
    recovers += offers.length;
    recoverMs += performance.now() - t;
  };
  /**
   * Fills in the filter of every pair of agent `a` that has none yet, except the pair of the
   * framework that uses part of the agent: `recoverResources` gives back whatever part of the given
   * resources the framework holds there (some of the cpus, mem and disk it uses), so that pair
   * must come from a real decline (the next pass over the agent offers it to that framework, the
   * only one left unfiltered).
   */
  const fillAgent = (a: number, at: number): number => {
    const id = agentId(a);
    const free = alloc.available(id);
    const owner = a % F;
    let n = 0;
    for (let f = 0; f < F; f++) {
      if (f === owner || filters.has(a, f)) continue;
      alloc.recoverResources(frameworkId(f), id, '*', free, at, YEAR_S);
      filters.set(a, f);
      n++;
    }
    return n;
  };

  // Round 0: the offers Mesos collects from the agent adds (not timed there; reported apart).
  now += INTERVAL_MS;
  let t = performance.now();
  const initial = alloc.allocate(now, { batch: true });
  const initialMs = performance.now() - t;
  decline(initial, now);

  const roundMs: number[] = [];
  const roundOffers: number[] = [];
  /** The timed rounds at final density (every pair filtered), organic or after the fill. */
  const finalMs: number[] = [];
  let organicRounds = 0;
  let densityMax = 0;
  let finalEstMs: number | null = null;
  let finalEstMaxMs: number | null = null;
  let lastOfferEstMs: number | null = null;
  let sampleAgents = 0;
  let filled = 0;
  let fullFill = false;

  const snapshot = (): CellResult => ({
    ...roundFigures(roundMs, roundOffers, setupMs, elapsed()),
    initialMs: round1(initialMs),
    initialOffers: initial.length,
    organicRounds,
    mesosRounds: 2 * F,
    finalRounds: finalMs.length,
    finalMedianMs: ms(median(finalMs)),
    finalEstMs: ms(finalEstMs),
    finalEstMaxMs: ms(finalEstMaxMs),
    lastOfferEstMs: ms(lastOfferEstMs),
    sampleAgents,
    densityMax: Math.round(densityMax * 1e4) / 1e4,
    usPerRecover: recovers > 0 ? round1((1000 * recoverMs) / recovers) : null,
    filled,
  });

  const timedRound = (phase: 'organic' | 'final'): number => {
    now += INTERVAL_MS;
    const density = filters.count / pairs;
    const t0 = performance.now();
    const offers = alloc.allocate(now, { batch: true });
    const dt = performance.now() - t0;
    roundMs.push(dt);
    roundOffers.push(offers.length);
    if (filters.count === pairs) finalMs.push(dt);
    densityMax = Math.max(densityMax, density);
    if (cfg.verbose) {
      say(
        `${phase} round ${roundMs.length} allocate() took ${dt.toFixed(1)} ms to make ${offers.length} offers ` +
          `with ${filters.count} filters (density ${density.toFixed(3)})`,
      );
    }
    if (phase === 'organic') organicRounds++;
    decline(offers, now);
    report(snapshot());
    return performance.now() - t0;
  };

  // 1. Organic rounds, within the round budget.
  let lastWall = 0;
  while (
    organicRounds < 2 * F &&
    finalMs.length < cfg.finalRounds &&
    (organicRounds === 0 || elapsed() + 1.3 * lastWall <= cfg.roundBudgetMs)
  ) {
    lastWall = timedRound('organic');
  }

  if (organicRounds < 2 * F && filters.count < pairs) {
    // 2a. Final density on a sample of agents: fill their pairs, time passes over just them.
    const fillNow = now;
    const rnd = prng(cfg.seed ^ 0x5bd1e995);
    const order = Array.from({ length: A }, (_, i) => i);
    sampleAgents = Math.min(A, Math.max(Math.min(A, 8), Math.ceil(PROBE_PAIRS / F)));
    for (let i = 0; i < sampleAgents; i++) {
      const j = i + Math.floor(rnd() * (A - i));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const sample = order.slice(0, sampleAgents);
    t = performance.now();
    let n = 0;
    for (const a of sample) n += fillAgent(a, fillNow);
    recovers += n;
    recoverMs += performance.now() - t;
    filled += n;
    const sampleIds = sample.map(agentId);
    const passes: number[] = [];
    let lastOfferPass = 0;
    // The first pass (not timed) offers each sampled agent to its user, which declines it.
    for (let p = -1; p < PROBE_PASSES; p++) {
      now += INTERVAL_MS;
      // A collection owed by earlier rounds would be scaled up with the pass: settle it first.
      collectGarbage();
      const t0 = performance.now();
      const offers = alloc.allocate(now, { agentIds: sampleIds });
      const dt = performance.now() - t0;
      if (p >= 0) passes.push(dt);
      else lastOfferPass = dt;
      if (cfg.verbose) say(`sampled pass ${p + 1} over ${sampleAgents} agents took ${dt.toFixed(1)} ms, ${offers.length} offers`);
      decline(offers, now);
    }
    // What a pass costs whatever its agents (scaled once, not A / S times).
    const empty: number[] = [];
    for (let p = 0; p < PROBE_PASSES; p++) {
      now += INTERVAL_MS;
      const t0 = performance.now();
      alloc.allocate(now, { agentIds: [] });
      empty.push(performance.now() - t0);
    }
    const fixed = median(empty)!;
    const scale = (x: number): number => fixed + (Math.max(0, x - fixed) * A) / sampleAgents;
    finalEstMs = scale(median(passes)!);
    finalEstMaxMs = scale(maxOf(passes)!);
    lastOfferEstMs = scale(lastOfferPass);
    report(snapshot());

    // 2b. Everything, if it fits: fill every remaining pair, then time full rounds at density 1.
    const usPer = recovers > 0 ? (1000 * recoverMs) / recovers : 0;
    const predictedFillMs = ((pairs - filters.count) * usPer) / 1000;
    if (elapsed() + predictedFillMs + finalEstMaxMs + 1.5 * finalEstMs <= cfg.cellBudgetMs) {
      say(`${A}×${F} decline: filling ${pairs - filters.count} filters (≈ ${(predictedFillMs / 1000).toFixed(1)} s)`);
      t = performance.now();
      n = 0;
      for (let a = 0; a < A; a++) {
        n += fillAgent(a, fillNow);
        if (a % 1000 === 999) report({ ...snapshot(), filled: filled + n });
      }
      recovers += n;
      recoverMs += performance.now() - t;
      filled += n;
      fullFill = true;
    } else {
      say(
        `${A}×${F} decline: no full final-density rounds (fill ≈ ${(predictedFillMs / 1000).toFixed(1)} s, ` +
          `round ≈ ${(finalEstMs / 1000).toFixed(1)} s); reporting the sampled estimate`,
      );
    }
  }
  // 3. Rounds at final density (some may have run organically), within the cell budget. After a
  // fill, the first round still offers agents to their users, whose declines complete the state.
  if (fullFill || filters.count === pairs) {
    let last = lastWall;
    while (
      finalMs.length < cfg.finalRounds &&
      roundMs.length < 2 * F &&
      (finalMs.length === 0 || elapsed() + 1.3 * last <= cfg.cellBudgetMs)
    ) {
      last = timedRound('final');
    }
  }
  return snapshot();
}

/** Frameworks launch one small task from each offer and decline the rest with a short filter. */
function runLaunch(mod: AllocatorModule, cfg: CellConfig, report: (partial: CellResult) => void): CellResult {
  const cellStart = performance.now();
  const elapsed = (): number => performance.now() - cellStart;
  const { alloc, setupMs } = setUp(mod, cfg);
  const roundMs: number[] = [];
  const roundOffers: number[] = [];
  let tasks = 0;
  let now = 0;
  const snapshot = (): CellResult => ({
    ...roundFigures(roundMs, roundOffers, setupMs, elapsed()),
    tasks,
  });
  let lastWall = 0;
  while (roundMs.length < cfg.launchRounds && (roundMs.length === 0 || elapsed() + 1.3 * lastWall <= cfg.roundBudgetMs)) {
    now += INTERVAL_MS;
    const t0 = performance.now();
    const offers = alloc.allocate(now, { batch: true });
    const dt = performance.now() - t0;
    roundMs.push(dt);
    roundOffers.push(offers.length);
    let launched = 0;
    for (const o of offers) {
      let back: Resources = o.resources;
      if (contains(o.resources, TASK)) {
        back = subtract(o.resources, TASK);
        launched++;
      }
      alloc.recoverResources(o.frameworkId, o.agentId, o.role, back, now, cfg.launchRefuseS);
    }
    tasks += launched;
    if (cfg.verbose) say(`launch round ${roundMs.length} allocate() took ${dt.toFixed(1)} ms to make ${offers.length} offers; ${launched} tasks`);
    lastWall = performance.now() - t0;
    report(snapshot());
  }
  return snapshot();
}

function header(cfg: CellConfig): CellResult {
  return {
    bench: 'allocator',
    agents: cfg.agents,
    frameworks: cfg.frameworks,
    profile: cfg.profile,
    ...(cfg.impl !== undefined ? { impl: cfg.impl } : {}),
  };
}

async function runCell(cfg: CellConfig, report: (partial: CellResult) => void): Promise<CellResult> {
  const mod = await loadImpl(cfg.impl);
  const run = cfg.profile === 'decline' ? runDecline : runLaunch;
  const line = run(mod, cfg, (partial) => report({ ...header(cfg), ...partial }));
  return { ...header(cfg), ...line, timedOut: false };
}

/** Runs one cell in a child process; resolves with its line (partial and `timedOut` if killed). */
function runInChild(cfg: CellConfig, hardTimeoutMs: number, heapMb: number): Promise<CellResult> {
  return new Promise((done) => {
    const child = fork(fileURLToPath(import.meta.url), ['--cell', JSON.stringify(cfg)], {
      execArgv: [...process.execArgv, `--max-old-space-size=${heapMb}`, '--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let last: CellResult = { ...header(cfg), rounds: 0, medianMs: null, maxMs: null, offers: null };
    let result: CellResult | undefined;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      say(`${cfg.agents}×${cfg.frameworks} ${cfg.profile}: killing the cell after ${hardTimeoutMs / 1000} s`);
      child.kill('SIGKILL');
    }, hardTimeoutMs);
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'result') result = m.line;
      else last = m.line;
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (result) return done(result);
      const error = timedOut ? undefined : `child exited with ${signal ?? `code ${code}`}`;
      done({ ...last, timedOut, ...(error !== undefined ? { error } : {}) });
    });
  });
}

async function childMain(json: string): Promise<void> {
  const cfg = JSON.parse(json) as CellConfig;
  const send = (m: ChildMessage): void => {
    process.send?.(m);
  };
  const line = await runCell(cfg, (partial) => send({ type: 'progress', line: partial }));
  send({ type: 'result', line });
  process.disconnect?.();
}

const list = (s: string | undefined): number[] | undefined =>
  s === undefined ? undefined : s.split(',').map((x) => {
    const n = Number(x.trim());
    if (!Number.isInteger(n) || n <= 0) throw new Error(`not a positive integer: '${x}'`);
    return n;
  });

async function main(): Promise<void> {
  const { values: flags } = parseArgs({
    args: process.argv.slice(2),
    options: {
      agents: { type: 'string' },
      frameworks: { type: 'string' },
      profile: { type: 'string', default: 'all' },
      seed: { type: 'string', default: '1' },
      'round-budget-s': { type: 'string', default: '40' },
      'cell-budget-s': { type: 'string', default: '60' },
      'hard-timeout-s': { type: 'string' },
      'final-rounds': { type: 'string', default: '5' },
      'launch-rounds': { type: 'string', default: '10' },
      'launch-refuse-s': { type: 'string', default: '1' },
      'heap-mb': { type: 'string', default: '8192' },
      impl: { type: 'string' },
      inline: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      growth: { type: 'boolean', default: false },
      runs: { type: 'string', default: '5' },
      cell: { type: 'string' },
    },
    strict: true,
  });
  if (flags.cell !== undefined) return childMain(flags.cell);

  const profiles: Profile[] =
    flags.profile === 'all' ? [...PROFILES] : PROFILES.includes(flags.profile as Profile) ? [flags.profile as Profile] : [];
  if (profiles.length === 0) throw new Error(`--profile must be decline, launch or all, not '${flags.profile}'`);
  const agents = list(flags.agents);
  const frameworks = list(flags.frameworks);
  const sizes: Array<{ agents: number; frameworks: number }> = [];
  for (const a of agents ?? GRID_AGENTS) for (const f of frameworks ?? GRID_FRAMEWORKS) sizes.push({ agents: a, frameworks: f });
  if (agents === undefined && frameworks === undefined) {
    const at = sizes.findIndex((s) => s.agents > EXTRA_CELL.agents);
    sizes.splice(at < 0 ? sizes.length : at, 0, EXTRA_CELL);
  }
  const cellBudgetS = Number(flags['cell-budget-s']);
  const hardTimeoutMs = 1000 * (flags['hard-timeout-s'] !== undefined ? Number(flags['hard-timeout-s']) : cellBudgetS + 15);
  const base = {
    seed: Number(flags.seed),
    roundBudgetMs: 1000 * Number(flags['round-budget-s']),
    cellBudgetMs: 1000 * cellBudgetS,
    finalRounds: Number(flags['final-rounds']),
    launchRounds: Number(flags['launch-rounds']),
    launchRefuseS: Number(flags['launch-refuse-s']),
    verbose: flags.verbose,
    ...(flags.impl !== undefined ? { impl: flags.impl } : {}),
  };
  let failed = false;
  const measure = async (size: { agents: number; frameworks: number }, profile: Profile): Promise<CellResult> => {
    const cfg: CellConfig = { ...base, ...size, profile };
    say(`${size.agents} agents × ${size.frameworks} frameworks, ${profile}`);
    const line = flags.inline ? await runCell(cfg, () => {}) : await runInChild(cfg, hardTimeoutMs, Number(flags['heap-mb']));
    if (line.error !== undefined) failed = true;
    process.stdout.write(`${JSON.stringify(line)}\n`);
    return line;
  };
  if (flags.growth) {
    const runs = list(flags.runs)!;
    if (runs.length !== 1) throw new Error(`--runs takes one number, not '${flags.runs}'`);
    for (const profile of profiles) {
      const fromMs: number[] = [];
      const toMs: number[] = [];
      for (let r = 0; r < runs[0]!; r++) {
        fromMs.push((await measure(EXTRA_CELL, profile)).medianMs as number);
        toMs.push((await measure(GROWTH_TO, profile)).medianMs as number);
      }
      const fromMedianMs = median(fromMs)!;
      const toMedianMs = median(toMs)!;
      const size = (x: { agents: number; frameworks: number }): string => `${x.agents}x${x.frameworks}`;
      const line = { bench: 'allocator', growth: true, profile, from: size(EXTRA_CELL), to: size(GROWTH_TO), runs: runs[0], fromMs, toMs, fromMedianMs, toMedianMs, ratio: Math.round((100 * toMedianMs) / fromMedianMs) / 100 };
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
  } else {
    for (const size of sizes) for (const profile of profiles) await measure(size, profile);
  }
  if (failed) process.exitCode = 1;
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
