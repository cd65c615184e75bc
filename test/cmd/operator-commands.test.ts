/**
 * `mesos top`'s model: the whole state from `SUBSCRIBED`, then each event, counted as the screen
 * shows it (the resources of tasks that have not ended, per agent and per framework); and its
 * reader of the RecordIO stream.
 */
import test from 'ava';
import { TopModel, topText, parseQuantities, recordReader } from '../../cmd/operator-commands.ts';

const cpus = (v: number) => ({ name: 'cpus', type: 'SCALAR', scalar: { value: v } });
const mem = (v: number) => ({ name: 'mem', type: 'SCALAR', scalar: { value: v } });
const agent = (id: string) => ({ agent_info: { id: { value: id }, hostname: `${id}.host` }, total_resources: [cpus(4), mem(4096)] });
const framework = (id: string, name: string) => ({ framework_info: { id: { value: id }, name, roles: ['web'] } });
const task = (id: string, fw: string, ag: string, state = 'TASK_RUNNING') => ({ task_id: { value: id }, framework_id: { value: fw }, agent_id: { value: ag }, state, resources: [cpus(0.5), mem(128)] });

test('top counts the resources of tasks that have not ended, per agent and per framework, as events arrive', (t) => {
  const m = new TopModel();
  m.apply({ type: 'SUBSCRIBED', subscribed: { get_state: {
    get_agents: { agents: [agent('a1'), agent('a2')] },
    get_frameworks: { frameworks: [framework('f1', 'web')] },
    get_tasks: { tasks: [task('t1', 'f1', 'a1'), task('t2', 'f1', 'a1', 'TASK_FINISHED')] },
  } } });
  // a1: t1 only (t2 finished) → 0.5 of 4 cpus, 128 of 4096 MB
  t.like(m.render().agents[0], { id: 'a1', tasks: 1, cpus: 0.5, mem: 128, cpus_total: 4, mem_total: 4096 });
  t.true(m.apply({ type: 'TASK_ADDED', task_added: { task: task('t3', 'f1', 'a2', 'TASK_STAGING') } }));
  t.like(m.render().frameworks[0], { id: 'f1', name: 'web', role: 'web', tasks: 2, cpus: 1, mem: 256 });
  m.apply({ type: 'TASK_UPDATED', task_updated: { framework_id: { value: 'f1' }, status: { task_id: { value: 't1' } }, state: 'TASK_KILLED' } });
  t.like(m.render().agents[0], { id: 'a1', tasks: 0, cpus: 0 });
  m.apply({ type: 'AGENT_REMOVED', agent_removed: { agent_id: { value: 'a2' } } });
  t.deepEqual(m.render().agents.map((a) => a.id), ['a1']);
  m.apply({ type: 'FRAMEWORK_REMOVED', framework_removed: { framework_info: { id: { value: 'f1' } } } });
  t.deepEqual(m.render().frameworks, []);
  t.false(m.apply({ type: 'HEARTBEAT' }));
  const text = topText(m.render(), 'm:5050');
  t.regex(text, /^mesos top — m:5050 — 1 agent\(s\), 0 framework\(s\)$/m);
  t.regex(text, /^a1\s+a1\.host\s+0\s+0\/4\s+0%\s+0\/4096\s+0%$/m);
});

test('quantities read as cpus=2,mem=512', (t) => {
  t.deepEqual(parseQuantities('cpus=2,mem=512.5', 'x'), { cpus: { value: 2 }, mem: { value: 512.5 } });
});

test('the RecordIO reader gives whole records however the stream is cut, skips a record that is not JSON, and drops the rest after a bad length', (t) => {
  const record = (json: string) => `${Buffer.byteLength(json)}\n${json}`;
  const stream = Buffer.from(record('{"type":"SUBSCRIBED","n":"é"}') + record('not json') + record('{"type":"HEARTBEAT"}') + 'x\n{"type":"LOST"}');
  for (const size of [1, 2, 7, stream.length]) {
    const got: string[] = [];
    const problems: string[] = [];
    const read = recordReader((r) => got.push(String(r.type) + (r.n ?? '')), (why) => problems.push(why));
    for (let at = 0; at < stream.length; at += size) read(stream.subarray(at, at + size));
    t.deepEqual(got, ['SUBSCRIBEDé', 'HEARTBEAT'], `cut every ${size} bytes`);
    t.deepEqual(problems.map((p) => (/not JSON/.test(p) ? 'json' : /length/.test(p) ? 'length' : p)), ['json', 'length'], `cut every ${size} bytes`);
  }
});
