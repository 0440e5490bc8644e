import * as fs from 'node:fs';
import { WsError, WsErrorCode, errnoCodeOf } from '@wsrun/common';
import { openBeneath, openOrCreateDirs } from '@wsrun/archive';
import { closeFd } from '@wsrun/native-ns';

/**
 * Locations inside a workspace (a checkout location, a download's file path) arrive as strings
 * from the platform. They are split into plain components here, and opened on disk only through
 * directory fds with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, so neither ".." nor a symlink that a
 * snapshot or a repository planted can lead outside the workspace.
 */

const { O_DIRECTORY, O_RDONLY } = fs.constants;

/**
 * The components of a workspace-relative location ("" and "." are the root itself). Throws
 * WsError(INVALID_ARGUMENT) naming `setting` for an absolute path, "..", a NUL byte or a
 * component longer than 255 bytes.
 */
export function relativeParts(setting: string, location: string): string[] {
  if (location.includes('\0')) throw new WsError(WsErrorCode.InvalidArgument, `${setting}: the path contains a NUL byte`);
  if (location.startsWith('/')) throw new WsError(WsErrorCode.InvalidArgument, `${setting}: ${JSON.stringify(location)} must be relative to the workspace`);
  const parts = location.split('/').filter((p) => p !== '' && p !== '.');
  for (const p of parts) {
    if (p === '..') throw new WsError(WsErrorCode.InvalidArgument, `${setting}: ${JSON.stringify(location)} leaves the workspace ("..")`);
    if (Buffer.byteLength(p) > 255) throw new WsError(WsErrorCode.InvalidArgument, `${setting}: a component of ${JSON.stringify(location)} is longer than 255 bytes`);
  }
  return parts;
}

/** Joins already validated parts onto a directory path. */
export function joinInside(dir: string, parts: readonly string[]): string {
  return parts.length === 0 ? dir : `${dir.replace(/\/+$/, '')}/${parts.join('/')}`;
}

/**
 * Opens the directory rootFd/parts (O_RDONLY), creating missing components with `mode`, never
 * through a symlink. Returns an fd the caller closes. Throws WsError(FAILED_PRECONDITION) when
 * a component is a symlink or not a directory.
 */
export function openOrCreateDirInside(rootFd: number, parts: readonly string[], mode = 0o755): number {
  try {
    const pathFd = openOrCreateDirs(rootFd, parts, mode);
    try {
      return openBeneath(pathFd, '', O_RDONLY | O_DIRECTORY);
    } finally {
      closeFd(pathFd);
    }
  } catch (err) {
    const code = errnoCodeOf(err);
    const where = JSON.stringify(parts.join('/'));
    if (code === 'ELOOP') throw new WsError(WsErrorCode.FailedPrecondition, `${where}: a component is a symlink`, { cause: err });
    if (code === 'ENOTDIR') throw new WsError(WsErrorCode.FailedPrecondition, `${where}: a component is not a directory`, { cause: err });
    throw WsError.wrap(`opening ${where} in the workspace`, err);
  }
}
