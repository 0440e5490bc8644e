import { closeFd, connectUnix, FdChannel } from './fd-passing';

/**
 * A connected SOCK_STREAM unix socket watched by the event loop, without Node's `net`: the
 * connect is one non-blocking syscall (done at once, or ENOENT / ECONNREFUSED / EAGAIN for a
 * full backlog, thrown with the path), every write goes straight to sendmsg. It exists for
 * ring0's start-up path, where `net`'s cold first connect and write cost ~2 ms of the main
 * thread. A write the kernel cannot take whole (a full socket buffer: rare for small requests)
 * keeps its rest queued, in order, until the event loop says the socket takes data again.
 */
export class UnixStream {
  private readonly channel: FdChannel;
  private queued: Buffer[] = [];
  private waiting = false;
  private ending = false;
  private closed = false;
  private readonly dataListeners: ((chunk: Buffer) => void)[] = [];
  private readonly closeListeners: ((err?: Error) => void)[] = [];

  private constructor(fd: number) {
    try {
      this.channel = new FdChannel(fd, (message, error) => {
        if (!message) return this.finish(error);
        // a stream carries bytes only: fds a peer sent along are not ours to keep
        for (const passed of message.fds) closeFd(passed);
        for (const l of this.dataListeners) l(message.data);
      });
    } catch (err) {
      closeFd(fd);
      throw err;
    }
  }

  /** Connects to the unix socket at `path`; throws (code, syscall, path) when it cannot. */
  static connect(path: string): UnixStream {
    return new UnixStream(connectUnix(path, { seqpacket: false, nonblocking: true }));
  }

  onData(listener: (chunk: Buffer) => void): void {
    this.dataListeners.push(listener);
  }

  /** Once: when the peer closed, the stream failed (with the error) or was closed here. */
  onClose(listener: (err?: Error) => void): void {
    this.closeListeners.push(listener);
  }

  write(data: Buffer): void {
    if (this.closed || this.ending || data.length === 0) return;
    if (this.queued.length > 0) this.queued.push(data);
    else this.send(data);
  }

  /** Writes `data`, then closes once everything queued is out. */
  end(data?: Buffer): void {
    if (data) this.write(data);
    this.ending = true;
    if (this.queued.length === 0) this.finish();
  }

  destroy(): void {
    this.finish();
  }

  private send(data: Buffer): void {
    let sent: number;
    try {
      sent = this.channel.send(data);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return this.finish(err as Error);
      sent = 0;
    }
    if (sent < data.length) {
      this.queued.unshift(data.subarray(sent));
      if (!this.waiting) {
        this.waiting = true;
        this.channel.onWritable(() => this.flush());
      }
    }
  }

  private flush(): void {
    this.waiting = false;
    const pending = this.queued;
    this.queued = [];
    for (let i = 0; i < pending.length && !this.closed; i++) {
      if (this.queued.length > 0) this.queued.push(pending[i]!);
      else this.send(pending[i]!);
    }
    if (this.ending && this.queued.length === 0) this.finish();
  }

  private finish(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.queued = [];
    this.channel.close();
    for (const l of this.closeListeners.splice(0)) l(err);
  }
}
