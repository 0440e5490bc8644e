import * as fs from 'node:fs';
import { openBeneath, removeTreeAt } from '@wsrun/archive';
import { WsError, WsErrorCode, errnoCodeOf } from '@wsrun/common';
import { closeFd, mkdirAt } from '@wsrun/native-ns';
import { writeFileAtomic } from '../fs/atomic-file';
import type { InitializerOutcome } from '../initializers/initializer-metrics';

/**
 * `.wsrun/ready` marks a workspace folder as initialized: written last, atomically, after the
 * reserved `.wsrun` folder was emptied (a snapshot or backup may bring an old one along), with
 * what filled the workspace and the metrics of every initializer. Its presence is the only
 * "done" signal: a crash before it means the run is retried from a clean slate.
 */
export const RESERVED_DIR = '.wsrun';
export const READY_FILE = 'ready';

export interface ReadyFile extends InitializerOutcome {
  /** ISO time the file was written */
  readyAt: string;
}

const { O_RDONLY, O_DIRECTORY } = fs.constants;

/** Cleans `.wsrun` and writes `.wsrun/ready`, both owned by `owner` (default: the caller). Throws WsError. */
export function writeReadyFile(rootFd: number, outcome: InitializerOutcome, owner?: { uid: number; gid: number }): ReadyFile {
  const ready: ReadyFile = { source: outcome.source, metrics: outcome.metrics, readyAt: new Date().toISOString() };
  try {
    removeTreeAt(rootFd, RESERVED_DIR);
    mkdirAt(rootFd, RESERVED_DIR, 0o755);
    const dirFd = openBeneath(rootFd, RESERVED_DIR, O_RDONLY | O_DIRECTORY);
    try {
      if (owner) fs.fchownSync(dirFd, owner.uid, owner.gid);
      writeFileAtomic(dirFd, READY_FILE, JSON.stringify(ready, null, 2) + '\n', { mode: 0o644, ...(owner ? { owner } : {}) });
    } finally {
      closeFd(dirFd);
    }
    fs.fsyncSync(rootFd);
  } catch (err) {
    throw WsError.wrap('writing .wsrun/ready', err, WsErrorCode.Internal);
  }
  return ready;
}

/** The ready file of a workspace folder, or undefined when it has none (not initialized). */
export function readReadyFile(rootFd: number): ReadyFile | undefined {
  let fd: number;
  try {
    fd = openBeneath(rootFd, `${RESERVED_DIR}/${READY_FILE}`, O_RDONLY);
  } catch (err) {
    if (errnoCodeOf(err) === 'ENOENT') return undefined;
    throw WsError.wrap('reading .wsrun/ready', err, WsErrorCode.Internal);
  }
  try {
    return JSON.parse(fs.readFileSync(fd, 'utf8')) as ReadyFile;
  } catch (err) {
    throw WsError.wrap('reading .wsrun/ready', err, WsErrorCode.Internal);
  } finally {
    closeFd(fd);
  }
}
