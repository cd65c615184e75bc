/**
 * The agent's HTTP endpoints on a cluster of real processes (secured, as shipped): a framework
 * with a finished task that echoed a marker (and planted a link to `/etc/passwd` in its sandbox)
 * and a running one. The agent's state is checked field by field against Mesos' shapes
 * (`docs/endpoints/slave/state.md`), the task's output is read through `/files/*` and the v1
 * `READ_FILE` and compared with the file on disk, paths outside the work dir are refused, and
 * `mesos-execute --tail` prints a task's output as a user would see it.
 */
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { E2ECluster, TestFramework, type TestAgent } from './support.ts';

const e2e = new E2ECluster('e2e-agent-http');
const WAIT = 60_000;
const MARKER = 'agent-http-marker-5c1e';
let agent: TestAgent;
let frameworkId = '';
/** The status that ended the task that echoed the marker, and the running task's. */
let done: Record<string, any>;
let long: Record<string, any>;
let stdoutOnDisk: Buffer;

test.before(async (t) => {
  t.timeout(5 * WAIT);
  await e2e.start(1, WAIT);
  agent = e2e.agents[0]!;
  const fw = new TestFramework(e2e, 'agent-http-fw');
  frameworkId = String((await fw.next('registered')).frameworkId);
  done = await fw.run('echo', `echo ${MARKER}; echo to-stderr >&2; ln -s /etc/passwd "$MESOS_SANDBOX/escape"`, 'TASK_FINISHED');
  long = await fw.run('long', 'exec sleep 600', 'TASK_RUNNING');
  stdoutOnDisk = await readFile(join(done.sandbox, 'stdout'));
});

test.after.always(async () => {
  await e2e.stop();
});

const url = (path: string) => `http://${agent.http}${path}`;
const q = (p: string) => encodeURIComponent(p);

async function getJson(path: string): Promise<any> {
  const r = await fetch(url(path));
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

async function call(body: Record<string, unknown>): Promise<{ status: number; json: any }> {
  const r = await fetch(url('/api/v1'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : undefined };
}

test.serial('/slave(1)/state: the agent, its framework, the running task in its executor with container and sandbox, the finished one among the completed', async (t) => {
  const s = await getJson('/slave(1)/state');
  for (const k of ['version', 'start_time', 'id', 'pid', 'hostname', 'resources', 'attributes', 'master_hostname', 'flags', 'frameworks', 'completed_frameworks']) t.true(k in s, `state has ${k}`);
  t.is(s.id, agent.agentId);
  t.is(s.pid, agent.pid);
  t.like(s.resources, { cpus: 2, mem: 1024, disk: 1024, ports: '[31000-32000]' });
  t.deepEqual(s.attributes, {});
  t.is(typeof s.master_hostname, 'string');
  t.like(s.flags, { work_dir: agent.workDir, port: '0', cluster: e2e.cluster });
  t.is(s.frameworks.length, 1);
  const f = s.frameworks[0];
  t.like(f, { id: frameworkId, name: 'agent-http-fw', role: '*', principal: 'framework', checkpoint: false });

  const ex = f.executors.find((x: any) => x.id === 'long');
  t.like(ex, { name: 'Command Executor (Task: long)', source: 'long', container: long.containerId, directory: long.sandbox, role: '*', queued_tasks: [], completed_tasks: [] });
  // cpus: the task's 0.1 (a command executor holds none of its own)
  t.like(ex.resources, { cpus: 0.1, mem: 32 });
  t.is(ex.tasks.length, 1);
  t.like(ex.tasks[0], { id: 'long', name: 'long', state: 'TASK_RUNNING', framework_id: frameworkId, slave_id: agent.agentId, role: '*', resources: { cpus: 0.1, mem: 32 } });

  // Finished: in its executor's completed tasks, that executor still there or already ended.
  const echo = [...f.executors, ...f.completed_executors].find((x: any) => x.id === 'echo');
  t.like(echo, { container: done.containerId, directory: done.sandbox, tasks: [] });
  t.like(echo.completed_tasks.find((x: any) => x.id === 'echo'), { state: 'TASK_FINISHED', framework_id: frameworkId });

  for (const alias of ['/state', '/state.json', '/slave(1)/state.json', '/slave%281%29/state']) t.is((await getJson(alias)).id, agent.agentId, alias);
  // The master knows the agent's HTTP port from its registration.
  const slaves = await (await fetch(`http://${e2e.masters[0]!.http}/master/slaves`)).json() as { slaves: Array<{ id: string; port: number }> };
  t.is(slaves.slaves.find((a) => a.id === agent.agentId)?.port, Number(agent.http.slice(agent.http.lastIndexOf(':') + 1)));
});

test.serial('/files/read returns the task\'s stdout as it is on disk; offset -1 tells its size', async (t) => {
  t.true(stdoutOnDisk.toString().includes(`${MARKER}\n`), 'the task wrote the marker');
  const path = join(done.sandbox, 'stdout');
  t.deepEqual(await getJson(`/files/read?path=${q(path)}&offset=0`), { data: stdoutOnDisk.toString(), offset: 0 });
  t.deepEqual(await getJson(`/files/read?path=${q(path)}&offset=-1`), { data: '', offset: stdoutOnDisk.length });
  t.deepEqual(await getJson(`/files/read?path=${q(path)}&offset=1&length=4`), { data: stdoutOnDisk.subarray(1, 5).toString(), offset: 1 });
  const r = await fetch(url(`/files/download?path=${q(path)}`));
  t.is(r.status, 200);
  t.regex(r.headers.get('content-disposition') ?? '', /attachment; filename="stdout"/);
  t.deepEqual(Buffer.from(await r.arrayBuffer()), stdoutOnDisk);
});

test.serial('/files/browse lists the sandbox: stdout and stderr with their sizes', async (t) => {
  const listed: any[] = await getJson(`/files/browse?path=${q(done.sandbox)}`);
  const byName = new Map(listed.map((f) => [basename(f.path), f]));
  t.like(byName.get('stdout'), { path: join(done.sandbox, 'stdout'), size: stdoutOnDisk.length, nlink: 1 });
  t.like(byName.get('stderr'), { path: join(done.sandbox, 'stderr'), size: (await readFile(join(done.sandbox, 'stderr'))).length });
  t.regex(byName.get('stdout').mode, /^-r/);
  t.regex(byName.get('escape').mode, /^l/, 'the planted link is listed as a link');
  for (const k of ['mtime', 'uid', 'gid']) t.true(k in byName.get('stdout'), k);
});

test.serial('paths outside the work dir are refused: absolute, by `..`, through a link a task planted, the agent\'s own meta', async (t) => {
  const refused = [
    ['/files/read', '/etc/passwd'],
    ['/files/read', `${agent.workDir}/../../../../../../../../etc/passwd`],
    ['/files/read', join(done.sandbox, 'escape')],
    ['/files/download', join(done.sandbox, 'escape')],
    ['/files/browse', '/'],
    ['/files/browse', `${done.sandbox}/../../../../../../../../..`],
    ['/files/read', join(agent.workDir, 'meta', 'executor-secret')],
  ] as const;
  for (const [endpoint, path] of refused) {
    const r = await fetch(url(`${endpoint}?path=${q(path)}&offset=0`));
    const body = await r.text();
    t.is(r.status, 403, `${endpoint} ${path}: ${body}`);
    t.false(body.includes('root:'), 'nothing of the file leaks');
  }
  const v1 = await call({ type: 'READ_FILE', read_file: { path: join(done.sandbox, 'escape'), offset: 0 } });
  t.is(v1.status, 403);
  t.is((await fetch(url(`/files/read?path=${q(join(done.sandbox, 'missing'))}&offset=0`))).status, 404);
});

test.serial('/monitor/statistics has the running executor with what its container uses; /metrics/snapshot and /health answer', async (t) => {
  const stats: any[] = await getJson('/monitor/statistics');
  const e = stats.find((x) => x.executor_id === 'long');
  t.like(e, { framework_id: frameworkId, source: 'long', executor_name: 'Command Executor (Task: long)' });
  t.is(typeof e.statistics.timestamp, 'number');
  t.is(typeof e.statistics.cpus_user_time_secs, 'number');
  t.true(e.statistics.mem_rss_bytes > 0, JSON.stringify(e.statistics));
  const m = await getJson('/metrics/snapshot');
  t.like(m, { 'slave/registered': 1, 'slave/tasks_running': 1 });
  t.true(m['slave/cpus_used'] >= 0.1);
  t.is((await fetch(url('/health'))).status, 200);
});

test.serial('POST /api/v1: READ_FILE gives the stdout (base64) and its size; GET_STATE, GET_CONTAINERS and GET_HEALTH answer', async (t) => {
  const path = join(done.sandbox, 'stdout');
  const all = await call({ type: 'READ_FILE', read_file: { path, offset: 0 } });
  t.is(all.status, 200);
  t.is(all.json.type, 'READ_FILE');
  t.is(all.json.read_file.size, stdoutOnDisk.length);
  t.deepEqual(Buffer.from(all.json.read_file.data, 'base64'), stdoutOnDisk);
  const part = await call({ type: 'READ_FILE', read_file: { path, offset: 2, length: 3 } });
  t.deepEqual(Buffer.from(part.json.read_file.data, 'base64'), stdoutOnDisk.subarray(2, 5));

  t.deepEqual((await call({ type: 'GET_HEALTH' })).json, { type: 'GET_HEALTH', get_health: { healthy: true } });
  const state = (await call({ type: 'GET_STATE' })).json.get_state;
  t.truthy(state.get_tasks.launched_tasks.find((x: any) => x.task_id.value === 'long' && x.state === 'TASK_RUNNING'));
  t.truthy(state.get_frameworks.frameworks.find((x: any) => x.framework_info.id.value === frameworkId));
  const containers = (await call({ type: 'GET_CONTAINERS' })).json.get_containers.containers;
  t.like(containers.find((x: any) => x.executor_id.value === 'long'), { container_id: { value: long.containerId }, framework_id: { value: frameworkId } });
  t.is((await call({ type: 'NO_SUCH_CALL' })).status, 400);
});

test.serial('mesos-execute --tail prints where the task runs and its output as it is written', async (t) => {
  t.timeout(2 * WAIT);
  const p = e2e.procs.start('mesos-execute', [...e2e.flags('scheduler'), '--name=tailed', '--command=echo one; echo two', '--tail'], { label: 'tail' });
  const exit = await p.waitForExit(WAIT);
  t.is(exit.code, 0, p.tail());
  const lines = p.texts('stdout');
  const located = lines.findIndex((l) => /^Task 'tailed' runs in container \S+ on agent/.test(l));
  t.true(located >= 0, lines.join('\n'));
  const container = /runs in container (\S+)/.exec(lines[located]!)![1]!;
  const sandbox = /^\s+sandbox: (.+)$/.exec(lines[located + 1] ?? '')?.[1];
  t.truthy(sandbox, lines.join('\n'));
  t.is(basename(sandbox!), container, 'the sandbox is the container\'s run directory');
  t.true(sandbox!.startsWith(agent.workDir), 'on the agent that ran it');
  t.regex(lines[located + 2] ?? '', new RegExp(`^\\s+files: http://${agent.http.replace(/[.[\]]/g, '\\$&')}/files/browse\\?path=`));
  // The output lines, in order, between the task's start and the verdict.
  const one = lines.indexOf('one');
  const two = lines.indexOf('two');
  t.true(one > located && two > one, lines.join('\n'));
  t.true(two < lines.findIndex((l) => l.startsWith("Task 'tailed' ended: TASK_FINISHED")), lines.join('\n'));
  t.is(await readFile(join(sandbox!, 'stdout'), 'utf8'), 'one\ntwo\n');
});
