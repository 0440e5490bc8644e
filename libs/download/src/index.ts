export { download } from './lib/download';
export { DownloadStream } from './lib/download-stream';
export type { DownloadOptions, DownloadProgress, DownloadResult } from './lib/download-options';
export { ThreadedDownload, runDownloadThread } from './lib/threaded-download';
