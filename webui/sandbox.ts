/**
 * A task's sandbox: its files as the agent lists them (`/files/browse`), and a live tail of one
 * file (`stdout` first) read by offset from `/files/read` — the agent has no stream, so the tail
 * asks again every {@link TAIL_MS} from where the last read ended. Both go through the master
 * (`/webui/agents/<id>/files/…`), which forwards them to the agent's `http_address`, so the UI
 * needs no route of its own to the agents.
 */
import { h } from './dom.ts';

/** How often the tail asks for more. */
export const TAIL_MS = 1000;
/** How much of a file's end the tail shows first, and reads at most at once. */
const WINDOW_BYTES = 64 * 1024;
/** How much text the tail keeps on screen. */
const KEEP_CHARS = 512 * 1024;

interface FileEntry {
  path: string;
  mode: string;
  size: number;
  mtime: number;
}

const base = (agentId: string) => `/webui/agents/${encodeURIComponent(agentId)}/files`;

/** The sandbox of a task on `agentId` at `dir`; `dispose` stops its tail. */
export function sandboxView(agentId: string, dir: string): { el: HTMLElement; dispose: () => void } {
  const list = h('ul', { class: 'files', 'data-files': '' });
  const title = h('span', { class: 'tail-title' });
  const out = h('pre', { class: 'tail', 'data-tail': '' });
  const error = h('p', { class: 'error' });
  let stop: (() => void) | undefined;
  let disposed = false;

  const open = (path: string) => {
    stop?.();
    title.textContent = path.slice(dir.length + 1) || path;
    out.textContent = '';
    out.dataset.file = title.textContent;
    stop = tail(agentId, path, out, error);
    for (const li of list.querySelectorAll('li')) li.classList.toggle('current', li.dataset.path === path);
  };

  const browse = async () => {
    try {
      const r = await fetch(`${base(agentId)}/browse?path=${encodeURIComponent(dir)}`, { cache: 'no-store' });
      if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
      const files = (await r.json()) as FileEntry[];
      list.replaceChildren(...files.sort((a, b) => (a.path < b.path ? -1 : 1)).map((f) => {
        const name = f.path.slice(f.path.lastIndexOf('/') + 1);
        const isDir = f.mode.startsWith('d');
        return h('li', { 'data-path': f.path }, isDir ? `${name}/` : h('a', { href: 'javascript:void 0', onclick: () => open(f.path), 'data-file': name }, name), h('span', { class: 'muted' }, isDir ? '' : ` ${f.size} B`));
      }));
      if (!stop && !disposed) open(`${dir}/stdout`);
    } catch (e) {
      error.textContent = `Could not list the sandbox: ${(e as Error).message}`;
    }
  };
  void browse();
  const el = h('div', { class: 'sandbox-view' },
    h('div', { class: 'tools' }, h('button', { onclick: () => open(`${dir}/stdout`) }, 'stdout'), h('button', { onclick: () => open(`${dir}/stderr`) }, 'stderr'), h('button', { onclick: () => void browse() }, 'List files'), title),
    error, h('div', { class: 'sandbox-panes' }, list, out),
  );
  return { el, dispose: () => {
    disposed = true;
    stop?.();
  } };
}

/** Follows `path` on `agentId` into `out` until the returned function is called. */
function tail(agentId: string, path: string, out: HTMLElement, error: HTMLElement): () => void {
  let offset = -1;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const read = async (from: number, length: number): Promise<{ data: string; offset: number }> => {
    const r = await fetch(`${base(agentId)}/read?path=${encodeURIComponent(path)}&offset=${from}&length=${length}`, { cache: 'no-store' });
    if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
    return (await r.json()) as { data: string; offset: number };
  };
  const step = async () => {
    try {
      if (offset < 0) {
        const size = (await read(-1, -1)).offset;
        offset = Math.max(0, size - WINDOW_BYTES);
      }
      for (;;) {
        const got = await read(offset, WINDOW_BYTES);
        if (stopped || got.data.length === 0) break;
        offset = got.offset + new TextEncoder().encode(got.data).length;
        const stick = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
        out.textContent = ((out.textContent ?? '') + got.data).slice(-KEEP_CHARS);
        if (stick) out.scrollTop = out.scrollHeight;
      }
      error.textContent = '';
    } catch (e) {
      error.textContent = `Could not read ${path}: ${(e as Error).message}`;
    }
    if (!stopped) timer = setTimeout(() => void step(), TAIL_MS);
  };
  void step();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
