/**
 * Reads a RecordIO stream (each record: its length in bytes, a newline, then that many bytes of
 * JSON) as it arrives, the way Mesos' operator `SUBSCRIBE` answers.
 *
 * @see Mesos `docs/recordio.md`
 */

/** A record that is not `<length>\n<JSON>`. */
export class RecordIOError extends Error {
  override name = 'RecordIOError';
}

/** Longest record accepted (a `SUBSCRIBED` of a large cluster is tens of MB). */
export const MAX_RECORD_BYTES = 1 << 30;

/**
 * Yields each record of `body` parsed as JSON, in order; ends when the stream ends. Throws a
 * {@link RecordIOError} on a malformed length or JSON.
 */
export async function* readRecordIO(body: ReadableStream<Uint8Array>): AsyncGenerator<unknown> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  /** Received bytes not yet consumed, as a list of pieces (joined only when a record is whole). */
  let pieces: Uint8Array[] = [];
  let buffered = 0;
  /** The length of the record being read, once its header has been seen. */
  let want: number | undefined;
  const take = (n: number): Uint8Array => {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const p = pieces[0]!;
      const k = Math.min(p.length, n - filled);
      out.set(p.subarray(0, k), filled);
      filled += k;
      if (k === p.length) pieces.shift();
      else pieces[0] = p.subarray(k);
    }
    buffered -= n;
    return out;
  };
  const headerEnd = (): number => {
    let seen = 0;
    for (const p of pieces) {
      const i = p.indexOf(10);
      if (i >= 0) return seen + i;
      seen += p.length;
      if (seen > 20) break;
    }
    if (seen > 20) throw new RecordIOError('a record length longer than 20 characters');
    return -1;
  };
  try {
    for (;;) {
      if (want === undefined) {
        const nl = headerEnd();
        if (nl >= 0) {
          const text = decoder.decode(take(nl + 1)).trim();
          const n = Number(text);
          if (!/^\d+$/.test(text) || n > MAX_RECORD_BYTES) throw new RecordIOError(`bad record length '${text}'`);
          want = n;
          continue;
        }
      } else if (buffered >= want) {
        const text = decoder.decode(take(want));
        want = undefined;
        let record: unknown;
        try {
          record = JSON.parse(text);
        } catch (e) {
          throw new RecordIOError(`a record is not JSON: ${(e as Error).message}`);
        }
        yield record;
        continue;
      }
      const { value, done } = await reader.read();
      if (done) return;
      if (value.length > 0) {
        pieces.push(value);
        buffered += value.length;
      }
    }
  } finally {
    pieces = [];
    reader.releaseLock();
  }
}
