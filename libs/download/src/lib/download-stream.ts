import { setMaxListeners } from 'node:events';
import type { Agent } from 'node:http';
import { Readable } from 'node:stream';
import { WsError, WsErrorCode } from '@wsrun/common';
import { createConnectionPool } from './connection-pool';
import { redactUrl } from './download-error';
import type { DownloadResult, ResolvedDownloadOptions } from './download-options';
import type { DownloadOutput, Transfer } from './download-output';
import type { ExchangeTarget } from './http-exchange';
import { OutputVerifier } from './output-verifier';
import { PieceFetcher } from './piece-fetcher';
import { ProgressMeter } from './progress-meter';
import { probeObject } from './range-probe';
import { RetryPolicy } from './retry-policy';
import { SegmentedDownload } from './segmented-download';
import { SingleStreamDownload } from './single-stream-download';

// a few socket reads' worth, so a consumer such as tar never waits on a piece boundary
const OUTPUT_HIGH_WATER_MARK = 256 * 1024;

/**
 * The object's bytes, in order. The first read sends the first request; an error (WsError)
 * destroys the stream, and a size or digest mismatch errors it instead of ending it, so a
 * consumer that sees 'end' has every byte, verified.
 */
export class DownloadStream extends Readable implements DownloadOutput {
  /** Resolves once the last byte was handed over and verified; rejects with the stream's error. */
  readonly result: Promise<DownloadResult>;
  deliveredBytes = 0;
  wantsMore = false;

  private readonly safeUrl: string;
  private readonly abort = new AbortController();
  private readonly agent: Agent;
  private readonly policy: RetryPolicy;
  private readonly verifier: OutputVerifier;
  private readonly meter?: ProgressMeter;
  private transfer?: Transfer;
  private started = false;
  private finished = false;
  private startedAt = 0;
  private announcedSize?: number;
  private pieces = 0;
  private segmented = false;
  private resolveResult!: (result: DownloadResult) => void;
  private rejectResult!: (err: Error) => void;

  constructor(private readonly options: ResolvedDownloadOptions) {
    super({ highWaterMark: OUTPUT_HIGH_WATER_MARK });
    this.result = new Promise((resolve, reject) => {
      this.resolveResult = resolve;
      this.rejectResult = reject;
    });
    // a caller may watch only the stream; its error is reported there
    this.result.catch(() => undefined);
    this.safeUrl = redactUrl(options.url);
    this.agent = createConnectionPool(options.url, options.connections);
    this.policy = new RetryPolicy(options.retries);
    this.verifier = new OutputVerifier(options.expectedSize, options.expectedSha256);
    if (options.onProgress) this.meter = new ProgressMeter(options.onProgress);
    // every request and backoff in flight listens on it
    setMaxListeners(0, this.abort.signal);
    options.signal?.addEventListener('abort', this.onCancel);
    if (options.signal?.aborted) this.onCancel();
  }

  get stopped(): boolean {
    return this.finished || this.destroyed;
  }

  override _read(): void {
    this.wantsMore = true;
    if (this.transfer) this.transfer.resume();
    else if (!this.started) {
      this.started = true;
      this.start().catch((err: unknown) => this.fail(err));
    }
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.abort.abort();
    this.agent.destroy();
    this.options.signal?.removeEventListener('abort', this.onCancel);
    this.rejectResult(err ?? new WsError(WsErrorCode.Cancelled, `download of ${this.safeUrl}: the stream was destroyed before its end`));
    callback(err);
  }

  deliver(chunk: Buffer): void {
    if (this.stopped) return;
    this.deliveredBytes += chunk.length;
    this.verifier.update(chunk);
    if (!this.push(chunk)) this.wantsMore = false;
    this.progress(false);
  }

  finish(): void {
    if (this.stopped) return;
    const problem = this.verifier.mismatch(this.deliveredBytes, this.announcedSize);
    if (problem !== undefined) return this.fail(new WsError(WsErrorCode.FailedPrecondition, `download of ${this.safeUrl}: ${problem}`));
    this.progress(true);
    if (this.stopped) return;
    this.finished = true;
    this.resolveResult({
      bytes: this.deliveredBytes,
      durationMs: performance.now() - this.startedAt,
      pieces: this.pieces,
      retries: this.policy.retried,
      segmented: this.segmented,
    });
    // close the idle keep-alive sockets now rather than at the server's idle timeout
    this.agent.destroy();
    this.options.signal?.removeEventListener('abort', this.onCancel);
    this.push(null);
  }

  fail(err: unknown): void {
    if (this.stopped) return;
    this.destroy(err instanceof WsError ? err : WsError.wrap(`download of ${this.safeUrl}`, err));
  }

  private async start(): Promise<void> {
    this.startedAt = performance.now();
    const { url, pieceSize, timeoutMs } = this.options;
    const target: ExchangeTarget = { url, agent: this.agent, timeoutMs, signal: this.abort.signal };
    const probe = await probeObject(target, this.safeUrl, pieceSize, this.policy);
    switch (probe.kind) {
      case 'empty':
        this.announce(0);
        this.finish();
        return;
      case 'whole': {
        this.announce(probe.contentLength);
        this.pieces = 1;
        const transfer = new SingleStreamDownload(probe.exchange, this);
        this.transfer = transfer;
        transfer.start(probe.contentLength);
        return;
      }
      case 'ranged': {
        this.announce(probe.identity.totalBytes);
        this.segmented = true;
        const fetcher = new PieceFetcher(target, this.safeUrl, probe.identity, this.policy);
        const transfer = new SegmentedDownload(this, fetcher, probe.identity.totalBytes, this.options);
        this.pieces = transfer.pieces.length;
        this.transfer = transfer;
        transfer.start(probe.exchange);
        return;
      }
    }
  }

  /** Records the length the server announced; one other than the expected size fails before any byte is read. */
  private announce(size: number | undefined): void {
    this.announcedSize = size;
    if (this.meter) this.meter.totalBytes = size;
    const expected = this.options.expectedSize;
    if (size !== undefined && expected !== undefined && size !== expected) {
      throw new WsError(WsErrorCode.FailedPrecondition, `download of ${this.safeUrl}: the server announced ${size} bytes, expected ${expected}`);
    }
  }

  /** Runs the caller's progress callback; one that throws fails the download instead of a socket handler. */
  private progress(final: boolean): void {
    if (!this.meter) return;
    try {
      if (final) this.meter.finish(this.deliveredBytes);
      else this.meter.update(this.deliveredBytes);
    } catch (err) {
      this.fail(WsError.wrap(`download of ${this.safeUrl}: onProgress`, err, WsErrorCode.Internal));
    }
  }

  private readonly onCancel = (): void => {
    this.fail(new WsError(WsErrorCode.Cancelled, `download of ${this.safeUrl} was cancelled`, { cause: this.options.signal?.reason }));
  };
}
