/**
 * The chaos program, two minutes of it: the leading master SIGKILLed every 20 s and agents frozen
 * and thawed while a framework keeps 20 short jobs in flight; then a minute and a half of agents
 * SIGKILLed and started again on their work dirs while a checkpointing framework does the same.
 * Every count of harm must be zero.
 */
import test, { type ExecutionContext } from 'ava';
import { startScript } from '../helpers/processes.ts';

/**
 * Runs the chaos program with `args` and checks the counts of harm every run must keep at zero;
 * its result line, for the checks of one kind of chaos (`undefined` when there was none).
 */
async function chaos(t: ExecutionContext, label: string, args: string[]): Promise<Record<string, any> | undefined> {
  t.timeout(10 * 60_000);
  const p = startScript('test/chaos/chaos.ts', args, { label });
  const exit = await p.waitForExit(9 * 60_000);
  t.is(exit.code, 0, p.tail());
  const line = p.texts('stdout').find((l) => l.startsWith('{'));
  if (!line) {
    t.fail(`no result line\n${p.tail()}`);
    return undefined;
  }
  const r = JSON.parse(line) as Record<string, any>;
  t.log(line);
  t.is(r.unfinished, 0);
  t.is(r.falseLost, 0);
  t.is(r.ranTwice, 0);
  t.is(r.lostUpdates, 0);
  t.is(r.overAllocations, 0);
  return r;
}

test.serial('two minutes of chaos: no false loss, nothing run twice, no lost update, no over-allocation', async (t) => {
  const r = await chaos(t, 'chaos', ['--minutes=2', '--kill-every=20', '--inflight=20', '--freeze-every=25']);
  if (!r) return;
  t.true(r.kills >= 4, `the leader was killed ${r.kills} times`);
  t.true(r.finished > 100, `${r.finished} jobs finished`);
});

test.serial('agents SIGKILLed and restarted under a checkpointing framework: no task lost, none run twice, every terminal update delivered', async (t) => {
  const r = await chaos(t, 'chaos-agents', ['--minutes=1.5', '--agents-kill-every=15', '--kill-every=0', '--freeze-every=0', '--inflight=20']);
  if (!r) return;
  t.true(r.agentKills >= 4, `agents were killed ${r.agentKills} times`);
  t.is(r.agentCrashes, 0, 'no agent ended but by the chaos');
  t.true(r.finished > 40, `${r.finished} jobs finished`);
});
