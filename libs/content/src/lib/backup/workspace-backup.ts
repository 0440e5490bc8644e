import { WsError, WsErrorCode } from '@wsrun/common';
import type { IdMapping } from '@wsrun/native-ns';
import { formatObjectRef, parseObjectRef, type ObjectRef, type ObjectStorage } from '@wsrun/storage';
import { randomUUID } from 'node:crypto';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { runSandboxedPack } from '../sandbox/sandboxed-pack';
import type { SandboxedRunOptions } from '../sandbox/sandboxed-child';

export interface BackupRequest {
  /** the workspace folder on the node */
  destination: string;
  idMapping: IdMapping[];
  /** where the archive is committed: "object@bucket" */
  target: string;
}

export interface BackupOutcome {
  ref: string;
  size: number;
  sha256: string;
  entries: number;
}

/**
 * A backup (or snapshot) of a workspace folder that no crash can make a user lose:
 * 1. a confined child packs the folder (runSandboxedPack) and the stream goes straight to storage
 *    under a temporary name next to the target, counted on the way (the child hashes what it
 *    writes: one sha256 less on this process's thread, which the upload is waiting on);
 * 2. what the storage stored is checked against what was sent (size and sha256): a failed or
 *    partial upload is an error, never a silent success;
 * 3. only then is it committed: copied over the target (atomic for readers of the target) and
 *    the temporary object removed. Until step 3 the previous backup is untouched.
 */
export async function backupWorkspace(request: BackupRequest, storage: ObjectStorage, options: SandboxedRunOptions & { onBytes?: (bytes: number) => void }): Promise<BackupOutcome> {
  const target = parseObjectRef(request.target);
  const temp: ObjectRef = { bucket: target.bucket, object: `${target.object}.upload-${randomUUID()}` };
  await storage.ensureBucket(target.bucket);
  let received = 0;
  let stored: { size: number; sha256: string } | undefined;
  try {
    const stats = await runSandboxedPack(
      { destination: request.destination, idMapping: request.idMapping },
      async (tar: Readable) => {
        const counter = new Transform({
          transform(chunk: Buffer, _enc, done) {
            received += chunk.length;
            options.onBytes?.(received);
            done(null, chunk);
          },
        });
        const body = tar.pipe(counter).pipe(new PassThrough({ highWaterMark: 1024 * 1024 }));
        tar.on('error', (err) => body.destroy(err));
        stored = await storage.put(temp, body);
      },
      options,
    );
    // what the child wrote, as it counted and hashed it; the bytes that arrived here must agree
    const sent = { size: stats.bytes, sha256: stats.sha256 };
    if (received !== sent.size) throw new WsError(WsErrorCode.Internal, `the packer wrote ${sent.size} bytes but ${received} arrived`);
    if (!stored || stored.size !== sent.size || stored.sha256 !== sent.sha256) {
      throw new WsError(
        WsErrorCode.Internal,
        `upload of ${formatObjectRef(temp)} does not match what was sent: sent ${sent.size} bytes sha256 ${sent.sha256}, stored ${stored?.size} bytes sha256 ${stored?.sha256}`,
      );
    }
    // check again through a fresh stat: a storage that lost the object must not get a commit
    const info = await storage.stat(temp);
    if (!info || info.size !== sent.size) throw new WsError(WsErrorCode.Internal, `the uploaded ${formatObjectRef(temp)} is missing or has the wrong size`);
    await storage.copy(temp, target);
    return { ref: formatObjectRef(target), size: sent.size, sha256: sent.sha256, entries: stats.entries };
  } finally {
    await storage.delete(temp).catch(() => undefined);
  }
}
