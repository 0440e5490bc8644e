import { WsError, WsErrorCode } from '@wsrun/common';
import type { IdMapping } from '@wsrun/native-ns';
import { formatObjectRef, parseObjectRef, type ObjectRef, type ObjectStorage } from '@wsrun/storage';
import { randomUUID } from 'node:crypto';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { crc32 } from 'node:zlib';
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
 *    under a temporary name next to the target, counted and CRC-checked on the way: what arrived
 *    must be, byte for byte, what the child wrote (the child computes the CRC-32 as it writes; a
 *    sha256 there would be the slowest step of the whole backup);
 * 2. what the storage stored is checked against what arrived (size): a failed or partial upload
 *    is an error, never a silent success; the backup's sha256 is the one storage computed over
 *    the bytes it stored;
 * 3. only then is it committed: copied over the target (atomic for readers of the target) and
 *    the temporary object removed. Until step 3 the previous backup is untouched.
 */
export async function backupWorkspace(request: BackupRequest, storage: ObjectStorage, options: SandboxedRunOptions & { onBytes?: (bytes: number) => void }): Promise<BackupOutcome> {
  const target = parseObjectRef(request.target);
  const temp: ObjectRef = { bucket: target.bucket, object: `${target.object}.upload-${randomUUID()}` };
  await storage.ensureBucket(target.bucket);
  let received = 0;
  let receivedCrc = 0;
  let stored: { size: number; sha256: string } | undefined;
  try {
    const stats = await runSandboxedPack(
      { destination: request.destination, idMapping: request.idMapping },
      async (tar: Readable) => {
        const counter = new Transform({
          transform(chunk: Buffer, _enc, done) {
            received += chunk.length;
            receivedCrc = crc32(chunk, receivedCrc);
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
    // what the child wrote, as it counted it; the bytes that arrived here must be the same
    if (received !== stats.bytes || receivedCrc !== stats.crc32) {
      throw new WsError(WsErrorCode.Internal, `the packer wrote ${stats.bytes} bytes (crc32 ${hex32(stats.crc32)}) but ${received} bytes (crc32 ${hex32(receivedCrc)}) arrived`);
    }
    if (!stored || stored.size !== received) {
      throw new WsError(WsErrorCode.Internal, `upload of ${formatObjectRef(temp)} does not match what was sent: sent ${received} bytes, stored ${stored?.size} bytes`);
    }
    const sent = { size: received, sha256: stored.sha256 };
    // check again through a fresh stat: a storage that lost the object must not get a commit
    const info = await storage.stat(temp);
    if (!info || info.size !== sent.size) throw new WsError(WsErrorCode.Internal, `the uploaded ${formatObjectRef(temp)} is missing or has the wrong size`);
    await storage.copy(temp, target);
    return { ref: formatObjectRef(target), size: sent.size, sha256: sent.sha256, entries: stats.entries };
  } finally {
    await storage.delete(temp).catch(() => undefined);
  }
}

const hex32 = (n: number) => n.toString(16).padStart(8, '0');
