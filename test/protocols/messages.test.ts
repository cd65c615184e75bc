import test from 'ava';
import { MESSAGES, isMessageType, type MessageType } from '../../protocols/messages.ts';
import { ACTOR_KINDS } from '../../protocols/pid.ts';
import { TASK_REASONS, TASK_SOURCES, TASK_STATES, isTerminalState, type TaskState } from '../../protocols/task-states.ts';

const TYPES = Object.keys(MESSAGES) as MessageType[];

// ── the catalogue ───────────────────────────────────────────────────────────────────

test('the catalogue is not empty', (t) => {
  t.true(TYPES.length > 0);
});

test('every message spec has non-empty from and to lists of known, distinct actor kinds', (t) => {
  for (const type of TYPES) {
    const { from, to, body } = MESSAGES[type];
    t.true(from.length > 0, `${type}.from is empty`);
    t.true(to.length > 0, `${type}.to is empty`);
    for (const k of [...from, ...to]) t.true((ACTOR_KINDS as readonly string[]).includes(k), `${type}: unknown kind '${k}'`);
    t.is(new Set(from).size, from.length, `${type}.from has duplicates`);
    t.is(new Set(to).size, to.length, `${type}.to has duplicates`);
    t.truthy(body, `${type} has no body schema`);
  }
});

test('every body schema is an object schema (so fields can be added)', (t) => {
  for (const type of TYPES) {
    const body = MESSAGES[type].body as { type?: unknown; additionalProperties?: unknown };
    t.is(body.type, 'object', type);
    // Unknown fields must stay allowed: a closed object would break old receivers.
    t.not(body.additionalProperties, false, type);
  }
});

test('names follow the house rule: PascalCase, no Message suffix, subject-safe', (t) => {
  // PascalCase: capitalised words of letters and digits, no separators.
  const pascal = /^(?:[A-Z][a-z0-9]+)+$/;
  for (const type of TYPES) {
    t.regex(type, pascal, type);
    t.false(type.endsWith('Message'), `${type} ends with Message`);
    t.false(/[.*> ]/.test(type), `${type} is not a subject token`);
    t.true(type.length <= 128, type);
  }
});

test('names are unique ignoring case (no two subjects differ only by case)', (t) => {
  t.is(new Set(TYPES.map((x) => x.toLowerCase())).size, TYPES.length);
});

test('the Mesos conversations are present with their directions', (t) => {
  // A few anchors, read off the Mesos v0 protocol: who may send what to whom.
  const expect: [MessageType, string, string][] = [
    ['RegisterAgent', 'agent', 'master'],
    ['AgentRegistered', 'master', 'agent'],
    ['SubscribeFramework', 'scheduler', 'master'],
    ['ResourceOffers', 'master', 'scheduler'],
    ['LaunchTasks', 'scheduler', 'master'],
    ['RunTask', 'master', 'agent'],
    ['RunTask', 'agent', 'executor'],
    ['StatusUpdate', 'executor', 'agent'],
    ['StatusUpdate', 'agent', 'master'],
    ['StatusUpdate', 'master', 'scheduler'],
    ['AcknowledgeStatusUpdate', 'scheduler', 'master'],
    ['RegisterExecutor', 'executor', 'agent'],
    ['TeardownFramework', 'operator', 'master'],
  ];
  for (const [type, from, to] of expect) {
    const spec = MESSAGES[type];
    t.true((spec.from as readonly string[]).includes(from), `${type} from ${from}`);
    t.true((spec.to as readonly string[]).includes(to), `${type} to ${to}`);
  }
  // And a few directions that must not be allowed.
  t.false((MESSAGES.RegisterAgent.from as readonly string[]).includes('scheduler'));
  t.false((MESSAGES.ResourceOffers.to as readonly string[]).includes('agent'));
  t.false((MESSAGES.LaunchTasks.from as readonly string[]).includes('agent'));
});

// ── isMessageType ───────────────────────────────────────────────────────────────────

test('isMessageType accepts every catalogue key', (t) => {
  for (const type of TYPES) t.true(isMessageType(type), type);
});

test('isMessageType rejects prototype keys and near misses', (t) => {
  const bad = [
    'toString',
    '__proto__',
    'constructor',
    'hasOwnProperty',
    'valueOf',
    'isPrototypeOf',
    'propertyIsEnumerable',
    'toLocaleString',
    '__defineGetter__',
    '',
    'registerAgent',
    'REGISTERAGENT',
    'RegisterAgentMessage',
    'RegisterSlaveMessage',
    'RegisterAgent ',
    'RegisterAgent.x',
  ];
  for (const s of bad) t.false(isMessageType(s), JSON.stringify(s));
});

// ── task states ─────────────────────────────────────────────────────────────────────

const TERMINAL: readonly TaskState[] = [
  'TASK_FINISHED',
  'TASK_FAILED',
  'TASK_KILLED',
  'TASK_ERROR',
  'TASK_LOST',
  'TASK_DROPPED',
  'TASK_GONE',
  'TASK_GONE_BY_OPERATOR',
];

test('isTerminalState is true exactly for FINISHED, FAILED, KILLED, ERROR, LOST, DROPPED, GONE, GONE_BY_OPERATOR', (t) => {
  // 14 states, 8 terminal, so 6 non-terminal:
  // STAGING, STARTING, RUNNING, KILLING, UNREACHABLE, UNKNOWN.
  const terminal = TASK_STATES.filter((s) => isTerminalState(s));
  t.deepEqual([...terminal].sort(), [...TERMINAL].sort());
  t.deepEqual(
    TASK_STATES.filter((s) => !isTerminalState(s)),
    ['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_UNREACHABLE', 'TASK_UNKNOWN'],
  );
});

test('the task vocabularies are complete and without duplicates', (t) => {
  t.is(TASK_STATES.length, 14);
  t.is(new Set(TASK_STATES).size, TASK_STATES.length);
  for (const s of TASK_STATES) t.regex(s, /^TASK_[A-Z_]+$/);
  t.deepEqual([...TASK_SOURCES], ['SOURCE_UNKNOWN', 'SOURCE_MASTER', 'SOURCE_AGENT', 'SOURCE_EXECUTOR']);
  t.is(TASK_REASONS[0], 'REASON_UNKNOWN');
  t.is(new Set(TASK_REASONS).size, TASK_REASONS.length);
  for (const r of TASK_REASONS) t.regex(r, /^REASON_[A-Z_]+$/);
});

test('isTerminalState is false for strings outside TASK_STATES', (t) => {
  // A careless caller passing a wire string must not get "terminal" by accident.
  for (const s of ['task_finished', 'FINISHED', '', 'TASK_FINISHED ']) t.false(isTerminalState(s as TaskState), s);
});
