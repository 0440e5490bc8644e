import type { ServerUnaryCall } from '@grpc/grpc-js';
import { WsError, WsErrorCode } from '@wsrun/common';
import { inWorkspace } from '@wsrun/proto';
import { parsePeer, type PeerIdentity } from '../grpc/peer-identity';
import type { UnaryMethods } from '../grpc/unary-handler';
import type { InWorkspaceService } from './in-workspace.service';

const SHIFT = {
  idmapped: inWorkspace.RootShift.ROOT_SHIFT_IDMAPPED,
  bind: inWorkspace.RootShift.ROOT_SHIFT_BIND,
} as const;

function peerOf(call: ServerUnaryCall<unknown, unknown>): PeerIdentity {
  const peer = parsePeer(call.getPeer());
  // only connections accepted on a workspace socket carry an identity
  if (!peer) throw new WsError(WsErrorCode.PermissionDenied, 'InWorkspaceService is served only on a workspace socket');
  return peer;
}

/** InWorkspaceService: one call into InWorkspaceService per RPC, with the peer from the socket. */
export function inWorkspaceController(service: InWorkspaceService): UnaryMethods<inWorkspace.InWorkspaceServiceServer> {
  return {
    prepareForUserNs: async (_req, call) => {
      const r = await service.prepareForUserNS(peerOf(call));
      return { rootShift: SHIFT[r.rootShift], markPath: r.markPath, workspacePath: r.workspacePath };
    },
    writeIdMapping: async (req, call) => {
      await service.writeIdMapping(peerOf(call), req.pid, req.gid, req.mapping);
      return {};
    },
    mountProc: async (req, call) => {
      await service.mountFs(peerOf(call), 'proc', req.target, req.pid);
      return {};
    },
    umountProc: async (req, call) => {
      await service.umountFs(peerOf(call), 'proc', req.target, req.pid);
      return {};
    },
    mountSysfs: async (req, call) => {
      await service.mountFs(peerOf(call), 'sysfs', req.target, req.pid);
      return {};
    },
    umountSysfs: async (req, call) => {
      await service.umountFs(peerOf(call), 'sysfs', req.target, req.pid);
      return {};
    },
    teardown: async (_req, call) => {
      await service.teardown(peerOf(call));
      return { success: true };
    },
    workspaceInfo: async (_req, call) => {
      const usage = await service.workspaceInfo(peerOf(call));
      return { resources: { cpu: usage.cpu, memory: usage.memory } };
    },
  };
}
