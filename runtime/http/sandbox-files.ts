/**
 * The files an agent serves over HTTP (`/files/browse`, `/files/read`, `/files/download`, the
 * v1 API's `LIST_FILES` and `READ_FILE`): everything under its work dir, where the sandboxes are,
 * except the agent's own `meta` directory (its identity, checkpoints and the executors' secret).
 *
 * A path is served only if, with `..` and every symbolic link resolved, it is still inside the
 * work dir; a file is opened without following a last-moment swap out of it (the opened file's
 * own path is checked again), and only regular files are read (a FIFO would block a reader).
 *
 * @see Mesos `src/files/files.cpp` (`FilesProcess::resolve`, `read`, `browse`).
 */
import { constants, readFileSync } from 'node:fs';
import { lstat, open, readdir, readlink, realpath, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { isAbsolute, join, resolve, sep } from 'node:path';

/** Longest read, bytes: Mesos reads at most 16 pages at a time. */
export const MAX_READ_BYTES = 16 * 4096;

/** Why a path is not served: HTTP status and a sentence. */
export interface Refusal {
  status: 400 | 403 | 404;
  error: string;
}

/** One entry of a listing, as Mesos' file info. */
export interface FileInfo {
  /** The entry's path as the caller named its directory, joined with the entry's name. */
  path: string;
  nlink: number;
  size: number;
  /** Epoch seconds. */
  mtime: number;
  /** As `ls -l` shows it, e.g. `-rw-r--r--`. */
  mode: string;
  /** The mode bits as a number (the v1 API's `mode`). */
  modeBits: number;
  uid: string;
  gid: string;
}

/** What a read found. */
export interface ReadResult {
  /** Where the data starts (the file's size when nothing is left to read). */
  offset: number;
  data: Buffer;
  /** The file's size. */
  size: number;
}

const TYPE_CHARS: Array<[number, string]> = [
  [constants.S_IFDIR, 'd'], [constants.S_IFLNK, 'l'], [constants.S_IFIFO, 'p'], [constants.S_IFSOCK, 's'],
  [constants.S_IFCHR, 'c'], [constants.S_IFBLK, 'b'],
];

/** `mode` as `ls -l` shows it. */
export function modeString(mode: number): string {
  const type = TYPE_CHARS.find(([bits]) => (mode & constants.S_IFMT) === bits)?.[1] ?? '-';
  let out = type;
  for (const shift of [6, 3, 0]) {
    const p = (mode >> shift) & 7;
    out += (p & 4 ? 'r' : '-') + (p & 2 ? 'w' : '-') + (p & 1 ? 'x' : '-');
  }
  return out;
}

/** Names of ids in `/etc/passwd` or `/etc/group` (read once); the id itself when unknown. */
function idNames(file: string): (id: number) => string {
  let names: Map<number, string> | undefined;
  return (id) => {
    if (!names) {
      names = new Map();
      try {
        for (const line of readFileSync(file, 'utf8').split('\n')) {
          const [name, , n] = line.split(':');
          if (name && n !== undefined && /^\d+$/.test(n)) names.set(Number(n), name);
        }
      } catch {
        // No such file: numbers it is.
      }
    }
    return names.get(id) ?? String(id);
  };
}
const userName = idNames('/etc/passwd');
const groupName = idNames('/etc/group');

const isInside = (root: string, p: string) => p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);

/** The files under one agent's work dir. */
export class SandboxFiles {
  readonly #workDir: string;

  constructor(workDir: string) {
    this.#workDir = resolve(workDir);
  }

  /** The work dir with its links resolved, and the directory never served. */
  async #roots(): Promise<{ root: string; meta: string }> {
    const root = await realpath(this.#workDir);
    return { root, meta: join(root, 'meta') };
  }

  /**
   * Where `requested` (absolute, or relative to the work dir) really is, if it may be served:
   * 400 for no path, 403 outside the work dir (before or after resolving links) or in its `meta`,
   * 404 when nothing is there.
   */
  async resolve(requested: string | null | undefined): Promise<{ path: string; named: string } | Refusal> {
    if (!requested) return { status: 400, error: "expecting 'path=value' in the query" };
    if (requested.includes('\0')) return { status: 400, error: 'the path holds a NUL byte' };
    const named = isAbsolute(requested) ? resolve(requested) : resolve(this.#workDir, requested);
    let roots;
    try {
      roots = await this.#roots();
    } catch {
      return { status: 404, error: 'the work dir does not exist yet' };
    }
    // Judged before the path is looked at, so nothing is learnt about files elsewhere.
    if (!isInside(this.#workDir, named) && !isInside(roots.root, named)) return { status: 403, error: `'${requested}' is outside the agent's work dir` };
    let real;
    try {
      real = await realpath(named);
    } catch {
      return { status: 404, error: `'${requested}' does not exist` };
    }
    if (!isInside(roots.root, real)) return { status: 403, error: `'${requested}' leads outside the agent's work dir` };
    if (isInside(roots.meta, real)) return { status: 403, error: `'${requested}' is the agent's own` };
    return { path: real, named };
  }

  /** The entries of directory `requested`, sorted by path (links shown as links, not followed). */
  async browse(requested: string | null | undefined): Promise<FileInfo[] | Refusal> {
    const r = await this.resolve(requested);
    if ('status' in r) return r;
    const { meta } = await this.#roots();
    let names: string[];
    try {
      names = await readdir(r.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOTDIR') return { status: 400, error: `'${requested}' is not a directory` };
      return { status: 404, error: `'${requested}' cannot be listed` };
    }
    const out: FileInfo[] = [];
    for (const name of names.sort()) {
      const full = join(r.path, name);
      if (full === meta) continue;
      let st: Stats;
      try {
        st = await lstat(full);
      } catch {
        continue; // gone while listing
      }
      out.push({
        path: join(r.named, name),
        nlink: st.nlink,
        size: st.size,
        mtime: Math.floor(st.mtimeMs / 1000),
        mode: modeString(st.mode),
        modeBits: st.mode,
        uid: userName(st.uid),
        gid: groupName(st.gid),
      });
    }
    return out;
  }

  /**
   * Opens regular file `requested` for reading; the caller closes it. The opened file's own path
   * is checked again, so a directory swapped for a link after {@link resolve} serves nothing.
   */
  async open(requested: string | null | undefined): Promise<{ fh: FileHandle; size: number; path: string } | Refusal> {
    const r = await this.resolve(requested);
    if ('status' in r) return r;
    let fh: FileHandle;
    try {
      // Non-blocking, so that opening a FIFO does not wait for a writer.
      fh = await open(r.path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ELOOP') return { status: 403, error: `'${requested}' leads outside the agent's work dir` };
      return { status: 404, error: `'${requested}' cannot be opened` };
    }
    const checked = await this.#check(fh, String(requested), r.path).catch(async (e: unknown) => {
      await fh.close();
      throw e;
    });
    if ('status' in checked) await fh.close();
    return 'status' in checked ? checked : { fh, size: checked.size, path: r.path };
  }

  /** The opened file's size, or why it may not be read: not a regular file, or not where it was resolved to. */
  async #check(fh: FileHandle, requested: string, resolved: string): Promise<{ size: number } | Refusal> {
    const st = await fh.stat();
    if (st.isDirectory()) return { status: 400, error: `'${requested}' is a directory` };
    if (!st.isFile()) return { status: 400, error: `'${requested}' is not a regular file` };
    const opened = await readlink(`/proc/self/fd/${fh.fd}`).catch(() => resolved);
    const { root, meta } = await this.#roots();
    if (!isInside(root, opened) || isInside(meta, opened)) return { status: 403, error: `'${requested}' leads outside the agent's work dir` };
    return { size: st.size };
  }

  /**
   * Reads at most `length` bytes (all that is left when omitted or -1, never more than
   * {@link MAX_READ_BYTES}) from `offset` (the end when omitted or -1: the answer then only tells
   * the size). Mesos' `/files/read`.
   */
  async read(requested: string | null | undefined, offset = -1, length = -1): Promise<ReadResult | Refusal> {
    if (!Number.isSafeInteger(offset) || offset < -1) return { status: 400, error: `bad offset '${offset}'` };
    if (!Number.isSafeInteger(length) || length < -1) return { status: 400, error: `bad length '${length}'` };
    const f = await this.open(requested);
    if ('status' in f) return f;
    try {
      const from = offset === -1 ? f.size : offset;
      if (from >= f.size) return { offset: f.size, data: Buffer.alloc(0), size: f.size };
      const want = Math.min(length === -1 ? f.size - from : length, MAX_READ_BYTES);
      const buf = Buffer.alloc(want);
      const { bytesRead } = await f.fh.read(buf, 0, want, from);
      return { offset: from, data: buf.subarray(0, bytesRead), size: f.size };
    } finally {
      await f.fh.close();
    }
  }
}

/**
 * `data` without a UTF-8 sequence cut short at its end, so that it reads as text and the next read
 * starts where this one's text ended (`offset + byteLength`).
 */
export function wholeUtf8(data: Buffer): Buffer {
  // A sequence is at most 4 bytes: look at the last 3 for the lead byte of an unfinished one.
  for (let i = data.length - 1; i >= Math.max(0, data.length - 3); i--) {
    const b = data[i]!;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: keep looking for its lead
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return data.length - i < need ? data.subarray(0, i) : data;
  }
  return data;
}
