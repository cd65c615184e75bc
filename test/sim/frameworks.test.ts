/**
 * Framework-facing behaviour on a simulated cluster: custom executors shared by tasks, schedulers
 * written as XState actors, and two frameworks sharing the agents.
 */
import test from 'ava';
import { assign, createActor, setup } from 'xstate';
import { parseResources, scalar } from '../../protocols/resources.ts';
import type { ExecutorInfo, Offer, TaskStatus } from '../../protocols/records.ts';
import { schedulerFromActor, type SchedulerDriver } from '../../runtime/scheduler-driver.ts';
import { RecordingScheduler, SimCluster } from '../helpers/sim-cluster.ts';

const executor: ExecutorInfo = {
  executorId: 'shared',
  command: { value: 'my-executor' },
  resources: parseResources('cpus:0.1;mem:32'),
};

test('tasks with the same executor id share one running executor', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const sched = new RecordingScheduler();
  const d = sim.driver(sched);
  await sim.settle();
  let [offer] = sched.takeOffers();
  d.launchTasks([offer!.id], [{ taskId: 'e1', name: 'e1', agentId: offer!.agentId, resources: parseResources('cpus:0.5;mem:64'), executor }], { refuseSeconds: 0 });
  await sim.advance(1000);
  [offer] = sched.takeOffers();
  // The second offer names the running executor and no longer includes its resources:
  // 2 − 0.1 (executor) − 0.5 (task) = 1.4 cpus.
  t.deepEqual(offer!.executorIds, ['shared']);
  t.is(scalar(offer!.resources, 'cpus'), 1.4);
  d.launchTasks([offer!.id], [{ taskId: 'e2', name: 'e2', agentId: offer!.agentId, resources: parseResources('cpus:0.5;mem:64'), executor }]);
  await sim.settle();
  t.is(sim.containerizer.launched.length, 1, 'one executor process for both tasks');
  t.is(sched.statesOf('e1').at(-1), 'TASK_RUNNING');
  t.is(sched.statesOf('e2').at(-1), 'TASK_RUNNING');
});

test('a scheduler written as an XState actor runs tasks through schedulerFromActor', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  type Ev =
    | { type: 'resourceOffers'; driver: SchedulerDriver; offers: Offer[] }
    | { type: 'statusUpdate'; driver: SchedulerDriver; status: TaskStatus }
    | { type: string; driver: SchedulerDriver };
  const machine = setup({
    types: { context: {} as { launched: number; finished: number }, events: {} as Ev },
    actions: {
      launchOnOffers: assign(({ context, event }) => {
        if (event.type !== 'resourceOffers' || !('offers' in event)) return {};
        let launched = context.launched;
        for (const offer of event.offers) {
          if (launched >= 3) {
            event.driver.declineOffer(offer.id);
            continue;
          }
          const tasks = [0, 1, 2].map((i) => ({
            taskId: `x${i}`, name: `x${i}`, agentId: offer.agentId, resources: parseResources('cpus:0.5;mem:32'), command: { value: 'exit 0' },
          }));
          event.driver.launchTasks([offer.id], tasks);
          launched += tasks.length;
        }
        return { launched };
      }),
      countFinished: assign({
        finished: ({ context, event }) => context.finished + (event.type === 'statusUpdate' && 'status' in event && event.status.state === 'TASK_FINISHED' ? 1 : 0),
      }),
    },
  }).createMachine({
    context: { launched: 0, finished: 0 },
    initial: 'working',
    states: {
      working: {
        on: { resourceOffers: { actions: 'launchOnOffers' }, statusUpdate: { actions: 'countFinished' } },
        always: { guard: ({ context }) => context.finished === 3, target: 'done' },
      },
      done: { type: 'final' },
    },
  });
  const actor = createActor(machine).start();
  sim.driver(schedulerFromActor(actor));
  await sim.settle();
  t.is(actor.getSnapshot().status, 'done');
  t.is(actor.getSnapshot().context.finished, 3);
});

test('two frameworks share two agents: each gets one whole agent (fair allocation)', async (t) => {
  const sim = await SimCluster.start({ agents: 2 });
  t.teardown(() => sim.stop());
  const a = new RecordingScheduler();
  const b = new RecordingScheduler();
  sim.driver(a, { name: 'a' });
  await sim.settle();
  // a holds both agents' offers; declining them lets the allocator re-balance once b is there.
  for (const o of a.takeOffers()) sim.drivers[0]!.declineOffer(o.id, { refuseSeconds: 0 });
  sim.driver(b, { name: 'b' });
  await sim.advance(1000);
  // shares: a = 2/4 cpus, b = 2/4 cpus after one agent each.
  t.is(a.offers.length, 1);
  t.is(b.offers.length, 1);
  t.not(a.offers[0]!.agentId, b.offers[0]!.agentId);
});
