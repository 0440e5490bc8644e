import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { WsError, WsErrorCode } from '@wsrun/common';
import { callUnary, createClient, health, inWorkspace } from '@wsrun/proto';
import { makeGenericClientConstructor } from '@grpc/grpc-js';

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

const HealthClient = makeGenericClientConstructor(health.HealthService, 'Health') as unknown as new (...args: never[]) => health.HealthClient;

/** ring0's client of the daemon's InWorkspaceService on the workspace socket. */
export class DaemonClient {
  private readonly client: inWorkspace.InWorkspaceServiceClient;

  private constructor(readonly socket: string) {
    this.client = createClient(inWorkspace.InWorkspaceServiceClient, socket);
  }

  /**
   * Connects, retrying until the daemon's health service reports SERVING on the socket or the
   * deadline passes (the daemon may still be starting, or the socket not yet mounted).
   */
  static async connect(socket: string, timeoutMs: number): Promise<DaemonClient> {
    const until = Date.now() + timeoutMs;
    const healthClient = createClient(HealthClient as never, socket) as unknown as health.HealthClient;
    let last = 'no attempt';
    try {
      for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
        try {
          const r = await callUnary(healthClient.check.bind(healthClient) as never, { service: '' }, Math.max(200, Math.min(2000, until - Date.now())));
          if ((r as health.HealthCheckResponse).status === health.HealthCheckResponse_ServingStatus.SERVING) return new DaemonClient(socket);
          last = `daemon not serving yet (status ${(r as health.HealthCheckResponse).status})`;
        } catch (err) {
          last = (err as ServiceError).details ?? (err as Error).message;
        }
        if (Date.now() + delay > until) break;
        await new Promise((r) => setTimeout(r, delay));
      }
    } finally {
      healthClient.close();
    }
    throw new WsError(WsErrorCode.Unavailable, `the daemon socket ${socket} did not answer within ${Math.round(timeoutMs / 1000)} s: ${last}`);
  }

  close(): void {
    this.client.close();
  }

  prepareForUserNS(): Promise<inWorkspace.PrepareForUserNSResponse> {
    return this.call(this.client.prepareForUserNs, {}, 'PrepareForUserNS');
  }

  writeIdMapping(pid: number, gid: boolean, mapping: inWorkspace.IDMapping[]): Promise<unknown> {
    return this.call(this.client.writeIdMapping, { pid, gid, mapping }, 'WriteIDMapping');
  }

  mount(kind: 'proc' | 'sysfs', target: string, pid: number): Promise<unknown> {
    return this.call(kind === 'proc' ? this.client.mountProc : this.client.mountSysfs, { target, pid }, kind === 'proc' ? 'MountProc' : 'MountSysfs');
  }

  umount(kind: 'proc' | 'sysfs', target: string, pid: number): Promise<unknown> {
    return this.call(kind === 'proc' ? this.client.umountProc : this.client.umountSysfs, { target, pid }, kind === 'proc' ? 'UmountProc' : 'UmountSysfs');
  }

  teardown(): Promise<unknown> {
    return this.call(this.client.teardown, {}, 'Teardown');
  }

  private async call<Req, Res>(method: (...args: never[]) => unknown, request: Req, name: string, timeoutMs = 30_000): Promise<Res> {
    try {
      return await callUnary(method.bind(this.client) as never, request, timeoutMs);
    } catch (err) {
      const e = err as ServiceError;
      const errno = e.metadata instanceof Metadata ? (e.metadata.get('wsrun-errno')[0] as string | undefined) : undefined;
      throw new DaemonCallError(GRPC_TO_WS[e.code] ?? WsErrorCode.Internal, `${name}: ${e.details ?? e.message}`, errno, e.code);
    }
  }
}
