/**
 * The state documents written from the worker's copy of the master's tables equal those written
 * from the master's own tables. A cluster goes through the changes the operator-event test walks
 * (launches, tasks that finish, fail and are killed, an agent partitioned until unreachable and
 * back, an agent that leaves, a framework that disconnects and comes back, one torn down, and a
 * master failover); after each step the feed sends what changed, a mirror applies it, and
 * `/master/state`, `state-summary`, `frameworks`, `slaves`, `tasks`, `roles` and the v1 state
 * written from the mirror must equal the same documents written from the master. The master's
 * task counts by state (what its metrics read) must equal a walk of its tables too.
 */
import test from 'ava';
import { RecordingScheduler, SimCluster, commandTask } from '../helpers/sim-cluster.ts';
import { canonical } from '../helpers/canonical-json.ts';
import { StateFeed, StateMirror, type StateDelta } from '../../runtime/http/state-mirror.ts';
import { rolesJson, v1State, writeAgents, writeFrameworks, writeState, writeSummary, writeTasks, type MasterMeta, type StateSource } from '../../runtime/http/master-state.ts';

const META: MasterMeta = { version: 'test', cluster: 'sim', startTime: 0, electedTime: 0, flags: {} };

async function documents(src: StateSource) {
  const text = async (parts: Promise<string[]>) => canonical(JSON.parse((await parts).join('')));
  return {
    state: await text(writeState(src, META)),
    summary: await text(writeSummary(src, META)),
    frameworks: await text(writeFrameworks(src, META)),
    slaves: await text(writeAgents(src, META)),
    tasks: await text(writeTasks(src, { limit: 1_000_000, offset: 0, order: 'asc' })),
    roles: canonical(rolesJson(src, () => 1)),
    v1: canonical(await v1State(src)),
  };
}

test('documents written from the mirror equal those written from the master after every kind of change', async (t) => {
  const sim = await SimCluster.start({ agents: 3, masterFlags: { agentPingTimeoutMs: 5000, maxAgentPingTimeouts: 2 } });
  t.teardown(() => sim.stop());
  // One feed and mirror per master, as each master's HTTP server keeps its own.
  const feeds = new Map<string, { feed: StateFeed; mirror: StateMirror; deltas: number }>();
  const pipeOf = (runId: string) => {
    let p = feeds.get(runId);
    if (!p) feeds.set(runId, (p = { feed: new StateFeed(), mirror: new StateMirror(), deltas: 0 }));
    return p;
  };
  sim.operatorListeners.push((e, runId) => pipeOf(runId).feed.note(e));

  const check = async (step: string) => {
    const leader = sim.leader()!;
    const ctx = leader.host.actor.getSnapshot().context;
    const p = pipeOf(ctx.runId);
    // Through a structured clone, as a worker thread receives it.
    await p.feed.flush(ctx, (d: StateDelta) => {
      p.deltas++;
      p.mirror.apply(structuredClone(d));
    });
    // The master's counts by state, kept as tasks change, equal a walk of its tables.
    const walked: Record<string, number> = {};
    for (const fw of ctx.state.frameworks.values()) for (const t of fw.tasks.values()) walked[t.task.state] = (walked[t.task.state] ?? 0) + 1;
    t.deepEqual(Object.fromEntries(Object.entries(ctx.state.taskStates).filter(([, n]) => n !== 0)), walked, `${step}: task counts by state`);
    const want = await documents(ctx);
    const got = await documents(p.mirror.ready());
    for (const k of Object.keys(want) as Array<keyof typeof want>) t.deepEqual(got[k], want[k], `${step}: ${k}`);
  };
  await check('agents registered');

  const aware = new RecordingScheduler();
  const a = sim.driver(aware, { name: 'aware', capabilities: ['PARTITION_AWARE'] });
  const plain = new RecordingScheduler();
  const p = sim.driver(plain, { name: 'plain', failoverTimeoutSeconds: 3600, roles: ['analytics'] });
  await sim.settle();
  await check('frameworks subscribed, offers out');

  const launchAll = (sched: RecordingScheduler, d: typeof a, prefix: string) => {
    for (const [i, o] of sched.takeOffers().entries()) {
      d.launchTasks([o.id], [
        commandTask(o, `${prefix}-long-${i}`, 'sleep 1000', 'cpus:0.5;mem:64'),
        commandTask(o, `${prefix}-ok-${i}`, 'exit 0', 'cpus:0.25;mem:32'),
        commandTask(o, `${prefix}-bad-${i}`, 'exit 3', 'cpus:0.25;mem:32'),
      ]);
    }
  };
  launchAll(aware, a, 'a');
  launchAll(plain, p, 'p');
  await sim.settle();
  await check('tasks launched, finished and failed');

  const victim = aware.updates.find((u) => u.taskId.startsWith('a-long-') && u.state === 'TASK_RUNNING')!;
  a.killTask(victim.taskId);
  await sim.settle();
  await check('a task killed');

  const cut = sim.agents[0]!;
  const heal = sim.partition(cut.pid);
  await sim.advance(20_000, 500);
  await check('an agent unreachable');
  heal();
  await sim.advance(30_000, 500);
  await check('the agent back');

  await sim.agents[1]!.leave(30_000);
  await sim.settle();
  await check('an agent unregistered');

  const restore = sim.partition(p.pid);
  await sim.advance(120_000, 1000);
  await check('a framework disconnected');
  restore();
  await sim.advance(30_000, 1000);
  await check('the framework back');
  await a.stop();
  await sim.settle();
  await check('a framework torn down');

  // A failover: a new master's tables, sent whole to its own mirror.
  sim.startMaster('m2');
  await sim.killLeader();
  await sim.advance(60_000, 1000);
  await check('a new leader');
  t.true([...feeds.values()].every((f) => f.deltas > 0));
});
