/**
 * Failures of real processes on a real nats-server: the leading master SIGKILLed with a standby
 * up, an agent SIGKILLed, an agent frozen (SIGSTOP) past its ping timeout and thawed, a scheduler
 * SIGKILLed while holding offers, and the NATS server itself crashed and restarted — on its store,
 * then on an empty one. Nothing is restarted by hand except what was killed.
 *
 * The timers are short (pings every 2 s, lost after 3 misses; heartbeats every second, 4 misses;
 * a 2 s lease); every wait below is bounded well above the timeout it waits for.
 */
import test from 'ava';
import { DEFAULT_WAIT_MS } from '../helpers/processes.ts';
import { E2ECluster, TestFramework, logMsg } from './support.ts';

const e2e = new E2ECluster('e2e-failover');
const WAIT = 60_000;

test.before(async (t) => {
  t.timeout(4 * DEFAULT_WAIT_MS);
  await e2e.start(2, DEFAULT_WAIT_MS, {
    ownServer: true,
    standbys: 1,
    masterArgs: [
      '--lease=2secs', '--allocation_interval=500ms',
      '--agent_ping_timeout=2secs', '--max_agent_ping_timeouts=3',
      '--framework_heartbeat_interval=1secs', '--max_framework_heartbeat_misses=4',
      '--agent_reregister_timeout=60secs',
    ],
    agentArgs: ['--registration_backoff_factor=500ms', '--executor_shutdown_grace_period=1secs'],
  });
});

test.after.always(async () => {
  await e2e.stop();
});

/** The bus PID of the master that leads now, from the masters' logs. */
async function leaderPid(since: number[] = []): Promise<string> {
  const lines = await Promise.any(e2e.masters.map((m, i) => m.proc.waitForLine(logMsg('elected leading master'), WAIT, { since: since[i] ?? 0 }).then(() => m.pid)));
  return lines;
}

let f: TestFramework;

test.serial('the leader is SIGKILLed with a standby up: same framework and agent ids, the running task untouched, a new task runs', async (t) => {
  t.timeout(4 * WAIT);
  f = new TestFramework(e2e, 'steady', ['--failover_timeout=3600', '--heartbeat_interval=1000']);
  const reg = await f.next('registered');
  await f.run('long', 'sleep 600');
  const leader = await leaderPid();
  const marks = e2e.masters.map((m) => m.proc.mark());
  const sinceF = f.proc.mark();
  e2e.masterByPid(leader)!.signal('SIGKILL');
  const killedAt = Date.now();
  const next = await leaderPid(marks);
  t.not(next, leader);
  t.log(`new leader ${next} detected ${Date.now() - killedAt} ms after the SIGKILL`);
  await f.next('reregistered', () => true, sinceF);
  t.is(f.events('registered').length, 1, 'subscribed once: the framework id is kept');
  const newLeader = e2e.masterByPid(next)!;
  for (const a of e2e.agents) {
    await newLeader.waitForLine(logMsg(new RegExp(`^Agent ${a.agentId} \\(.*\\) re-registered`)), WAIT);
  }
  t.deepEqual(f.statesOf('long', sinceF).filter((s) => s !== 'TASK_RUNNING'), [], 'nothing happened to the running task');
  f.send({ reconcile: [{ taskId: 'long' }] });
  await f.next('status', (j) => j.taskId === 'long' && j.state === 'TASK_RUNNING', sinceF);
  await f.run('after-failover', 'true', 'TASK_FINISHED');
  t.truthy(reg.frameworkId);
  await e2e.startMaster('standby-2');
});

test.serial('an agent SIGKILLed: its task is TASK_LOST (REASON_AGENT_REMOVED) and frameworks get agentLost', async (t) => {
  t.timeout(3 * WAIT);
  const since = f.proc.mark();
  await f.run('doomed', 'sleep 600');
  const where = f.events('status', since).find((j) => j.taskId === 'doomed')!.agentId as string;
  const agent = e2e.agents.find((a) => a.agentId === where)!;
  const killedAt = Date.now();
  agent.proc.signal('SIGKILL');
  const lost = await f.next('status', (j) => j.taskId === 'doomed' && j.state === 'TASK_LOST', since);
  t.is(lost.reason, 'REASON_AGENT_REMOVED');
  await f.next('agentLost', (j) => j.agentId === where, since);
  t.log(`lost ${Date.now() - killedAt} ms after the SIGKILL (timeout under test: 2 s × 3)`);
  // Its place is taken by a new agent process.
  const n = e2e.agents.length + 1;
  const replacement = await e2e.awaitAgent(e2e.spawnAgent(n));
  e2e.agents.splice(e2e.agents.indexOf(agent), 1, replacement);
});

test.serial('an agent frozen past its ping timeout is unreachable, and when thawed its task is RUNNING again (not killed)', async (t) => {
  t.timeout(3 * WAIT);
  const pa = new TestFramework(e2e, 'aware', ['--partition_aware', '--failover_timeout=3600', '--heartbeat_interval=1000']);
  await pa.next('registered');
  const since = pa.proc.mark();
  await pa.run('frozen', 'sleep 600');
  const where = pa.events('status', since).find((j) => j.taskId === 'frozen')!.agentId as string;
  const agent = e2e.agents.find((a) => a.agentId === where)!;
  agent.proc.signal('SIGSTOP');
  try {
    const u = await pa.next('status', (j) => j.taskId === 'frozen' && j.state === 'TASK_UNREACHABLE', since);
    t.is(u.reason, 'REASON_AGENT_REMOVED');
    t.truthy(u.unreachableTime);
  } finally {
    agent.proc.signal('SIGCONT');
  }
  const back = await pa.next('status', (j) => j.taskId === 'frozen' && j.state === 'TASK_RUNNING' && j.reason === 'REASON_AGENT_REREGISTERED', since);
  t.is(back.source, 'SOURCE_MASTER');
  t.false(pa.statesOf('frozen', since).includes('TASK_KILLED'));
  pa.send({ stop: true });
  await pa.proc.waitForExit(WAIT);
});

test.serial("a scheduler SIGKILLed while holding offers: another framework is offered its resources within the heartbeat timeout", async (t) => {
  t.timeout(3 * WAIT);
  const holder = new TestFramework(e2e, 'holder', ['--hold', '--heartbeat_interval=1000']);
  await holder.next('offers');
  const other = new TestFramework(e2e, 'other', ['--hold', '--heartbeat_interval=1000']);
  await other.next('registered');
  const held = new Set(holder.events('offers').flatMap((j) => j.agentIds as string[]));
  // An offer is made to one framework at a time: what the holder holds, the other cannot get
  // until the master gives up on the holder.
  const since = other.proc.mark();
  const killedAt = Date.now();
  holder.proc.signal('SIGKILL');
  const offer = await other.next('offers', (j) => (j.agentIds as string[]).some((a) => held.has(a)), since);
  t.true((offer.agentIds as string[]).some((a) => held.has(a)));
  t.log(`the other framework got ${JSON.stringify(offer.agentIds)} ${Date.now() - killedAt} ms after the SIGKILL (timeout under test: 1 s × 4)`);
  other.proc.signal('SIGKILL');
});

test.serial('the NATS server crashes and comes back on its store: a leader serves again and a task runs, nothing restarted by hand', async (t) => {
  t.timeout(4 * WAIT);
  const cluster = () => [...e2e.masters.map((m) => m.proc), ...e2e.agents.map((a) => a.proc)].filter((p) => p.running).map((p) => p.pid).sort();
  const pids = cluster();
  const marks = e2e.masters.map((m) => m.proc.mark());
  const since = f.proc.mark();
  await e2e.restartNats(false);
  await f.run('after-restart', 'true', 'TASK_FINISHED');
  t.log(`leader after the restart: ${await Promise.race([leaderPid(marks), new Promise<string>((r) => setTimeout(() => r('(no new election)'), 100))])}`);
  t.deepEqual(cluster(), pids, 'the same masters and agents, none restarted');
  t.deepEqual(f.statesOf('long', since).filter((s) => s !== 'TASK_RUNNING'), [], 'the long task lives on');
});

test.serial('the NATS server comes back with an empty store: the lease and registry are made again, a leader serves and a task runs', async (t) => {
  t.timeout(5 * WAIT);
  const marks = e2e.masters.map((m) => m.proc.mark());
  const since = f.proc.mark();
  await e2e.restartNats(true);
  const leader = await leaderPid(marks);
  t.log(`elected after the store was lost: ${leader}`);
  await f.run('after-wipe', 'true', 'TASK_FINISHED');
  // The agents came back under their ids (unknown to the empty registry, admitted again).
  const m = e2e.masterByPid(leader)!;
  for (const a of e2e.agents) await m.waitForLine(logMsg(new RegExp(`^Agent ${a.agentId} \\(`)), WAIT, { since: marks[e2e.masters.findIndex((x) => x.pid === leader)] });
  t.deepEqual(f.statesOf('long', since).filter((s) => s !== 'TASK_RUNNING'), []);
});
