import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { WsError, WsErrorCode, errnoCodeOf } from '@wsrun/common';
import { closeFd, fsetxattr, linkAt, lchownAt, lutimesAt, mkdirAt, mknodAt, openRoot, symlinkAt, unlinkAt } from '@wsrun/native-ns';
import { checkEntryPath, symlinkRefusal, typeRefusal, type PolicyOptions } from './extract-policy';
import { writeAllSync, writeChunks } from './fd-write';
import { FileBatches } from './file-batches';
import { chmodFd, isEmptyDirAt, lstatAt, O_PATH, openBeneath, openDirBeneath, openOrCreateDirs, withFd } from './safe-tree';
import { commitStaging, createStaging, removeStaging, type Staging } from './staging';
import { identityIdMapper, type IdMapper, type TarEntryHeader } from './tar-entry';
import { TarParser, type TarEntry } from './tar-parser';

/**
 * Safe, all-or-nothing extraction of an untrusted tar stream into a directory.
 *
 * Every member is created below a staging directory inside the root (staging.ts) through
 * directory fds: the parent is opened with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, the last
 * component is created with an *at call on that parent (files O_CREAT|O_EXCL|O_NOFOLLOW), so no
 * member is ever written through a symlink, not even one this archive created, and no path can
 * leave the root. Members the policy refuses (absolute, "..", escaping links, devices, writes
 * through symlinks ...) are skipped and listed in `refused`; a malformed archive (checksum, pax,
 * sizes, truncation, unsupported types) rejects the whole extraction and the staging directory
 * is removed, so the root never sees a half-written tree. Only a fully read, valid archive is
 * moved into the root (commitStaging), then directory modes/owners/times are set deepest first.
 * A crash between that move and the directory metadata leaves complete content with private
 * (0700) directories: callers must treat only a resolved promise as success.
 *
 * Small files are created in native batches on the thread pool while the next members are parsed
 * (file-batches.ts). Batched files never change the outcome: any member that could touch a queued
 * path (the same path, a parent or a child of it, a hardlink, anything not a directory) first
 * waits until every queued file exists, and a batch that fails hands its rest back to be created
 * here one by one, the sequential way.
 */

export type ExtractDestination = { rootFd: number } | { path: string };

export interface ExtractProgress {
  entries: number;
  bytes: number;
}

export interface ExtractOptions {
  /** archive uid/gid → host uid/gid (identity by default) */
  mapId?: IdMapper;
  /** set owners (lchown); default: when running as root */
  chown?: boolean;
  /** keep symlinks whose target is absolute or climbs above the root (default false) */
  allowEscapingSymlinks?: boolean;
  /** create device nodes and FIFOs (default false: refused) */
  allowDevices?: boolean;
  /** restore extended attributes (default true) */
  xattrs?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: ExtractProgress) => void;
  /** at most one onProgress call per interval (default 250 ms), plus a final one */
  progressIntervalMs?: number;
  /** largest pax header / GNU long name accepted (default 1 MiB) */
  maxMetaSize?: number;
}

export interface RefusedEntry {
  path: string;
  reason: string;
}

export interface SkippedXattr {
  path: string;
  name: string;
  /** errno name: EPERM, ENOTSUP ... */
  code: string;
}

export interface ExtractResult {
  /** members created */
  entries: number;
  /** file body bytes written */
  bytes: number;
  refused: RefusedEntry[];
  skippedXattrs: SkippedXattr[];
  durationMs: number;
}

/** An entry the policy or the filesystem walls refused: skipped, reported, extraction continues. */
class Refusal extends Error {}

/** errno of a per-entry syscall that means "this member would break out or cannot exist here". */
const REFUSING_ERRNO: Record<string, string> = {
  ELOOP: 'path passes through a symlink',
  EXDEV: 'path leaves the root',
  ENOTDIR: 'a parent is not a directory',
  ENAMETOOLONG: 'name too long',
};

/** xattr failures that skip the attribute: the kernel or filesystem does not let us set it. */
const SKIPPABLE_XATTR_ERRNO = new Set(['EPERM', 'EACCES', 'ENOTSUP', 'EOPNOTSUPP', 'EINVAL', 'E2BIG', 'ERANGE']);

const { O_CREAT, O_EXCL, O_WRONLY, O_NOFOLLOW, O_RDONLY } = fs.constants;
const S_IFMT_OF = { char: 0o020000, block: 0o060000, fifo: 0o010000 } as const;
const IMPLICIT_DIR_MODE = 0o755;
/** bodies up to this size are written with one blocking writev once all of it is in memory */
const SYNC_WRITE_MAX = 256 * 1024;

/** A small file queued for creation in a native batch. */
interface QueuedFile {
  parts: string[];
  path: string;
  /** the archive's name, for refusals */
  entryPath: string;
  h: TarEntryHeader;
  data: Buffer;
  /** counted in Extraction.fdUsers until the file is created */
  parentFd: number;
}

interface DirMeta {
  implicit: boolean;
  mode: number;
  uid?: number;
  gid?: number;
  atimeNs?: bigint;
  mtimeNs?: bigint;
  xattrs?: Map<string, Buffer>;
}

/**
 * Extracts a tar stream into destination (see the file comment). Rejects with WsError:
 * INVALID_ARGUMENT for a malformed or unsupported archive, CANCELLED when signal aborts,
 * INTERNAL/RESOURCE_EXHAUSTED for filesystem failures; in every case the root is unchanged.
 */
export async function extractTar(input: AsyncIterable<unknown>, destination: ExtractDestination, options: ExtractOptions = {}): Promise<ExtractResult> {
  const ownRoot = 'path' in destination;
  let rootFd: number;
  try {
    rootFd = ownRoot ? openRoot(destination.path) : destination.rootFd;
  } catch (err) {
    throw WsError.wrap(`opening extraction root ${JSON.stringify(ownRoot ? destination.path : '')}`, err, fsErrorCode(err));
  }
  try {
    return await new Extraction(rootFd, options).run(input);
  } finally {
    if (ownRoot) closeFd(rootFd);
  }
}

class Extraction {
  private readonly started = performance.now();
  private readonly policy: PolicyOptions;
  private readonly chown: boolean;
  private readonly mapId: IdMapper;
  private readonly refused: RefusedEntry[] = [];
  private readonly skippedXattrs: SkippedXattr[] = [];
  private entries = 0;
  private bytes = 0;
  private lastProgress = 0;
  private readonly dirMeta = new Map<string, DirMeta>();
  private staging: Staging | undefined;
  /** the last parent directory opened: members of one directory come in a row */
  private parentCache: { path: string; fd: number } | undefined;
  private readonly batches = new FileBatches<QueuedFile>((q) => this.queuedFileCreated(q));
  private readonly queuedPaths = new Set<string>();
  /** parent directory of queued files → how many */
  private readonly queuedDirs = new Map<string, number>();
  /** parent fds queued files still need → how many; a parent dropped from the cache meanwhile is closed at 0 */
  private readonly fdUsers = new Map<number, number>();
  private readonly retiredFds = new Set<number>();

  constructor(
    private readonly rootFd: number,
    private readonly opts: ExtractOptions,
  ) {
    this.policy = { allowEscapingSymlinks: opts.allowEscapingSymlinks ?? false, allowDevices: opts.allowDevices ?? false };
    this.chown = opts.chown ?? process.getuid?.() === 0;
    this.mapId = opts.mapId ?? identityIdMapper;
  }

  async run(input: AsyncIterable<unknown>): Promise<ExtractResult> {
    const signal = this.opts.signal;
    const onAbort = (): void => {
      // the parser stops waiting by itself; a Readable source is also released right away
      (input as { destroy?: (e: Error) => void }).destroy?.(cancelled());
    };
    if (signal?.aborted) throw cancelled();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      this.staging = createStaging(this.rootFd);
      const parser = new TarParser(input, { ...(this.opts.maxMetaSize !== undefined ? { maxMetaSize: this.opts.maxMetaSize } : {}), ...(signal ? { signal } : {}) });
      for await (const entry of parser) {
        this.checkAbort();
        await this.extractEntry(entry);
        this.progress(false);
      }
      await this.settleQueuedFiles();
      this.checkAbort();
      this.closeDirFds();
      const outcome = commitStaging(this.staging.fd, this.rootFd);
      this.refused.push(...outcome.conflicts);
      const leftover = removeStaging(this.rootFd, this.staging);
      this.staging = undefined;
      if (leftover) throw leftover;
      this.applyDirMeta(outcome.merged);
      this.progress(true);
      return {
        entries: this.entries,
        bytes: this.bytes,
        refused: this.refused,
        skippedXattrs: this.skippedXattrs,
        durationMs: performance.now() - this.started,
      };
    } catch (err) {
      // no batch may still be writing into the staging directory about to be removed
      await this.batches.discard();
      this.closeDirFds();
      const cleanupError = this.staging ? removeStaging(this.rootFd, this.staging) : undefined;
      throw failure(signal?.aborted ? cancelled() : err, cleanupError);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  private checkAbort(): void {
    if (this.opts.signal?.aborted) throw cancelled();
  }

  private progress(final: boolean): void {
    const cb = this.opts.onProgress;
    if (!cb) return;
    const now = performance.now();
    if (!final && now - this.lastProgress < (this.opts.progressIntervalMs ?? 250)) return;
    this.lastProgress = now;
    cb({ entries: this.entries, bytes: this.bytes });
  }

  private refuse(path: string, reason: string): void {
    this.refused.push({ path, reason });
  }

  private async extractEntry(entry: TarEntry): Promise<void> {
    const h = entry.header;
    const check = checkEntryPath(h.path);
    if (check.kind === 'root') {
      // "./" describes the destination itself, which is not the archive's to change
      if (h.type !== 'dir') this.refuse(h.path, 'entry names the destination root');
      return;
    }
    if (check.kind === 'refused') return this.refuse(h.path, check.reason);
    const typeReason = typeRefusal(h, this.policy);
    if (typeReason) return this.refuse(h.path, typeReason);
    const parts = check.parts;
    const path = parts.join('/');
    try {
      // only directories and small files pass queued files (when they touch none of them)
      const mayPassQueue = h.type === 'dir' || (h.type === 'file' && this.batchable(h));
      if (!this.batches.idle && (!mayPassQueue || this.touchesQueued(path))) await this.settleQueuedFiles();
      switch (h.type) {
        case 'dir':
          this.makeDir(parts, path, h);
          break;
        case 'file':
          if (mayPassQueue) return await this.queueFile(parts, path, h, entry);
          await this.writeFile(parts, path, h, entry);
          break;
        case 'symlink':
          this.makeSymlink(parts, path, h);
          break;
        case 'hardlink':
          this.makeHardlink(parts, path, h);
          break;
        default:
          this.makeNode(parts, path, h);
      }
      this.entries++;
    } catch (err) {
      this.entryFailed(h.path, err);
    }
  }

  /** A member that failed: refused (skipped, listed) when the policy or the walls said no, else the extraction fails. */
  private entryFailed(entryPath: string, err: unknown): void {
    if (err instanceof Refusal) return this.refuse(entryPath, err.message);
    const reason = REFUSING_ERRNO[errnoCodeOf(err) ?? ''];
    if (reason) return this.refuse(entryPath, reason);
    throw WsError.wrap(`extracting ${JSON.stringify(entryPath)}`, err, fsErrorCode(err));
  }

  /** A file small enough to be written whole from memory, with nothing a batch cannot set. */
  private batchable(h: TarEntryHeader): boolean {
    return h.size <= SYNC_WRITE_MAX && (this.opts.xattrs === false || h.xattrs.size === 0);
  }

  /** Whether a member at path could meet a queued file: the same path, one above it, or one below. */
  private touchesQueued(path: string): boolean {
    if (this.queuedPaths.has(path)) return true;
    for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
      if (this.queuedPaths.has(path.slice(0, i))) return true;
    }
    const below = `${path}/`;
    for (const dir of this.queuedDirs.keys()) {
      if (dir === path || dir.startsWith(below)) return true;
    }
    return false;
  }

  /** Queues a small file for a native batch; waits only when the batches are full. */
  private async queueFile(parts: string[], path: string, h: TarEntryHeader, entry: TarEntry): Promise<void> {
    const ids = this.ids(h);
    // a copy: the batch holds it past the parser's next read
    const data = Buffer.concat(entry.takeBuffered() ?? (await collect(entry.body)));
    const parentFd = this.parent(parts);
    const dir = parts.slice(0, -1).join('/');
    this.fdUsers.set(parentFd, (this.fdUsers.get(parentFd) ?? 0) + 1);
    this.queuedPaths.add(path);
    this.queuedDirs.set(dir, (this.queuedDirs.get(dir) ?? 0) + 1);
    const queued: QueuedFile = { parts, path, entryPath: h.path, h, data, parentFd };
    const file = {
      dirFd: parentFd,
      name: parts[parts.length - 1],
      data,
      uid: ids?.uid ?? -1,
      gid: ids?.gid ?? -1,
      mode: h.mode,
      atimeNs: kernelTime(h.atimeNs ?? h.mtimeNs),
      mtimeNs: kernelTime(h.mtimeNs),
    };
    const full = this.batches.add(file, queued);
    if (full) await full;
  }

  private queuedFileCreated(q: QueuedFile): void {
    this.unqueue(q);
    this.entries++;
    this.bytes += q.data.length;
  }

  private unqueue(q: QueuedFile): void {
    this.queuedPaths.delete(q.path);
    const dir = q.parts.slice(0, -1).join('/');
    const files = (this.queuedDirs.get(dir) ?? 1) - 1;
    if (files === 0) this.queuedDirs.delete(dir);
    else this.queuedDirs.set(dir, files);
    const users = (this.fdUsers.get(q.parentFd) ?? 1) - 1;
    if (users > 0) {
      this.fdUsers.set(q.parentFd, users);
      return;
    }
    this.fdUsers.delete(q.parentFd);
    if (this.retiredFds.delete(q.parentFd)) closeFd(q.parentFd);
  }

  /** Waits until every queued file exists; what a failed batch handed back is created here, in order. */
  private async settleQueuedFiles(): Promise<void> {
    for (const q of await this.batches.settle()) {
      try {
        this.createFileNow(q);
        this.entries++;
        this.bytes += q.data.length;
      } catch (err) {
        this.entryFailed(q.entryPath, err);
      } finally {
        this.unqueue(q);
      }
    }
  }

  /** A queued file the sequential way (after its batch failed): the same steps as writeFile. */
  private createFileNow(q: QueuedFile): void {
    const ids = this.ids(q.h);
    const name = q.parts[q.parts.length - 1];
    const fd = this.createFresh(q.parentFd, name, q.path, () => openBeneath(q.parentFd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0o600));
    if (fd === undefined) throw new WsError(WsErrorCode.Internal, `${q.path}: no file descriptor`);
    withFd(fd, () => {
      writeAllSync(fd, [q.data], 0);
      if (ids) fs.fchownSync(fd, ids.uid, ids.gid);
      fs.fchmodSync(fd, q.h.mode);
      setTimes(fd, '', q.h.atimeNs, q.h.mtimeNs);
    });
  }

  /** Host ids for a member, or a refusal when the map has none. */
  private ids(h: TarEntryHeader): { uid: number; gid: number } | undefined {
    if (!this.chown) return undefined;
    const uid = this.mapId.uid(h.uid);
    const gid = this.mapId.gid(h.gid);
    const valid = (v: number): boolean => Number.isInteger(v) && v >= 0 && v <= 0xfffffffe;
    if (!valid(uid)) throw new Refusal(`uid ${h.uid} has no mapping`);
    if (!valid(gid)) throw new Refusal(`gid ${h.gid} has no mapping`);
    return { uid, gid };
  }

  /** The parent directory fd of parts (created 0700 as needed, never through a symlink). Not to be closed. */
  private parent(parts: readonly string[]): number {
    const staging = this.stagingDir();
    const dirParts = parts.slice(0, -1);
    const key = dirParts.join('/');
    if (this.parentCache?.path === key) return this.parentCache.fd;
    this.dropParentCache();
    const fd = openOrCreateDirs(staging.fd, dirParts, 0o700, (rel) => {
      this.dirMeta.set(rel, { implicit: true, mode: IMPLICIT_DIR_MODE });
    });
    this.parentCache = { path: key, fd };
    return fd;
  }

  private stagingDir(): Staging {
    if (!this.staging) throw new WsError(WsErrorCode.Internal, 'extraction: no staging directory');
    return this.staging;
  }

  private dropParentCache(): void {
    const fd = this.parentCache?.fd;
    this.parentCache = undefined;
    if (fd === undefined) return;
    // queued files still need it: closed when the last of them is created
    if (this.fdUsers.has(fd)) this.retiredFds.add(fd);
    else closeFd(fd);
  }

  /** Closes every directory fd this extraction holds (nothing is queued any more). */
  private closeDirFds(): void {
    this.dropParentCache();
    // a retired fd is also in fdUsers while files need it: each closed once
    for (const fd of new Set([...this.retiredFds, ...this.fdUsers.keys()])) closeFd(fd);
    this.retiredFds.clear();
    this.fdUsers.clear();
  }

  /**
   * Makes room for a new member at parentFd/name: a file or symlink there is removed, an empty
   * directory too; a non-empty one refuses the member. A directory stays when `merge` is set.
   * Returns true when a directory is there to merge into.
   */
  private makeRoom(parentFd: number, name: string, path: string, merge: boolean): boolean {
    const st = lstatAt(parentFd, name);
    if (!st) return false;
    if (st.isDirectory()) {
      if (merge) return true;
      if (!isEmptyDirAt(parentFd, name)) throw new Refusal('would replace a non-empty directory');
      // an fd cached for this directory would now point at a removed inode
      if (this.parentCache?.path === path) this.dropParentCache();
      unlinkAt(parentFd, name, true);
      this.dirMeta.delete(path);
    } else {
      unlinkAt(parentFd, name, false);
    }
    return false;
  }

  /**
   * Runs `create` (an mkdirat/openat O_EXCL/symlinkat/linkat/mknodat of parentFd/name); when the
   * name is taken, makes room (see makeRoom) and tries once more. Trying first saves a stat per
   * member in the common case of a fresh name. Returns undefined when a directory stays to merge into.
   */
  private createFresh<T>(parentFd: number, name: string, path: string, create: () => T, mergeDir = false): T | undefined {
    try {
      return create();
    } catch (err) {
      if (errnoCodeOf(err) !== 'EEXIST') throw err;
    }
    if (this.makeRoom(parentFd, name, path, mergeDir)) return undefined;
    return create();
  }

  private makeDir(parts: string[], path: string, h: TarEntryHeader): void {
    const ids = this.ids(h);
    const parentFd = this.parent(parts);
    const name = parts[parts.length - 1];
    this.createFresh(parentFd, name, path, () => mkdirAt(parentFd, name, 0o700), true);
    // mode, owner, times and xattrs at the very end, deepest first (a 0555 directory must not block its children)
    this.dirMeta.set(path, { implicit: false, mode: h.mode, ...ids, atimeNs: h.atimeNs ?? h.mtimeNs, mtimeNs: h.mtimeNs, xattrs: h.xattrs });
  }

  private async writeFile(parts: string[], path: string, h: TarEntryHeader, entry: TarEntry): Promise<void> {
    const ids = this.ids(h);
    const parentFd = this.parent(parts);
    const name = parts[parts.length - 1];
    const fd = this.createFresh(parentFd, name, path, () => openBeneath(parentFd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0o600));
    if (fd === undefined) throw new WsError(WsErrorCode.Internal, `${path}: no file descriptor`);
    try {
      if (h.size <= SYNC_WRITE_MAX) {
        // small bodies in one blocking writev: a thread-pool round trip per file costs more than the write
        writeAllSync(fd, entry.takeBuffered() ?? (await collect(entry.body)), 0);
        this.bytes += h.size;
      } else {
        await writeChunks(fd, entry.body, (n) => {
          this.bytes += n;
          this.checkAbort();
          this.progress(false);
        });
      }
      // chown before xattrs (chown drops security.capability) and before chmod (it drops setuid)
      if (ids) fs.fchownSync(fd, ids.uid, ids.gid);
      this.setXattrs(fd, path, h.xattrs);
      fs.fchmodSync(fd, h.mode);
      setTimes(fd, '', h.atimeNs, h.mtimeNs);
    } finally {
      closeFd(fd);
    }
  }

  private makeSymlink(parts: string[], path: string, h: TarEntryHeader): void {
    const reason = symlinkRefusal(parts, h.linkpath, this.policy);
    if (reason) throw new Refusal(reason);
    const ids = this.ids(h);
    const parentFd = this.parent(parts);
    const name = parts[parts.length - 1];
    this.createFresh(parentFd, name, path, () => symlinkAt(h.linkpath, parentFd, name));
    if (ids) lchownAt(parentFd, name, ids.uid, ids.gid);
    setTimes(parentFd, name, h.atimeNs, h.mtimeNs);
  }

  /**
   * A hardlink only to a regular file this archive extracted earlier, inside the root; it shares
   * that file's metadata. The staging directory holds nothing but this archive's members, so "a
   * regular file in staging" is exactly that (no list of paths to keep in memory).
   */
  private makeHardlink(parts: string[], path: string, h: TarEntryHeader): void {
    const target = checkEntryPath(h.linkpath);
    if (target.kind !== 'ok') throw new Refusal(`hardlink target ${JSON.stringify(h.linkpath)} is outside the root`);
    if (target.parts.join('/') === path) throw new Refusal('hardlink to itself');
    const notExtracted = new Refusal(`hardlink target ${JSON.stringify(h.linkpath)} is not a file extracted earlier from this archive`);
    const targetName = target.parts[target.parts.length - 1];
    let targetDirFd: number;
    try {
      targetDirFd = openDirBeneath(this.stagingDir().fd, target.parts.slice(0, -1).join('/'));
    } catch (err) {
      if (['ENOENT', 'ENOTDIR', 'ELOOP', 'EXDEV'].includes(errnoCodeOf(err) ?? '')) throw notExtracted;
      throw err;
    }
    withFd(targetDirFd, () => {
      if (!lstatAt(targetDirFd, targetName)?.isFile()) throw notExtracted;
      const parentFd = this.parent(parts);
      const name = parts[parts.length - 1];
      // linkat without AT_SYMLINK_FOLLOW: never follows the target
      this.createFresh(parentFd, name, path, () => linkAt(targetDirFd, targetName, parentFd, name));
    });
  }

  private makeNode(parts: string[], path: string, h: TarEntryHeader): void {
    const ids = this.ids(h);
    const parentFd = this.parent(parts);
    const name = parts[parts.length - 1];
    const type = h.type as keyof typeof S_IFMT_OF;
    try {
      this.createFresh(parentFd, name, path, () => mknodAt(parentFd, name, S_IFMT_OF[type] | 0o600, type === 'fifo' ? 0 : makedev(h.devMajor, h.devMinor)));
    } catch (err) {
      if (errnoCodeOf(err) === 'EPERM') throw new Refusal(`cannot create ${type === 'fifo' ? 'a FIFO' : 'a device node'}: EPERM`);
      throw err;
    }
    if (ids) lchownAt(parentFd, name, ids.uid, ids.gid);
    // opening a device or FIFO could block or have effects: chmod through an O_PATH fd
    withFd(openBeneath(parentFd, name, O_PATH | O_NOFOLLOW), (fd) => chmodFd(fd, h.mode));
    setTimes(parentFd, name, h.atimeNs, h.mtimeNs);
  }

  private setXattrs(fd: number, path: string, xattrs: ReadonlyMap<string, Buffer> | undefined): void {
    if (this.opts.xattrs === false || !xattrs) return;
    for (const [name, value] of xattrs) {
      try {
        fsetxattr(fd, name, value);
      } catch (err) {
        const code = errnoCodeOf(err);
        if (!code || !SKIPPABLE_XATTR_ERRNO.has(code)) throw err;
        this.skippedXattrs.push({ path, name, code });
      }
    }
  }

  /**
   * Directory metadata in the root, deepest first so that a read-only directory never blocks
   * its children and setting a child never bumps a parent's mtime afterwards. Implicit
   * directories (never named by the archive) get 0755, but a directory that already existed in
   * the root keeps its own metadata unless the archive named it.
   */
  private applyDirMeta(merged: Set<string>): void {
    const depth = (p: string): number => p.split('/').length;
    const dirs = [...this.dirMeta].sort(([a], [b]) => depth(b) - depth(a) || (a < b ? -1 : a > b ? 1 : 0));
    for (const [path, meta] of dirs) {
      if (meta.implicit && merged.has(path)) continue;
      let fd: number;
      try {
        fd = openDirBeneath(this.rootFd, path, O_RDONLY);
      } catch (err) {
        // replaced in the root meanwhile: not ours to touch any more
        if (['ENOENT', 'ENOTDIR', 'ELOOP', 'EXDEV'].includes(errnoCodeOf(err) ?? '')) continue;
        throw WsError.wrap(`setting metadata of ${JSON.stringify(path)}`, err, fsErrorCode(err));
      }
      withFd(fd, () => {
        if (meta.uid !== undefined && meta.gid !== undefined) fs.fchownSync(fd, meta.uid, meta.gid);
        this.setXattrs(fd, path, meta.xattrs);
        fs.fchmodSync(fd, meta.mode);
        if (meta.mtimeNs !== undefined) setTimes(fd, '', meta.atimeNs, meta.mtimeNs);
      });
    }
  }
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
}

/**
 * native-ns builds the timespec with C division, which gives a negative tv_nsec (EINVAL) for a
 * pre-1970 time with a fraction: such times are set to the whole second before them.
 */
function kernelTime(ns: bigint): bigint {
  const frac = ns % 1_000_000_000n;
  return frac < 0n ? ns - frac - 1_000_000_000n : ns;
}

/** lutimesAt with atime defaulting to mtime. */
function setTimes(dirFd: number, name: string, atimeNs: bigint | undefined, mtimeNs: bigint): void {
  lutimesAt(dirFd, name, kernelTime(atimeNs ?? mtimeNs), kernelTime(mtimeNs));
}

/** glibc's makedev(): the kernel's dev_t encoding of major/minor. */
export function makedev(major: number, minor: number): number {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  const dev = ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
  return Number(dev);
}

function cancelled(): WsError {
  return new WsError(WsErrorCode.Cancelled, 'tar extraction cancelled');
}

function fsErrorCode(err: unknown): WsErrorCode | undefined {
  if (err instanceof WsError) return undefined;
  const code = errnoCodeOf(err);
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EMFILE' || code === 'ENFILE') return WsErrorCode.ResourceExhausted;
  if (code === 'EACCES' || code === 'EPERM') return WsErrorCode.PermissionDenied;
  if (code === 'ENOENT' || code === 'ENOTDIR') return WsErrorCode.NotFound;
  return WsErrorCode.Internal;
}

function failure(err: unknown, cleanupError: Error | undefined): WsError {
  const base = err instanceof WsError && err.code === WsErrorCode.Cancelled ? err : WsError.wrap('extracting tar archive', err, fsErrorCode(err));
  if (!cleanupError) return base;
  return new WsError(base.code, `${base.message} (and removing the staging directory failed: ${cleanupError.message})`, { cause: base });
}
