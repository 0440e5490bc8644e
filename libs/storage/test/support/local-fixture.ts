import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { LocalObjectStorage, LocalStorageServer, TEMP_DIR_NAME, type LocalStorageServerOptions } from '../../src';
import { makeTempDir, removeTempDir } from './files';

export const TEST_SECRET = 'test-secret-0123456789abcdef0123';

export interface LocalFixture {
  root: string;
  server: LocalStorageServer;
  /** signs URLs for `server` */
  storage: LocalObjectStorage;
  /** names of upload temp files currently in `<root>/.tmp` */
  tempFiles(): Promise<string[]>;
  /** resolves when the server is done with the next request it finishes */
  nextRequestDone(): Promise<void>;
  stop(): Promise<void>;
}

/** A storage folder in a temp dir served by a LocalStorageServer on a free loopback port. */
export async function startLocalFixture(serverOpts: Partial<LocalStorageServerOptions> = {}): Promise<LocalFixture> {
  const root = await makeTempDir('local');
  const doneWaiters: (() => void)[] = [];
  const onRequestDone: LocalStorageServerOptions['onRequestDone'] = (req) => {
    serverOpts.onRequestDone?.(req);
    for (const w of doneWaiters.splice(0)) w();
  };
  const server = new LocalStorageServer({ storage: new LocalObjectStorage({ root }), secret: TEST_SECRET, ...serverOpts, onRequestDone });
  const baseUrl = await server.listen();
  const storage = new LocalObjectStorage({ root, signing: { baseUrl, secret: TEST_SECRET } });
  return {
    root,
    server,
    storage,
    tempFiles: () => fsp.readdir(path.join(root, TEMP_DIR_NAME)).catch(() => []),
    nextRequestDone: () => new Promise<void>((resolve) => doneWaiters.push(resolve)),
    async stop() {
      await server.close();
      await removeTempDir(root);
    },
  };
}
