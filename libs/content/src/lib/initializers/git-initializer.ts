import { emptyDirectory, openBeneath } from '@wsrun/archive';
import * as fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { WsError, WsErrorCode, errnoCodeOf } from '@wsrun/common';
import { closeFd, readDirFd } from '@wsrun/native-ns';
import type { initializer } from '@wsrun/proto';
import { treeSize } from '../fs/tree-size';
import { joinInside, openOrCreateDirInside } from '../fs/workspace-paths';
import { cloneRepository, updateWorkingCopy } from '../git/git-checkout';
import { GitSession } from '../git/git-session';
import type { InitializerContext } from './initializer-context';
import type { InitializerMetricDetail } from './initializer-metrics';

const { O_RDONLY, O_DIRECTORY } = fs.constants;

/**
 * The git initializer: a fresh clone into its checkout location (created inside the workspace,
 * never through a symlink, and required to be empty), brought to the target. A transient
 * failure empties the location and tries again.
 */
export async function runGitInitializer(ctx: InitializerContext, spec: initializer.GitInitializer): Promise<InitializerMetricDetail> {
  const started = performance.now();
  ctx.onProgress({ initializer: 'git', phase: 'clone' });
  const session = await openSession(ctx, spec);
  try {
    const locationFd = openOrCreateDirInside(ctx.root.fd, session.target.location);
    try {
      if (readDirFd(locationFd).length > 0) {
        throw new WsError(WsErrorCode.FailedPrecondition, `git: the checkout location ${JSON.stringify(session.target.location.join('/') || '.')} is not empty`);
      }
      const attempts = await cloneRepository(session, joinInside(ctx.root.path, session.target.location), () => emptyDirectory(locationFd));
      return { type: 'git', durationMs: performance.now() - started, sizeBytes: treeSize(locationFd), attempts };
    } finally {
      closeFd(locationFd);
    }
  } finally {
    await session.close();
  }
}

/**
 * The git part of a prebuild: the working copy the prebuild's snapshot brought is moved to the
 * target, keeping untracked and ignored files (the prebuild's outputs). Throws when there is no
 * working copy at the location or the checkout would overwrite something; the prebuild then
 * falls back to a clean clone.
 */
export async function updatePrebuildRepository(ctx: InitializerContext, spec: initializer.GitInitializer): Promise<InitializerMetricDetail> {
  const started = performance.now();
  ctx.onProgress({ initializer: 'git', phase: 'update' });
  const session = await openSession(ctx, spec);
  try {
    let locationFd: number;
    try {
      locationFd = openBeneath(ctx.root.fd, session.target.location.join('/'), O_RDONLY | O_DIRECTORY);
    } catch (err) {
      const where = JSON.stringify(session.target.location.join('/') || '.');
      throw new WsError(WsErrorCode.FailedPrecondition, `the prebuild has no folder ${where} (${errnoCodeOf(err) ?? 'error'})`, { cause: err });
    }
    try {
      const attempts = await updateWorkingCopy(session, joinInside(ctx.root.path, session.target.location));
      return { type: 'git', durationMs: performance.now() - started, sizeBytes: treeSize(locationFd), attempts };
    } finally {
      closeFd(locationFd);
    }
  } finally {
    await session.close();
  }
}

function openSession(ctx: InitializerContext, spec: initializer.GitInitializer): Promise<GitSession> {
  return GitSession.open(spec, { tmpDir: ctx.tmpDir, policy: ctx.git, logger: ctx.logger, ...(ctx.signal ? { signal: ctx.signal } : {}) });
}
