import { existsSync } from 'node:fs';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { acquireNats, type AcquiredNats } from '../helpers/nats.ts';
import { findNatsServerBinary, startNatsServer } from '../../runtime/nats-server.ts';

/** Reject if `promise` has not settled within `ms`; never delays a settled promise. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

let nats: AcquiredNats | undefined;
let nc: NatsConnection | undefined;

test.before(async () => {
  nats = await acquireNats();
  nc = await within(connect({ servers: nats.url }), 10_000, 'connect');
});

test.after.always(async () => {
  if (nc !== undefined) await nc.close();
  if (nats !== undefined) await nats.stop();
});

function conn(): NatsConnection {
  if (nc === undefined) throw new Error('no NATS connection');
  return nc;
}

test('pub/sub round-trip', async (t) => {
  const c = conn();
  const subject = `test.roundtrip.${process.pid}`;
  const received = new Promise<{ subject: string; body: string }>((resolve, reject) => {
    c.subscribe(subject, {
      max: 1,
      callback: (err, msg) => {
        if (err) reject(err);
        else resolve({ subject: msg.subject, body: msg.string() });
      },
    });
  });
  await c.flush(); // the subscription is known to the server before we publish
  c.publish(subject, 'hello mesos');
  const msg = await within(received, 5_000, 'the published message');
  t.deepEqual(msg, { subject, body: 'hello mesos' });
});

test('JetStream KV create/get, and create on an existing key fails', async (t) => {
  const kvm = new Kvm(conn());
  const kv = await within(kvm.create('t', { history: 1 }), 10_000, 'KV bucket creation');
  const revision = await within(kv.create('k', 'v1'), 5_000, 'kv.create');
  t.true(revision > 0);

  const entry = await within(kv.get('k'), 5_000, 'kv.get');
  t.truthy(entry);
  t.is(entry?.string(), 'v1');
  t.is(entry?.revision, revision);

  await t.throwsAsync(within(kv.create('k', 'v2'), 5_000, 'second kv.create'));
  t.is((await within(kv.get('k'), 5_000, 'kv.get'))?.string(), 'v1');
});

// The test set-up (scripts/setup.mjs) installs nats-server, so these run everywhere; a missing
// binary fails them with a clear message instead of skipping them.
const withBinary = (title: string, fn: (t: ExecutionContext) => Promise<void>) =>
  test(title, async (t) => {
    if (findNatsServerBinary() === undefined) t.fail('nats-server binary not found: run scripts/setup.mjs');
    else await fn(t);
  });

withBinary('startNatsServer: stop() ends the process and removes the store dir', async (t) => {
  const server = await startNatsServer();
  t.regex(server.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
  t.true(server.port > 0);
  t.true(isAlive(server.pid));
  t.true(existsSync(server.storeDir));

  const c = await within(connect({ servers: server.url }), 10_000, 'connect');
  await within(c.flush(), 5_000, 'flush');
  await c.close();

  await server.stop();
  t.false(isAlive(server.pid));
  t.false(existsSync(server.storeDir));
  await server.stop(); // idempotent
});

withBinary('startNatsServer: rejects with the log tail when the server exits early', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'mesos-ts-nats-test-'));
  try {
    const conf = join(dir, 'broken.conf');
    await writeFile(conf, 'this is { not a valid config\n');
    const err = await t.throwsAsync(startNatsServer({ configFile: conf }));
    t.regex(err?.message ?? '', /exited before it was ready/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
