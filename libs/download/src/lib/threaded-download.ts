import { readableChunks, WsError, WsErrorCode } from '@wsrun/common';
import { Readable } from 'node:stream';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { download } from './download';
import { resolveDownloadOptions, type DownloadOptions, type DownloadProgress, type DownloadResult } from './download-options';

/**
 * A download on its own thread: the HTTP work (parsing, piece ordering, the digest) runs in a
 * worker while this thread consumes the bytes, e.g. extracting them. On one thread the two take
 * turns; here they use two cores, which is what `curl | tar` gets from being two processes.
 *
 * The worker hands the bytes over in 1 MiB batches whose memory is transferred, not copied, and
 * holds at most MAX_UNACKED batches that this side has not taken yet: backpressure reaches the
 * HTTP connections as it does with download(). The stream behaves like download()'s: errors
 * carry the same WsError codes, `result` settles the same way, destroy() stops the transfer.
 *
 * The worker runs `workerFile`, a script that calls runDownloadThread() (in the bundles:
 * content-init's download-thread.js).
 */

const BATCH_BYTES = 1024 * 1024;
const MAX_UNACKED = 8;

type ThreadOptions = Omit<DownloadOptions, 'signal' | 'onProgress'>;

type FromThread =
  | { kind: 'data'; chunk: Uint8Array }
  | { kind: 'progress'; progress: DownloadProgress }
  | { kind: 'end'; result: DownloadResult }
  | { kind: 'error'; code: string; message: string };

type ToThread = { kind: 'ack' } | { kind: 'stop' };

export class ThreadedDownload extends Readable {
  readonly result: Promise<DownloadResult>;
  private resolveResult!: (r: DownloadResult) => void;
  private rejectResult!: (e: Error) => void;
  private readonly worker: Worker;
  /** batches pushed while the buffer was full: acknowledged when it is read again */
  private owedAcks = 0;
  private ended = false;

  constructor(workerFile: string, options: DownloadOptions) {
    super({ highWaterMark: 4 * BATCH_BYTES });
    // bad options fail here, at once, as they do with download()
    resolveDownloadOptions(options);
    this.result = new Promise((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    this.result.catch(() => undefined);
    const { signal, onProgress, ...plain } = options;
    const threadOptions: ThreadOptions = plain;
    this.worker = new Worker(workerFile, { workerData: { options: threadOptions } });
    this.worker.on('message', (m: FromThread) => {
      switch (m.kind) {
        case 'data':
          if (this.push(Buffer.from(m.chunk.buffer, m.chunk.byteOffset, m.chunk.byteLength))) this.send({ kind: 'ack' });
          else this.owedAcks++;
          break;
        case 'progress':
          onProgress?.(m.progress);
          break;
        case 'end':
          this.ended = true;
          this.resolveResult(m.result);
          this.push(null);
          break;
        case 'error':
          this.destroy(new WsError(m.code as WsErrorCode, m.message));
          break;
      }
    });
    this.worker.on('error', (err) => this.destroy(WsError.wrap('the download thread failed', err, WsErrorCode.Internal)));
    this.worker.on('exit', (code) => {
      if (!this.ended && !this.destroyed) this.destroy(new WsError(WsErrorCode.Internal, `the download thread exited (${code}) before the end`));
    });
    if (signal) {
      const onAbort = (): void => void this.destroy(new WsError(WsErrorCode.Cancelled, 'download cancelled'));
      if (signal.aborted) queueMicrotask(onAbort);
      else signal.addEventListener('abort', onAbort, { once: true });
      this.result.finally(() => signal.removeEventListener('abort', onAbort)).catch(() => undefined);
    }
  }

  override _read(): void {
    for (; this.owedAcks > 0; this.owedAcks--) this.send({ kind: 'ack' });
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (!this.ended) {
      this.rejectResult(err ?? new WsError(WsErrorCode.Cancelled, 'the download was stopped before its end'));
      this.send({ kind: 'stop' });
    }
    void this.worker.terminate();
    callback(err);
  }

  private send(message: ToThread): void {
    this.worker.postMessage(message);
  }
}

/** The worker's side: runs download() with the options it was given and hands the bytes over. */
export async function runDownloadThread(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('runDownloadThread runs in a worker thread');
  const { options } = workerData as { options: ThreadOptions };
  const post = (m: FromThread, transfer?: ArrayBuffer[]): void => port.postMessage(m, transfer);
  let unacked = 0;
  let wake: (() => void) | undefined;
  const stream = download({ ...options, onProgress: (progress) => post({ kind: 'progress', progress }) });
  port.on('message', (m: ToThread) => {
    if (m.kind === 'stop') stream.destroy();
    else unacked--;
    const w = wake;
    wake = undefined;
    w?.();
  });
  let batch = Buffer.allocUnsafeSlow(BATCH_BYTES);
  let filled = 0;
  const sendBatch = async (): Promise<void> => {
    while (unacked >= MAX_UNACKED) await new Promise<void>((resolve) => (wake = resolve));
    unacked++;
    // the batch's own ArrayBuffer (allocUnsafeSlow: not a slice of a pool) changes hands
    post({ kind: 'data', chunk: new Uint8Array(batch.buffer, 0, filled) }, [batch.buffer as ArrayBuffer]);
    batch = Buffer.allocUnsafeSlow(BATCH_BYTES);
    filled = 0;
  };
  try {
    for await (const value of readableChunks(stream)) {
      const chunk = value as Buffer;
      for (let at = 0; at < chunk.length; ) {
        const n = chunk.copy(batch, filled, at);
        filled += n;
        at += n;
        if (filled === BATCH_BYTES) await sendBatch();
      }
    }
    if (filled > 0) await sendBatch();
    post({ kind: 'end', result: await stream.result });
  } catch (err) {
    const e = err instanceof WsError ? err : WsError.wrap('download', err, WsErrorCode.Internal);
    post({ kind: 'error', code: e.code, message: e.message });
  } finally {
    port.close();
  }
}
