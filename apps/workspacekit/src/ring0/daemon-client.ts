import type { MethodDefinition } from '@grpc/grpc-js';
import { WsError, WsErrorCode } from '@wsrun/common';
import { UnixStream } from '@wsrun/native-ns';
import { InWorkspaceServiceService, UnaryClient, type inWorkspace, type UnaryCallError } from '@wsrun/proto';

/** A refusal or failure of the daemon, with the errno it reported (to answer a syscall with). */
export class DaemonCallError extends WsError {
  constructor(
    code: WsErrorCode,
    message: string,
    readonly errno: string | undefined,
    readonly grpcCode: number,
  ) {
    super(code, message);
  }
}

const GRPC_TO_WS: Record<number, WsErrorCode> = {
  1: WsErrorCode.Cancelled,
  3: WsErrorCode.InvalidArgument,
  4: WsErrorCode.DeadlineExceeded,
  5: WsErrorCode.NotFound,
  6: WsErrorCode.AlreadyExists,
  7: WsErrorCode.PermissionDenied,
  8: WsErrorCode.ResourceExhausted,
  9: WsErrorCode.FailedPrecondition,
  14: WsErrorCode.Unavailable,
};

const methods = InWorkspaceServiceService;

/**
 * ring0's client of the daemon's InWorkspaceService on the workspace socket. It speaks gRPC
 * through the lean UnaryClient over native-ns's UnixStream: its first call is on every
 * workspace's start-up path, where grpc-js's first call costs about 20 ms and node:net's first
 * connect and write about 2 ms of the main thread.
 */
export class DaemonClient {
  private readonly client: UnaryClient;

  private constructor(readonly socket: string) {
    this.client = new UnaryClient(socket, { connector: (path) => UnixStream.connect(path) });
  }

  /**
   * A client whose first call waits (gRPC wait-for-ready) until the socket accepts a connection,
   * up to the deadline: the daemon may still be starting, or the socket not mounted yet.
   */
  static open(socket: string): DaemonClient {
    return new DaemonClient(socket);
  }

  /**
   * Prepares the workspace's root; the first call, so it waits for the daemon up to timeoutMs.
   * `onEarlyAnswer` gets the answer when its message is in, before its status: for work that only
   * prepares (the daemon sends the status a few loop turns later, after the calls queued behind).
   */
  async prepareForUserNSWhenReady(timeoutMs: number, onEarlyAnswer?: (answer: inWorkspace.PrepareForUserNSResponse) => void): Promise<inWorkspace.PrepareForUserNSResponse> {
    try {
      return await this.call(methods.prepareForUserNs, {}, 'PrepareForUserNS', timeoutMs, true, onEarlyAnswer);
    } catch (err) {
      if (err instanceof DaemonCallError && (err.grpcCode === 4 || err.grpcCode === 14)) {
        throw new WsError(WsErrorCode.Unavailable, `the daemon socket ${this.socket} did not answer within ${(timeoutMs / 1000).toFixed(1)} s: ${err.message}`);
      }
      throw err;
    }
  }

  close(): void {
    this.client.close();
  }

  prepareForUserNS(): Promise<inWorkspace.PrepareForUserNSResponse> {
    return this.call(methods.prepareForUserNs, {}, 'PrepareForUserNS');
  }

  /** `waitMs`: like prepareForUserNSWhenReady, waits that long for the daemon to answer at all */
  writeIdMapping(pid: number, gid: boolean, mapping: inWorkspace.IDMapping[], waitMs?: number): Promise<unknown> {
    return waitMs === undefined
      ? this.call(methods.writeIdMapping, { pid, gid, mapping }, 'WriteIDMapping')
      : this.call(methods.writeIdMapping, { pid, gid, mapping }, 'WriteIDMapping', waitMs, true);
  }

  mount(kind: 'proc' | 'sysfs', target: string, pid: number): Promise<unknown> {
    return this.call(kind === 'proc' ? methods.mountProc : methods.mountSysfs, { target, pid }, kind === 'proc' ? 'MountProc' : 'MountSysfs');
  }

  umount(kind: 'proc' | 'sysfs', target: string, pid: number): Promise<unknown> {
    return this.call(kind === 'proc' ? methods.umountProc : methods.umountSysfs, { target, pid }, kind === 'proc' ? 'UmountProc' : 'UmountSysfs');
  }

  teardown(): Promise<unknown> {
    return this.call(methods.teardown, {}, 'Teardown');
  }

  private async call<Req, Res>(method: MethodDefinition<Req, Res>, request: Req, name: string, timeoutMs = 30_000, waitForReady = false, onEarlyReply?: (reply: Res) => void): Promise<Res> {
    try {
      return await this.client.call(method, request, { timeoutMs, waitForReady, ...(onEarlyReply ? { onEarlyReply } : {}) });
    } catch (err) {
      const e = err as UnaryCallError;
      const errno = e.metadata?.get('wsrun-errno')[0]?.toString();
      throw new DaemonCallError(GRPC_TO_WS[e.code] ?? WsErrorCode.Internal, `${name}: ${e.details ?? e.message}`, errno, e.code);
    }
  }
}
