import { randomUUID } from 'node:crypto';
import { constants as fsc, promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { parseAbsolutePath, readableChunks, WsError, WsErrorCode } from '@wsrun/common';
import { clampByteRange } from './byte-range';
import { errnoOf, fsError } from './fs-errors';
import { formatObjectRef, validateBucketName, validateListPrefix, validateObjectRef, type ObjectRef } from './object-ref';
import type { ByteRange, ObjectInfo, ObjectStorage, PutOptions, PutResult } from './object-storage';
import { FILE_MODE, StorageFolder } from './storage-folder';
import { toBuffer, UploadDigest, validatePutOptions } from './upload-digest';
import { buildLocalSignedUrl, nowUnixSeconds, validateSigningSecret, validateTtlSeconds, type SignedMethod } from './url-signing';

export interface LocalObjectStorageOptions {
  /** the storage folder (absolute); created on first use. Layout: see storage-folder.ts and README.md */
  root: string;
  /** where LocalStorageServer is reachable and the secret it checks; needed only for signed URLs */
  signing?: { baseUrl: string; secret: string | Buffer };
}

/** An object opened for reading: the handle pins the bytes even if the name is replaced meanwhile. */
export interface OpenedObject {
  handle: FileHandle;
  info: ObjectInfo;
  /** strong validator for HTTP: changes whenever the name points at different bytes */
  etag: string;
}

// writes are coalesced to this size: fewer syscalls than the 16-64 KiB chunks streams deliver
const WRITE_BATCH_BYTES = 1 << 20;

/**
 * The embedded backend: objects are files in a folder (layout in storage-folder.ts). A put
 * streams into `<root>/.tmp/`, fsyncs, then renames into place, so the rename is the commit and
 * readers see the old or the new file, never a partial one. Files are never modified after the
 * rename, which is what lets `copy` be a hard link and lets a reader keep reading an object that
 * is being replaced. Signed URLs point at a LocalStorageServer serving the same folder.
 */
export class LocalObjectStorage implements ObjectStorage {
  readonly folder: StorageFolder;
  private readonly signing: { baseUrl: string; secret: Buffer } | undefined;

  constructor(opts: LocalObjectStorageOptions) {
    this.folder = new StorageFolder(parseAbsolutePath('local storage root', opts.root));
    if (opts.signing) {
      this.signing = { baseUrl: validateBaseUrl(opts.signing.baseUrl), secret: validateSigningSecret(opts.signing.secret) };
    }
  }

  /** Opens an object for reading; null when it does not exist. The caller closes the handle. */
  async open(ref: ObjectRef): Promise<OpenedObject | null> {
    const what = `opening object ${formatObjectRef(ref)}`;
    const p = await this.folder.objectPathForRead(ref);
    if (p === null) return null;
    let handle: FileHandle;
    try {
      // O_NOFOLLOW: a symlink as the object itself is refused; O_NONBLOCK: a FIFO cannot hang us
      handle = await fsp.open(p, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return null;
      if (errnoOf(err) === 'ELOOP') throw new WsError(WsErrorCode.PermissionDenied, `${what}: refusing symlink ${p} inside the storage folder`);
      throw fsError(what, err);
    }
    try {
      const st = await handle.stat();
      if (!st.isFile()) {
        await handle.close();
        return null;
      }
      return { handle, info: infoOf(ref, st), etag: etagOf(st) };
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw fsError(what, err);
    }
  }

  async get(ref: ObjectRef, range?: ByteRange): Promise<Readable> {
    const what = `reading object ${formatObjectRef(ref)}`;
    const opened = await this.open(ref);
    if (opened === null) throw new WsError(WsErrorCode.NotFound, `${what}: object not found`);
    try {
      if (range === undefined) return opened.handle.createReadStream();
      const { start, end } = clampByteRange(range, opened.info.size, what);
      return opened.handle.createReadStream({ start, end });
    } catch (err) {
      await opened.handle.close().catch(() => undefined);
      throw err;
    }
  }

  async put(ref: ObjectRef, body: Readable, opts?: PutOptions): Promise<PutResult> {
    const what = `storing object ${formatObjectRef(ref)}`;
    const expected = validatePutOptions(opts);
    // fail before consuming the body when the upload cannot be committed anyway
    if ((await this.folder.bucketDir(ref.bucket)) === null) {
      body.destroy();
      throw new WsError(WsErrorCode.NotFound, `${what}: bucket ${ref.bucket} does not exist`);
    }
    const digest = new UploadDigest(what, expected);
    const tmp = await this.writeTemp(body, digest, what);
    try {
      const result = digest.finish();
      await this.commit(tmp, ref, what);
      return result;
    } catch (err) {
      await removeQuietly(tmp);
      throw err;
    }
  }

  async stat(ref: ObjectRef): Promise<ObjectInfo | null> {
    const what = `stat of object ${formatObjectRef(ref)}`;
    const p = await this.folder.objectPathForRead(ref);
    if (p === null) return null;
    let st: Stats;
    try {
      st = await fsp.lstat(p);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return null;
      throw fsError(what, err);
    }
    if (st.isSymbolicLink()) throw new WsError(WsErrorCode.PermissionDenied, `${what}: refusing symlink ${p} inside the storage folder`);
    return st.isFile() ? infoOf(ref, st) : null;
  }

  async delete(ref: ObjectRef): Promise<void> {
    const what = `deleting object ${formatObjectRef(ref)}`;
    const p = await this.folder.objectPathForRead(ref);
    if (p === null) return;
    try {
      // unlink never follows a symlink, and a folder (a prefix of other objects) is not an object
      const st = await fsp.lstat(p);
      if (st.isDirectory()) return;
      await fsp.unlink(p);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return;
      throw fsError(what, err);
    }
  }

  /**
   * Links (or, across file systems, copies) `from` into a temp file and renames it over `to`:
   * readers of `to` see the old or the new object. A hard link is safe because no object file
   * is ever written after its commit; the copy then shares the source's lastModified.
   */
  async copy(from: ObjectRef, to: ObjectRef): Promise<void> {
    validateObjectRef(to);
    const what = `copying object ${formatObjectRef(from)} to ${formatObjectRef(to)}`;
    const opened = await this.open(from);
    if (opened === null) throw new WsError(WsErrorCode.NotFound, `${what}: source object not found`);
    if ((await this.folder.bucketDir(to.bucket)) === null) {
      await opened.handle.close();
      throw new WsError(WsErrorCode.NotFound, `${what}: bucket ${to.bucket} does not exist`);
    }
    if (from.bucket === to.bucket && from.object === to.object) {
      await opened.handle.close();
      return;
    }
    let tmp: string;
    try {
      tmp = await this.linkTemp(opened, from, what);
    } catch (err) {
      await opened.handle.close().catch(() => undefined);
      throw err;
    }
    try {
      await this.commit(tmp, to, what);
    } catch (err) {
      await removeQuietly(tmp);
      throw err;
    }
  }

  async list(bucket: string, prefix: string): Promise<ObjectInfo[]> {
    validateBucketName(bucket);
    validateListPrefix(prefix);
    const dirSegments = prefix.split('/').slice(0, -1);
    const start = await this.folder.listDir(bucket, dirSegments);
    if (start === null) return [];
    const out: ObjectInfo[] = [];
    await this.walkList(bucket, start, dirSegments.join('/'), prefix, out);
    return out.sort((a, b) => Buffer.compare(Buffer.from(a.object), Buffer.from(b.object)));
  }

  async ensureBucket(bucket: string): Promise<void> {
    await this.folder.createBucketDir(bucket);
  }

  async signedDownloadUrl(ref: ObjectRef, ttlSeconds: number): Promise<string> {
    return this.signedUrl('GET', ref, ttlSeconds);
  }

  async signedUploadUrl(ref: ObjectRef, ttlSeconds: number): Promise<string> {
    return this.signedUrl('PUT', ref, ttlSeconds);
  }

  /**
   * Removes upload temp files older than `olderThanMs` (left behind by a crash) and returns how
   * many. Not younger ones: another process sharing the folder may be writing them right now.
   */
  async removeStaleTempFiles(olderThanMs = 24 * 3600 * 1000): Promise<number> {
    const dir = await this.folder.tempDir();
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    for (const name of await fsp.readdir(dir)) {
      const p = path.join(dir, name);
      const st = await fsp.lstat(p).catch(() => null);
      if (st !== null && st.mtimeMs < cutoff && !st.isDirectory()) {
        await removeQuietly(p);
        removed++;
      }
    }
    return removed;
  }

  private signedUrl(method: SignedMethod, ref: ObjectRef, ttlSeconds: number): string {
    validateObjectRef(ref);
    validateTtlSeconds(ttlSeconds);
    if (!this.signing) {
      throw new WsError(WsErrorCode.FailedPrecondition, `signing a URL for ${formatObjectRef(ref)}: local storage has no signing options (baseUrl, secret)`);
    }
    return buildLocalSignedUrl(this.signing.baseUrl, this.signing.secret, method, ref, nowUnixSeconds() + ttlSeconds);
  }

  /** Streams `body` into a new fsynced temp file and returns its path; removes it on failure. */
  private async writeTemp(body: Readable, digest: UploadDigest, what: string): Promise<string> {
    const tmp = path.join(await this.folder.tempDir(), `${randomUUID()}.tmp`);
    let handle: FileHandle;
    try {
      handle = await fsp.open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, FILE_MODE);
    } catch (err) {
      body.destroy();
      throw fsError(`${what}: creating temp file ${tmp}`, err);
    }
    try {
      let batch: Buffer[] = [];
      let batched = 0;
      // the chunks as they came, written together with one writev: no copy of the upload
      const flush = async () => {
        if (batched === 0) return;
        const buffers = batch;
        batch = [];
        batched = 0;
        await writevFully(handle, buffers, `${what}: writing temp file ${tmp}`);
      };
      try {
        for await (const chunk of readableChunks(body)) {
          const buf = toBuffer(chunk);
          digest.update(buf);
          batch.push(buf);
          batched += buf.length;
          if (batched >= WRITE_BATCH_BYTES) await flush();
        }
      } catch (err) {
        if (err instanceof WsError) throw err;
        throw WsError.wrap(`${what}: reading the upload stream`, err);
      }
      await flush();
      try {
        await handle.sync();
      } catch (err) {
        throw fsError(`${what}: fsync of temp file ${tmp}`, err);
      }
      await handle.close();
      return tmp;
    } catch (err) {
      await handle.close().catch(() => undefined);
      await removeQuietly(tmp);
      throw err;
    }
  }

  /** Hard-links an opened object into a temp file (copies when linking is impossible); closes `opened`. */
  private async linkTemp(opened: OpenedObject, from: ObjectRef, what: string): Promise<string> {
    const source = await this.folder.objectPathForRead(from);
    const tmp = path.join(await this.folder.tempDir(), `${randomUUID()}.tmp`);
    try {
      if (source === null) throw Object.assign(new Error('source vanished'), { code: 'ENOENT' });
      await fsp.link(source, tmp);
    } catch (err) {
      if (!['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP'].includes(errnoOf(err) ?? '')) {
        await opened.handle.close();
        throw fsError(`${what}: linking ${source} to ${tmp}`, err);
      }
      // no hard links here: stream the already-open file, so we copy exactly what we checked
      return this.writeTemp(opened.handle.createReadStream(), new UploadDigest(what, {}), what);
    }
    // the name may have been replaced between open and link: keep the link only if it is the
    // very file we checked (a regular file, no symlink)
    const linked = await fsp.lstat(tmp).catch(() => null);
    const checked = await opened.handle.stat();
    await opened.handle.close();
    if (linked === null || linked.ino !== checked.ino || linked.dev !== checked.dev) {
      await removeQuietly(tmp);
      throw new WsError(WsErrorCode.Unavailable, `${what}: the source object changed during the copy; retry`);
    }
    return tmp;
  }

  /** Renames a complete temp file over the object's path (the commit) and makes it durable. */
  private async commit(tmp: string, ref: ObjectRef, what: string): Promise<void> {
    const target = await this.folder.objectPathForWrite(ref);
    try {
      await fsp.rename(tmp, target);
    } catch (err) {
      if (errnoOf(err) === 'EISDIR' || errnoOf(err) === 'ENOTEMPTY') {
        throw new WsError(WsErrorCode.FailedPrecondition, `${what}: ${target} is a folder holding other objects`, { cause: err });
      }
      throw fsError(`${what}: renaming ${tmp} to ${target}`, err);
    }
    await fsyncDir(path.dirname(target), what);
  }

  private async walkList(bucket: string, dir: string, rel: string, prefix: string, out: ObjectInfo[]): Promise<void> {
    let entries;
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return; // removed while listing
      throw fsError(`listing bucket ${bucket}: reading ${dir}`, err);
    }
    await Promise.all(
      entries.map(async (entry) => {
        const name = rel === '' ? entry.name : `${rel}/${entry.name}`;
        const p = path.join(dir, entry.name);
        // symlinks are never followed (nor listed): they are not objects we wrote
        if (entry.isDirectory()) {
          // descend only where objects matching the prefix can be
          if (`${name}/`.startsWith(prefix) || prefix.startsWith(`${name}/`)) await this.walkList(bucket, p, name, prefix, out);
        } else if (entry.isFile() && name.startsWith(prefix)) {
          const st = await fsp.lstat(p).catch(() => null);
          if (st?.isFile()) out.push(infoOf({ bucket, object: name }, st));
        }
      }),
    );
  }
}

function validateBaseUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WsError(WsErrorCode.InvalidArgument, `invalid storage base URL ${JSON.stringify(raw)}: not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new WsError(WsErrorCode.InvalidArgument, `invalid storage base URL ${JSON.stringify(raw)}: must be http or https`);
  }
  if (url.search || url.hash) throw new WsError(WsErrorCode.InvalidArgument, `invalid storage base URL ${JSON.stringify(raw)}: must not have a query or fragment`);
  return raw.replace(/\/+$/, '');
}

function infoOf(ref: ObjectRef, st: Stats): ObjectInfo {
  return { bucket: ref.bucket, object: ref.object, size: st.size, lastModified: st.mtime };
}

function etagOf(st: Stats): string {
  return `"${st.dev.toString(16)}-${st.ino.toString(16)}-${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
}

/** writev until every byte is written (a short write leaves the rest for the next call). */
async function writevFully(handle: FileHandle, buffers: Buffer[], what: string): Promise<void> {
  let rest = buffers;
  while (rest.length > 0) {
    let written: number;
    try {
      ({ bytesWritten: written } = await handle.writev(rest));
    } catch (err) {
      throw fsError(what, err);
    }
    while (rest.length > 0 && written >= rest[0].length) {
      written -= rest[0].length;
      rest = rest.slice(1);
    }
    if (written > 0) rest = [rest[0].subarray(written), ...rest.slice(1)];
  }
}

async function fsyncDir(dir: string, what: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await fsp.open(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
    await handle.sync();
  } catch (err) {
    throw fsError(`${what}: fsync of folder ${dir}`, err);
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

async function removeQuietly(p: string): Promise<void> {
  await fsp.unlink(p).catch(() => undefined);
}
