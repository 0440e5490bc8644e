import { errnoCodeOf } from '@wsrun/common';
import * as fs from 'node:fs';
import { closeFd, DirentType, readDirFd, unlinkAt } from '@wsrun/native-ns';
import { O_PATH, openBeneath } from './workspace-paths';

/**
 * Removing untrusted trees (a workspace before its initializer runs, a failed clone) through
 * directory fds: nothing is ever followed through a symlink, and nothing outside the starting
 * directory can be reached. Inside the content-init sandbox the process is root of the
 * workspace's user namespace WITHOUT CAP_DAC_OVERRIDE, so a read-only folder (0555 from an
 * archive) blocks its own removal; CAP_FOWNER lets us chmod it first, which is what we do.
 */

const { O_RDONLY, O_DIRECTORY, O_NOFOLLOW } = fs.constants;

/** Removes every entry of the directory dirFd, dotfiles included; the directory itself stays. Throws the first failure. */
export function emptyDirectory(dirFd: number): void {
  let entries: { name: string; type: number }[];
  try {
    entries = readDirFd(dirFd);
  } catch (err) {
    if (errnoCodeOf(err) !== 'EACCES') throw err;
    chmodFd(dirFd, 0o700);
    entries = readDirFd(dirFd);
  }
  for (const { name, type } of entries) removeEntryAt(dirFd, name, type);
}

/** Removes dirFd/name whatever it is (a directory with everything in it); a missing name is fine. */
export function removeEntryAt(dirFd: number, name: string, type: number = DirentType.unknown): void {
  if (type !== DirentType.dir && type !== DirentType.unknown) return unlinkEntry(dirFd, name, false);
  let fd: number;
  try {
    fd = openBeneath(dirFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (err) {
    const code = errnoCodeOf(err);
    if (code === 'ENOENT') return;
    // a symlink (ELOOP with RESOLVE_NO_SYMLINKS) or a non-directory whose d_type was unknown
    if (code === 'ELOOP' || code === 'ENOTDIR') return unlinkEntry(dirFd, name, false);
    if (code !== 'EACCES') throw err;
    makeDirAccessible(dirFd, name);
    fd = openBeneath(dirFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  }
  try {
    emptyDirectory(fd);
  } finally {
    closeFd(fd);
  }
  unlinkEntry(dirFd, name, true);
}

function unlinkEntry(dirFd: number, name: string, isDir: boolean): void {
  try {
    unlinkAt(dirFd, name, isDir);
  } catch (err) {
    const code = errnoCodeOf(err);
    if (code === 'ENOENT') return;
    if (code !== 'EACCES') throw err;
    // the parent is not writable for us: make it so (we are about to remove it anyway, or it is the root)
    chmodFd(dirFd, 0o700);
    unlinkAt(dirFd, name, isDir);
  }
}

/** chmod of the directory dirFd/name, reached through an O_PATH fd (never a symlink). */
function makeDirAccessible(dirFd: number, name: string): void {
  const fd = openBeneath(dirFd, name, O_PATH | O_NOFOLLOW | O_DIRECTORY);
  try {
    chmodFd(fd, 0o700);
  } finally {
    closeFd(fd);
  }
}

/** fchmod; O_PATH fds (EBADF) go through their /proc/self/fd magic link, which names exactly that inode. */
export function chmodFd(fd: number, mode: number): void {
  try {
    fs.fchmodSync(fd, mode);
  } catch (err) {
    if (errnoCodeOf(err) !== 'EBADF') throw err;
    fs.chmodSync(`/proc/self/fd/${fd}`, mode);
  }
}
