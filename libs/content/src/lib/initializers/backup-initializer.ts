import { WsError, WsErrorCode } from '@wsrun/common';
import { restoreArchive } from './archive-restore';
import type { InitializerContext } from './initializer-context';
import type { InitializerMetricDetail } from './initializer-metrics';

/**
 * Restores the workspace's latest backup. The caller puts it in remoteContent.backup only when
 * one exists; then it wins over whatever initializer was asked for (workspace-initializer.ts).
 * Asking for a backup when there is none is an error, not an empty workspace.
 */
export function runBackupInitializer(ctx: InitializerContext): Promise<InitializerMetricDetail> {
  const backup = ctx.remoteContent.backup;
  if (!backup) throw new WsError(WsErrorCode.NotFound, 'backup: this workspace has no backup to restore');
  return restoreArchive(ctx, 'backup', backup);
}
