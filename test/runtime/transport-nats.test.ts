import test from 'ava';
import { connectNats, NatsTransport } from '../../runtime/transport-nats.ts';
import { acquireNats, type AcquiredNats } from '../helpers/nats.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Resolves with `promise`, or rejects once `ms` pass first. */
function waitFor<T>(promise: Promise<T>, ms: number, what = 'event'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

let nats: AcquiredNats | undefined;
const transports: NatsTransport[] = [];

test.before(async () => {
  nats = await acquireNats();
});

test.after.always(async () => {
  await Promise.allSettled(transports.map((tr) => tr.close()));
  await nats?.stop();
});

async function transport(name: string): Promise<NatsTransport> {
  const tr = new NatsTransport(await connectNats({ servers: nats!.url, name }));
  transports.push(tr);
  return tr;
}

test('pub/sub round trip with a wildcard subscription', async (t) => {
  const sub = await transport('sub');
  const pub = await transport('pub');
  const got: Array<[string, string]> = [];
  const all = new Promise<void>((resolve) => {
    sub.subscribe('mesos.rt.agent.*.>', (subject, data) => {
      got.push([subject, dec.decode(data)]);
      if (got.length === 3) resolve();
    });
  });
  await sub.flush(); // the subscription has reached the server
  pub.publish('mesos.rt.agent.a1.Ping', enc.encode('one'));
  pub.publish('mesos.rt.master.m1.Ping', enc.encode('not for us'));
  pub.publish('mesos.rt.agent.a2.RunTask', enc.encode('two'));
  pub.publish('mesos.rt.agent.a3.x.y', enc.encode('three'));
  await pub.flush();
  await waitFor(all, 5000, 'three deliveries');
  t.deepEqual(got, [
    ['mesos.rt.agent.a1.Ping', 'one'],
    ['mesos.rt.agent.a2.RunTask', 'two'],
    ['mesos.rt.agent.a3.x.y', 'three'],
  ]);
});

test('a throwing handler is contained and later messages still arrive', async (t) => {
  const tr = await transport('throwing');
  let n = 0;
  const second = new Promise<void>((resolve) => {
    tr.subscribe('mesos.throw.x', () => {
      n++;
      if (n === 1) throw new Error('handler bug');
      resolve();
    });
  });
  await tr.flush();
  tr.publish('mesos.throw.x', enc.encode('1'));
  tr.publish('mesos.throw.x', enc.encode('2'));
  await waitFor(second, 5000, 'second delivery');
  t.is(n, 2);
});

test('unsubscribe stops delivery; publish after close does not throw', async (t) => {
  const tr = await transport('closing');
  let n = 0;
  const sub = tr.subscribe('mesos.unsub.x', () => n++);
  await tr.flush();
  sub.unsubscribe();
  tr.publish('mesos.unsub.x', enc.encode('1'));
  await tr.flush();
  await tr.close();
  t.notThrows(() => tr.publish('mesos.unsub.x', enc.encode('late')));
  await t.notThrowsAsync(() => tr.flush());
  await t.notThrowsAsync(() => tr.close());
  t.is(n, 0);
});
