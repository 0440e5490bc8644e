import type { Readable } from 'node:stream';
import type { ObjectRef } from './object-ref';

export interface ObjectInfo {
  bucket: string;
  object: string;
  size: number;
  /** hex sha256 of the bytes, when the backend recorded it at upload (see README); never guessed */
  sha256?: string;
  lastModified: Date;
}

/** An inclusive byte range `[start, end]`; without `end`, up to the last byte. */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface PutOptions {
  /** the upload fails (and nothing is committed) unless exactly this many bytes arrive */
  expectedSize?: number;
  /** the upload fails (and nothing is committed) unless the bytes hash to this (hex, any case) */
  expectedSha256?: string;
}

export interface PutResult {
  size: number;
  /** lowercase hex sha256 of the stored bytes */
  sha256: string;
}

/**
 * Object storage as wsrun uses it: whole immutable objects (backups, snapshots, downloads)
 * written once under a name, read as streams or byte ranges, and handed to other processes as
 * signed URLs. Two backends implement it: LocalObjectStorage (a folder, the embedded default) and
 * S3ObjectStorage (any S3-compatible store). Every failure is a WsError: NOT_FOUND for a missing
 * object or bucket, INVALID_ARGUMENT for bad names, ranges or a checksum mismatch,
 * PERMISSION_DENIED for a path that would leave the storage folder, INTERNAL otherwise.
 */
export interface ObjectStorage {
  /** Streams an object's bytes, optionally only `range`. NOT_FOUND when missing; INVALID_ARGUMENT when the range starts past the end. */
  get(ref: ObjectRef, range?: ByteRange): Promise<Readable>;
  /**
   * Uploads `body` under `ref` and resolves with the size and sha256 of what was stored. Consumes
   * the stream. Never leaves a partial object visible under `ref`: on any failure (stream error,
   * size or sha256 mismatch) the previous object under `ref`, if any, is untouched.
   */
  put(ref: ObjectRef, body: Readable, opts?: PutOptions): Promise<PutResult>;
  /** Size and date of an object, or null when it does not exist. */
  stat(ref: ObjectRef): Promise<ObjectInfo | null>;
  /** Removes an object; a missing object is not an error. */
  delete(ref: ObjectRef): Promise<void>;
  /** Copies `from` to `to` so that readers of `to` see either the old or the whole new object (used to commit a temporary name). */
  copy(from: ObjectRef, to: ObjectRef): Promise<void>;
  /** All objects of `bucket` whose name starts with `prefix`, sorted by name. NOT_FOUND when the bucket is missing. */
  list(bucket: string, prefix: string): Promise<ObjectInfo[]>;
  /** Creates the bucket unless it exists. */
  ensureBucket(bucket: string): Promise<void>;
  /** A URL anyone holding it can GET (with Range) until `ttlSeconds` from now. */
  signedDownloadUrl(ref: ObjectRef, ttlSeconds: number): Promise<string>;
  /** A URL anyone holding it can PUT the object's body to until `ttlSeconds` from now. */
  signedUploadUrl(ref: ObjectRef, ttlSeconds: number): Promise<string>;
}
