import { WsErrorCode } from '@wsrun/common';
import { DownloadAttemptError, statusError } from './download-error';
import { HttpExchange, type ExchangeTarget } from './http-exchange';
import { parseContentLength, parseContentRange, rangeHeader } from './http-range';
import { ObjectIdentity } from './object-identity';
import type { RetryPolicy } from './retry-policy';

/** What the first request found out about the object and the server. */
export type ProbeResult =
  /** 206: the server serves ranges; the exchange's body is the first piece. */
  | { kind: 'ranged'; exchange: HttpExchange; identity: ObjectIdentity }
  /** 200: the server ignored Range; the exchange's body is the whole object. */
  | { kind: 'whole'; exchange: HttpExchange; contentLength: number | undefined }
  /** 416 for bytes=0-: the object is empty. */
  | { kind: 'empty' };

/**
 * Asks for the first piece, retried like any piece, and reads the answer's headers. The first
 * piece's bytes are not thrown away: a 206 exchange is handed on with its body unread.
 */
export function probeObject(target: ExchangeTarget, safeUrl: string, pieceSize: number, policy: RetryPolicy): Promise<ProbeResult> {
  const range = { start: 0, end: pieceSize - 1 };
  const where = `GET ${safeUrl} ${rangeHeader(range)}`;
  return policy.run(async () => {
    const exchange = await HttpExchange.open(target, { range: rangeHeader(range), 'accept-encoding': 'identity' }, where);
    try {
      return classify(exchange, pieceSize);
    } catch (err) {
      exchange.discard();
      throw err;
    }
  }, target.signal);
}

function classify(exchange: HttpExchange, pieceSize: number): ProbeResult {
  const { where, headers } = exchange;
  const contentRange = parseContentRange(headers['content-range']);
  switch (exchange.status) {
    case 206: {
      const total = contentRange && 'totalBytes' in contentRange ? contentRange.totalBytes : undefined;
      const end = total === undefined ? undefined : Math.min(pieceSize, total) - 1;
      if (total === undefined || contentRange === undefined || !('start' in contentRange) || contentRange.start !== 0 || contentRange.end !== end) {
        throw new DownloadAttemptError(WsErrorCode.Unavailable, `${where}: unexpected Content-Range ${headers['content-range'] ?? '(none)'}`, true);
      }
      const length = parseContentLength(headers['content-length']);
      if (length !== undefined && length !== end + 1) {
        throw new DownloadAttemptError(WsErrorCode.Unavailable, `${where}: Content-Length ${length} does not match Content-Range ${headers['content-range']}`, true);
      }
      return { kind: 'ranged', exchange, identity: ObjectIdentity.of(headers, total) };
    }
    case 200:
      return { kind: 'whole', exchange, contentLength: parseContentLength(headers['content-length']) };
    case 416:
      // bytes=0- is unsatisfiable only for an empty object (RFC 9110 §14.1.1)
      if (contentRange !== undefined && 'unsatisfiedTotalBytes' in contentRange && contentRange.unsatisfiedTotalBytes !== 0) {
        throw new DownloadAttemptError(WsErrorCode.FailedPrecondition, `${where}: HTTP 416 for a ${contentRange.unsatisfiedTotalBytes}-byte object`, false);
      }
      exchange.discard();
      return { kind: 'empty' };
    default:
      throw statusError(where, exchange.status, exchange.statusMessage);
  }
}
