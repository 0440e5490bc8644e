import { performance } from 'node:perf_hooks';
import { extractTar } from '@wsrun/archive';
import { WsError } from '@wsrun/common';
import { download, ThreadedDownload, type DownloadOptions } from '@wsrun/download';
import type { RemoteObject } from '../request/remote-content';
import type { InitializerContext } from './initializer-context';
import type { InitializerMetricDetail } from './initializer-metrics';

/**
 * Download and extraction in one stream (snapshot, backup, prebuild): parallel range requests,
 * in order, straight into the safe extractor, with no temporary file (the download on a worker
 * thread when the context names its script). The extractor stages
 * everything and moves it into the workspace only when the whole archive was read, so a failed
 * download (digest, size, network) or a malformed archive leaves the workspace as it was.
 * Members the extractor refuses are listed in the metric.
 *
 * Symlinks that point outside the workspace are kept only for backups (a user's own links, e.g.
 * to /usr/bin/python): nothing follows a link during extraction, and this runs in the sandbox.
 */
export async function restoreArchive(ctx: InitializerContext, kind: 'snapshot' | 'backup' | 'prebuild', object: RemoteObject): Promise<InitializerMetricDetail> {
  const started = performance.now();
  ctx.onProgress({ initializer: kind, phase: 'restore', bytes: 0, ...(object.sizeBytes !== undefined ? { totalBytes: object.sizeBytes } : {}) });
  const options: DownloadOptions = {
    url: object.url,
    ...(ctx.download.connections !== undefined ? { connections: ctx.download.connections } : {}),
    ...(ctx.download.pieceSize !== undefined ? { pieceSize: ctx.download.pieceSize } : {}),
    ...(object.sizeBytes !== undefined ? { expectedSize: object.sizeBytes } : {}),
    ...(object.sha256 ? { expectedSha256: object.sha256 } : {}),
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    onProgress: (p) => ctx.onProgress({ initializer: kind, phase: 'restore', bytes: p.bytes, bytesPerSecond: p.bytesPerSecond, ...(p.totalBytes !== undefined ? { totalBytes: p.totalBytes } : {}) }),
  };
  // on a worker thread when there is one: the download and the extraction then use two cores
  const stream = ctx.downloadThread ? new ThreadedDownload(ctx.downloadThread, options) : download(options);
  try {
    const result = await extractTar(stream, { rootFd: ctx.root.fd }, { mapId: ctx.mapId, allowEscapingSymlinks: kind === 'backup', ...(ctx.signal ? { signal: ctx.signal } : {}) });
    const transfer = await stream.result;
    ctx.onProgress({ initializer: kind, phase: 'restored', bytes: transfer.bytes, totalBytes: transfer.bytes, bytesPerSecond: transfer.durationMs > 0 ? (transfer.bytes * 1000) / transfer.durationMs : 0 });
    return {
      type: kind,
      durationMs: performance.now() - started,
      sizeBytes: result.bytes,
      entries: result.entries,
      refused: result.refused,
      downloadedBytes: transfer.bytes,
    };
  } catch (err) {
    stream.destroy();
    throw WsError.wrap(`restoring the ${kind}`, err);
  }
}
