import test from 'ava';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import {
  Codec,
  DEFAULT_MAX_MESSAGE_BYTES,
  DROP_REASONS,
  PROTOCOL_VERSION,
  checkBody,
  envelope,
  type Decoded,
  type DropReason,
  type Envelope,
} from '../../protocols/envelope.ts';
import { MESSAGES, isMessageType, type Body, type Message, type MessageType } from '../../protocols/messages.ts';
import { pid, subjectFor, type ActorKind } from '../../protocols/pid.ts';
import type { Resources } from '../../protocols/resources.ts';
import type { Attributes } from '../../protocols/attributes.ts';
import type {
  AgentInfo,
  ExecutorInfo,
  FrameworkInfo,
  MasterInfo,
  Offer,
  StatusUpdateRecord,
  Task,
  TaskInfo,
  TaskStatus,
} from '../../protocols/records.ts';

// ── fixtures ────────────────────────────────────────────────────────────────────────

const CLUSTER = 'c';
const pidOf = (kind: ActorKind, id = `${kind}1`): string => pid(CLUSTER, kind, id);
const MASTER = pidOf('master');
const AGENT = pidOf('agent');
const SCHEDULER = pidOf('scheduler');

/** Plain msgpack, to hand-build envelopes the Codec's typed `encode` would not accept. */
const raw = new Packr({ useRecords: false, variableMapSize: true });

const bytes = (...xs: number[]): Uint8Array => new Uint8Array(xs);
const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);

const resources: Resources = [
  { name: 'cpus', type: 'SCALAR', scalar: 2.5 },
  { name: 'mem', type: 'SCALAR', scalar: 1024 },
  { name: 'ports', type: 'RANGES', ranges: [{ begin: 31000, end: 32000 }] },
  { name: 'disks', type: 'SET', set: ['sda', 'sdb'], role: 'web', revocable: true },
];
const attributes: Attributes = [
  { name: 'rack', type: 'TEXT', text: 'r1' },
  { name: 'level', type: 'SCALAR', scalar: 2 },
  { name: 'rooms', type: 'RANGES', ranges: [{ begin: 1, end: 3 }] },
  { name: 'zones', type: 'SET', set: ['a'] },
];
const agentInfo: AgentInfo = { id: 'run-S1', hostname: 'host1', resources, attributes };
const framework: FrameworkInfo = {
  id: 'run-0001',
  name: 'pi',
  user: 'alice',
  roles: ['web'],
  principal: 'alice',
  hostname: 'laptop',
  checkpoint: true,
  failoverTimeoutSeconds: 60,
  capabilities: ['PARTITION_AWARE'],
};
const executor: ExecutorInfo = {
  executorId: 'e1',
  frameworkId: 'run-0001',
  name: 'my executor',
  command: { value: './exec', shell: false, arguments: ['./exec', '--flag'], environment: { A: '1' } },
  resources: [{ name: 'cpus', type: 'SCALAR', scalar: 0.1 }],
};
const taskInfo: TaskInfo = {
  taskId: 't1',
  name: 'task one',
  agentId: 'run-S1',
  resources: [{ name: 'cpus', type: 'SCALAR', scalar: 1 }],
  command: { value: 'echo hi' },
  data: bytes(0, 1, 254, 255),
};
const master: MasterInfo = { id: 'm1', pid: MASTER, hostname: 'mhost', epoch: 3 };
const offer: Offer = {
  id: 'run-O1',
  frameworkId: 'run-0001',
  agentId: 'run-S1',
  hostname: 'host1',
  resources,
  attributes,
  executorIds: ['e1'],
};
const status: TaskStatus = {
  taskId: 't1',
  state: 'TASK_RUNNING',
  message: 'started',
  source: 'SOURCE_EXECUTOR',
  reason: 'REASON_RECONCILIATION',
  data: bytes(9, 8, 7),
  agentId: 'run-S1',
  executorId: 'e1',
  timestamp: 1_700_000_000_123,
  uuid: 'u1',
  healthy: true,
  unreachableTime: 1_700_000_000_000,
};
const update: StatusUpdateRecord = {
  frameworkId: 'run-0001',
  executorId: 'e1',
  agentId: 'run-S1',
  status,
  uuid: 'u1',
  latestState: 'TASK_FINISHED',
};
const task: Task = {
  taskId: 't1',
  name: 'task one',
  frameworkId: 'run-0001',
  agentId: 'run-S1',
  executorId: 'e1',
  state: 'TASK_RUNNING',
  resources: [{ name: 'cpus', type: 'SCALAR', scalar: 1 }],
  statusUpdateState: 'TASK_RUNNING',
  statusUpdateUuid: 'u0',
};

/** One valid body per message type. Adding a message type without a sample fails the coverage test. */
const SAMPLES: { [T in MessageType]: Body<T> } = {
  RegisterAgent: { agent: agentInfo, version: '0.1.0' },
  ReregisterAgent: { agent: agentInfo, version: '0.1.0', tasks: [task], executors: [executor], frameworks: [framework], part: { id: 'r1', index: 0, count: 2 } },
  AgentRegistered: { agentId: 'run-S1', connection: { totalPingTimeoutSeconds: 75 } },
  AgentReregistered: { agentId: 'run-S1', connection: { totalPingTimeoutSeconds: 75 } },
  UnregisterAgent: { agentId: 'run-S1' },
  Ping: { connected: true },
  Pong: { agentId: 'run-S1' },
  RunTask: { frameworkId: 'run-0001', framework, task: taskInfo, schedulerPid: SCHEDULER },
  KillTask: { frameworkId: 'run-0001', taskId: 't1', agentId: 'run-S1' },
  ShutdownFramework: { frameworkId: 'run-0001' },
  UpdateFramework: { frameworkId: 'run-0001', framework },
  StatusUpdate: { update },
  StatusUpdateAcknowledgement: { agentId: 'run-S1', frameworkId: 'run-0001', taskId: 't1', uuid: 'u1' },
  ExitedExecutor: { agentId: 'run-S1', frameworkId: 'run-0001', executorId: 'e1', status: -9 },
  FrameworkToExecutor: { agentId: 'run-S1', frameworkId: 'run-0001', executorId: 'e1', data: ALL_BYTES },
  ExecutorToFramework: { agentId: 'run-S1', frameworkId: 'run-0001', executorId: 'e1', data: bytes(0xca, 0xfe) },
  SubscribeFramework: { framework, force: true },
  FrameworkRegistered: { frameworkId: 'run-0001', master, heartbeatIntervalSeconds: 15 },
  FrameworkReregistered: { frameworkId: 'run-0001', master },
  Heartbeat: { frameworkId: 'run-0001', intervalSeconds: 15 },
  GetMetrics: {},
  GetContainerStatistics: {},
  ContainerStatistics: { agentId: 'run-S1', executors: [{ frameworkId: 'run-0001', executorId: 'e1', containerId: 'c1', statistics: { timestamp: 1, cpusUserTimeSecs: 0.5, cpusSystemTimeSecs: 0.1, memRssBytes: 4096 } }] },
  MetricsSnapshot: { metrics: { 'master/elected': 1, 'master/uptime_secs': 12.5 } },
  FrameworkError: { message: 'framework has been removed' },
  TeardownFramework: { frameworkId: 'run-0001' },
  DeactivateFramework: { frameworkId: 'run-0001' },
  ResourceOffers: { offers: [offer] },
  OffersRescinded: { offerIds: ['run-O1', 'run-O2'] },
  LaunchTasks: { frameworkId: 'run-0001', offerIds: ['run-O1'], tasks: [taskInfo], filters: { refuseSeconds: 5 } },
  DeclineOffers: { frameworkId: 'run-0001', offerIds: ['run-O1'], filters: { refuseSeconds: 5 } },
  ReviveOffers: { frameworkId: 'run-0001', roles: ['web'] },
  SuppressOffers: { frameworkId: 'run-0001', roles: ['web'] },
  AcknowledgeStatusUpdate: { frameworkId: 'run-0001', agentId: 'run-S1', taskId: 't1', uuid: 'u1' },
  ReconcileTasks: { frameworkId: 'run-0001', statuses: [{ taskId: 't1', agentId: 'run-S1', state: 'TASK_RUNNING' }, { taskId: 't2' }] },
  AgentLost: { agentId: 'run-S1' },
  RegisterExecutor: { frameworkId: 'run-0001', executorId: 'e1' },
  ExecutorRegistered: { executor, frameworkId: 'run-0001', framework, agentId: 'run-S1', agent: agentInfo },
  ShutdownExecutor: { gracePeriodSeconds: 3 },
  ReconnectExecutor: { agentId: 'run-S1' },
  ReregisterExecutor: { frameworkId: 'run-0001', executorId: 'e1', tasks: [], updates: [] },
  ExecutorReregistered: { agentId: 'run-S1', agent: agentInfo },
  UpdateAgentResources: { agentId: 'run-S1', resources },
  RevocationScheduled: { tasks: [{ taskId: 't1', agentId: 'run-S1' }], gracePeriodSeconds: 5 },
  RequestResources: { frameworkId: 'run-0001', minOffer: resources, preferredAgents: ['host-1'], excludedAgents: ['run-S2'] },
  UpdateQuota: { role: 'prod', guarantees: { cpus: 4, mem: 1024 }, limits: { cpus: 8 } },
  UpdateWeights: { weights: { prod: 2, 'dev/ci': 0.5 } },
  UpdateWhitelist: { hostnames: ['host-1', 'host-2'] },
  MarkAgentGone: { agentId: 'run-S1' },
  ShutdownAgent: { message: 'Agent has been marked gone' },
};

const TYPES = Object.keys(MESSAGES) as MessageType[];
const msg = <T extends MessageType>(type: T, body: Body<T> = SAMPLES[type]): Message => ({ type, body }) as Message;

/** Replaces every byte array with a tagged hex string, so deepEqual compares bytes, not classes. */
function normalizeBytes(v: unknown): unknown {
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
  if (Array.isArray(v)) return v.map(normalizeBytes);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalizeBytes(x)]));
  return v;
}

/** A valid first (sender, receiver) pair for `type`. */
function route(type: MessageType): { from: string; fromKind: ActorKind; to: string } {
  const spec = MESSAGES[type];
  const fromKind = spec.from[0];
  return { from: pidOf(fromKind, 'src'), fromKind, to: pidOf(spec.to[0], 'dst') };
}

/** Encodes a sample of `type` along its first route and decodes it at the receiver. */
function roundTrip(codec: Codec, type: MessageType, body?: unknown): Decoded {
  const r = route(type);
  const bytesOut = codec.encode(envelope(r.from, 'id-1', msg(type, body as never)));
  return codec.decode(bytesOut, r.to, subjectFor(r.to, type, r.fromKind));
}

/** Decodes a hand-built envelope object at `to`, sent by an actor of `fromKind`. */
function decodeRaw(codec: Codec, value: unknown, to: string, subject: string): Decoded {
  return codec.decode(raw.pack(value), to, subject);
}

function assertDropped(
  t: import('ava').ExecutionContext,
  d: Decoded,
  reason: DropReason,
  ...detailIncludes: string[]
): void {
  if (d.ok) {
    t.fail(`expected drop '${reason}', got a valid ${d.envelope.type}`);
    return;
  }
  t.is(d.reason, reason, d.detail);
  t.is(typeof d.detail, 'string');
  t.true(d.detail.length > 0);
  for (const s of detailIncludes) t.true(d.detail.includes(s), `detail '${d.detail}' should mention '${s}'`);
}

// ── the sample table ────────────────────────────────────────────────────────────────

test('the sample table covers every message type exactly', (t) => {
  t.deepEqual(Object.keys(SAMPLES).sort(), [...TYPES].sort());
});

test('every sample body is valid for its type (checkBody)', (t) => {
  for (const type of TYPES) t.is(checkBody(type, SAMPLES[type]), undefined, type);
});

// ── round trips ─────────────────────────────────────────────────────────────────────

test('every message type round-trips along every route its spec allows', (t) => {
  const codec = new Codec();
  let pairs = 0;
  for (const type of TYPES) {
    for (const [fromKind, toKind] of MESSAGES[type].routes) {
      const from = pidOf(fromKind, 'src');
      const to = pidOf(toKind, 'dst');
      const sent = envelope(from, `${type}-${fromKind}-${toKind}`, msg(type));
      const d = codec.decode(codec.encode(sent), to, subjectFor(to, type, fromKind));
      if (!d.ok) {
        t.fail(`${type} ${fromKind}→${toKind}: ${d.reason} ${d.detail}`);
        continue;
      }
      t.deepEqual(normalizeBytes(d.envelope), normalizeBytes(sent), `${type} ${fromKind}→${toKind}`);
      pairs++;
    }
  }
  // At least one route per type.
  t.true(pairs >= TYPES.length);
});

test('a hop outside a message type’s routes is dropped as wrong-sender, even between kinds it knows', (t) => {
  const codec = new Codec();
  // StatusUpdate goes executor → agent → master → scheduler; an executor may not skip the chain.
  const cases: Array<[MessageType, ActorKind, ActorKind]> = [
    ['StatusUpdate', 'executor', 'scheduler'],
    ['KillTask', 'scheduler', 'agent'],
    ['RunTask', 'master', 'executor'],
    ['ExitedExecutor', 'agent', 'scheduler'],
  ];
  for (const [type, fromKind, toKind] of cases) {
    const to = pidOf(toKind, 'dst');
    const d = codec.decode(codec.encode(envelope(pidOf(fromKind, 'src'), 'x', msg(type))), to, subjectFor(to, type, fromKind));
    t.false(d.ok, `${type} ${fromKind}→${toKind}`);
    if (!d.ok) t.is(d.reason, 'wrong-sender');
  }
});

test('64-bit integers written by other msgpack encoders decode as numbers', (t) => {
  const codec = new Codec();
  const to = pidOf('master', 'dst');
  const from = pidOf('agent', 'src');
  const bytes = codec.encode(envelope(from, 'i64', msg('StatusUpdate')));
  // Re-encode the timestamp field as a uint64 (0xcf), the way Go or Rust encoders write large ints.
  const env = new Packr({ useRecords: false, variableMapSize: true }).unpack(bytes) as { body: { update: { status: { timestamp: number } } } };
  env.body.update.status.timestamp = 1_700_000_000_123;
  const packed = new Packr({ useRecords: false, variableMapSize: true, largeBigIntToFloat: false }).pack({ ...env, body: { update: { ...env.body.update, status: { ...env.body.update.status, timestamp: BigInt(1_700_000_000_123) } } } });
  const d = codec.decode(packed, to, subjectFor(to, 'StatusUpdate', 'agent'));
  t.true(d.ok, d.ok ? '' : `${d.reason} ${d.detail}`);
  if (d.ok) t.is((d.envelope.body as { update: { status: { timestamp: unknown } } }).update.status.timestamp, 1_700_000_000_123);
});

test('envelope() stamps the protocol version, and the epoch only when given', (t) => {
  const e = envelope(AGENT, 'id-9', msg('UnregisterAgent'));
  t.deepEqual(e, { v: PROTOCOL_VERSION, type: 'UnregisterAgent', from: AGENT, id: 'id-9', body: { agentId: 'run-S1' } });
  t.false('epoch' in e);
  t.is(PROTOCOL_VERSION, 1);

  const codec = new Codec();
  const withEpoch = envelope(AGENT, 'id-9', msg('UnregisterAgent'), 7);
  t.is(withEpoch.epoch, 7);
  const d = codec.decode(codec.encode(withEpoch), MASTER, subjectFor(MASTER, 'UnregisterAgent', 'agent'));
  t.true(d.ok);
  if (d.ok) t.is(d.envelope.epoch, 7);
  // Epoch 0 is an epoch, not "absent".
  t.is(envelope(AGENT, 'id-9', msg('UnregisterAgent'), 0).epoch, 0);
});

test('the subject must name the principal of the sender PID: another principal is a wrong sender', (t) => {
  const codec = new Codec();
  const alice = pid('c', 'scheduler', 's1', 'alice');
  const b = codec.encode(envelope(alice, 'i', msg('DeclineOffers')));
  t.true(codec.decode(b, MASTER, subjectFor(MASTER, 'DeclineOffers', 'scheduler', 'alice')).ok);
  for (const principal of ['bob', 'anonymous', 'alice2']) {
    const d = codec.decode(b, MASTER, subjectFor(MASTER, 'DeclineOffers', 'scheduler', principal));
    t.false(d.ok, principal);
    if (!d.ok) t.is(d.reason, 'wrong-sender');
  }
});

// ── binary data ─────────────────────────────────────────────────────────────────────

test('binary data fields come back as bytes, byte for byte', (t) => {
  const codec = new Codec();
  const payloads = [ALL_BYTES, new Uint8Array(0), Uint8Array.from({ length: 65536 }, (_, i) => (i * 31) & 0xff)];
  for (const data of payloads) {
    const d = roundTrip(codec, 'FrameworkToExecutor', { ...SAMPLES.FrameworkToExecutor, data });
    t.true(d.ok);
    if (!d.ok || d.envelope.type !== 'FrameworkToExecutor') continue;
    const got = (d.envelope.body as Body<'FrameworkToExecutor'>).data;
    t.true(got instanceof Uint8Array, `length ${data.length}`);
    t.is(got.byteLength, data.byteLength);
    t.deepEqual(Array.from(got), Array.from(data));
  }
});

test('nested binary data (task data, status data) comes back as bytes', (t) => {
  const codec = new Codec();
  const run = roundTrip(codec, 'RunTask');
  t.true(run.ok);
  if (run.ok) {
    const data = (run.envelope.body as Body<'RunTask'>).task.data;
    t.true(data instanceof Uint8Array);
    t.deepEqual(Array.from(data ?? []), [0, 1, 254, 255]);
  }
  const su = roundTrip(codec, 'StatusUpdate');
  t.true(su.ok);
  if (su.ok) {
    const data = (su.envelope.body as Body<'StatusUpdate'>).update.status.data;
    t.true(data instanceof Uint8Array);
    t.deepEqual(Array.from(data ?? []), [9, 8, 7]);
  }
});

test('a byte view into a larger buffer sends only the viewed bytes', (t) => {
  const codec = new Codec();
  const big = Uint8Array.from({ length: 100 }, (_, i) => i);
  const view = big.subarray(10, 14); // bytes 10, 11, 12, 13
  const d = roundTrip(codec, 'ExecutorToFramework', { ...SAMPLES.ExecutorToFramework, data: view });
  t.true(d.ok);
  if (d.ok) t.deepEqual(Array.from((d.envelope.body as Body<'ExecutorToFramework'>).data), [10, 11, 12, 13]);
});

test('an array of numbers is not accepted where bytes are expected', (t) => {
  const codec = new Codec();
  const env = { v: 1, type: 'FrameworkToExecutor', from: SCHEDULER, id: 'i', body: { ...SAMPLES.FrameworkToExecutor, data: [1, 2, 3] } };
  assertDropped(t, decodeRaw(codec, env, MASTER, subjectFor(MASTER, 'FrameworkToExecutor', 'scheduler')), 'invalid-body', '/data');
});

// ── drop reasons ────────────────────────────────────────────────────────────────────

/** A valid RegisterAgent from AGENT to MASTER, as a plain object to tamper with. */
const validEnv = () => ({ v: 1, type: 'RegisterAgent', from: AGENT, id: 'id-1', body: structuredClone(SAMPLES.RegisterAgent) });
const regSubject = subjectFor(MASTER, 'RegisterAgent', 'agent');

test('each drop reason is reported for its case, without throwing', (t) => {
  const small = new Codec(64);
  const codec = new Codec();
  const cases: { name: string; run: () => Decoded; reason: DropReason }[] = [
    { name: 'oversized', run: () => small.decode(raw.pack(validEnv()), MASTER, regSubject), reason: 'oversized' },
    { name: 'malformed', run: () => codec.decode(bytes(0x85, 0xa1), MASTER, regSubject), reason: 'malformed' },
    { name: 'bad-envelope', run: () => decodeRaw(codec, 42, MASTER, regSubject), reason: 'bad-envelope' },
    { name: 'unsupported-version', run: () => decodeRaw(codec, { ...validEnv(), v: 2 }, MASTER, regSubject), reason: 'unsupported-version' },
    {
      name: 'unknown-type',
      run: () => decodeRaw(codec, { ...validEnv(), type: 'LaunchRockets' }, MASTER, subjectFor(MASTER, 'LaunchRockets', 'agent')),
      reason: 'unknown-type',
    },
    {
      name: 'wrong-receiver',
      run: () => decodeRaw(codec, validEnv(), pidOf('agent', 'a2'), subjectFor(pidOf('agent', 'a2'), 'RegisterAgent', 'agent')),
      reason: 'wrong-receiver',
    },
    {
      name: 'wrong-sender',
      run: () => decodeRaw(codec, { ...validEnv(), from: SCHEDULER }, MASTER, subjectFor(MASTER, 'RegisterAgent', 'scheduler')),
      reason: 'wrong-sender',
    },
    {
      name: 'invalid-body',
      run: () => decodeRaw(codec, { ...validEnv(), body: { version: '1' } }, MASTER, regSubject),
      reason: 'invalid-body',
    },
  ];
  for (const c of cases) {
    let d: Decoded | undefined;
    t.notThrows(() => {
      d = c.run();
    }, c.name);
    if (d) assertDropped(t, d, c.reason);
  }
  // Every reason the codec can give is exercised above.
  t.deepEqual(new Set(cases.map((c) => c.reason)), new Set(DROP_REASONS));
});

test('oversized: the limit is inclusive, and the detail gives both sizes', (t) => {
  t.is(new Codec().maxBytes, DEFAULT_MAX_MESSAGE_BYTES);
  t.is(DEFAULT_MAX_MESSAGE_BYTES, 1 << 20);
  const b = new Codec().encode(envelope(AGENT, 'i', msg('RegisterAgent')));
  const n = b.byteLength;
  // Exactly maxBytes is accepted; one byte less is not.
  t.true(new Codec(n).decode(b, MASTER, regSubject).ok);
  assertDropped(t, new Codec(n - 1).decode(b, MASTER, regSubject), 'oversized', `${n}`, `${n - 1}`);
  // Size is checked first: even garbage is "oversized" when too large.
  assertDropped(t, new Codec(4).decode(bytes(0xc1, 0xc1, 0xc1, 0xc1, 0xc1), MASTER, regSubject), 'oversized');
});

test('property: decode never throws on arbitrary bytes and only accepts valid envelopes', (t) => {
  const codec = new Codec();
  const to = MASTER;
  // fc.assert throws (with the shrunk counterexample) when the property fails.
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(...TYPES), fc.constantFrom('agent', 'scheduler', 'executor'), (b, type, kind) => {
        const d = codec.decode(b, to, subjectFor(to, type, kind as ActorKind));
        if (!d.ok) return (DROP_REASONS as readonly string[]).includes(d.reason) && typeof d.detail === 'string';
        return isMessageType(d.envelope.type) && checkBody(d.envelope.type, d.envelope.body) === undefined;
      }),
      { numRuns: 2000 },
    ),
  );
});

test('property: decode never throws on corrupted valid envelopes and only accepts valid ones', (t) => {
  const codec = new Codec();
  const encoded = TYPES.map((type) => {
    const r = route(type);
    return { type, r, b: codec.encode(envelope(r.from, 'id', msg(type))) };
  });
  // fc.assert throws (with the shrunk counterexample) when the property fails.
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.constantFrom(...encoded),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        ({ type, r, b }, edits) => {
          const copy = Uint8Array.from(b);
          for (const [i, v] of edits) copy[i % copy.length] = v;
          const d = codec.decode(copy, r.to, subjectFor(r.to, type, r.fromKind));
          if (!d.ok) return (DROP_REASONS as readonly string[]).includes(d.reason) && typeof d.detail === 'string';
          return isMessageType(d.envelope.type) && checkBody(d.envelope.type, d.envelope.body) === undefined;
        },
      ),
      { numRuns: 2000 },
    ),
  );
});

test('malformed: every truncation of a valid envelope, and trailing garbage, are malformed', (t) => {
  const codec = new Codec();
  const b = codec.encode(envelope(AGENT, 'i', msg('RegisterAgent')));
  for (let n = 0; n < b.byteLength; n++) {
    const d = codec.decode(b.subarray(0, n), MASTER, regSubject);
    t.false(d.ok, `prefix of ${n} bytes`);
    if (!d.ok) t.is(d.reason, 'malformed', `prefix of ${n} bytes: ${d.detail}`);
  }
  const extra = new Uint8Array(b.byteLength + 1);
  extra.set(b);
  extra[b.byteLength] = 0x01;
  assertDropped(t, codec.decode(extra, MASTER, regSubject), 'malformed');
});

test('bad-envelope: msgpack values that are not {v,type,from,id,body}', (t) => {
  const codec = new Codec();
  const notEnvelopes: unknown[] = [42, 'RegisterAgent', null, true, [], [1, 'RegisterAgent', AGENT, 'i', {}], {}];
  for (const value of notEnvelopes) assertDropped(t, decodeRaw(codec, value, MASTER, regSubject), 'bad-envelope', 'envelope');
  // Missing any one field.
  for (const field of ['v', 'type', 'from', 'id', 'body'] as const) {
    const env: Record<string, unknown> = validEnv();
    delete env[field];
    assertDropped(t, decodeRaw(codec, env, MASTER, regSubject), 'bad-envelope');
  }
  // Fields of the wrong type or empty.
  const tampered: Record<string, unknown>[] = [
    { v: '1' },
    { type: 7 },
    { type: '' },
    { from: 5 },
    { from: '' },
    { id: 1 },
    { id: '' },
    { epoch: 'one' },
    { type: 'X'.repeat(129) },
  ];
  for (const patch of tampered) {
    assertDropped(t, decodeRaw(codec, { ...validEnv(), ...patch }, MASTER, regSubject), 'bad-envelope', 'envelope');
  }
});

test('unsupported-version: any v other than the current one, with type and sender reported', (t) => {
  const codec = new Codec();
  for (const v of [0, 2, 1.5, -1]) {
    const d = decodeRaw(codec, { ...validEnv(), v }, MASTER, regSubject);
    assertDropped(t, d, 'unsupported-version', `${v}`);
    if (!d.ok) {
      t.is(d.type, 'RegisterAgent');
      t.is(d.from, AGENT);
    }
  }
});

test('unknown-type: names outside the catalogue, including Object.prototype keys', (t) => {
  const codec = new Codec();
  for (const type of ['LaunchRockets', 'registerAgent', 'RegisterAgentMessage', 'toString', '__proto__', 'constructor', 'hasOwnProperty']) {
    const d = decodeRaw(codec, { ...validEnv(), type }, MASTER, `${MASTER}.${type}.agent.anonymous`);
    assertDropped(t, d, 'unknown-type', type);
    if (!d.ok) t.is(d.type, type);
  }
});

test('wrong-receiver: a message decoded at a kind its spec does not send to', (t) => {
  const codec = new Codec();
  // RegisterAgent goes to masters only.
  for (const kind of ['agent', 'scheduler', 'executor', 'operator'] as const) {
    const to = pidOf(kind, 'x');
    assertDropped(t, decodeRaw(codec, validEnv(), to, subjectFor(to, 'RegisterAgent', 'agent')), 'wrong-receiver', 'RegisterAgent', kind);
  }
  // ResourceOffers goes to schedulers only.
  const offers = { v: 1, type: 'ResourceOffers', from: MASTER, id: 'i', body: SAMPLES.ResourceOffers };
  assertDropped(t, decodeRaw(codec, offers, AGENT, subjectFor(AGENT, 'ResourceOffers', 'master')), 'wrong-receiver', 'ResourceOffers');
  // A receiver address that is not a PID at all.
  assertDropped(t, decodeRaw(codec, validEnv(), 'not-a-pid', 'not-a-pid.RegisterAgent.agent.anonymous'), 'wrong-receiver');
});

test('wrong-sender: the subject and envelope must agree, and the kind must be allowed to send', (t) => {
  const codec = new Codec();
  const cases: { why: string; env: Record<string, unknown>; subject: string }[] = [
    // Subject says a scheduler sent it, envelope says an agent did.
    { why: 'subject kind ≠ from kind', env: validEnv(), subject: subjectFor(MASTER, 'RegisterAgent', 'scheduler') },
    // Consistent, but schedulers may not send RegisterAgent.
    { why: 'kind may not send', env: { ...validEnv(), from: SCHEDULER }, subject: subjectFor(MASTER, 'RegisterAgent', 'scheduler') },
    // Operators may tear down frameworks, but not register agents.
    { why: 'operator', env: { ...validEnv(), from: pidOf('operator') }, subject: subjectFor(MASTER, 'RegisterAgent', 'operator') },
    // Subject names another message type than the envelope.
    { why: 'subject type ≠ envelope type', env: validEnv(), subject: subjectFor(MASTER, 'UnregisterAgent', 'agent') },
    // `from` is not a PID.
    { why: 'from not a PID', env: { ...validEnv(), from: 'agent1' }, subject: regSubject },
    { why: 'from kind unknown', env: { ...validEnv(), from: 'mesos.c.slave.a1' }, subject: subjectFor(MASTER, 'RegisterAgent', 'slave' as ActorKind) },
    // Subject addressed to another actor, or of the wrong shape.
    { why: 'subject for another PID', env: validEnv(), subject: subjectFor(pidOf('master', 'm2'), 'RegisterAgent', 'agent') },
    { why: 'subject too short', env: validEnv(), subject: `${MASTER}.RegisterAgent` },
    { why: 'subject too long', env: validEnv(), subject: `${regSubject}.extra` },
  ];
  for (const c of cases) {
    const d = decodeRaw(codec, c.env, MASTER, c.subject);
    t.false(d.ok, c.why);
    if (!d.ok) {
      t.is(d.reason, 'wrong-sender', `${c.why}: ${d.detail}`);
      t.true(d.detail.includes('RegisterAgent'), d.detail);
      t.true(d.detail.includes(c.subject), `${c.why}: detail '${d.detail}' should show the subject`);
      t.is(d.from, c.env.from as string);
    }
  }
});

test('invalid-body: the detail names the path of the bad field', (t) => {
  const codec = new Codec();
  const at = <T extends MessageType>(type: T, body: unknown): Decoded => {
    const r = route(type);
    return decodeRaw(codec, { v: 1, type, from: r.from, id: 'i', body }, r.to, subjectFor(r.to, type, r.fromKind));
  };
  const statusWith = (patch: Record<string, unknown>) => ({ update: { ...update, status: { ...status, ...patch } } });
  const cases: { why: string; d: Decoded; path: string }[] = [
    { why: 'missing required field', d: at('UnregisterAgent', {}), path: '/agentId' },
    { why: 'wrong type', d: at('UnregisterAgent', { agentId: 5 }), path: '/agentId' },
    { why: 'empty id', d: at('UnregisterAgent', { agentId: '' }), path: '/agentId' },
    { why: 'body not an object', d: at('UnregisterAgent', null), path: '/' },
    { why: 'body an array', d: at('UnregisterAgent', ['run-S1']), path: '/' },
    { why: 'empty task state', d: at('StatusUpdate', statusWith({ state: '' })), path: '/update/status/state' },
    { why: 'task state not a string', d: at('StatusUpdate', statusWith({ state: 3 })), path: '/update/status/state' },
    { why: 'overlong reason', d: at('StatusUpdate', statusWith({ reason: `REASON_${'X'.repeat(80)}` })), path: '/update/status/reason' },
    {
      why: 'bad element deep in an array',
      d: at('ReregisterAgent', { ...SAMPLES.ReregisterAgent, tasks: [task, { ...task, resources: 'cpus:1' }] }),
      path: '/tasks/1/resources',
    },
    { why: 'NaN timestamp', d: at('StatusUpdate', statusWith({ timestamp: NaN })), path: '/update/status/timestamp' },
    { why: 'missing timestamp', d: at('StatusUpdate', { update: { ...update, status: { taskId: 't1', state: 'TASK_RUNNING' } } }), path: '/update/status/timestamp' },
    {
      why: 'non-number scalar',
      d: at('UpdateAgentResources', { agentId: 'a', resources: [{ name: 'cpus', type: 'SCALAR', scalar: '1' }] }),
      path: '/resources/0/scalar',
    },
    {
      why: 'negative scalar',
      d: at('UpdateAgentResources', { agentId: 'a', resources: [{ name: 'cpus', type: 'SCALAR', scalar: -1 }] }),
      path: '/resources/0/scalar',
    },
    {
      why: 'unknown resource type',
      d: at('UpdateAgentResources', { agentId: 'a', resources: [{ name: 'cpus', type: 'SCALER', scalar: 1 }] }),
      path: '/resources/0/type',
    },
    {
      why: 'fractional port',
      d: at('UpdateAgentResources', { agentId: 'a', resources: [{ name: 'ports', type: 'RANGES', ranges: [{ begin: 1.5, end: 3 }] }] }),
      path: '/resources/0/ranges/0/begin',
    },
    {
      why: 'negative failover timeout',
      d: at('SubscribeFramework', { framework: { name: 'pi', failoverTimeoutSeconds: -5 } }),
      path: '/framework/failoverTimeoutSeconds',
    },
    {
      why: 'nested record field of the wrong type',
      d: at('RegisterAgent', { ...SAMPLES.RegisterAgent, agent: { ...agentInfo, hostname: 42 } }),
      path: '/agent/hostname',
    },
    { why: 'ids not strings', d: at('OffersRescinded', { offerIds: ['run-O1', 2] }), path: '/offerIds/1' },
    { why: 'boolean as string', d: at('Ping', { connected: 'yes' }), path: '/connected' },
  ];
  for (const c of cases) {
    const d = c.d;
    t.false(d.ok, c.why);
    if (d.ok) continue;
    t.is(d.reason, 'invalid-body', `${c.why}: ${d.detail}`);
    t.true(d.detail.startsWith(`${c.path}:`), `${c.why}: detail '${d.detail}' should start with '${c.path}:'`);
    t.truthy(d.type);
    t.truthy(d.from);
  }
});

test('an unknown task state, source or reason reads as the unknown value and the update is kept (forward compatibility)', (t) => {
  const codec = new Codec();
  const at = <T extends MessageType>(type: T, body: unknown): Decoded => {
    const r = route(type);
    return decodeRaw(codec, { v: 1, type, from: r.from, id: 'i', body }, r.to, subjectFor(r.to, type, r.fromKind));
  };
  // A newer peer's vocabulary: Mesos enums begin at UNKNOWN so that old readers keep the message.
  const d = at('StatusUpdate', { update: { ...update, latestState: 'TASK_HIBERNATING', status: { ...status, state: 'TASK_EXPLODED', source: 'SOURCE_ORACLE', reason: 'REASON_BORED' } } });
  if (!d.ok) return t.fail(`${d.reason}: ${d.detail}`);
  const u = (d.envelope.body as Body<'StatusUpdate'>).update;
  t.is(u.status.state, 'TASK_UNKNOWN');
  t.is(u.status.source, 'SOURCE_UNKNOWN');
  t.is(u.status.reason, 'REASON_UNKNOWN');
  t.is(u.latestState, 'TASK_UNKNOWN');
  // Everything else of the update is intact.
  t.is(u.status.taskId, status.taskId);
  t.is(u.uuid, update.uuid);
  // Known values pass untouched, in re-registration and reconciliation too.
  const rr = at('ReregisterAgent', { ...SAMPLES.ReregisterAgent, tasks: [task, { ...task, taskId: 't2', state: 'TASK_REINCARNATED', statusUpdateState: 'TASK_RUNNING' }] });
  if (!rr.ok) return t.fail(rr.detail);
  t.deepEqual((rr.envelope.body as Body<'ReregisterAgent'>).tasks.map((x) => [x.state, x.statusUpdateState]), [['TASK_RUNNING', 'TASK_RUNNING'], ['TASK_UNKNOWN', 'TASK_RUNNING']]);
  const rc = at('ReconcileTasks', { frameworkId: 'f', statuses: [{ taskId: 't1', state: 'task_running' }] });
  if (!rc.ok) return t.fail(rc.detail);
  t.is((rc.envelope.body as Body<'ReconcileTasks'>).statuses[0]!.state, 'TASK_UNKNOWN');
});

test('checkBody agrees with decode and names the path', (t) => {
  t.is(checkBody('UnregisterAgent', { agentId: 'a' }), undefined);
  // "/agentId: Expected required property"
  t.regex(checkBody('UnregisterAgent', {}) ?? '', /^\/agentId: .+/);
  t.regex(checkBody('Ping', { connected: 1 }) ?? '', /^\/connected: .+/);
});

test('unknown extra fields are accepted at every level (compatibility)', (t) => {
  const codec = new Codec();
  const env = {
    ...validEnv(),
    trace: 'abc', // envelope-level
    body: {
      ...SAMPLES.RegisterAgent,
      newTopLevel: { anything: [1, 2, 3] },
      agent: {
        ...agentInfo,
        domain: { fault: 'eu' },
        resources: [{ name: 'cpus', type: 'SCALAR', scalar: 1, providerId: 'p1' }],
        attributes: [{ name: 'rack', type: 'TEXT', text: 'r1', weight: 3 }],
      },
    },
  };
  const d = decodeRaw(codec, env, MASTER, regSubject);
  t.true(d.ok, d.ok ? '' : `${d.reason}: ${d.detail}`);
  if (d.ok) t.is((d.envelope.body as Body<'RegisterAgent'>).agent.hostname, 'host1');

  // Extra fields deep inside a status update, and optional fields simply absent.
  const su = {
    v: 1,
    type: 'StatusUpdate',
    from: pidOf('executor'),
    id: 'i',
    body: { update: { frameworkId: 'f', uuid: 'u', status: { taskId: 't', state: 'TASK_RUNNING', timestamp: 1, checkStatus: {} }, future: 1 } },
  };
  const to = pidOf('agent');
  const d2 = decodeRaw(codec, su, to, subjectFor(to, 'StatusUpdate', 'executor'));
  t.true(d2.ok, d2.ok ? '' : `${d2.reason}: ${d2.detail}`);
});

test('a __proto__ key in a body does not reach Object.prototype', (t) => {
  const codec = new Codec();
  const body = JSON.parse('{"agentId":"run-S1","__proto__":{"polluted":true}}') as unknown;
  const d = decodeRaw(codec, { v: 1, type: 'UnregisterAgent', from: AGENT, id: 'i', body }, MASTER, subjectFor(MASTER, 'UnregisterAgent', 'agent'));
  t.is(({} as Record<string, unknown>).polluted, undefined);
  if (d.ok) t.is((d.envelope.body as Record<string, unknown>).polluted, undefined);
});

test('rejections after the envelope is read carry its type and sender', (t) => {
  const codec = new Codec();
  const d = decodeRaw(codec, { ...validEnv(), body: {} }, MASTER, regSubject);
  t.like(d, { ok: false, reason: 'invalid-body', type: 'RegisterAgent', from: AGENT });
  // Before the envelope is read there is nothing to report.
  const m = codec.decode(bytes(0x85), MASTER, regSubject);
  t.false(m.ok);
  if (!m.ok) {
    t.is(m.type, undefined);
    t.is(m.from, undefined);
  }
});

test('decoded envelopes keep type and body paired (typed access)', (t) => {
  const codec = new Codec();
  const d = roundTrip(codec, 'KillTask');
  t.true(d.ok);
  if (d.ok && d.envelope.type === 'KillTask') {
    const e = d.envelope as Envelope<'KillTask'>;
    t.is(e.body.taskId, 't1');
    t.is(e.from, pidOf('scheduler', 'src'));
  }
});

// ── requests that create state ──────────────────────────────────────────────────────

test('requests that create state lose the fields their schema does not know, at every depth; others keep them', (t) => {
  const codec = new Codec();
  const junk = { junk: 'x'.repeat(100), __proto__x: 1 };
  const sub = roundTrip(codec, 'SubscribeFramework', { framework: { ...SAMPLES.SubscribeFramework.framework, ...junk }, ...junk } as never);
  t.true(sub.ok);
  if (sub.ok) {
    t.false('junk' in (sub.envelope.body as object));
    t.false('junk' in ((sub.envelope.body as Body<'SubscribeFramework'>).framework as object));
    t.is((sub.envelope.body as Body<'SubscribeFramework'>).framework.name, SAMPLES.SubscribeFramework.framework.name);
  }
  const launch = SAMPLES.LaunchTasks;
  const l = roundTrip(codec, 'LaunchTasks', { ...launch, tasks: launch.tasks.map((task) => ({ ...task, ...junk, command: task.command && { ...task.command, ...junk } })) } as never);
  t.true(l.ok);
  if (l.ok) for (const task of (l.envelope.body as Body<'LaunchTasks'>).tasks) t.false('junk' in task || 'junk' in (task.command ?? {}));
  // A type that creates nothing is left as sent (a newer peer's extra fields pass through).
  const p = roundTrip(codec, 'Ping', { connected: true, ...junk } as never);
  t.true(p.ok && 'junk' in (p.envelope.body as object));
});

test('a subscription or a registration over its own size bound is oversized, well below the bus limit', (t) => {
  const codec = new Codec();
  const big = 'n'.repeat(70 * 1024);
  const d = roundTrip(codec, 'SubscribeFramework', { framework: { ...SAMPLES.SubscribeFramework.framework, name: big } } as never);
  t.false(d.ok);
  if (!d.ok) {
    t.is(d.reason, 'oversized');
    t.regex(d.detail, /^SubscribeFramework of \d+ bytes > 65536$/);
  }
});
