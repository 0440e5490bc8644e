import type { IdMapping } from '@wsrun/native-ns';
import { join } from 'node:path';

/** Life of a workspace on this node. */
export type WorkspaceState = 'initializing' | 'ready' | 'running' | 'stopping' | 'disposed';

/** A process identified so that a recycled pid never matches it (start time from /proc/<pid>/stat). */
export interface ProcessIdentity {
  pid: number;
  startTime: number;
}

export interface WorkspaceRecord {
  id: string;
  owner: string;
  state: WorkspaceState;
  createdAt: string;
  /** the workspace's uid and gid map: container 0 -> root uid, 1.. -> the subordinate range */
  idMapping: IdMapping[];
  /** the first peer on the workspace's socket (or the pid recorded at start) */
  ring0?: ProcessIdentity;
  /** once-only operations already done */
  prepared: boolean;
  tornDown: boolean;
  idMapWritten: { uid: boolean; gid: boolean };
  /** proc/sysfs mounts delivered into the workspace, for UmountProc/UmountSysfs and Teardown */
  procMounts: { kind: 'proc' | 'sysfs'; target: string; pid: number }[];
  /**
   * ring0 asked for the start's /proc (the first MountProc of a start, before ring2 runs
   * anything): every later MountProc is a workspace process's, forwarded by the seccomp
   * handler. Cleared only by Teardown (not by an unmount of that /proc).
   */
  ring0ProcAsked?: boolean;
  /** the content initialization (InitWorkspace / WaitForInit) */
  init?: InitOutcome;
  /** "object@bucket" of the last committed backup */
  lastBackup?: string;
  /** where the workspace's repository is, inside the workspace (for its git status) */
  checkoutLocation?: string;
}

export interface InitOutcome {
  status: 'running' | 'done' | 'failed';
  source?: string;
  metrics?: { type: string; durationMs: number; sizeBytes: number }[];
  error?: string;
}

/** Folder layout of one workspace under <stateDir>/workspaces/<id>/. */
export class WorkspaceLayout {
  constructor(readonly dir: string) {}

  static of(workspacesDir: string, id: string): WorkspaceLayout {
    return new WorkspaceLayout(join(workspacesDir, id));
  }

  /** the workspace's files (bound at /workspace inside) */
  get content(): string {
    return join(this.dir, 'content');
  }
  /** the workspace's root filesystem as ring1 sees it (an overlay on the base image) */
  get mark(): string {
    return join(this.dir, 'mark');
  }
  /** the overlay's writable layers, owned by the workspace's root uid */
  get rootfsLayers(): string {
    return join(this.dir, 'rootfs');
  }
  /** folder holding the workspace's InWorkspaceService socket (mounted at /.workspace in a pod) */
  get socketDir(): string {
    return join(this.dir, 'daemon');
  }
  get socket(): string {
    return join(this.socketDir, 'daemon.sock');
  }
  /** per-request propagation points for proc/sysfs delivery */
  get propagationDir(): string {
    return join(this.dir, 'propagation');
  }
}

/** Workspace ids become folder names and socket paths: keep them to a safe alphabet. */
export const WORKSPACE_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
