/**
 * The `mesos` CLI's operator commands on a secured cluster of real processes (the bus with
 * credentials; the masters' HTTP over TLS with Basic authentication): it finds the leader on the
 * bus by itself (no `--master`), tears a framework down, sets and removes quota, sets weights and
 * shows `top`, each as a table and as `--json`; bad uses exit 2 and refusals exit 1, each with one
 * line.
 */
import test from 'ava';
import { E2ECluster, TestFramework } from './support.ts';

const WAIT = 60_000;
const e2e = new E2ECluster('e2e-opcli');
let fw: TestFramework;
let frameworkId = '';

test.before(async (t) => {
  t.timeout(5 * WAIT);
  await e2e.start(2, WAIT, { standbys: 1, ownServer: true, httpAuth: true });
  fw = new TestFramework(e2e, 'cli-fw');
  frameworkId = String((await fw.next('registered')).frameworkId);
  await fw.run('busy', 'sleep 600', 'TASK_RUNNING');
});

test.after.always(async () => {
  await e2e.stop();
});

/** Runs the CLI as the operator, finding the leader on the bus (no `--master`). */
async function mesos(...args: string[]): Promise<{ code: number | null; out: string; err: string[] }> {
  const p = e2e.procs.start('mesos', [...args, ...e2e.flags('operator')], { label: `mesos ${args.join(' ')}` });
  const st = await p.waitForExit(WAIT);
  return { code: st.code, out: p.output('stdout'), err: p.texts('stderr').filter((l) => l.trim() !== '') };
}

test.serial('with no --master the CLI asks the leader the bus names (over HTTPS, as the operator)', async (t) => {
  const r = await mesos('agent', 'list', '--json');
  t.is(r.code, 0, r.err.join('\n'));
  t.deepEqual((JSON.parse(r.out) as Array<{ id: string }>).map((a) => a.id).sort(), e2e.agents.map((a) => a.agentId).sort());
  t.deepEqual(r.err, []);
});

test.serial('mesos quota set, quota, quota remove: table and --json', async (t) => {
  const set = await mesos('quota', 'set', 'dev', 'cpus=1,mem=128', '--limit=cpus=2');
  t.is(set.code, 0, set.err.join('\n'));
  t.is(set.out, "quota of role 'dev' set: cpus=1,mem=128 (limit cpus=2)");
  const shown = await mesos('quota');
  t.regex(shown.out, /^ROLE\s+GUARANTEE\s+LIMIT\ndev\s+cpus=1,mem=128\s+cpus=2$/);
  const json = await mesos('quota', '--json');
  t.deepEqual(JSON.parse(json.out), [{ role: 'dev', guarantees: { cpus: { value: 1 }, mem: { value: 128 } }, limits: { cpus: { value: 2 } } }]);
  t.is((await mesos('quota', 'remove', 'dev')).code, 0);
  t.deepEqual(JSON.parse((await mesos('quota', '--json')).out), []);
  const again = await mesos('quota', 'remove', 'dev');
  t.is(again.code, 1);
  t.deepEqual(again.err, ["mesos: UPDATE_QUOTA: No quota set for role 'dev' (400)"]);
  const bad = await mesos('quota', 'set', 'dev', 'cpus=lots');
  t.is(bad.code, 2);
  t.deepEqual(bad.err, ["mesos: quota set: 'cpus=lots' is not <resource>=<amount> (e.g. cpus=2,mem=512)"]);
});

test.serial('mesos weights set and weights: table and --json; the roles show the weight', async (t) => {
  const set = await mesos('weights', 'set', '*=3', 'dev=0.5');
  t.is(set.code, 0, set.err.join('\n'));
  t.is(set.out, "weight of role '*' set to 3\nweight of role 'dev' set to 0.5");
  const shown = await mesos('weights');
  t.regex(shown.out, /^ROLE\s+WEIGHT\n\*\s+3\ndev\s+0\.5$/);
  t.deepEqual(JSON.parse((await mesos('weights', '--json')).out), [{ role: '*', weight: 3 }, { role: 'dev', weight: 0.5 }]);
  const roles = await mesos('roles', '--json');
  t.like((JSON.parse(roles.out) as Array<{ name: string }>).find((r) => r.name === '*'), { weight: 3, frameworks: [frameworkId] });
  t.is((await mesos('weights', 'set', 'dev=0')).code, 2);
});

test.serial('mesos top --once (and top with stdout not a terminal): each agent’s and the framework’s usage', async (t) => {
  const once = await mesos('top', '--once');
  t.is(once.code, 0, once.err.join('\n'));
  t.regex(once.out, /^AGENT\s+HOSTNAME\s+TASKS\s+CPUS\s+CPU%\s+MEM \(MB\)\s+MEM%$/m);
  for (const a of e2e.agents) t.regex(once.out, new RegExp(`^${a.agentId}\\s+\\S+\\s+[01]\\s+0(\\.1)?/2\\s+`, 'm'));
  t.regex(once.out, new RegExp(`^${frameworkId}\\s+cli-fw\\s+\\*\\s+1\\s+0\\.1\\s+32$`, 'm'));
  const json = JSON.parse((await mesos('top', '--json')).out) as { agents: Array<{ id: string; tasks: number; cpus: number; cpus_total: number }>; frameworks: Array<{ id: string; tasks: number; cpus: number; mem: number }> };
  t.is(json.agents.length, 2);
  t.is(json.agents.reduce((n, a) => n + a.tasks, 0), 1);
  t.true(json.agents.every((a) => a.cpus_total === 2));
  t.deepEqual(json.frameworks.map((f) => [f.id, f.tasks, f.cpus, f.mem]), [[frameworkId, 1, 0.1, 32]]);
});

test.serial('mesos framework teardown ends the framework; an unknown one is one line and exit 1', async (t) => {
  const none = await mesos('framework', 'teardown', 'no-such-framework');
  t.is(none.code, 1);
  t.deepEqual(none.err, ['mesos: TEARDOWN: No framework found with ID no-such-framework (400)']);
  const r = await mesos('framework', 'teardown', frameworkId);
  t.is(r.code, 0, r.err.join('\n'));
  t.is(r.out, `framework ${frameworkId} torn down`);
  const list = await mesos('framework', 'list', '--json');
  t.like((JSON.parse(list.out) as Array<{ id: string }>).find((f) => f.id === frameworkId), { state: 'completed' });
  t.is((await mesos('framework', 'teardown')).code, 2);
});
