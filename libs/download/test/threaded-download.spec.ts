import { buildSync } from 'esbuild';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ThreadedDownload } from '../src';
import { consume, sha256 } from './support/consume';
import { RangeServer } from './support/range-server';

// The download on a worker thread: the same bytes, checks and errors as download(), from a real
// worker running the bundled script.
describe('ThreadedDownload', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wsrun-download-thread-'));
  const workerFile = join(dir, 'download-thread.js');
  let server: RangeServer | undefined;
  beforeAll(() => {
    buildSync({
      entryPoints: [resolve(__dirname, 'fixtures/download-thread.ts')],
      outfile: workerFile,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      tsconfig: resolve(__dirname, '../tsconfig.lib.json'),
      logLevel: 'error',
    });
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('hands over exactly the object, verified, with progress and the result', async () => {
    const body = randomBytes(9 * 1024 * 1024 + 777);
    server = await RangeServer.start({ body });
    const progress: number[] = [];
    const stream = new ThreadedDownload(workerFile, { url: server.url, pieceSize: 256 * 1024, connections: 4, expectedSize: body.length, expectedSha256: sha256(body), onProgress: (p) => progress.push(p.bytes) });
    const { data, error, ended } = await consume(stream);
    expect(error).toBeUndefined();
    expect(ended).toBe(true);
    expect(data.equals(body)).toBe(true);
    await expect(stream.result).resolves.toMatchObject({ bytes: body.length, segmented: true });
    expect(progress[progress.length - 1]).toBe(body.length);
  });

  it('fails like download() on a digest mismatch and on a missing object, and refuses bad options at once', async () => {
    const body = randomBytes(300_000);
    server = await RangeServer.start({ body });
    const wrong = new ThreadedDownload(workerFile, { url: server.url, expectedSha256: sha256(Buffer.from('something else')) });
    const r = await consume(wrong);
    expect(r.ended).toBe(false);
    expect(r.error).toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringContaining('sha256 mismatch') });
    await expect(wrong.result).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });

    await server.close();
    server = await RangeServer.start({ body, status: 404 });
    const missing = new ThreadedDownload(workerFile, { url: server.url });
    expect((await consume(missing)).error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('HTTP 404') });

    expect(() => new ThreadedDownload(workerFile, { url: 'ftp://example.com/x' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });

  it('stops the transfer when destroyed or aborted: result rejects CANCELLED', async () => {
    const body = randomBytes(8 * 1024 * 1024);
    server = await RangeServer.start({ body });
    const abort = new AbortController();
    const stream = new ThreadedDownload(workerFile, { url: server.url, pieceSize: 64 * 1024, connections: 2, signal: abort.signal });
    const failed = new Promise<unknown>((resolveError) => stream.once('error', resolveError));
    const first = await new Promise<Buffer>((resolveChunk) => stream.once('data', resolveChunk));
    expect(first.length).toBeGreaterThan(0);
    abort.abort();
    await expect(stream.result).rejects.toMatchObject({ code: 'CANCELLED' });
    await expect(failed).resolves.toMatchObject({ code: 'CANCELLED' });
    expect(stream.destroyed).toBe(true);
  });
});
