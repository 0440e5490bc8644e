import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { WsError, WsErrorCode } from '@wsrun/common';
import { download } from '../src/lib/download';
import { RangeServer } from './support/range-server';
import { consume } from './support/consume';

const PIECE = 64 * 1024;

describe('download: cancellation and backpressure', () => {
  let server: RangeServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('cancels every request when the signal aborts: CANCELLED, and the sockets are closed', async () => {
    server = await RangeServer.start({ body: randomBytes(8 * 1024 * 1024), bytesPerSecond: 1024 * 1024 });
    const controller = new AbortController();
    const stream = download({ url: server.url, pieceSize: 256 * 1024, connections: 4, signal: controller.signal });
    stream.once('data', () => controller.abort());
    const { error, ended } = await consume(stream);
    expect(error).toBeInstanceOf(WsError);
    expect((error as WsError).code).toBe(WsErrorCode.Cancelled);
    expect((error as WsError).message).toMatch(/^download of http:\/\/127\.0\.0\.1:\d+\/backups\/ws-1\.tar was cancelled$/);
    expect(ended).toBe(false);
    await expect(stream.result).rejects.toBe(error);
    await server.allConnectionsClosed();
  });

  it('sends no request when the signal is already aborted', async () => {
    server = await RangeServer.start({ body: randomBytes(PIECE) });
    const controller = new AbortController();
    controller.abort();
    const { error } = await consume(download({ url: server.url, signal: controller.signal }));
    expect((error as WsError).code).toBe(WsErrorCode.Cancelled);
    expect(server.log).toHaveLength(0);
  });

  it('stops and closes its sockets when the consumer destroys the stream', async () => {
    server = await RangeServer.start({ body: randomBytes(8 * 1024 * 1024), bytesPerSecond: 1024 * 1024 });
    const stream = download({ url: server.url, pieceSize: 256 * 1024, connections: 4 });
    stream.resume();
    await once(stream, 'data');
    stream.destroy();
    await expect(stream.result).rejects.toMatchObject({ code: WsErrorCode.Cancelled });
    await server.allConnectionsClosed();
  });

  it('fails the download when the progress callback throws', async () => {
    server = await RangeServer.start({ body: randomBytes(PIECE) });
    const onProgress = (): void => {
      throw new Error('dashboard is down');
    };
    const { error } = await consume(download({ url: server.url, onProgress }));
    expect((error as WsError).code).toBe(WsErrorCode.Internal);
    expect((error as WsError).message).toContain('onProgress: dashboard is down');
  });

  it('pauses a single-stream fallback for a stalled consumer without tripping the inactivity timeout', async () => {
    const body = randomBytes(4 * 1024 * 1024);
    server = await RangeServer.start({ body, ranges: false });
    const stream = download({ url: server.url, timeoutMs: 1000 });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) {
      // longer than the timeout: the paused response must not count as a dead connection
      if (chunks.length === 0) await sleep(2500);
      chunks.push(chunk as Buffer);
    }
    expect(Buffer.concat(chunks).equals(body)).toBe(true);
    await expect(stream.result).resolves.toMatchObject({ segmented: false, retries: 0 });
  });

  it('never requests more than maxBufferedBytes ahead of a slow consumer, and stops while it stops', async () => {
    const body = randomBytes(4 * 1024 * 1024);
    const maxBufferedBytes = 4 * PIECE;
    let consumed = 0;
    let maxAhead = 0;
    server = await RangeServer.start({
      body,
      // checked as each request arrives: how far past the consumer's position it reaches
      onRequest: (entry) => (maxAhead = Math.max(maxAhead, (entry.end ?? Infinity) + 1 - consumed)),
    });
    const stream = download({ url: server.url, pieceSize: PIECE, connections: 2, maxBufferedBytes });
    const chunks: Buffer[] = [];
    let stalled = false;
    let requestsWhileStalled = 0;
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      consumed += (chunk as Buffer).length;
      if (!stalled) {
        // the consumer stops for a while: the download must stop too, far from the end
        stalled = true;
        await sleep(300);
        requestsWhileStalled = server.log.length;
      } else {
        await sleep(1);
      }
    }
    expect(Buffer.concat(chunks).equals(body)).toBe(true);
    // what was requested and not yet consumed fits in the budget plus the stream's own buffer
    // (which a push may overshoot by one socket read)
    const slack = stream.readableHighWaterMark + 64 * 1024;
    expect(maxAhead).toBeLessThanOrEqual(maxBufferedBytes + slack);
    expect(requestsWhileStalled * PIECE).toBeLessThanOrEqual(maxBufferedBytes + slack + PIECE);
    expect(requestsWhileStalled).toBeLessThan(body.length / PIECE);
    // and nothing was fetched twice
    expect(server.log).toHaveLength(body.length / PIECE);
  });
});
