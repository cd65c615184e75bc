/**
 * Identity enforced by the bus, on a real nats-server configured by `writeCredentials` (one NKey
 * user per principal, with the permissions of `permissionsFor`).
 *
 * A framework principal (`mallory`) tries every forgery on the bus: publishing as the master, as an
 * agent, as another framework, as an operator; announcing itself leader and writing the lease;
 * reading other principals' inboxes and replies. Connections without credentials, or with a key
 * the server does not know, are refused. Each forged message is followed, on the same connection,
 * by a message the victim may legitimately get (NATS keeps a connection's order), so that when the
 * victim has that one, it would have had the forgery too: nothing is waited for by time.
 *
 * Positive controls keep the suite honest: the same principals' own messages get through, and a
 * master holds the lease while an agent and a framework follow it.
 */
import test from 'ava';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nkeyAuthenticator, nkeys, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { jetstream } from '@nats-io/jetstream';
import { connectionOptions, loadCredential, writeCredentials, type CredentialSet } from '../../runtime/credentials.ts';
import { KvLeaderDetector, KvLeaseCandidate, leaderSubject, leaseBucketName } from '../../runtime/lease.ts';
import { startNatsServer, type NatsServerHandle } from '../../runtime/nats-server.ts';
import { OperatorClient } from '../../runtime/operator-client.ts';
import { connectNats, NatsTransport } from '../../runtime/transport-nats.ts';
import type { LeaderInfo } from '../../runtime/types.ts';
import { Packr } from 'msgpackr';
import { randomUUID } from 'node:crypto';
import { ProcessRegistry, parseJsonLine, type ManagedProcess } from '../helpers/processes.ts';
import { logMsg } from './support.ts';

const C = `sec${process.pid}`;
const work = mkdtempSync(join(tmpdir(), 'mesos-security-'));
let server: NatsServerHandle;
let creds: CredentialSet;
const conns: NatsConnection[] = [];

test.before(async () => {
  creds = writeCredentials(join(work, 'credentials'), { cluster: C, frameworks: ['alice', 'mallory'], operators: ['ops'], observers: ['tap'] });
  server = await startNatsServer({ storeDir: join(work, 'nats'), config: creds.serverConfig });
});

test.after.always(async () => {
  for (const nc of conns) await nc.close().catch(() => {});
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** A connection as the principal `key` (`<kind>:<principal>`); permission errors are collected. */
async function as(key: string): Promise<{ nc: NatsConnection; errors: string[] }> {
  const c = creds.credentials.find((x) => `${x.kind}:${x.principal}` === key)!;
  const nc = await connectNats({ servers: server.url, name: key, options: connectionOptions(c) });
  conns.push(nc);
  const errors: string[] = [];
  void (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(String(s.error?.message ?? s.error));
  })();
  return { nc, errors };
}

/** A subscriber that counts what it gets and lets a test wait for a given message. */
function inbox(nc: NatsConnection, subject: string) {
  const got: string[] = [];
  const waiters: Array<{ subject: string; resolve: () => void }> = [];
  nc.subscribe(subject, {
    callback: (err, msg) => {
      if (err) return;
      got.push(msg.subject);
      for (const w of waiters.splice(0)) {
        if (w.subject === msg.subject) w.resolve();
        else waiters.push(w);
      }
    },
  });
  const received = (s: string) => (got.includes(s) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ subject: s, resolve })));
  return { got, received };
}

const enc = new TextEncoder();

test.serial('a framework principal forges nothing: 0 of N forgeries reach anyone, and its own messages do', async (t) => {
  const master = await as('master:master');
  const agent = await as('agent:agent');
  const alice = await as('scheduler:alice');
  const mallory = await as('scheduler:mallory');
  const masterPid = `mesos.${C}.master.master.m1`;
  const agentPid = `mesos.${C}.agent.agent.a1`;
  const alicePid = `mesos.${C}.scheduler.alice.s1`;
  const victims = {
    master: inbox(master.nc, `${masterPid}.>`),
    agent: inbox(agent.nc, `${agentPid}.>`),
    alice: inbox(alice.nc, `${alicePid}.>`),
    leader: inbox(agent.nc, leaderSubject(C)),
  };
  await Promise.all([master.nc.flush(), agent.nc.flush(), alice.nc.flush()]);

  // Every forgery, then a barrier to each victim: mallory speaking as itself, which gets through.
  const forgeries: Array<[string, string]> = [
    [`${agentPid}.RunTask.master.master`, 'RunTask to an agent as the master'],
    [`${agentPid}.ShutdownFramework.master.master`, 'ShutdownFramework to an agent as the master'],
    [`${agentPid}.Ping.master.anonymous`, 'Ping to an agent as an anonymous master'],
    [`${masterPid}.KillTask.scheduler.alice`, "KillTask to the master as alice's scheduler"],
    [`${masterPid}.TeardownFramework.scheduler.alice`, 'TeardownFramework to the master as alice'],
    [`${masterPid}.StatusUpdate.agent.agent`, 'StatusUpdate to the master as an agent'],
    [`${masterPid}.RegisterAgent.agent.mallory`, 'RegisterAgent as an agent (its own principal)'],
    [`${masterPid}.RegisterAgent.agent.agent`, 'RegisterAgent as the agent principal'],
    [`${masterPid}.TeardownFramework.operator.ops`, 'TeardownFramework as the operator'],
    [`${masterPid}.UpdateQuota.operator.mallory`, 'UpdateQuota as an operator (its own principal)'],
    [`${alicePid}.StatusUpdate.master.master`, 'StatusUpdate to alice as the master'],
    [`${alicePid}.ResourceOffers.master.master`, 'ResourceOffers to alice as the master'],
    [`${masterPid}.RegisterExecutor.executor.local`, 'an executor message on the bus'],
    [leaderSubject(C), 'a leader announcement'],
    [`$KV.${leaseBucketName(C)}.leader`, 'a write of the lease key'],
    [`$JS.API.STREAM.DELETE.KV_${leaseBucketName(C)}`, 'deleting the lease bucket'],
    [`$JS.API.STREAM.PURGE.KV_${leaseBucketName(C)}`, 'purging the lease bucket'],
  ];
  for (const [subject] of forgeries) mallory.nc.publish(subject, enc.encode('forged'));
  const barriers = {
    master: `${masterPid}.Barrier.scheduler.mallory`,
    agent: `${agentPid}.Barrier.scheduler.mallory`,
    alice: `${alicePid}.Barrier.scheduler.mallory`,
  };
  for (const s of Object.values(barriers)) mallory.nc.publish(s, enc.encode('barrier'));
  await Promise.all([victims.master.received(barriers.master), victims.agent.received(barriers.agent), victims.alice.received(barriers.alice)]);
  // The leader subject has no barrier mallory may send: the master's own announcement, sent after
  // the forgery reached the server (mallory flushed), stands for it.
  await mallory.nc.flush();
  const announced = leaderSubject(C);
  master.nc.publish(announced, enc.encode('real'));
  await victims.leader.received(announced);

  const reached = [
    ...victims.master.got, ...victims.agent.got, ...victims.alice.got,
  ].filter((s) => !Object.values(barriers).includes(s));
  const forgedLeader = victims.leader.got.length - 1;
  const succeeded = reached.length + forgedLeader;
  t.log(`publish forgeries: ${forgeries.length} attempted, ${succeeded} succeeded`);
  t.deepEqual(reached, [], 'forgeries delivered');
  t.is(forgedLeader, 0, 'forged leader announcements delivered');
  // The server said why, for each one.
  t.true(mallory.errors.filter((e) => /permissions violation for publish/i.test(e)).length >= 1, mallory.errors.join('\n'));
  t.false(mallory.nc.isClosed(), 'violations are refused, the connection stays');
});

test.serial("a framework principal cannot read other principals' inboxes or replies, and can read its own", async (t) => {
  const master = await as('master:master');
  const mallory = await as('scheduler:mallory');
  const alicePid = `mesos.${C}.scheduler.alice.s2`;
  const malloryPid = `mesos.${C}.scheduler.mallory.s2`;
  const spies = [
    `${alicePid}.>`,
    `mesos.${C}.scheduler.alice.>`,
    `mesos.${C}.scheduler.*.>`,
    `mesos.${C}.master.>`,
    `mesos.${C}.agent.>`,
    `mesos.${C}.>`,
    '_INBOX_alice.>',
    '_INBOX_master.>',
    '>',
  ].map((s) => ({ s, box: inbox(mallory.nc, s) }));
  const own = inbox(mallory.nc, `${malloryPid}.>`);
  await mallory.nc.flush().catch(() => {});
  // The master sends to alice, to mallory, and to a reply inbox of alice's; then, last, to mallory.
  const toAlice = `${alicePid}.ResourceOffers.master.master`;
  const toMallory = `${malloryPid}.ResourceOffers.master.master`;
  master.nc.publish(toAlice, enc.encode('offers for alice'));
  master.nc.publish('_INBOX_alice.reply1', enc.encode('a reply for alice'));
  master.nc.publish(toMallory, enc.encode('offers for mallory'));
  await own.received(toMallory);
  const leaked = spies.filter((x) => x.box.got.length > 0).map((x) => `${x.s}: ${x.box.got.join(', ')}`);
  t.log(`subscription forgeries: ${spies.length} attempted, ${leaked.length} succeeded`);
  t.deepEqual(leaked, []);
  t.true(mallory.errors.filter((e) => /permissions violation for subscription/i.test(e)).length >= 1, mallory.errors.join('\n'));
});

test.serial('connections without credentials, with a key the server does not know, or without TLS from the cluster CA are refused', async (t) => {
  const alice = creds.credentials.find((x) => x.principal === 'alice')!;
  const tls = alice.tls!;
  const once = { maxReconnectAttempts: 0, reconnect: false };
  const attempts: Array<[string, Partial<ConnectionOptions>, RegExp]> = [
    // The server asks for TLS and the client tries, but cannot trust a certificate from the cluster's CA.
    ['no credentials, no TLS', { ...once }, /certificate/i],
    ['no credentials, over TLS', { ...once, tls: { caFile: tls.ca, certFile: tls.cert, keyFile: tls.key } }, /authorization/i],
    ['an unknown key, over TLS', { ...once, tls: { caFile: tls.ca, certFile: tls.cert, keyFile: tls.key }, authenticator: nkeyAuthenticator(nkeys.createUser().getSeed()) }, /authorization/i],
    ["alice's key without TLS", { ...once, ...connectionOptions({ ...alice, tls: undefined }) }, /certificate/i],
    ["alice's key, TLS without the cluster's CA", { ...once, ...connectionOptions({ ...alice, tls: { cert: tls.cert, key: tls.key } }) }, /certificate/i],
    ["alice's key, TLS without a client certificate", { ...once, ...connectionOptions({ ...alice, tls: { ca: tls.ca } }) }, /certificate|closed|reset|ECONNRESET|disconnect/i],
  ];
  let succeeded = 0;
  for (const [what, options, re] of attempts) {
    const err = await t.throwsAsync(connectNats({ servers: server.url, name: 'stranger', options }), undefined, what);
    t.log(`${what}: ${String(err?.message)}`);
    t.regex(String(err?.message), re, what);
    if (!err) succeeded++;
  }
  // And the control: alice's credential as written connects.
  const ok = await connectNats({ servers: server.url, name: 'alice', options: { ...once, ...connectionOptions(alice) } });
  conns.push(ok);
  t.log(`connection forgeries: ${attempts.length} attempted, ${succeeded} succeeded`);
});

test.serial('only a master may hold the lease: a master wins it, an agent and a framework follow it, a framework cannot write it', async (t) => {
  const master = await as('master:master');
  const agent = await as('agent:agent');
  const alice = await as('scheduler:alice');
  const value = { pid: `mesos.${C}.master.master.m9`, hostname: 'm9' };
  const candidate = new KvLeaseCandidate({ nc: master.nc, cluster: C, leaseMs: 3000, value });
  const won = new Promise<number>((resolve) => candidate.start((e) => e.type === 'lease.acquired' && resolve(e.epoch)));
  t.teardown(() => candidate.stop());
  const epoch = await won;
  for (const who of [agent, alice]) {
    const d = new KvLeaderDetector({ nc: who.nc, cluster: C, leaseMs: 3000 });
    t.teardown(() => d.stop());
    const seen = await new Promise<LeaderInfo>((resolve) => d.start((l) => l && l.pid === value.pid && resolve(l)));
    t.is(seen.epoch, epoch);
  }
  // alice tries the KV API and the raw subject: both refused.
  const kv = await new Kvm(jetstream(alice.nc, { timeout: 2000 })).open(leaseBucketName(C));
  await t.throwsAsync(kv.put('leader', enc.encode(JSON.stringify({ pid: `mesos.${C}.master.alice.x`, hostname: 'x', epoch: epoch + 1 }))));
  const entry = await kv.get('leader');
  t.is(JSON.parse(new TextDecoder().decode(entry!.value)).pid, value.pid, 'the lease still names the master');
  t.deepEqual(agent.errors.filter((e) => /permission/i.test(e)), [], 'following needs nothing the agent may not do');
});

// ── a secured cluster of real processes ───────────────────────────────────────────────────

test.serial('a credential or --acls that cannot be used, or no identity at all, ends the command with status 2 and one line saying why', async (t) => {
  const procs = new ProcessRegistry();
  t.teardown(() => procs.stopAll(5000));
  const cases: Array<[string, string[], RegExp]> = [
    ['mesos-master', [`--credential=${creds.files['agent:agent']}`], /^mesos-master: the credential of 'agent' is for kind agent, not master$/],
    ['mesos-agent', [`--credential=${join(work, 'missing.json')}`], /^mesos-agent: cannot read credential .*missing\.json/],
    ['mesos-execute', [`--credential=${creds.files['scheduler:alice']}`, '--cluster=other', '--command=true'], /^mesos-execute: the credential of 'alice' is for cluster '.*', not 'other'$/],
    ['mesos-master', ['--insecure', '--acls={"launch_rockets": []}'], /^mesos-master: invalid --acls: unknown action 'launch_rockets'/],
    ['mesos-master', ['--insecure', `--acls=file://${join(work, 'no-acls.json')}`], /^mesos-master: invalid --acls: cannot read '.*no-acls\.json'/],
    // Secure by default: no identity at all is refused, unless --insecure says so.
    ['mesos-master', [], /^mesos-master: no --credential: pass this master's credential file \(mesos-credentials init writes them\), or --insecure to connect without one$/],
    ['mesos-agent', [], /^mesos-agent: no --credential: pass this agent's credential file/],
    ['mesos-execute', ['--command=true'], /^mesos-execute: no --credential: pass this scheduler's credential file/],
    ['mesos-pi', [], /^mesos-pi: no --credential: pass this scheduler's credential file/],
    ['mesos-local', [], /^mesos-local: --nats needs --credentials_dir \(the directory mesos-credentials init wrote for that server\), or --insecure$/],
    ['mesos-local', [`--credential=${creds.files['master:master']}`], /^mesos-local: --credential is for one principal/],
  ];
  for (const [cmd, args, re] of cases) {
    const p = procs.start(cmd as 'mesos-master', [`--nats=${server.url}`, `--cluster=${C}`, ...args]);
    const exit = await p.waitForExit(60_000);
    t.is(exit.code, 2, cmd);
    const err = p.texts('stderr').filter((l) => l.trim() !== '');
    t.is(err.length, 1, err.join('\n'));
    t.regex(err[0] ?? '', re);
  }
});

const WAIT = 60_000;

test.serial('a cluster whose every process authenticates runs tasks; a framework principal then forges against it and nothing reaches an actor, and its flood past its --rate_limits is dropped and counted', async (t) => {
  t.timeout(5 * WAIT);
  const procs = new ProcessRegistry();
  const cluster = `${C}p`;
  const dir = join(work, 'secured');
  // The credentials come from the command, as an operator would make them.
  const init = procs.start('mesos-credentials', ['init', `--dir=${join(dir, 'creds')}`, `--cluster=${cluster}`, '--frameworks=alice,mallory']);
  t.is((await init.waitForExit(WAIT)).code, 0, init.tail());
  // The server runs on the written nats.conf, JetStream store included (only the address is a flag).
  const secured = await startNatsServer({ jetstream: false, configFile: join(dir, 'creds', 'nats.conf') });
  const cred = (f: string) => `--credential=${join(dir, 'creds', f)}`;
  const common = [`--nats=${secured.url}`, `--cluster=${cluster}`, '--log_level=info'];
  t.teardown(async () => {
    await procs.stopAll(5000);
    await secured.stop();
  });
  // mallory may send the master a message a second, after a burst of 5.
  const master = procs.start('mesos-master', [...common, cred('master-master.json'), '--port=0', '--rate_limits={"limits":[{"principal":"mallory","qps":1,"capacity":5}]}'], { label: 'master' });
  const masterPid = String(parseJsonLine((await master.waitForLine(logMsg(/^master started/), WAIT)).text)!.actorPid);
  const agent = procs.start('mesos-agent', [...common, cred('agent-agent.json'), `--work_dir=${join(dir, 'agent')}`, '--port=0', '--resources=cpus:2;mem:1024;disk:1024'], { label: 'agent' });
  const agentPid = String(parseJsonLine((await agent.waitForLine(logMsg('agent started'), WAIT)).text)!.actorPid);
  await agent.waitForLine(logMsg('agent registered'), WAIT);
  t.regex(masterPid, new RegExp(`^mesos\\.${cluster}\\.master\\.master\\.`));
  t.regex(agentPid, new RegExp(`^mesos\\.${cluster}\\.agent\\.agent\\.`));

  // alice runs a task to the end, then starts one that keeps running.
  const echo = procs.start('mesos-execute', [...common, cred('scheduler-alice.json'), '--command=echo secured', '--name=echo'], { label: 'echo' });
  t.is((await echo.waitForExit(WAIT)).code, 0, echo.tail());
  t.true(echo.texts('stdout').some((l) => /Received status update TASK_FINISHED for task 'echo'/.test(l)));
  const victim: ManagedProcess = procs.start('mesos-execute', [...common, cred('scheduler-alice.json'), '--command=sleep 600', '--name=victim'], { label: 'victim' });
  const subscribed = await victim.waitForLine(/^Subscribed with ID /, WAIT);
  const frameworkId = subscribed.text.replace(/^Subscribed with ID /, '').trim();
  await victim.waitForLine(/Received status update TASK_RUNNING for task 'victim'/, WAIT);

  // mallory, a framework principal of this cluster, forges with the project's own codec.
  const creds = loadCredential(join(dir, 'creds', 'scheduler-mallory.json'));
  const nc = await connectNats({ servers: secured.url, name: 'mallory', options: connectionOptions(creds) });
  conns.push(nc);
  const packr = new Packr({ useRecords: false, variableMapSize: true });
  const forge = (to: string, type: string, fromKind: string, fromPrincipal: string, body: unknown, epoch?: number, id = 'forged') => {
    const from = `mesos.${cluster}.${fromKind}.${fromPrincipal}.${id}`;
    nc.publish(`${to}.${type}.${fromKind}.${fromPrincipal}`, packr.pack({ v: 1, type, from, id: randomUUID(), body, ...(epoch !== undefined ? { epoch } : {}) }));
  };
  const agentId = String(parseJsonLine(agent.texts().find((l) => parseJsonLine(l)?.msg === 'agent registered')!)!.agentId);
  const evil = { taskId: 'evil', name: 'evil', agentId, resources: [{ name: 'cpus', type: 'SCALAR', scalar: 0.1 }], command: { value: `touch ${join(dir, 'evil-ran')}` } };
  const attempts: Array<() => void> = [
    () => forge(masterPid, 'KillTask', 'scheduler', 'alice', { frameworkId, taskId: 'victim' }),
    () => forge(masterPid, 'TeardownFramework', 'scheduler', 'alice', { frameworkId }),
    () => forge(masterPid, 'TeardownFramework', 'operator', 'operator', { frameworkId }),
    () => forge(masterPid, 'RegisterAgent', 'agent', 'agent', { agent: { hostname: 'fake', resources: [{ name: 'cpus', type: 'SCALAR', scalar: 1000 }], attributes: [] }, version: '1' }),
    () => forge(agentPid, 'RunTask', 'master', 'master', { frameworkId, framework: { name: 'x', id: frameworkId }, task: evil }, 1),
    () => forge(agentPid, 'ShutdownFramework', 'master', 'master', { frameworkId }, 1),
    () => forge(agentPid, 'KillTask', 'master', 'master', { frameworkId, taskId: 'victim' }, 1),
  ];
  const masterMark = master.mark();
  const agentMark = agent.mark();
  for (const a of attempts) a();
  // Barriers: messages mallory may publish, which each victim drops with a log line (after the
  // forgeries on the same connection, had they got through).
  forge(masterPid, 'RunTask', 'scheduler', 'mallory', {}, undefined, 'barrier');
  forge(agentPid, 'RunTask', 'scheduler', 'mallory', {}, undefined, 'barrier');
  await master.waitForLine(logMsg('dropped inbound message', (j) => String(j.subject ?? '').endsWith('.RunTask.scheduler.mallory')), WAIT, { since: masterMark });
  await agent.waitForLine(logMsg('dropped inbound message', (j) => String(j.subject ?? '').endsWith('.RunTask.scheduler.mallory')), WAIT, { since: agentMark });
  const reachedMaster = master.texts().slice(masterMark).filter((l) => /forged/.test(l));
  const reachedAgent = agent.texts().slice(agentMark).filter((l) => /forged/.test(l));
  t.log(`forgeries against the processes: ${attempts.length} attempted, ${reachedMaster.length + reachedAgent.length} reached an actor`);
  t.deepEqual([...reachedMaster, ...reachedAgent], []);
  t.false(victim.texts('stdout').some((l) => /TASK_KILLED|TASK_LOST|TASK_FAILED/.test(l)), 'the victim task still runs');
  t.true(victim.running);
  t.false(existsSync(join(dir, 'evil-ran')), "the forged task never ran");

  // mallory floods the master as itself: past its rate, the master drops its messages unread, and
  // counts them. The operator's question comes after the flood reached the server (mallory flushed).
  const FLOOD = 300;
  for (let i = 0; i < FLOOD; i++) forge(masterPid, 'ReviveOffers', 'scheduler', 'mallory', { frameworkId: 'none' }, undefined, `flood${i}`);
  await nc.flush();
  const opNc = await connectNats({ servers: secured.url, name: 'operator', options: connectionOptions(loadCredential(join(dir, 'creds', 'operator-operator.json'))) });
  conns.push(opNc);
  const op = new OperatorClient(new NatsTransport(opNc), cluster, undefined, 'operator');
  t.teardown(() => op.close());
  const { metrics } = await op.request(masterPid, { type: 'GetMetrics', body: {} }, 'MetricsSnapshot', WAIT);
  const m = (k: string) => metrics[`master/frameworks/mallory/${k}`] ?? 0;
  t.log(`rate limit: mallory sent ${m('messages_received')}, ${m('messages_processed')} let through, ${m('messages_dropped')} dropped`);
  t.is(m('messages_received'), FLOOD + 1, 'the flood and the barrier');
  t.true(m('messages_dropped') >= FLOOD - 10, `dropped ${m('messages_dropped')}`);
  t.is(metrics['master/rate_limited'], m('messages_dropped'));
  t.true(victim.running, "alice's task runs on");
});

test.serial('mesos-local is secured by default, and the command it prints runs a task as the framework principal', async (t) => {
  t.timeout(4 * WAIT);
  const procs = new ProcessRegistry();
  t.teardown(() => procs.stopAll(5000));
  const local = procs.start('mesos-local', [`--cluster=${C}l`, '--agents=1', '--resources=cpus:1;mem:512;disk:512', '--cleanup']);
  const tryLine = (await local.waitForLine(/^\s+try: npx mesos-execute /, 2 * WAIT)).text;
  const credDir = (await local.waitForLine(/^\s+credentials: /, WAIT)).text.replace(/^\s+credentials: /, '').trim();
  t.true(existsSync(join(credDir, 'auth.conf')));
  // The printed command, as a user would paste it (minus `npx`).
  const args = [...tryLine.matchAll(/--\w+=("[^"]*"|\S+)/g)].map((m) => m[0].replace(/="(.*)"$/, '=$1'));
  t.true(args.some((a) => a.startsWith('--credential=')), tryLine);
  const echo = procs.start('mesos-execute', args, { label: 'echo' });
  t.is((await echo.waitForExit(2 * WAIT)).code, 0, echo.tail());
  t.regex(echo.output('stdout'), /Received status update TASK_FINISHED/);
  // Without its credential (its TLS files included) the same command cannot connect.
  const anon = procs.start('mesos-execute', [...args.filter((a) => !a.startsWith('--credential=')), '--insecure'], { label: 'anonymous' });
  t.not((await anon.waitForExit(WAIT)).code, 0);
  t.regex(anon.output(), /certificate|authorization/i);
  t.is((await local.stop(10_000)).code, 0, local.tail());
  t.false(existsSync(credDir), 'the generated credentials go with the cluster');
});
