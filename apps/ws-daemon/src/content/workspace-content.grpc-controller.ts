import { initializer, type workspaceContent } from '@wsrun/proto';
import type { UnaryMethods } from '../grpc/unary-handler';
import type { WorkspaceContentService } from './workspace-content.service';

/** WorkspaceContentService for the platform: one call into WorkspaceContentService per RPC. */
export function workspaceContentController(service: WorkspaceContentService): UnaryMethods<workspaceContent.WorkspaceContentServiceServer> {
  return {
    initWorkspace: async (req) => {
      await service.initWorkspace({ id: req.id, owner: req.metadata?.owner ?? '', initializer: req.initializer, storageQuotaBytes: req.storageQuotaBytes });
      return {};
    },
    waitForInit: async (req) => {
      const r = await service.waitForInit(req.id);
      return { source: r.source, metrics: { metric: r.metrics } };
    },
    isWorkspaceExists: async (req) => ({ exists: service.isWorkspaceExists(req.id) }),
    takeSnapshot: async (req) => ({ url: await service.takeSnapshot(req.id) }),
    backupWorkspace: async (req) => ({ url: await service.backupWorkspace(req.id) }),
    disposeWorkspace: async (req) => {
      const r = await service.disposeWorkspace(req.id, req.backup);
      return { gitStatus: r.gitStatus ? initializer.GitStatus.fromJSON(r.gitStatus) : undefined };
    },
  };
}
