/**
 * The web UI's model of the cluster (`webui/store.ts`) and its RecordIO reader: a `SUBSCRIBED`
 * state and the events after it, in the v1 shapes the master sends, give the tables, counts and
 * resources an operator reads; malformed events change nothing and are counted.
 */
import test from 'ava';
import { ClusterStore } from '../../webui/store.ts';
import { readRecordIO, RecordIOError } from '../../webui/recordio.ts';

const id = (value: string) => ({ value });
const scalar = (name: string, value: number) => ({ name, type: 'SCALAR', scalar: { value } });
const agent = (n: string, extra: Record<string, unknown> = {}) => ({
  agent_info: { id: id(n), hostname: `host-${n}`, resources: [scalar('cpus', 2), scalar('mem', 1024)], attributes: [{ name: 'rack', type: 'TEXT', text: { value: 'r1' } }] },
  http_address: `127.0.0.1:${n.length}`,
  active: true,
  deactivated: false,
  total_resources: [scalar('cpus', 2), scalar('mem', 1024)],
  ...extra,
});
const task = (t: string, state: string) => ({ task_id: id(t), framework_id: id('fw'), agent_id: id('a1'), name: t, state, resources: [scalar('cpus', 0.5), scalar('mem', 64)], statuses: [] });

function subscribed(): ClusterStore {
  const s = new ClusterStore();
  s.apply({
    type: 'SUBSCRIBED',
    subscribed: {
      heartbeat_interval_seconds: 15,
      get_state: {
        get_agents: { agents: [agent('a1'), agent('a2')], recovered_agents: [{ id: id('a3'), hostname: 'host-a3' }] },
        get_frameworks: { frameworks: [{ framework_info: { id: id('fw'), name: 'web', user: 'u', roles: ['*'] }, active: true, connected: true }], completed_frameworks: [] },
        get_tasks: { tasks: [task('run', 'TASK_RUNNING')], unreachable_tasks: [], completed_tasks: [task('old', 'TASK_FINISHED')] },
      },
    },
  }, 1000);
  return s;
}

test('SUBSCRIBED: agents with attributes and address, the recovered one recovering, tasks counted, used resources from the running task only', (t) => {
  const s = subscribed();
  t.like(s.agents.get('a1'), { hostname: 'host-a1', status: 'active', attributes: { rack: 'r1' }, httpAddress: '127.0.0.1:2', resources: { cpus: 2, mem: 1024 } });
  t.is(s.agents.get('a3')?.status, 'recovering');
  // total: two live agents × 2 cpus; used: the running task's 0.5 (the finished one holds nothing)
  t.deepEqual(s.total(), { cpus: 4, mem: 2048 });
  t.deepEqual(s.used, { cpus: 0.5, mem: 64 });
  t.is(s.counts.TASK_RUNNING, 1);
  t.is(s.counts.TASK_FINISHED, 1);
});

test('TASK_ADDED then TASK_UPDATED: the task moves through its states, its history and sandbox follow, the counts and used resources too', (t) => {
  const s = subscribed();
  const v = s.version;
  s.apply({ type: 'TASK_ADDED', task_added: { task: task('new', 'TASK_STAGING') } }, 2000);
  s.apply({ type: 'TASK_UPDATED', task_updated: { framework_id: id('fw'), state: 'TASK_RUNNING', status: { task_id: id('new'), state: 'TASK_RUNNING', timestamp: 3, sandbox: '/w/sb' } } }, 3500);
  t.like(s.tasks.get(ClusterStore.key('fw', 'new')), { state: 'TASK_RUNNING', sandbox: '/w/sb' });
  t.deepEqual(s.used, { cpus: 1, mem: 128 });
  s.apply({ type: 'TASK_UPDATED', task_updated: { framework_id: id('fw'), state: 'TASK_FINISHED', status: { task_id: id('new'), state: 'TASK_FINISHED', timestamp: 4 } } }, 4500);
  const row = s.tasks.get(ClusterStore.key('fw', 'new'))!;
  t.deepEqual(row.history.map((h) => [h.state, h.at]), [['TASK_STAGING', 2000], ['TASK_RUNNING', 3000], ['TASK_FINISHED', 4000]]);
  t.is(s.counts.TASK_RUNNING, 1);
  t.is(s.counts.TASK_FINISHED, 2);
  t.deepEqual(s.used, { cpus: 0.5, mem: 64 });
  t.is(s.version, v + 3);
});

test('AGENT_REMOVED: unreachable unless it unregistered; its resources leave the total', (t) => {
  const s = subscribed();
  s.apply({ type: 'AGENT_REMOVED', agent_removed: { agent_id: id('a1'), reason: 'unreachable' } }, 2000);
  s.apply({ type: 'AGENT_REMOVED', agent_removed: { agent_id: id('a2'), reason: 'unregistered' } }, 2000);
  t.is(s.agents.get('a1')?.status, 'unreachable');
  t.is(s.agents.get('a2')?.status, 'removed');
  t.deepEqual(s.total(), {});
  s.apply({ type: 'AGENT_ADDED', agent_added: { agent: agent('a1') } }, 3000);
  t.is(s.agents.get('a1')?.status, 'active');
});

test('FRAMEWORK_REMOVED ends its tasks; unknown or malformed events change nothing and are counted', (t) => {
  const s = subscribed();
  s.apply({ type: 'FRAMEWORK_REMOVED', framework_removed: { framework_info: { id: id('fw') } } }, 5000);
  t.is(s.frameworks.get('fw')?.status, 'removed');
  t.is(s.tasks.get(ClusterStore.key('fw', 'run'))?.state, 'TASK_KILLED');
  t.deepEqual(s.used, { cpus: 0, mem: 0 });
  const v = s.version;
  for (const bad of [null, 42, { type: 'SOMETHING_NEW' }, { type: 'TASK_UPDATED', task_updated: {} }, { type: 'AGENT_REMOVED', agent_removed: { agent_id: id('nobody') } }, { type: 'TASK_ADDED', task_added: { task: { task_id: 'not-an-id' } } }]) s.apply(bad, 6000);
  t.is(s.version, v);
  t.is(s.ignored, 6);
});

const streamOf = (chunks: string[]) => new ReadableStream<Uint8Array>({
  start(c) {
    for (const x of chunks) c.enqueue(new TextEncoder().encode(x));
    c.close();
  },
});

test('RecordIO: records split anywhere across chunks, multi-byte text counted in bytes', async (t) => {
  const a = JSON.stringify({ type: 'HEARTBEAT' });
  const b = JSON.stringify({ name: 'zürich ✓' });
  const whole = `${a.length}\n${a}${new TextEncoder().encode(b).length}\n${b}`;
  const bytes = new TextEncoder().encode(whole);
  // Split into 1-byte chunks (even inside the multi-byte characters).
  const chunks = new ReadableStream<Uint8Array>({
    start(c) {
      for (const x of bytes) c.enqueue(new Uint8Array([x]));
      c.close();
    },
  });
  const got: unknown[] = [];
  for await (const r of readRecordIO(chunks)) got.push(r);
  t.deepEqual(got, [{ type: 'HEARTBEAT' }, { name: 'zürich ✓' }]);
  const bad: unknown[] = [];
  await t.throwsAsync(async () => {
    for await (const r of readRecordIO(streamOf(['x\n{}']))) bad.push(r);
  }, { instanceOf: RecordIOError, message: "bad record length 'x'" });
});
