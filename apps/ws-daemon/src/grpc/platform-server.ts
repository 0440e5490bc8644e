import { Server, ServerCredentials } from '@grpc/grpc-js';
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from '@wsrun/common';
import { bindUnix, HealthStatusBoard, ServingStatus, shutdownServer, workspaceContent } from '@wsrun/proto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DaemonConfig } from '../config/daemon-config';
import { DaemonLogger } from '../daemon-logger';
import { workspaceContentController } from '../content/workspace-content.grpc-controller';
import { WorkspaceContentService } from '../content/workspace-content.service';
import { unaryHandlers } from './unary-handler';

/**
 * The platform's gRPC endpoint (a unix socket in the state dir by default, or host:port), with
 * the standard health service: SERVING only once the daemon is ready.
 */
@Injectable()
export class PlatformServer implements OnApplicationShutdown {
  readonly server = new Server();
  readonly health = new HealthStatusBoard({ '': ServingStatus.NOT_SERVING });
  private readonly log: Logger;

  constructor(
    private readonly config: DaemonConfig,
    content: WorkspaceContentService,
    logger: DaemonLogger,
  ) {
    this.log = logger.child({ component: 'platform-server' });
    this.health.addToServer(this.server);
    this.server.addService(workspaceContent.WorkspaceContentServiceService, unaryHandlers('WorkspaceContentService', workspaceContentController(content), this.log));
  }

  async listen(): Promise<string> {
    const address = this.config.listen;
    if (address.startsWith('/')) {
      mkdirSync(dirname(address), { recursive: true, mode: 0o755 });
      await bindUnix(this.server, address);
    } else {
      await new Promise<number>((resolve, reject) =>
        this.server.bindAsync(address, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
      );
    }
    this.health.setStatus('', ServingStatus.SERVING);
    this.health.setStatus('wsrun.daemon.v1.WorkspaceContentService', ServingStatus.SERVING);
    this.log.info({ address }, 'platform gRPC listening');
    return address;
  }

  async onApplicationShutdown(): Promise<void> {
    this.health.shutdown();
    await shutdownServer(this.server, 2000);
  }
}
