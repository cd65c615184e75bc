/**
 * The agent's checkpoints under `<work_dir>/meta`: its identity and its containers, written so
 * that a crash never leaves a torn record, and read back by a restarted agent.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import test from 'ava';
import { parseResources } from '../../protocols/resources.ts';
import { parseAttributes } from '../../protocols/attributes.ts';
import type { AgentInfo } from '../../protocols/records.ts';
import { AgentCheckpoint, CheckpointError, currentBootId, decodeStream, incompatibility } from '../../runtime/checkpoint.ts';
import { PosixContainerizer, processStartTicks } from '../../runtime/containerizer.ts';
import { silentLogger } from '../../runtime/log.ts';

const info = (over: Partial<AgentInfo> = {}): AgentInfo => ({ hostname: 'h1', resources: parseResources('cpus:2;mem:1024'), attributes: [], ...over });

function workDir(t: { teardown: (f: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'mesos-checkpoint-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('an identity is read back as written; a fresh work dir has none', (t) => {
  const cp = new AgentCheckpoint(workDir(t));
  t.is(cp.identity(), undefined);
  const id = { pidId: 'p1', agentId: 'a-S1', info: info(), bootId: currentBootId() };
  cp.saveIdentity(id);
  t.deepEqual(cp.identity(), id);
  t.deepEqual(readdirSync(cp.metaDir), ['agent.json'], 'no temporary file is left');
});

test('an identity file that is not one names its path', (t) => {
  const cp = new AgentCheckpoint(workDir(t));
  mkdirSync(cp.metaDir, { recursive: true });
  writeFileSync(cp.identityPath, '{"pidId": "p1", "inf');
  const e = t.throws(() => cp.identity(), { instanceOf: CheckpointError });
  t.true(e.message.includes(cp.identityPath));
  writeFileSync(cp.identityPath, '{"hello": 1}');
  t.throws(() => cp.identity(), { instanceOf: CheckpointError });
});

test('settings that may not change for the same agent: hostname, resources (in any order), attributes', (t) => {
  t.is(incompatibility(info(), info()), undefined);
  t.is(incompatibility(info(), info({ resources: parseResources('mem:1024;cpus:2') })), undefined, 'the order of resources does not matter');
  t.regex(incompatibility(info(), info({ hostname: 'h2' }))!, /^hostname was 'h1', now 'h2'/);
  t.regex(incompatibility(info(), info({ resources: parseResources('cpus:4;mem:1024') }))!, /^resources were/);
  t.regex(incompatibility(info(), info({ attributes: parseAttributes('rack:r1') }))!, /^attributes were/);
});

test('container records are kept while a container runs; unreadable ones are named, not fatal', (t) => {
  const cp = new AgentCheckpoint(workDir(t));
  cp.saveContainer({ containerId: 'c/1', frameworkId: 'f', executorId: 'e', osPid: 42, startTicks: 7 });
  cp.saveContainer({ containerId: 'c2', frameworkId: 'f', executorId: 'e2', osPid: 43, startTicks: 8 });
  writeFileSync(join(cp.metaDir, 'containers', 'junk.json'), 'not json');
  const { records, unreadable } = cp.containers();
  t.deepEqual(records.map((r) => r.containerId).sort(), ['c/1', 'c2']);
  t.is(unreadable.length, 1);
  cp.removeContainer('c/1');
  t.deepEqual(cp.containers().records.map((r) => r.containerId), ['c2']);
});

test('a restarted agent destroys what its predecessor left running, and not a process that merely reuses a recorded PID', async (t) => {
  const dir = workDir(t);
  const cp = new AgentCheckpoint(dir);
  const left = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
  const other = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
  t.teardown(() => {
    for (const p of [left, other]) {
      try {
        process.kill(p.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
  const exited = (p: typeof left) => new Promise<void>((r) => (p.exitCode !== null || p.signalCode !== null ? r() : p.once('exit', () => r())));
  cp.saveContainer({ containerId: 'left', frameworkId: 'f', executorId: 'e', osPid: left.pid!, startTicks: processStartTicks(left.pid!)! });
  // A record whose PID is now another process (its start time differs).
  cp.saveContainer({ containerId: 'reused', frameworkId: 'f', executorId: 'e', osPid: other.pid!, startTicks: processStartTicks(other.pid!)! + 1 });
  const c = new PosixContainerizer({ workDir: dir, commandExecutor: ['true'], logger: silentLogger(), checkpoint: cp });
  t.deepEqual(c.recover().destroyed, ['left']);
  await exited(left);
  t.is(left.signalCode, 'SIGKILL');
  t.is(other.exitCode, null, 'the other process runs on');
  t.is(other.signalCode, null);
  t.deepEqual(cp.containers().records, [], 'both records are gone');
});

test('an update stream reads back what was appended; a torn last record is dropped and cut off, so the next append is whole', (t) => {
  const cp = new AgentCheckpoint(workDir(t));
  const where = { frameworkId: 'F/1', executorId: 'e 1', taskId: 't1' };
  const u = (state: 'TASK_RUNNING' | 'TASK_FINISHED', uuid: string) => ({ frameworkId: 'F/1', status: { taskId: 't1', state, timestamp: 1 }, uuid });
  cp.apply({ op: 'framework', frameworkId: 'F/1', info: { name: 'f', checkpoint: true } });
  cp.apply({ op: 'executor', ...where, info: { executorId: 'e 1', command: { value: 'x' }, resources: [] }, commandExecutor: false, containerId: 'c1' });
  cp.apply({ op: 'task', ...where, task: { taskId: 't1', name: 't1', agentId: 'S1', resources: [] } });
  cp.apply({ op: 'update', ...where, update: u('TASK_RUNNING', 'u1') });
  cp.apply({ op: 'ack', ...where, uuid: 'u1' });
  cp.apply({ op: 'update', ...where, update: u('TASK_FINISHED', 'u2') });
  const [file] = findUpdates(cp.metaDir);
  // A crash in the middle of an append.
  writeFileSync(file!, '{"update":{"frameworkId":"F/1","sta', { flag: 'a' });
  const { state, errors } = cp.recovered((id) => id === 'c1');
  t.deepEqual(errors, []);
  t.deepEqual(state.frameworks.map((f) => f.id), ['F/1']);
  const [x] = state.executors;
  t.is(x!.alive, true);
  t.deepEqual(x!.tasks[0]!.updates.map((v) => v.uuid), ['u1', 'u2']);
  t.deepEqual(x!.tasks[0]!.acked, ['u1']);
  cp.apply({ op: 'ack', ...where, uuid: 'u2' });
  t.deepEqual(cp.recovered(() => false).state.executors[0]!.tasks[0]!.acked, ['u1', 'u2'], 'the append after the cut is read');
  cp.apply({ op: 'forgetFramework', frameworkId: 'F/1' });
  t.deepEqual(cp.recovered(() => false).state, { frameworks: [], executors: [] });
});

test('decodeStream: whole records, a torn tail (cut or half-written) tolerated, damage before the end refused', (t) => {
  const rec = (uuid: string) => JSON.stringify({ ack: uuid });
  const cases: Array<[string, string, { n: number; torn: boolean } | 'error']> = [
    ['empty', '', { n: 0, torn: false }],
    ['whole', `${rec('a')}\n${rec('b')}\n`, { n: 2, torn: false }],
    ['cut short, no newline', `${rec('a')}\n{"ack":"b`, { n: 1, torn: true }],
    ['whole record without its newline', `${rec('a')}\n${rec('b')}`, { n: 1, torn: true }],
    ['garbage last line', `${rec('a')}\n{"nope":1}\n`, { n: 1, torn: true }],
    ['garbage in the middle', `${rec('a')}\n{"ack":\n${rec('c')}\n`, 'error'],
  ];
  for (const [name, text, want] of cases) {
    if (want === 'error') {
      t.throws(() => decodeStream(text), { instanceOf: CheckpointError }, name);
      continue;
    }
    const got = decodeStream(text);
    t.is(got.records.length, want.n, name);
    t.is(got.torn, want.torn, name);
    t.is(Buffer.from(text).subarray(0, got.goodBytes).toString().split('\n').filter(Boolean).length, want.n, `${name}: goodBytes ends after the last whole record`);
  }
});

test('a checkpoint that cannot be read is named in errors and left out', (t) => {
  const cp = new AgentCheckpoint(workDir(t));
  cp.apply({ op: 'framework', frameworkId: 'F1', info: { name: 'f' } });
  mkdirSync(join(cp.metaDir, 'frameworks', 'F1', 'executors', 'e1'), { recursive: true });
  writeFileSync(join(cp.metaDir, 'frameworks', 'F1', 'executors', 'e1', 'executor.json'), '{"broken');
  const { state, errors } = cp.recovered(() => true);
  t.is(errors.length, 1);
  t.regex(errors[0]!, /executor\.json/);
  t.is(state.executors.length, 0);
  t.is(state.frameworks.length, 1);
});

function findUpdates(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((p) => p.endsWith('updates')).map((p) => join(dir, p));
}

test('records an agent died before writing (a directory without its record) are skipped, not errors', (t) => {
  const cp = new AgentCheckpoint(workDir(t));
  cp.apply({ op: 'framework', frameworkId: 'F1', info: { name: 'f', checkpoint: true } });
  cp.apply({ op: 'executor', frameworkId: 'F1', executorId: 'e1', info: { executorId: 'e1', command: { value: 'x' }, resources: [] }, commandExecutor: true, containerId: 'c1' });
  // The task's directory was made, its task.json never renamed into place.
  const taskDir = join(cp.metaDir, 'frameworks', 'F1', 'executors', 'e1', 'tasks', 't1');
  mkdirSync(taskDir, { recursive: true });
  writeFileSync(join(taskDir, 'task.json.tmp'), '{"taskId":"t1"');
  const { state, errors, skipped } = cp.recovered(() => true);
  t.deepEqual(errors, []);
  t.deepEqual(skipped, [join(taskDir, 'task.json')]);
  t.is(state.executors.length, 1);
  t.deepEqual(state.executors[0]!.tasks, []);
});
