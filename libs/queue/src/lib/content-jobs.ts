/**
 * The content queue's contract between ws-daemon (producer) and content-init's worker
 * (consumer): queue names, job names, ids, payloads and results. Payloads are JSON (BullMQ keeps
 * them in Redis); the initializer travels in the proto JSON form (initializer.WorkspaceInitializer
 * toJSON/fromJSON).
 */

/** One queue per node: extraction and backups must run where the workspace's folder is. */
export function contentQueueName(node: string): string {
  return `content-${node}`;
}

/** Backups and snapshots get a queue of their own so their concurrency is limited separately. */
export function backupQueueName(node: string): string {
  return `backup-${node}`;
}

export const JobName = {
  /** the flow's parent: the sandboxed initializer into the workspace folder */
  Init: 'init',
  /** the flow's children: one per remote archive, checked before the parent runs */
  Fetch: 'fetch',
  Backup: 'backup',
  Snapshot: 'snapshot',
  Dispose: 'dispose',
} as const;

/** Job ids derive from the workspace id: a second init of the same workspace joins the first. */
export const jobIds = {
  init: (workspaceId: string) => `init-${workspaceId}`,
  fetch: (workspaceId: string, n: number) => `fetch-${workspaceId}-${n}`,
  backup: (workspaceId: string, stamp: string) => `backup-${workspaceId}-${stamp}`,
  snapshot: (workspaceId: string, stamp: string) => `snapshot-${workspaceId}-${stamp}`,
  /**
   * One per life of the workspace id (`life`: when its registry entry was created): a repeated
   * call joins the dispose of the same life, but a workspace created again under the same id
   * must never join the finished dispose of its earlier life (that would skip its final backup
   * and then remove its files).
   */
  dispose: (workspaceId: string, life: string) => `dispose-${workspaceId}-${life.replace(/[^0-9A-Za-z]/g, '')}`,
};

export interface IdRange {
  containerId: number;
  hostId: number;
  size: number;
}

/** A remote object the worker may read through a signed URL. */
export interface SignedObject {
  /** "object@bucket" */
  ref: string;
  url: string;
  size?: number;
  sha256?: string;
}

export interface InitJobData {
  workspaceId: string;
  owner: string;
  /** the workspace's folder on this node */
  contentDir: string;
  /** initializer.WorkspaceInitializer in its JSON form; a backup, when one exists, replaces it */
  initializer: unknown;
  /** signed URLs for the archives the initializer names, by "object@bucket" */
  remote: Record<string, SignedObject>;
  idMapping: IdRange[];
  /** 0 = no quota */
  quotaBytes: number;
}

export interface FetchJobData {
  workspaceId: string;
  object: SignedObject;
}

export type FetchJobResult = SignedObject;

export interface InitializerMetricJson {
  type: string;
  durationMs: number;
  sizeBytes: number;
}

export interface InitJobResult {
  /** what filled the workspace: "backup", "git", "snapshot", ... */
  source: string;
  metrics: InitializerMetricJson[];
}

export interface BackupJobData {
  workspaceId: string;
  owner: string;
  contentDir: string;
  idMapping: IdRange[];
  kind: 'backup' | 'snapshot';
  /** where the archive goes once verified: "object@bucket" */
  target: string;
}

export interface BackupJobResult {
  ref: string;
  size: number;
  sha256: string;
  entries: number;
}

export interface DisposeJobData {
  workspaceId: string;
  contentDir: string;
  idMapping: IdRange[];
  /** a final backup, committed before anything is removed */
  backup?: BackupJobData;
  /** the repository's folder inside the workspace, for its git status ("" = the workspace) */
  checkoutLocation?: string;
}

export interface DisposeJobResult {
  /** wsrun.content.v1.GitStatus in its JSON form, when the workspace holds a git repository */
  gitStatus?: unknown;
  backup?: BackupJobResult;
}

/** Progress a worker publishes on a job (job.updateProgress). */
export interface ContentProgress {
  bytes: number;
  files: number;
  phase?: string;
}
