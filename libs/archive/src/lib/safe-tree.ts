import * as fs from 'node:fs';
import { errnoCodeOf } from '@wsrun/common';
import { closeFd, DirentType, mkdirAt, openAt, readDirFd, unlinkAt } from '@wsrun/native-ns';

/**
 * Directory-fd helpers for trees we do not trust. Every path is opened relative to a directory
 * fd with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so no symlink anywhere
 * in a path (one planted by an archive, a user, or a racing process) is ever followed, and
 * nothing is reached outside the starting directory. Callers own the fds these return.
 */

/** open(2) O_PATH (not in node's fs.constants); twin of the kernel's <asm-generic/fcntl.h>. */
export const O_PATH = 0o10000000;
/** open(2) O_NOATIME: reading a file for a backup does not touch its atime (needs ownership or CAP_FOWNER). */
export const O_NOATIME = 0o1000000;
const { O_DIRECTORY, O_NOFOLLOW, O_RDONLY } = fs.constants;

/** Runs fn with fd and closes it afterwards. */
export function withFd<T>(fd: number, fn: (fd: number) => T): T {
  try {
    return fn(fd);
  } finally {
    closeFd(fd);
  }
}

/**
 * openat2(dirFd, path, flags) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS (a final symlink is
 * opened itself only with O_PATH|O_NOFOLLOW, else ELOOP). `mode` only with O_CREAT: the kernel
 * refuses a non-zero mode otherwise and openAt defaults it to 0644 (native-ns builds before the
 * O_TMPFILE fix in safe_path.c passed it for every O_DIRECTORY open), so it is always explicit.
 */
export function openBeneath(dirFd: number, path: string, flags: number, mode = 0): number {
  return openAt(dirFd, path, flags, { mode: flags & fs.constants.O_CREAT ? mode : 0, resolve: 'beneathNoSymlinks' });
}

/** A directory below dirFd ('' = dirFd itself) as a new fd; ELOOP if any component is a symlink, EXDEV on escapes. */
export function openDirBeneath(dirFd: number, path: string, flags = O_PATH): number {
  // no O_NOFOLLOW: with RESOLVE_NO_SYMLINKS a final symlink is then ELOOP like any other, not an fd of the link
  return openBeneath(dirFd, path, flags | O_DIRECTORY);
}

/** lstat of dirFd/name without following anything; null when it does not exist. */
export function lstatAt(dirFd: number, name: string): fs.BigIntStats | null {
  let fd: number;
  try {
    fd = openBeneath(dirFd, name, O_PATH | O_NOFOLLOW);
  } catch (err) {
    if (errnoCodeOf(err) === 'ENOENT') return null;
    throw err;
  }
  return withFd(fd, (f) => fs.fstatSync(f, { bigint: true }));
}

/** True when dirFd/name is a directory without entries (never follows a symlink). */
export function isEmptyDirAt(dirFd: number, name: string): boolean {
  return withFd(openDirBeneath(dirFd, name), (fd) => readDirFd(fd).length === 0);
}

/** chmod through an fd; O_PATH fds (where fchmod is EBADF) go through their /proc/self/fd magic link, which names exactly that inode. */
export function chmodFd(fd: number, mode: number): void {
  try {
    fs.fchmodSync(fd, mode);
  } catch (err) {
    if (errnoCodeOf(err) !== 'EBADF') throw err;
    fs.chmodSync(`/proc/self/fd/${fd}`, mode);
  }
}

/**
 * Opens dirFd/parts..., creating missing directories one component at a time with `mode`
 * (each new one is reported to onCreate with its path relative to dirFd). Throws the openat2
 * error for a symlink (ELOOP) or a non-directory (ENOTDIR) on the way.
 */
export function openOrCreateDirs(dirFd: number, parts: readonly string[], mode: number, onCreate?: (relPath: string) => void): number {
  try {
    return openDirBeneath(dirFd, parts.join('/'));
  } catch (err) {
    if (errnoCodeOf(err) !== 'ENOENT') throw err;
  }
  let fd = openDirBeneath(dirFd, '');
  try {
    for (let i = 0; i < parts.length; i++) {
      const name = parts[i];
      let next: number;
      try {
        next = openDirBeneath(fd, name);
      } catch (err) {
        if (errnoCodeOf(err) !== 'ENOENT') throw err;
        try {
          mkdirAt(fd, name, mode);
          onCreate?.(parts.slice(0, i + 1).join('/'));
        } catch (mkErr) {
          if (errnoCodeOf(mkErr) !== 'EEXIST') throw mkErr;
        }
        next = openDirBeneath(fd, name);
      }
      closeFd(fd);
      fd = next;
    }
    return fd;
  } catch (err) {
    closeFd(fd);
    throw err;
  }
}

/**
 * Removes dirFd/name and everything below it (rm -rf) without following symlinks: directories
 * are entered only through O_NOFOLLOW|RESOLVE_NO_SYMLINKS fds, links are unlinked themselves.
 * A missing name is not an error. `type` (a DirentType from a listing) saves an open for
 * non-directories. Read-only directories are made writable first: inside the content sandbox the
 * process has CAP_FOWNER but not CAP_DAC_OVERRIDE, so a 0555 folder from an archive would
 * otherwise block its own removal.
 */
export function removeTreeAt(dirFd: number, name: string, type: number = DirentType.unknown): void {
  if (type !== DirentType.dir && type !== DirentType.unknown) return unlinkEntry(dirFd, name, false);
  let fd: number;
  try {
    fd = openBeneath(dirFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (err) {
    const code = errnoCodeOf(err);
    if (code === 'ENOENT') return;
    // a symlink (ELOOP with RESOLVE_NO_SYMLINKS) or a non-directory whose type was unknown
    if (code === 'ELOOP' || code === 'ENOTDIR') return unlinkEntry(dirFd, name, false);
    if (code !== 'EACCES') throw err;
    withFd(openBeneath(dirFd, name, O_PATH | O_NOFOLLOW | O_DIRECTORY), (pathFd) => chmodFd(pathFd, 0o700));
    fd = openBeneath(dirFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  }
  withFd(fd, emptyDirectory);
  unlinkEntry(dirFd, name, true);
}

/** Removes every entry of the directory dirFd (a readable fd), dotfiles included; the directory itself stays. */
export function emptyDirectory(dirFd: number): void {
  let entries: { name: string; type: number }[];
  try {
    entries = readDirFd(dirFd);
  } catch (err) {
    if (errnoCodeOf(err) !== 'EACCES') throw err;
    chmodFd(dirFd, 0o700);
    entries = readDirFd(dirFd);
  }
  for (const { name, type } of entries) removeTreeAt(dirFd, name, type);
}

function unlinkEntry(dirFd: number, name: string, isDir: boolean): void {
  try {
    unlinkAt(dirFd, name, isDir);
  } catch (err) {
    const code = errnoCodeOf(err);
    if (code === 'ENOENT') return;
    if (code !== 'EACCES') throw err;
    // the parent is not writable for us: make it so (it is being emptied anyway)
    chmodFd(dirFd, 0o700);
    unlinkAt(dirFd, name, isDir);
  }
}
