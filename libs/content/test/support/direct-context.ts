import { mkdtempSync, openSync, closeSync, constants, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { workspaceIdMappers } from '@wsrun/archive';
import { createLogger } from '@wsrun/common';
import { WORKSPACE_ID_MAPPING, type InitializerContext, type InitializerProgress } from '../../src';

/**
 * An InitializerContext for running initializers directly in the test process (as host root,
 * no sandbox): archive ids are mapped to host ids the way the sandbox's user namespace would,
 * and files the run creates are given to the workspace's root (33333).
 */
export function directContext(root: string, overrides: Partial<InitializerContext> = {}): { ctx: InitializerContext; progress: InitializerProgress[]; close: () => void } {
  const fd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
  const tmp = mkdtempSync(join(tmpdir(), 'wsrun-content-direct-'));
  const progress: InitializerProgress[] = [];
  const ctx: InitializerContext = {
    root: { path: root, fd },
    remoteContent: {},
    mapId: workspaceIdMappers(WORKSPACE_ID_MAPPING).toHost,
    owner: { uid: 33333, gid: 33333 },
    tmpDir: tmp,
    git: { attempts: 3, backoffMs: 20 },
    download: {},
    onProgress: (p) => progress.push(p),
    logger: createLogger('content-test', 'silent'),
    ...overrides,
  };
  return {
    ctx,
    progress,
    close: () => {
      closeSync(fd);
      rmSync(tmp, { recursive: true, force: true });
    },
  };
}
