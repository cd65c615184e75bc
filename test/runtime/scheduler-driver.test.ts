/**
 * The framework author's surface of `SchedulerDriver`: what `connect` refuses before it dials,
 * what a driver that owns its bus closes when it ends, and `stopOnSignals` with and without
 * failover (Mesos' `driver.stop(failover)`), on the simulated cluster.
 */
import test from 'ava';
import type { FrameworkInfo } from '../../protocols/records.ts';
import { authorizationConfig, createCredential } from '../../runtime/credentials.ts';
import { silentLogger } from '../../runtime/log.ts';
import { SchedulerDriver } from '../../runtime/scheduler-driver.ts';
import { schedulerIdentity } from '../../runtime/scheduler-connection.ts';
import { acquireNats } from '../helpers/nats.ts';
import { RecordingScheduler, SimCluster } from '../helpers/sim-cluster.ts';

const framework: FrameworkInfo = { name: 'fw', roles: ['*'] };

test('connect refuses to dial without a credential unless insecure says so', async (t) => {
  // No server is listening here: the refusal comes before any connection attempt.
  const e = await t.throwsAsync(SchedulerDriver.connect({}, framework, { nats: 'nats://127.0.0.1:1' }));
  t.regex(e!.message, /no credential.*insecure: true/);
});

test('connect gives up on a server that does not answer once connectTimeoutMs has passed, naming it', async (t) => {
  const e = await t.throwsAsync(SchedulerDriver.connect({}, framework, { nats: 'nats://127.0.0.1:1', insecure: true, connectTimeoutMs: 0, logger: silentLogger() }));
  t.is(e!.name, 'NatsConnectError');
  t.regex(e!.message, /no NATS server answered at nats:\/\/127\.0\.0\.1:1 \(connection refused\)/);
});

test('connect rejects at once a credential the server refuses, instead of waiting for it', async (t) => {
  const known = createCredential('alice', 'scheduler', 'demo');
  const nats = await acquireNats({ config: authorizationConfig([known]) });
  t.teardown(() => nats.stop());
  if (!nats.configured) return t.pass('this NATS server (NATS_URL or a container) cannot be given users');
  const stranger = createCredential('mallory', 'scheduler', 'demo');
  const e = await t.throwsAsync(SchedulerDriver.connect({}, framework, { nats: nats.url, credential: stranger, logger: silentLogger() }));
  t.is(e!.name, 'NatsConnectError');
  t.regex(e!.message, /the server refused this credential/);
});

test('a credential sets FrameworkInfo.principal and the cluster; one for another kind, cluster or principal is refused', (t) => {
  const alice = createCredential('alice', 'scheduler', 'demo');
  const id = schedulerIdentity(framework, { credential: alice });
  t.is(id.framework.principal, 'alice');
  t.is(id.cluster, 'demo');
  t.truthy(id.options.authenticator);
  t.throws(() => schedulerIdentity(framework, { credential: createCredential('agent', 'agent', 'demo') }), { message: /for kind agent, not scheduler/ });
  t.throws(() => schedulerIdentity(framework, { credential: alice, cluster: 'other' }), { message: /for cluster 'demo', not 'other'/ });
  t.throws(() => schedulerIdentity({ ...framework, principal: 'bob' }, { credential: alice }), { message: /principal 'bob' is not the credential's principal 'alice'/ });
  t.throws(() => schedulerIdentity(framework, { credential: '/nonexistent/credential.json' }), { name: 'CredentialError' });
  // Insecure: no authentication, the commands' default cluster.
  t.deepEqual(schedulerIdentity(framework, { insecure: true }), { cluster: 'mesos', framework, options: {} });
});

/** A driver on the simulated bus that owns it: `released` counts calls of its `release`. */
function ownedDriver(sim: SimCluster, sched: RecordingScheduler, info = framework) {
  const owned = { released: 0 };
  const d = new SchedulerDriver(sched, info, {
    transport: sim.bus.transport(),
    cluster: sim.cluster,
    detector: sim.lease.detector(),
    logger: silentLogger(),
    clock: sim.clock,
    release: async () => {
      owned.released += 1;
    },
  });
  sim.drivers.push(d);
  return { d, owned };
}

test('a driver that owns its bus releases it once it stops, before run() resolves', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const sched = new RecordingScheduler();
  const { d, owned } = ownedDriver(sim, sched);
  const running = d.run();
  await sim.settle();
  t.truthy(sched.frameworkId);
  const stopping = d.stop();
  await sim.settle();
  t.is(await stopping, 'DRIVER_STOPPED');
  t.is(await running, 'DRIVER_STOPPED');
  t.is(owned.released, 1);
  // Not failover: the framework is gone from the master.
  t.false(sim.masterState.frameworks.has(sched.frameworkId!));
});

test('a driver that owns its bus releases it when the master aborts it', async (t) => {
  const sim = await SimCluster.start();
  t.teardown(() => sim.stop());
  const first = new RecordingScheduler();
  sim.driver(first, { failoverTimeoutSeconds: 60 });
  await sim.settle();
  // A second scheduler takes the framework over (FaultToleranceTest.SchedulerFailover); then a
  // third with the same id makes the master refuse the second, which aborts.
  const second = new RecordingScheduler();
  const { d, owned } = ownedDriver(sim, second, { ...framework, id: first.frameworkId!, failoverTimeoutSeconds: 60 });
  const running = d.run();
  await sim.settle();
  sim.driver(new RecordingScheduler(), { id: first.frameworkId!, failoverTimeoutSeconds: 60 });
  await sim.settle();
  t.is(await running, 'DRIVER_ABORTED');
  t.is(owned.released, 1);
});

for (const failover of [false, true]) {
  test.serial(`stopOnSignals({ failover: ${failover} }) stops on the first signal: ${failover ? 'the framework stays registered for a new scheduler' : 'the framework is torn down'}`, async (t) => {
    const sim = await SimCluster.start();
    t.teardown(() => sim.stop());
    const sched = new RecordingScheduler();
    const { d } = ownedDriver(sim, sched, { ...framework, failoverTimeoutSeconds: 60 });
    // A signal no other code in this process listens to (serial: the other test must not hear it);
    // process.emit stands in for kill(2).
    const before = process.listenerCount('SIGUSR2');
    d.stopOnSignals({ failover, signals: ['SIGUSR2'] });
    const running = d.run();
    await sim.settle();
    const id = sched.frameworkId!;
    t.truthy(id);
    const deactivations = sim.count('DeactivateFramework');
    const teardowns = sim.count('TeardownFramework');
    process.emit('SIGUSR2', 'SIGUSR2');
    await sim.settle();
    t.is(await running, 'DRIVER_STOPPED');
    t.is(deactivations.n, failover ? 1 : 0);
    t.is(teardowns.n, failover ? 0 : 1);
    const entry = sim.masterState.frameworks.get(id);
    if (failover) t.false(entry?.active ?? true, 'registered, not active');
    else t.is(entry, undefined);
    // The handlers went with the driver.
    t.is(process.listenerCount('SIGUSR2'), before);
  });
}
