import { createHash, type Hash } from 'node:crypto';

/** Checks the bytes handed to the consumer against what the caller and the server said they would be. */
export class OutputVerifier {
  // hashing costs throughput, so only when there is a digest to compare with
  private readonly hash?: Hash;

  constructor(
    private readonly expectedSize: number | undefined,
    private readonly expectedSha256: string | undefined,
  ) {
    if (expectedSha256 !== undefined) this.hash = createHash('sha256');
  }

  /** Feeds the bytes in output order. */
  update(chunk: Buffer): void {
    this.hash?.update(chunk);
  }

  /** Why the `bytes` delivered are wrong, or undefined; `announcedSize` is the length the server gave, if any. */
  mismatch(bytes: number, announcedSize: number | undefined): string | undefined {
    if (announcedSize !== undefined && bytes !== announcedSize) return `received ${bytes} bytes, the server announced ${announcedSize}`;
    if (this.expectedSize !== undefined && bytes !== this.expectedSize) return `received ${bytes} bytes, expected ${this.expectedSize}`;
    if (this.hash !== undefined) {
      const actual = this.hash.digest('hex');
      if (actual !== this.expectedSha256) return `sha256 mismatch: expected ${this.expectedSha256}, got ${actual} over ${bytes} bytes`;
    }
    return undefined;
  }
}
