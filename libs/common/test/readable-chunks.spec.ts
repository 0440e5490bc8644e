import { PassThrough, Readable } from 'node:stream';
import { readableChunks } from '../src';

describe('readableChunks', () => {
  it('yields the very chunks that were written, never a concatenation of them', async () => {
    const stream = new PassThrough();
    const written = Array.from({ length: 50 }, (_, i) => Buffer.alloc(1000, i));
    for (const b of written) stream.write(b);
    stream.end();
    const seen: unknown[] = [];
    for await (const chunk of readableChunks(stream)) seen.push(chunk);
    expect(seen).toHaveLength(50);
    seen.forEach((chunk, i) => expect(chunk).toBe(written[i]));
  });

  it('pauses a fast source while the consumer is behind (backpressure)', async () => {
    let produced = 0;
    const source = new Readable({
      read() {
        produced += 64 * 1024;
        this.push(produced > 64 * 1024 * 1024 ? null : Buffer.alloc(64 * 1024));
      },
    });
    const it = readableChunks(source, 256 * 1024)[Symbol.asyncIterator]();
    await it.next();
    await new Promise((resolve) => setTimeout(resolve, 100));
    // the high water mark plus the Readable's own buffer, nowhere near the 64 MiB on offer
    expect(produced).toBeLessThan(2 * 1024 * 1024);
    await it.return?.();
    expect(source.destroyed).toBe(true);
  });

  it('rethrows the stream error, and a stream destroyed without one fails too', async () => {
    const failing = new PassThrough();
    failing.write(Buffer.from('a'));
    setImmediate(() => failing.destroy(new Error('network down')));
    await expect((async () => {
      for await (const _ of readableChunks(failing)) void _;
    })()).rejects.toThrow('network down');

    const cut = new PassThrough();
    setImmediate(() => cut.destroy());
    await expect((async () => {
      for await (const _ of readableChunks(cut)) void _;
    })()).rejects.toThrow('closed before it ended');
  });
});
