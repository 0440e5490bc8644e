import { resolveDownloadOptions, type DownloadOptions } from './download-options';
import { DownloadStream } from './download-stream';

/**
 * Downloads one object as a stream of its bytes in order, over parallel range requests when the
 * server serves ranges. Throws WsError(INVALID_ARGUMENT) for bad options; every later failure
 * errors the stream (and rejects `result`).
 */
export function download(options: DownloadOptions): DownloadStream {
  return new DownloadStream(resolveDownloadOptions(options));
}
