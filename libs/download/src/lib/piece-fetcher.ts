import { WsErrorCode } from '@wsrun/common';
import { DownloadAttemptError, statusError } from './download-error';
import { HttpExchange, type ExchangeTarget } from './http-exchange';
import { parseContentLength, parseContentRange, rangeHeader, type ByteRange } from './http-range';
import type { ObjectIdentity } from './object-identity';
import type { RetryPolicy } from './retry-policy';

/** One range request's worth of the object. `received` counts the bytes already passed on. */
export interface Piece extends ByteRange {
  readonly index: number;
  received: number;
}

/**
 * Fetches pieces with retries. A retry resumes after the bytes already received: they came from
 * the same version of the object (checked on every response, and If-Range makes a server whose
 * object changed answer 200), so they stay valid and may already be in the consumer's hands.
 */
export class PieceFetcher {
  constructor(
    private readonly target: ExchangeTarget,
    private readonly safeUrl: string,
    private readonly identity: ObjectIdentity,
    private readonly policy: RetryPolicy,
  ) {}

  /**
   * Passes every byte of the piece to `onData`, in order, exactly once; rejects with the final
   * WsError. `opened` is an exchange already checked for this whole piece (the probe's).
   */
  fetch(piece: Piece, onData: (chunk: Buffer) => void, opened?: HttpExchange): Promise<void> {
    const length = piece.end - piece.start + 1;
    let next = opened;
    return this.policy.run(async () => {
      // a connection may drop after the last byte and before the end of the message
      if (piece.received === length) return;
      const exchange = next ?? (await this.open(piece));
      next = undefined;
      await exchange.body(length - piece.received, (chunk) => {
        piece.received += chunk.length;
        onData(chunk);
      });
    }, this.target.signal);
  }

  private async open(piece: Piece): Promise<HttpExchange> {
    const range = { start: piece.start + piece.received, end: piece.end };
    const where = `GET ${this.safeUrl} ${rangeHeader(range)}`;
    const headers: Record<string, string> = { range: rangeHeader(range), 'accept-encoding': 'identity' };
    const ifRange = this.identity.ifRange;
    if (ifRange !== undefined) headers['if-range'] = ifRange;
    const exchange = await HttpExchange.open(this.target, headers, where);
    try {
      this.check(exchange, range);
      return exchange;
    } catch (err) {
      exchange.discard();
      throw err;
    }
  }

  /** Throws unless the response is exactly the requested range of the version we started with. */
  private check(exchange: HttpExchange, range: ByteRange): void {
    const { where, headers, status } = exchange;
    if (status === 200) {
      const changed = this.identity.differenceFrom(headers, parseContentLength(headers['content-length']));
      const reason = changed ? `the object changed during the download: ${changed}` : 'the server ignored the Range header';
      throw new DownloadAttemptError(WsErrorCode.FailedPrecondition, `${where}: ${reason}`, false);
    }
    if (status !== 206) throw statusError(where, status, exchange.statusMessage);
    const contentRange = parseContentRange(headers['content-range']);
    const total = contentRange && 'totalBytes' in contentRange ? contentRange.totalBytes : undefined;
    const changed = this.identity.differenceFrom(headers, total);
    if (changed) throw new DownloadAttemptError(WsErrorCode.FailedPrecondition, `${where}: the object changed during the download: ${changed}`, false);
    if (contentRange === undefined || !('start' in contentRange) || contentRange.start !== range.start || contentRange.end !== range.end) {
      throw new DownloadAttemptError(WsErrorCode.Unavailable, `${where}: Content-Range ${headers['content-range'] ?? '(none)'} does not match the request`, true);
    }
    const length = parseContentLength(headers['content-length']);
    if (length !== undefined && length !== range.end - range.start + 1) {
      throw new DownloadAttemptError(WsErrorCode.Unavailable, `${where}: Content-Length ${length} does not match the request`, true);
    }
  }
}
