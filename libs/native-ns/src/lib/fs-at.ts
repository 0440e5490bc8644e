import { native } from './loader';
import type { ResolveMode } from './mounts';
import type { NativeNsError } from './native-ns.error';

/**
 * File operations relative to a directory fd. With openAt (openat2 RESOLVE_BENEATH or IN_ROOT,
 * never magic links) they let code that handles untrusted trees (archive extraction, backups of
 * a user's folder) act on the files on disk without ever following a path string out of a root.
 * `name` arguments are single path components. fds are plain numbers usable with node:fs
 * (fs.writeSync, fs.fstatSync, fs.closeSync ...).
 */

const RESOLVE: Record<ResolveMode, number> = { inRoot: 1, beneath: 2, beneathNoSymlinks: 3 };

/** d_type values from readDir */
export const DirentType = { unknown: 0, fifo: 1, char: 2, dir: 4, block: 6, file: 8, symlink: 10, socket: 12 } as const;

export interface FsAtBinding {
  openat2(dirFd: number, path: string, flags: number, mode: number, resolve: number): number;
  mkdirAt(dirFd: number, name: string, mode: number): void;
  symlinkAt(target: string, dirFd: number, name: string): void;
  linkAt(oldDirFd: number, oldName: string, newDirFd: number, newName: string): void;
  mknodAt(dirFd: number, name: string, mode: number, dev: number): void;
  unlinkAt(dirFd: number, name: string, isDir: boolean): void;
  renameAt(oldDirFd: number, oldName: string, newDirFd: number, newName: string, noReplace: boolean): void;
  lchownAt(dirFd: number, name: string, uid: number, gid: number): void;
  lutimensAt(dirFd: number, name: string, atimeNs: bigint, mtimeNs: bigint): void;
  readlinkAt(dirFd: number, name: string): string;
  fsetxattr(fd: number, name: string, value: Buffer): void;
  fgetxattrs(fd: number): Record<string, Buffer>;
  readDirFd(fd: number): { name: string; type: number }[];
  createFilesAt(names: string[], data: Buffer[], meta: BigInt64Array): Promise<{ created: number; error?: Error }>;
}

const fsat = (): FsAtBinding => native() as unknown as FsAtBinding;

/** openat2(dirFd, path) with the given resolve mode; flags/mode as for open(2); O_CLOEXEC added. */
export function openAt(dirFd: number, path: string, flags: number, opts: { mode?: number; resolve?: ResolveMode } = {}): number {
  return fsat().openat2(dirFd, path, flags, opts.mode ?? 0o644, RESOLVE[opts.resolve ?? 'beneath']);
}
export const mkdirAt = (dirFd: number, name: string, mode = 0o755): void => fsat().mkdirAt(dirFd, name, mode);
export const symlinkAt = (target: string, dirFd: number, name: string): void => fsat().symlinkAt(target, dirFd, name);
/** a hard link; a final symlink in oldName is linked itself, never followed */
export const linkAt = (oldDirFd: number, oldName: string, newDirFd: number, newName: string): void => fsat().linkAt(oldDirFd, oldName, newDirFd, newName);
export const mknodAt = (dirFd: number, name: string, mode: number, dev = 0): void => fsat().mknodAt(dirFd, name, mode, dev);
export const unlinkAt = (dirFd: number, name: string, isDir = false): void => fsat().unlinkAt(dirFd, name, isDir);
export const renameAt = (oldDirFd: number, oldName: string, newDirFd: number, newName: string, opts: { noReplace?: boolean } = {}): void =>
  fsat().renameAt(oldDirFd, oldName, newDirFd, newName, opts.noReplace ?? false);
/** chown without following a symlink; name "" means dirFd itself */
export const lchownAt = (dirFd: number, name: string, uid: number, gid: number): void => fsat().lchownAt(dirFd, name, uid, gid);
/** set atime/mtime (ns since the epoch) without following a symlink; name "" means dirFd itself */
export const lutimesAt = (dirFd: number, name: string, atimeNs: bigint, mtimeNs: bigint): void => fsat().lutimensAt(dirFd, name, atimeNs, mtimeNs);
/** a symlink's target; name "" reads the O_PATH|O_NOFOLLOW fd of the link itself */
export const readlinkAt = (dirFd: number, name: string): string => fsat().readlinkAt(dirFd, name);
export const fsetxattr = (fd: number, name: string, value: Buffer): void => fsat().fsetxattr(fd, name, value);
/** every xattr of an open (non-O_PATH) fd; {} when the filesystem has none */
export const fgetxattrs = (fd: number): Record<string, Buffer> => fsat().fgetxattrs(fd);
/** the entries of a directory fd, without "." and ".." */
export const readDirFd = (fd: number): { name: string; type: number }[] => fsat().readDirFd(fd);

/** A regular file for createFilesAt. */
export interface NewFile {
  dirFd: number;
  /** one path component */
  name: string;
  data: Buffer;
  /** owner to set; -1 (both) keeps the creating process's */
  uid: number;
  gid: number;
  /** permission bits incl. setuid/setgid/sticky, set after the owner */
  mode: number;
  atimeNs: bigint;
  mtimeNs: bigint;
}

/** values per file in createFilesAt's meta array; twin: CREATE_META_FIELDS in src/binding/fs_at.cc */
const CREATE_META_FIELDS = 6;

/**
 * Creates new regular files on the libuv thread pool, one native call per file and no JS in
 * between (for extracting many small files while the JS thread parses on): each is created under
 * its dirFd with openat2(O_CREAT|O_EXCL|O_NOFOLLOW, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), written,
 * then owner, mode and times set. In order; stops at the first failure: `created` files were
 * made, `error` (a NativeNsError) is why the next one was not. The dirFds must stay open and the
 * buffers unchanged until the promise settles.
 */
export function createFilesAt(files: readonly NewFile[]): Promise<{ created: number; error?: NativeNsError }> {
  const meta = new BigInt64Array(files.length * CREATE_META_FIELDS);
  files.forEach((f, i) => {
    meta.set([BigInt(f.dirFd), BigInt(f.uid), BigInt(f.gid), BigInt(f.mode), f.atimeNs, f.mtimeNs], i * CREATE_META_FIELDS);
  });
  return fsat().createFilesAt(
    files.map((f) => f.name),
    files.map((f) => f.data),
    meta,
  ) as Promise<{ created: number; error?: NativeNsError }>;
}
