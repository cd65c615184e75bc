/**
 * The local statechart view on a cluster of real processes (a leader started with a bare
 * `--inspect`, a standby, one agent): `/inspect/machines` shows each process's own machines in the
 * state they are in — the leader leading, the standby standing by (not redirected), the agent
 * registered — and `/inspect/stream` delivers the events a framework's registration and a task's
 * launch send to the master, as they happen.
 */
import test from 'ava';
import { E2ECluster, logMsg, TestFramework } from './support.ts';

const e2e = new E2ECluster('e2e-inspect');
const WAIT = 60_000;

interface Machine {
  key: string;
  id: string;
  machine: string;
  status: string;
  value: unknown;
  active: string[];
  definition: { key: string; states: Array<{ key: string }> };
  events: Array<{ type: string; after?: unknown }>;
}

test.before(async (t) => {
  t.timeout(4 * WAIT);
  await e2e.start(1, WAIT, { standbys: 1, masterArgs: ['--inspect'] });
});

test.after.always(async () => {
  await e2e.stop();
});

async function machines(address: string): Promise<Machine[]> {
  const r = await fetch(`http://${address}/inspect/machines`, { redirect: 'manual' });
  if (r.status !== 200) throw new Error(`/inspect/machines on ${address}: ${r.status} ${await r.text()}`);
  return (await r.json()) as Machine[];
}

/** A Server-Sent Events reader: messages as they arrive, and a wait for one that matches. */
function follow(url: string) {
  const abort = new AbortController();
  const seen: Array<{ event: string; data: any }> = [];
  const waiters = new Set<() => void>();
  const done = (async () => {
    const r = await fetch(url, { signal: abort.signal });
    if (r.status !== 200 || !r.headers.get('content-type')?.startsWith('text/event-stream')) throw new Error(`${url}: ${r.status} ${r.headers.get('content-type')}`);
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) seen.push({ event, data: JSON.parse(data) });
      }
      for (const w of waiters) w();
    }
  })().catch((err: Error) => {
    if (err.name !== 'AbortError') throw err;
  });
  return {
    seen,
    close: () => abort.abort(),
    next: (pred: (m: { event: string; data: any }) => boolean, from = 0): Promise<{ event: string; data: any }> =>
      new Promise((resolve, reject) => {
        const check = () => {
          const hit = seen.slice(from).find(pred);
          if (hit) {
            waiters.delete(check);
            resolve(hit);
          }
        };
        waiters.add(check);
        check();
        done.then(() => reject(new Error(`${url}: the stream ended`)), reject);
      }),
  };
}

test.serial('a bare --inspect: the master logs the URL of its own statechart view', async (t) => {
  const line = await e2e.master!.waitForLine(logMsg(/^statecharts of this master's machines on http:\/\//), WAIT);
  t.true(line.text.includes(`http://${e2e.masters[0]!.http}/inspect`));
  const page = await fetch(`http://${e2e.masters[0]!.http}/inspect`);
  t.is(page.status, 200);
  t.regex(await page.text(), /mountStatechart/);
});

test.serial("the leader's /inspect/machines: the master machine leading and serving, its leader detector and lease candidate", async (t) => {
  const list = await machines(e2e.masters[0]!.http);
  const master = list.find((m) => m.machine === 'master')!;
  t.truthy(master, JSON.stringify(list.map((m) => m.machine)));
  t.is(master.id, e2e.masters[0]!.pid);
  t.is(master.status, 'active');
  t.true(master.active.includes('leading'));
  t.true(master.active.includes('leading.phase.serving'));
  t.deepEqual(master.definition.states.map((s) => s.key), ['standby', 'leading']);
  t.true(master.events.some((e) => e.type === 'lease.acquired'), 'the election is among its recent events');
  t.true(list.some((m) => m.machine === 'leaderDetector'));
  const candidate = list.find((m) => m.machine === 'leaseCandidate');
  t.truthy(candidate, 'the lease candidate (in its worker thread) is shown too');
  t.true(candidate!.active.includes('leading'));
});

test.serial("a standby's /inspect/machines shows its own master machine standing by, not redirected", async (t) => {
  const list = await machines(e2e.masters[1]!.http);
  const master = list.find((m) => m.machine === 'master')!;
  t.is(master.id, e2e.masters[1]!.pid);
  t.is(master.value, 'standby');
  t.deepEqual(master.active, ['', 'standby']);
  t.true(list.find((m) => m.machine === 'leaseCandidate')!.active.includes('standby'));
});

test.serial("the agent's /inspect/machines shows the agent registered", async (t) => {
  const list = await machines(e2e.agents[0]!.http);
  const agent = list.find((m) => m.machine === 'agent')!;
  t.is(agent.id, e2e.agents[0]!.pid);
  t.true(agent.active.includes('connection.registered'), JSON.stringify(agent.value));
});

test.serial('/inspect/stream: the machines first, then the events a framework registering and a task launching send to the master', async (t) => {
  const stream = follow(`http://${e2e.masters[0]!.http}/inspect/stream`);
  t.teardown(() => stream.close());
  const first = await stream.next(() => true);
  t.is(first.event, 'machines');
  const master = (first.data as Machine[]).find((m) => m.machine === 'master')!;
  const from = stream.seen.length;
  const fw = new TestFramework(e2e, 'inspect-fw');
  await fw.next('registered');
  const subscribed = await stream.next((m) => m.event === 'event' && m.data.key === master.key && m.data.type === 'SubscribeFramework', from);
  t.true(JSON.stringify(subscribed.data.after).includes('serving'), 'with the state it led to');
  t.is(typeof subscribed.data.fields?.from, 'string', 'and its sender');
  await fw.run('t1', 'sleep 600', 'TASK_RUNNING');
  const launch = await stream.next((m) => m.event === 'event' && m.data.key === master.key && m.data.type === 'LaunchTasks', from);
  const update = await stream.next((m) => m.event === 'event' && m.data.key === master.key && m.data.type === 'StatusUpdate', from);
  t.true(stream.seen.indexOf(launch) < stream.seen.indexOf(update), 'the launch came before its status update');
});
