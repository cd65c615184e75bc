/**
 * The built-in command executor and the POSIX containerizer, on real child processes.
 */
import test from 'ava';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandExecutor } from '../../runtime/command-executor.ts';
import { PosixContainerizer, type ContainerExit } from '../../runtime/containerizer.ts';
import type { ExecutorDriver } from '../../runtime/executor-driver.ts';
import { silentLogger } from '../../runtime/log.ts';
import type { TaskInfo } from '../../protocols/records.ts';
import { parseResources } from '../../protocols/resources.ts';

const work = mkdtempSync(join(tmpdir(), 'cmd-exec-test-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));

/** Records what the executor reports (the driver's transport is not under test here). */
function recordingDriver() {
  const updates: Array<{ state: string; message?: string }> = [];
  const driver = { sendStatusUpdate: (s: { state: string; message?: string }) => updates.push(s) } as unknown as ExecutorDriver;
  return { driver, updates };
}

/** Resolves when `cond` holds, checking on every turn of the event loop; rejects after 10 s. */
function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (cond()) resolve();
      else if (performance.now() > deadline) reject(new Error('condition not met in time'));
      else setImmediate(check);
    };
    check();
  });
}

const commandTask = (value: string): TaskInfo => ({ taskId: 't', name: 't', agentId: 'a', resources: [], command: { value } });

test('a command that exits 0 reports STARTING → RUNNING → FINISHED', async (t) => {
  const { driver, updates } = recordingDriver();
  const ex = new CommandExecutor({ cwd: work, logger: silentLogger() });
  ex.launchTask(driver, commandTask('true'));
  await ex.done;
  t.deepEqual(updates.map((u) => u.state), ['TASK_STARTING', 'TASK_RUNNING', 'TASK_FINISHED']);
});

test('a command that exits 3 reports TASK_FAILED with the exit status', async (t) => {
  const { driver, updates } = recordingDriver();
  const ex = new CommandExecutor({ cwd: work, logger: silentLogger() });
  ex.launchTask(driver, commandTask('exit 3'));
  await ex.done;
  t.is(updates.at(-1)?.state, 'TASK_FAILED');
  t.is(updates.at(-1)?.message, 'Command exited with status 3');
});

test('a kill stops the command after the grace period even if it ignores SIGTERM', async (t) => {
  const { driver, updates } = recordingDriver();
  const ex = new CommandExecutor({ cwd: work, logger: silentLogger(), killGraceMs: 300 });
  const marker = join(work, 'armed');
  ex.launchTask(driver, commandTask(`trap '' TERM; touch ${marker}; sleep 60`));
  await until(() => existsSync(marker));
  ex.killTask(driver, 't');
  await ex.done;
  t.is(updates.at(-1)?.state, 'TASK_KILLED');
});

test("a task's kill policy sets its grace period: a command given 60 s finishes its SIGTERM handler (the executor's own default here is 0.3 s)", async (t) => {
  const { driver, updates } = recordingDriver();
  const ex = new CommandExecutor({ cwd: work, logger: silentLogger(), killGraceMs: 300 });
  const armed = join(work, 'policy-armed');
  const cleaned = join(work, 'policy-cleaned');
  const task: TaskInfo = { ...commandTask(`trap 'sleep 2; touch ${cleaned}; exit 0' TERM; touch ${armed}; while :; do sleep 0.1; done`), killPolicy: { gracePeriodSeconds: 60 } };
  ex.launchTask(driver, task);
  await until(() => existsSync(armed));
  ex.killTask(driver, 't');
  await ex.done;
  t.is(updates.at(-1)?.state, 'TASK_KILLED');
  t.true(existsSync(cleaned), 'the handler ran to its end: no SIGKILL after 0.3 s');
});

test('the containerizer writes an executor’s stdout and stderr into its sandbox and reports its exit status', async (t) => {
  const c = new PosixContainerizer({ workDir: work, commandExecutor: [], logger: silentLogger() });
  const req = {
    frameworkId: 'fw', executorId: 'ex', containerId: 'c1', agentId: 'ag', commandExecutor: false, env: {},
    executor: { executorId: 'ex', command: { value: 'echo to-out; echo to-err >&2; exit 4' }, resources: [] },
  };
  const exit = await new Promise<ContainerExit>((resolve) => c.launch(req, resolve));
  t.is(exit.status, 4);
  const dir = c.sandboxOf(req);
  t.is(readFileSync(join(dir, 'stdout'), 'utf8'), 'to-out\n');
  t.is(readFileSync(join(dir, 'stderr'), 'utf8'), 'to-err\n');
});

test('the containerizer kills a whole process group, forcing it after the grace period', async (t) => {
  const c = new PosixContainerizer({ workDir: work, commandExecutor: [], logger: silentLogger() });
  const req = {
    frameworkId: 'fw', executorId: 'ex2', containerId: 'c2', agentId: 'ag', commandExecutor: false, env: {},
    executor: { executorId: 'ex2', command: { value: "trap '' TERM; sleep 60 & echo armed; sleep 60; wait" }, resources: [] },
  };
  const exited = new Promise<ContainerExit>((resolve) => c.launch(req, resolve));
  // Kill only once the shell has installed its trap (it then prints "armed").
  await until(() => existsSync(join(c.sandboxOf(req), 'stdout')) && readFileSync(join(c.sandboxOf(req), 'stdout'), 'utf8').includes('armed'));
  c.kill('c2', 200);
  const exit = await exited;
  t.is(exit.signal, 'SIGKILL');
});

test('an executor that cannot start is reported, not thrown', async (t) => {
  const c = new PosixContainerizer({ workDir: work, commandExecutor: ['/nonexistent/executor'], logger: silentLogger() });
  const req = {
    frameworkId: 'fw', executorId: 'ex3', containerId: 'c3', agentId: 'ag', commandExecutor: true, env: {},
    executor: { executorId: 'ex3', command: { value: '' }, resources: [] },
  };
  const exit = await new Promise<ContainerExit>((resolve) => c.launch(req, resolve));
  t.regex(exit.message ?? '', /Failed to launch executor/);
});

/** The process group of `pid`, or `undefined` once it is gone. */
function groupOf(pid: number): number | undefined {
  try {
    return Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[2]);
  } catch {
    return undefined;
  }
}

/** True while `pid` is a live (not zombie) process. */
function alive(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
  } catch {
    return false;
  }
}

test('killing a container also kills processes its executor started in other process groups', async (t) => {
  const c = new PosixContainerizer({ workDir: work, commandExecutor: [], logger: silentLogger() });
  const req = {
    frameworkId: 'fw', executorId: 'ex4', containerId: 'c4', agentId: 'ag', commandExecutor: false, env: {},
    // The "task" runs in a session (and process group) of its own, as the command executor's tasks do.
    executor: { executorId: 'ex4', command: { value: 'setsid sleep 60 & echo $! > task.pid; wait' }, resources: [] },
  };
  const exited = new Promise<ContainerExit>((resolve) => c.launch(req, resolve));
  const pidFile = join(c.sandboxOf(req), 'task.pid');
  await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim().length > 0);
  const taskPid = Number(readFileSync(pidFile, 'utf8'));
  // Kill only once the task really is in a group of its own (setsid has run), which is the case
  // under test; before that it is still in the executor's group.
  await until(() => alive(taskPid) && groupOf(taskPid) === taskPid);
  c.kill('c4', 0);
  await exited;
  await until(() => !alive(taskPid));
  t.false(alive(taskPid));
});

test('the containerizer’s Mesos-style calls: status and usage of a running container, update of its resources, destroy resolving with how it ended, wait after it ended', async (t) => {
  const c = new PosixContainerizer({ workDir: work, commandExecutor: [], logger: silentLogger() });
  const req = {
    frameworkId: 'fw', executorId: 'ex4', containerId: 'c4', agentId: 'ag', commandExecutor: false, env: {},
    executor: { executorId: 'ex4', command: { value: 'echo up; sleep 60 & wait' }, resources: [] },
    resources: parseResources('cpus:0.5;mem:64'),
  };
  c.launch(req, () => {});
  await until(() => existsSync(join(c.sandboxOf(req), 'stdout')) && readFileSync(join(c.sandboxOf(req), 'stdout'), 'utf8').includes('up'));
  const st = c.status('c4')!;
  t.is(st.directory, c.sandboxOf(req));
  t.true(st.osPid > 0);
  const u = c.usage('c4')!;
  t.is(u.cpusLimit, 0.5);
  t.is(u.memLimitBytes, 64 * 1024 * 1024);
  t.true((u.processes ?? 0) >= 2, 'the shell and its sleep');
  t.true(u.memRssBytes > 0);
  c.update('c4', parseResources('cpus:1.5;mem:128'));
  t.is(c.usage('c4')!.cpusLimit, 1.5);
  const exit = await c.destroy('c4');
  t.is(exit?.signal, 'SIGKILL');
  t.is(c.status('c4'), undefined, 'gone once destroyed');
  t.is(await c.wait('c4'), undefined, 'nothing to wait for');
});
