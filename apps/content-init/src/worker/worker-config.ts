import { invalid, parseAbsolutePath, parseDurationMs, parseInteger } from '@wsrun/common';
import type { DownloadPolicy } from '@wsrun/content';
import { parseStorageSettings, type StorageSettings, type StorageSettingsInput } from '@wsrun/storage';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parseDownloadPolicy, type DownloadSettingsInput } from '../config/download-settings';

export interface WorkerConfigInput extends StorageSettingsInput, DownloadSettingsInput {
  stateDir?: string;
  redisUrl?: string;
  node?: string;
  concurrency?: string;
  backupConcurrency?: string;
  lockDuration?: string;
  timeout?: string;
}

/**
 * `content-init worker`: which node's queues to serve, where Redis and the storage are, and how
 * much to do at once. On one machine, --state-dir (the daemon's) finds the private Redis socket
 * and the local storage folder.
 */
export class WorkerConfig {
  constructor(
    readonly node: string,
    readonly redisUrl: string,
    readonly storage: StorageSettings,
    /** inits at once on this node */
    readonly concurrency: number,
    /** backups, snapshots and disposals at once on this node */
    readonly backupConcurrency: number,
    /** a job whose worker stopped renewing its lock this long ago is taken up again */
    readonly lockDurationMs: number,
    /** a sandboxed run is killed after this long */
    readonly timeoutMs: number,
    /** how remote archives and files are fetched */
    readonly download: DownloadPolicy,
  ) {}

  static from(input: WorkerConfigInput): WorkerConfig {
    const stateDir = parseAbsolutePath('--state-dir', input.stateDir, '/var/lib/wsrun');
    const redisUrl = input.redisUrl || join(stateDir, 'redis', 'redis.sock');
    const node = input.node ?? hostname();
    if (!/^[a-z0-9][a-z0-9.-]{0,62}$/i.test(node)) throw invalid('--node', `"${node}" is not a valid node name`);
    return new WorkerConfig(
      node,
      redisUrl,
      parseStorageSettings(input, join(stateDir, 'storage')),
      parseInteger('--concurrency', input.concurrency, { min: 1, max: 64, default: 4 }),
      parseInteger('--backup-concurrency', input.backupConcurrency, { min: 1, max: 64, default: 5 }),
      parseDurationMs('--lock-duration', input.lockDuration, 30_000),
      parseDurationMs('--timeout', input.timeout, 60 * 60 * 1000),
      parseDownloadPolicy(input),
    );
  }
}
