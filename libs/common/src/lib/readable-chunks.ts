import type { Readable } from 'node:stream';

/**
 * The chunks of a Readable one by one, as they were pushed. A Readable's own async iterator
 * calls read() without a size, which concatenates everything buffered into one new Buffer: a copy
 * of every byte of a 500 MiB download, and garbage for the collector. This reads 'data' events
 * (each one chunk, never copied) and pauses the stream while `highWater` bytes wait, so the
 * source keeps its backpressure.
 *
 * Returning early (break, or the consumer's iterator return()) destroys the stream, like
 * Readable's own iterator.
 */
export async function* readableChunks(stream: Readable, highWater = 1024 * 1024): AsyncGenerator<unknown, void, undefined> {
  // an object-mode stream (Readable.from) hands out whatever it holds: sized by length when it has one
  const sizeOf = (v: unknown): number => (typeof (v as { length?: unknown }).length === 'number' ? (v as { length: number }).length : 1);
  const queue: unknown[] = [];
  let queued = 0;
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (chunk: unknown): void => {
    queue.push(chunk);
    queued += sizeOf(chunk);
    if (queued >= highWater) stream.pause();
    notify();
  };
  const onEnd = (): void => {
    ended = true;
    notify();
  };
  const onError = (err: unknown): void => {
    failure = err;
    notify();
  };
  // a stream destroyed without an error never ends: close says it is over
  const onClose = (): void => {
    if (!ended && failure === undefined && !stream.readableEnded) failure = new Error('the stream was closed before it ended');
    notify();
  };
  stream.on('data', onData);
  stream.once('end', onEnd);
  stream.once('error', onError);
  stream.once('close', onClose);
  let finished = false;
  try {
    for (;;) {
      if (queue.length > 0) {
        const chunk = queue.shift();
        queued -= sizeOf(chunk);
        if (queued < highWater / 2 && stream.isPaused()) stream.resume();
        yield chunk;
        continue;
      }
      if (failure !== undefined) throw failure;
      if (ended) {
        finished = true;
        return;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    stream.off('data', onData);
    stream.off('end', onEnd);
    stream.off('error', onError);
    stream.off('close', onClose);
    // whoever stops reading has its answer: a later error (a destroy(err) on the way) is not unhandled
    stream.on('error', () => undefined);
    if (!finished) stream.destroy();
  }
}
