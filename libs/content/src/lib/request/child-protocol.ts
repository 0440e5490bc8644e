import type { WsErrorCode } from '@wsrun/common';

/**
 * The contract between runSandboxedInitializer (the parent) and `content-init run-initializer`
 * (the child): fixed fd numbers, the exit code of a deliberate failure, and the shapes written.
 *
 *   fd 0  /dev/null
 *   fd 1  progress, one JSON object (InitializerProgress) per line
 *   fd 2  the child's log (JSON lines)
 *   fd 3  on failure: one JSON ChildFailure, then exit CHILD_FAILED_EXIT
 *   fd 4  on success: one JSON InitializerOutcome, then exit 0
 *   fd 5  the request (ChildRequest as JSON), read to EOF
 *   fd 6  pack only: the tar stream of the workspace folder
 *
 * Any other exit (a signal, an uncaught exception) is a crash.
 */
export const CHILD_FD = { progress: 1, log: 2, failure: 3, metrics: 4, request: 5, data: 6 } as const;

export const CHILD_FAILED_EXIT = 42;

/** Where the workspace folder is inside the sandbox, and where the content-init bundle is. */
export const SANDBOX_DESTINATION = '/dst';
export const SANDBOX_BUNDLE_DIR = '/opt/wsrun/content-init';
/** beside the child's script in the bundle: the worker-thread script of archive downloads */
export const DOWNLOAD_THREAD_SCRIPT = 'download-thread.js';

export interface ChildFailure {
  code: WsErrorCode;
  message: string;
}
