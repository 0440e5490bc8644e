import { invalid, parseDurationMs, parseEnum, parseWorkspaceIdRange } from '@wsrun/common';
import type { DownloadPolicy } from '@wsrun/content';
import type { IdMapping } from '@wsrun/native-ns';
import { parseDownloadPolicy, type DownloadSettingsInput } from './download-settings';

/** Settings as they arrive from flags or environment variables. */
export interface ContentInitConfigInput extends DownloadSettingsInput {
  rootUid?: string;
  subuidStart?: string;
  subuidSize?: string;
  timeout?: string;
  logLevel?: string;
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const;

/**
 * content-init's configuration, validated once at start. The id ranges follow ws-daemon's rules
 * (DaemonConfig): no workspace mapping may reach host root, and the workspace's root uid never
 * lies inside the subordinate range.
 */
export class ContentInitConfig {
  constructor(
    /** host uid and gid that are root inside every workspace (and own its folder) */
    readonly rootUid: number,
    readonly subuidStart: number,
    readonly subuidSize: number,
    /** an initializer run is killed after this long */
    readonly timeoutMs: number,
    readonly logLevel: (typeof LOG_LEVELS)[number],
    /** how remote archives and files are fetched */
    readonly download: DownloadPolicy,
  ) {}

  static from(input: ContentInitConfigInput): ContentInitConfig {
    const { rootUid, subuidStart, subuidSize } = parseWorkspaceIdRange(input);
    const timeoutMs = parseDurationMs('--timeout', input.timeout, 60 * 60 * 1000);
    if (timeoutMs <= 0) throw invalid('--timeout', 'must be more than 0');
    return new ContentInitConfig(rootUid, subuidStart, subuidSize, timeoutMs, parseEnum('--log-level', input.logLevel, LOG_LEVELS, 'info'), parseDownloadPolicy(input));
  }

  /** The workspace's id mapping (container → host), the same for uids and gids. */
  get idMapping(): IdMapping[] {
    return [
      { containerId: 0, hostId: this.rootUid, size: 1 },
      { containerId: 1, hostId: this.subuidStart, size: this.subuidSize },
    ];
  }
}
