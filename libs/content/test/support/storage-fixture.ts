import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { LocalObjectStorage, LocalStorageServer, parseObjectRef } from '@wsrun/storage';
import type { RemoteObject } from '../../src';

/** A local object storage behind its signed-URL HTTP server, as the embedded default runs it. */
export class StorageFixture {
  private storage!: LocalObjectStorage;
  private server!: LocalStorageServer;

  constructor(private readonly root: string, private readonly opts: { maxBytesPerSecondPerConnection?: number } = {}) {}

  async start(): Promise<this> {
    const secret = randomBytes(32).toString('hex');
    const plain = new LocalObjectStorage({ root: this.root });
    this.server = new LocalStorageServer({ storage: plain, secret, host: '127.0.0.1', port: 0, ...(this.opts.maxBytesPerSecondPerConnection ? { maxBytesPerSecondPerConnection: this.opts.maxBytesPerSecondPerConnection } : {}) });
    const baseUrl = await this.server.listen();
    this.storage = new LocalObjectStorage({ root: this.root, signing: { baseUrl, secret } });
    return this;
  }

  /** Stores bytes (or a stream) under "object@bucket" and returns a signed URL with size and digest. */
  async put(name: string, body: Buffer | Readable): Promise<RemoteObject> {
    const ref = parseObjectRef(name);
    await this.storage.ensureBucket(ref.bucket);
    const result = await this.storage.put(ref, Buffer.isBuffer(body) ? Readable.from([body]) : body);
    return { url: await this.storage.signedDownloadUrl(ref, 600), sizeBytes: result.size, sha256: result.sha256 };
  }

  /** A signed URL of an object that does not exist. */
  missing(name: string): Promise<string> {
    return this.storage.signedDownloadUrl(parseObjectRef(name), 600);
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
