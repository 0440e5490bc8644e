import { native } from './loader';
import type { NativeChannel } from './native';

/**
 * File descriptors over unix sockets (SCM_RIGHTS), which Node's `net` cannot do, and the peer's
 * credentials of a connected unix socket (SO_PEERCRED).
 */

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** SO_PEERCRED of a connected unix socket fd: who is on the other end, as the kernel saw it at connect. */
export function peerCredentials(fd: number): PeerCredentials {
  return native().peerCred(fd);
}

/**
 * A connected pair of SOCK_SEQPACKET (message) or SOCK_STREAM unix sockets, close-on-exec.
 * bufferBytes sets both ends' send and receive buffers (past net.core.*mem_max where allowed).
 */
export function socketPair(type: 'seqpacket' | 'stream' = 'seqpacket', bufferBytes?: number): [number, number] {
  return native().socketpair(type, bufferBytes);
}

/** Sends one message with fds (blocking). The fds stay open here; the receiver gets duplicates. */
export function sendFds(sock: number, data: Buffer, fds: number[]): void {
  native().sendFds(sock, data, fds);
}

/** Receives one message with its fds (close-on-exec), blocking unless the socket is non-blocking. */
export function recvFds(sock: number, maxBytes = 65536): { data: Buffer; fds: number[] } {
  return native().recvFds(sock, maxBytes);
}

export function closeFd(fd: number): void {
  native().close(fd);
}

export function dupFd(fd: number): number {
  return native().dup(fd);
}

/** Opens a path with open(2) flags (O_CLOEXEC added), e.g. /proc/<pid>/ns/pid with O_RDONLY. */
export function openPath(path: string, flags: number): number {
  return native().openPath(path, flags);
}

export interface FdMessage {
  data: Buffer;
  fds: number[];
}

/**
 * A message socket watched by the event loop: every message (with its fds) goes to onMessage;
 * `null` means the peer closed. Takes ownership of the fd.
 */
export class FdChannel {
  private readonly channel: NativeChannel;

  constructor(fd: number, onMessage: (message: FdMessage | null, error?: Error) => void) {
    this.channel = new (native().Channel)(fd, (data, fds, error) => onMessage(data === null ? null : { data, fds }, error));
  }

  /** Sends one message; returns the bytes sent (on a stream socket possibly fewer than given). */
  send(data: Buffer, fds: number[] = []): number {
    return this.channel.send(data, fds);
  }

  /** `callback` once, when the socket takes data again (after send took less, or EAGAIN). */
  onWritable(callback: () => void): void {
    this.channel.onWritable(callback);
  }

  close(): void {
    this.channel.close();
  }

  unref(): void {
    this.channel.unref();
  }
}

/**
 * A listening unix socket whose connections (fds, with the peer's credentials) go to
 * onConnection. SOCK_SEQPACKET by default: one message per send, fds alongside (FdChannel).
 */
export class UnixListener {
  private readonly listener: ReturnType<typeof createListener>;

  constructor(path: string, onConnection: (fd: number, peer: PeerCredentials) => void, opts: { seqpacket?: boolean } = {}) {
    this.listener = createListener(path, opts.seqpacket ?? true, onConnection);
  }

  close(): void {
    this.listener.close();
  }

  unref(): void {
    this.listener.unref();
  }
}

function createListener(path: string, seqpacket: boolean, onConnection: (fd: number, peer: PeerCredentials) => void) {
  return new (native().Listener)(path, seqpacket, (fd, peer) => onConnection(fd, { pid: peer.pid ?? 0, uid: peer.uid ?? -1, gid: peer.gid ?? -1 }));
}

/**
 * Connects to a unix socket (SOCK_SEQPACKET by default); returns the fd. `nonblocking`: the fd
 * is O_NONBLOCK from the start, so a server whose backlog is full gives EAGAIN instead of
 * blocking the caller.
 */
export function connectUnix(path: string, opts: { seqpacket?: boolean; nonblocking?: boolean } = {}): number {
  return native().connectUnix(path, opts.seqpacket ?? true, opts.nonblocking ?? false);
}
