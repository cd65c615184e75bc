/**
 * A `SUBSCRIBE` stream ends when its master stops leading (Mesos' master closes its subscribers
 * when it loses leadership), so a subscriber goes on to the next leader.
 */
import test from 'ava';
import { SimCluster } from '../../helpers/sim-cluster.ts';
import { silentLogger } from '../../../runtime/log.ts';
import { startMasterHttp } from '../../../runtime/http/master-http.ts';
import { OperatorEventHub } from '../../../runtime/http/operator-events.ts';

test('a SUBSCRIBE stream gets SUBSCRIBED, and ends when its master stops leading', async (t) => {
  const sim = await SimCluster.start({ agents: 1 });
  let leading = true;
  const events = new OperatorEventHub();
  const http = await startMasterHttp({
    ip: '127.0.0.1',
    port: 0,
    logger: silentLogger(),
    cluster: 'sim',
    version: 'test',
    flags: {},
    events,
    view: {
      context: () => sim.leader()?.host.actor.getSnapshot().context,
      leading: () => leading,
      leader: () => undefined,
      metrics: () => ({}),
      weightOf: () => 1,
    },
  });
  t.teardown(async () => {
    await http.close();
    await sim.stop();
  });
  const res = await fetch(`http://${http.address}/api/v1`, { method: 'POST', body: JSON.stringify({ type: 'SUBSCRIBE' }) });
  t.is(res.status, 200);
  const reader = res.body!.getReader();
  let text = '';
  while (!text.includes('SUBSCRIBED')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString();
  }
  t.regex(text, /"type":"SUBSCRIBED"/);
  t.regex(text, /"agents":\[\{/, 'the state names the agent');

  leading = false;
  // Events announced as it ends are not written to the ended stream.
  events.publish({ kind: 'AGENT_REMOVED', agentId: 'gone-1' });
  // The stream ends by itself (the read resolves done) instead of staying open.
  let done = false;
  while (!done) {
    done = (await reader.read()).done;
    events.publish({ kind: 'AGENT_REMOVED', agentId: 'gone-2' });
  }
  t.true(done);
  events.publish({ kind: 'AGENT_REMOVED', agentId: 'gone-3' });

  // The server goes on: leading again, a new stream gets its SUBSCRIBED.
  leading = true;
  const again = await fetch(`http://${http.address}/api/v1`, { method: 'POST', body: JSON.stringify({ type: 'SUBSCRIBE' }) });
  t.is(again.status, 200);
  await again.body!.cancel();
});
