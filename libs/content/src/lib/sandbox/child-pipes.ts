import { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { closeFd, socketPair } from '@wsrun/native-ns';

/**
 * The fds a sandboxed child gets from its parent, as connected stream socket pairs (Node has no
 * pipe(2)): one end goes to the child at a fixed fd number, the parent keeps the other. The
 * parent's copies of the child ends must be closed once the stage has its program, or the
 * parent never sees EOF.
 */
const BULK_BUFFER_BYTES = 4 * 1024 * 1024;
const BULK_READ_BYTES = 1024 * 1024;

export class ChildPipes {
  /** fd numbers in the child → the parent's copies of the child ends */
  readonly childFds: Record<number, number> = {};
  private readonly parentEnds: number[] = [];
  private readonly childEnds: number[] = [];
  private readonly sockets: Socket[] = [];

  /** A pipe the child writes to at fd `target`; the text arrives through onData / the promise. */
  output(target: number, onData?: (text: string) => void): Promise<string> {
    const [ours] = this.pair(target);
    const sock = new Socket({ fd: ours, readable: true, writable: false });
    this.sockets.push(sock);
    return new Promise((resolve) => {
      let all = '';
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => {
        all += d;
        onData?.(d);
      });
      // an error (the child died mid-write) ends the stream like EOF: the exit status tells the rest
      sock.on('error', () => resolve(all));
      sock.on('close', () => resolve(all));
    });
  }

  /**
   * A pipe the child writes bytes to at fd `target`, as a stream (backpressure reaches the child).
   * Read up to 1 MiB at a time (a plain socket reads 64 KiB: 16 times the chunks, each crossing
   * every stream stage and hash update behind it).
   */
  stream(target: number): Readable {
    // deep buffers: the child packs on while this side is busy storing what came before
    const [ours] = this.pair(target, BULK_BUFFER_BYTES);
    const bytes = new Readable({ highWaterMark: BULK_READ_BYTES, read: () => sock.resume() });
    let buffer = Buffer.allocUnsafe(BULK_READ_BYTES);
    const sock = new Socket({
      fd: ours,
      readable: true,
      writable: false,
      onread: {
        // a full-sized read keeps its buffer (no copy) and the next read gets a fresh one; a
        // small one is copied out, so that it never pins a whole megabyte
        buffer: () => buffer,
        callback: (n: number, buf: Uint8Array) => {
          let chunk: Buffer;
          if (n >= BULK_READ_BYTES / 4) {
            chunk = Buffer.from(buf.buffer, buf.byteOffset, n);
            buffer = Buffer.allocUnsafe(BULK_READ_BYTES);
          } else {
            chunk = Buffer.from(buf.subarray(0, n));
          }
          // false pauses the socket until the reader asks for more (read() resumes it)
          return bytes.push(chunk);
        },
      },
    } as ConstructorParameters<typeof Socket>[0]);
    sock.on('end', () => bytes.push(null));
    sock.on('error', (err) => bytes.destroy(err));
    bytes.on('close', () => sock.destroy());
    this.sockets.push(sock);
    return bytes;
  }

  /** A pipe the child reads at fd `target`; `bytes` are written once the child runs, then EOF. */
  input(target: number): { send(bytes: Buffer): void } {
    const [ours] = this.pair(target);
    const sock = new Socket({ fd: ours, readable: false, writable: true });
    this.sockets.push(sock);
    sock.on('error', () => undefined); // a child that died before reading: its exit status tells
    return { send: (bytes) => sock.end(bytes) };
  }

  /** Passes an fd of this process as is (e.g. /dev/null as stdin). */
  pass(target: number, fd: number): void {
    this.childFds[target] = fd;
    this.childEnds.push(fd);
  }

  /** Closes the parent's copies of the child ends (after the stage received them). */
  closeChildEnds(): void {
    for (const fd of this.childEnds.splice(0)) closeFd(fd);
  }

  /** Closes everything (the child is gone). */
  destroy(): void {
    this.closeChildEnds();
    for (const s of this.sockets) s.destroy();
  }

  private pair(target: number, bufferBytes?: number): [number, number] {
    const [ours, theirs] = socketPair('stream', bufferBytes);
    this.parentEnds.push(ours);
    this.childEnds.push(theirs);
    this.childFds[target] = theirs;
    return [ours, theirs];
  }
}
