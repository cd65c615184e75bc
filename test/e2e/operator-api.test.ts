/**
 * The operator's API on a cluster of real processes: a leader and a standby, three agents, a
 * partition-aware framework. The v1 reads are checked field by field against what the cluster is
 * known to hold; the writes (teardown, quota, weights, marking an agent gone) go through HTTP and
 * are seen to take effect; an agent killed by PID shows up unreachable in `/master/state`; and the
 * `mesos` CLI lists, sets and watches the same, finding the leader by itself.
 */
import test from 'ava';
import { E2ECluster, logMsg, TestFramework, until, type TestAgent } from './support.ts';

const WAIT = 60_000;
const e2e = new E2ECluster('e2e-operator');
let leaderHttp = '';
let standbyHttp = '';
let fw: TestFramework;
let frameworkId = '';

test.before(async (t) => {
  t.timeout(5 * WAIT);
  // Short pings: an agent killed by PID is unreachable within seconds.
  await e2e.start(3, WAIT, { standbys: 1, masterArgs: ['--agent_ping_timeout=1secs', '--max_agent_ping_timeouts=3'] });
  leaderHttp = e2e.masters[0]!.http;
  standbyHttp = e2e.masters[1]!.http;
  fw = new TestFramework(e2e, 'op-fw', ['--partition_aware=true']);
  frameworkId = String((await fw.next('registered')).frameworkId);
  await fw.run('done', 'echo done', 'TASK_FINISHED');
  await fw.run('long', 'sleep 600', 'TASK_RUNNING');
});

test.after.always(async () => {
  await e2e.stop();
});

type J = Record<string, any>;

async function call(body: J, address = leaderHttp): Promise<Response> {
  return fetch(`http://${address}/api/v1`, { method: 'POST', redirect: 'manual', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
}

async function v1(body: J): Promise<J> {
  const r = await call(body);
  if (r.status !== 200) throw new Error(`${String(body.type)}: ${r.status} ${await r.text()}`);
  return (await r.json()) as J;
}

async function getJson(path: string): Promise<any> {
  const r = await fetch(`http://${leaderHttp}${path}`);
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return r.json();
}

/** The agent running task `taskId`, from the master's tasks. */
async function agentOf(taskId: string): Promise<TestAgent> {
  const { tasks } = await getJson('/master/tasks?limit=1000');
  const id = tasks.find((x: J) => x.id === taskId && x.state === 'TASK_RUNNING')?.slave_id;
  const a = e2e.agents.find((x) => x.agentId === id);
  if (!a) throw new Error(`no agent runs ${taskId}`);
  return a;
}

test.serial('v1 GET_AGENTS, GET_FRAMEWORKS, GET_TASKS, GET_EXECUTORS, GET_ROLES and GET_MASTER answer in Mesos’ shapes with what the cluster holds', async (t) => {
  const agents = (await v1({ type: 'GET_AGENTS' })).get_agents;
  t.is(agents.agents.length, 3);
  for (const a of agents.agents) {
    const known = e2e.agents.find((x) => x.agentId === a.agent_info.id.value);
    t.truthy(known, 'an agent the cluster started');
    t.is(a.pid, known!.pid);
    t.true(a.active);
    t.is(a.http_address, known!.http);
    t.deepEqual(a.total_resources.find((r: J) => r.name === 'cpus'), { name: 'cpus', type: 'SCALAR', scalar: { value: 2 } });
    t.deepEqual(a.total_resources.find((r: J) => r.name === 'ports'), { name: 'ports', type: 'RANGES', ranges: { range: [{ begin: 31000, end: 32000 }] } });
  }
  t.deepEqual(agents.recovered_agents, []);

  const fws = (await v1({ type: 'GET_FRAMEWORKS' })).get_frameworks;
  t.is(fws.frameworks.length, 1);
  t.like(fws.frameworks[0], { active: true, connected: true, recovered: false, framework_info: { id: { value: frameworkId }, name: 'op-fw', principal: 'framework', roles: ['*'] } });
  t.deepEqual(fws.frameworks[0].framework_info.capabilities, [{ type: 'PARTITION_AWARE' }]);
  t.deepEqual(fws.completed_frameworks, []);

  const tasks = (await v1({ type: 'GET_TASKS' })).get_tasks;
  t.deepEqual(tasks.tasks.map((x: J) => x.task_id.value), ['long']);
  const long = tasks.tasks[0];
  t.like(long, { name: 'long', framework_id: { value: frameworkId }, state: 'TASK_RUNNING' });
  t.true(e2e.agents.some((a) => a.agentId === long.agent_id.value));
  t.like(long.statuses[0], { task_id: { value: 'long' }, state: 'TASK_RUNNING', agent_id: long.agent_id });
  t.deepEqual(long.resources.find((r: J) => r.name === 'cpus'), { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } });
  t.deepEqual(tasks.completed_tasks.map((x: J) => [x.task_id.value, x.state]), [['done', 'TASK_FINISHED']]);
  t.deepEqual(tasks.unreachable_tasks, []);

  // Command tasks run under the agent's own command executor, which the master does not track
  // (as in Mesos): only a framework's own executors are listed.
  t.deepEqual((await v1({ type: 'GET_EXECUTORS' })).get_executors, { executors: [], orphan_executors: [] });

  const roles = (await v1({ type: 'GET_ROLES' })).get_roles.roles;
  const star = roles.find((r: J) => r.name === '*');
  t.like(star, { name: '*', weight: 1, frameworks: [{ value: frameworkId }] });
  t.deepEqual(star.allocated.find((r: J) => r.name === 'cpus'), { name: 'cpus', type: 'SCALAR', scalar: { value: 0.1 } });

  const master = (await v1({ type: 'GET_MASTER' })).get_master;
  t.is(master.master_info.pid, e2e.masterPid);
  t.is(`${master.master_info.address.ip}:${master.master_info.port}`, leaderHttp);
  t.regex(master.master_info.version, /^\d+\.\d+\.\d+/);
  t.true(master.elected_time >= master.start_time);

  // A standby sends a write to the leader (307 keeps the method and body).
  t.is((await call({ type: 'GET_AGENTS' }, standbyHttp)).status, 307);
  t.is((await call({ type: 'TEARDOWN', teardown: {} })).status, 400);
});

test.serial('quota and weights set over HTTP show in GET_QUOTA, /master/quota, /master/weights, GET_ROLES and /master/roles; a quota is removed with DELETE', async (t) => {
  const set = await call({ type: 'UPDATE_QUOTA', update_quota: { force: false, quota_configs: [{ role: 'dev', guarantees: { cpus: { value: 1 }, mem: { value: 256 } }, limits: { cpus: { value: 2 } } }] } });
  t.is(set.status, 200, await set.text());
  const status = (await v1({ type: 'GET_QUOTA' })).get_quota.status;
  t.deepEqual(status.configs, [{ role: 'dev', guarantees: { cpus: { value: 1 }, mem: { value: 256 } }, limits: { cpus: { value: 2 } } }]);
  t.deepEqual(status.infos, [{ role: 'dev', guarantee: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 1 } }, { name: 'mem', type: 'SCALAR', scalar: { value: 256 } }] }]);
  // The older endpoint: POST a guarantee.
  const old = await fetch(`http://${leaderHttp}/master/quota`, { method: 'POST', body: JSON.stringify({ role: 'ops', guarantee: [{ name: 'cpus', type: 'SCALAR', scalar: { value: 0.5 } }] }) });
  t.is(old.status, 200, await old.text());
  t.deepEqual((await getJson('/master/quota')).configs.map((c: J) => c.role), ['dev', 'ops']);
  const bad = await call({ type: 'UPDATE_QUOTA', update_quota: { quota_configs: [{ role: 'dev', guarantees: { cpus: { value: 3 } }, limits: { cpus: { value: 2 } } }] } });
  t.is(bad.status, 400);
  t.regex(await bad.text(), /guarantee of cpus \(3\) is above its limit \(2\)/);

  const weights = await fetch(`http://${leaderHttp}/master/weights`, { method: 'PUT', body: JSON.stringify([{ role: '*', weight: 2.5 }, { role: 'dev', weight: 3 }]) });
  t.is(weights.status, 200, await weights.text());
  t.deepEqual(await getJson('/master/weights'), [{ role: '*', weight: 2.5 }, { role: 'dev', weight: 3 }]);
  t.is((await call({ type: 'UPDATE_WEIGHTS', update_weights: { weight_infos: [{ role: 'ops', weight: 0.5 }] } })).status, 200);
  t.deepEqual((await v1({ type: 'GET_WEIGHTS' })).get_weights.weight_infos.find((w: J) => w.role === 'ops'), { role: 'ops', weight: 0.5 });
  const roles = (await v1({ type: 'GET_ROLES' })).get_roles.roles;
  t.like(roles.find((r: J) => r.name === 'dev'), { weight: 3, quota: { role: 'dev', guarantee: { cpus: { value: 1 }, mem: { value: 256 } }, limit: { cpus: { value: 2 } } } });
  t.like(roles.find((r: J) => r.name === '*'), { weight: 2.5 });
  t.true(await until(async () => (await getJson('/master/roles')).roles.find((r: J) => r.name === '*')?.weight === 2.5, WAIT), '/master/roles shows the weight');
  t.is((await fetch(`http://${leaderHttp}/master/weights`, { method: 'PUT', body: '[{"role":"x","weight":0}]' })).status, 400);

  t.is((await fetch(`http://${leaderHttp}/master/quota/ops`, { method: 'DELETE' })).status, 200);
  t.deepEqual((await getJson('/master/quota')).configs.map((c: J) => c.role), ['dev']);
  const again = await fetch(`http://${leaderHttp}/master/quota/ops`, { method: 'DELETE' });
  t.is(again.status, 400);
  t.regex(await again.text(), /No quota set for role 'ops'/);
});

test.serial('an agent killed by PID is unreachable in /master/state: counted in unreachable_slaves, its task under the framework’s unreachable_tasks', async (t) => {
  t.timeout(3 * WAIT);
  await fw.run('lost', 'sleep 600', 'TASK_RUNNING');
  const victim = await agentOf('lost');
  const since = fw.proc.mark();
  victim.proc.signal('SIGKILL');
  await victim.proc.waitForExit(WAIT);
  await fw.next('status', (j) => j.taskId === 'lost' && j.state === 'TASK_UNREACHABLE', since, WAIT);
  let s: J = {};
  t.true(await until(async () => {
    s = await getJson('/master/state');
    return s.unreachable_slaves === 1;
  }, WAIT), 'the state counts the unreachable agent');
  t.false(s.slaves.some((a: J) => a.id === victim.agentId), 'no longer among the agents');
  const f = s.frameworks.find((x: J) => x.id === frameworkId);
  const u = f.unreachable_tasks.find((x: J) => x.id === 'lost');
  t.like(u, { id: 'lost', slave_id: victim.agentId, framework_id: frameworkId, state: 'TASK_UNREACHABLE' });
  t.is(typeof u.unreachable_time, 'number');
  t.false(f.tasks.some((x: J) => x.id === 'lost'));
  t.true((await v1({ type: 'GET_TASKS' })).get_tasks.unreachable_tasks.some((x: J) => x.task_id.value === 'lost' && x.agent_id.value === victim.agentId));
  e2e.agents.splice(e2e.agents.indexOf(victim), 1);
});

test.serial('MARK_AGENT_GONE on a live agent: its task ends TASK_GONE_BY_OPERATOR, the agent exits, and started again it is refused', async (t) => {
  t.timeout(3 * WAIT);
  await fw.run('doomed', 'sleep 600', 'TASK_RUNNING');
  const agent = await agentOf('doomed');
  const since = fw.proc.mark();
  const r = await call({ type: 'MARK_AGENT_GONE', mark_agent_gone: { agent_id: { value: agent.agentId } } });
  t.is(r.status, 200, await r.text());
  const st = await fw.next('status', (j) => j.taskId === 'doomed' && j.state === 'TASK_GONE_BY_OPERATOR', since, WAIT);
  t.is(st.reason, 'REASON_AGENT_REMOVED_BY_OPERATOR');
  t.is((await agent.proc.waitForExit(WAIT)).code, 0, 'the agent shut down');
  t.false((await v1({ type: 'GET_AGENTS' })).get_agents.agents.some((a: J) => a.agent_info.id.value === agent.agentId));
  t.is((await call({ type: 'MARK_AGENT_GONE', mark_agent_gone: { agent_id: { value: 'no-such-agent' } } })).status, 404);
  e2e.agents.splice(e2e.agents.indexOf(agent), 1);

  // Started again on its work dir it re-registers under its id: refused and told to shut down.
  const n = Number(agent.workDir.slice(agent.workDir.lastIndexOf('/a') + 2));
  const again = e2e.spawnAgent(n);
  await again.proc.waitForLine(logMsg('the master asked this agent to shut down; exiting'), WAIT);
  t.is((await again.proc.waitForExit(WAIT)).code, 0);
  await e2e.master!.waitForLine(logMsg(new RegExp(`^Refusing re-registration of agent ${agent.agentId}: it was marked gone`)), WAIT);
});

test.serial('mesos task cat of a file the sandbox does not have prints one line naming it and exits 1', async (t) => {
  t.timeout(3 * WAIT);
  await fw.run('cat-me', 'sleep 600', 'TASK_RUNNING');
  const p = e2e.procs.start('mesos', ['task', 'cat', 'cat-me', 'no-such-file', `--master=${leaderHttp}`], { label: 'mesos task cat missing' });
  t.is((await p.waitForExit(WAIT)).code, 1);
  t.is(p.output('stdout'), '');
  t.deepEqual(p.texts('stderr').filter((l) => l.trim() !== ''), ["mesos: task 'cat-me' has no file 'no-such-file' in its sandbox"]);
});

test.serial('TEARDOWN over HTTP ends the framework: its task is killed and it moves to completed_frameworks', async (t) => {
  t.timeout(3 * WAIT);
  const unknown = await fetch(`http://${leaderHttp}/master/teardown`, { method: 'POST', body: 'frameworkId=nobody', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.is(unknown.status, 400);
  const r = await fetch(`http://${leaderHttp}/master/teardown`, { method: 'POST', body: `frameworkId=${frameworkId}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  t.is(r.status, 200, await r.text());
  const fws = (await v1({ type: 'GET_FRAMEWORKS' })).get_frameworks;
  t.deepEqual(fws.frameworks, []);
  t.is(fws.completed_frameworks[0].framework_info.id.value, frameworkId);
  // The state documents follow the master's events a moment later.
  let done: J | undefined;
  t.true(await until(async () => {
    done = (await getJson('/master/frameworks')).completed_frameworks.find((f: J) => f.id === frameworkId);
    return done !== undefined;
  }, WAIT), '/master/frameworks lists it completed');
  t.like(done!.completed_tasks.find((x: J) => x.id === 'cat-me'), { state: 'TASK_KILLED' });
  // The agent was told to shut the framework down: the task's process ends.
  await e2e.master!.waitForLine(logMsg(`Framework ${frameworkId} (op-fw) torn down`), WAIT);
});

test.serial('the master logs agents, frameworks and tasks coming and going at info, one line each; the standby logs who leads and where', async (t) => {
  const leader = e2e.master!;
  const info = (re: RegExp) => leader.waitForLine(logMsg(re, (j) => j.level === 30 || j.level === 'info'), WAIT);
  for (const a of e2e.agents) await info(new RegExp(`^Agent ${a.agentId} \\(\\S+\\) registered$`));
  await info(new RegExp(`^Framework ${frameworkId} \\(op-fw\\) subscribed$`));
  await info(new RegExp(`^Launching task long of framework ${frameworkId} on agent \\S+ \\(\\S+\\)$`));
  await info(new RegExp(`^Task done of framework ${frameworkId} on agent \\S+ is TASK_FINISHED`));
  await info(/^Agent \S+ \(\S+\) marked unreachable: health check timed out$/);
  await info(/^Agent \S+ \(\S+\) removed: marked gone$/);
  await info(new RegExp(`^Framework ${frameworkId} \\(op-fw\\) torn down$`));
  const standby = e2e.masters[1]!.proc;
  const line = await standby.waitForLine(logMsg(/^Standing by; the leading master is /), WAIT);
  t.true(line.text.includes(`the leading master is ${e2e.masterPid} (epoch `), line.text);
  t.true(line.text.includes(`HTTP at ${leaderHttp}`), line.text);
});
