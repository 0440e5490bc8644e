/**
 * Who is on the other end of a workspace socket, as the kernel reported it (SO_PEERCRED) when the
 * connection was accepted, plus the workspace the socket belongs to. It travels to the handlers as
 * the connection's "remote address" (grpc-js hands that to every call as getPeer()); nothing the
 * caller sends can change it.
 */
export interface PeerIdentity {
  workspaceId: string;
  pid: number;
  uid: number;
  gid: number;
}

const PREFIX = 'wsrun-peer:';

export function formatPeer(p: PeerIdentity): string {
  return `${PREFIX}${p.workspaceId}:${p.pid}:${p.uid}:${p.gid}`;
}

export function parsePeer(peer: string): PeerIdentity | undefined {
  if (!peer.startsWith(PREFIX)) return undefined;
  const [workspaceId, pid, uid, gid] = peer.slice(PREFIX.length).split(':');
  if (!workspaceId || pid === undefined || uid === undefined || gid === undefined) return undefined;
  return { workspaceId, pid: Number(pid), uid: Number(uid), gid: Number(gid) };
}
