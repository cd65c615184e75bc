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
import { AgentCheckpoint, CheckpointError, currentBootId, incompatibility } from '../../runtime/checkpoint.ts';
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
  t.deepEqual(c.recover(), ['left']);
  await exited(left);
  t.is(left.signalCode, 'SIGKILL');
  t.is(other.exitCode, null, 'the other process runs on');
  t.is(other.signalCode, null);
  t.deepEqual(cp.containers().records, [], 'both records are gone');
});
