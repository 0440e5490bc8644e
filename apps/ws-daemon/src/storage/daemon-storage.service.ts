import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { createObjectStorage, LocalObjectStorage, LocalStorageServer, type ObjectStorage } from '@wsrun/storage';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonConfig } from '../config/daemon-config';
import { DaemonLogger } from '../daemon-logger';

/**
 * The daemon's object storage. Local (the embedded default): the storage folder plus the built-in
 * HTTP endpoint that serves the signed URLs handed to content workers; its signing secret comes
 * from the config or is made once and kept (mode 0600) in the state dir. S3: the service itself
 * signs the URLs.
 */
@Injectable()
export class DaemonStorage implements OnApplicationShutdown {
  private storage: ObjectStorage | undefined;
  private server: LocalStorageServer | undefined;

  constructor(
    private readonly config: DaemonConfig,
    private readonly logger: DaemonLogger,
  ) {}

  get objects(): ObjectStorage {
    if (!this.storage) throw new Error('storage not started');
    return this.storage;
  }

  async start(): Promise<void> {
    const settings = this.config.storage;
    if (settings.kind === 's3') {
      this.storage = createObjectStorage(settings);
      return;
    }
    const secret = this.config.storageSecret ?? this.keptSecret();
    this.server = new LocalStorageServer({
      storage: new LocalObjectStorage({ root: settings.dir }),
      secret,
      host: this.config.storageListen.host,
      port: this.config.storageListen.port,
      ...(this.config.storageBandwidth > 0 ? { maxBytesPerSecondPerConnection: this.config.storageBandwidth } : {}),
      onError: (err, req) => this.logger.logger.error({ err, method: req.method, path: pathOf(req.url) }, 'storage request failed'),
      // the path only: the query holds the URL's signature
      onRequestDone: (req) => this.logger.logger.debug({ method: req.method, path: pathOf(req.url), status: req.status }, 'storage request'),
    });
    const baseUrl = await this.server.listen();
    this.storage = new LocalObjectStorage({ root: settings.dir, signing: { baseUrl, secret } });
    this.logger.logger.info({ dir: settings.dir, url: baseUrl }, 'local storage serving signed URLs');
  }

  private keptSecret(): string {
    const file = join(this.config.stateDir, 'storage.secret');
    if (existsSync(file)) return readFileSync(file, 'utf8').trim();
    const secret = randomBytes(32).toString('hex');
    writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' });
    return secret;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.server?.close();
  }
}

const pathOf = (url: string | undefined) => (url ?? '').split('?')[0];
