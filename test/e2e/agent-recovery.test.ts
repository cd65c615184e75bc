/**
 * Agent recovery under a framework that checkpoints: real `mesos-agent` processes on a real
 * nats-server, SIGKILLed (or stopped by signal) under running tasks and started again on the same
 * work dir. Each test mirrors a Mesos `SlaveRecoveryTest`:
 *
 * - `RecoverStatusUpdateManager` / `ReconnectExecutor`: a task that finishes while its agent is
 *   down has its TASK_FINISHED delivered after the restart (the executor kept it, unacknowledged,
 *   and re-registers with it); an update the agent had checkpointed but the master never
 *   acknowledged is sent again.
 * - `RecoverTerminatedExecutor`: an executor killed while the agent is down → its task fails with
 *   `REASON_EXECUTOR_TERMINATED` and its resources are offered again.
 * - `ReconnectExecutorRetry` / the re-registration timeout: an executor that does not re-register
 *   in time is destroyed and its task fails with `REASON_EXECUTOR_REREGISTRATION_TIMEOUT`.
 * - `ShutdownSlave`-style signals: SIGTERM leaves checkpointed work running for the next agent;
 *   SIGUSR1 kills every task (each with an update) and unregisters the agent.
 * - `--recovery_timeout`: executors whose agent stays away longer shut themselves down.
 *
 * And the `posix/disk` isolator (Mesos `DiskQuotaTest.DiskUsageExceedsQuota`), and sandbox garbage
 * collection (`GarbageCollectorIntegrationTest.DiskUsage`-style: sandboxes go after `--gc_delay`).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test, { type Implementation } from 'ava';
import { DEFAULT_WAIT_MS } from '../helpers/processes.ts';
import { E2ECluster, TestFramework, alive, findFiles, logMsg, until, type TestAgent } from './support.ts';

const e2e = new E2ECluster('e2e-agent-recovery');
const WAIT = 60_000;
const TERMINAL = new Set(['TASK_FINISHED', 'TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_FAILED', 'TASK_KILLED', 'TASK_ERROR']);
/** Re-registering takes milliseconds; the tests that do not test its timeout give it plenty. */
const AGENT_ARGS = ['--registration_backoff_factor=500ms', '--executor_shutdown_grace_period=1secs', '--executor_reregistration_timeout=20secs'];

test.before(async (t) => {
  t.timeout(3 * DEFAULT_WAIT_MS);
  await e2e.start(1, DEFAULT_WAIT_MS, {
    // No test here wants the master to give a down agent up: a minute of missed pings (the
    // abandoned-executor test keeps its agent down for the executor's recovery timeout, its kill
    // grace and its wait for acknowledgements, then restarts the agent, on a loaded host).
    masterArgs: ['--allocation_interval=500ms', '--agent_ping_timeout=2secs', '--max_agent_ping_timeouts=30'],
    agentArgs: AGENT_ARGS,
  });
});

test.after.always(async () => {
  await e2e.stop();
});

/** Starts the agent again on its work dir (after it exited) and waits until it registered. */
async function restart(agent: TestAgent, extraArgs: string[] = []): Promise<TestAgent> {
  const again = await e2e.awaitAgent(e2e.spawnAgent(1, extraArgs), WAIT);
  e2e.agents.splice(e2e.agents.indexOf(agent), 1, again);
  return again;
}

/** Stops the agent with `signal` and waits for it to exit. */
async function crash(agent: TestAgent, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  agent.proc.signal(signal);
  await agent.proc.waitForExit(WAIT);
}

/** SIGKILLs each of `pids` (by PID), those already gone included. */
function killPids(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** The OS process of the executor in container `containerId`, from the agent's checkpoint. */
async function executorOsPid(agent: TestAgent, containerId: string): Promise<number> {
  const rec = JSON.parse(await readFile(join(agent.workDir, 'meta', 'containers', `${encodeURIComponent(containerId)}.json`), 'utf8'));
  return Number(rec.osPid);
}

/** Launches a task that writes its pid and runs until `done` appears in its sandbox. */
async function launchWaiter(f: TestFramework, taskId: string): Promise<{ sandbox: string; containerId: string; taskPid: number }> {
  const running = await f.run(taskId, 'echo $$ > "$MESOS_SANDBOX/task.pid"; while [ ! -f "$MESOS_SANDBOX/done" ]; do sleep 0.1; done; echo finished');
  const sandbox = String(running.sandbox);
  await until(async () => (await findFiles(sandbox, 'task.pid')).length > 0, WAIT);
  const taskPid = Number((await readFile(join(sandbox, 'task.pid'), 'utf8')).trim());
  return { sandbox, containerId: String(running.containerId), taskPid };
}

/** Lines of the master's log since `mark` that admit a new agent. */
function newAgentsAdmitted(mark: number): number {
  return e2e.master!.json({ since: mark }).filter((j) => typeof j.msg === 'string' && /^Agent .* registered$/.test(j.msg)).length;
}

test.serial('a task that finishes while its agent is down has its TASK_FINISHED delivered after the restart; the agent keeps its id', async (t) => {
  t.timeout(4 * WAIT);
  const f = new TestFramework(e2e, 'ckpt-finish', ['--checkpoint']);
  await f.next('registered');
  const since = f.proc.mark();
  const { sandbox, taskPid } = await launchWaiter(f, 'waiter');
  const [agent] = e2e.agents;
  await crash(agent!);
  const masterMark = e2e.master!.mark();

  await writeFile(join(sandbox, 'done'), '');
  t.true(await until(() => !alive(taskPid), WAIT), 'the task finished while its agent was down');

  const again = await restart(agent!);
  t.is(again.agentId, agent!.agentId, 'the same agent id');
  await again.proc.waitForLine(logMsg(/^Executor waiter of framework .* re-registered$/), WAIT);
  const end = await f.next('status', (j) => j.taskId === 'waiter' && TERMINAL.has(String(j.state)), since);
  t.is(end.state, 'TASK_FINISHED', `ended ${end.state} (${end.reason}: ${end.message})`);
  t.deepEqual(f.statesOf('waiter', since).filter((s) => TERMINAL.has(s)), ['TASK_FINISHED'], 'one terminal state, the true one');
  t.is(newAgentsAdmitted(masterMark), 0, 'the host is counted once');
  f.send({ stop: true });
});

test.serial('an update the agent checkpointed but the master never acknowledged is sent again by the restarted agent', async (t) => {
  t.timeout(4 * WAIT);
  const f = new TestFramework(e2e, 'ckpt-resend', ['--checkpoint']);
  await f.next('registered');
  const since = f.proc.mark();
  const { sandbox, taskPid } = await launchWaiter(f, 'resent');
  const [agent] = e2e.agents;
  const master = e2e.master!;
  // The master hears nothing while frozen: the agent keeps TASK_FINISHED unacknowledged.
  master.signal('SIGSTOP');
  t.teardown(() => master.signal('SIGCONT'));
  await writeFile(join(sandbox, 'done'), '');
  t.true(await until(() => !alive(taskPid), WAIT));
  const checkpointed = await until(async () => {
    for (const file of await findFiles(join(agent!.workDir, 'meta', 'frameworks'), 'updates')) {
      if ((await readFile(file, 'utf8')).includes('TASK_FINISHED')) return true;
    }
    return false;
  }, WAIT);
  t.true(checkpointed, 'the agent checkpointed TASK_FINISHED');
  await crash(agent!);
  master.signal('SIGCONT');

  await restart(agent!);
  const end = await f.next('status', (j) => j.taskId === 'resent' && TERMINAL.has(String(j.state)), since);
  t.is(end.state, 'TASK_FINISHED', `ended ${end.state} (${end.reason}: ${end.message})`);
  t.false(f.statesOf('resent', since).some((s) => s !== 'TASK_FINISHED' && TERMINAL.has(s)), 'no other terminal state');
  f.send({ stop: true });
});

test.serial('an executor killed while its agent is down: its task fails with REASON_EXECUTOR_TERMINATED and its resources are offered again', async (t) => {
  t.timeout(4 * WAIT);
  const f = new TestFramework(e2e, 'ckpt-dead', ['--checkpoint']);
  await f.next('registered');
  const since = f.proc.mark();
  const { containerId, taskPid } = await launchWaiter(f, 'victim');
  const [agent] = e2e.agents;
  const executor = await executorOsPid(agent!, containerId);
  await crash(agent!);
  killPids([executor, taskPid]);
  t.true(await until(() => !alive(executor) && !alive(taskPid), WAIT));

  const again = await restart(agent!);
  const end = await f.next('status', (j) => j.taskId === 'victim' && TERMINAL.has(String(j.state)), since);
  t.is(end.state, 'TASK_FAILED');
  t.is(end.reason, 'REASON_EXECUTOR_TERMINATED');
  const offerSince = f.proc.mark();
  const offer = await f.next('offers', (j) => j.agentIds.includes(again.agentId) && j.cpus.includes(2), offerSince);
  t.truthy(offer, 'all of the agent\'s cpus are offered again');
  f.send({ stop: true });
});

test.serial('an executor that does not re-register in time is destroyed, and its task fails with REASON_EXECUTOR_REREGISTRATION_TIMEOUT', async (t) => {
  t.timeout(4 * WAIT);
  const f = new TestFramework(e2e, 'ckpt-frozen', ['--checkpoint']);
  await f.next('registered');
  const since = f.proc.mark();
  const { containerId, taskPid } = await launchWaiter(f, 'frozen');
  const [agent] = e2e.agents;
  const executor = await executorOsPid(agent!, containerId);
  await crash(agent!);
  process.kill(executor, 'SIGSTOP');
  t.teardown(() => killPids([executor, taskPid]));

  await restart(agent!, ['--executor_reregistration_timeout=2secs']);
  const end = await f.next('status', (j) => j.taskId === 'frozen' && TERMINAL.has(String(j.state)), since);
  t.is(end.state, 'TASK_FAILED');
  t.is(end.reason, 'REASON_EXECUTOR_REREGISTRATION_TIMEOUT');
  t.true(await until(() => !alive(executor) && !alive(taskPid), WAIT), 'the container is destroyed, its task with it');
  f.send({ stop: true });
});

test.serial('SIGTERM stops the agent and leaves checkpointed tasks running for the next one; SIGUSR1 kills them with updates and unregisters the agent', async (t) => {
  t.timeout(5 * WAIT);
  const f = new TestFramework(e2e, 'ckpt-signals', ['--checkpoint']);
  await f.next('registered');
  const since = f.proc.mark();
  const { taskPid } = await launchWaiter(f, 'kept');
  const [agent] = e2e.agents;
  await crash(agent!, 'SIGTERM');
  t.is(agent!.proc.exitStatus?.code, 0);
  t.true(alive(taskPid), 'the task outlives a SIGTERMed agent');

  const again = await restart(agent!);
  t.is(again.agentId, agent!.agentId);
  await again.proc.waitForLine(logMsg(/^Executor kept of framework .* re-registered$/), WAIT);
  t.false(f.statesOf('kept', since).some((s) => TERMINAL.has(s)), 'the task did not end');
  t.true(alive(taskPid));
  // The recovered container is measured like one the agent started.
  const op = await e2e.operator();
  t.teardown(() => op.close());
  const stats = await op.request(again.pid, { type: 'GetContainerStatistics', body: {} }, 'ContainerStatistics', WAIT);
  const kept = stats.executors.find((x) => x.executorId === 'kept');
  t.truthy(kept, 'the recovered executor is reported');
  t.true((kept!.statistics.processes ?? 0) >= 2, 'its process tree: the executor and its task');

  const masterMark = e2e.master!.mark();
  await crash(again, 'SIGUSR1');
  const end = await f.next('status', (j) => j.taskId === 'kept' && TERMINAL.has(String(j.state)), since);
  t.is(end.state, 'TASK_KILLED');
  t.true(await until(() => !alive(taskPid), WAIT));
  await e2e.master!.waitForLine((l) => l.includes(again.agentId) && /unregister/i.test(l), WAIT, { since: masterMark });
  // It left the cluster: started again, it is a new agent.
  const fresh = await restart(again);
  t.not(fresh.agentId, again.agentId);
  f.send({ stop: true });
});

test.serial('executors of a checkpointing framework whose agent stays away past --recovery_timeout shut themselves down', async (t) => {
  t.timeout(4 * WAIT);
  const [agent] = e2e.agents;
  await crash(agent!, 'SIGTERM');
  const short = await restart(agent!, ['--recovery_timeout=3secs']);
  const f = new TestFramework(e2e, 'ckpt-abandoned', ['--checkpoint']);
  await f.next('registered');
  const since = f.proc.mark();
  const { containerId, taskPid } = await launchWaiter(f, 'abandoned');
  const executor = await executorOsPid(short, containerId);
  await crash(short);
  t.true(await until(() => !alive(executor) && !alive(taskPid), WAIT), 'the executor and its task are gone');
  await restart(short);
  const end = await f.next('status', (j) => j.taskId === 'abandoned' && TERMINAL.has(String(j.state)), since);
  t.true(['TASK_FAILED', 'TASK_KILLED'].includes(String(end.state)), `ended ${end.state} (${end.reason})`);
  f.send({ stop: true });
});

test.serial('with --enforce_container_disk_quota, a task whose sandbox outgrows its disk fails with REASON_CONTAINER_LIMITATION_DISK', async (t) => {
  t.timeout(4 * WAIT);
  const [agent] = e2e.agents;
  await crash(agent!, 'SIGTERM');
  await restart(agent!, ['--isolation=posix/cpu,posix/mem,posix/disk', '--enforce_container_disk_quota', '--container_disk_watch_interval=200ms']);
  const f = new TestFramework(e2e, 'disk-quota');
  await f.next('registered');
  const since = f.proc.mark();
  f.send({ launch: { taskId: 'small', command: 'sleep 600', resources: 'cpus:0.1;mem:32;disk:1' } });
  await f.next('status', (j) => j.taskId === 'small' && j.state === 'TASK_RUNNING', since);
  f.send({ launch: { taskId: 'filler', command: 'head -c 4194304 /dev/urandom > "$MESOS_SANDBOX/fill" && exec sleep 600', resources: 'cpus:0.1;mem:32;disk:1' } });
  const end = await f.next('status', (j) => j.taskId === 'filler' && TERMINAL.has(String(j.state)), since);
  t.is(end.state, 'TASK_FAILED');
  t.is(end.reason, 'REASON_CONTAINER_LIMITATION_DISK');
  t.regex(String(end.message), /exceeds quota \(1MB\)/);
  f.send({ reconcile: [{ taskId: 'small' }] });
  const small = await f.next('status', (j) => j.taskId === 'small' && j.source === 'SOURCE_MASTER', since);
  t.is(small.state, 'TASK_RUNNING', 'a task within its quota runs on');
  f.send({ stop: true });
});

test.serial('sandboxes of ended executors are removed after --gc_delay, those left from before the restart included', async (t) => {
  t.timeout(4 * WAIT);
  const [agent] = e2e.agents;
  // Earlier tests left sandboxes of ended runs on this work dir.
  const before = await findFiles(join(agent!.workDir, 'agents'), 'stdout');
  t.true(before.length > 0);
  await crash(agent!, 'SIGTERM');
  const gc = await restart(agent!, ['--gc_delay=500ms', '--disk_watch_interval=1secs']);
  const f = new TestFramework(e2e, 'gc');
  await f.next('registered');
  const done = await f.run('short', 'echo bye', 'TASK_FINISHED');
  const sandbox = String(done.sandbox);
  t.true(await until(async () => {
    const left = await findFiles(join(gc.workDir, 'agents'), 'stdout');
    return !left.some((p) => before.includes(p)) && !left.some((p) => p.startsWith(sandbox));
  }, WAIT), 'the old sandboxes and the new one are gone');
  f.send({ stop: true });
});

const asRoot = process.getuid?.() === 0;
const rootOnly = (title: string, fn: Implementation<[]>) =>
  asRoot ? test.serial(title, fn) : test.serial.skip(`${title} (not run here: the agent must be root to switch users)`, fn);

rootOnly('a task runs as the user its command names (--switch_user); an unknown user fails it with a message naming the user', async (t) => {
  t.timeout(3 * WAIT);
  const f = new TestFramework(e2e, 'users');
  await f.next('registered');
  const since = f.proc.mark();
  f.send({ launch: { taskId: 'as-nobody', command: 'id -u; id -g', user: 'nobody' } });
  const done = await f.next('status', (j) => j.taskId === 'as-nobody' && TERMINAL.has(String(j.state)), since);
  t.is(done.state, 'TASK_FINISHED', String(done.message));
  const out = (await readFile(join(String(done.sandbox), 'stdout'), 'utf8')).trim().split('\n');
  t.deepEqual(out.slice(-2), ['65534', '65534'], 'uid and gid of nobody');

  f.send({ launch: { taskId: 'as-ghost', command: 'true', user: 'no-such-user-x9' } });
  const failed = await f.next('status', (j) => j.taskId === 'as-ghost' && TERMINAL.has(String(j.state)), since);
  t.is(failed.state, 'TASK_FAILED');
  t.is(failed.reason, 'REASON_CONTAINER_LAUNCH_FAILED');
  t.regex(String(failed.message), /user 'no-such-user-x9' does not exist/);
  f.send({ stop: true });
});
