/**
 * The master's HTTP endpoints on a cluster of real processes: a leader and a standby, two agents,
 * a framework with a running and a finished task, and a framework torn down. Each document is
 * checked field by field against the shapes Mesos documents (`docs/endpoints/master/state.md` and
 * its neighbours), so tools written for Mesos read it unchanged.
 */
import test from 'ava';
import { E2ECluster, logMsg, TestFramework } from './support.ts';

const e2e = new E2ECluster('e2e-http');
const WAIT = 60_000;
let leaderHttp = '';
let standbyHttp = '';
let fw: TestFramework;
let frameworkId = '';
let gone = '';

test.before(async (t) => {
  t.timeout(5 * WAIT);
  await e2e.start(2, WAIT, { standbys: 1 });
  leaderHttp = e2e.masters[0]!.http;
  standbyHttp = e2e.masters[1]!.http;
  fw = new TestFramework(e2e, 'http-fw');
  frameworkId = String((await fw.next('registered')).frameworkId);
  await fw.run('done', 'echo done', 'TASK_FINISHED');
  await fw.run('long', 'sleep 600', 'TASK_RUNNING');
  const other = new TestFramework(e2e, 'http-gone');
  gone = String((await other.next('registered')).frameworkId);
  other.send({ stop: true });
  await other.proc.waitForExit(WAIT);
  // Handled by the master before the first state request (a state document answers for a second).
  await e2e.master!.waitForLine(logMsg(`Framework ${gone} (http-gone) torn down`), WAIT);
});

test.after.always(async () => {
  await e2e.stop();
});

async function get(address: string, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`http://${address}${path}`, { redirect: 'manual', ...init });
}

async function getJson(path: string): Promise<Record<string, any>> {
  const r = await get(leaderHttp, path);
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as Record<string, any>;
}

test.serial('/master/state has Mesos’ fields: the master, its agents, the framework with its running and completed tasks, and the torn-down framework', async (t) => {
  const s = await getJson('/master/state');
  for (const k of ['version', 'start_time', 'elected_time', 'id', 'pid', 'hostname', 'activated_slaves', 'deactivated_slaves', 'leader', 'leader_info', 'flags', 'slaves', 'frameworks', 'completed_frameworks', 'orphan_tasks', 'unregistered_frameworks']) {
    t.true(k in s, `state has ${k}`);
  }
  t.is(s.pid, e2e.masterPid);
  t.is(s.leader, e2e.masterPid);
  t.is(s.leader_info.address, leaderHttp);
  t.is(s.activated_slaves, 2);
  t.is(s.flags.cluster, e2e.cluster);
  t.is(s.slaves.length, 2);
  for (const a of s.slaves) {
    t.like(a, { active: true, resources: { cpus: 2, mem: 1024, disk: 1024, ports: '[31000-32000]' } });
    t.true(e2e.agents.some((x) => x.agentId === a.id && x.pid === a.pid));
    t.is(typeof a.registered_time, 'number');
    t.deepEqual(a.attributes, {});
  }
  const f = s.frameworks.find((x: any) => x.id === frameworkId);
  t.truthy(f, 'the framework is listed');
  t.like(f, { name: 'http-fw', active: true, connected: true, role: '*', principal: 'framework' });
  const long = f.tasks.find((x: any) => x.id === 'long');
  t.like(long, { name: 'long', framework_id: frameworkId, state: 'TASK_RUNNING', resources: { cpus: 0.1, mem: 32 } });
  t.true(s.slaves.some((a: any) => a.id === long.slave_id && a.used_resources.cpus >= 0.1), 'its agent counts its resources as used');
  t.is(long.statuses[0].state, 'TASK_RUNNING');
  t.is(typeof long.statuses[0].container_status.container_id.value, 'string');
  t.true(f.used_resources.cpus >= 0.1);
  t.like(f.completed_tasks.find((x: any) => x.id === 'done'), { state: 'TASK_FINISHED' });
  t.truthy(s.completed_frameworks.find((x: any) => x.id === gone), 'the torn-down framework is completed');
});

test.serial('summary, agents, frameworks, tasks and roles', async (t) => {
  const sum = await getJson('/master/state-summary');
  t.is(sum.slaves.length, 2);
  const f = sum.frameworks.find((x: any) => x.id === frameworkId);
  t.is(f.TASK_RUNNING, 1);
  t.is(f.TASK_FINISHED, 1);
  t.is(sum.slaves.reduce((n: number, a: any) => n + a.TASK_RUNNING, 0), 1);
  t.is((await getJson('/master/slaves')).slaves.length, 2);
  const fws = await getJson('/master/frameworks');
  t.true(fws.frameworks.some((x: any) => x.id === frameworkId));
  const tasks = await getJson('/master/tasks?limit=1&order=asc');
  t.is(tasks.tasks.length, 1);
  t.is((await getJson('/master/tasks?limit=10')).tasks.length, 2);
  t.is((await get(leaderHttp, '/master/tasks?limit=-1')).status, 400);
  const roles = await getJson('/master/roles');
  t.like(roles.roles.find((r: any) => r.name === '*'), { weight: 1 });
  t.is((await get(leaderHttp, '/master/nothing')).status, 404);
});

test.serial('health, version, flags and metrics, in JSON and in Prometheus text', async (t) => {
  t.is((await get(leaderHttp, '/master/health')).status, 200);
  t.regex(String((await getJson('/version')).version), /^\d+\.\d+\.\d+/);
  t.is((await getJson('/master/flags')).flags.port, '0');
  const m = await getJson('/metrics/snapshot');
  t.is(m['master/elected'], 1);
  t.is(m['master/slaves_active'], 2);
  const prom = await (await get(leaderHttp, '/metrics')).text();
  const lines = prom.trim().split('\n');
  t.true(lines.every((l) => /^# (HELP|TYPE) mesos_[a-zA-Z0-9_]+ /.test(l) || /^mesos_[a-zA-Z0-9_]+ -?[\d.e+-]+$/.test(l)), 'every line is Prometheus text');
  t.true(lines.includes('mesos_master_elected 1'));
  const api = await (await get(leaderHttp, '/api/v1', { method: 'POST', body: JSON.stringify({ type: 'GET_HEALTH' }), headers: { 'content-type': 'application/json' } })).json() as any;
  t.deepEqual(api, { type: 'GET_HEALTH', get_health: { healthy: true } });
  t.is((await get(leaderHttp, '/api/v1', { method: 'POST', body: 'nonsense' })).status, 400);
});

/** Reads RecordIO records from a streamed response body, as they arrive. */
async function* records(body: ReadableStream<Uint8Array>): AsyncGenerator<Record<string, any>> {
  const reader = body.getReader();
  let buf = Buffer.alloc(0);
  for (;;) {
    const nl = buf.indexOf(10);
    if (nl >= 0) {
      const len = Number(buf.subarray(0, nl).toString());
      if (buf.length >= nl + 1 + len) {
        yield JSON.parse(buf.subarray(nl + 1, nl + 1 + len).toString()) as Record<string, any>;
        buf = buf.subarray(nl + 1 + len);
        continue;
      }
    }
    const { value, done } = await reader.read();
    if (done) return;
    buf = Buffer.concat([buf, value]);
  }
}

test.serial('v1 SUBSCRIBE streams the whole state, then TASK_ADDED and TASK_UPDATED for a task launched after', async (t) => {
  t.timeout(3 * WAIT);
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  const r = await get(leaderHttp, '/api/v1', { method: 'POST', body: JSON.stringify({ type: 'SUBSCRIBE' }), headers: { 'content-type': 'application/json' }, signal: ac.signal });
  t.is(r.status, 200);
  const stream = records(r.body!);
  const first = (await stream.next()).value!;
  t.is(first.type, 'SUBSCRIBED');
  t.is(first.subscribed.heartbeat_interval_seconds, 15);
  const state = first.subscribed.get_state;
  t.true(state.get_tasks.tasks.some((x: any) => x.task_id.value === 'long' && x.state === 'TASK_RUNNING'));
  t.true(state.get_frameworks.frameworks.some((f: any) => f.framework_info.id.value === frameworkId));
  t.is(state.get_agents.agents.length, 2);

  const launched = fw.run('streamed', 'sleep 600', 'TASK_RUNNING');
  const seen: string[] = [];
  for await (const e of stream) {
    if (e.type === 'TASK_ADDED' && e.task_added.task.task_id.value === 'streamed') seen.push(`ADDED ${e.task_added.task.state}`);
    if (e.type === 'TASK_UPDATED' && e.task_updated.status.task_id.value === 'streamed') {
      seen.push(`UPDATED ${e.task_updated.state}`);
      t.is(e.task_updated.framework_id.value, frameworkId);
      if (e.task_updated.state === 'TASK_RUNNING') break;
    }
  }
  await launched;
  t.is(seen[0], 'ADDED TASK_STAGING');
  t.is(seen.at(-1), 'UPDATED TASK_RUNNING');
  t.log(`events for the task: ${seen.join(', ')}`);
});

test.serial('a standby answers health and redirects state requests to the leader (307)', async (t) => {
  t.is((await get(standbyHttp, '/master/health')).status, 200);
  for (const path of ['/master/redirect', '/master/state', '/state.json', '/master/tasks?limit=1']) {
    const r = await get(standbyHttp, path);
    t.is(r.status, 307, path);
    t.is(r.headers.get('location'), `//${leaderHttp}${path === '/master/redirect' ? path : path}`, path);
  }
});

test.serial('the mesos CLI lists agents, frameworks and tasks as tables and JSON, asking a standby, which sends it to the leader', async (t) => {
  t.timeout(3 * WAIT);
  const run = async (args: string[]) => {
    const p = e2e.procs.start('mesos', args, { label: `mesos ${args.join(' ')}` });
    const st = await p.waitForExit(WAIT);
    return { code: st.code, out: p.output('stdout'), err: p.texts('stderr').filter((l) => l.trim() !== '') };
  };
  const agents = await run(['agent', 'list', `--master=${standbyHttp}`]);
  t.is(agents.code, 0, agents.err.join('\n'));
  t.regex(agents.out, /^ID\s+HOSTNAME\s+STATE\s+USED\s+TOTAL/);
  for (const a of e2e.agents) t.true(agents.out.includes(a.agentId));
  const json = await run(['agent', 'list', '--json', `--master=${leaderHttp}`]);
  t.is(JSON.parse(json.out).length, 2);
  const fws = await run(['framework', 'list', `--master=${leaderHttp}`]);
  t.regex(fws.out, new RegExp(`${frameworkId}\\s+http-fw\\s+framework\\s+connected`));
  t.regex(fws.out, new RegExp(`${gone}\\s+http-gone\\s+\\S+\\s+completed`));
  const running = await run(['task', 'list', '--json', `--master=${leaderHttp}`]);
  const ids = (JSON.parse(running.out) as Array<{ id: string }>).map((x) => x.id);
  t.true(ids.includes('long'));
  t.false(ids.includes('done'));
  const all = await run(['task', 'list', '--all', `--master=${leaderHttp}`]);
  t.regex(all.out, /\bdone\s+\S+\s+\S+\s+TASK_FINISHED/);
  // Scripts can tell a bad command (2) from a cluster that cannot be asked (1).
  const bad = await run(['nonsense']);
  t.is(bad.code, 2);
  t.deepEqual(bad.err, ["mesos: unknown command 'nonsense' (try: agent list, framework list, task list, state, roles, quota, weights, top)"]);
  const nobody = await run(['agent', 'list', '--master=127.0.0.1:1']);
  t.is(nobody.code, 1);
  t.is(nobody.err.length, 1);
  t.regex(nobody.err[0]!, /^mesos: no master answers at 127\.0\.0\.1:1 /);
});

test.serial('mesos task log reads a running task’s stdout and stderr from its agent, --follow prints lines as they are written, task cat reads a sandbox file', async (t) => {
  t.timeout(3 * WAIT);
  await fw.run('talker', 'echo oops >&2; echo line1; echo line2; sleep 600', 'TASK_RUNNING');
  const follow = e2e.procs.start('mesos', ['task', 'log', 'talker', '--follow', `--master=${leaderHttp}`], { label: 'mesos task log --follow' });
  await follow.waitForLine(/^line1$/, WAIT, { stream: 'stdout' });
  await follow.waitForLine(/^line2$/, WAIT, { stream: 'stdout' });
  t.is((await follow.stop(WAIT)).code, 0, follow.tail());
  const run = async (args: string[]) => {
    const p = e2e.procs.start('mesos', args, { label: `mesos ${args.join(' ')}` });
    const st = await p.waitForExit(WAIT);
    return { code: st.code, out: p.output('stdout'), err: p.texts('stderr').filter((l) => l.trim() !== '') };
  };
  const out = await run(['task', 'log', 'talker', `--master=${leaderHttp}`]);
  t.is(out.code, 0, out.err.join('\n'));
  t.is(out.out, 'line1\nline2');
  const err = await run(['task', 'log', 'talker', '--stderr', `--master=${leaderHttp}`]);
  // The command executor logs to the same stderr, as Mesos' does.
  t.true(err.out.split('\n').includes('oops'), err.out);
  const cat = await run(['task', 'cat', 'talker', 'stdout', `--master=${leaderHttp}`]);
  t.is(cat.out, 'line1\nline2');
  t.is((await run(['task', 'cat', 'talker', '../../../etc/passwd', `--master=${leaderHttp}`])).code, 2);
  const none = await run(['task', 'log', 'nobody', `--master=${leaderHttp}`]);
  t.is(none.code, 1);
  t.deepEqual(none.err, ["mesos: no running task 'nobody'"]);
});
