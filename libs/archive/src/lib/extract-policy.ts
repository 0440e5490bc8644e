import type { TarEntryHeader } from './tar-entry';

/**
 * What an archive may ask for, decided on names alone before anything touches the disk. The
 * second wall is the filesystem itself: every open below the root is RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS (see safe-tree.ts), so a check missed here still cannot lead outside.
 */

/** Staging directories of extractions in progress (or killed): never taken from an archive. */
export const STAGING_PREFIX = '.wsrun-extract-';
export const STAGING_PATTERN = /^\.wsrun-extract-[0-9a-f]{16}$/;

export type PathCheck = { kind: 'ok'; parts: string[] } | { kind: 'root' } | { kind: 'refused'; reason: string };

export interface PolicyOptions {
  allowEscapingSymlinks: boolean;
  allowDevices: boolean;
}

/**
 * A member path as components below the root. Refused: empty or NUL-containing names, names
 * that are not UTF-8, absolute paths (any number of leading slashes), and any ".." component
 * (even one that would stay inside, like "a/../b": tar writers never produce it). "." and
 * repeated slashes are dropped, so "./a//b/" is "a/b"; a path of only those is the root itself.
 */
export function checkEntryPath(path: string): PathCheck {
  if (path.length === 0) return { kind: 'refused', reason: 'empty name' };
  if (path.includes('\0')) return { kind: 'refused', reason: 'name contains a NUL byte' };
  if (path.startsWith('/')) return { kind: 'refused', reason: 'absolute path' };
  const parts: string[] = [];
  for (let start = 0; start <= path.length; ) {
    let end = path.indexOf('/', start);
    if (end === -1) end = path.length;
    const len = end - start;
    // "" and "." are dropped, ".." refused; compared by length first (no substring for those)
    if (len === 0 || (len === 1 && path.charCodeAt(start) === 0x2e)) {
      start = end + 1;
      continue;
    }
    if (len === 2 && path.charCodeAt(start) === 0x2e && path.charCodeAt(start + 1) === 0x2e) return { kind: 'refused', reason: '".." in path' };
    parts.push(path.slice(start, end));
    start = end + 1;
  }
  if (parts.length === 0) return { kind: 'root' };
  if (parts[0].startsWith(STAGING_PREFIX)) return { kind: 'refused', reason: `reserved name ${STAGING_PREFIX}*` };
  return { kind: 'ok', parts };
}

/**
 * Whether a symlink at `parts` pointing to `target` stays inside the root, judged lexically from
 * the link's directory (the kernel would resolve it the same way as long as no other symlink is
 * involved, and nothing follows links during extraction anyway). Returns the refusal reason or null.
 */
export function symlinkRefusal(parts: readonly string[], target: string, opts: PolicyOptions): string | null {
  if (target.length === 0) return 'empty symlink target';
  if (target.includes('\0')) return 'symlink target contains a NUL byte';
  if (opts.allowEscapingSymlinks) return null;
  if (target.startsWith('/')) return `symlink target ${JSON.stringify(target)} is absolute`;
  let depth = parts.length - 1;
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (--depth < 0) return `symlink target ${JSON.stringify(target)} leaves the root`;
    } else depth++;
  }
  return null;
}

/** The type check: devices and FIFOs only when allowed. Returns the refusal reason or null. */
export function typeRefusal(header: TarEntryHeader, opts: PolicyOptions): string | null {
  if (header.invalidUtf8) return 'name or link target is not valid UTF-8';
  if ((header.type === 'char' || header.type === 'block' || header.type === 'fifo') && !opts.allowDevices) {
    return `${header.type === 'fifo' ? 'FIFO' : `${header.type} device`} not allowed (allowDevices is off)`;
  }
  return null;
}
