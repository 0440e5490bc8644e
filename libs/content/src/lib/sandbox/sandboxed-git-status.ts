import type { IdMapping } from '@wsrun/native-ns';
import type { initializer } from '@wsrun/proto';
import { relativeParts } from '../fs/workspace-paths';
import { SANDBOX_DESTINATION } from '../request/child-protocol';
import { runSandboxedChild, WORKSPACE_ID_MAPPING, type SandboxedRunOptions } from './sandboxed-child';

/**
 * gitStatus of a workspace's repository, run in the content-init sandbox: the repository is the
 * user's, and its own config can name programs git runs (filters, for instance), which must
 * never run as root on the node. For DisposeWorkspace.
 */
export async function runSandboxedGitStatus(
  request: { destination: string; checkoutLocation: string; idMapping?: IdMapping[] },
  options: SandboxedRunOptions,
): Promise<initializer.GitStatus> {
  const idMapping = request.idMapping ?? WORKSPACE_ID_MAPPING;
  // checked here too, so a bad location fails before a sandbox starts
  relativeParts('checkoutLocation', request.checkoutLocation);
  return runSandboxedChild<initializer.GitStatus>(
    { destination: request.destination, idMapping },
    { operation: 'git-status', destination: SANDBOX_DESTINATION, checkoutLocation: request.checkoutLocation, idMapping },
    options,
  );
}
