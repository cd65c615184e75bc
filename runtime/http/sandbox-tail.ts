/**
 * Follows a file in a task's sandbox through its agent's `/files/read`, as `tail -f` would:
 * what the file gains is handed on as it comes, and {@link SandboxTail.finish} reads what is
 * left once the task has ended. `mesos-execute --tail` prints a task's `stdout` with it.
 */

/** How long the follower waits before asking again when the file had nothing new, ms. */
export const TAIL_POLL_MS = 250;
/** How long one request may take, ms. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Bytes asked for at once (the agent caps reads at 64 KiB). */
const CHUNK_BYTES = 65_536;

/** What to follow, and where its text goes. */
export interface SandboxTailOptions {
  /** The agent's HTTP address, `host:port` (a status update's `agentHttp`). */
  agentHttp: string;
  /** The file's path on the agent (`<sandbox>/stdout`). */
  path: string;
  /** Takes each piece of text read. */
  write: (text: string) => void;
  /** Told, once, when the agent cannot be read (the follower keeps trying). */
  warn?: (message: string) => void;
}

/** A running follower. */
export class SandboxTail {
  #offset = 0;
  #stopping = false;
  #warned = false;
  #wake?: () => void;
  readonly #loop: Promise<void>;

  constructor(readonly opts: SandboxTailOptions) {
    this.#loop = this.#follow();
  }

  /** Reads once from where the last read ended; resolves with the bytes read (0: nothing new, or no answer). */
  async #readOnce(): Promise<number> {
    const url = `http://${this.opts.agentHttp}/files/read?path=${encodeURIComponent(this.opts.path)}&offset=${this.#offset}&length=${CHUNK_BYTES}`;
    let body: { data?: unknown };
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      // Not there yet (the sandbox is being made): nothing to read so far.
      if (r.status === 404) return 0;
      if (!r.ok) throw new Error(`${r.status} ${(await r.text()).trim()}`);
      body = (await r.json()) as { data?: unknown };
    } catch (e) {
      if (!this.#warned) this.opts.warn?.(`cannot read ${this.opts.path} from the agent at ${this.opts.agentHttp}: ${(e as Error).message}`);
      this.#warned = true;
      return 0;
    }
    const text = typeof body.data === 'string' ? body.data : '';
    if (text.length === 0) return 0;
    this.opts.write(text);
    const n = Buffer.byteLength(text, 'utf8');
    this.#offset += n;
    return n;
  }

  async #follow(): Promise<void> {
    while (!this.#stopping) {
      if ((await this.#readOnce()) > 0) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, TAIL_POLL_MS);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Stops following, then reads what the file still holds (call once the task has ended). */
  async finish(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    await this.#loop;
    while ((await this.#readOnce()) > 0) { /* until nothing is left */ }
  }
}
