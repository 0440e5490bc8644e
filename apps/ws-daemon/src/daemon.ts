import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import { AppModule } from './app.module';
import { DaemonConfig } from './config/daemon-config';
import { DaemonLogger } from './daemon-logger';
import { PlatformServer } from './grpc/platform-server';
import { WorkspaceSockets } from './in-workspace/workspace-sockets.service';

export interface RunningDaemon {
  app: INestApplicationContext;
  address: string;
  stop(): Promise<void>;
}

/** Boots the daemon: registry from disk, every workspace socket served again, platform endpoint up. */
export async function startDaemon(config: DaemonConfig, logger = new DaemonLogger()): Promise<RunningDaemon> {
  const app = await NestFactory.createApplicationContext(AppModule.forConfig(config, logger), { logger: false, abortOnError: false });
  await app.get(WorkspaceSockets).serveAll();
  const address = await app.get(PlatformServer).listen();
  return { app, address, stop: () => app.close() };
}
