import { WsError, WsErrorCode } from '@wsrun/common';
import type { initializer } from '@wsrun/proto';
import type { RemoteObject } from '../request/remote-content';
import { restoreArchive } from './archive-restore';
import type { InitializerContext } from './initializer-context';
import type { InitializerMetricDetail } from './initializer-metrics';

/** The signed URL the caller resolved for a snapshot name ("object@bucket"). */
export function remoteObjectFor(ctx: InitializerContext, what: string, name: string): RemoteObject {
  if (!name) throw new WsError(WsErrorCode.InvalidArgument, `${what}: the snapshot name is empty`);
  const object = ctx.remoteContent.objects?.[name];
  if (!object) throw new WsError(WsErrorCode.FailedPrecondition, `${what}: no URL for ${JSON.stringify(name)} was resolved for this run`);
  return object;
}

/** Restores a snapshot taken with TakeSnapshot. */
export function runSnapshotInitializer(ctx: InitializerContext, spec: initializer.SnapshotInitializer): Promise<InitializerMetricDetail> {
  return restoreArchive(ctx, 'snapshot', remoteObjectFor(ctx, 'snapshot', spec.snapshot));
}
