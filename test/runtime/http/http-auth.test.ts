/**
 * HTTP authentication: Basic parsing, Mesos' credentials JSON, constant-time checking, which
 * endpoints and v1 calls are read-only, read-write or open, and the authenticator answering 401
 * (counted, logged at a bounded pace) on a real HTTP server.
 */
import test from 'ava';
import { request, type IncomingMessage } from 'node:http';
import { pino } from 'pino';
import {
  basicHeader,
  callAccess,
  checkCredentials,
  HttpAuthenticator,
  HttpCredentialsError,
  parseBasic,
  parseHttpCredentials,
  pathAccess,
  REFUSAL_LOG_INTERVAL_MS,
  requestPrincipal,
} from '../../../runtime/http/http-auth.ts';
import { serveHttp, sendJson } from '../../../runtime/http/server.ts';
import { silentLogger } from '../../../runtime/log.ts';

// ── Basic ───────────────────────────────────────────────────────────────────────────

test('parseBasic reads principal and secret; the secret may hold colons', (t) => {
  t.deepEqual(parseBasic(basicHeader('ops', 's3cr:et')), { principal: 'ops', secret: 's3cr:et' });
  // RFC 7617's own example: Aladdin / open sesame.
  t.deepEqual(parseBasic('Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=='), { principal: 'Aladdin', secret: 'open sesame' });
  t.deepEqual(parseBasic('basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=='), { principal: 'Aladdin', secret: 'open sesame' }, 'the scheme is case-insensitive');
});

test('parseBasic refuses what is not Basic credentials', (t) => {
  for (const h of [undefined, '', 'Bearer abc', 'Basic', 'Basic !!!!', 'Basic QWxhZGRpbg==' /* no colon */, 'Basic Om5vcHJpbmNpcGFs' /* ':noprincipal' */, 'Basic QWxh']) {
    t.is(parseBasic(h), undefined, String(h));
  }
});

// ── credentials ─────────────────────────────────────────────────────────────────────

test('parseHttpCredentials reads Mesos credentials JSON', (t) => {
  const c = parseHttpCredentials('{"credentials":[{"principal":"ops","secret":"a"},{"principal":"viewer","secret":"b"}]}');
  t.deepEqual([...c], [['ops', 'a'], ['viewer', 'b']]);
});

test('parseHttpCredentials names what is wrong', (t) => {
  const bad: Array<[string, RegExp]> = [
    ['nope', /not JSON/],
    ['{}', /expected \{"credentials"/],
    ['{"credentials":[1]}', /credentials\[0\]: expected an object/],
    ['{"credentials":[{"secret":"x"}]}', /credentials\[0\]\.principal/],
    ['{"credentials":[{"principal":"a:b","secret":"x"}]}', /or ':'/],
    ['{"credentials":[{"principal":"ops.admin","secret":"x"}]}', /without dots/],
    ['{"credentials":[{"principal":"anonymous","secret":"x"}]}', /not 'anonymous'/],
    ['{"credentials":[{"principal":"a"}]}', /credentials\[0\]\.secret/],
    ['{"credentials":[{"principal":"a","secret":"x"},{"principal":"a","secret":"y"}]}', /appears twice/],
  ];
  for (const [text, msg] of bad) t.throws(() => parseHttpCredentials(text), { instanceOf: HttpCredentialsError, message: msg }, text);
});

test('checkCredentials: the right secret only, for a known principal only', (t) => {
  const c = parseHttpCredentials('{"credentials":[{"principal":"ops","secret":"right"}]}');
  t.true(checkCredentials(c, { principal: 'ops', secret: 'right' }));
  t.false(checkCredentials(c, { principal: 'ops', secret: 'wrong' }));
  t.false(checkCredentials(c, { principal: 'ops', secret: 'right-and-longer' }));
  t.false(checkCredentials(c, { principal: 'ops', secret: '' }));
  t.false(checkCredentials(c, { principal: 'nobody', secret: 'right' }));
});

// ── classification ──────────────────────────────────────────────────────────────────

test('v1 calls: GET_*, SUBSCRIBE, READ_FILE and LIST_FILES read; every other call writes, new ones included', (t) => {
  for (const c of ['GET_STATE', 'GET_FLAGS', 'GET_METRICS', 'GET_HEALTH', 'GET_VERSION', 'GET_AGENTS', 'SUBSCRIBE', 'READ_FILE', 'LIST_FILES']) t.is(callAccess(c), 'readonly', c);
  for (const c of ['TEARDOWN', 'UPDATE_QUOTA', 'UPDATE_WEIGHTS', 'MARK_AGENT_GONE', 'SOME_CALL_ADDED_LATER', undefined]) t.is(callAccess(c), 'readwrite', String(c));
});

test('paths: health, redirect and version open; GET reads; POST and others write', (t) => {
  for (const p of ['/health', '/master/health', '/master/redirect', '/version']) t.is(pathAccess('GET', p), 'open', p);
  for (const p of ['/master/state', '/state.json', '/master/state-summary', '/master/tasks', '/master/roles', '/master/flags', '/metrics/snapshot', '/slave(1)/state', '/files/read', '/master/quota', '/master/weights']) {
    t.is(pathAccess('GET', p), 'readonly', p);
  }
  t.is(pathAccess('HEAD', '/master/state'), 'readonly');
  for (const [m, p] of [['POST', '/master/teardown'], ['POST', '/master/quota'], ['DELETE', '/master/quota/role'], ['PUT', '/master/weights']]) t.is(pathAccess(m, p!), 'readwrite', `${m} ${p}`);
});

// ── the authenticator on a server ───────────────────────────────────────────────────

/** A server that answers each admitted request with the principal it was recorded as. */
async function server(t: { teardown: (f: () => Promise<void>) => void }, auth: HttpAuthenticator) {
  const s = await serveHttp('127.0.0.1', 0, silentLogger(), async (req: IncomingMessage, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (!auth.admit(req, res, pathAccess(req.method, path))) return;
    sendJson(res, 200, { principal: requestPrincipal(req) ?? null });
  });
  t.teardown(() => s.close());
  return (method: string, path: string, authorization?: string) => new Promise<{ status: number; wwwAuthenticate?: string; body: string }>((resolve, reject) => {
    const req = request(`http://${s.address}${path}`, { method, headers: authorization ? { authorization } : {} }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      res.on('end', () => resolve({ status: res.statusCode!, ...(res.headers['www-authenticate'] ? { wwwAuthenticate: res.headers['www-authenticate'] } : {}), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const CREDS = parseHttpCredentials('{"credentials":[{"principal":"ops","secret":"right"}]}');

test('readonly and readwrite on: no or bad credentials → 401 with the Basic challenge; good ones → the principal', async (t) => {
  const auth = new HttpAuthenticator({ credentials: CREDS, readonly: true, readwrite: true, logger: silentLogger() });
  const ask = await server(t, auth);
  const none = await ask('GET', '/master/state');
  t.is(none.status, 401);
  t.is(none.wwwAuthenticate, 'Basic realm="mesos"');
  t.is((await ask('GET', '/master/state', basicHeader('ops', 'wrong'))).status, 401);
  t.is((await ask('POST', '/master/teardown', basicHeader('nobody', 'right'))).status, 401);
  t.is((await ask('GET', '/master/state', 'Bearer xyz')).status, 401);
  const ok = await ask('GET', '/master/state', basicHeader('ops', 'right'));
  t.is(ok.status, 200);
  t.deepEqual(JSON.parse(ok.body), { principal: 'ops' });
  t.deepEqual(JSON.parse((await ask('GET', '/master/health')).body), { principal: null }, 'health is open');
  t.is(auth.refusals, 4);
});

test('only readwrite on: reads need nothing, but good credentials still name the reader; writes need them', async (t) => {
  const auth = new HttpAuthenticator({ credentials: CREDS, readonly: false, readwrite: true, logger: silentLogger() });
  const ask = await server(t, auth);
  t.deepEqual(JSON.parse((await ask('GET', '/master/state')).body), { principal: null });
  t.deepEqual(JSON.parse((await ask('GET', '/master/state', basicHeader('ops', 'right'))).body), { principal: 'ops' });
  t.deepEqual(JSON.parse((await ask('GET', '/master/state', basicHeader('ops', 'wrong'))).body), { principal: null }, 'bad credentials where none are needed count as none');
  t.is((await ask('POST', '/master/teardown')).status, 401);
  t.is((await ask('POST', '/master/teardown', basicHeader('ops', 'right'))).status, 200);
});

test('refusals are all counted, and logged at most once per interval with the number left unlogged', async (t) => {
  let now = 1_000_000;
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) });
  const auth = new HttpAuthenticator({ credentials: CREDS, readonly: true, readwrite: true, logger, now: () => now });
  const ask = await server(t, auth);
  for (let i = 0; i < 5; i++) await ask('GET', '/master/state');
  t.is(auth.refusals, 5);
  t.is(lines.length, 1, 'one line for the first burst');
  now += REFUSAL_LOG_INTERVAL_MS;
  await ask('GET', '/master/state', basicHeader('ops', 'wrong'));
  t.is(lines.length, 2);
  t.like(lines[1], { msg: 'HTTP request refused: bad credentials', principal: 'ops', refusals: 6, unlogged: 4 });
});
