import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { WsError, WsErrorCode } from '@wsrun/common';
import { download } from '@wsrun/download';
import { closeFd } from '@wsrun/native-ns';
import type { initializer } from '@wsrun/proto';
import { createAtomicFile } from '../fs/atomic-file';
import { openOrCreateDirInside, relativeParts } from '../fs/workspace-paths';
import type { InitializerContext } from './initializer-context';
import type { InitializerMetricDetail } from './initializer-metrics';

/**
 * Files downloaded into the workspace: each path must stay inside it (checked on the string and
 * on disk, no symlinks followed), each body is checked against its sha256 while streaming, and
 * a file appears under its name only complete and verified (temporary name, fsync, rename).
 */
export async function runFileDownloadInitializer(ctx: InitializerContext, spec: initializer.FileDownloadInitializer): Promise<InitializerMetricDetail> {
  const started = performance.now();
  const base = relativeParts('download targetLocation', spec.targetLocation);
  const files = spec.files.map((f, i) => {
    const parts = relativeParts(`download file ${i} filePath`, f.filePath);
    if (parts.length === 0) throw new WsError(WsErrorCode.InvalidArgument, `download file ${i}: filePath is empty`);
    const m = /^sha256:([0-9a-f]{64})$/i.exec(f.digest);
    if (!m) throw new WsError(WsErrorCode.InvalidArgument, `download file ${i}: digest ${JSON.stringify(f.digest)} is not "sha256:<64 hex digits>"`);
    return { url: f.url, sha256: m[1].toLowerCase(), parts: [...base, ...parts] };
  });
  let bytes = 0;
  for (const file of files) {
    const path = file.parts.join('/');
    ctx.onProgress({ initializer: 'download', phase: 'download', bytes });
    const dirFd = openOrCreateDirInside(ctx.root.fd, file.parts.slice(0, -1));
    try {
      const out = createAtomicFile(dirFd, file.parts[file.parts.length - 1], { mode: 0o644, ...(ctx.owner ? { owner: ctx.owner } : {}) });
      try {
        const stream = download({
          url: file.url,
          expectedSha256: file.sha256,
          ...(ctx.download.connections !== undefined ? { connections: ctx.download.connections } : {}),
          ...(ctx.download.pieceSize !== undefined ? { pieceSize: ctx.download.pieceSize } : {}),
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        });
        for await (const chunk of stream) await writeAll(out.fd, chunk as Buffer);
        bytes += (await stream.result).bytes;
        out.commit();
      } catch (err) {
        out.abort();
        throw WsError.wrap(`downloading ${JSON.stringify(path)}`, err);
      }
    } finally {
      closeFd(dirFd);
    }
  }
  return { type: 'download', durationMs: performance.now() - started, sizeBytes: bytes, files: files.length };
}

function writeAll(fd: number, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const next = (offset: number): void => {
      if (offset >= chunk.length) return resolve();
      fs.write(fd, chunk, offset, chunk.length - offset, null, (err, n) => (err ? reject(err) : next(offset + n)));
    };
    next(0);
  });
}
