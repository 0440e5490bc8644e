import { WsError, WsErrorCode } from '@wsrun/common';
import type { IdMapping } from '@wsrun/native-ns';
import type { initializer } from '@wsrun/proto';
import type { DownloadPolicy, GitPolicy } from '../initializers/initializer-context';
import type { InitializerOutcome } from '../initializers/initializer-metrics';
import { SANDBOX_DESTINATION } from '../request/child-protocol';
import type { RemoteContent } from '../request/remote-content';
import { runSandboxedChild, WORKSPACE_ID_MAPPING, type SandboxedRunOptions } from './sandboxed-child';

/**
 * An initializer run in the sandbox (DESIGN.md §4 Init): the workspace folder is emptied, filled
 * and marked ready by the child; this returns what filled it and the metrics, or throws the
 * child's error (runSandboxedChild lists the codes).
 */
export interface SandboxedInitializerRequest {
  /** host path of the workspace folder; owned by the host id that is root inside (33333) */
  destination: string;
  initializer: initializer.WorkspaceInitializer;
  remoteContent?: RemoteContent;
  /** container → host, the same for uids and gids; default WORKSPACE_ID_MAPPING */
  idMapping?: IdMapping[];
  git?: Partial<GitPolicy>;
  download?: DownloadPolicy;
}

export async function runSandboxedInitializer(request: SandboxedInitializerRequest, options: SandboxedRunOptions): Promise<InitializerOutcome> {
  const idMapping = request.idMapping ?? WORKSPACE_ID_MAPPING;
  const outcome = await runSandboxedChild<InitializerOutcome>(
    { destination: request.destination, idMapping },
    {
      operation: 'initialize',
      destination: SANDBOX_DESTINATION,
      initializer: request.initializer,
      remoteContent: request.remoteContent ?? {},
      idMapping,
      ...(request.git ? { git: request.git } : {}),
      ...(request.download ? { download: request.download } : {}),
    },
    options,
  );
  if (typeof outcome?.source !== 'string' || !Array.isArray(outcome.metrics)) throw new WsError(WsErrorCode.Internal, 'the content initializer reported success without source and metrics');
  return outcome;
}
