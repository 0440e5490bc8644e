// The raw addon (src/binding/*.cc), exactly as it is exported. Only the TS API in this folder
// calls it; everything else uses the typed functions in ../index.ts.

export interface NativeChannel {
  send(data: Buffer, fds?: number[]): number;
  /** once, when the socket takes data again; a second call before then replaces the first */
  onWritable(callback: () => void): void;
  close(): void;
  ref(): void;
  unref(): void;
}

export interface NativeSeccompListener {
  close(): void;
}

export interface RawNotification {
  id: bigint;
  pid: number;
  nr: number;
  syscall: string | null;
  arch: number;
  args: bigint[];
}

export interface NativeMountSpec {
  kind: number;
  source?: string;
  sourceRootFd?: number;
  sourceFd?: number;
  options?: string;
  pidnsFd?: number;
  target: string;
  targetRootFd?: number;
  attr?: number;
  propagation?: number;
  createTarget?: boolean;
}

export interface NativeListener {
  close(): void;
  unref(): void;
}

/** One operation of runJoined. Twin: struct ns_join_op in src/core/nsjoin.h. */
export interface NativeJoinOp {
  kind: number;
  path: string;
  treeFd?: number;
  create?: number;
  propagation?: number;
  attrSet?: number;
  attrClr?: number;
  recursive?: number;
  flags?: number;
  mode?: number;
  fstype?: string;
  options?: string;
}

export interface NativeBinding {
  Listener: new (path: string, seqpacket: boolean, onConnection: (fd: number, peer: { pid?: number; uid?: number; gid?: number }) => void) => NativeListener;
  connectUnix(path: string, seqpacket: boolean, nonblocking?: boolean): number;

  setErrorClass(cls: unknown): void;

  openInRoot(rootFd: number, path: string, flags: number, resolve?: number): number;
  openRoot(path: string): number;
  mkdirInRoot(rootFd: number, path: string, mode: number): void;
  mount(spec: NativeMountSpec): void;
  cloneTree(rootFd: number, path: string, recursive: boolean): number;
  newFs(fstype: string, options: string, fdParams: Record<string, number>, attr: number): number;
  setAttr(fd: number, attr: { set?: number; clear?: number; propagation?: number; usernsFd?: number; recursive?: boolean }): void;
  attachTree(treeFd: number, rootFd: number, target: string, createTarget: boolean): void;
  applyMasks(treeFd: number, paths: string[], kinds: number[]): number[];
  umountInRoot(rootFd: number, path: string, flags: number): void;
  writeIdMap(pid: number, file: 'uid_map' | 'gid_map', content: string): void;
  writeSetgroups(pid: number, value: 'allow' | 'deny'): void;
  socketpair(type?: 'seqpacket' | 'stream', bufferBytes?: number): [number, number];
  sendFds(sock: number, data: Buffer, fds: number[]): number;
  recvFds(sock: number, maxBytes?: number): { data: Buffer; fds: number[] };
  peerCred(fd: number): { pid: number; uid: number; gid: number };
  pidfdOpen(pid: number): number;
  pidfdSendSignal(pidfd: number, signal: number): void;
  setChildSubreaper(on: boolean): void;
  close(fd: number): void;
  openPath(path: string, flags: number): number;
  /** per operation the tree an openTree made, else -1 (see src/core/nsjoin.h) */
  runJoined(pidfd: number, nstypes: number, rootFd: number, ops: NativeJoinOp[]): Promise<number[]>;
  dup(fd: number): number;

  startProcessManager(onExit: (pid: number, code: number | null, signal: number) => void): void;
  spawnStage(opts: {
    cloneFlags: number;
    channelFd: number;
    exeFd: number;
    name: string;
    pdeathsig: number;
    hold: boolean;
    cgroupFd?: number;
  }): { pid: number; pidfd: number };
  setExitWatchRef(ref: boolean): void;

  Channel: new (fd: number, onMessage: (data: Buffer | null, fds: number[], error?: Error) => void) => NativeChannel;

  SeccompListener: new (fd: number, onNotification: (n: RawNotification | null, error?: Error) => void) => NativeSeccompListener;
  notifRespond(fd: number, id: bigint, answer: { continue?: boolean; error?: number; value?: number }): void;
  notifIdValid(fd: number, id: bigint): boolean;
  notifAddFd(fd: number, id: bigint, srcFd: number, send: boolean): number;
  readString(pid: number, addr: bigint, max?: number): string;
  readMemory(pid: number, addr: bigint, length: number): Buffer;
  syscallNumber(name: string): number;
  syscallName(nr: number): string | null;
}
