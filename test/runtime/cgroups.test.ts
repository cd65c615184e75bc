/**
 * Cgroup layouts detected, and a container's groups set up, on hierarchies laid out in a
 * temporary directory: pure v2 (as many hosts are) and hybrid (as this one is), without root.
 * The real hierarchies are exercised by `test/e2e/isolation.test.ts`.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import test from 'ava';
import { ContainerCgroups, cgroupsUnusable, detectCgroups, enterCgroupsArgv } from '../../runtime/cgroups.ts';

function root(t: { teardown: (f: () => void) => void }, files: Record<string, string>): string {
  const r = mkdtempSync(join(tmpdir(), 'mesos-cgroups-'));
  t.teardown(() => rmSync(r, { recursive: true, force: true }));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(r, path, '..'), { recursive: true });
    writeFileSync(join(r, path), content);
  }
  return r;
}

const PURE_V2 = { 'cgroup.controllers': 'cpuset cpu io memory pids\n' };
const HYBRID = { 'unified/cgroup.controllers': '', 'cpu/cpu.shares': '1024', 'memory/memory.limit_in_bytes': '9223372036854771712' };

test('layouts: pure v2, hybrid (v1 controllers and a v2 mount to track processes), and none', (t) => {
  const v2 = root(t, PURE_V2);
  const l2 = detectCgroups(v2);
  t.is(l2.v2, v2);
  t.deepEqual([...l2.v2Controllers].sort(), ['cpu', 'cpuset', 'io', 'memory', 'pids']);
  t.is(cgroupsUnusable(l2, { cpu: true, memory: true }, 'mesos'), undefined);

  const hy = root(t, HYBRID);
  const lh = detectCgroups(hy);
  t.deepEqual({ v2: lh.v2, cpuV1: lh.cpuV1, memoryV1: lh.memoryV1 }, { v2: join(hy, 'unified'), cpuV1: join(hy, 'cpu'), memoryV1: join(hy, 'memory') });
  t.is(cgroupsUnusable(lh, { cpu: true, memory: true }, 'mesos'), undefined);

  t.regex(cgroupsUnusable(detectCgroups(root(t, {})), { cpu: true, memory: false }, 'mesos')!, /^no cgroup v2 hierarchy/);
  const noMemory = root(t, { 'cgroup.controllers': 'cpu pids\n' });
  t.regex(cgroupsUnusable(detectCgroups(noMemory), { cpu: true, memory: true }, 'mesos')!, /^no memory controller/);
});

test('pure v2: one group gets the weight, the CFS quota and the memory limit, and the controllers are enabled above it', (t) => {
  const r = root(t, PURE_V2);
  const cg = new ContainerCgroups(detectCgroups(r), 'mesos', 'c/1', { cpus: 1.5, memMb: 64, cfs: true });
  const dir = join(r, 'mesos', 'c_1');
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  t.is(read('cpu.weight'), '60', 'shares 1536 on the weight scale');
  t.is(read('cpu.max'), '150000 100000');
  t.is(read('memory.max'), String(64 * 1024 * 1024));
  t.is(read('memory.oom.group'), '1', 'an OOM kills the whole group');
  t.is(readFileSync(join(r, 'cgroup.subtree_control'), 'utf8'), '+cpu +memory');
  t.is(readFileSync(join(r, 'mesos', 'cgroup.subtree_control'), 'utf8'), '+cpu +memory');
  t.deepEqual(cg.procsFiles, [join(dir, 'cgroup.procs')]);
  t.is(cg.memoryLimitMb(), 64);
  t.false(cg.outOfMemory());
  writeFileSync(join(dir, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
  t.true(cg.outOfMemory());
});

test('hybrid: a tracking group on the v2 mount, shares and quota on v1 cpu, the limit on v1 memory with the OOM killer off', (t) => {
  const r = root(t, HYBRID);
  const cg = new ContainerCgroups(detectCgroups(r), 'mesos', 'c1', { cpus: 0.5, memMb: 192, cfs: true });
  const read = (h: string, f: string) => readFileSync(join(r, h, 'mesos', 'c1', f), 'utf8');
  t.is(read('cpu', 'cpu.shares'), '512');
  t.is(read('cpu', 'cpu.cfs_quota_us'), '50000');
  t.is(read('memory', 'memory.limit_in_bytes'), String(192 * 1024 * 1024));
  t.is(read('memory', 'memory.oom_control'), '1');
  t.deepEqual(cg.procsFiles, ['unified', 'cpu', 'memory'].map((h) => join(r, h, 'mesos', 'c1', 'cgroup.procs')));
  writeFileSync(join(r, 'memory', 'mesos', 'c1', 'memory.oom_control'), 'oom_kill_disable 1\nunder_oom 1\noom_kill 0\n');
  t.true(cg.outOfMemory());
});

test('the enter wrapper writes its own pid into every group, then becomes the command (same pid)', (t) => {
  const r = root(t, { 'a/cgroup.procs': '', 'b/cgroup.procs': '' });
  const files = [join(r, 'a', 'cgroup.procs'), join(r, 'b', 'cgroup.procs')];
  const argv = enterCgroupsArgv(files, ['/bin/sh', '-c', 'echo "$$ $1"', 'cmd', 'hi there']);
  const run = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  t.is(run.status, 0);
  const [pid, ...words] = run.stdout.trim().split(' ');
  t.is(words.join(' '), 'hi there', 'arguments pass through untouched');
  for (const f of files) t.is(readFileSync(f, 'utf8').trim(), pid);
});
