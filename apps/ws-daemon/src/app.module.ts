import { Module, type DynamicModule } from '@nestjs/common';
import { DaemonConfig } from './config/daemon-config';
import { DaemonLogger } from './daemon-logger';
import { WorkspaceContentService } from './content/workspace-content.service';
import { PlatformServer } from './grpc/platform-server';
import { ContentQueue } from './queue/content-queue.service';
import { DaemonStorage } from './storage/daemon-storage.service';
import { InWorkspaceService } from './in-workspace/in-workspace.service';
import { WorkspaceSockets } from './in-workspace/workspace-sockets.service';
import { BaseImage } from './mounts/base-image';
import { RootFilesystem } from './mounts/root-filesystem';
import { RegistryRepository } from './registry/registry.repository';
import { WorkspaceRegistry } from './registry/workspace-registry.service';

/** ws-daemon's object graph: config and logger from main.ts, everything else plain services. */
@Module({})
export class AppModule {
  static forConfig(config: DaemonConfig, logger: DaemonLogger): DynamicModule {
    return {
      module: AppModule,
      providers: [
        { provide: DaemonConfig, useValue: config },
        { provide: DaemonLogger, useValue: logger },
        RegistryRepository,
        WorkspaceRegistry,
        BaseImage,
        RootFilesystem,
        InWorkspaceService,
        WorkspaceSockets,
        DaemonStorage,
        ContentQueue,
        WorkspaceContentService,
        PlatformServer,
      ],
      exports: [WorkspaceRegistry, WorkspaceSockets, InWorkspaceService, PlatformServer, ContentQueue, DaemonStorage, WorkspaceContentService],
    };
  }
}
