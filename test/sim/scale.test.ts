/**
 * What keeps a large cluster going, on a simulated one: event-triggered allocation batched into
 * one pass per turn (so a storm of N re-registrations costs one pass over N agents), long passes
 * taken in steps, and messages that grow with the cluster split under the bus's payload limit.
 */
import test from 'ava';
import { parseResources, scalar as scalarOf } from '../../protocols/resources.ts';
import type { ExecutorInfo, TaskInfo } from '../../protocols/records.ts';
import { RecordingScheduler, SimCluster } from '../helpers/sim-cluster.ts';

test('a re-registration storm after a failover costs a handful of allocation passes, not one per agent', async (t) => {
  const sim = await SimCluster.start({ agents: 200, agentResources: 'cpus:1;mem:512' });
  t.teardown(() => sim.stop());
  sim.startMaster('m2');
  await sim.settle();
  const sched = new RecordingScheduler();
  sim.driver(sched);
  await sim.settle();
  await sim.killLeader();
  await sim.advance(1000, 50);
  const m2 = sim.leader()!;
  t.true(m2.host.actor.getSnapshot().hasTag('serving'), 'all 200 agents re-registered');
  // Each re-registration marks its agent; the passes visit the marked agents (and the periodic
  // batch all of them), so the work grows with N — not N passes over all N agents (40,000 visits).
  const visited = m2.metrics()['master/allocation_agents_visited']!;
  t.true(visited <= 3 * 200, `${visited} agent visits for 200 re-registrations`);
  await sim.advance(1000);
  t.is(new Set(sched.offers.map((o) => o.agentId)).size, 200, 'and every agent is offered');
});

test('a long allocation pass is taken in steps, and still offers every agent', async (t) => {
  const sim = await SimCluster.start({ agents: 200, agentResources: 'cpus:1;mem:512', masterFlags: { allocationChunkAgents: 50 } });
  t.teardown(() => sim.stop());
  const sched = new RecordingScheduler();
  sim.driver(sched);
  await sim.settle();
  t.is(new Set(sched.offers.map((o) => o.agentId)).size, 200);
  t.true(sim.metrics()['allocator/mesos/allocation_runs']! >= 4, 'four steps of 50 agents');
});

test('offers of more agents than one message can carry arrive in several messages, all of them', async (t) => {
  const sim = await SimCluster.start({ agents: 300, agentResources: 'cpus:1;mem:512;ports:[31000-32000]', maxPayload: 16 * 1024 });
  t.teardown(() => sim.stop());
  const messages = sim.count('ResourceOffers');
  const sched = new RecordingScheduler();
  sim.driver(sched);
  await sim.settle();
  t.is(sched.offers.length, 300);
  t.true(messages.n > 1, `${messages.n} ResourceOffers messages`);
  t.is(sim.bus.stats().oversized, 0, 'nothing was too large for the bus');
});

test('an agent with more tasks than one message can carry re-registers in parts, and the master knows every task', async (t) => {
  const sim = await SimCluster.start({ agentResources: 'cpus:400;mem:409600', maxPayload: 16 * 1024 });
  t.teardown(() => sim.stop());
  sim.startMaster('m2');
  await sim.settle();
  const sched = new RecordingScheduler();
  const d = sim.driver(sched);
  await sim.settle();
  const executor: ExecutorInfo = { executorId: 'e', command: { value: 'x' }, resources: parseResources('cpus:0.1;mem:32') };
  // A launch is one message (its offers are used once), so the framework launches 25 at a time.
  for (let batch = 0; batch < 16; batch++) {
    const [offer] = sched.takeOffers();
    const tasks: TaskInfo[] = Array.from({ length: 25 }, (_, i) => ({ taskId: `task-${batch * 25 + i}`, name: 't', agentId: offer!.agentId, resources: parseResources('cpus:0.5;mem:64'), executor }));
    d.launchTasks([offer!.id], tasks, { refuseSeconds: 0 });
    await sim.advance(1000);
  }
  t.is(sched.updates.filter((u) => u.state === 'TASK_RUNNING').length, 400);
  const parts = sim.count('ReregisterAgent');
  await sim.killLeader();
  await sim.advance(2000, 100);
  t.true(parts.n > 1, `${parts.n} parts`);
  t.true(sim.leader()!.host.actor.getSnapshot().hasTag('serving'));
  t.is(sim.masterState.frameworks.get(sched.frameworkId!)?.tasks.size, 400);
  t.is(sim.metrics()['master/tasks_running'], 400);
  t.is(sim.bus.stats().oversized, 0);
});

test('a framework torn down on many agents: each agent is told once, and everything it held is offered again', async (t) => {
  const sim = await SimCluster.start({ agents: 40, agentResources: 'cpus:1;mem:512' });
  t.teardown(() => sim.stop());
  const a = { sched: new RecordingScheduler() };
  const d = sim.driver(a.sched, { name: 'a' });
  await sim.settle();
  const offers = a.sched.takeOffers();
  t.is(offers.length, 40);
  for (const o of offers) {
    const task: TaskInfo = { taskId: `t-${o.agentId}`, name: 't', agentId: o.agentId, resources: parseResources('cpus:1;mem:512'), command: { value: 'sleep 1000' } };
    d.launchTasks([o.id], [task]);
  }
  await sim.settle();
  t.is(sim.metrics()['master/tasks_running'], 40);
  const shutdowns = sim.count('ShutdownFramework');
  const b = await sim.framework({ name: 'b' });
  t.is(b.offer, undefined, 'nothing is free while a runs');
  await d.stop();
  await sim.advance(1000);
  t.is(shutdowns.n, 40, 'one ShutdownFramework per agent');
  t.is(new Set(b.sched.offers.map((o) => o.agentId)).size, 40, 'b is offered every agent');
  for (const o of b.sched.offers) t.is(scalarOf(o.resources, 'cpus'), 1, `all of ${o.agentId}`);
  t.is(sim.metrics()['master/tasks_running'], 0);
});
