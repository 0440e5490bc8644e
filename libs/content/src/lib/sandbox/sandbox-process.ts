import { WsError, WsErrorCode } from '@wsrun/common';
import { writeIdMap, type ExecSpec, type ExitStatus, type IdMapping } from '@wsrun/native-ns';
import { LaunchedStage, launcherFdMap } from './launched-stage';
import { createSandboxSkeleton, type SandboxSkeleton } from './sandbox-skeleton';
import { layoutMountPoints, sandboxStageOptions } from './sandbox-stage';

/**
 * A command running in a content-init sandbox (sandbox-stage.ts describes it): the skeleton is
 * built, the stage started through the launcher, the workspace's id maps written, and the stage
 * released. The initializer run (sandboxed-initializer.ts) is one use; tests run probes in the
 * very same sandbox.
 */
export interface SandboxProcessOptions {
  /** host path of the workspace folder (bound at /dst) */
  destination: string;
  /** the content-init bundle folder (bound at /opt/wsrun/content-init; its main.js runs the launcher) */
  bundleDir: string;
  /** container → host, for uids and gids */
  idMapping: IdMapping[];
  /** what runs inside (argv[0] resolved inside the sandbox) */
  exec: ExecSpec;
  /** fd numbers inside → fds of this process; only these are open inside */
  fds: Record<number, number>;
  /** host paths visible read-only at the same path inside */
  extraReadOnly?: string[];
  /** the node binary for the launcher (default: this process's) */
  nodePath?: string;
  /** parent folder of the per-run root skeleton (default: the OS temp folder) */
  skeletonParent?: string;
}

export class SandboxProcess {
  private constructor(
    private readonly stage: LaunchedStage,
    private readonly skeleton: SandboxSkeleton,
    readonly pid: number,
  ) {}

  /** resolves when the command was exec'd; rejects with the failing setup step */
  get ready(): Promise<void> {
    return this.stage.ready;
  }

  get exited(): Promise<ExitStatus> {
    return this.stage.exited;
  }

  /**
   * Starts the sandbox; resolves once the command was released to run. The fds were handed to
   * the launcher when this returns: the caller closes its copies. Throws WsError(INTERNAL).
   */
  static async start(opts: SandboxProcessOptions): Promise<SandboxProcess> {
    const root = opts.idMapping.find((m) => m.containerId === 0);
    if (!root) throw new WsError(WsErrorCode.InvalidArgument, 'the id mapping has no range for container id 0');
    const skeleton = createSandboxSkeleton({
      mountPoints: layoutMountPoints(),
      ...(opts.skeletonParent ? { parent: opts.skeletonParent } : {}),
      ...(opts.extraReadOnly ? { extraReadOnly: opts.extraReadOnly } : {}),
    });
    const targets = Object.keys(opts.fds).map(Number);
    let stage: LaunchedStage | undefined;
    try {
      const options = sandboxStageOptions(
        { skeleton, destination: opts.destination, bundleDir: opts.bundleDir, ...(opts.extraReadOnly ? { extraReadOnly: opts.extraReadOnly } : {}) },
        opts.exec,
        launcherFdMap(targets),
      );
      // the launcher runs as the workspace's root on the node (see sandbox-launcher.ts for why)
      stage = new LaunchedStage({ nodePath: opts.nodePath ?? process.execPath, bundleDir: opts.bundleDir, uid: root.hostId, gid: root.hostId, options, passFds: targets.map((t) => opts.fds[t]) });
      const pid = await stage.spawned;
      writeIdMap(pid, 'uid', opts.idMapping);
      writeIdMap(pid, 'gid', opts.idMapping);
      stage.release();
      return new SandboxProcess(stage, skeleton, pid);
    } catch (err) {
      stage?.kill();
      stage?.close();
      skeleton.remove();
      throw WsError.wrap('starting the content-init sandbox', err, WsErrorCode.Internal);
    }
  }

  /** SIGKILL to the sandbox's pid 1: everything in its pid namespace dies with it. */
  kill(): void {
    this.stage.kill();
  }

  /** Frees what the run held (after `exited`, or to abandon it: the sandbox is killed). */
  close(): void {
    this.stage.close();
    this.skeleton.remove();
  }
}
