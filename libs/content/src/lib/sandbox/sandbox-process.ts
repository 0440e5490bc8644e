import { WsError, WsErrorCode } from '@wsrun/common';
import { spawnStage, writeIdMap, type CapabilitySets, type ExecSpec, type ExitStatus, type IdMapping, type Stage } from '@wsrun/native-ns';
import { createSandboxSkeleton, type SandboxSkeleton } from './sandbox-skeleton';
import { layoutMountPoints, sandboxStageOptions } from './sandbox-stage';

/**
 * A command running in a content-init sandbox (sandbox-stage.ts describes it): the skeleton is
 * built, the stage spawned held, the workspace's id maps written (by us: we are root on the
 * node), and the stage released; at release it becomes root of its namespace, mounts the
 * layout and execs. The initializer run (sandboxed-child.ts) is one use; tests run probes in the
 * very same sandbox. If this process dies, the stage's parent-death signal kills the sandbox.
 */
export interface SandboxProcessOptions {
  /** host path of the workspace folder (bound at /dst) */
  destination: string;
  /** the content-init bundle folder (bound at /opt/wsrun/content-init) */
  bundleDir: string;
  /** container → host, for uids and gids */
  idMapping: IdMapping[];
  /** what runs inside (argv[0] resolved inside the sandbox) */
  exec: ExecSpec;
  /** fd numbers inside → fds of this process; only these are open inside. The caller closes its copies after `ready` settles. */
  fds: Record<number, number>;
  /** host paths visible read-only at the same path inside */
  extraReadOnly?: string[];
  /** parent folder of the per-run root skeleton (default: the OS temp folder) */
  skeletonParent?: string;
  /** see SandboxLayout */
  capabilities?: CapabilitySets;
  readOnlyDestination?: boolean;
}

export class SandboxProcess {
  private constructor(
    private readonly stage: Stage,
    private readonly skeleton: SandboxSkeleton,
  ) {}

  get pid(): number {
    return this.stage.pid;
  }

  /** resolves when the command was exec'd; rejects with the NativeNsError of the failing step */
  get ready(): Promise<void> {
    return this.stage.ready;
  }

  get exited(): Promise<ExitStatus> {
    return this.stage.exited;
  }

  /** Starts the sandbox and releases its command. Throws WsError(INTERNAL) when it cannot start. */
  static start(opts: SandboxProcessOptions): SandboxProcess {
    if (!opts.idMapping.some((m) => m.containerId === 0)) throw new WsError(WsErrorCode.InvalidArgument, 'the id mapping has no range for container id 0');
    const skeleton = createSandboxSkeleton({
      mountPoints: layoutMountPoints(),
      ...(opts.skeletonParent ? { parent: opts.skeletonParent } : {}),
      ...(opts.extraReadOnly ? { extraReadOnly: opts.extraReadOnly } : {}),
    });
    let stage: Stage | undefined;
    try {
      const options = sandboxStageOptions(
        {
          skeleton,
          destination: opts.destination,
          bundleDir: opts.bundleDir,
          ...(opts.extraReadOnly ? { extraReadOnly: opts.extraReadOnly } : {}),
          ...(opts.capabilities ? { capabilities: opts.capabilities } : {}),
          ...(opts.readOnlyDestination ? { readOnlyDestination: true } : {}),
        },
        opts.exec,
        opts.fds,
      );
      stage = spawnStage(options);
      writeIdMap(stage.pid, 'uid', opts.idMapping);
      writeIdMap(stage.pid, 'gid', opts.idMapping);
      stage.release();
      return new SandboxProcess(stage, skeleton);
    } catch (err) {
      try {
        stage?.kill('SIGKILL');
      } catch {
        // gone already
      }
      skeleton.remove();
      throw WsError.wrap('starting the content-init sandbox', err, WsErrorCode.Internal);
    }
  }

  /** SIGKILL to the sandbox's pid 1: everything in its pid namespace dies with it. */
  kill(): void {
    try {
      this.stage.kill('SIGKILL');
    } catch {
      // exited already
    }
  }

  /** Removes the skeleton (after `exited`; a running sandbox keeps its mounts in its own namespace). */
  close(): void {
    this.skeleton.remove();
  }
}
