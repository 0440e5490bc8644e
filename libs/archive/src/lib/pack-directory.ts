import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { WsError, WsErrorCode, errnoCodeOf } from '@wsrun/common';
import { closeFd, DirentType, fgetxattrs, readDirFd, readlinkAt } from '@wsrun/native-ns';
import { DEFAULT_MAX_META_SIZE } from './pax';
import { O_NOATIME, O_PATH, openBeneath } from './safe-tree';
import { byBytes } from './staging';
import { identityIdMapper, type IdMapper, type TarEntryType } from './tar-entry';
import { TarWriter, type TarWriteEntry } from './tar-writer';

/**
 * Packs a directory tree (a user's workspace: untrusted content) into a pax tar stream without
 * following any symlink: every member is opened relative to its parent's fd with O_NOFOLLOW and
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, directories are listed through their own fds, symlinks
 * are read through an O_PATH fd of the link. Members come in a deterministic order (names in
 * byte order, parents before children); file contents are streamed in chunks with the output's
 * backpressure. Owners are written through mapId (host ids → workspace ids).
 */

export interface PackOptions {
  /** host uid/gid → the ids to write (workspace ids); identity by default */
  mapId?: IdMapper;
  /** include extended attributes of files and directories (default true) */
  xattrs?: boolean;
  signal?: AbortSignal;
  /** output buffer size in bytes (default 1 MiB) */
  highWaterMark?: number;
}

export interface PackStats {
  entries: number;
  /** archive bytes written */
  bytes: number;
  /** members left out (sockets, files that vanished) or stored while they changed (shrank) */
  warnings: { path: string; reason: string }[];
}

export interface PackResult {
  /** the archive; an error destroys it with the same WsError `done` rejects with */
  stream: Readable;
  /** resolves when the last byte has been handed to the stream */
  done: Promise<PackStats>;
}

const CHUNK = 1024 * 1024;
/** files up to this size are read with blocking reads (see readSmallFile) */
const SYNC_READ_MAX = 256 * 1024;
/** xattr bytes per member: half the pax header limit of the reader (DEFAULT_MAX_META_SIZE), the rest for path and times */
const XATTR_BUDGET = DEFAULT_MAX_META_SIZE / 2;
const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;

/** Starts packing the tree at rootFd (not closed, not itself an entry); read `stream` to make progress. */
export function packDirectory(rootFd: number, options: PackOptions = {}): PackResult {
  const writer = new TarWriter(options.highWaterMark !== undefined ? { highWaterMark: options.highWaterMark } : {});
  const packer = new Packer(rootFd, writer, options);
  const done = packer.run().catch((err: unknown) => {
    const wrapped = err instanceof WsError ? err : WsError.wrap('packing directory', err, WsErrorCode.Internal);
    writer.abort(wrapped);
    throw wrapped;
  });
  // the caller may only read the stream; a failure also reaches it as a stream error
  done.catch(() => undefined);
  return { stream: writer.stream, done };
}

interface Frame {
  fd: number;
  owned: boolean;
  prefix: string;
  entries: { name: string; type: number }[];
  next: number;
}

class Packer {
  private readonly mapId: IdMapper;
  private readonly warnings: PackStats['warnings'] = [];
  /** dev:ino of files with several links → the first path written */
  private readonly links = new Map<string, string>();

  constructor(
    private readonly rootFd: number,
    private readonly writer: TarWriter,
    private readonly opts: PackOptions,
  ) {
    this.mapId = opts.mapId ?? identityIdMapper;
  }

  async run(): Promise<PackStats> {
    const stack: Frame[] = [{ fd: this.rootFd, owned: false, prefix: '', entries: listDir(this.rootFd), next: 0 }];
    try {
      while (stack.length > 0) {
        const top = stack[stack.length - 1];
        if (top.next >= top.entries.length) {
          stack.pop();
          if (top.owned) closeFd(top.fd);
          continue;
        }
        this.checkAbort();
        const { name, type } = top.entries[top.next++];
        const path = top.prefix ? `${top.prefix}/${name}` : name;
        const childDir = await this.packOne(top.fd, name, type, path);
        if (childDir !== undefined) stack.push({ fd: childDir, owned: true, prefix: path, entries: listDir(childDir), next: 0 });
      }
      this.checkAbort();
      const stats = await this.writer.finish();
      return { ...stats, warnings: this.warnings };
    } finally {
      for (const f of stack) if (f.owned) closeFd(f.fd);
    }
  }

  private checkAbort(): void {
    if (this.opts.signal?.aborted) throw new WsError(WsErrorCode.Cancelled, 'packing cancelled');
  }

  /** Writes one member; returns a readable fd of it when it is a directory to descend into. */
  private async packOne(dirFd: number, name: string, dtype: number, path: string): Promise<number | undefined> {
    if (dtype === DirentType.file) {
      // the common case in one open: O_NOFOLLOW|O_NONBLOCK cannot follow a link or block on a
      // FIFO swapped in meanwhile, and fstat confirms the type (else the O_PATH path below takes
      // over). A device node swapped in would be opened: workspace users cannot create real ones.
      const fd = openFileForRead(dirFd, name);
      if (fd !== undefined) {
        try {
          const st = fs.fstatSync(fd, { bigint: true });
          if (st.isFile()) {
            await this.packOpenFile(fd, st, path);
            return undefined;
          }
        } finally {
          closeFd(fd);
        }
      }
    }
    let pathFd: number;
    try {
      pathFd = openBeneath(dirFd, name, O_PATH | O_NOFOLLOW);
    } catch (err) {
      if (errnoCodeOf(err) === 'ENOENT') return this.warn(path, 'removed while packing');
      throw WsError.wrap(`packing ${JSON.stringify(path)}`, err, WsErrorCode.Internal);
    }
    try {
      const st = fs.fstatSync(pathFd, { bigint: true });
      if (st.isDirectory()) {
        // "." of the O_PATH fd is that same directory: no window for a swap
        const fd = openBeneath(pathFd, '', O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
        try {
          await this.writer.add(this.entryOf(path, st, 'dir', { xattrs: this.xattrsOf(fd, path) }));
        } catch (err) {
          closeFd(fd);
          throw err;
        }
        return fd;
      }
      if (st.isFile()) {
        await this.packFile(dirFd, name, path, st);
      } else if (st.isSymbolicLink()) {
        await this.writer.add(this.entryOf(path, st, 'symlink', { linkpath: readlinkAt(pathFd, '') }));
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const { major, minor } = splitDev(st.rdev);
        await this.writer.add(this.entryOf(path, st, st.isCharacterDevice() ? 'char' : 'block', { devMajor: major, devMinor: minor }));
      } else if (st.isFIFO()) {
        await this.writer.add(this.entryOf(path, st, 'fifo'));
      } else {
        this.warn(path, 'socket (tar cannot store it)');
      }
      return undefined;
    } finally {
      closeFd(pathFd);
    }
  }

  /** The entry for a member; `extra` fills the type's own fields. */
  private entryOf(path: string, st: fs.BigIntStats, type: TarEntryType, extra: Partial<Pick<TarWriteEntry, 'size' | 'linkpath' | 'xattrs' | 'devMajor' | 'devMinor'>> = {}): TarWriteEntry {
    const uid = this.mapId.uid(Number(st.uid));
    const gid = this.mapId.gid(Number(st.gid));
    if (!Number.isInteger(uid) || uid < 0 || !Number.isInteger(gid) || gid < 0) {
      throw new WsError(WsErrorCode.FailedPrecondition, `packing ${JSON.stringify(path)}: owner ${st.uid}:${st.gid} has no mapping`);
    }
    // every field in one literal, no spread: objects of one shape for the writer, which runs per member
    return {
      path,
      type,
      mode: Number(st.mode & 0o7777n),
      uid,
      gid,
      mtimeNs: st.mtimeNs,
      size: extra.size,
      linkpath: extra.linkpath,
      xattrs: extra.xattrs,
      devMajor: extra.devMajor,
      devMinor: extra.devMinor,
    };
  }

  /** A regular file found through its O_PATH fd: opened for reading and checked to be the same inode. */
  private async packFile(dirFd: number, name: string, path: string, st: fs.BigIntStats): Promise<void> {
    const fd = openFileForRead(dirFd, name);
    if (fd === undefined) {
      this.warn(path, 'removed while packing');
      return;
    }
    try {
      const now = fs.fstatSync(fd, { bigint: true });
      if (now.dev !== st.dev || now.ino !== st.ino || !now.isFile()) {
        this.warn(path, 'replaced while packing');
        return;
      }
      await this.packOpenFile(fd, now, path);
    } finally {
      closeFd(fd);
    }
  }

  /** A regular file from its read fd (not closed here): a hardlink entry if its inode was written before. */
  private async packOpenFile(fd: number, st: fs.BigIntStats, path: string): Promise<void> {
    const key = st.nlink > 1n ? `${st.dev}:${st.ino}` : '';
    if (key) {
      const first = this.links.get(key);
      if (first !== undefined) return this.writer.add(this.entryOf(path, st, 'hardlink', { linkpath: first }));
    }
    const size = Number(st.size);
    const xattrs = this.xattrsOf(fd, path);
    // small files in one blocking read: a thread-pool round trip per file costs more than the read
    const body = size <= SYNC_READ_MAX ? this.readSmallFile(fd, size, path) : this.fileBody(fd, size, path);
    await this.writer.add(this.entryOf(path, st, 'file', { size, xattrs }), body);
    if (key) this.links.set(key, path);
  }

  /** `size` bytes of the file; a file that shrank meanwhile is padded with zeros (GNU tar does the same). */
  private async *fileBody(fd: number, size: number, path: string): AsyncGenerator<Buffer> {
    let pos = 0;
    while (pos < size) {
      this.checkAbort();
      const want = Math.min(CHUNK, size - pos);
      const buf = Buffer.allocUnsafe(want);
      const n = await readAt(fd, buf, pos);
      if (n === 0) {
        this.warn(path, `shrank by ${size - pos} bytes while packing; padded with zeros`);
        for (; pos < size; pos += Math.min(CHUNK, size - pos)) yield Buffer.alloc(Math.min(CHUNK, size - pos));
        return;
      }
      pos += n;
      yield n === want ? buf : buf.subarray(0, n);
    }
  }

  /** All `size` bytes of a small file, read synchronously; zero-padded like fileBody when it shrank. */
  private readSmallFile(fd: number, size: number, path: string): Buffer {
    const buf = Buffer.allocUnsafe(size);
    let pos = 0;
    while (pos < size) {
      const n = fs.readSync(fd, buf, pos, size - pos, pos);
      if (n === 0) {
        this.warn(path, `shrank by ${size - pos} bytes while packing; padded with zeros`);
        buf.fill(0, pos);
        break;
      }
      pos += n;
    }
    return buf;
  }

  /**
   * The xattrs to store. Names with "=" cannot be a pax key (the key ends at the first "="), and
   * more than XATTR_BUDGET bytes would make a pax header our reader refuses: both are left out
   * with a warning rather than writing an archive that cannot be restored.
   */
  private xattrsOf(fd: number, path: string): Record<string, Buffer> | undefined {
    if (this.opts.xattrs === false) return undefined;
    const out: Record<string, Buffer> = {};
    let total = 0;
    for (const [name, value] of Object.entries(fgetxattrs(fd))) {
      if (name.includes('=')) {
        this.warn(path, `xattr ${JSON.stringify(name)} left out: "=" cannot be stored in a pax key`);
        continue;
      }
      total += name.length + value.length + 32;
      if (total > XATTR_BUDGET) {
        this.warn(path, `xattr ${JSON.stringify(name)} left out: the xattrs exceed ${XATTR_BUDGET} bytes`);
        continue;
      }
      out[name] = value;
    }
    return out;
  }

  private warn(path: string, reason: string): undefined {
    this.warnings.push({ path, reason });
    return undefined;
  }
}

function listDir(fd: number): { name: string; type: number }[] {
  return readDirFd(fd).sort((a, b) => byBytes(a.name, b.name));
}

/** A read fd of dirFd/name (never a symlink); O_NOATIME when allowed; undefined when it vanished. */
function openFileForRead(dirFd: number, name: string): number | undefined {
  const flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK;
  try {
    try {
      return openBeneath(dirFd, name, flags | O_NOATIME);
    } catch (err) {
      if (errnoCodeOf(err) !== 'EPERM') throw err;
      return openBeneath(dirFd, name, flags);
    }
  } catch (err) {
    if (errnoCodeOf(err) === 'ENOENT' || errnoCodeOf(err) === 'ELOOP') return undefined;
    throw err;
  }
}

function readAt(fd: number, buf: Buffer, position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buf, 0, buf.length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

/** glibc's major()/minor() of a dev_t. */
export function splitDev(dev: bigint): { major: number; minor: number } {
  return {
    major: Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn)),
    minor: Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn & 0xffffffffn)),
  };
}
