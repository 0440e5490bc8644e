import { randomBytes } from 'node:crypto';
import { download } from '../src/lib/download';
import { RangeServer } from './support/range-server';
import { consume, sha256 } from './support/consume';

const PIECE = 64 * 1024;

describe('download: bytes in order', () => {
  let server: RangeServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it.each([0, 1, PIECE - 1, PIECE, PIECE + 1])('returns exactly the %i bytes of the object', async (size) => {
    const body = randomBytes(size);
    server = await RangeServer.start({ body });
    const stream = download({ url: server.url, pieceSize: PIECE, connections: 4, expectedSize: size, expectedSha256: sha256(body) });
    const { data, error, ended } = await consume(stream);
    expect(error).toBeUndefined();
    expect(ended).toBe(true);
    expect(data.equals(body)).toBe(true);
    await expect(stream.result).resolves.toMatchObject({
      bytes: size,
      pieces: Math.ceil(size / PIECE),
      retries: 0,
      // an empty object answers the first range request with 416: there is nothing to segment
      segmented: size > 0,
    });
  });

  it('reassembles ~20 MiB of random data from many parallel pieces, reusing connections', async () => {
    const body = randomBytes(20 * 1024 * 1024 + 12345);
    server = await RangeServer.start({ body });
    const pieceSize = 256 * 1024;
    const stream = download({ url: server.url, pieceSize, connections: 8, expectedSize: body.length, expectedSha256: sha256(body) });
    const { data, error } = await consume(stream);
    expect(error).toBeUndefined();
    expect(data.equals(body)).toBe(true);
    const pieces = Math.ceil(body.length / pieceSize);
    await expect(stream.result).resolves.toMatchObject({ bytes: body.length, pieces, segmented: true, retries: 0 });
    // each piece asked for exactly once, the first one by the probe
    expect(server.log.map((e) => e.start ?? -1).sort((a, b) => a - b)).toEqual(Array.from({ length: pieces }, (_, i) => i * pieceSize));
    expect(server.log[0]).toMatchObject({ start: 0, end: pieceSize - 1 });
    expect(server.connectionsOpened).toBeLessThanOrEqual(8);
  });

  it('keeps several range requests in flight at once, but no more than `connections`', async () => {
    const body = randomBytes(2 * 1024 * 1024);
    server = await RangeServer.start({ body, delayMs: 20 });
    const { data } = await consume(download({ url: server.url, pieceSize: PIECE, connections: 4 }));
    expect(data.equals(body)).toBe(true);
    expect(server.maxConcurrent).toBeGreaterThan(1);
    expect(server.maxConcurrent).toBeLessThanOrEqual(4);
  });

  it('sends later pieces with If-Range so a changed object cannot be mixed in', async () => {
    const body = randomBytes(4 * PIECE);
    server = await RangeServer.start({ body });
    const { etag, log } = server;
    await consume(download({ url: server.url, pieceSize: PIECE }));
    expect(log[0].ifRange).toBeUndefined();
    expect(log.slice(1).every((e) => e.ifRange === etag)).toBe(true);
  });

  it('falls back to one stream when the server ignores Range, still verifying size and digest', async () => {
    const body = randomBytes(3 * PIECE + 7);
    server = await RangeServer.start({ body, ranges: false });
    const stream = download({ url: server.url, pieceSize: PIECE, expectedSize: body.length, expectedSha256: sha256(body) });
    const { data, error } = await consume(stream);
    expect(error).toBeUndefined();
    expect(data.equals(body)).toBe(true);
    expect(server.log).toHaveLength(1);
    await expect(stream.result).resolves.toMatchObject({ bytes: body.length, pieces: 1, segmented: false });
  });

  it('reports progress, ending with a call for the whole object', async () => {
    const body = randomBytes(16 * PIECE);
    server = await RangeServer.start({ body });
    const reports: { bytes: number; totalBytes?: number; bytesPerSecond: number }[] = [];
    await consume(download({ url: server.url, pieceSize: PIECE, onProgress: (p) => reports.push(p) }));
    expect(reports.length).toBeGreaterThanOrEqual(1);
    expect(reports.at(-1)).toMatchObject({ bytes: body.length, totalBytes: body.length });
    expect(reports.every((r, i) => r.bytesPerSecond >= 0 && (i === 0 || r.bytes >= reports[i - 1].bytes))).toBe(true);
  });
});
