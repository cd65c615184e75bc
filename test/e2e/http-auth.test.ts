/**
 * HTTP authentication and view ACLs on a cluster of real processes, its endpoints served over
 * HTTPS with the cluster's own certificate (`E2EOptions.httpAuth`):
 *
 * - no credentials, or a wrong secret → 401 with the Basic challenge; `/master/health` stays open;
 * - HTTPS verified against the cluster's CA: a client trusting only the usual CAs fails, and so
 *   does plain HTTP to the HTTPS port;
 * - `viewer`, whose `view_frameworks` / `view_tasks` allow only user `alice`, sees only alice's
 *   framework and its tasks in `/master/state`, state-summary, tasks, the agent's state and a
 *   `SUBSCRIBE` stream (bob's events are not sent to it); `operator` (no rule) sees both;
 * - writes need credentials too, and the viewer's valid ones are refused (403, `teardown_frameworks`);
 * - the `mesos` CLI with `--credential` lists, and without it says 401 and exits 1.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { basicHeader } from '../../runtime/http/http-auth.ts';
import { loadCredential } from '../../runtime/credentials.ts';
import { E2ECluster, TestFramework } from './support.ts';

const WAIT = 60_000;
const ACLS = JSON.stringify({
  view_frameworks: [
    { principals: { values: ['viewer'] }, users: { values: ['alice'] } },
    { principals: { values: ['viewer'] }, users: { type: 'NONE' } },
  ],
  view_tasks: [
    { principals: { values: ['viewer'] }, users: { values: ['alice'] } },
    { principals: { values: ['viewer'] }, users: { type: 'NONE' } },
  ],
  teardown_frameworks: [
    { principals: { values: ['operator'] }, framework_principals: { type: 'ANY' } },
    { principals: { type: 'ANY' }, framework_principals: { type: 'NONE' } },
  ],
});
const e2e = new E2ECluster('e2e-http-auth');
let master = '';
let agentHttp = '';
let ca: Buffer;
let aliceId = '';
let bobId = '';
let alice: TestFramework;
let bob: TestFramework;

/** The `Authorization` header of `principal`'s credential (its HTTP secret). */
const authOf = (principal: string) => {
  const c = loadCredential(e2e.httpPrincipals!.file('operator', principal));
  return basicHeader(c.principal, c.httpSecret!);
};

interface Answer { status: number; headers: IncomingMessage['headers']; text: string }

/** One HTTPS request to `address`, trusting `trust` (default: the cluster's CA). */
function https(address: string, path: string, opts: { method?: string; auth?: string; body?: string; trust?: Buffer | 'system' } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`https://${address}${path}`, {
      method: opts.method ?? 'GET',
      headers: { ...(opts.auth ? { authorization: opts.auth } : {}), ...(opts.body ? { 'content-type': 'application/json' } : {}) },
      ...(opts.trust === 'system' ? {} : { ca: opts.trust ?? ca }),
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

async function json(address: string, path: string, principal: string): Promise<Record<string, any>> {
  const r = await https(address, path, { auth: authOf(principal) });
  if (r.status !== 200) throw new Error(`${path} as ${principal}: ${r.status} ${r.text}`);
  return JSON.parse(r.text) as Record<string, any>;
}

test.before(async (t) => {
  t.timeout(5 * WAIT);
  await e2e.start(1, WAIT, {
    httpAuth: true,
    operators: ['viewer'],
    masterArgs: [`--acls=${ACLS}`],
    // Tasks run as the agent's own user: alice and bob need not exist on this machine.
    agentArgs: [`--acls=${ACLS}`, '--no-switch_user'],
  });
  t.truthy(e2e.httpPrincipals, 'the cluster runs with its own credentials');
  master = e2e.masters[0]!.http;
  agentHttp = e2e.agents[0]!.http;
  ca = readFileSync(loadCredential(e2e.httpPrincipals!.file('operator')).tls!.ca!);
  alice = new TestFramework(e2e, 'fw-alice', ['--user=alice']);
  bob = new TestFramework(e2e, 'fw-bob', ['--user=bob']);
  aliceId = String((await alice.next('registered')).frameworkId);
  bobId = String((await bob.next('registered')).frameworkId);
  await alice.run('a1', 'sleep 600');
  await bob.run('b1', 'sleep 600');
});

test.after.always(async () => {
  await e2e.stop();
});

test.serial('no credentials or a wrong secret: 401 with the Basic challenge; health stays open', async (t) => {
  const none = await https(master, '/master/state');
  t.is(none.status, 401);
  t.is(none.headers['www-authenticate'], 'Basic realm="mesos"');
  t.is((await https(master, '/master/state', { auth: basicHeader('operator', 'not-the-secret') })).status, 401);
  t.is((await https(master, '/master/state', { auth: basicHeader('nobody', 'x') })).status, 401);
  t.is((await https(master, '/api/v1', { method: 'POST', body: '{"type":"GET_STATE"}' })).status, 401);
  t.is((await https(agentHttp, '/slave(1)/state')).status, 401, 'the agent asks too');
  t.is((await https(master, '/master/health')).status, 200);
  const metrics = await json(master, '/metrics/snapshot', 'operator');
  t.true(metrics['master/http_authentication_refusals'] >= 4, 'refusals are counted');
});

test.serial('HTTPS is verified against the cluster CA; plain HTTP to the HTTPS port fails', async (t) => {
  await t.throwsAsync(https(master, '/master/health', { trust: 'system' }), { message: /certificate|self.signed|verify/i });
  const plain = await new Promise<number | Error>((resolve) => {
    const req = httpRequest(`http://${master}/master/health`, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (e) => resolve(e));
    req.end();
  });
  t.true(plain instanceof Error || plain !== 200, `plain HTTP got ${String(plain)}`);
});

test.serial('the viewer sees only alice\'s framework and its tasks; the operator sees both', async (t) => {
  const mine = (list: Array<Record<string, any>>) => list.map((f) => f.id).sort();
  const st = await json(master, '/master/state', 'viewer');
  t.deepEqual(mine(st.frameworks), [aliceId]);
  t.deepEqual(st.frameworks[0].tasks.map((x: any) => x.id), ['a1']);
  t.is(st.slaves.length, 1, 'agents are not filtered');
  const sum = await json(master, '/master/state-summary', 'viewer');
  t.deepEqual(mine(sum.frameworks), [aliceId]);
  t.deepEqual(sum.slaves[0].framework_ids, [aliceId], 'an agent names only the frameworks the reader may see');
  const tasks = await json(master, '/master/tasks', 'viewer');
  t.deepEqual(tasks.tasks.map((x: any) => x.id), ['a1']);
  const v1 = JSON.parse((await https(master, '/api/v1', { method: 'POST', auth: authOf('viewer'), body: '{"type":"GET_STATE"}' })).text);
  t.deepEqual(v1.get_state.get_tasks.tasks.map((x: any) => x.task_id.value), ['a1']);
  const agent = await json(agentHttp, '/slave(1)/state', 'viewer');
  t.deepEqual(mine(agent.frameworks), [aliceId]);
  const agentV1 = JSON.parse((await https(agentHttp, '/api/v1', { method: 'POST', auth: authOf('viewer'), body: '{"type":"GET_STATE"}' })).text);
  t.deepEqual(agentV1.get_state.get_frameworks.frameworks.map((f: any) => f.framework_info.id.value), [aliceId], "the agent's v1 state too");
  t.deepEqual(agentV1.get_state.get_tasks.launched_tasks.map((x: any) => x.task_id.value), ['a1']);

  const all = await json(master, '/master/state', 'operator');
  t.deepEqual(mine(all.frameworks), [aliceId, bobId].sort());
});

test.serial('SUBSCRIBE: the viewer gets alice\'s state and events, never bob\'s', async (t) => {
  const records: Array<Record<string, any>> = [];
  let buf = '';
  let onRecord: (() => void) | undefined;
  const req = httpsRequest(`https://${master}/api/v1`, { method: 'POST', ca, headers: { authorization: authOf('viewer'), 'content-type': 'application/json' } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      buf += c;
      for (;;) {
        const nl = buf.indexOf('\n');
        if (nl < 0) break;
        const len = Number(buf.slice(0, nl));
        if (Buffer.byteLength(buf.slice(nl + 1)) < len) break;
        const bytes = Buffer.from(buf.slice(nl + 1));
        records.push(JSON.parse(bytes.subarray(0, len).toString()) as Record<string, any>);
        buf = bytes.subarray(len).toString();
        onRecord?.();
      }
    });
  });
  t.teardown(() => req.destroy());
  req.end('{"type":"SUBSCRIBE"}');
  const until = (pred: () => boolean) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out; records: ${JSON.stringify(records.map((r) => r.type))}`)), WAIT);
    const check = () => {
      if (!pred()) return;
      clearTimeout(timer);
      onRecord = undefined;
      resolve();
    };
    onRecord = check;
    check();
  });
  await until(() => records.some((r) => r.type === 'SUBSCRIBED'));
  const state = records.find((r) => r.type === 'SUBSCRIBED')!.subscribed.get_state;
  t.deepEqual(state.get_frameworks.frameworks.map((f: any) => f.framework_info.id.value), [aliceId]);
  t.deepEqual(state.get_tasks.tasks.map((x: any) => x.task_id.value), ['a1']);
  // Bob's task first, then alice's: events go out in order, so once alice's has come, bob's would have.
  await bob.run('b2', 'sleep 600');
  await alice.run('a2', 'sleep 600');
  await until(() => records.some((r) => r.type === 'TASK_ADDED' && r.task_added.task.task_id.value === 'a2'));
  const named = records.flatMap((r) => [r.task_added?.task?.framework_id?.value, r.task_updated?.framework_id?.value]).filter(Boolean);
  t.true(named.includes(aliceId));
  t.false(named.includes(bobId), 'no event about bob\'s tasks');
});

test.serial('writes need credentials; the viewer\'s are refused by teardown_frameworks (403) and tear nothing down', async (t) => {
  t.is((await https(master, '/master/teardown', { method: 'POST', body: `frameworkId=${bobId}` })).status, 401);
  t.is((await https(master, '/api/v1', { method: 'POST', body: JSON.stringify({ type: 'TEARDOWN', teardown: { framework_id: { value: bobId } } }) })).status, 401);
  t.is((await https(master, '/api/v1', { method: 'POST', auth: basicHeader('viewer', 'wrong'), body: JSON.stringify({ type: 'TEARDOWN', teardown: { framework_id: { value: bobId } } }) })).status, 401);
  const r = await https(master, '/api/v1', { method: 'POST', auth: authOf('viewer'), body: JSON.stringify({ type: 'TEARDOWN', teardown: { framework_id: { value: bobId } } }) });
  t.is(r.status, 403, `authenticated, then refused by teardown_frameworks: ${r.text}`);
  const form = await https(master, '/master/teardown', { method: 'POST', auth: authOf('viewer'), body: `frameworkId=${bobId}` });
  t.is(form.status, 403, form.text);
  const all = await json(master, '/master/state', 'operator');
  t.true(all.frameworks.some((f: any) => f.id === bobId), 'bob\'s framework is still there');
});

test.serial('the mesos CLI lists with --credential; without it, one line saying 401 and exit 1', async (t) => {
  const ok = e2e.procs.start('mesos', ['framework', 'list', '--json', `--master=${master}`, `--credential=${e2e.httpPrincipals!.file('operator', 'viewer')}`]);
  t.is((await ok.waitForExit(WAIT)).code, 0, ok.tail());
  t.deepEqual((JSON.parse(ok.output('stdout')) as Array<Record<string, any>>).map((f) => f.id), [aliceId]);
  const caFile = loadCredential(e2e.httpPrincipals!.file('operator')).tls!.ca!;
  const refused = e2e.procs.start('mesos', ['framework', 'list', `--master=${master}`, `--ca=${caFile}`]);
  t.is((await refused.waitForExit(WAIT)).code, 1);
  t.regex(refused.output('stderr'), /refused the credentials \(401\)/);
});
