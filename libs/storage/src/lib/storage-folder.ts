import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { WsError, WsErrorCode } from '@wsrun/common';
import { errnoOf, fsError } from './fs-errors';
import { validateBucketName, validateObjectRef, type ObjectRef } from './object-ref';

/**
 * The on-disk layout of the local backend, and the only code that turns names into paths:
 *
 *   <root>/<bucket>/<object>   one regular file per object; `/` in object names makes folders
 *   <root>/.tmp/<uuid>.tmp     uploads in progress (bucket names cannot start with ".")
 *
 * Why paths cannot leave the root: names are validated first (no "..", ".", empty or absolute
 * segments, no NUL); the root is resolved once with realpath; every folder below it is checked
 * with lstat and a symlink anywhere in the chain is refused (PERMISSION_DENIED), as is a symlink
 * as the object itself (callers open with O_NOFOLLOW). A symlink swapped in between the check and
 * the open is not defended against: the folder belongs to the daemon, not to workspaces.
 */
export const TEMP_DIR_NAME = '.tmp';
export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

export class StorageFolder {
  private rootPromise: Promise<string> | undefined;

  constructor(readonly root: string) {}

  /** The realpath of the root, created on first use. */
  realRoot(): Promise<string> {
    this.rootPromise ??= (async () => {
      try {
        await fsp.mkdir(this.root, { recursive: true, mode: DIR_MODE });
        return await fsp.realpath(this.root);
      } catch (err) {
        this.rootPromise = undefined;
        throw fsError(`preparing storage folder ${this.root}`, err);
      }
    })();
    return this.rootPromise;
  }

  /** `<root>/.tmp`, created on first use. */
  async tempDir(): Promise<string> {
    return this.walk(await this.realRoot(), [TEMP_DIR_NAME], 'create', `storage folder ${this.root}`);
  }

  /** The bucket's folder, or null when the bucket does not exist. */
  async bucketDir(bucket: string): Promise<string | null> {
    validateBucketName(bucket);
    return this.walk(await this.realRoot(), [bucket], 'lookup', `bucket ${bucket}`);
  }

  /** Creates the bucket's folder unless it exists. */
  async createBucketDir(bucket: string): Promise<string> {
    validateBucketName(bucket);
    return this.walk(await this.realRoot(), [bucket], 'create', `bucket ${bucket}`);
  }

  /**
   * The path of an object for reading, or null when a folder on its way is missing. Its parent
   * folders are checked; the caller opens the last component with O_NOFOLLOW.
   */
  async objectPathForRead(ref: ObjectRef): Promise<string | null> {
    validateObjectRef(ref);
    const segments = ref.object.split('/');
    const dir = await this.walk(await this.realRoot(), [ref.bucket, ...segments.slice(0, -1)], 'lookup', describe(ref));
    return dir === null ? null : path.join(dir, segments[segments.length - 1]);
  }

  /** The path of an object for writing, creating its parent folders. NOT_FOUND when the bucket is missing. */
  async objectPathForWrite(ref: ObjectRef): Promise<string> {
    validateObjectRef(ref);
    const segments = ref.object.split('/');
    const bucketDir = await this.bucketDir(ref.bucket);
    if (bucketDir === null) throw new WsError(WsErrorCode.NotFound, `${describe(ref)}: bucket ${ref.bucket} does not exist`);
    const dir = await this.walk(bucketDir, segments.slice(0, -1), 'create', describe(ref));
    return path.join(dir, segments[segments.length - 1]);
  }

  /**
   * A folder inside a bucket for listing (`segments` below the bucket), or null when missing.
   * Used only with the complete segments of a validated list prefix.
   */
  async listDir(bucket: string, segments: string[]): Promise<string | null> {
    const bucketDir = await this.bucketDir(bucket);
    if (bucketDir === null) throw new WsError(WsErrorCode.NotFound, `listing bucket ${bucket}: bucket does not exist`);
    return this.walk(bucketDir, segments, 'lookup', `listing bucket ${bucket}`);
  }

  /**
   * Descends from `base` through `segments`, refusing symlinks. In 'lookup' mode a missing or
   * non-folder component yields null; in 'create' mode missing folders are made and a file in
   * the way is FAILED_PRECONDITION.
   */
  private async walk(base: string, segments: string[], mode: 'lookup', what: string): Promise<string | null>;
  private async walk(base: string, segments: string[], mode: 'create', what: string): Promise<string>;
  private async walk(base: string, segments: string[], mode: 'lookup' | 'create', what: string): Promise<string | null> {
    let current = base;
    for (const segment of segments) {
      const next = path.join(current, segment);
      // belt and braces: validation already rules this out
      if (path.dirname(next) !== current) throw new WsError(WsErrorCode.PermissionDenied, `${what}: path segment ${JSON.stringify(segment)} leaves its folder`);
      let stat = await lstatOrNull(next, what);
      if (stat === null) {
        if (mode === 'lookup') return null;
        try {
          await fsp.mkdir(next, { mode: DIR_MODE });
        } catch (err) {
          if (errnoOf(err) !== 'EEXIST') throw fsError(`${what}: creating folder ${next}`, err);
        }
        stat = await lstatOrNull(next, what);
        if (stat === null) throw new WsError(WsErrorCode.Internal, `${what}: folder ${next} vanished while being created`);
      }
      if (stat.isSymbolicLink()) {
        throw new WsError(WsErrorCode.PermissionDenied, `${what}: refusing symlink ${next} inside the storage folder`);
      }
      if (!stat.isDirectory()) {
        if (mode === 'lookup') return null;
        throw new WsError(WsErrorCode.FailedPrecondition, `${what}: ${next} is an object, not a folder`);
      }
      current = next;
    }
    return current;
  }
}

function describe(ref: ObjectRef): string {
  return `object ${ref.object}@${ref.bucket}`;
}

async function lstatOrNull(p: string, what: string) {
  try {
    return await fsp.lstat(p);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return null;
    throw fsError(`${what}: lstat ${p}`, err);
  }
}
