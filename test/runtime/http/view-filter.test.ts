/**
 * `ViewFilter` from `--acls`: what each reader of the HTTP endpoints may see, with Mesos' local
 * authorizer's semantics (first matching rule decides; none matching → `permissive`; no ACLs →
 * everything visible). The ACLs follow the shapes of Mesos' `docs/authorization.md` examples.
 */
import test from 'ava';
import { PERMISSIVE_ACLS, parseAcls } from '../../../actors/master/acls.ts';
import type { OperatorEvent } from '../../../actors/master/state.ts';
import { eventVisible, restrictsViews, viewFilter, viewFilters, VISIBLE_ALL } from '../../../runtime/http/view-filter.ts';

const alice = { user: 'alice' };
const bob = { user: 'bob' };

test('no ACLs, or ACLs without view rules and permissive: everyone sees everything, as one shared view', (t) => {
  t.is(viewFilter(PERMISSIVE_ACLS, undefined), VISIBLE_ALL);
  t.is(viewFilter(PERMISSIVE_ACLS, 'ops'), VISIBLE_ALL);
  const runOnly = parseAcls('{"run_tasks":[{"principals":{"type":"ANY"},"users":{"values":["nobody"]}}]}');
  t.false(restrictsViews(runOnly));
  t.is(viewFilters(runOnly)('anyone'), VISIBLE_ALL);
  t.true(VISIBLE_ALL.unrestricted);
});

test('permissive false, one rule: ops sees alice\'s frameworks only; anyone else, and the unauthenticated, nothing', (t) => {
  // Like "Principals foo and bar can run tasks as alice and no other user. No other principal can run tasks."
  const acls = parseAcls('{"permissive":false,"view_frameworks":[{"principals":{"values":["ops"]},"users":{"values":["alice"]}}]}');
  const ops = viewFilter(acls, 'ops');
  t.false(ops.unrestricted);
  t.true(ops.framework(alice));
  t.false(ops.framework(bob));
  t.false(ops.framework(undefined), 'a framework without a user is not alice\'s');
  t.false(viewFilter(acls, 'dev').framework(alice));
  t.false(viewFilter(acls, undefined).framework(alice));
  // No view_tasks rule and permissive false: no one sees tasks, nor the flags.
  t.false(ops.task(alice));
  t.false(ops.flags());
});

test('permissive (default), a principal limited to one user: others see all', (t) => {
  // Like "foo can run tasks only as guest; any other principal can run tasks as any user."
  const acls = parseAcls(`{"view_frameworks":[
    {"principals":{"values":["viewer"]},"users":{"values":["alice"]}},
    {"principals":{"values":["viewer"]},"users":{"type":"NONE"}}]}`);
  const viewer = viewFilter(acls, 'viewer');
  t.true(viewer.framework(alice));
  t.false(viewer.framework(bob));
  const ops = viewFilter(acls, 'ops');
  t.true(ops.framework(alice) && ops.framework(bob));
  t.true(viewFilter(acls, undefined).framework(bob), 'the unauthenticated reader (ANY) matches no SOME rule: permissive');
  t.true(viewer.task(bob), 'view_tasks has no rules: permissive');
});

test('order matters: a NONE rule first hides from everyone, even the one allowed after it', (t) => {
  // Mesos' "the ACLs effectively forbid anyone" example, for view_tasks.
  const acls = parseAcls(`{"view_tasks":[
    {"principals":{"type":"NONE"},"users":{"type":"ANY"}},
    {"principals":{"values":["admin"]},"users":{"type":"ANY"}}]}`);
  t.false(viewFilter(acls, 'admin').task(alice));
  t.false(viewFilter(acls, undefined).task(alice));
  // Fixed as in Mesos: the admin rule first.
  const fixed = parseAcls(`{"view_tasks":[
    {"principals":{"values":["admin"]},"users":{"type":"ANY"}},
    {"principals":{"type":"NONE"},"users":{"type":"ANY"}}]}`);
  t.true(viewFilter(fixed, 'admin').task(alice));
  t.false(viewFilter(fixed, 'dev').task(alice));
});

test('executors by their command user, else their framework\'s; roles by name; flags as a whole', (t) => {
  const acls = parseAcls(`{"permissive":false,
    "view_executors":[{"principals":{"values":["ops"]},"users":{"values":["alice"]}}],
    "view_roles":[{"principals":{"values":["ops"]},"roles":{"values":["analytics"]}}],
    "view_flags":[{"principals":{"values":["ops"]},"flags":{"type":"ANY"}}]}`);
  const ops = viewFilter(acls, 'ops');
  t.true(ops.executor(alice, undefined));
  t.true(ops.executor(bob, { command: { user: 'alice' } }), 'the command\'s user wins');
  t.false(ops.executor(alice, { command: { user: 'root' } }));
  t.true(ops.role('analytics'));
  t.false(ops.role('*'));
  t.true(ops.flags());
  t.false(viewFilter(acls, 'dev').flags());
  t.false(viewFilter(acls, undefined).flags());
});

test('viewFilters makes one filter per principal', (t) => {
  const views = viewFilters(parseAcls('{"permissive":false}'));
  t.is(views('ops'), views('ops'));
  t.not(views('ops'), views('dev'));
  t.is(views(undefined), views(undefined));
  t.false(views('ops').framework(alice));
});

test('SUBSCRIBE events: framework and task events by what the reader may see; agent events always', (t) => {
  const acls = parseAcls('{"permissive":false,"view_frameworks":[{"principals":{"values":["ops"]},"users":{"values":["alice"]}}],"view_tasks":[{"principals":{"values":["ops"]},"users":{"values":["alice"]}}]}');
  const ops = viewFilter(acls, 'ops');
  const users: Record<string, { user: string }> = { fa: alice, fb: bob };
  const of = (id: string) => users[id];
  const fw = (id: string, user: string) => ({ id, info: { name: id, user } }) as never;
  const task = (frameworkId: string) => ({ taskId: 't', name: 't', frameworkId, agentId: 'a', state: 'TASK_RUNNING', resources: [] }) as never;
  const seen = (e: OperatorEvent) => eventVisible(e, ops, of);
  t.true(seen({ kind: 'FRAMEWORK_ADDED', framework: fw('fa', 'alice') }));
  t.false(seen({ kind: 'FRAMEWORK_UPDATED', framework: fw('fb', 'bob') }));
  t.true(seen({ kind: 'TASK_ADDED', task: task('fa'), role: '*' }));
  t.false(seen({ kind: 'TASK_UPDATED', task: task('fb'), state: 'TASK_RUNNING' }));
  t.false(seen({ kind: 'TASK_UPDATED', task: task('gone'), state: 'TASK_FINISHED' }), 'a framework no longer known is judged by an empty user');
  t.true(seen({ kind: 'AGENT_REMOVED', agentId: 'a' }));
  t.true(eventVisible({ kind: 'TASK_ADDED', task: task('fb'), role: '*' }, VISIBLE_ALL, of));
});
