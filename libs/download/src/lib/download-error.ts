import { WsError, WsErrorCode } from '@wsrun/common';

/** The URL as errors may show it: no query string (it holds a signature), no credentials, no fragment. */
export function redactUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** One failed HTTP attempt. `retryable` says whether another attempt may succeed. */
export class DownloadAttemptError extends WsError {
  constructor(
    code: WsErrorCode,
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** Maps an unexpected HTTP status to an attempt error: 408, 429 and 5xx are worth retrying, the rest are not. */
export function statusError(where: string, status: number, statusMessage: string | undefined): DownloadAttemptError {
  const message = `${where}: HTTP ${status}${statusMessage ? ` ${statusMessage}` : ''}`;
  if (status === 408 || status === 429 || status >= 500) return new DownloadAttemptError(WsErrorCode.Unavailable, message, true);
  if (status === 401 || status === 403) return new DownloadAttemptError(WsErrorCode.PermissionDenied, message, false);
  if (status === 404 || status === 410) return new DownloadAttemptError(WsErrorCode.NotFound, message, false);
  if (status === 400) return new DownloadAttemptError(WsErrorCode.InvalidArgument, message, false);
  // redirects are not followed: a signed URL names the object itself
  return new DownloadAttemptError(WsErrorCode.FailedPrecondition, message, false);
}
