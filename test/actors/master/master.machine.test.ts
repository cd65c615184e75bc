/**
 * The master machine driven event by event (the second rung of the test ladder): its life from
 * standby through recovering to serving, what it keeps while it reads the registry, what a lost
 * lease and a broken invariant do, and — as a property — that no sequence of valid messages can
 * make it give up its leadership.
 */
import test from 'ava';
import fc from 'fast-check';
import { createActor } from 'xstate';
import { createMasterMachine, type MasterEvent } from '../../../actors/master/master.machine.ts';
import type { RegistrySnapshot } from '../../../actors/master/registry.ts';
import { allocationWanted } from '../../../actors/master/state.ts';
import { SimClock } from '../../../runtime/clock.ts';
import { parseResources } from '../../../protocols/resources.ts';
import type { AgentInfo, FrameworkInfo } from '../../../protocols/records.ts';

const SELF = 'mesos.t.master.anonymous.m1';
const AGENT = (i: number) => `mesos.t.agent.anonymous.a${i}`;
const SCHED = (i: number) => `mesos.t.scheduler.anonymous.s${i}`;
const info = (i: number, id?: string): AgentInfo => ({ hostname: `h${i}`, resources: parseResources('cpus:2;mem:1024'), attributes: [], ...(id ? { id } : {}) });

function master(flags = {}) {
  const clock = new SimClock();
  let seq = 0;
  const actor = createActor(createMasterMachine({ now: () => clock.now(), newId: () => `id${++seq}` }), {
    input: { self: SELF, runId: 'm1', hostname: 'm1', flags },
    clock: clock as never,
  });
  const emitted: Array<{ type: string } & Record<string, any>> = [];
  actor.on('*', (e) => emitted.push(e as never));
  actor.start();
  const send = (e: MasterEvent) => actor.send(e);
  const bus = (type: string, from: string, body: unknown) => send({ type, from, body } as never);
  const take = (type: string) => {
    const out = emitted.filter((e) => e.type === type);
    emitted.length = 0;
    return out;
  };
  const sent = (msgType: string) => emitted.filter((e) => e.type === 'send' && e.msg.type === msgType);
  return { actor, clock, send, bus, emitted, take, sent };
}

const empty: RegistrySnapshot = { agents: [], quotas: [], weights: {} };

test('standby ignores messages; winning the lease reads the registry before serving', (t) => {
  const m = master();
  t.true(m.actor.getSnapshot().matches('standby'));
  m.bus('RegisterAgent', AGENT(1), { agent: info(1), version: '1' });
  t.is(m.sent('AgentRegistered').length, 0);
  t.is(m.actor.getSnapshot().context.state.metrics['master/dropped_messages_standby'], 1);
  m.send({ type: 'lease.acquired', epoch: 7 });
  t.true(m.actor.getSnapshot().hasTag('recovering'));
  t.is(m.take('effect.registryLoad').length, 1);
  t.is(m.actor.getSnapshot().context.epoch, 7);
});

test('messages that arrive while the registry is read are kept, then handled in order', (t) => {
  const m = master();
  m.send({ type: 'lease.acquired', epoch: 1 });
  m.bus('RegisterAgent', AGENT(1), { agent: info(1), version: '1' });
  m.bus('SubscribeFramework', SCHED(1), { framework: { name: 'f' } });
  t.is(m.emitted.filter((e) => e.type === 'effect.registry' || e.type === 'send').length, 0, 'nothing handled yet');
  m.send({ type: 'registry.loaded', epoch: 1, snapshot: empty });
  m.clock.advance(0); // the next turn of the loop
  const writes = m.emitted.filter((e) => e.type === 'effect.registry');
  t.is(writes.length, 1);
  t.is(writes[0]!.op.op, 'admit');
  t.is(m.sent('FrameworkRegistered').length, 1);
  t.is(m.actor.getSnapshot().context.state.metrics['master/messages_deferred'], 2);
  t.true(m.actor.getSnapshot().hasTag('serving'), 'no agent to wait for');
});

test('a long queue of kept messages is handled a chunk per turn of the loop; what arrives meanwhile waits behind it', (t) => {
  const m = master({ replayChunk: 100 });
  m.send({ type: 'lease.acquired', epoch: 1 });
  for (let i = 0; i < 250; i++) m.bus('SubscribeFramework', `mesos.t.scheduler.anonymous.s${i}`, { framework: { name: `f${i}` } });
  m.send({ type: 'registry.loaded', epoch: 1, snapshot: empty });
  const answered = () => m.sent('FrameworkRegistered').map((e) => e.to as string);
  /** One turn of the loop: the earliest timer due now fires. */
  const turn = () => {
    while (m.clock.nextDue() === m.clock.now() && !m.emitted.some((e) => e.type === 'send')) m.clock.step();
  };
  turn();
  t.is(answered().length, 100, 'one chunk per turn');
  t.is(answered()[0], 'mesos.t.scheduler.anonymous.s0', 'in the order they came');
  // A sender with a message still kept waits behind it; any other is answered at once.
  m.emitted.length = 0;
  m.bus('SubscribeFramework', 'mesos.t.scheduler.anonymous.s249', { framework: { name: 'f249' } });
  m.bus('SubscribeFramework', 'mesos.t.scheduler.anonymous.late', { framework: { name: 'late' } });
  t.deepEqual(answered(), ['mesos.t.scheduler.anonymous.late']);
  m.emitted.length = 0;
  turn();
  t.is(answered().length, 100, 'the second chunk');
  t.false(answered().includes('mesos.t.scheduler.anonymous.s249'));
  m.emitted.length = 0;
  m.clock.advance(0);
  const rest = answered();
  t.is(rest.length, 50, "s249's repeat took its first message's place");
  t.is(rest.at(-1), 'mesos.t.scheduler.anonymous.s249');
  t.true(m.actor.getSnapshot().hasTag('serving'));
});

test('an agent is admitted only once its registry write is stored; a retry meanwhile costs nothing', (t) => {
  const m = master();
  m.send({ type: 'lease.acquired', epoch: 1 });
  m.send({ type: 'registry.loaded', epoch: 1, snapshot: empty });
  m.bus('RegisterAgent', AGENT(1), { agent: info(1), version: '1' });
  m.bus('RegisterAgent', AGENT(1), { agent: info(1), version: '1' });
  const writes = m.emitted.filter((e) => e.type === 'effect.registry');
  t.is(writes.length, 1, 'the retry wrote nothing');
  t.is(m.sent('AgentRegistered').length, 0, 'not answered before it is stored');
  m.send({ type: 'registry.applied', epoch: 1, opId: writes[0]!.opId });
  t.is(m.sent('AgentRegistered').length, 1);
  t.is(m.actor.getSnapshot().context.state.agents.size, 1);
});

test('registry answers of an earlier term are ignored', (t) => {
  const m = master();
  m.send({ type: 'lease.acquired', epoch: 1 });
  m.send({ type: 'registry.loaded', epoch: 1, snapshot: empty });
  m.bus('RegisterAgent', AGENT(1), { agent: info(1), version: '1' });
  const opId = m.emitted.find((e) => e.type === 'effect.registry')!.opId as number;
  m.send({ type: 'lease.lost', reason: 'test' });
  m.send({ type: 'lease.acquired', epoch: 2 });
  m.send({ type: 'registry.applied', epoch: 1, opId });
  m.send({ type: 'registry.loaded', epoch: 1, snapshot: empty });
  t.true(m.actor.getSnapshot().matches({ leading: { phase: { recovering: 'loadingRegistry' } } }), 'still waiting for its own read');
  t.is(m.sent('AgentRegistered').length, 0);
});

test('agents of the registry are recovering until they re-register; then the master serves', (t) => {
  const m = master();
  m.send({ type: 'lease.acquired', epoch: 1 });
  const snapshot: RegistrySnapshot = { agents: [{ agentId: 'x-S1', state: 'admitted', info: info(1, 'x-S1') }, { agentId: 'x-S2', state: 'admitted', info: info(2, 'x-S2') }], quotas: [], weights: {} };
  m.send({ type: 'registry.loaded', epoch: 1, snapshot });
  t.true(m.actor.getSnapshot().matches({ leading: { phase: { recovering: 'awaitingAgents' } } }));
  m.bus('ReregisterAgent', AGENT(1), { agent: info(1, 'x-S1'), version: '1', tasks: [], executors: [], frameworks: [] });
  t.true(m.actor.getSnapshot().hasTag('recovering'));
  m.bus('ReregisterAgent', AGENT(2), { agent: info(2, 'x-S2'), version: '1', tasks: [], executors: [], frameworks: [] });
  t.true(m.actor.getSnapshot().hasTag('serving'));
  t.is(m.emitted.filter((e) => e.type === 'effect.registry').length, 0, 'known agents need no write');
  t.is(m.sent('AgentReregistered').length, 2);
});

test('re-registrations delivered together (the host coalesces a burst) are each handled, kept or ignored as if sent one by one', (t) => {
  const rereg = (i: number) => ({ type: 'ReregisterAgent', from: AGENT(i), body: { agent: info(i, `x-S${i}`), version: '1', tasks: [], executors: [], frameworks: [] } });
  const together = (...is: number[]) => ({ ...rereg(is[0]!), more: is.slice(1).map(rereg) }) as never;
  const m = master();
  m.send(together(1, 2));
  t.is(m.actor.getSnapshot().context.state.metrics['master/dropped_messages_standby'], 2, 'a standby counts each');
  m.send({ type: 'lease.acquired', epoch: 1 });
  m.send(together(1, 2));
  t.is(m.actor.getSnapshot().context.state.metrics['master/messages_deferred'], 2, 'kept one by one while the registry is read');
  const agents = [1, 2, 3, 4].map((i) => ({ agentId: `x-S${i}`, state: 'admitted' as const, info: info(i, `x-S${i}`) }));
  m.send({ type: 'registry.loaded', epoch: 1, snapshot: { agents, quotas: [], weights: {} } });
  m.send(together(3, 4)); // arrives while the kept ones are replayed: waits behind them
  t.is(m.sent('AgentReregistered').length, 0);
  m.clock.advance(0);
  m.clock.advance(0);
  t.deepEqual(m.sent('AgentReregistered').map((e) => e.to), [AGENT(1), AGENT(2), AGENT(3), AGENT(4)], 'each answered, in order');
  t.true(m.actor.getSnapshot().hasTag('serving'));
});

test('an agent restarted within the retry window, reporting fewer tasks, is reconciled, not answered as a retry', (t) => {
  const m = master();
  m.send({ type: 'lease.acquired', epoch: 1 });
  m.send({ type: 'registry.loaded', epoch: 1, snapshot: { agents: [{ agentId: 'x-S1', state: 'admitted', info: info(1, 'x-S1') }], quotas: [], weights: {} } });
  const task = { taskId: 't1', name: 't1', frameworkId: 'fw-1', agentId: 'x-S1', state: 'TASK_RUNNING' as const, resources: parseResources('cpus:1;mem:64') };
  const report = (tasks: unknown[]) => ({ agent: info(1, 'x-S1'), version: '1', tasks, executors: [], frameworks: [{ id: 'fw-1', name: 'f' }] });
  m.bus('ReregisterAgent', AGENT(1), report([task]));
  m.bus('ReregisterAgent', AGENT(1), report([task])); // a retry: answered again, nothing to reconcile
  m.bus('ReregisterAgent', AGENT(1), report([])); // restarted: t1 is gone
  const answers = m.sent('AgentReregistered').map((e) => e.msg.body);
  t.is(answers.length, 3);
  t.is(answers[1].reconciliations, undefined);
  t.deepEqual(answers[2].reconciliations?.map((r: { frameworkId: string; taskIds: string[] }) => [r.frameworkId, r.taskIds]), [['fw-1', ['t1']]]);
  t.is(m.actor.getSnapshot().context.state.metrics['master/slave_reregistration_retries'], 1);
});

test('agents that do not come back within agent_reregister_timeout are marked unreachable, and the master serves', (t) => {
  const m = master({ agentReregisterTimeoutMs: 60_000 });
  m.send({ type: 'lease.acquired', epoch: 1 });
  m.send({ type: 'registry.loaded', epoch: 1, snapshot: { agents: [{ agentId: 'x-S1', state: 'admitted', info: info(1, 'x-S1') }], quotas: [], weights: {} } });
  m.clock.advance(59_000);
  t.true(m.actor.getSnapshot().hasTag('recovering'));
  m.clock.advance(1000);
  t.true(m.actor.getSnapshot().hasTag('serving'));
  const w = m.emitted.filter((e) => e.type === 'effect.registry');
  t.deepEqual(w.map((e) => [e.op.op, e.op.agentId]), [['markUnreachable', 'x-S1']]);
});

test('losing the lease drops all soft state and stands by in the same process', (t) => {
  const m = master();
  m.send({ type: 'lease.acquired', epoch: 1 });
  m.send({ type: 'registry.loaded', epoch: 1, snapshot: empty });
  m.bus('SubscribeFramework', SCHED(1), { framework: { name: 'f' } });
  t.is(m.actor.getSnapshot().context.state.frameworks.size, 1);
  m.send({ type: 'lease.lost', reason: 'expired' });
  const s = m.actor.getSnapshot();
  t.true(s.matches('standby'));
  t.is(s.status, 'active', 'the machine lives on');
  t.is(s.context.state.frameworks.size, 0);
  t.is(s.context.epoch, 0);
  // And it can lead again.
  m.send({ type: 'lease.acquired', epoch: 3 });
  t.true(m.actor.getSnapshot().hasTag('leading'));
});

test('a broken invariant inside a handler ends the leadership instead of serving half-updated state', (t) => {
  const m = master();
  m.send({ type: 'lease.acquired', epoch: 1 });
  m.send({ type: 'registry.loaded', epoch: 1, snapshot: empty });
  // An internal inconsistency (no message can cause it): a write waits to mark unreachable an
  // agent the master does not have.
  const s = m.actor.getSnapshot().context.state;
  s.pendingOps.set(99, { op: { op: 'markUnreachable', agentId: 'ghost', info: info(9, 'ghost'), time: 0 }, then: { kind: 'markUnreachable', agentId: 'ghost', time: 0, why: 'test' } });
  m.emitted.length = 0;
  m.send({ type: 'registry.applied', epoch: 1, opId: 99 });
  t.true(m.actor.getSnapshot().matches('standby'));
  t.is(m.emitted.filter((e) => e.type === 'effect.resign').length, 1, 'the runtime is told to give the lease up');
});

/** Valid messages from agents, schedulers and an operator, over small pools of ids. */
function messages() {
  const agent = fc.nat(3);
  const sched = fc.nat(2);
  const fwId = fc.constantFrom('m1-0000', 'm1-0001', 'm1-0002', 'other');
  const taskId = fc.constantFrom('t1', 't2', 't3');
  const agentId = fc.constantFrom('m1-S0', 'm1-S1', 'm1-S2', 'x-S1', 'nope');
  const state = fc.constantFrom('TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST', 'TASK_UNKNOWN');
  const framework: fc.Arbitrary<FrameworkInfo> = fc.record({ name: fc.constant('f'), capabilities: fc.constantFrom([], ['PARTITION_AWARE']) }, { requiredKeys: ['name'] });
  const task = fc.record({ taskId, name: fc.constant('t'), frameworkId: fwId, agentId, state, resources: fc.constant(parseResources('cpus:0.5;mem:64')) });
  const offerIds = fc.array(fc.constantFrom('m1-O0', 'm1-O1', 'm1-O2', 'm1-O3', 'zz'), { maxLength: 2 });
  const launch = fc.record({ taskId, name: fc.constant('t'), agentId, resources: fc.constant(parseResources('cpus:0.5;mem:64')), command: fc.constant({ value: 'true' }) });
  return fc.oneof(
    fc.record({ type: fc.constant('RegisterAgent'), from: agent.map(AGENT), body: agent.map((i) => ({ agent: info(i), version: '1' })) }),
    fc.record({ type: fc.constant('ReregisterAgent'), from: agent.map(AGENT), body: fc.record({ agent: agentId.map((id) => info(1, id)), version: fc.constant('1'), tasks: fc.array(task, { maxLength: 3 }), executors: fc.constant([]), frameworks: fc.array(fwId.map((id) => ({ id, name: 'f' })), { maxLength: 2 }) }) }),
    fc.record({ type: fc.constant('UnregisterAgent'), from: agent.map(AGENT), body: agentId.map((agentId) => ({ agentId })) }),
    fc.record({ type: fc.constant('Pong'), from: agent.map(AGENT), body: fc.constant({}) }),
    fc.record({ type: fc.constant('StatusUpdate'), from: agent.map(AGENT), body: fc.record({ update: fc.record({ frameworkId: fwId, uuid: fc.constantFrom('u1', 'u2', 'u3'), status: fc.record({ taskId, state, timestamp: fc.constant(1) }) }) }) }),
    fc.record({ type: fc.constant('ExitedExecutor'), from: agent.map(AGENT), body: fc.record({ agentId, frameworkId: fwId, executorId: fc.constantFrom('e1', 't1'), status: fc.integer() }) }),
    fc.record({ type: fc.constant('SubscribeFramework'), from: sched.map(SCHED), body: fc.record({ framework: fc.tuple(framework, fc.option(fwId)).map(([f, id]) => (id ? { ...f, id } : f)) }) }),
    fc.record({ type: fc.constant('TeardownFramework'), from: sched.map(SCHED), body: fwId.map((frameworkId) => ({ frameworkId })) }),
    fc.record({ type: fc.constant('DeactivateFramework'), from: sched.map(SCHED), body: fwId.map((frameworkId) => ({ frameworkId })) }),
    fc.record({ type: fc.constant('LaunchTasks'), from: sched.map(SCHED), body: fc.record({ frameworkId: fwId, offerIds, tasks: fc.array(launch, { maxLength: 2 }) }) }),
    fc.record({ type: fc.constant('DeclineOffers'), from: sched.map(SCHED), body: fc.record({ frameworkId: fwId, offerIds }) }),
    fc.record({ type: fc.constant('ReviveOffers'), from: sched.map(SCHED), body: fwId.map((frameworkId) => ({ frameworkId })) }),
    fc.record({ type: fc.constant('KillTask'), from: sched.map(SCHED), body: fc.record({ frameworkId: fwId, taskId }) }),
    fc.record({ type: fc.constant('AcknowledgeStatusUpdate'), from: sched.map(SCHED), body: fc.record({ frameworkId: fwId, agentId, taskId, uuid: fc.constantFrom('u1', 'u2', 'u3') }) }),
    fc.record({ type: fc.constant('ReconcileTasks'), from: sched.map(SCHED), body: fc.record({ frameworkId: fwId, statuses: fc.array(fc.record({ taskId, agentId }, { requiredKeys: ['taskId'] }), { maxLength: 2 }) }) }),
    fc.record({ type: fc.constant('Heartbeat'), from: sched.map(SCHED), body: fwId.map((frameworkId) => ({ frameworkId })) }),
    fc.record({ type: fc.constant('UpdateWeights'), from: fc.constant('mesos.t.operator.anonymous.op'), body: fc.constant({ weights: { '*': 2 } }) }),
    fc.record({ type: fc.constant('UpdateQuota'), from: fc.constant('mesos.t.operator.anonymous.op'), body: fc.constantFrom({ role: '*', guarantees: { cpus: 1 } }, { role: '*' }) }),
    fc.record({ type: fc.constant('TeardownFramework'), from: fc.constant('mesos.t.operator.anonymous.op'), body: fwId.map((frameworkId) => ({ frameworkId })) }),
    fc.record({ type: fc.constant('SuppressOffers'), from: sched.map(SCHED), body: fwId.map((frameworkId) => ({ frameworkId })) }),
    fc.record({ type: fc.constant('RequestResources'), from: sched.map(SCHED), body: fc.record({ frameworkId: fwId, excludedAgents: fc.array(agentId, { maxLength: 1 }) }) }),
    fc.record({ type: fc.constant('FrameworkToExecutor'), from: sched.map(SCHED), body: fc.record({ frameworkId: fwId, agentId, executorId: fc.constant('e1'), data: fc.constant(new Uint8Array([1])) }) }),
    fc.record({ type: fc.constant('ExecutorToFramework'), from: agent.map(AGENT), body: fc.record({ frameworkId: fwId, agentId, executorId: fc.constant('e1'), data: fc.constant(new Uint8Array([1])) }) }),
    fc.record({
      type: fc.constant('ReregisterAgent'),
      from: agent.map(AGENT),
      body: fc.record({
        agent: agentId.map((id) => info(1, id)),
        version: fc.constant('1'),
        tasks: fc.array(task.map((tk) => ({ ...tk, executorId: 'e1' })), { maxLength: 2 }),
        executors: fc.array(fwId.map((frameworkId) => ({ executorId: 'e1', frameworkId, command: { value: 'x' }, resources: parseResources('cpus:0.1;mem:32') })), { maxLength: 1 }),
        frameworks: fc.constant([]),
        part: fc.record({ id: fc.constantFrom('p1', 'p2'), index: fc.nat(1), count: fc.integer({ min: 1, max: 2 }) }),
      }),
    }),
  );
}

test('property: no sequence of valid messages, registry answers and passing time makes the master give up', (t) => {
  const op = fc.oneof(
    { weight: 6, arbitrary: messages().map((m) => ({ kind: 'msg' as const, m })) },
    { weight: 2, arbitrary: fc.nat(4).map((i) => ({ kind: 'apply' as const, i })) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 20_000 }).map((ms) => ({ kind: 'time' as const, ms })) },
  );
  t.notThrows(() => fc.assert(fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
    const m = master({ agentPingTimeoutMs: 2000, maxAgentPingTimeouts: 2, frameworkHeartbeatIntervalMs: 1000, agentReregisterTimeoutMs: 5000 });
    m.send({ type: 'lease.acquired', epoch: 1 });
    m.send({ type: 'registry.loaded', epoch: 1, snapshot: { agents: [{ agentId: 'x-S1', state: 'admitted', info: info(1, 'x-S1') }], quotas: [], weights: {} } });
    const pending: number[] = [];
    for (const o of ops) {
      if (o.kind === 'msg') m.bus(o.m.type, o.m.from, o.m.body);
      else if (o.kind === 'time') m.clock.advance(o.ms);
      else if (pending.length > 0) m.send({ type: 'registry.applied', epoch: 1, opId: pending.splice(o.i % pending.length, 1)[0]! });
      for (const e of m.emitted.splice(0)) {
        if (e.type === 'effect.registry') pending.push(e.opId as number);
        if (e.type === 'effect.resign') throw new Error(`the master gave up: ${e.reason}`);
      }
      const snap = m.actor.getSnapshot();
      if (!snap.hasTag('leading')) throw new Error('the master stopped leading');
      // Work marked for the allocator always has a step coming: nothing waits for an unrelated event.
      if (allocationWanted(snap.context.state) && !snap.matches({ leading: { allocator: 'stepping' } })) {
        throw new Error(`allocation marked (${JSON.stringify({ ...snap.context.state.allocation, dirty: [...snap.context.state.allocation.dirty] })}) but no step scheduled after ${o.kind === 'msg' ? o.m.type : o.kind}`);
      }
    }
    m.actor.stop();
  }), { numRuns: 300 }));
});

test('a framework must claim the principal its scheduler acts as, and cannot change it on failover (Mesos: "does not match authenticated principal", "Changing framework\'s principal is not allowed")', (t) => {
  const m = master();
  m.send({ type: 'lease.acquired', epoch: 1 });
  m.send({ type: 'registry.loaded', epoch: 1, snapshot: empty });
  m.clock.advance(0);
  const alice = (i: number) => `mesos.t.scheduler.alice.s${i}`;
  const errors = () => m.sent('FrameworkError').map((e) => [e.to, e.msg.body.message]);
  // An anonymous scheduler claiming alice; alice claiming nobody; alice claiming bob.
  m.bus('SubscribeFramework', SCHED(1), { framework: { name: 'f', principal: 'alice' } });
  m.bus('SubscribeFramework', alice(2), { framework: { name: 'f' } });
  m.bus('SubscribeFramework', alice(3), { framework: { name: 'f', principal: 'bob' } });
  t.is(m.sent('FrameworkRegistered').length, 0);
  t.deepEqual(errors().map(([to]) => to), [SCHED(1), alice(2), alice(3)]);
  t.regex(String(errors()[0]![1]), /Framework principal 'alice' does not match the principal its scheduler connected as \('anonymous'\)/);
  t.is(m.actor.getSnapshot().context.state.metrics['master/frameworks_refused'], 3);
  // alice as alice: registered. Then an anonymous scheduler takes over its id claiming no
  // principal (refused), and one claiming alice is refused too: it is not alice on the bus.
  m.emitted.length = 0;
  m.bus('SubscribeFramework', alice(4), { framework: { name: 'f', principal: 'alice' } });
  const id = m.sent('FrameworkRegistered')[0]!.msg.body.frameworkId as string;
  m.bus('SubscribeFramework', SCHED(5), { framework: { name: 'f', id } });
  m.bus('SubscribeFramework', SCHED(6), { framework: { name: 'f', id, principal: 'alice' } });
  t.deepEqual(errors().map(([to, msg]) => [to, /principal/.test(String(msg))]), [[SCHED(5), true], [SCHED(6), true]]);
  t.regex(String(errors()[0]![1]), /Changing framework's principal is not allowed/);
  t.is(m.actor.getSnapshot().context.state.frameworks.get(id)!.pid, alice(4), 'the framework keeps its scheduler');
  // alice failing over to another of its schedulers is a failover as before.
  m.bus('SubscribeFramework', alice(7), { framework: { name: 'f', id, principal: 'alice' } });
  t.is(m.actor.getSnapshot().context.state.frameworks.get(id)!.pid, alice(7));
});
