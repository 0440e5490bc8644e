import { errnoCodeOf } from '@wsrun/common';
import { randomBytes } from 'node:crypto';
import { closeFd, mkdirAt, readDirFd, renameAt, unlinkAt } from '@wsrun/native-ns';
import { STAGING_PATTERN, STAGING_PREFIX } from './extract-policy';
import { isEmptyDirAt, lstatAt, openDirBeneath, removeTreeAt, withFd } from './safe-tree';

/**
 * The staging directory of one extraction. Members are written below `.wsrun-extract-<random>`
 * inside the destination root, and moved into the root only after the whole archive was read
 * and found valid; a failed, cancelled or killed extraction leaves only that directory, which
 * the failure path (or cleanExtractionLeftovers after a crash) removes. Staying inside the root
 * keeps the final moves plain renames on one filesystem.
 */

export interface Staging {
  name: string;
  fd: number;
}

/** Creates an empty, private staging directory under rootFd; the caller closes fd and removes it. */
export function createStaging(rootFd: number): Staging {
  const name = `${STAGING_PREFIX}${randomBytes(8).toString('hex')}`;
  mkdirAt(rootFd, name, 0o700);
  return { name, fd: openDirBeneath(rootFd, name) };
}

export interface CommitOutcome {
  /** directories (relative paths) that already existed in the root and received staged content */
  merged: Set<string>;
  /** staged members that could not replace what is in the root */
  conflicts: { path: string; reason: string }[];
}

/**
 * Moves every staged member into the root. A name that is free is taken with
 * renameat2(RENAME_NOREPLACE); otherwise: directory onto directory merges recursively, anything
 * onto a file or symlink replaces it (the old link is removed, never followed), a non-directory
 * onto an empty directory replaces it, and onto a non-empty directory is a conflict (left in
 * staging, reported). What is left in staging is removed by the caller.
 */
export function commitStaging(stagingFd: number, rootFd: number): CommitOutcome {
  const outcome: CommitOutcome = { merged: new Set(), conflicts: [] };
  commitDir(stagingFd, rootFd, '', outcome);
  return outcome;
}

function commitDir(srcFd: number, dstFd: number, prefix: string, outcome: CommitOutcome): void {
  const names = readDirFd(srcFd)
    .map((e) => e.name)
    .sort(byBytes);
  for (const name of names) commitOne(srcFd, dstFd, name, prefix ? `${prefix}/${name}` : name, outcome);
}

function commitOne(srcFd: number, dstFd: number, name: string, rel: string, outcome: CommitOutcome): void {
  for (let attempt = 0; attempt < 8; attempt++) {
    try {
      renameAt(srcFd, name, dstFd, name, { noReplace: true });
      return;
    } catch (err) {
      if (errnoCodeOf(err) !== 'EEXIST') throw err;
    }
    const src = lstatAt(srcFd, name);
    const dst = lstatAt(dstFd, name);
    if (!src) return;
    if (!dst) continue; // removed meanwhile: take the free name
    if (src.isDirectory()) {
      if (dst.isDirectory()) {
        outcome.merged.add(rel);
        withFd(openDirBeneath(srcFd, name), (s) => withFd(openDirBeneath(dstFd, name), (d) => commitDir(s, d, rel, outcome)));
        return;
      }
      unlinkAt(dstFd, name, false);
      continue;
    }
    if (dst.isDirectory()) {
      if (!isEmptyDirAt(dstFd, name)) {
        outcome.conflicts.push({ path: rel, reason: 'would replace a non-empty directory in the destination' });
        return;
      }
      unlinkAt(dstFd, name, true);
      continue;
    }
    // file or symlink onto file or symlink: one atomic rename
    renameAt(srcFd, name, dstFd, name, { noReplace: false });
    return;
  }
  outcome.conflicts.push({ path: rel, reason: 'the destination kept changing while moving it in' });
}

/**
 * Byte order of UTF-8 names: the order of archives and of `LC_ALL=C ls`. That is code point
 * order, which compares like UTF-16 units except that surrogates (code points from U+10000)
 * must sort after U+E000..U+FFFF: no Buffer per comparison (sorting big folders calls this a lot).
 */
export function byBytes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** A UTF-16 unit's place in code point order: surrogates after U+E000..U+FFFF. */
function codePointRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

/** Removes the staging directory and everything in it; never throws (returns the error, if any). */
export function removeStaging(rootFd: number, staging: Staging): Error | undefined {
  try {
    closeFd(staging.fd);
  } catch {
    // already closed
  }
  try {
    removeTreeAt(rootFd, staging.name);
    return undefined;
  } catch (err) {
    return err as Error;
  }
}

/**
 * Removes staging directories left in rootFd by extractions that were killed (kill -9, a node
 * crash): run it before retrying an extraction into the same root. Returns the names removed.
 */
export function cleanExtractionLeftovers(rootFd: number): string[] {
  const names = readDirFd(rootFd)
    .map((e) => e.name)
    .filter((n) => STAGING_PATTERN.test(n));
  for (const name of names) removeTreeAt(rootFd, name);
  return names;
}
