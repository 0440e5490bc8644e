import { Server, ServerCredentials } from '@grpc/grpc-js';
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { WsError, WsErrorCode, type Logger } from '@wsrun/common';
import { peerCredentials } from '@wsrun/native-ns';
import { HealthStatusBoard, inWorkspace, ServingStatus } from '@wsrun/proto';
import { chmodSync, chownSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { DaemonConfig } from '../config/daemon-config';
import { DaemonLogger } from '../daemon-logger';
import { formatPeer } from '../grpc/peer-identity';
import { unaryHandlers } from '../grpc/unary-handler';
import { WorkspaceRegistry } from '../registry/workspace-registry.service';
import { inWorkspaceController } from './in-workspace.grpc-controller';
import { InWorkspaceService } from './in-workspace.service';

type Injector = ReturnType<Server['createConnectionInjector']>;

/**
 * One unix socket per workspace, each served by the same gRPC server (InWorkspaceService and
 * health). Connections are accepted here, not by grpc-js, so that the kernel's SO_PEERCRED of
 * each one is read before any byte is: the identity (workspace of the socket, peer pid/uid/gid)
 * is stamped on the connection and is all the handlers trust. The socket file belongs to root
 * with group = the workspace's root uid, mode 0660.
 */
@Injectable()
export class WorkspaceSockets implements OnApplicationShutdown {
  private readonly server = new Server({ 'grpc.max_receive_message_length': 1024 * 1024 });
  private readonly health = new HealthStatusBoard({ '': ServingStatus.NOT_SERVING, 'wsrun.daemon.v1.InWorkspaceService': ServingStatus.NOT_SERVING });
  private readonly injector: Injector;
  private readonly listeners = new Map<string, NetServer>();
  private readonly connections = new Map<string, Set<Socket>>();
  private readonly log: Logger;

  constructor(
    private readonly config: DaemonConfig,
    private readonly registry: WorkspaceRegistry,
    private readonly service: InWorkspaceService,
    logger: DaemonLogger,
  ) {
    this.log = logger.child({ component: 'workspace-sockets' });
    this.server.addService(inWorkspace.InWorkspaceServiceService, unaryHandlers('InWorkspaceService', inWorkspaceController(service), this.log));
    this.health.addToServer(this.server);
    this.injector = this.server.createConnectionInjector(ServerCredentials.createInsecure());
  }

  /** Serves the sockets of every workspace in the registry that is not disposed. */
  async serveAll(): Promise<void> {
    for (const ws of this.registry.list()) {
      if (ws.state !== 'disposed') await this.open(ws.id);
    }
    this.health.setStatus('', ServingStatus.SERVING);
    this.health.setStatus('wsrun.daemon.v1.InWorkspaceService', ServingStatus.SERVING);
  }

  /** Creates (or re-creates after a restart) the workspace's socket. */
  async open(id: string): Promise<string> {
    if (this.listeners.has(id)) return this.registry.layout(id).socket;
    const layout = this.registry.layout(id);
    mkdirSync(layout.socketDir, { recursive: true, mode: 0o755 });
    try {
      unlinkSync(layout.socket); // left by a crash
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const listener = createServer({ pauseOnConnect: true }, (socket) => this.accept(id, socket));
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(layout.socket, () => resolve());
    });
    chownSync(layout.socket, 0, this.config.rootUid);
    chmodSync(layout.socket, 0o660);
    this.listeners.set(id, listener);
    this.log.info({ workspace: id, socket: layout.socket }, 'serving workspace socket');
    return layout.socket;
  }

  async close(id: string): Promise<void> {
    const listener = this.listeners.get(id);
    if (!listener) return;
    this.listeners.delete(id);
    // close() waits for open connections: a ring0 that stays connected must not hold us up
    for (const socket of this.connections.get(id) ?? []) socket.destroy();
    this.connections.delete(id);
    this.service.socketClosed(id);
    await new Promise<void>((resolve) => listener.close(() => resolve()));
    try {
      unlinkSync(this.registry.layout(id).socket);
    } catch {
      // already gone
    }
  }

  private accept(workspaceId: string, socket: Socket): void {
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    try {
      if (fd === undefined || fd < 0) throw new WsError(WsErrorCode.Internal, 'no fd for an accepted connection');
      const cred = peerCredentials(fd);
      const peer = { workspaceId, ...cred };
      if (!this.service.acceptPeer(peer)) {
        this.log.warn({ workspace: workspaceId, pid: cred.pid, uid: cred.uid }, 'connection refused: not the workspace user');
        socket.destroy();
        return;
      }
      Object.defineProperty(socket, 'remoteAddress', { value: formatPeer(peer) });
      const open = this.connections.get(workspaceId) ?? new Set<Socket>();
      this.connections.set(workspaceId, open);
      open.add(socket);
      socket.once('close', () => {
        open.delete(socket);
        this.service.peerGone(workspaceId).catch((err: unknown) => this.log.error({ workspace: workspaceId, err }, 'teardown after ring0 died failed'));
      });
      this.injector.injectConnection(socket);
      socket.resume();
    } catch (err) {
      this.log.error({ workspace: workspaceId, err }, 'accepting a connection failed');
      socket.destroy();
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.health.shutdown();
    for (const id of [...this.listeners.keys()]) await this.close(id);
    this.injector.destroy();
    this.server.forceShutdown();
  }
}
