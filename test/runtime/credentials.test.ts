/**
 * Credentials: files written owner-only, read back with clear errors, and the permissions each
 * kind of principal gets (the bus enforces them; `test/e2e/security.test.ts` tries them).
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { checkServerIdentity } from 'node:tls';
import { join } from 'node:path';
import { CredentialError, expectCredential, loadCredential, permissionsFor, publicKeyOf, writeCredentials } from '../../runtime/credentials.ts';
import { parseHttpCredentials } from '../../runtime/http/http-auth.ts';

const dir = mkdtempSync(join(tmpdir(), 'creds-test-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

test('writeCredentials writes one owner-only file per principal and an authorization block naming only public keys', (t) => {
  const set = writeCredentials(join(dir, 'a'), { cluster: 'c1', frameworks: ['alice'] });
  t.deepEqual(Object.keys(set.files).sort(), ['agent:agent', 'master:master', 'operator:operator', 'scheduler:alice']);
  for (const f of [...Object.values(set.files), set.authConfig]) t.is(statSync(f).mode & 0o777, 0o600, f);
  const alice = loadCredential(set.files['scheduler:alice']!);
  t.like(alice, { principal: 'alice', kind: 'scheduler', cluster: 'c1' });
  const conf = readFileSync(set.authConfig, 'utf8');
  t.true(conf.includes(publicKeyOf(alice)));
  t.false(conf.includes(alice.seed), 'no secret in the server config');
  t.is(expectCredential(alice, 'scheduler', 'c1'), alice);
  t.throws(() => expectCredential(alice, 'master', 'c1'), { instanceOf: CredentialError, message: /is for kind scheduler, not master/ });
  t.throws(() => expectCredential(alice, 'scheduler', 'c2'), { instanceOf: CredentialError, message: /for cluster 'c1', not 'c2'/ });
});

test('loadCredential names what is wrong with a file', (t) => {
  const cases: Array<[string, RegExp]> = [
    ['not json', /cannot read credential/],
    ['{}', /no valid 'principal'/],
    ['{"principal":"a.b","kind":"agent","cluster":"c","seed":"x"}', /no valid 'principal'/],
    ['{"principal":"a","kind":"root","cluster":"c","seed":"x"}', /'kind' must be one of/],
    ['{"principal":"a","kind":"agent","cluster":"c","seed":"SUnope"}', /not an NKey seed/],
  ];
  for (const [i, [text, re]] of cases.entries()) {
    const f = join(dir, `bad${i}.json`);
    writeFileSync(f, text);
    t.throws(() => loadCredential(f), { instanceOf: CredentialError, message: re }, text);
  }
  t.throws(() => loadCredential(join(dir, 'missing.json')), { instanceOf: CredentialError, message: /cannot read credential .*missing\.json/ });
});

test('each kind publishes only as itself and reads only its own inboxes; only masters write JetStream', (t) => {
  const s = permissionsFor('scheduler', 'alice', 'c1');
  t.true(s.publish.includes('mesos.c1.*.*.*.*.scheduler.alice'));
  t.true(s.subscribe.includes('mesos.c1.scheduler.alice.>'));
  t.true(s.subscribe.includes('_INBOX_alice.>'));
  t.false(s.publish.some((p) => p.startsWith('$KV.') || p === '$JS.API.>' || p === 'mesos.c1.leader'));
  t.false(s.subscribe.some((p) => p === 'mesos.c1.>' || p.includes('scheduler.*')));
  const m = permissionsFor('master', 'master', 'c1');
  t.true(m.publish.includes('mesos.c1.leader') && m.publish.includes('$JS.API.>'));
  const o = permissionsFor('observer', 'tap', 'c1');
  t.true(o.subscribe.includes('mesos.c1.>'));
  t.false(o.publish.some((p) => p.startsWith('mesos.')), 'an observer only watches');
});

test("with TLS (the default) each credential names the cluster CA and its own client certificate; the server's certificate names only its hosts", (t) => {
  const set = writeCredentials(join(dir, 't'), { cluster: 'c1', frameworks: ['alice'], tls: { hosts: ['nats.example', '10.1.2.3'] } });
  t.truthy(set.tlsConfig);
  t.regex(set.serverConfig, /"verify": true/);
  const alice = loadCredential(set.files['scheduler:alice']!);
  const { ca, cert, key } = alice.tls!;
  // Written relative to the credential file (a directory copied elsewhere still works), read back absolute.
  t.is(JSON.parse(readFileSync(set.files['scheduler:alice']!, 'utf8')).tls.ca, 'tls/ca.pem');
  t.is(ca, join(dir, 't', 'tls', 'ca.pem'));
  t.is(statSync(key!).mode & 0o777, 0o600);
  const caCert = new X509Certificate(readFileSync(ca!));
  t.true(caCert.ca);
  const client = new X509Certificate(readFileSync(cert!));
  t.true(client.verify(caCert.publicKey), 'signed by the cluster CA');
  t.regex(client.subject, /CN=scheduler-alice/);
  const server = new X509Certificate(readFileSync(join(dir, 't', 'tls', 'server-cert.pem')));
  t.true(server.verify(caCert.publicKey));
  for (const host of ['localhost', 'nats.example']) t.is(server.checkHost(host), host);
  for (const ip of ['127.0.0.1', '10.1.2.3']) t.is(server.checkIP(ip), ip);
  t.is(server.checkHost('evil.example'), undefined, 'a name it was not made for');
  t.is(checkServerIdentity('evil.example', { subject: { CN: 'x' }, subjectaltname: server.subjectAltName } as never) instanceof Error, true);
  // Another cluster's CA does not vouch for this server.
  const other = writeCredentials(join(dir, 'u'), { cluster: 'c2' });
  t.false(server.verify(new X509Certificate(readFileSync(loadCredential(other.files['master:master']!).tls!.ca!)).publicKey));
  t.falsy(writeCredentials(join(dir, 'v'), { cluster: 'c3', tls: false }).tlsConfig);
});

test('writeCredentials gives each principal an HTTP secret, in its file and in http-credentials.json (owner-only), and the HTTPS certificate', (t) => {
  const set = writeCredentials(join(dir, 'http'), { cluster: 'c1', frameworks: ['alice'], operators: ['ops', 'alice'] });
  t.is(statSync(set.httpCredentials).mode & 0o777, 0o600);
  const http = parseHttpCredentials(readFileSync(set.httpCredentials, 'utf8'));
  t.deepEqual([...http.keys()].sort(), ['agent', 'alice', 'master', 'ops']);
  const ops = loadCredential(set.files['operator:ops']!);
  t.is(typeof ops.httpSecret, 'string');
  t.is(http.get('ops'), ops.httpSecret);
  t.is(loadCredential(set.files['scheduler:alice']!).httpSecret, loadCredential(set.files['operator:alice']!).httpSecret, 'one secret per principal name');
  t.not(http.get('ops'), http.get('master'));
  t.truthy(set.httpTls);
  t.is(checkServerIdentity('127.0.0.1', new X509Certificate(readFileSync(set.httpTls!.cert)).toLegacyObject()), undefined, 'the HTTPS certificate names 127.0.0.1');
  const bad = join(dir, 'bad-http.json');
  writeFileSync(bad, JSON.stringify({ ...JSON.parse(readFileSync(set.files['operator:ops']!, 'utf8')), httpSecret: 7 }));
  t.throws(() => loadCredential(bad), { instanceOf: CredentialError, message: /'httpSecret' must be a non-empty string/ });
});
