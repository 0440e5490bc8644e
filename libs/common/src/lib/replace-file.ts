import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Replaces `file` atomically: the text goes to a temp file beside it, which is renamed over it,
 * so a reader (or a crash) sees the old content or the new, never part of it. With `durable`
 * the temp file and the folder are fsynced too, so that the new content also survives a power
 * loss; without, it costs no disk flush (for state that a reboot makes void anyway).
 */
export function replaceFile(file: string, text: string, opts: { durable: boolean; mode?: number }): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
  const temp = `${file}.tmp-${process.pid}`;
  const fd = openSync(temp, 'w', opts.mode ?? 0o600);
  try {
    writeSync(fd, text);
    if (opts.durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, file);
  if (!opts.durable) return;
  const dirFd = openSync(dirname(file), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
