import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';

/** A fresh folder under the OS temp dir; remove it with removeTempDir. */
export function makeTempDir(label: string): Promise<string> {
  return fsp.mkdtemp(path.join(os.tmpdir(), `wsrun-storage-${label}-`));
}

export async function removeTempDir(dir: string): Promise<void> {
  await fsp.rm(dir, { recursive: true, force: true });
}

/** Incompressible test data. */
export function randomData(bytes: number): Buffer {
  return randomBytes(bytes);
}

export function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Reads a stream to its end. */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks);
}

/** A stream of `data` in 64 KiB chunks (a Readable.from of one big Buffer would be a single chunk). */
export function streamOf(data: Buffer, chunkBytes = 64 * 1024): Readable {
  let off = 0;
  return new Readable({
    read() {
      if (off >= data.length) {
        this.push(null);
        return;
      }
      this.push(data.subarray(off, off + chunkBytes));
      off += chunkBytes;
    },
  });
}

/** A stream that delivers `bytesBeforeFailure` bytes of `data`, then fails with `message`, like a dropped upload. */
export function failingStream(data: Buffer, bytesBeforeFailure: number, message: string): Readable {
  let off = 0;
  return new Readable({
    read() {
      if (off >= bytesBeforeFailure) {
        // asynchronously, as a socket error would arrive
        setImmediate(() => this.destroy(new Error(message)));
        return;
      }
      const end = Math.min(off + 64 * 1024, bytesBeforeFailure);
      this.push(data.subarray(off, end));
      off = end;
    },
  });
}

/** Whatever a caller would notice: the exact WsError code and a message fragment. */
export async function expectWsError(promise: Promise<unknown>, code: string, message: string | RegExp): Promise<void> {
  await expect(promise).rejects.toMatchObject({ name: 'WsError', code });
  await promise.catch((err: Error) => {
    if (typeof message === 'string') expect(err.message).toContain(message);
    else expect(err.message).toMatch(message);
  });
}
