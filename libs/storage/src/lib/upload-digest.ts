import { createHash, type Hash } from 'node:crypto';
import { WsError, WsErrorCode } from '@wsrun/common';
import type { PutOptions, PutResult } from './object-storage';

const SHA256_HEX_RE = /^[0-9a-f]{64}$/;

/** Returns normalized put options (lowercase sha256); throws WsError(INVALID_ARGUMENT) for malformed ones. */
export function validatePutOptions(opts: PutOptions | undefined): PutOptions {
  const out: PutOptions = {};
  if (opts?.expectedSize !== undefined) {
    if (!Number.isSafeInteger(opts.expectedSize) || opts.expectedSize < 0) {
      throw new WsError(WsErrorCode.InvalidArgument, `invalid expectedSize ${opts.expectedSize}: must be a non-negative integer`);
    }
    out.expectedSize = opts.expectedSize;
  }
  if (opts?.expectedSha256 !== undefined) {
    const sha = String(opts.expectedSha256).toLowerCase();
    if (!SHA256_HEX_RE.test(sha)) {
      throw new WsError(WsErrorCode.InvalidArgument, `invalid expectedSha256 ${JSON.stringify(opts.expectedSha256)}: must be 64 hex digits`);
    }
    out.expectedSha256 = sha;
  }
  return out;
}

/**
 * Counts and hashes an upload while it streams, so both backends check the same way. `update`
 * fails as soon as more bytes than expected arrive (no point storing the rest of a wrong upload);
 * `finish` fails on any size or sha256 mismatch. The caller commits only after `finish` returned.
 */
export class UploadDigest {
  private readonly hash: Hash = createHash('sha256');
  private size = 0;

  constructor(
    private readonly what: string,
    private readonly expected: PutOptions,
  ) {}

  get bytes(): number {
    return this.size;
  }

  update(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.expected.expectedSize !== undefined && this.size > this.expected.expectedSize) {
      throw new WsError(
        WsErrorCode.InvalidArgument,
        `${this.what}: size mismatch: expected ${this.expected.expectedSize} bytes, received more`,
      );
    }
    this.hash.update(chunk);
  }

  finish(): PutResult {
    const sha256 = this.hash.digest('hex');
    const { expectedSize, expectedSha256 } = this.expected;
    if (expectedSize !== undefined && this.size !== expectedSize) {
      throw new WsError(WsErrorCode.InvalidArgument, `${this.what}: size mismatch: expected ${expectedSize} bytes, received ${this.size}`);
    }
    if (expectedSha256 !== undefined && sha256 !== expectedSha256) {
      throw new WsError(WsErrorCode.InvalidArgument, `${this.what}: sha256 mismatch: expected ${expectedSha256}, received ${sha256}`);
    }
    return { size: this.size, sha256 };
  }
}

/** Chunks of a stream as Buffers (object-mode or string streams would otherwise leak through). */
export function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk);
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new WsError(WsErrorCode.InvalidArgument, `upload stream produced a ${typeof chunk} chunk; expected bytes`);
}
