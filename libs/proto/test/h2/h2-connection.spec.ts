import * as http2 from 'node:http2';
import * as net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { frame, FrameType, settingsFrame } from '../../src/lib/h2/frames';
import { H2Connection, H2StreamError } from '../../src/lib/h2/h2-connection';
import type { HeaderList } from '../../src/lib/h2/hpack';

// The HTTP/2 client against a real server (node:http2, i.e. nghttp2) on a unix socket: flow
// control both ways, header blocks split over CONTINUATION frames, PING, GOAWAY, RST_STREAM and
// the server's stream limit; and against a raw socket for a server that breaks the protocol.
describe('H2Connection', () => {
  let dir: string;
  let socket: string;
  let server: http2.Http2Server | net.Server | undefined;
  const connections: H2Connection[] = [];
  const sessions: http2.ServerHttp2Session[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'wsrun-h2-'));
    socket = join(dir, 'h2.sock');
  });
  afterEach(async () => {
    for (const c of connections.splice(0)) c.destroy();
    for (const session of sessions.splice(0)) session.destroy();
    const s = server;
    server = undefined;
    if (s) await new Promise((r) => s.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  async function serve(onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void, settings?: http2.Settings): Promise<http2.Http2Server> {
    const s = http2.createServer(settings ? { settings } : {});
    s.on('session', (session) => sessions.push(session));
    s.on('stream', (stream, headers) => {
      stream.on('error', () => undefined); // a reset the test causes itself
      onStream(stream, headers);
    });
    await new Promise<void>((r) => s.listen(socket, r));
    server = s;
    return s;
  }
  async function connect(): Promise<H2Connection> {
    const c = await H2Connection.connect(socket);
    connections.push(c);
    return c;
  }
  const get = (path: string): HeaderList => [[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', 'localhost']];
  /** Reads a request body whole. */
  const bodyOf = (stream: http2.ServerHttp2Stream) =>
    new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => resolve(Buffer.concat(chunks)));
    });

  it('moves bodies far larger than the initial windows both ways (WINDOW_UPDATE)', async () => {
    await serve(async (stream) => {
      const body = await bodyOf(stream);
      stream.respond({ ':status': 200 });
      // the answer: the request reversed, three times over (~600 KB against a 64 KB window)
      const reversed = Buffer.from(body).reverse();
      stream.end(Buffer.concat([reversed, reversed, reversed]));
    });
    const c = await connect();
    const request = Buffer.alloc(200_000);
    for (let i = 0; i < request.length; i++) request[i] = (i * 7) % 251;
    // twice on one connection: the connection's window must be topped up too, not only the stream's
    for (let round = 0; round < 2; round++) {
      const r = await c.request(get('/echo'), request).response;
      const reversed = Buffer.from(request).reverse();
      expect(r.data.equals(Buffer.concat([reversed, reversed, reversed]))).toBe(true);
    }
  });

  it('reads trailers spread over HEADERS and CONTINUATION frames', async () => {
    const big = 'm'.repeat(7000);
    await serve((stream) => {
      stream.respond({ ':status': 200 }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'x-a': big, 'x-b': big, 'x-c': big, 'grpc-status': '0' }));
      stream.end('payload');
    });
    const c = await connect();
    const r = await c.request(get('/'), Buffer.alloc(0)).response;
    expect(r.data.toString()).toBe('payload');
    expect(Object.fromEntries(r.trailers ?? [])).toEqual({ 'x-a': big, 'x-b': big, 'x-c': big, 'grpc-status': '0' });
  });

  it("answers the server's PING", async () => {
    let pinged!: Promise<boolean>;
    await serve((stream) => {
      pinged = new Promise((resolve) => stream.session!.ping((err) => resolve(!err)));
      stream.respond({ ':status': 200 }, { endStream: true });
    });
    const c = await connect();
    await c.request(get('/'), Buffer.alloc(0)).response;
    await expect(pinged).resolves.toBe(true);
  });

  it('fails a stream the server resets, with its error code, and keeps the connection for others', async () => {
    await serve((stream, headers) => {
      if (headers[':path'] === '/reset') stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      else stream.respond({ ':status': 200 }, { endStream: true });
    });
    const c = await connect();
    const err = await c.request(get('/reset'), Buffer.alloc(0)).response.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(H2StreamError);
    expect(err).toMatchObject({ kind: 'reset', http2Code: http2.constants.NGHTTP2_REFUSED_STREAM });
    expect(c.usable).toBe(true);
    await expect(c.request(get('/ok'), Buffer.alloc(0)).response).resolves.toMatchObject({ headers: expect.arrayContaining([[':status', '200']]) });
  });

  it('on GOAWAY refuses the streams the server will not process and finishes the others', async () => {
    const held: http2.ServerHttp2Stream[] = [];
    await serve((stream) => {
      held.push(stream);
      if (held.length === 2) {
        // the first stream will still be answered; the second is refused
        stream.session!.goaway(http2.constants.NGHTTP2_NO_ERROR, held[0]!.id!);
        held[0]!.respond({ ':status': 200 }, { endStream: true });
      }
    });
    const c = await connect();
    // both written at once, in order: the server takes stream 1 first
    const first = c.request(get('/1'), Buffer.alloc(0));
    const second = c.request(get('/2'), Buffer.alloc(0));
    await expect(first.response).resolves.toMatchObject({ headers: expect.arrayContaining([[':status', '200']]) });
    await expect(second.response).rejects.toMatchObject({ kind: 'refused', message: expect.stringContaining('GOAWAY') });
    expect(c.usable).toBe(false);
    await expect(c.request(get('/3'), Buffer.alloc(0)).response).rejects.toBeInstanceOf(H2StreamError);
  });

  it("keeps to the server's limit of concurrent streams, queueing the rest", async () => {
    let open = 0;
    let most = 0;
    await serve(
      (stream) => {
        open++;
        most = Math.max(most, open);
        setTimeout(() => {
          open--;
          stream.respond({ ':status': 200 }, { endStream: true });
        }, 10);
      },
      { maxConcurrentStreams: 1 },
    );
    const c = await connect();
    // one exchange first: the server's SETTINGS (its limit) come before its first answer
    await c.request(get('/0'), Buffer.alloc(0)).response;
    most = 0;
    const all = await Promise.all([1, 2, 3, 4].map((i) => c.request(get(`/${i}`), Buffer.alloc(0)).response));
    expect(all).toHaveLength(4);
    expect(most).toBe(1);
  });

  it('a cancelled stream rejects with the reason; the server sees it cancelled', async () => {
    let closedWith: number | undefined;
    let closedNow!: () => void;
    const closed = new Promise<void>((resolve) => (closedNow = resolve));
    await serve((stream) => {
      stream.on('close', () => {
        closedWith = stream.rstCode;
        closedNow();
      });
    });
    const c = await connect();
    const s = c.request(get('/slow'), Buffer.alloc(0));
    s.cancel(new Error('deadline'));
    await expect(s.response).rejects.toThrow('deadline');
    await closed;
    expect(closedWith).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it('ends every stream with a clear error when the server breaks the protocol or goes away', async () => {
    // a "server" that answers the preface with a PUSH_PROMISE, which the client disabled
    const raw = net.createServer((conn) => {
      conn.once('data', () => conn.write(Buffer.concat([settingsFrame([]), frame(FrameType.PushPromise, 0x4, 1, Buffer.alloc(4))])));
    });
    await new Promise<void>((r) => raw.listen(socket, r));
    server = raw;
    const c = await connect();
    await expect(c.request(get('/'), Buffer.alloc(0)).response).rejects.toMatchObject({ kind: 'connection', message: expect.stringContaining('PUSH_PROMISE') });
    expect(c.usable).toBe(false);

    // a server that just closes the connection
    await new Promise((r) => raw.close(r));
    const closing = net.createServer((conn) => conn.once('data', () => conn.destroy()));
    await new Promise<void>((r) => closing.listen(socket, r));
    server = closing;
    const d = await connect();
    await expect(d.request(get('/'), Buffer.alloc(0)).response).rejects.toMatchObject({ kind: 'connection', message: expect.stringContaining('closed') });
  });

  it('refuses frames a server must not send: DATA on stream 0, an endless header block, a SETTINGS ACK with a payload', async () => {
    const cases: [Buffer, RegExp][] = [
      [frame(FrameType.Data, 0, 0, Buffer.from('x')), /DATA on stream 0/],
      // HEADERS for stream 1 without END_HEADERS, then CONTINUATIONs past the limit
      [Buffer.concat([frame(FrameType.Headers, 0, 1, Buffer.alloc(16_000)), ...Array.from({ length: 20 }, () => frame(FrameType.Continuation, 0, 1, Buffer.alloc(16_000)))]), /header block of more than/],
      [frame(FrameType.Settings, 0x1, 0, Buffer.alloc(6)), /SETTINGS ACK with a payload/],
    ];
    for (const [reply, why] of cases) {
      const raw = net.createServer((conn) => conn.once('data', () => conn.write(Buffer.concat([settingsFrame([]), reply]))));
      await new Promise<void>((r) => raw.listen(socket, r));
      server = raw;
      const c = await connect();
      await expect(c.request(get('/'), Buffer.alloc(0)).response).rejects.toMatchObject({ kind: 'connection', message: expect.stringMatching(why) });
      expect(c.usable).toBe(false);
      await new Promise((r) => raw.close(r));
      server = undefined;
    }
  });
});
