/**
 * Flag parsing without processes: where values come from (command line over `MESOS_<FLAG>`, as
 * Mesos' `FlagsBase::load` with its prefix), what is refused and how the refusal names its
 * source. `test/e2e/flags.test.ts` runs the same rules through the real commands.
 */
import test from 'ava';
import { COMMON_FLAGS, FlagError, formatDuration, natsUrlsProblem, parseFlags, type FlagSpec } from '../../cmd/flags.ts';
import { classifyConnectError } from '../../runtime/transport-nats.ts';

const SPECS = {
  ...COMMON_FLAGS,
  tasks: { type: 'number', help: 'tasks', default: 10, check: (n: number) => (n >= 1 ? undefined : 'expected at least 1') },
  lease: { type: 'duration', help: 'lease', default: '3secs' },
} as const satisfies Record<string, FlagSpec>;

test('a flag comes from MESOS_<FLAG> when the command line does not give it; the command line wins', (t) => {
  const env = { MESOS_CLUSTER: 'from-env', MESOS_TASKS: '3', MESOS_LEASE: '5secs', MESOS_INSECURE: 'true', MESOS_LOG_LEVEL: 'debug' };
  const f = parseFlags(['--tasks=4', '--log_level=warn'], SPECS, env);
  t.is(f.cluster, 'from-env');
  t.is(f.tasks, 4);
  t.is(f.lease, 5000);
  t.true(f.insecure);
  t.is(f.log_level, 'warn');
  // Unknown MESOS_ variables (an executor's MESOS_SANDBOX, say) are none of the flags' business.
  t.notThrows(() => parseFlags([], SPECS, { MESOS_SANDBOX: '/x', MESOS_VERSION: '1.11.0', MESOS_HELP: 'maybe' }));
});

test('a bad value from the environment names the variable; one the command line overrides is never parsed', (t) => {
  t.throws(() => parseFlags([], SPECS, { MESOS_TASKS: '0' }), { instanceOf: FlagError, message: "invalid value '0' for MESOS_TASKS: expected at least 1" });
  t.throws(() => parseFlags([], SPECS, { MESOS_LEASE: 'soon' }), { message: /^invalid value for MESOS_LEASE: invalid duration 'soon'/ });
  t.throws(() => parseFlags(['--tasks=0'], SPECS, {}), { message: "invalid value '0' for '--tasks': expected at least 1" });
  t.is(parseFlags(['--log_level=info'], SPECS, { MESOS_LOG_LEVEL: 'bogus' }).log_level, 'info');
});

test('defaults are not judged; -h is --help; a bare --inspect means the local view (ui)', (t) => {
  const f = parseFlags(['-h', '--inspect'], SPECS);
  t.true(f.help);
  t.is(f.inspect, 'ui');
  t.is(f.nats_connect_timeout, 60_000);
  t.is(parseFlags(['--inspect=ws://127.0.0.1:8080'], SPECS).inspect, 'ws://127.0.0.1:8080');
  t.throws(() => parseFlags(['--inspect=sky-high'], SPECS), { message: "invalid value 'sky-high' for '--inspect': expected ui, log, ws://host:port or sky" });
});

const URLS: Array<[string, RegExp | undefined]> = [
  ['nats://127.0.0.1:4222', undefined],
  ['tls://nats.example.com:4222,nats://10.0.0.2:4222', undefined],
  ['127.0.0.1:4222', undefined],
  ['nats://[::1]:4222', undefined],
  ['ws://127.0.0.1:8080', /^WebSocket URLs are not supported here/],
  ['WSS://x', /^WebSocket URLs/],
  ['http://127.0.0.1:4222', /^unsupported scheme 'http:\/\/'/],
  ['nats://a:1,http://b:2', /^'http:\/\/b:2': unsupported scheme/],
  ['nats://a:1,', /^an empty server URL/],
  ['nats://', /^not a server URL/],
  ['nats://host:4222/path', /^not a server URL/],
  ['nats://host:port', /^not a server URL/],
];
for (const [value, problem] of URLS) {
  test(`--nats=${value} ${problem ? 'is refused' : 'is taken'}`, (t) => {
    const got = natsUrlsProblem(value);
    if (problem) t.regex(got ?? '(taken)', problem);
    else t.is(got, undefined);
  });
}

test('durations are printed in Mesos spelling', (t) => {
  t.deepEqual([60_000, 2000, 1500, 0, 7_200_000].map(formatDuration), ['1mins', '2secs', '1500ms', '0ms', '2hrs']);
});

test('connection errors: a server that does not answer is worth waiting for, one that refuses is not', (t) => {
  const kind = (e: unknown) => classifyConnectError(e).kind;
  t.is(kind(Object.assign(new Error('connection refused'), { name: 'ConnectionError', cause: { code: 'ECONNREFUSED' } })), 'unreachable');
  t.is(kind(Object.assign(new Error('getaddrinfo ENOTFOUND nats'), { code: 'ENOTFOUND' })), 'unreachable');
  t.is(kind(Object.assign(new Error('timeout'), { name: 'TimeoutError' })), 'unreachable');
  t.is(kind(Object.assign(new Error('Authorization Violation'), { name: 'AuthorizationError' })), 'refused');
  t.is(kind(Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' })), 'tls');
  t.is(kind(Object.assign(new Error("server does not support 'tls'"), { name: 'ConnectionError' })), 'tls');
  t.is(classifyConnectError(Object.assign(new Error('Authorization Violation'), { name: 'AuthorizationError' })).reason, 'the server refused this credential (Authorization Violation)');
  // OpenSSL's own words are cut down to one line.
  const alert = new Error('80AC2160497F0000:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 42\n');
  t.deepEqual(classifyConnectError(Object.assign(alert, { code: 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE' })), { kind: 'tls', reason: "TLS failed: the server sent TLS alert 'bad certificate'", detail: "the server sent TLS alert 'bad certificate'" });
});
