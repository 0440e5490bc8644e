import { errnoCodeOf } from '@wsrun/common';
import * as fs from 'node:fs';
import { closeFd, DirentType, readDirFd } from '@wsrun/native-ns';
import { O_PATH, openBeneath } from '@wsrun/archive';

const { O_NOFOLLOW, O_DIRECTORY } = fs.constants;

/**
 * Bytes of the regular files below dirFd (each inode once), for an initializer's metrics.
 * Never follows a symlink; entries that vanish or cannot be read are skipped: a metric must not
 * fail an initializer.
 */
export function treeSize(dirFd: number): number {
  const seen = new Set<string>();
  let total = 0;
  const walk = (fd: number): void => {
    let entries: { name: string; type: number }[];
    try {
      entries = readDirFd(fd);
    } catch {
      return;
    }
    for (const { name, type } of entries) {
      if (type !== DirentType.file && type !== DirentType.dir && type !== DirentType.unknown) continue;
      let child: number;
      try {
        child = openBeneath(fd, name, O_PATH | O_NOFOLLOW);
      } catch (err) {
        if (errnoCodeOf(err) === 'ENOENT' || errnoCodeOf(err) === 'EACCES') continue;
        throw err;
      }
      try {
        const st = fs.fstatSync(child);
        if (st.isFile()) {
          const key = `${st.dev}:${st.ino}`;
          if (st.nlink > 1 && seen.has(key)) continue;
          if (st.nlink > 1) seen.add(key);
          total += st.size;
        } else if (st.isDirectory()) {
          const dir = openBeneath(child, '', O_PATH | O_DIRECTORY);
          try {
            walk(dir);
          } finally {
            closeFd(dir);
          }
        }
      } finally {
        closeFd(child);
      }
    }
  };
  walk(dirFd);
  return total;
}
