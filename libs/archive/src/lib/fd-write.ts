import * as fs from 'node:fs';

/**
 * Streams chunks into a fresh file: chunks are gathered up to BATCH bytes and written with one
 * positioned writev, and while one batch is being written the next one is gathered (so reading
 * the archive and writing the disk overlap). A third batch waits for the write in flight, so a
 * slow disk slows the source down instead of filling memory (at most two batches are held).
 */

const BATCH = 512 * 1024;

/** Writes all of `chunks` to fd from offset 0; onWritten(n) after each write. Rejects with the fs error. */
export async function writeChunks(fd: number, chunks: AsyncIterable<Buffer>, onWritten: (bytes: number) => void): Promise<void> {
  let batch: Buffer[] = [];
  let batched = 0;
  let position = 0;
  let inFlight: Promise<void> | undefined;
  const flush = async (): Promise<void> => {
    const buffers = batch;
    const n = batched;
    const at = position;
    batch = [];
    batched = 0;
    position += n;
    if (inFlight) await inFlight;
    inFlight = writeAll(fd, buffers, at).then(() => onWritten(n));
    // a failure is reported by the next await of inFlight
    inFlight.catch(() => undefined);
  };
  try {
    for await (const chunk of chunks) {
      batch.push(chunk);
      batched += chunk.length;
      if (batched >= BATCH) await flush();
    }
    if (batched > 0) await flush();
  } finally {
    // never return with a write in flight: the caller closes fd next, and a reused fd number
    // would receive the write
    if (inFlight) await inFlight.catch(() => undefined);
  }
  await inFlight;
}

function writev(fd: number, buffers: Buffer[], position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.writev(fd, buffers, position, (err, n) => (err ? reject(err) : resolve(n))));
}

/**
 * Writes buffers to fd from `position` with blocking writev calls. For bodies the parser already
 * holds in memory: a thread-pool round trip costs more than the write itself (page cache).
 */
export function writeAllSync(fd: number, buffers: Buffer[], position: number): void {
  let rest = buffers;
  let at = position;
  while (rest.length > 0) {
    const n = fs.writevSync(fd, rest, at);
    at += n;
    rest = afterWritten(rest, n, fd);
  }
}

/** What is left of buffers after a write of n bytes; EIO when a write made no progress. */
function afterWritten(buffers: Buffer[], n: number, fd: number): Buffer[] {
  if (n === 0 && buffers.some((b) => b.length > 0)) throw Object.assign(new Error(`write to fd ${fd} made no progress`), { code: 'EIO' });
  let rest = buffers;
  while (rest.length > 0 && n >= rest[0].length) {
    n -= rest[0].length;
    rest = rest.slice(1);
  }
  if (rest.length > 0 && n > 0) rest = [rest[0].subarray(n), ...rest.slice(1)];
  return rest;
}

/** writev until every byte is written (a regular file rarely takes less, but it may). */
async function writeAll(fd: number, buffers: Buffer[], position: number): Promise<void> {
  let rest = buffers;
  let at = position;
  while (rest.length > 0) {
    const n = await writev(fd, rest, at);
    at += n;
    rest = afterWritten(rest, n, fd);
  }
}
