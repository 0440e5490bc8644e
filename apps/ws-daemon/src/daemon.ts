import 'reflect-metadata';
import { mkdirSync } from 'node:fs';
import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import { AppModule } from './app.module';
import { DaemonConfig } from './config/daemon-config';
import { DaemonLogger } from './daemon-logger';
import { PlatformServer } from './grpc/platform-server';
import { InWorkspaceService } from './in-workspace/in-workspace.service';
import { WorkspaceRegistry } from './registry/workspace-registry.service';
import { WorkspaceSockets } from './in-workspace/workspace-sockets.service';
import { WorkspaceContentService } from './content/workspace-content.service';
import { ContentQueue } from './queue/content-queue.service';
import { DaemonStorage } from './storage/daemon-storage.service';

export interface RunningDaemon {
  app: INestApplicationContext;
  address: string;
  /** where content workers reach the node's Redis */
  redisUrl: string;
  stop(): Promise<void>;
}

/** Boots the daemon: registry from disk, every workspace socket served again, platform endpoint up. */
export async function startDaemon(config: DaemonConfig, logger = new DaemonLogger()): Promise<RunningDaemon> {
  // a fresh node has no state folder yet: everything below keeps its files there
  mkdirSync(config.stateDir, { recursive: true, mode: 0o755 });
  const app = await NestFactory.createApplicationContext(AppModule.forConfig(config, logger), { logger: false, abortOnError: false });
  await app.get(DaemonStorage).start();
  await app.get(ContentQueue).start();
  const tornDown = app.get(InWorkspaceService).reconcile();
  await app.get(WorkspaceSockets).serveAll();
  // roots built ahead for the ready workspaces; not for those just torn down, whose processes may
  // still hold their old root: their next start builds it
  for (const ws of app.get(WorkspaceRegistry).list()) if (!tornDown.includes(ws.id)) app.get(InWorkspaceService).buildRootAhead(ws.id);
  await app.get(WorkspaceContentService).resume();
  const address = await app.get(PlatformServer).listen();
  return { app, address, redisUrl: app.get(ContentQueue).redisUrl, stop: () => app.close() };
}
