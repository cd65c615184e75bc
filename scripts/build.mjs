#!/usr/bin/env node
// Bundles the executor entry points into plain JavaScript under .build/, so an agent starts an
// executor with plain `node` instead of compiling TypeScript at every launch (about a second of
// tsx start-up per executor). runtime/node-command.ts uses a bundle only while it is newer than
// every source file, and falls back to tsx otherwise. Runs as part of scripts/setup.mjs.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const ENTRIES = ['cmd/mesos-executor.ts', 'cmd/pi/pi-executor.ts', 'runtime/lease-worker.ts', 'runtime/http/state-worker.ts'];

await build({
  entryPoints: ENTRIES.map((e) => join(root, e)),
  outbase: root,
  outdir: join(root, '.build'),
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Dependencies are bundled too: resolving and loading them one file at a time is most of an
  // executor's start-up. msgpackr's optional native extension stays external (it loads a binary).
  external: ['msgpackr-extract', 'pino-pretty'],
  // Bundled CommonJS dependencies call require(); give the ESM bundle one.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  sourcemap: 'inline',
  logLevel: 'warning',
});
console.log(`[build] bundled ${ENTRIES.join(', ')} into .build/`);

// The master's web UI: one script and one stylesheet (see webui/bundle.mjs).
const { bundleWebui } = await import('../webui/bundle.mjs');
await bundleWebui(join(root, '.build', 'webui'));
console.log('[build] bundled the web UI into .build/webui/');
