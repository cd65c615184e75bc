/**
 * `mesos-local`'s statechart view: one process runs the whole cluster, and its agent's HTTP
 * endpoints serve every machine of it — the master leading and serving, its lease candidate, the
 * agent registered and its leader detector — with the events they took. Commands that serve no
 * view say so when `--inspect` asks for one.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MachineJson } from '../../runtime/inspection.ts';
import { DEFAULT_WAIT_MS, ProcessRegistry } from '../helpers/processes.ts';

const procs = new ProcessRegistry();
const work = mkdtempSync(join(tmpdir(), 'mesos-local-inspect-'));

test.after.always(async () => {
  await procs.stopAll(5000);
  rmSync(work, { recursive: true, force: true });
});

/** The machines `address` serves. */
async function machines(address: string): Promise<MachineJson[]> {
  const r = await fetch(`http://${address}/inspect/machines`);
  if (r.status !== 200) throw new Error(`/inspect/machines on ${address}: ${r.status} ${await r.text()}`);
  return (await r.json()) as MachineJson[];
}

test('mesos-local serves the statechart view of all its machines on its agent\'s HTTP address', async (t) => {
  t.timeout(3 * DEFAULT_WAIT_MS);
  const p = procs.start('mesos-local', ['--agents=1', `--work_dir=${join(work, 'sandboxes')}`, '--inspect']);
  const line = await p.waitForLine(/statecharts of the cluster's machines: http:\/\/(\S+)\/inspect$/, DEFAULT_WAIT_MS, { stream: 'stdout' });
  const address = /http:\/\/(\S+)\/inspect$/.exec(line.text)![1]!;
  const byMachine = (ms: MachineJson[], id: string) => ms.find((m) => m.machine === id);
  // The banner comes once every agent has registered.
  const ms = await machines(address);
  t.deepEqual(ms.map((m) => m.machine).sort(), ['agent', 'leaderDetector', 'leaseCandidate', 'master']);
  const master = byMachine(ms, 'master')!;
  t.true(master.active.includes('leading.phase.serving'), JSON.stringify(master.value));
  t.true(master.events.some((e) => e.type === 'lease.acquired'));
  t.true(master.events.some((e) => e.type === 'RegisterAgent' && e.after !== undefined), 'the agent\'s registration, with the state it led to');
  const agent = byMachine(ms, 'agent')!;
  t.true(agent.events.some((e) => e.type === 'AgentRegistered'));
  t.is(byMachine(ms, 'leaseCandidate')!.events[0]!.type, 'xstate.init');
  const page = await fetch(`http://${address}/inspect`);
  t.is(page.status, 200);
});

test('a command without a statechart view says so in one line when --inspect asks for one', async (t) => {
  t.timeout(2 * DEFAULT_WAIT_MS);
  // Nothing listens on port 1: the command gives up at once after its start-up lines.
  const p = procs.start('mesos-execute', ['--inspect', '--insecure', '--nats=nats://127.0.0.1:1', '--nats_connect_timeout=0secs', '--command=true']);
  const exit = await p.waitForExit(DEFAULT_WAIT_MS);
  t.is(exit.code, 1, p.tail());
  const said = p.texts().filter((l) => l.includes('--inspect=ui'));
  t.is(said.length, 1, p.tail());
  t.regex(said[0]!, /--inspect=ui: mesos-execute serves no statechart view \(mesos-master, mesos-agent and mesos-local do, at \/inspect\)/);
});
