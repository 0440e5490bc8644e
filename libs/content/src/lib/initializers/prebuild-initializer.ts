import { emptyDirectory } from '@wsrun/archive';
import { WsError, WsErrorCode } from '@wsrun/common';
import type { initializer } from '@wsrun/proto';
import { restoreArchive } from './archive-restore';
import { runGitInitializer, updatePrebuildRepository } from './git-initializer';
import type { InitializerContext } from './initializer-context';
import type { InitializerMetricDetail, InitializerOutcome } from './initializer-metrics';
import { remoteObjectFor } from './snapshot-initializer';

/**
 * A prebuild: its snapshot, then each git initializer brings the snapshot's working copy to its
 * target while the prebuild's outputs stay. If any of that fails (snapshot missing or broken,
 * no working copy, a checkout that would overwrite something), the workspace is emptied
 * completely, dotfiles included, and the git initializers run as fresh clones: the source is
 * then "git", and the prebuild's metric says why it was dropped. A cancellation is not a failure
 * to fall back from.
 */
export async function runPrebuildInitializer(ctx: InitializerContext, spec: initializer.PrebuildInitializer): Promise<InitializerOutcome> {
  const metrics: InitializerMetricDetail[] = [];
  try {
    if (!spec.prebuild) throw new WsError(WsErrorCode.InvalidArgument, 'prebuild: no snapshot given');
    metrics.push(await restoreArchive(ctx, 'prebuild', remoteObjectFor(ctx, 'prebuild', spec.prebuild.snapshot)));
    for (const git of spec.git) metrics.push(await updatePrebuildRepository(ctx, git));
    return { source: 'prebuild', metrics };
  } catch (err) {
    if (ctx.signal?.aborted || (err instanceof WsError && err.code === WsErrorCode.Cancelled)) throw err;
    if (spec.git.length === 0) throw err;
    const reason = (err as Error).message;
    ctx.logger.warn({ err: reason }, 'prebuild: cannot use the prebuild, falling back to a clean git clone');
    ctx.onProgress({ initializer: 'prebuild', phase: 'fallback' });
    emptyDirectory(ctx.root.fd);
    const dropped: InitializerMetricDetail = { type: 'prebuild', durationMs: metrics.reduce((t, m) => t + m.durationMs, 0), sizeBytes: 0, failed: reason };
    const fallback: InitializerMetricDetail[] = [dropped];
    for (const git of spec.git) fallback.push(await runGitInitializer(ctx, git));
    return { source: 'git', metrics: fallback };
  }
}
