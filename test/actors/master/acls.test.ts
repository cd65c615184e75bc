/**
 * ACLs as tables, after Mesos' `src/tests/authorization_tests.cpp` (`AuthorizationTest.*`, named on
 * each case): the first ACL whose subject and object match decides; `NONE` denies; `permissive`
 * decides when none matches. A request of several principals or users in Mesos is one case per
 * value here.
 */
import test from 'ava';
import { AclError, authorized, parseAcls } from '../../../actors/master/acls.ts';

type Case = [principal: string | undefined, object: string | undefined, allowed: boolean];

const TABLES: Array<{ mesos: string; acls: unknown; action: Parameters<typeof authorized>[1]; cases: Case[] }> = [
  { mesos: 'AnyPrincipalRunAsUser', action: 'run_tasks',
    acls: { run_tasks: [{ principals: { type: 'ANY' }, users: { values: ['guest'] } }] },
    cases: [['foo', 'guest', true], ['bar', 'guest', true], ['foo', 'root', true]] },
  { mesos: 'NoPrincipalRunAsUser', action: 'run_tasks',
    acls: { run_tasks: [{ principals: { type: 'NONE' }, users: { values: ['root'] } }] },
    cases: [['foo', 'root', false], ['foo', 'guest', true]] },
  { mesos: 'PrincipalRunAsAnyUser', action: 'run_tasks',
    acls: { run_tasks: [{ principals: { values: ['foo'] }, users: { type: 'ANY' } }] },
    cases: [['foo', 'user1', true], ['foo', 'user2', true]] },
  { mesos: 'AnyPrincipalRunAsAnyUser', action: 'run_tasks',
    acls: { run_tasks: [{ principals: { type: 'ANY' }, users: { type: 'ANY' } }] },
    cases: [['foo', 'user1', true], ['bar', 'user2', true]] },
  { mesos: 'OnlySomePrincipalsRunAsSomeUsers', action: 'run_tasks',
    acls: { run_tasks: [
      { principals: { values: ['foo', 'bar'] }, users: { values: ['user1', 'user2'] } },
      { principals: { type: 'NONE' }, users: { values: ['user1', 'user2'] } },
    ] },
    cases: [['foo', 'user1', true], ['bar', 'user2', true], ['baz', 'user1', false], ['baz', 'user2', false]] },
  { mesos: 'SomePrincipalOnlySomeUser', action: 'run_tasks',
    acls: { run_tasks: [
      { principals: { values: ['foo'] }, users: { values: ['user1'] } },
      { principals: { values: ['foo'] }, users: { type: 'NONE' } },
    ] },
    cases: [['foo', 'user1', true], ['foo', 'user2', false], ['bar', 'user1', true], ['bar', 'user2', true]] },
  { mesos: 'PrincipalRunAsSomeUserRestrictive', action: 'run_tasks',
    acls: { permissive: false, run_tasks: [{ principals: { values: ['foo'] }, users: { values: ['user1'] } }] },
    cases: [['foo', 'user1', true], ['foo', 'user2', false], ['bar', 'user2', false]] },
  { mesos: 'AnyPrincipalOfferedRole', action: 'register_frameworks',
    acls: { register_frameworks: [{ principals: { type: 'ANY' }, roles: { values: ['*'] } }] },
    cases: [['foo', '*', true], ['bar', '*', true]] },
  { mesos: 'SomePrincipalsOfferedRole', action: 'register_frameworks',
    acls: { register_frameworks: [{ principals: { values: ['foo', 'bar'] }, roles: { values: ['ads'] } }] },
    cases: [['foo', 'ads', true], ['bar', 'ads', true], ['baz', 'ads', true]] },
  { mesos: 'PrincipalOfferedRole', action: 'register_frameworks',
    acls: { register_frameworks: [
      { principals: { values: ['foo'] }, roles: { values: ['analytics'] } },
      { principals: { type: 'NONE' }, roles: { values: ['analytics'] } },
    ] },
    cases: [['foo', 'analytics', true], ['bar', 'analytics', false]] },
  { mesos: 'PrincipalNotOfferedAnyRoleRestrictive', action: 'register_frameworks',
    acls: { permissive: false, register_frameworks: [{ principals: { values: ['foo'] }, roles: { values: ['analytics'] } }] },
    cases: [['foo', 'analytics', true], ['bar', 'analytics', false], ['bar', 'ads', false]] },
  { mesos: 'Reserve (same rule shape: some any, some one role, nobody else)', action: 'update_quotas',
    acls: { update_quotas: [
      { principals: { values: ['foo', 'bar'] }, roles: { type: 'ANY' } },
      { principals: { values: ['baz'] }, roles: { values: ['ads'] } },
      { principals: { type: 'ANY' }, roles: { type: 'NONE' } },
    ] },
    cases: [['foo', 'ads', true], ['bar', 'x', true], ['baz', 'ads', true], ['baz', 'x', false], ['elizabeth', 'ads', false]] },
  { mesos: 'unauthenticated requests are ANY: only an ANY rule lets them through', action: 'teardown_frameworks',
    acls: { teardown_frameworks: [
      { principals: { values: ['ops'] }, framework_principals: { type: 'ANY' } },
      { principals: { type: 'ANY' }, framework_principals: { type: 'NONE' } },
    ] },
    cases: [['ops', 'alice', true], ['alice', 'alice', false], [undefined, 'alice', false]] },
];

for (const { mesos, acls, action, cases } of TABLES) {
  test(`${action}: ${mesos}`, (t) => {
    const parsed = parseAcls(JSON.stringify(acls));
    for (const [principal, object, allowed] of cases) {
      t.is(authorized(parsed, action, principal, object), allowed, `${principal ?? '(none)'} → ${object ?? '(any)'}`);
    }
  });
}

test('no ACLs allow everything; an action without rules falls back to permissive', (t) => {
  t.true(authorized(parseAcls('{}'), 'run_tasks', 'anyone', 'root'));
  t.false(authorized(parseAcls('{"permissive": false}'), 'update_weights', 'ops', '*'));
});

test('bad --acls are refused with the part that is wrong', (t) => {
  const cases: Array<[string, RegExp]> = [
    ['[', /not JSON/],
    ['[]', /expected a JSON object/],
    ['{"permissive": "no"}', /'permissive' must be true or false/],
    ['{"launch_rockets": []}', /unknown action 'launch_rockets'/],
    ['{"run_tasks": {}}', /'run_tasks' must be an array/],
    ['{"run_tasks": [{"principals": {"values": "foo"}}]}', /run_tasks\[0\]\.principals\.values: expected an array of strings/],
    ['{"run_tasks": [{"principals": {"type": "SOME"}}]}', /run_tasks\[0\]\.principals: 'type' must be ANY or NONE/],
    ['{"run_tasks": [{"principals": {"type": "ANY"}, "roles": {"type": "ANY"}}]}', /run_tasks\[0\]: unknown field 'roles' \(expected 'principals' and 'users'\)/],
  ];
  for (const [text, re] of cases) t.throws(() => parseAcls(text), { instanceOf: AclError, message: re }, text);
});
