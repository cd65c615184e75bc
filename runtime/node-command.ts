/**
 * Command lines for starting our own TypeScript entry points as child processes (executors), with
 * the tsx loader resolved to an absolute URL so they start from any working directory (a sandbox).
 */
import { fileURLToPath } from 'node:url';

/** argv that runs the TypeScript file at `scriptPath` with the current Node and tsx. */
export function nodeScriptArgv(scriptPath: string): string[] {
  return [process.execPath, '--import', import.meta.resolve('tsx'), scriptPath];
}

/** The same as one shell command string (for `CommandInfo.value`). */
export function nodeScriptCommand(scriptPath: string): string {
  return nodeScriptArgv(scriptPath).map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
}

/** The path of a module next to `metaUrl` (pass `import.meta.url`). */
export function siblingPath(metaUrl: string, relative: string): string {
  return fileURLToPath(new URL(relative, metaUrl));
}
