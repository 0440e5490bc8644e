// content: filling a workspace folder before it starts (DESIGN.md §3, §4 Init). The initializers
// (git, snapshot, backup, prebuild, file download, composite), the clean slate and the ready file,
// the sandbox that runs them (parent and child sides), and git status for DisposeWorkspace.
// Shared by content-init (the worker and the sandboxed child) and ws-daemon.
export type { RemoteContent, RemoteObject } from './lib/request/remote-content';
export { CHILD_FAILED_EXIT, CHILD_FD, SANDBOX_BUNDLE_DIR, SANDBOX_DESTINATION, type ChildFailure } from './lib/request/child-protocol';
export { decodeChildRequest, encodeChildRequest, type ChildRequest, type GitStatusRequest, type InitializeRequest } from './lib/request/child-request';
export {
  DEFAULT_GIT_POLICY,
  type DownloadPolicy,
  type GitPolicy,
  type InitializerContext,
  type InitializerProgress,
} from './lib/initializers/initializer-context';
export { toProtoMetrics, type InitializerMetricDetail, type InitializerOutcome } from './lib/initializers/initializer-metrics';
export { initializeWorkspace, runInitializer } from './lib/initializers/workspace-initializer';
export { READY_FILE, RESERVED_DIR, readReadyFile, writeReadyFile, type ReadyFile } from './lib/ready/ready-file';
export { relativeParts } from './lib/fs/workspace-paths';
export { gitStatus } from './lib/git/git-status';
export { redactSecrets } from './lib/git/secret-redaction';
export { runInitializerChild, namespaceIdMapper } from './lib/child/initializer-child';
export { runSandboxedChild, WORKSPACE_ID_MAPPING, type SandboxedRunOptions } from './lib/sandbox/sandboxed-child';
export { runSandboxedInitializer, type SandboxedInitializerRequest } from './lib/sandbox/sandboxed-initializer';
export { runSandboxedPack } from './lib/sandbox/sandboxed-pack';
export { backupWorkspace, type BackupOutcome, type BackupRequest } from './lib/backup/workspace-backup';
export { runSandboxedGitStatus } from './lib/sandbox/sandboxed-git-status';
export { SandboxProcess, type SandboxProcessOptions } from './lib/sandbox/sandbox-process';
export { createSandboxSkeleton, type SandboxSkeleton } from './lib/sandbox/sandbox-skeleton';
export { sandboxStageOptions, layoutMountPoints, SANDBOX_CAPABILITIES, type SandboxLayout } from './lib/sandbox/sandbox-stage';
