import { invalid, parseInteger } from '@wsrun/common';

export interface DownloadProgress {
  /** Bytes handed to the consumer so far, in order. */
  bytes: number;
  /** The object's length, once the server has told it. */
  totalBytes?: number;
  /** Rate since the previous report; the final report gives the whole download's average. */
  bytesPerSecond: number;
}

export interface DownloadOptions {
  /** http(s) URL of the object; may be signed (its query string never appears in errors). */
  url: string;
  /** Parallel range requests; default 8. */
  connections?: number;
  /** Bytes per range request; default 4 MiB. */
  pieceSize?: number;
  /** Length the object must have; checked as soon as the server announces it and at the end. */
  expectedSize?: number;
  /** Hex sha256 of the whole object, checked over the bytes in output order before the stream ends. */
  expectedSha256?: string;
  /** Retries per piece (and for the first request); default 5, exponential backoff with jitter. */
  retries?: number;
  /** Per-request inactivity timeout; default 30 s. */
  timeoutMs?: number;
  /** Aborting cancels every request; the stream errors with CANCELLED. */
  signal?: AbortSignal;
  /** Called at most every 250 ms while bytes flow, plus once at the end. */
  onProgress?: (progress: DownloadProgress) => void;
  /** Bytes requested but not yet handed to the consumer, at most; default connections * pieceSize * 2. */
  maxBufferedBytes?: number;
}

export interface DownloadResult {
  /** Bytes handed to the consumer. */
  bytes: number;
  /** From the first request to the last byte handed over and verified. */
  durationMs: number;
  /** Pieces the object was cut into: 1 when the server sent it whole, 0 when it is empty. */
  pieces: number;
  /** Failed attempts that were retried, over all pieces. */
  retries: number;
  /** Whether range requests were used (false: the server ignored Range and sent one stream). */
  segmented: boolean;
}

export interface ResolvedDownloadOptions {
  url: URL;
  connections: number;
  pieceSize: number;
  expectedSize?: number;
  expectedSha256?: string;
  retries: number;
  timeoutMs: number;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
  maxBufferedBytes: number;
}

const MiB = 1024 * 1024;

/** Checks the caller's options and fills in defaults; throws WsError(INVALID_ARGUMENT) naming the option. */
export function resolveDownloadOptions(options: DownloadOptions): ResolvedDownloadOptions {
  const url = parseUrl(options.url);
  const connections = parseInteger('connections', options.connections, { min: 1, max: 64, default: 8 });
  const pieceSize = parseInteger('pieceSize', options.pieceSize, { min: 1, default: 4 * MiB });
  const expectedSha256 = options.expectedSha256?.toLowerCase();
  if (expectedSha256 !== undefined && !/^[0-9a-f]{64}$/.test(expectedSha256)) {
    throw invalid('expectedSha256', 'expected 64 hex digits');
  }
  return {
    url,
    connections,
    pieceSize,
    expectedSize: options.expectedSize === undefined ? undefined : parseInteger('expectedSize', options.expectedSize, { min: 0 }),
    expectedSha256,
    retries: parseInteger('retries', options.retries, { min: 0, max: 100, default: 5 }),
    timeoutMs: parseInteger('timeoutMs', options.timeoutMs, { min: 1, default: 30_000 }),
    signal: options.signal,
    onProgress: options.onProgress,
    // below one piece the head piece could never be requested
    maxBufferedBytes: parseInteger('maxBufferedBytes', options.maxBufferedBytes, { min: pieceSize, default: connections * pieceSize * 2 }),
  };
}

function parseUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // the raw value is not echoed: it may hold a signature
    throw invalid('url', 'not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid('url', `unsupported protocol ${url.protocol}`);
  return url;
}
