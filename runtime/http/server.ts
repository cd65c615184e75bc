/**
 * What every HTTP surface of the project shares: JSON answers, errors that never crash the
 * process, and listening on `ip:port` (0 for a free port) with the address it got, over plain
 * HTTP or, given a certificate and key, HTTPS.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.ts';
import { BACKGROUND, type SharedSlicer, type Slicer } from '../slicer.ts';

/** A listening server. */
export interface HttpServer {
  /** `host:port` it listens on. */
  readonly address: string;
  /** `https` when it serves TLS, else `http`. */
  readonly scheme: 'http' | 'https';
  close(): Promise<void>;
}

/** Answers `body` (an object, or JSON text already) with `status`. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

/** Reads a request body of at most `max` bytes; `undefined` when it is larger. */
export async function readBody(req: IncomingMessage, max = 1 << 20): Promise<string | undefined> {
  let body = '';
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > max) return undefined;
  }
  return body;
}

/** PEM files an HTTPS server presents: its certificate (chain) and its private key. */
export interface HttpTlsFiles {
  cert: string;
  key: string;
}

/** HTTP TLS files that cannot be used, and why. */
export class HttpTlsError extends Error {
  override name = 'HttpTlsError';
}

/** Reads `files`; throws {@link HttpTlsError} naming the file that cannot be read. */
export function readTlsFiles(files: HttpTlsFiles): { cert: Buffer; key: Buffer } {
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new HttpTlsError(`cannot read the HTTP TLS ${what} '${path}': ${(e as Error).message}`);
    }
  };
  return { cert: read('certificate', files.cert), key: read('key', files.key) };
}

/**
 * Serves `handle` on `ip:port` (HTTPS with `tls`); resolves once listening, rejects with the
 * reason it cannot. A handler that throws is logged and answered 500 (or its connection cut, if
 * it had begun).
 */
export async function serveHttp(ip: string, port: number, logger: Logger, handle: (req: IncomingMessage, res: ServerResponse) => Promise<unknown>, tls?: HttpTlsFiles): Promise<HttpServer> {
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: Error) => {
      logger.error({ err, url: req.url }, 'HTTP request failed');
      if (!res.headersSent) sendJson(res, 500, { error: err.message });
      else res.destroy();
    });
  };
  const server: Server = tls ? createHttpsServer(readTlsFiles(tls), onRequest) : createServer(onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  return {
    address: `${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`,
    scheme: tls ? 'https' : 'http',
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** Bytes per piece a document is sent in. */
const CHUNK_BYTES = 64 * 1024;

/**
 * Sends `doc` in pieces of {@link CHUNK_BYTES}: after each, the socket's buffer is let drain when
 * full, and the event loop is given back when the turn's shared budget is spent. Many readers of
 * one large document then take turns instead of each holding the loop for the whole of it. `head` is
 * written before it and `tail` after; the response ends unless `end` is false.
 */
export async function sendChunks(res: ServerResponse, doc: Buffer, opts: { head?: string; tail?: string; end?: boolean } = {}, slicer: Slicer | SharedSlicer = BACKGROUND): Promise<void> {
  const closed = () => res.destroyed || res.writableEnded;
  if (closed()) return;
  if (opts.head !== undefined) res.write(opts.head);
  for (let at = 0; at < doc.byteLength; at += CHUNK_BYTES) {
    if (closed()) return;
    if (!res.write(doc.subarray(at, at + CHUNK_BYTES))) await new Promise<void>((resolve) => {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
    await slicer.tick();
  }
  if (closed()) return;
  if (opts.tail !== undefined) res.write(opts.tail);
  if (opts.end !== false) res.end();
}
