// Bundles the web UI (webui/main.ts and webui/app.css) with esbuild into one JavaScript and one
// CSS file. Plain Node: scripts/build.mjs writes the bundle to .build/webui/ at set-up, and the
// master's runtime/http/webui.ts builds it in memory when that copy is missing or older than the
// sources (an installed package, an edited checkout).
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The web UI's source folder. */
export const webuiDir = dirname(fileURLToPath(import.meta.url));

/** The newest modification time (epoch ms) of the UI's sources, and of what they import. */
export function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(webuiDir);
  newest = Math.max(newest, statSync(join(webuiDir, '..', 'protocols', 'task-states.ts')).mtimeMs);
  return newest;
}

/**
 * Bundles the UI. With `outdir` the files are written there (`app.js`, `app.css`); without, they
 * come back as `{ js, css }` text.
 */
export async function bundleWebui(outdir) {
  const { build } = await import('esbuild');
  const common = {
    bundle: true,
    minify: true,
    target: 'es2022',
    logLevel: 'warning',
    tsconfig: join(webuiDir, 'tsconfig.json'),
    write: outdir !== undefined,
    ...(outdir !== undefined ? { outdir } : { outdir: '/webui-out' }),
  };
  const js = await build({ ...common, entryPoints: { app: join(webuiDir, 'main.ts') }, format: 'iife', platform: 'browser', sourcemap: false });
  const css = await build({ ...common, entryPoints: { app: join(webuiDir, 'app.css') } });
  if (outdir !== undefined) return undefined;
  return { js: js.outputFiles[0].text, css: css.outputFiles[0].text };
}
