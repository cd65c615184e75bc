/**
 * The state documents written by the worker thread equal those written from the master's own
 * tables, and a worker that dies is replaced by the next request, which sends the new one
 * everything again.
 */
import test from 'ava';
import type { Worker } from 'node:worker_threads';
import { RecordingScheduler, SimCluster, commandTask } from '../../helpers/sim-cluster.ts';
import { canonical } from '../../helpers/canonical-json.ts';
import { silentLogger } from '../../../runtime/log.ts';
import { StateDocuments, type SharedDocument } from '../../../runtime/http/state-worker.ts';
import { writeState, writeTasks, type MasterMeta } from '../../../runtime/http/master-state.ts';

const META: MasterMeta = { version: 'test', cluster: 'sim', startTime: 0, electedTime: 0, flags: {} };

test('documents come from the worker as the master would write them, and a dead worker is replaced', async (t) => {
  const sim = await SimCluster.start({ agents: 2 });
  const workers: Worker[] = [];
  const docs = new StateDocuments({ logger: silentLogger(), onWorker: (w) => workers.push(w) });
  t.teardown(async () => {
    await docs.close();
    await sim.stop();
  });
  sim.operatorListeners.push((e) => docs.note(e));
  const sched = new RecordingScheduler();
  const d = sim.driver(sched, { name: 'docs' });
  await sim.settle();
  const launch = (prefix: string) => {
    for (const [i, o] of sched.takeOffers().entries()) d.launchTasks([o.id], [commandTask(o, `${prefix}-${i}`, 'sleep 1000', 'cpus:0.5;mem:64'), commandTask(o, `${prefix}-done-${i}`, 'exit 0', 'cpus:0.5;mem:64')]);
  };
  launch('first');
  await sim.settle();

  const ctx = () => sim.leader()!.host.actor.getSnapshot().context;
  const text = (d: SharedDocument) => {
    const t = d.bytes.toString();
    d.release();
    return t;
  };
  const same = async (step: string) => {
    const got = JSON.parse(text(await docs.write(ctx(), { doc: 'state', meta: META })));
    t.deepEqual(canonical(got), canonical(JSON.parse((await writeState(ctx(), META)).join(''))), `${step}: /master/state`);
    const tasks = JSON.parse(text(await docs.write(ctx(), { doc: 'tasks', meta: META, tasks: { limit: 1000, offset: 0, order: 'asc' } })));
    t.deepEqual(canonical(tasks), canonical(JSON.parse((await writeTasks(ctx(), { limit: 1000, offset: 0, order: 'asc' })).join(''))), `${step}: /master/tasks`);
    return got as { frameworks: Array<{ tasks: unknown[] }> };
  };
  const first = await same('first launch');
  t.is(first.frameworks[0]!.tasks.length, 2);

  // A document held by a reader keeps its bytes while others are written and let go (the memory
  // of those is reused; the held one's is not).
  const held = await docs.write(ctx(), { doc: 'state', meta: META });
  const before = held.bytes.toString();
  for (let i = 0; i < 5; i++) text(await docs.write(ctx(), { doc: 'state', meta: META }));
  t.is(held.bytes.toString(), before);
  held.release();

  // The worker dies; the master goes on changing meanwhile.
  const dead = workers[0]!;
  const exited = new Promise<void>((resolve) => dead.once('exit', () => resolve()));
  await dead.terminate();
  await exited;
  await sim.advance(5000, 500);
  launch('second');
  await sim.settle();
  const second = await same('after the worker died');
  t.is(workers.length, 2, 'a new worker took over');
  t.true(second.frameworks[0]!.tasks.length > first.frameworks[0]!.tasks.length);
});
