/**
 * Pulls exact byte counts out of an async iterable of chunks. It asks the source for the next
 * chunk only when its buffer runs dry, so a Readable source keeps its backpressure; body bytes
 * are handed out as views of the source's chunks, never copied.
 */
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
    this.source = input[Symbol.asyncIterator]();
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

  /** Exactly n bytes, or fewer only when the input ended first (the caller decides what that means). */
  async read(n: number): Promise<Buffer> {
    while (this.buffered < n && (await this.pull()));
    const take = Math.min(n, this.buffered);
    let out: Buffer;
    if (this.chunks.length > 0 && this.chunks[0].length >= take) out = this.take(take);
    else {
      const parts: Buffer[] = [];
      for (let left = take; left > 0; ) {
        const part = this.take(Math.min(left, this.chunks[0].length));
        parts.push(part);
        left -= part.length;
      }
      out = Buffer.concat(parts, take);
    }
    return out;
  }

  /** Up to `max` bytes (at least 1) as a view of a source chunk; an empty buffer at the end of the input. */
  async readSome(max: number): Promise<Buffer> {
    if (this.buffered === 0 && !(await this.pullNonEmpty())) return Buffer.alloc(0);
    return this.take(Math.min(max, this.chunks[0].length));
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
