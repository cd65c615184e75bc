/**
 * `mountStatechart` in headless Chromium, on the page `/inspect` serves: a machine's states drawn
 * as nested boxes (a compound state holding its children, parallel regions side by side), the
 * active ones highlighted, the highlight and the event list moving live as the machine is sent
 * events, and an unmount that leaves nothing behind.
 */
import test from 'ava';
import type { Browser } from 'playwright-core';
import { createActor, setup } from 'xstate';
import { InspectionHub } from '../../runtime/inspection.ts';
import { serveInspect } from '../../runtime/http/inspect-http.ts';
import { sendJson, serveHttp, type HttpServer } from '../../runtime/http/server.ts';
import { createLogger } from '../../runtime/log.ts';
import { launchChromium } from '../helpers/browser.ts';

/** A lamp: off, or on (dim or bright) with a fan beside the light. */
const lamp = setup({ types: { events: {} as { type: 'SWITCH' | 'BRIGHTEN' | 'FAN' } } }).createMachine({
  id: 'lamp',
  initial: 'off',
  states: {
    off: { on: { SWITCH: 'on' } },
    on: {
      type: 'parallel',
      on: { SWITCH: 'off' },
      states: {
        light: { initial: 'dim', states: { dim: { on: { BRIGHTEN: 'bright' } }, bright: {} } },
        fan: { initial: 'still', states: { still: { on: { FAN: 'spinning' } }, spinning: { tags: ['noisy'] } } },
      },
    },
  },
});

let browser: Browser;
let server: HttpServer;
const hub = new InspectionHub();
const actor = createActor(lamp, { id: 'desk-lamp', inspect: hub.inspect });

test.before(async () => {
  actor.start();
  server = await serveHttp('127.0.0.1', 0, createLogger({ name: 'statechart-test', level: 'silent' }), async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname.replace(/\/+$/, '') || '/';
    if (!(await serveInspect(req, res, path, hub))) sendJson(res, 404, { error: 'no such page' });
  });
  browser = await launchChromium();
});

test.after.always(async () => {
  await browser?.close();
  await server?.close();
  actor.stop();
});

test.serial('the page draws the lamp as nested boxes, highlights where it is, and follows it live', async (t) => {
  const page = await browser.newPage();
  t.teardown(() => page.close());
  await page.goto(`http://${server.address}/inspect`);
  const machine = page.locator('.sc-machine[data-machine="lamp"]');
  await machine.waitFor();
  t.regex(await machine.locator('h3').innerText(), /lamp\s*desk-lamp/);
  await page.locator('[data-path="off"].sc-active').waitFor();
  // Nesting: `on` holds its regions side by side, each region its own states.
  t.is(await page.locator('[data-path="on"] > .sc-children.sc-parallel > [data-path="on.light"]').count(), 1);
  t.is(await page.locator('[data-path="on.light"] [data-path="on.light.dim"]').count(), 1);
  t.regex(await page.locator('[data-path="on.fan.spinning"] .sc-head').innerText(), /«noisy»/);
  t.regex(await page.locator('[data-path="off"] > .sc-on').innerText(), /SWITCH → on/);

  actor.send({ type: 'SWITCH' });
  await page.locator('[data-path="on.light.dim"].sc-active').waitFor();
  t.is(await page.locator('[data-path="on.fan.still"].sc-active').count(), 1, 'both regions are active');
  t.is(await page.locator('[data-path="off"].sc-active').count(), 0, 'the state left is no longer highlighted');
  actor.send({ type: 'FAN' });
  await page.locator('[data-path="on.fan.spinning"].sc-active').waitFor();
  const newest = page.locator('.sc-events li').first();
  t.regex(await newest.innerText(), /^FAN .*→ on\.light\.dim \| on\.fan\.spinning/);
  t.regex(await page.locator('.sc-events').innerText(), /SWITCH/);
});

test.serial('mountStatechart returns an unmount that empties its element', async (t) => {
  const page = await browser.newPage();
  t.teardown(() => page.close());
  await page.goto(`http://${server.address}/inspect`);
  // The module the page loaded, mounted a second time into an element of our own.
  await page.evaluate(async () => {
    const m = (await import('/inspect/statechart.js' as string)) as { mountStatechart(el: unknown, base: string): () => void };
    const w = globalThis as unknown as { document: { createElement(t: string): unknown; body: { append(e: unknown): void } }; mine: unknown; unmount: () => void };
    w.mine = w.document.createElement('div');
    w.document.body.append(w.mine);
    w.unmount = m.mountStatechart(w.mine, '');
  });
  await page.waitForFunction(() => !!(globalThis as unknown as { mine: { querySelector(s: string): unknown } }).mine.querySelector('.sc-machine'));
  const left = await page.evaluate(() => {
    const w = globalThis as unknown as { mine: { childElementCount: number }; unmount: () => void };
    w.unmount();
    return { drawn: true, children: w.mine.childElementCount };
  });
  t.deepEqual(left, { drawn: true, children: 0 });
});
