/**
 * `--inspect` targets: a WebSocket inspector that cannot be reached says so in the log.
 */
import test from 'ava';
import { createServer } from 'node:net';
import type { Logger } from '../../runtime/log.ts';
import { webSocketInspector } from '../../runtime/inspect.ts';

/** A loopback port nothing listens on (one that was free a moment ago). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

test('an unreachable ws:// inspector logs a warning naming it', async (t) => {
  const url = `ws://127.0.0.1:${await closedPort()}`;
  let warned: (w: { obj: Record<string, unknown>; msg: string }) => void = () => {};
  const warning = new Promise<{ obj: Record<string, unknown>; msg: string }>((resolve) => {
    warned = resolve;
  });
  const logger = { warn: (obj: Record<string, unknown>, msg: string) => warned({ obj, msg }), info: () => {} } as unknown as Logger;
  const inspector = webSocketInspector(url, logger);
  t.teardown(() => inspector.stop());
  const w = await warning;
  t.is(w.obj.url, url);
  t.is(w.obj.err, 'ECONNREFUSED');
  t.regex(w.msg, /^inspector unreachable/);
});
