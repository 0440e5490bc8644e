import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnixStream } from '../src';

// UnixStream against a real node:net server on a unix socket: bytes both ways, in order, also
// when the server reads slowly and the kernel takes a write only in part.
describe('UnixStream', () => {
  let dir: string;
  let path: string;
  let server: net.Server | undefined;
  const streams: UnixStream[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'wsrun-ustream-'));
    path = join(dir, 's.sock');
  });
  afterEach(async () => {
    for (const s of streams.splice(0)) s.destroy();
    const s = server;
    server = undefined;
    if (s) await new Promise((r) => s.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  async function serve(onConnection: (conn: net.Socket) => void): Promise<void> {
    server = net.createServer(onConnection);
    await new Promise<void>((r) => server!.listen(path, r));
  }
  function connect(): UnixStream {
    const s = UnixStream.connect(path);
    streams.push(s);
    return s;
  }
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  it('carries data both ways, whole and in order, past a full socket buffer', async () => {
    // the server does not read for a while: 8 MB cannot fit the socket buffers, so writes are
    // taken in part and the rest waits in the queue
    const received = new Promise<Buffer>((resolve) =>
      serve((conn) => {
        const chunks: Buffer[] = [];
        conn.pause();
        setTimeout(() => conn.resume(), 100);
        conn.on('data', (c: Buffer) => chunks.push(c));
        conn.on('end', () => resolve(Buffer.concat(chunks)));
      }),
    );
    await new Promise((r) => setTimeout(r, 20));
    const s = connect();
    const closed = new Promise<Error | undefined>((resolve) => s.onClose(resolve));
    const blocks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(128 * 1024, i));
    for (const b of blocks) s.write(b);
    // half-close is not offered: the server learns of the end when the stream closes, after the queue drained
    s.end();
    const all = Buffer.concat(blocks);
    expect(sha(await received)).toBe(sha(all));
    await closed;
  });

  it('reads what the server sends, and says when the server closed', async () => {
    await serve((conn) => conn.end('hello from the server'));
    const s = connect();
    const chunks: Buffer[] = [];
    s.onData((c) => chunks.push(c));
    const err = await new Promise<Error | undefined>((resolve) => s.onClose(resolve));
    expect(err).toBeUndefined();
    expect(Buffer.concat(chunks).toString()).toBe('hello from the server');
  });

  it('fails to connect with the errno, the syscall and the path', () => {
    expect(() => UnixStream.connect(join(dir, 'nobody.sock'))).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'connect', path: join(dir, 'nobody.sock') }));
  });
});
