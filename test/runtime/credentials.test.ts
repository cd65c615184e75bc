/**
 * Credentials: files written owner-only, read back with clear errors, and the permissions each
 * kind of principal gets (the bus enforces them; `test/e2e/security.test.ts` tries them).
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CredentialError, expectCredential, loadCredential, permissionsFor, publicKeyOf, writeCredentials } from '../../runtime/credentials.ts';

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
