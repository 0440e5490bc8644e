import { randomBytes } from 'node:crypto';
import { WsError, WsErrorCode } from '@wsrun/common';
import { download } from '../src/lib/download';
import { DownloadOptions } from '../src/lib/download-options';
import { RangeServer, type RangeServerOptions } from './support/range-server';
import { consume, sha256 } from './support/consume';

const PIECE = 64 * 1024;

describe('download: failures', () => {
  let server: RangeServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  async function run(serverOptions: RangeServerOptions, options: Omit<DownloadOptions, 'url'> = {}) {
    server = await RangeServer.start(serverOptions);
    const stream = download({ url: server.url, pieceSize: PIECE, connections: 4, ...options });
    const outcome = await consume(stream);
    return { ...outcome, stream, server };
  }

  function expectWsError(error: unknown, code: WsErrorCode): WsError {
    expect(error).toBeInstanceOf(WsError);
    expect((error as WsError).code).toBe(code);
    // the URL is named, its signature is not
    expect((error as WsError).message).toContain('http://127.0.0.1:');
    expect((error as WsError).message).toContain('/backups/ws-1.tar');
    expect((error as WsError).message).not.toContain('s3cr3t');
    return error as WsError;
  }

  it('retries resets, 503, 429 and a wrong Content-Range, resuming pieces, and returns identical bytes', async () => {
    const body = randomBytes(16 * PIECE);
    const { data, error, stream, server } = await run({
      body,
      faults: [
        { start: 0, kind: 'reset' }, // the probe: the first piece goes out while it arrives
        { start: 3 * PIECE, kind: 'reset' },
        { start: 7 * PIECE, kind: 'reset' },
        { start: 5 * PIECE, kind: 503 },
        { start: 9 * PIECE, kind: 429 },
        { start: 11 * PIECE, kind: 'wrong-range' },
      ],
    }, { expectedSha256: sha256(body) });
    expect(error).toBeUndefined();
    expect(data.equals(body)).toBe(true);
    await expect(stream.result).resolves.toMatchObject({ retries: 6, segmented: true });
    // a reset piece is resumed after the bytes it already had, from the same version
    for (const start of [0, 3 * PIECE, 7 * PIECE]) {
      const resumed = server.log.filter((e) => (e.start ?? -1) > start && (e.start ?? -1) < start + PIECE);
      expect(resumed).toHaveLength(1);
      expect(resumed[0]).toMatchObject({ end: start + PIECE - 1, ifRange: server.etag, status: 206 });
    }
  });

  it('fails with UNAVAILABLE naming the byte range once a piece has used up its retries', async () => {
    const { error, ended, server } = await run({ body: randomBytes(4 * PIECE), faults: [{ start: PIECE, nth: 'all', kind: 503 }] }, { retries: 2 });
    const err = expectWsError(error, WsErrorCode.Unavailable);
    expect(err.message).toContain(`bytes=${PIECE}-${2 * PIECE - 1}`);
    expect(err.message).toContain('HTTP 503');
    expect(err.message).toContain('gave up after 3 attempts');
    expect(ended).toBe(false);
    expect(server.log.filter((e) => e.start === PIECE)).toHaveLength(3);
  });

  it('fails at once with NOT_FOUND on 404, without retrying', async () => {
    const { error, server } = await run({ body: randomBytes(PIECE), status: 404 });
    expect(expectWsError(error, WsErrorCode.NotFound).message).toContain('HTTP 404');
    expect(server.log).toHaveLength(1);
  });

  it('fails at once with PERMISSION_DENIED on 403', async () => {
    const { error, server } = await run({ body: randomBytes(PIECE), status: 403 });
    expect(expectWsError(error, WsErrorCode.PermissionDenied).message).toContain('HTTP 403');
    expect(server.log).toHaveLength(1);
  });

  it('fails with NOT_FOUND when a later piece gets a 404, without retrying it', async () => {
    const { error, server } = await run({ body: randomBytes(8 * PIECE), faults: [{ start: 2 * PIECE, kind: 404 }] });
    expect(expectWsError(error, WsErrorCode.NotFound).message).toContain(`bytes=${2 * PIECE}-${3 * PIECE - 1}`);
    expect(server.log.filter((e) => e.start === 2 * PIECE)).toHaveLength(1);
  });

  it('errors instead of ending when the digest does not match', async () => {
    const body = randomBytes(5 * PIECE);
    const { data, error, ended, stream } = await run({ body }, { expectedSha256: sha256(Buffer.from('something else')) });
    expect(expectWsError(error, WsErrorCode.FailedPrecondition).message).toContain('sha256 mismatch');
    expect(ended).toBe(false);
    // destroying drops what the stream still buffered; what the consumer got is a true prefix
    expect(data.equals(body.subarray(0, data.length))).toBe(true);
    await expect(stream.result).rejects.toBe(error);
  });

  it('errors on a digest mismatch in the single-stream fallback too', async () => {
    const { error, ended } = await run({ body: randomBytes(PIECE), ranges: false }, { expectedSha256: sha256(Buffer.alloc(1)) });
    expect(expectWsError(error, WsErrorCode.FailedPrecondition).message).toContain('sha256 mismatch');
    expect(ended).toBe(false);
  });

  it('fails before reading the body when the server announces a length other than expectedSize', async () => {
    const { data, error, server } = await run({ body: randomBytes(4 * PIECE) }, { expectedSize: 4 * PIECE + 1 });
    expect(expectWsError(error, WsErrorCode.FailedPrecondition).message).toContain(`announced ${4 * PIECE} bytes, expected ${4 * PIECE + 1}`);
    expect(data.length).toBe(0);
    expect(server.log).toHaveLength(1);
  });

  it('detects an object that changes during the download (server honours If-Range)', async () => {
    const body = randomBytes(16 * PIECE);
    const { error, ended } = await run({ body, change: { afterRequests: 3, body: randomBytes(body.length) } });
    expect(expectWsError(error, WsErrorCode.FailedPrecondition).message).toContain('the object changed during the download: its ETag went from');
    expect(ended).toBe(false);
  });

  it('detects an object that changes during the download (server ignores If-Range)', async () => {
    const body = randomBytes(16 * PIECE);
    const { error, ended } = await run({ body, honorIfRange: false, change: { afterRequests: 3, body: randomBytes(body.length + 1) } });
    expect(expectWsError(error, WsErrorCode.FailedPrecondition).message).toContain('its length went from');
    expect(ended).toBe(false);
  });

  it('retries a piece whose response stalls past the inactivity timeout', async () => {
    const body = randomBytes(4 * PIECE);
    // 1 s: a pause of the test process (GC, a busy machine) must not look like a stall too
    const { data, error, stream } = await run({ body, faults: [{ start: PIECE, kind: 'stall' }] }, { timeoutMs: 1000 });
    expect(error).toBeUndefined();
    expect(data.equals(body)).toBe(true);
    await expect(stream.result).resolves.toMatchObject({ retries: 1 });
  });

  it('fails with DEADLINE_EXCEEDED when every attempt stalls', async () => {
    const { error } = await run({ body: randomBytes(4 * PIECE), faults: [{ start: 0, nth: 'all', kind: 'stall' }] }, { timeoutMs: 100, retries: 1 });
    expect(expectWsError(error, WsErrorCode.DeadlineExceeded).message).toContain('no data for 100 ms');
  });
});
