import { invalid, parseInteger } from '@wsrun/common';
import type { DownloadPolicy } from '@wsrun/content';
import { Option, type Command } from 'commander';

/** The download flags `init` and `worker` share, as they arrive. */
export interface DownloadSettingsInput {
  downloadConnections?: string;
  downloadPieceSize?: string;
}

const UNITS: Record<string, number> = { '': 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 };

/** "1048576", "512k", "4MiB" → bytes. */
function parseBytes(setting: string, raw: string): number {
  const m = /^(\d+)\s*([a-z]*)$/i.exec(raw.trim());
  const unit = m ? UNITS[(m[2] ?? '').toLowerCase()] : undefined;
  if (!m || unit === undefined) throw invalid(setting, `"${raw}" is not a size (bytes, or with k, M, G)`);
  return Number(m[1]) * unit;
}

/**
 * How snapshots, backups, prebuilds and files are fetched: parallel range requests per object
 * and the size of each. Unset values keep libs/download's defaults (8 × 4 MiB); a store that caps
 * each connection wants more connections (16 × 1 MiB matches `aria2c -x16 -s16 -k1M`).
 */
export function parseDownloadPolicy(input: DownloadSettingsInput): DownloadPolicy {
  const policy: DownloadPolicy = {};
  if (input.downloadConnections !== undefined) policy.connections = parseInteger('--download-connections', input.downloadConnections, { min: 1, max: 64 });
  if (input.downloadPieceSize !== undefined) {
    const size = parseBytes('--download-piece-size', input.downloadPieceSize);
    if (size < 64 * 1024 || size > 1024 ** 3) throw invalid('--download-piece-size', `${input.downloadPieceSize} is outside 64k..1G`);
    policy.pieceSize = size;
  }
  return policy;
}

/** Adds the download flags (with environment variable twins) to a command. */
export function addDownloadOptions(command: Command): Command {
  return command
    .addOption(new Option('--download-connections <n>', 'parallel range requests per object (default 8)').env('WSRUN_DOWNLOAD_CONNECTIONS'))
    .addOption(new Option('--download-piece-size <size>', 'bytes per range request, e.g. 1M (default 4M)').env('WSRUN_DOWNLOAD_PIECE_SIZE'));
}
