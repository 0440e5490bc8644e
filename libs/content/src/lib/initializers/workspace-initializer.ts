import { emptyDirectory } from '@wsrun/archive';
import { performance } from 'node:perf_hooks';
import { WsError, WsErrorCode } from '@wsrun/common';
import type { initializer } from '@wsrun/proto';
import { writeReadyFile } from '../ready/ready-file';
import { runBackupInitializer } from './backup-initializer';
import { runFileDownloadInitializer } from './file-download-initializer';
import { runGitInitializer } from './git-initializer';
import type { InitializerContext } from './initializer-context';
import type { InitializerOutcome } from './initializer-metrics';
import { runPrebuildInitializer } from './prebuild-initializer';
import { runSnapshotInitializer } from './snapshot-initializer';

/**
 * A whole initializer run on a workspace folder: clean slate (everything removed, dotfiles
 * included, so a retry after a crash starts from the same point), the latest backup if there is
 * one (it wins over every initializer) or else the initializer asked for, then `.wsrun` cleaned
 * and `.wsrun/ready` written. Throws WsError; the folder is then not ready.
 */
export async function initializeWorkspace(ctx: InitializerContext, spec: initializer.WorkspaceInitializer): Promise<InitializerOutcome> {
  ctx.onProgress({ initializer: 'workspace', phase: 'clean' });
  try {
    // staging folders of an extraction killed earlier go with everything else
    emptyDirectory(ctx.root.fd);
  } catch (err) {
    throw WsError.wrap('clean slate: emptying the workspace folder', err, WsErrorCode.Internal);
  }
  const outcome = ctx.remoteContent.backup ? { source: 'backup', metrics: [await runBackupInitializer(ctx)] } : await runInitializer(ctx, spec);
  checkCancelled(ctx);
  ctx.onProgress({ initializer: 'workspace', phase: 'ready' });
  writeReadyFile(ctx.root.fd, outcome, ctx.owner);
  return outcome;
}

/** One initializer (recursively for composites), into the folder as it is. */
export async function runInitializer(ctx: InitializerContext, spec: initializer.WorkspaceInitializer): Promise<InitializerOutcome> {
  checkCancelled(ctx);
  const s = spec.spec;
  switch (s?.$case) {
    case 'empty': {
      const started = performance.now();
      return { source: 'empty', metrics: [{ type: 'empty', durationMs: performance.now() - started, sizeBytes: 0 }] };
    }
    case 'git':
      return { source: 'git', metrics: [await runGitInitializer(ctx, s.value)] };
    case 'snapshot':
      return { source: 'snapshot', metrics: [await runSnapshotInitializer(ctx, s.value)] };
    case 'prebuild':
      return runPrebuildInitializer(ctx, s.value);
    case 'backup':
      return { source: 'backup', metrics: [await runBackupInitializer(ctx)] };
    case 'download':
      return { source: 'download', metrics: [await runFileDownloadInitializer(ctx, s.value)] };
    case 'composite':
      return runComposite(ctx, s.value);
    case undefined:
      throw new WsError(WsErrorCode.InvalidArgument, 'the initializer is empty (no spec set)');
    default:
      throw new WsError(WsErrorCode.InvalidArgument, `unknown initializer ${(s as { $case: string }).$case}`);
  }
}

/**
 * A composite runs its initializers in order into the same folder. Its source names what really
 * filled the folder: the children's sources in order, each once, joined by "+" ("git+download";
 * a prebuild that fell back counts as "git"; "empty" only when nothing else ran).
 */
async function runComposite(ctx: InitializerContext, spec: initializer.CompositeInitializer): Promise<InitializerOutcome> {
  if (spec.initializer.length === 0) throw new WsError(WsErrorCode.InvalidArgument, 'the composite initializer has no initializers');
  const sources: string[] = [];
  const metrics: InitializerOutcome['metrics'] = [];
  for (const [i, child] of spec.initializer.entries()) {
    let outcome: InitializerOutcome;
    try {
      outcome = await runInitializer(ctx, child);
    } catch (err) {
      throw WsError.wrap(`composite initializer ${i + 1} of ${spec.initializer.length}`, err);
    }
    for (const s of outcome.source.split('+')) if (!sources.includes(s)) sources.push(s);
    metrics.push(...outcome.metrics);
  }
  const filled = sources.filter((s) => s !== 'empty');
  return { source: (filled.length > 0 ? filled : sources).join('+'), metrics };
}

function checkCancelled(ctx: InitializerContext): void {
  if (ctx.signal?.aborted) throw new WsError(WsErrorCode.Cancelled, 'the initializer was cancelled');
}
