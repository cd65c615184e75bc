/**
 * Headless Chromium for the web UI's browser tests: the system's `chromium` (Debian's package,
 * installed by `scripts/setup.mjs`; `CHROMIUM_PATH` to use another), driven by playwright-core,
 * and a directory under the OS temp dir for screenshots (printed by the test).
 */
import { accessSync, constants, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/** The Chromium binary, or a clear error saying how to get one. */
export function chromiumPath(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((x): x is string => !!x);
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  throw new Error(`no Chromium at ${candidates.join(', ')}: run 'node scripts/setup.mjs' as root (apt-get install chromium) or set CHROMIUM_PATH`);
}

/** Launches headless Chromium with flags that keep it quiet and offline. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/** A fresh directory for screenshots under the OS temp dir. */
export function screenshotDir(name: string): string {
  const dir = join(tmpdir(), `mesos-webui-${name}-${process.pid}-${Date.now().toString(36)}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}
