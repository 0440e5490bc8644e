import type { Readable } from 'node:stream';
import { readableChunks } from '@wsrun/common';

/**
 * Pulls exact byte counts out of an async iterable of chunks. It asks the source for the next
 * chunk only when its buffer runs dry, so a Readable source keeps its backpressure; body bytes
 * are handed out as views of the source's chunks, never copied.
 */
function isReadable(input: unknown): input is Readable {
  const r = input as Partial<Readable>;
  return typeof r.on === 'function' && typeof r.pause === 'function' && typeof r.resume === 'function' && typeof r.readableLength === 'number';
}

export class ByteReader {
  private readonly source: AsyncIterator<unknown>;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  /** bytes handed out so far: the archive offset of the next byte */
  position = 0;

  /** rejects when the signal aborts, so that a stalled source cannot hold a reader forever */
  private readonly aborted: Promise<never> | undefined;
  private detach: (() => void) | undefined;

  constructor(input: AsyncIterable<unknown>, signal?: AbortSignal, abortError?: () => Error) {
    // a Readable's own iterator would concatenate what it buffers (see readableChunks)
    this.source = (isReadable(input) ? readableChunks(input) : input)[Symbol.asyncIterator]();
    if (signal) {
      this.aborted = new Promise<never>((_resolve, reject) => {
        const onAbort = (): void => reject(abortError?.() ?? signal.reason);
        if (signal.aborted) onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        this.detach = () => signal.removeEventListener('abort', onAbort);
      });
      this.aborted.catch(() => undefined);
    }
  }

  /** Pulls one more chunk; false at the end of the input. */
  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    const next = this.aborted ? await Promise.race([this.source.next(), this.aborted]) : await this.source.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    const v = next.value;
    const chunk = Buffer.isBuffer(v) ? v : v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : Buffer.from(String(v));
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    return true;
  }

  /** Bytes held and not handed out yet. */
  get available(): number {
    return this.buffered;
  }

  /**
   * Exactly n bytes when they are already held (no await, so no microtask hop per header), else
   * undefined and nothing is consumed.
   */
  tryRead(n: number): Buffer | undefined {
    return this.buffered >= n ? this.gather(n) : undefined;
  }

  /** Exactly n bytes, or fewer only when the input ended first (the caller decides what that means). */
  async read(n: number): Promise<Buffer> {
    while (this.buffered < n && (await this.pull()));
    return this.gather(Math.min(n, this.buffered));
  }

  /** `n` bytes (≤ available) as one buffer: a view when one chunk holds them, else a copy. */
  gather(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    if (this.chunks[0].length >= n) return this.take(n);
    return Buffer.concat(this.takeViews(n), n);
  }

  /** Up to `max` bytes (at least 1) as a view of a source chunk; an empty buffer at the end of the input. */
  async readSome(max: number): Promise<Buffer> {
    if (this.buffered === 0 && !(await this.pullNonEmpty())) return Buffer.alloc(0);
    return this.take(Math.min(max, this.chunks[0].length));
  }

  /** The next n bytes (≤ available) as views of the source chunks, without copying. */
  takeViews(n: number): Buffer[] {
    const out: Buffer[] = [];
    for (let left = n; left > 0; ) {
      const part = this.take(Math.min(left, this.chunks[0].length));
      out.push(part);
      left -= part.length;
    }
    return out;
  }

  /** Drops the next n bytes (≤ available). */
  skip(n: number): void {
    for (let left = n; left > 0; ) {
      const first = this.chunks[0];
      if (left >= first.length) {
        this.chunks.shift();
        left -= first.length;
        this.buffered -= first.length;
        this.position += first.length;
      } else {
        this.chunks[0] = first.subarray(left);
        this.buffered -= left;
        this.position += left;
        left = 0;
      }
    }
  }

  private async pullNonEmpty(): Promise<boolean> {
    while (this.buffered === 0) if (!(await this.pull())) return false;
    return true;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    let out: Buffer;
    if (n === first.length) {
      out = first;
      this.chunks.shift();
    } else {
      out = first.subarray(0, n);
      this.chunks[0] = first.subarray(n);
    }
    this.buffered -= n;
    this.position += n;
    return out;
  }

  /**
   * Stops the source (a Readable is destroyed by its iterator's return()). Not awaited: an async
   * generator stuck in a pending next() (the cancelled case) would never settle its return().
   */
  close(): void {
    this.detach?.();
    this.chunks = [];
    this.buffered = 0;
    if (!this.ended) {
      this.ended = true;
      Promise.resolve(this.source.return?.()).catch(() => undefined);
    }
  }
}
