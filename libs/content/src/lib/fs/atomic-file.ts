import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { closeFd, renameAt, unlinkAt } from '@wsrun/native-ns';
import { openBeneath } from '@wsrun/archive';

/**
 * A file that appears under its name only complete: written to a temporary name in the same
 * directory, fsynced, renamed over the name, and the directory fsynced. A crash leaves either the
 * old file or the new one (and at worst a `.wsrun-tmp-*` file). All through the directory's fd.
 */
export interface AtomicFile {
  /** the temporary file, open for writing */
  readonly fd: number;
  /** fsync, close, rename into place, fsync the directory */
  commit(): void;
  /** close and remove the temporary file (never throws) */
  abort(): void;
}

const { O_CREAT, O_EXCL, O_WRONLY, O_NOFOLLOW } = fs.constants;
export const TEMP_FILE_PATTERN = /^\.wsrun-tmp-[0-9a-f]{12}-/;

/** dirFd must be an O_RDONLY directory fd (it is fsynced). */
export function createAtomicFile(dirFd: number, name: string, opts: { mode?: number; owner?: { uid: number; gid: number } } = {}): AtomicFile {
  // the name is cut so the temporary one stays within NAME_MAX
  const temp = `.wsrun-tmp-${randomBytes(6).toString('hex')}-${Buffer.from(name).subarray(0, 200).toString('utf8').replace(/\uFFFD/g, '')}`;
  const fd = openBeneath(dirFd, temp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, opts.mode ?? 0o644);
  let open = true;
  const close = (): void => {
    if (!open) return;
    open = false;
    closeFd(fd);
  };
  return {
    fd,
    commit(): void {
      try {
        if (opts.owner) fs.fchownSync(fd, opts.owner.uid, opts.owner.gid);
        // chown clears setuid bits and the umask may have cut the mode: set it last
        if (opts.mode !== undefined) fs.fchmodSync(fd, opts.mode);
        fs.fsyncSync(fd);
        close();
        renameAt(dirFd, temp, dirFd, name);
        fs.fsyncSync(dirFd);
      } catch (err) {
        this.abort();
        throw err;
      }
    },
    abort(): void {
      try {
        close();
      } catch {
        // already closed
      }
      try {
        unlinkAt(dirFd, temp, false);
      } catch {
        // renamed already, or gone
      }
    },
  };
}

/** Writes `data` to dirFd/name atomically (see AtomicFile). */
export function writeFileAtomic(dirFd: number, name: string, data: string | Buffer, opts: { mode?: number; owner?: { uid: number; gid: number } } = {}): void {
  const file = createAtomicFile(dirFd, name, opts);
  try {
    fs.writeFileSync(file.fd, data);
  } catch (err) {
    file.abort();
    throw err;
  }
  file.commit();
}
