/** The web UI's source folder. */
export const webuiDir: string;
/** The newest modification time (epoch ms) of the UI's sources. */
export function newestSource(): number;
/** Bundles the UI: written to `outdir`, or returned as text without it. */
export function bundleWebui(outdir: string): Promise<undefined>;
export function bundleWebui(): Promise<{ js: string; css: string }>;
