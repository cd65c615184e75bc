/**
 * The master authorizes with `--acls` (Mesos `docs/authorization.md`): which principal registers
 * with which role, runs tasks as which user, tears down whose framework, and sets weights. Each
 * denial is a clear answer (a framework error, a TASK_ERROR with REASON_TASK_UNAUTHORIZED, or a
 * log line for an operator), counted under `master/unauthorized/<action>`.
 * @see Mesos `MasterAuthorizationTest` (`UnauthorizedTask`, `UnauthorizedRole`, `TeardownFramework`).
 */
import test from 'ava';
import { parseAcls } from '../../actors/master/acls.ts';
import { RecordingScheduler, SimCluster, commandTask } from '../helpers/sim-cluster.ts';

const acls = parseAcls({
  permissive: false,
  register_frameworks: [{ principals: { values: ['alice'] }, roles: { values: ['*'] } }],
  run_tasks: [{ principals: { values: ['alice'] }, users: { values: ['nobody'] } }],
  teardown_frameworks: [{ principals: { values: ['ops'] }, framework_principals: { type: 'ANY' } }],
  update_weights: [{ principals: { values: ['ops'] }, roles: { type: 'ANY' } }],
});

test('ACLs decide who registers, runs as whom, tears down and sets weights; each denial is answered and counted', async (t) => {
  const sim = await SimCluster.start({ masterFlags: { acls } });
  t.teardown(() => sim.stop());
  const metric = (k: string) => sim.masterState.metrics[k] ?? 0;

  // bob may register with no role (UnauthorizedRole).
  const bob = new RecordingScheduler();
  sim.driver(bob, { principal: 'bob' });
  await sim.settle();
  t.deepEqual(bob.errors, ["Not authorized to register with role '*'"]);
  t.is(metric('master/unauthorized/register_frameworks'), 1);

  // alice registers; she may run as nobody, not as root (UnauthorizedTask).
  const { sched, d, offer } = await sim.framework({ principal: 'alice', user: 'nobody' });
  t.truthy(offer);
  const asRoot = commandTask(offer!, 'as-root', 'true', 'cpus:0.5;mem:64');
  asRoot.command = { value: 'true', user: 'root' };
  d.launchTasks([offer!.id], [commandTask(offer!, 'as-nobody', 'sleep 1000', 'cpus:0.5;mem:64'), asRoot]);
  await sim.settle();
  const denied = sched.updates.find((u) => u.taskId === 'as-root');
  t.like(denied, { state: 'TASK_ERROR', reason: 'REASON_TASK_UNAUTHORIZED', message: "Not authorized to launch as user 'root'" });
  t.true(sched.statesOf('as-nobody').includes('TASK_RUNNING'));
  t.is(metric('master/unauthorized/run_tasks'), 1);

  // An operator without a principal may neither set weights nor tear alice down; ops may.
  const id = sched.frameworkId!;
  sim.operator({ type: 'UpdateWeights', body: { weights: { '*': 3 } } });
  sim.operator({ type: 'TeardownFramework', body: { frameworkId: id } });
  await sim.settle();
  t.true(sim.masterState.frameworks.has(id), 'not torn down');
  t.is(metric('master/unauthorized/teardown_frameworks'), 1);
  t.is(metric('master/unauthorized/update_weights'), 1);
  sim.operator({ type: 'TeardownFramework', body: { frameworkId: id } }, 'ops');
  await sim.settle();
  t.false(sim.masterState.frameworks.has(id), 'torn down by ops');
});
