/**
 * Revocation: when a role is below its quota guarantee and the free resources cannot cover it,
 * resources are taken back from roles that are not below theirs. This module only decides which
 * tasks go: the most over-share frameworks first, within a framework the youngest tasks first,
 * and exactly as many as cover the deficit — the last one chosen is the one that covers it.
 *
 * Mesos' allocator never preempts (it only holds resources back); this follows the seed paper's
 * example instead: "an MPI framework guaranteed 8 machines but currently given 12 can have 4 taken
 * away".
 */
import { containsQuantities, isZero, quantitiesOf, subtractClamped, type Quantities } from './quantities.ts';
import type { Resources } from '../../../protocols/resources.ts';

/** A running task that may be revoked. */
export interface RevocationCandidate {
  frameworkId: string;
  taskId: string;
  agentId: string;
  resources: Resources;
  /** When it was launched (epoch ms): younger tasks go first. */
  launchedAt: number;
  /** Its framework's share (higher = more over its fair share, goes first). */
  share: number;
}

/**
 * Chooses the tasks (or offers) to revoke so that their unreserved, non-revocable scalars cover
 * `deficit`. Candidates that contribute nothing to what is missing are never chosen. Returns `[]`
 * when even all candidates together would not cover it, unless `partial` is set.
 */
export function chooseRevocations(
  deficit: Quantities,
  candidates: readonly RevocationCandidate[],
  opts: { partial?: boolean } = {},
): RevocationCandidate[] {
  if (isZero(deficit)) return [];
  const ordered = [...candidates].sort(
    (a, b) => b.share - a.share || b.launchedAt - a.launchedAt || (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0),
  );
  let missing = deficit;
  const chosen: RevocationCandidate[] = [];
  for (const c of ordered) {
    const q = reclaimable(c.resources);
    // Skip tasks that free nothing the deficit needs.
    let helps = false;
    for (const [name, v] of missing) if (v > 0 && (q.get(name) ?? 0) > 0) helps = true;
    if (!helps) continue;
    chosen.push(c);
    missing = subtractClamped(missing, q);
    if (isZero(missing)) return chosen;
  }
  // Not enough to cover it all: with `partial`, take what helps (cheap things such as offers).
  return opts.partial ? chosen : [];
}

/** The part of a task's resources revocation can give to another role. */
function reclaimable(r: Resources): Quantities {
  return quantitiesOf(r.filter((x) => x.type === 'SCALAR' && x.role === undefined && !x.revocable));
}

export { containsQuantities };
