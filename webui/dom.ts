/** Small DOM helpers: elements from a tag, attributes and children, and number formats. */

type Child = Node | string | number | false | null | undefined;

/** `<tag attrs…>children…</tag>`; `on*` attributes that are functions become listeners. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, unknown> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v as EventListener);
    else if (k === 'class') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, ...children);
  return el;
}

/** Appends children, skipping empty ones. */
export function append(el: Element, ...children: Child[]): void {
  for (const c of children) {
    if (c === false || c === null || c === undefined) continue;
    el.append(typeof c === 'number' ? String(c) : c);
  }
}

/** A number of MB as MB, GB or TB. */
export function mb(v: number | undefined): string {
  const x = v ?? 0;
  if (x >= 1024 * 1024) return `${(x / 1024 / 1024).toFixed(1)} TB`;
  if (x >= 1024) return `${(x / 1024).toFixed(1)} GB`;
  return `${Math.round(x)} MB`;
}

/** A count of CPUs, three decimals at most. */
export function cpus(v: number | undefined): string {
  return String(Math.round((v ?? 0) * 1000) / 1000);
}

/** Epoch ms as a local date and time. */
export function when(ms: number | undefined): string {
  return ms === undefined ? '' : new Date(ms).toLocaleString();
}

/** `TASK_RUNNING` → `RUNNING`. */
export const shortState = (s: string): string => s.replace(/^TASK_/, '');
