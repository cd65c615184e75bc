/**
 * Operator calls as the HTTP API makes them (`MasterHandle.operatorCall`): each is answered with
 * the master's decision — done once made (and stored, where it must be), refused by the ACLs, or
 * naming nothing the master knows — and marking an agent gone removes it for good (Mesos
 * `Master::markGone`: its tasks TASK_GONE_BY_OPERATOR, it is told to shut down, and it is refused
 * when it comes back).
 * @see Mesos `MasterTest.TeardownFramework` (HTTP), `MasterQuotaTest`, `MasterTest.MarkAgentGone`.
 */
import test from 'ava';
import { parseAcls } from '../../actors/master/acls.ts';
import { pid, subjectFor } from '../../protocols/pid.ts';
import { Codec, envelope } from '../../protocols/envelope.ts';
import { RecordingScheduler, SimCluster, commandTask } from '../helpers/sim-cluster.ts';

async function withRunningTask(sim: SimCluster, framework: Parameters<SimCluster['driver']>[1] = {}) {
  const sched = new RecordingScheduler();
  const d = sim.driver(sched, framework);
  await sim.settle();
  const [offer] = sched.takeOffers();
  d.launchTasks([offer!.id], [commandTask(offer!, 't1', 'sleep 1000', 'cpus:0.5;mem:64')]);
  await sim.settle();
  return { sched, d, offer: offer! };
}

test('a teardown is answered: unknown framework, refused by the ACLs, done (the framework completed, its task killed)', async (t) => {
  const acls = parseAcls({ teardown_frameworks: [{ principals: { values: ['ops'] }, framework_principals: { type: 'ANY' } }, { principals: { type: 'ANY' }, framework_principals: { type: 'NONE' } }] });
  const sim = await SimCluster.start({ masterFlags: { acls } });
  t.teardown(() => sim.stop());
  const { sched } = await withRunningTask(sim);
  t.true(sched.statesOf('t1').includes('TASK_RUNNING'));
  const master = sim.leader()!;
  const id = sched.frameworkId!;

  const unknown = master.operatorCall({ type: 'TeardownFramework', body: { frameworkId: 'no-such' } }, 'ops');
  await sim.settle();
  t.deepEqual(await unknown, { outcome: 'unknown', message: 'No framework found with ID no-such' });

  const refused = master.operatorCall({ type: 'TeardownFramework', body: { frameworkId: id } }, 'eve');
  await sim.settle();
  t.is((await refused).outcome, 'forbidden');
  t.true(sim.masterState.frameworks.has(id));

  const done = master.operatorCall({ type: 'TeardownFramework', body: { frameworkId: id } }, 'ops');
  await sim.settle();
  t.deepEqual(await done, { outcome: 'ok' });
  t.false(sim.masterState.frameworks.has(id));
  const completed = sim.masterState.completedFrameworks.find((f) => f.id === id);
  t.is(completed?.completedTasks.find((x) => x.taskId === 't1')?.state, 'TASK_KILLED');
});

test('quota and weights are answered once stored; removing a quota a role does not have names the role', async (t) => {
  const acls = parseAcls({ update_quotas: [{ principals: { values: ['ops'] }, roles: { type: 'ANY' } }, { principals: { type: 'ANY' }, roles: { type: 'NONE' } }] });
  const sim = await SimCluster.start({ masterFlags: { acls } });
  t.teardown(() => sim.stop());
  const master = sim.leader()!;
  const call = async (msg: Parameters<typeof master.operatorCall>[0], principal?: string) => {
    const p = master.operatorCall(msg, principal);
    await sim.settle();
    return p;
  };

  t.is((await call({ type: 'UpdateQuota', body: { role: 'dev', guarantees: { cpus: 1 } } }, 'eve')).outcome, 'forbidden');
  t.false(sim.masterState.registry.quotas.has('dev'));
  t.deepEqual(await call({ type: 'UpdateQuota', body: { role: 'dev', guarantees: { cpus: 1 }, limits: { cpus: 2, mem: 512 } } }, 'ops'), { outcome: 'ok' });
  t.deepEqual(sim.masterState.registry.quotas.get('dev'), { guarantees: { cpus: 1 }, limits: { cpus: 2, mem: 512 } });
  t.deepEqual((await sim.registry.load()).quotas, [{ role: 'dev', quota: { guarantees: { cpus: 1 }, limits: { cpus: 2, mem: 512 } } }]);

  t.deepEqual(await call({ type: 'UpdateQuota', body: { role: 'dev' } }, 'ops'), { outcome: 'ok' });
  t.false(sim.masterState.registry.quotas.has('dev'));
  t.deepEqual(await call({ type: 'UpdateQuota', body: { role: 'dev' } }, 'ops'), { outcome: 'unknown', message: "No quota set for role 'dev'" });

  t.deepEqual(await call({ type: 'UpdateWeights', body: { weights: { dev: 2.5 } } }), { outcome: 'ok' });
  t.is(sim.masterState.allocator.weightOf('dev'), 2.5);
  t.is(sim.masterState.registry.weights.get('dev'), 2.5);
});

test('an agent marked gone: its task ends TASK_GONE_BY_OPERATOR, it is told to shut down, stays gone, and is refused when it comes back', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const { sched } = await withRunningTask(sim, { capabilities: ['PARTITION_AWARE'] });
  const agent = sim.agents[0]!;
  const agentId = agent.host.actor.getSnapshot().context.state.agentId!;
  const master = sim.leader()!;
  const shutdowns = sim.count('ShutdownAgent');

  const unknown = master.operatorCall({ type: 'MarkAgentGone', body: { agentId: 'no-such' } }, undefined);
  await sim.settle();
  t.deepEqual(await unknown, { outcome: 'unknown', message: 'Agent no-such not found' });

  const gone = master.operatorCall({ type: 'MarkAgentGone', body: { agentId } }, undefined);
  await sim.settle();
  t.deepEqual(await gone, { outcome: 'ok' });
  const last = sched.updates.filter((u) => u.taskId === 't1').at(-1);
  t.like(last, { state: 'TASK_GONE_BY_OPERATOR', reason: 'REASON_AGENT_REMOVED_BY_OPERATOR', source: 'SOURCE_MASTER' });
  t.true(sched.lostAgents.includes(agentId));
  t.false(sim.masterState.agents.has(agentId));
  t.true(sim.masterState.registry.gone.has(agentId));
  t.true((await sim.registry.load()).agents.some((a) => a.agentId === agentId && a.state === 'gone'));
  t.is(shutdowns.n, 1);
  t.true(agent.host.actor.getSnapshot().hasTag('shutDown'), 'the agent stopped registering');
  t.is(sim.masterState.frameworks.get(sched.frameworkId!)?.completedTasks.find((x) => x.taskId === 't1')?.state, 'TASK_GONE_BY_OPERATOR');
  t.is(sim.metrics()['master/slaves_gone'], 1);

  // Marking it again changes nothing and is answered at once.
  const again = master.operatorCall({ type: 'MarkAgentGone', body: { agentId } }, undefined);
  await sim.settle();
  t.deepEqual(await again, { outcome: 'ok' });

  // The agent comes back (say, restarted on its work dir): refused and told to shut down again.
  const codec = new Codec();
  const from = pid(sim.cluster, 'agent', 'revenant');
  const info = agent.host.actor.getSnapshot().context.info;
  sim.bus.transport().publish(subjectFor(master.pid, 'ReregisterAgent', 'agent'), codec.encode(envelope(from, 'r-1', {
    type: 'ReregisterAgent', body: { agent: { ...info, id: agentId }, version: '1', tasks: [], executors: [], frameworks: [] },
  })));
  await sim.settle();
  t.false(sim.masterState.agents.has(agentId));
  t.is(shutdowns.n, 2);
  t.is(sim.metrics()['master/invalid_reregistrations'], 1);
});

test('an unreachable agent marked gone: the tasks kept aside for it end TASK_GONE_BY_OPERATOR', async (t) => {
  const sim = await SimCluster.start({ masterFlags: { agentPingTimeoutMs: 5000, maxAgentPingTimeouts: 2 } });
  t.teardown(() => sim.stop());
  const { sched } = await withRunningTask(sim, { capabilities: ['PARTITION_AWARE'] });
  const agentId = sim.agents[0]!.host.actor.getSnapshot().context.state.agentId!;
  sim.partition(sim.agents[0]!.pid);
  await sim.advance(20_000);
  t.true(sim.masterState.registry.unreachable.has(agentId));
  t.is(sched.statesOf('t1').at(-1), 'TASK_UNREACHABLE');

  const gone = sim.leader()!.operatorCall({ type: 'MarkAgentGone', body: { agentId } }, undefined);
  await sim.settle();
  t.deepEqual(await gone, { outcome: 'ok' });
  t.is(sched.statesOf('t1').at(-1), 'TASK_GONE_BY_OPERATOR');
  t.false(sim.masterState.registry.unreachable.has(agentId));
  t.true(sim.masterState.registry.gone.has(agentId));
  t.is(sim.masterState.frameworks.get(sched.frameworkId!)?.unreachableTasks.size, 0);
});
