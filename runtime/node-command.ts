/**
 * Command lines for starting our own TypeScript entry points as child processes (executors).
 * A plain-JavaScript bundle from `scripts/build.mjs` (`.build/<path>.mjs`) is used when it is newer
 * than every source file; otherwise the script runs through the tsx loader, resolved to an
 * absolute URL so it starts from any working directory (a sandbox).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const SOURCE_DIRS = ['protocols', 'actors', 'runtime', 'cmd'];
let newestSource: number | undefined;

/** The newest modification time of any TypeScript source (computed once per process). */
function newestSourceMtime(): number {
  if (newestSource !== undefined) return newestSource;
  let newest = 0;
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  for (const d of SOURCE_DIRS) if (existsSync(join(root, d))) walk(join(root, d));
  newestSource = newest;
  return newest;
}

/** The up-to-date bundle of `scriptPath`, if there is one. */
export function bundleOf(scriptPath: string): string | undefined {
  const rel = relative(root, scriptPath);
  if (rel.startsWith('..') || !rel.endsWith('.ts')) return undefined;
  const out = join(root, '.build', rel.replace(/\.ts$/, '.mjs'));
  try {
    return statSync(out).mtimeMs >= newestSourceMtime() ? out : undefined;
  } catch {
    return undefined;
  }
}

/** argv that runs the TypeScript file at `scriptPath` with the current Node. */
export function nodeScriptArgv(scriptPath: string): string[] {
  const bundle = bundleOf(scriptPath);
  return bundle ? [process.execPath, bundle] : [process.execPath, '--import', import.meta.resolve('tsx'), scriptPath];
}

/** `argv` as one POSIX shell command line, every word single-quoted. */
function shellCommand(argv: readonly string[]): string {
  return argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
}

/** The same as one shell command string (for `CommandInfo.value`). */
export function nodeScriptCommand(scriptPath: string): string {
  return shellCommand(nodeScriptArgv(scriptPath));
}

/** Node flags that must not reach a child (a second inspector would fight for the port). */
const NOT_INHERITED = /^--(?:inspect|debug)/;

/**
 * A shell command (for `CommandInfo.value`) that runs the module at `module` (a path or `file:`
 * URL) with this process's Node and its flags (`process.execArgv`: a TypeScript loader such as
 * tsx's, `--conditions`), so that an executor written next to its scheduler starts the way the
 * scheduler did. The command runs in the executor's sandbox: a loader flag must name a path, not
 * a package resolved from the working directory (the `tsx` command passes paths).
 */
export function nodeCommand(module: string | URL): string {
  // The command runs in the sandbox: a relative path is made absolute here.
  const path = module instanceof URL || module.startsWith('file:') ? fileURLToPath(module) : resolve(module);
  const flags = process.execArgv.filter((a) => !NOT_INHERITED.test(a));
  return shellCommand([process.execPath, ...flags, path]);
}

/** The path of a module next to `metaUrl` (pass `import.meta.url`). */
export function siblingPath(metaUrl: string, relativePath: string): string {
  return fileURLToPath(new URL(relativePath, metaUrl));
}

/**
 * Source for `new Worker(source, { eval: true })` that loads the module at `moduleUrl` (an
 * `import.meta.url`) in the worker: its bundle when one is up to date, else through tsx.
 */
export function workerSource(moduleUrl: string): string {
  const bundle = bundleOf(fileURLToPath(moduleUrl));
  if (bundle) return `import(${JSON.stringify(pathToFileURL(bundle).href)});`;
  const api = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(api)}).then(({ register }) => { register(); return import(${JSON.stringify(moduleUrl)}); });`;
}
