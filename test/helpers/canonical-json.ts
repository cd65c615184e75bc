/**
 * JSON compared regardless of the order of entities in arrays: two writers of the same state may
 * keep their tables in different orders, and a reader of Mesos' JSON does not rely on it.
 */

/** `v` with every array of objects sorted by the objects' ids (or names, or whole text). */
export function canonical(v: unknown): unknown {
  if (Array.isArray(v)) {
    const items = v.map(canonical);
    const key = (x: unknown) => {
      if (typeof x !== 'object' || x === null) return JSON.stringify(x);
      const o = x as Record<string, unknown>;
      return JSON.stringify(o.id ?? o.task_id ?? o.framework_info ?? o.agent_info ?? o.name ?? o);
    };
    return items.every((x) => typeof x === 'object' && x !== null) ? items.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0)) : items;
  }
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, canonical(x)]));
  return v;
}
