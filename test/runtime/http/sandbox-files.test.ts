/**
 * What an agent serves from its work dir, on a real file system: a sandbox's files, read as
 * Mesos' `/files/read` reads (`offset` -1 tells the size; reads capped at 64 KiB), and nothing
 * else — not a path outside the work dir (by `..`, by an absolute path, or by a link planted in a
 * sandbox), not the agent's `meta`, not a FIFO that would block the reader.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_READ_BYTES, SandboxFiles, modeString, wholeUtf8, type FileInfo } from '../../../runtime/http/sandbox-files.ts';

const root = mkdtempSync(join(tmpdir(), 'sandbox-files-'));
const work = join(root, 'work');
const sandbox = join(work, 'agents', 'S1', 'frameworks', 'F1', 'executors', 'e1', 'runs', 'c1');
const outside = join(root, 'secret.txt');
mkdirSync(sandbox, { recursive: true });
mkdirSync(join(work, 'meta'));
writeFileSync(join(work, 'meta', 'executor-secret'), 'do not serve');
writeFileSync(outside, 'outside');
writeFileSync(join(sandbox, 'stdout'), 'hello\n');
writeFileSync(join(sandbox, 'stderr'), '');
writeFileSync(join(sandbox, 'big'), Buffer.alloc(MAX_READ_BYTES + 10, 'a'));
symlinkSync(outside, join(sandbox, 'escape'));
symlinkSync(root, join(sandbox, 'up'));
execFileSync('mkfifo', [join(sandbox, 'fifo')]);
const files = new SandboxFiles(work);

test.after.always(() => rmSync(root, { recursive: true, force: true }));

test('a sandbox file reads from an offset; offset -1 (or none) tells the size; a read is at most 64 KiB', async (t) => {
  t.like(await files.read(join(sandbox, 'stdout'), 0), { offset: 0, size: 6 });
  t.is((await files.read(join(sandbox, 'stdout'), 2, 3) as { data: Buffer }).data.toString(), 'llo');
  t.like(await files.read(join(sandbox, 'stdout')), { offset: 6, size: 6, data: Buffer.alloc(0) });
  t.like(await files.read(join(sandbox, 'stdout'), 99), { offset: 6, data: Buffer.alloc(0) });
  t.is((await files.read(join(sandbox, 'big'), 0) as { data: Buffer }).data.length, MAX_READ_BYTES);
  // Relative to the work dir, too.
  t.is((await files.read('agents/S1/frameworks/F1/executors/e1/runs/c1/stdout', 0) as { data: Buffer }).data.toString(), 'hello\n');
  t.like(await files.read(join(sandbox, 'stdout'), -2), { status: 400 });
  t.like(await files.read(join(sandbox, 'stdout'), Number.NaN), { status: 400 });
});

test('a sandbox lists its files with Mesos\' file info; the work dir\'s listing leaves `meta` out', async (t) => {
  const listed = await files.browse(sandbox) as FileInfo[];
  t.deepEqual(listed.map((f) => f.path), ['big', 'escape', 'fifo', 'stderr', 'stdout', 'up'].map((n) => join(sandbox, n)));
  const stdout = listed.find((f) => f.path.endsWith('/stdout'))!;
  t.like(stdout, { size: 6, nlink: 1 });
  t.regex(stdout.mode, /^-rw/);
  t.is(typeof stdout.uid, 'string');
  t.true(Number.isInteger(stdout.mtime));
  t.is(listed.find((f) => f.path.endsWith('/escape'))!.mode[0], 'l', 'a link is shown as a link, not followed');
  t.deepEqual((await files.browse(work) as FileInfo[]).map((f) => f.path), [join(work, 'agents')]);
});

test('nothing outside the work dir is served: `..`, absolute paths, links out of a sandbox, the agent\'s meta; a FIFO is not read', async (t) => {
  for (const p of [outside, '/etc/passwd', join(work, '..', 'secret.txt'), '../secret.txt', `${sandbox}/${'../'.repeat(9)}secret.txt`]) {
    t.like(await files.read(p, 0), { status: 403 }, p);
    t.like(await files.browse(p), { status: 403 }, p);
  }
  t.like(await files.read(join(sandbox, 'escape'), 0), { status: 403 });
  t.like(await files.read(join(sandbox, 'up', 'secret.txt'), 0), { status: 403 });
  t.like(await files.browse(join(sandbox, 'up')), { status: 403 });
  t.like(await files.read(join(work, 'meta', 'executor-secret'), 0), { status: 403 });
  t.like(await files.browse(join(work, 'meta')), { status: 403 });
  t.like(await files.read(join(sandbox, 'fifo'), 0), { status: 400 });
  t.like(await files.read(sandbox, 0), { status: 400 });
  t.like(await files.read(join(sandbox, 'missing'), 0), { status: 404 });
  t.like(await files.read('', 0), { status: 400 });
});

test('modeString and wholeUtf8', (t) => {
  t.is(modeString(0o40755), 'drwxr-xr-x');
  t.is(modeString(0o100640), '-rw-r-----');
  const euro = Buffer.from('a€', 'utf8'); // 61 e2 82 ac
  t.deepEqual(wholeUtf8(euro), euro);
  t.deepEqual(wholeUtf8(euro.subarray(0, 3)), Buffer.from('a'));
  t.deepEqual(wholeUtf8(euro.subarray(0, 2)), Buffer.from('a'));
  t.deepEqual(wholeUtf8(Buffer.from('abc')), Buffer.from('abc'));
});
