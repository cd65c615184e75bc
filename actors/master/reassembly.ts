/**
 * Re-registrations too large for one message arrive in parts (`protocols/chunking.ts`). The
 * master keeps the parts by sender until it has them all, then acts on the whole report; parts of
 * an older attempt are dropped when a newer one starts, and stragglers are forgotten after
 * `reassemblyTimeoutMs`.
 */
import type { Body } from '../../protocols/messages.ts';
import type { MasterEnv, MasterState } from './state.ts';

type Report = Body<'ReregisterAgent'>;

/** The whole report once every part of it has arrived; `undefined` while parts are missing. */
export function reassemble(s: MasterState, from: string, body: Report, env: MasterEnv): Report | undefined {
  const part = body.part;
  if (!part) return body;
  if (part.index >= part.count) return undefined;
  let p = s.partials.get(from);
  if (!p || p.id !== part.id || p.count !== part.count) {
    p = { id: part.id, count: part.count, parts: new Map(), firstAt: env.now };
    s.partials.set(from, p);
  }
  p.parts.set(part.index, body);
  if (p.parts.size < p.count) return undefined;
  s.partials.delete(from);
  const first = p.parts.get(0)!;
  const whole: Report = { agent: first.agent, version: first.version, tasks: [], executors: [], frameworks: [] };
  for (let i = 0; i < p.count; i++) {
    const b = p.parts.get(i)!;
    for (const t of b.tasks) whole.tasks.push(t);
    for (const e of b.executors) whole.executors.push(e);
    for (const f of b.frameworks) whole.frameworks.push(f);
  }
  return whole;
}

/** Forgets partial reports whose other parts never came. */
export function forgetStaleParts(s: MasterState, env: MasterEnv): void {
  for (const [from, p] of s.partials) {
    if (env.now - p.firstAt >= env.flags.reassemblyTimeoutMs) s.partials.delete(from);
  }
}
