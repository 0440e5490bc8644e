import { Transform, type TransformCallback } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A token bucket: `bytesPerSecond` tokens flow in continuously, at most `burstBytes` are kept.
 * `take(n)` spends n tokens (going into debt if needed) and returns how long to wait until that
 * debt is paid, so callers sleep instead of polling. `now` is injectable for tests.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly bytesPerSecond: number,
    readonly burstBytes: number = Math.max(16 * 1024, Math.floor(bytesPerSecond / 10)),
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(bytesPerSecond > 0)) throw new RangeError(`bytesPerSecond must be positive, got ${bytesPerSecond}`);
    this.tokens = burstBytes;
    this.last = now();
  }

  /** Spends `n` tokens; returns the milliseconds to wait before sending them (0 when in budget). */
  take(n: number): number {
    const t = this.now();
    this.tokens = Math.min(this.burstBytes, this.tokens + ((t - this.last) * this.bytesPerSecond) / 1000);
    this.last = t;
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.bytesPerSecond;
  }
}

/**
 * Passes bytes through no faster than its bucket allows. Chunks are split to at most the burst
 * size so one large chunk cannot overshoot the rate by more than one burst. Several streams may
 * share one bucket (one per connection): they then share its rate.
 */
export class ThrottleStream extends Transform {
  constructor(private readonly bucket: TokenBucket) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.pace(chunk).then(() => done(), done);
  }

  private async pace(chunk: Buffer): Promise<void> {
    for (let off = 0; off < chunk.length; off += this.bucket.burstBytes) {
      const piece = chunk.subarray(off, off + this.bucket.burstBytes);
      const waitMs = this.bucket.take(piece.length);
      if (waitMs > 0) await sleep(waitMs);
      if (this.destroyed) return;
      this.push(piece);
    }
  }
}
