import type { IdMapper } from '@wsrun/archive';
import type { Logger } from '@wsrun/common';
import type { RemoteContent } from '../request/remote-content';

/** Progress of a run, as the CLI prints it and the queue reports it. */
export interface InitializerProgress {
  /** the initializer working: "git", "snapshot", ... */
  initializer: string;
  /** "clean", "clone", "download", "extract", "ready" ... */
  phase: string;
  bytes?: number;
  totalBytes?: number;
  bytesPerSecond?: number;
}

export interface GitPolicy {
  /** attempts per git network operation (transient failures only); default 4 */
  attempts: number;
  /** backoff before the 2nd attempt, doubled after each; default 1000 ms */
  backoffMs: number;
}

export interface DownloadPolicy {
  connections?: number;
  pieceSize?: number;
}

/**
 * Everything an initializer works with. `root` is the workspace folder: its path (git needs a
 * cwd) and an O_RDONLY directory fd (everything else goes through fds, beneath it).
 */
export interface InitializerContext {
  root: { path: string; fd: number };
  remoteContent: RemoteContent;
  /** archive (workspace) ids → ids to create files with */
  mapId: IdMapper;
  /** owner of the files the run creates itself (ready file, downloaded files) when not the caller */
  owner?: { uid: number; gid: number };
  /** private scratch folder (git's HOME, the credential socket) */
  tmpDir: string;
  git: GitPolicy;
  download: DownloadPolicy;
  /** a script that runs @wsrun/download's runDownloadThread: archives are then fetched on a worker thread while this one extracts */
  downloadThread?: string;
  signal?: AbortSignal;
  onProgress: (progress: InitializerProgress) => void;
  logger: Logger;
}

export const DEFAULT_GIT_POLICY: GitPolicy = { attempts: 4, backoffMs: 1000 };
