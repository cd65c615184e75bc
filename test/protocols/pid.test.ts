import test from 'ava';
import fc from 'fast-check';
import {
  ACTOR_KINDS,
  ANONYMOUS_PRINCIPAL,
  PidError,
  executorPid,
  inboxOf,
  isToken,
  kindOf,
  parsePid,
  parseSubject,
  pid,
  subjectFor,
  subjectFrom,
  toToken,
  type ActorKind,
} from '../../protocols/pid.ts';
import { MESSAGES } from '../../protocols/messages.ts';
import { agentIdFor, frameworkIdFor, offerIdFor } from '../../protocols/ids.ts';

/**
 * NATS subject matching, written out from the NATS documentation: subjects are `.`-separated
 * tokens; `*` in the pattern matches exactly one token, `>` (only as the last token) matches one or
 * more remaining tokens; any other token must be equal.
 */
function natsMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return i === p.length - 1 && s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

test('natsMatches helper follows the NATS wildcard rules it is used to check', (t) => {
  t.true(natsMatches('a.>', 'a.b'));
  t.true(natsMatches('a.>', 'a.b.c.d'));
  t.false(natsMatches('a.>', 'a'));
  t.true(natsMatches('a.*.c', 'a.b.c'));
  t.false(natsMatches('a.*.c', 'a.b.b.c'));
  t.false(natsMatches('a.b', 'a.b.c'));
});

// A token: 1–128 characters from the safe alphabet.
const tokenArb = fc.stringMatching(/^[A-Za-z0-9_\-~+=%:@]{1,128}$/);
const kindArb = fc.constantFrom(...ACTOR_KINDS);
const typeArb = fc.constantFrom(...Object.keys(MESSAGES));

const BAD_TOKENS = ['', 'a.b', '.', 'a b', ' ', '*', '>', 'a*', 'a>', 'x\ty', 'x\ny', 'a'.repeat(129)];

// ── pid() ──────────────────────────────────────────────────────────────────────────

test('pid() builds mesos.<cluster>.<kind>.<principal>.<id>, anonymous unless a principal is given', (t) => {
  t.is(pid('c1', 'master', 'm1'), 'mesos.c1.master.anonymous.m1');
  t.is(pid('c1', 'master', 'm1', 'master'), 'mesos.c1.master.master.m1');
  t.is(pid('prod', 'agent', '20240101-abc-S3', 'agent'), 'mesos.prod.agent.agent.20240101-abc-S3');
  t.is(pid('c', 'scheduler', 'fw:alice@host', 'alice'), 'mesos.c.scheduler.alice.fw:alice@host');
  for (const kind of ACTOR_KINDS) t.is(pid('c', kind, 'x'), `mesos.c.${kind}.anonymous.x`);
  t.is(executorPid('c', 'C-1.2'), 'mesos.c.executor.local.C-1_2', 'executors all act as the local principal');
});

test('pid() rejects a bad principal with PidError naming it', (t) => {
  for (const bad of BAD_TOKENS) {
    const err = t.throws(() => pid('c', 'scheduler', 's1', bad), { instanceOf: PidError }, `principal ${JSON.stringify(bad)}`);
    t.true(err?.message.includes('principal'), err?.message);
  }
});

test('pid() rejects a bad cluster with PidError naming it', (t) => {
  for (const bad of BAD_TOKENS) {
    const err = t.throws(() => pid(bad, 'master', 'm1'), { instanceOf: PidError }, `cluster ${JSON.stringify(bad)}`);
    t.is(err?.name, 'PidError');
    t.true(err?.message.includes('cluster'), err?.message);
  }
});

test('pid() rejects a bad id with PidError naming it', (t) => {
  for (const bad of BAD_TOKENS) {
    const err = t.throws(() => pid('c', 'agent', bad), { instanceOf: PidError }, `id ${JSON.stringify(bad)}`);
    t.true(err?.message.includes('id'), err?.message);
  }
});

test('pid() rejects a kind that is not an actor kind (including ones with dots or wildcards)', (t) => {
  for (const bad of ['', 'slave', 'Master', 'master.x', 'a b', '*', '>']) {
    const err = t.throws(() => pid('c', bad as ActorKind, 'x'), { instanceOf: PidError }, `kind ${JSON.stringify(bad)}`);
    t.true(err?.message.includes('kind'), err?.message);
  }
});

test('PidError is an Error', (t) => {
  const e = new PidError('boom');
  t.true(e instanceof Error);
  t.is(e.name, 'PidError');
  t.is(e.message, 'boom');
});

// ── parsePid / kindOf ───────────────────────────────────────────────────────────────

test('parsePid() reads back what pid() built', (t) => {
  t.deepEqual(parsePid('mesos.c1.master.m.m1'), { cluster: 'c1', kind: 'master', principal: 'm', id: 'm1' });
  t.deepEqual(parsePid(pid('c', 'executor', 'e-1')), { cluster: 'c', kind: 'executor', principal: 'anonymous', id: 'e-1' });
});

test('property: parsePid(pid(c, k, i)) = {c, k, i} for every valid token', (t) => {
  // fc.assert throws (with the shrunk counterexample) when the property fails.
  t.notThrows(() =>
    fc.assert(
      fc.property(tokenArb, kindArb, tokenArb, tokenArb, (cluster, kind, id, principal) => {
        const p = parsePid(pid(cluster, kind, id, principal));
        return p !== undefined && p.cluster === cluster && p.kind === kind && p.principal === principal && p.id === id &&
          kindOf(pid(cluster, kind, id, principal)) === kind;
      }),
      { numRuns: 300 },
    ),
  );
});

test('parsePid() rejects strings off the grammar', (t) => {
  const bad = [
    '',
    'mesos',
    'mesos.c.master', // too few parts
    'mesos.c.master.m', // no principal (the grammar before principals)
    'mesos.c.master.p.m.extra', // too many parts
    'nats.c.master.p.m', // wrong prefix
    'Mesos.c.master.p.m',
    'mesos.c.slave.p.m', // unknown kind
    'mesos.c.Master.p.m',
    'mesos..master.p.m', // empty cluster
    'mesos.c.master..m', // empty principal
    'mesos.c.master.p.', // empty id
    'mesos.c.master.p.a b',
    'mesos.c.master.p.*',
    'mesos.c.master.*.m',
    'mesos.c.master.p.>',
    'mesos.*.master.p.m',
    `mesos.c.master.p.${'a'.repeat(129)}`,
    `mesos.c.master.${'a'.repeat(129)}.m`,
  ];
  for (const s of bad) {
    t.is(parsePid(s), undefined, s);
    t.is(kindOf(s), undefined, s);
  }
});

test('kindOf() names the kind of a PID', (t) => {
  for (const kind of ACTOR_KINDS) t.is(kindOf(pid('c', kind, 'x')), kind);
});

// ── isToken / toToken ───────────────────────────────────────────────────────────────

test('isToken() accepts the safe alphabet up to 128 characters and nothing else', (t) => {
  t.true(isToken('a'));
  t.true(isToken('Az09_-~+=%:@'));
  t.true(isToken('a'.repeat(128)));
  for (const bad of BAD_TOKENS) t.false(isToken(bad), JSON.stringify(bad));
  t.false(isToken('é'));
  t.false(isToken('a/b'));
});

test('toToken() leaves generated ids alone', (t) => {
  for (const id of ['m1', frameworkIdFor('run42', 7), agentIdFor('run42', 3), offerIdFor('run42', 12), 'task-1_a']) {
    t.is(toToken(id), id);
  }
});

test('toToken() percent-encodes the characters NATS treats specially, as UTF-8 bytes', (t) => {
  // '.' is 0x2E, ' ' is 0x20, '*' is 0x2A, '>' is 0x3E, '/' is 0x2F.
  t.is(toToken('a.b'), 'a%2Eb');
  t.is(toToken('a b'), 'a%20b');
  t.is(toToken('*'), '%2A');
  t.is(toToken('>'), '%3E');
  t.is(toToken('x/y'), 'x%2Fy');
  // 'é' is U+00E9, UTF-8 C3 A9.
  t.is(toToken('é'), '%C3%A9');
  // A '%' in a string that needs encoding is itself encoded (0x25), so the escape stays readable.
  t.is(toToken('100% done'), '100%25%20done');
});

test('property: toToken(s) is a valid token for any non-empty string, however long', (t) => {
  // Short ASCII strings encode to at most 3 chars each; longer or multi-byte ones are shortened
  // with a digest once the encoding passes 128 chars.
  t.notThrows(() =>
    fc.assert(fc.property(fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 300 }), (s) => isToken(toToken(s))), { numRuns: 500 }),
  );
  t.notThrows(() =>
    fc.assert(fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 80 }), (s) => isToken(toToken(s))), { numRuns: 500 }),
  );
  t.true(isToken(toToken('a'.repeat(129))));
});

test('property: toToken is injective on distinct strings', (t) => {
  // Strings without '%' (see the report: a token containing '%' collides with the encoding of
  // another string, e.g. toToken('a%20b') === toToken('a b')).
  const noPercent = (unit: 'grapheme-ascii' | 'binary') =>
    fc.string({ unit, minLength: 1, maxLength: 10 }).filter((s) => !s.includes('%'));
  for (const unit of ['grapheme-ascii', 'binary'] as const) {
    fc.assert(
      fc.property(fc.uniqueArray(noPercent(unit), { minLength: 2, maxLength: 30 }), (xs) => {
        return new Set(xs.map(toToken)).size === xs.length;
      }),
      { numRuns: 300 },
    );
  }
  // Near misses that must stay apart.
  const near = ['a.b', 'a b', 'a_b', 'a-b', 'a*b', 'a>b', 'ab', 'a..b', 'é', 'e', 'E9'];
  t.is(new Set(near.map(toToken)).size, near.length);
});

test('toToken() output can stand as a PID id', (t) => {
  t.is(pid('c', 'scheduler', toToken('my framework.v2'), toToken('ops team')), 'mesos.c.scheduler.ops%20team.my%20framework%2Ev2');
  t.deepEqual(parsePid(pid('c', 'scheduler', toToken('my framework.v2'), toToken('ops team'))), {
    cluster: 'c',
    kind: 'scheduler',
    principal: 'ops%20team',
    id: 'my%20framework%2Ev2',
  });
});

// ── ids ─────────────────────────────────────────────────────────────────────────────

test('ids assigned by the master follow the Mesos shapes and are subject tokens', (t) => {
  // frameworkIdFor pads the sequence to 4 digits; agents get S<seq>, offers O<seq>.
  t.is(frameworkIdFor('20240101-abc', 7), '20240101-abc-0007');
  t.is(frameworkIdFor('r', 12345), 'r-12345');
  t.is(agentIdFor('20240101-abc', 3), '20240101-abc-S3');
  t.is(offerIdFor('20240101-abc', 12), '20240101-abc-O12');
  for (const id of [frameworkIdFor('r', 1), agentIdFor('r', 1), offerIdFor('r', 1)]) t.true(isToken(id), id);
  // Distinct sequence numbers give distinct ids.
  t.not(agentIdFor('r', 1), agentIdFor('r', 11));
  t.not(frameworkIdFor('r', 1), frameworkIdFor('r', 10));
});

// ── subjects ────────────────────────────────────────────────────────────────────────

test('subjectFor() lays out <pid>.<type>.<fromKind>.<principal>', (t) => {
  const to = pid('c', 'master', 'm1');
  t.is(subjectFor(to, 'RegisterAgent', 'agent', 'alice'), 'mesos.c.master.anonymous.m1.RegisterAgent.agent.alice');
  t.is(subjectFor(to, 'RegisterAgent', 'agent'), `mesos.c.master.anonymous.m1.RegisterAgent.agent.${ANONYMOUS_PRINCIPAL}`);
  t.is(ANONYMOUS_PRINCIPAL, 'anonymous');
  t.is(subjectFrom(to, 'RegisterAgent', parsePid(pid('c', 'agent', 'a1', 'ag'))!), 'mesos.c.master.anonymous.m1.RegisterAgent.agent.ag');
});

test('property: parseSubject(to, subjectFor(to, type, kind, principal)) gives back type, kind and principal', (t) => {
  fc.assert(
    fc.property(tokenArb, kindArb, tokenArb, typeArb, kindArb, tokenArb, (cluster, toKind, id, type, fromKind, principal) => {
      const to = pid(cluster, toKind, id);
      const parsed = parseSubject(to, subjectFor(to, type, fromKind, principal));
      return parsed !== undefined && parsed.type === type && parsed.fromKind === fromKind && parsed.principal === principal;
    }),
    { numRuns: 300 },
  );
  const to = pid('c', 'agent', 'a1');
  t.deepEqual(parseSubject(to, subjectFor(to, 'Ping', 'master')), { type: 'Ping', fromKind: 'master', principal: 'anonymous' });
});

test('parseSubject() rejects subjects for another PID or of the wrong shape', (t) => {
  const to = 'mesos.c.master.p.m1';
  // Another actor whose id merely starts with ours.
  t.is(parseSubject(to, 'mesos.c.master.p.m10.RegisterAgent.agent.anonymous'), undefined);
  t.is(parseSubject(to, 'mesos.c.agent.p.m1.RegisterAgent.agent.anonymous'), undefined);
  t.is(parseSubject(to, 'mesos.c.master.q.m1.RegisterAgent.agent.anonymous'), undefined);
  // The PID itself, and tails with too few or too many tokens.
  t.is(parseSubject(to, to), undefined);
  t.is(parseSubject(to, `${to}.RegisterAgent`), undefined);
  t.is(parseSubject(to, `${to}.RegisterAgent.agent`), undefined);
  t.is(parseSubject(to, `${to}.RegisterAgent.agent.anonymous.extra`), undefined);
});

test('property: inboxOf(pid) matches every subject sent to that PID, and none sent to another', (t) => {
  fc.assert(
    fc.property(
      tokenArb,
      kindArb,
      tokenArb,
      tokenArb,
      typeArb,
      kindArb,
      tokenArb,
      (cluster, toKind, id, otherId, type, fromKind, principal) => {
        const to = pid(cluster, toKind, id);
        const other = pid(cluster, toKind, otherId);
        const inbox = inboxOf(to);
        const ours = natsMatches(inbox, subjectFor(to, type, fromKind, principal));
        const theirs = natsMatches(inbox, subjectFor(other, type, fromKind, principal));
        return ours && (id === otherId || !theirs);
      },
    ),
    { numRuns: 300 },
  );
  const to = pid('c', 'agent', 'a1');
  t.is(inboxOf(to), 'mesos.c.agent.anonymous.a1.>');
  // '>' needs at least one more token: the bare PID is not a message subject.
  t.false(natsMatches(inboxOf(to), to));
  t.false(natsMatches(inboxOf(to), subjectFor(pid('c', 'agent', 'a10'), 'Ping', 'master')));
});
