/**
 * An agent restarted on its work dir is the same agent: real `mesos-agent` processes on a real
 * nats-server, SIGKILLed and started again with the same `--work_dir`.
 *
 * Mirrors Mesos `SlaveRecoveryTest.RecoverSlaveState` (the same agent id after a restart) and
 * `SlaveRecoveryTest.RemoveNonCheckpointingFramework`: the tasks of a framework that does not
 * checkpoint end, nothing of them is left running, and the host is not counted twice.
 */
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import test from 'ava';
import { DEFAULT_WAIT_MS, parseJsonLine } from '../helpers/processes.ts';
import { AGENT_RESOURCES, E2ECluster, TestFramework, alive, findFiles, logMsg, until } from './support.ts';

const e2e = new E2ECluster('e2e-agent-restart');
const WAIT = 60_000;
const TERMINAL = new Set(['TASK_LOST', 'TASK_DROPPED', 'TASK_GONE', 'TASK_FAILED', 'TASK_KILLED']);

test.before(async (t) => {
  t.timeout(3 * DEFAULT_WAIT_MS);
  await e2e.start(1, DEFAULT_WAIT_MS, {
    masterArgs: ['--allocation_interval=500ms', '--agent_ping_timeout=2secs', '--max_agent_ping_timeouts=5'],
    agentArgs: ['--registration_backoff_factor=500ms', '--executor_shutdown_grace_period=1secs'],
  });
});

test.after.always(async () => {
  await e2e.stop();
});

test.serial('an agent SIGKILLed and started again on its work dir re-registers as the same agent; the task of a non-checkpointing framework ends and its process is gone', async (t) => {
  t.timeout(4 * WAIT);
  const f = new TestFramework(e2e, 'plain');
  await f.next('registered');
  const since = f.proc.mark();
  const running = await f.run('sleeper', 'echo $$ > "$MESOS_SANDBOX/task.pid" && exec sleep 600');
  const [agent] = e2e.agents;
  const [pidFile] = await findFiles(agent!.workDir, 'task.pid');
  // The update says where the task runs: its container and its sandbox (where its output is).
  t.is(running.sandbox, dirname(pidFile!));
  t.true(dirname(pidFile!).endsWith(`/runs/${running.containerId}`));
  const taskPid = Number((await readFile(pidFile!, 'utf8')).trim());
  t.true(alive(taskPid), 'the task runs');

  agent!.proc.signal('SIGKILL');
  await agent!.proc.waitForExit(WAIT);
  // Whether the task still runs now is a race, not a property: the executor of a framework that
  // does not checkpoint shuts itself down as soon as it sees its agent gone (it may have already).
  const masterMark = e2e.master!.mark();
  const again = await e2e.awaitAgent(e2e.spawnAgent(1), WAIT);
  e2e.agents.splice(0, 1, again);
  t.is(again.pid, agent!.pid, 'the same PID: executors keep one address');
  t.is(again.agentId, agent!.agentId, 'the same agent id');
  const recovered = parseJsonLine((await again.proc.waitForLine(logMsg('recovered the agent identity from its checkpoint'), WAIT)).text)!;
  t.is(recovered.agentId, agent!.agentId);

  const end = await f.next('status', (j) => j.taskId === 'sleeper' && TERMINAL.has(String(j.state)), since);
  t.log(`the task ended ${end.state} (${end.reason})`);
  t.true(await until(() => !alive(taskPid), WAIT), 'nothing of the earlier agent is left running: the executor shut itself down, or the new agent destroyed it');
  t.is(e2e.master!.json({ since: masterMark }).filter((j) => typeof j.msg === 'string' && / registered$/.test(j.msg) && /^Agent /.test(j.msg)).length, 0, 'no new agent was admitted: the host is counted once');

  // And the restarted agent runs tasks.
  await f.run('after-restart', 'true', 'TASK_FINISHED');
});

test.serial('an agent started on a work dir of an agent with other settings refuses, and says why in one line', async (t) => {
  t.timeout(2 * WAIT);
  const [agent] = e2e.agents;
  agent!.proc.signal('SIGKILL');
  await agent!.proc.waitForExit(WAIT);
  const other = e2e.procs.start('mesos-agent', [...e2e.flags('agent'), '--resources=cpus:1;mem:128', `--work_dir=${agent!.workDir}`, '--port=0'], { label: 'other-settings' });
  const exit = await other.waitForExit(WAIT);
  t.is(exit.code, 1);
  const err = other.texts('stderr').filter((l) => l.trim() !== '');
  t.is(err.length, 1, err.join('\n'));
  t.regex(err[0]!, /^mesos-agent: .*belongs to an agent started with other settings \(resources were/);
  // Started again with its own settings, it is the same agent.
  const again = await e2e.awaitAgent(e2e.spawnAgent(1), WAIT);
  e2e.agents.splice(0, 1, again);
  t.is(again.agentId, agent!.agentId);
});

test.serial('a second agent on the work dir of a running one refuses before touching anything, and says why in one line', async (t) => {
  t.timeout(2 * WAIT);
  const [agent] = e2e.agents;
  const second = e2e.procs.start('mesos-agent', [...e2e.flags('agent'), '--resources=' + AGENT_RESOURCES, `--work_dir=${agent!.workDir}`, '--port=0'], { label: 'second' });
  const exit = await second.waitForExit(WAIT);
  t.is(exit.code, 1);
  const err = second.texts('stderr').filter((l) => l.trim() !== '');
  t.deepEqual(err, [`mesos-agent: another agent is running on work dir ${agent!.workDir}`]);
  t.true(agent!.proc.running, 'the running agent is left alone');
});

test.serial('--recover=cleanup destroys what the earlier agent left running and exits; the agent then starts as itself', async (t) => {
  t.timeout(3 * WAIT);
  // A checkpointing framework's executor outlives its agent: that is what cleanup is for.
  const f = new TestFramework(e2e, 'to-clean', ['--checkpoint']);
  await f.next('registered');
  await f.run('orphan', 'echo $$ > "$MESOS_SANDBOX/orphan.pid" && exec sleep 600');
  const [agent] = e2e.agents;
  const [pidFile] = await findFiles(agent!.workDir, 'orphan.pid');
  const orphan = Number((await readFile(pidFile!, 'utf8')).trim());
  agent!.proc.signal('SIGKILL');
  await agent!.proc.waitForExit(WAIT);
  t.true(alive(orphan));
  const cleanup = e2e.procs.start('mesos-agent', [...e2e.flags('agent'), '--log_level=info', '--resources=' + AGENT_RESOURCES, `--work_dir=${agent!.workDir}`, '--port=0', '--recover=cleanup'], { label: 'cleanup' });
  const exit = await cleanup.waitForExit(WAIT);
  t.is(exit.code, 0);
  t.truthy(cleanup.json().find((j) => typeof j.msg === 'string' && /^cleaned up: 1 container/.test(j.msg)));
  t.true(await until(() => !alive(orphan), WAIT), 'nothing is left running'); // killed, maybe not yet reaped
  const again = await e2e.awaitAgent(e2e.spawnAgent(1), WAIT);
  e2e.agents.splice(0, 1, again);
  t.is(again.agentId, agent!.agentId);
});
