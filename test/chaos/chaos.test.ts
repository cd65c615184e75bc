/**
 * The chaos program, two minutes of it: the leading master SIGKILLed every 20 s and agents frozen
 * and thawed while a framework keeps 20 short jobs in flight. Every count of harm must be zero.
 */
import test from 'ava';
import { startScript } from '../helpers/processes.ts';

test('two minutes of chaos: no false loss, nothing run twice, no lost update, no over-allocation', async (t) => {
  t.timeout(10 * 60_000);
  const p = startScript('test/chaos/chaos.ts', ['--minutes=2', '--kill-every=20', '--inflight=20', '--freeze-every=25'], { label: 'chaos' });
  const exit = await p.waitForExit(9 * 60_000);
  t.is(exit.code, 0, p.tail());
  const line = p.texts('stdout').find((l) => l.startsWith('{'));
  if (!line) return t.fail(`no result line\n${p.tail()}`);
  const r = JSON.parse(line) as Record<string, any>;
  t.log(line);
  t.true(r.kills >= 4, `the leader was killed ${r.kills} times`);
  t.true(r.finished > 100, `${r.finished} jobs finished`);
  t.is(r.unfinished, 0);
  t.is(r.falseLost, 0);
  t.is(r.ranTwice, 0);
  t.is(r.lostUpdates, 0);
  t.is(r.overAllocations, 0);
});
