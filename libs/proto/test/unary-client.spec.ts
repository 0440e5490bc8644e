import { Metadata, Server, status, type sendUnaryData, type ServerUnaryCall, type UntypedHandleCall } from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getTextEncoding } from '@bufbuild/protobuf/wire';
import { bindUnix, inWorkspace, shutdownServer, UnaryClient } from '../src';

// The lean client against a real grpc-js server on a unix socket: what ring0 meets at start-up.
const methods = inWorkspace.InWorkspaceServiceService;
type Handlers = Partial<Record<keyof typeof methods, UntypedHandleCall>>;

describe('UnaryClient (gRPC on its own HTTP/2 client)', () => {
  let dir: string;
  let socket: string;
  const servers: Server[] = [];
  const clients: UnaryClient[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'wsrun-unary-'));
    socket = join(dir, 'daemon.sock');
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    for (const s of servers.splice(0)) await shutdownServer(s, 100);
    rmSync(dir, { recursive: true, force: true });
  });

  async function serve(handlers: Handlers): Promise<Server> {
    const server = new Server();
    const unimplemented = (_call: unknown, cb: sendUnaryData<unknown>) => cb({ code: status.UNIMPLEMENTED, details: 'not here' });
    server.addService(methods, Object.fromEntries(Object.keys(methods).map((k) => [k, handlers[k as keyof Handlers] ?? unimplemented])));
    await bindUnix(server, socket);
    servers.push(server);
    return server;
  }
  const client = (): UnaryClient => {
    const c = new UnaryClient(socket);
    clients.push(c);
    return c;
  };

  it('sends each request and decodes its response, also for concurrent calls', async () => {
    await serve({
      prepareForUserNs: (_call: unknown, cb: sendUnaryData<inWorkspace.PrepareForUserNSResponse>) => {
        cb(null, { rootShift: inWorkspace.RootShift.ROOT_SHIFT_IDMAPPED, markPath: '/run/mark', workspacePath: '/workspace' });
      },
      writeIdMapping: (call: ServerUnaryCall<inWorkspace.WriteIDMappingRequest, unknown>, cb: sendUnaryData<inWorkspace.WriteIDMappingResponse>) => {
        const r = call.request;
        cb(r.pid === 42 && r.gid && r.mapping[1]?.hostId === 100000 ? null : { code: status.INVALID_ARGUMENT, details: JSON.stringify(r) }, {});
      },
    });
    const c = client();
    const mapping = [
      { containerId: 0, hostId: 33333, size: 1 },
      { containerId: 1, hostId: 100000, size: 65536 },
    ];
    const [prepared] = await Promise.all([
      c.call(methods.prepareForUserNs, {}),
      c.call(methods.writeIdMapping, { pid: 42, gid: true, mapping }),
      c.call(methods.writeIdMapping, { pid: 42, gid: true, mapping }),
    ]);
    expect(prepared).toEqual({ rootShift: inWorkspace.RootShift.ROOT_SHIFT_IDMAPPED, markPath: '/run/mark', workspacePath: '/workspace' });
  });

  it('turns a status into a ServiceError with code, details and custom metadata (the errno ring0 answers with)', async () => {
    await serve({
      mountProc: (_call: unknown, cb: sendUnaryData<unknown>) => {
        const metadata = new Metadata();
        metadata.set('wsrun-errno', 'EPERM');
        cb({ code: status.PERMISSION_DENIED, details: 'target /proc: 100% not yours, ünïcode', metadata });
      },
    });
    const err = await client()
      .call(methods.mountProc, { target: '/proc', pid: 1 })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: status.PERMISSION_DENIED, details: 'target /proc: 100% not yours, ünïcode' });
    expect((err as { metadata: Metadata }).metadata.get('wsrun-errno')).toEqual(['EPERM']);
  });

  it('fails with DEADLINE_EXCEEDED when the server does not answer in time', async () => {
    await serve({ teardown: () => undefined });
    await expect(client().call(methods.teardown, {}, { timeoutMs: 150 })).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
  });

  it('without waitForReady fails at once with UNAVAILABLE when nothing listens', async () => {
    await expect(client().call(methods.teardown, {}, { timeoutMs: 5000 })).rejects.toMatchObject({
      code: status.UNAVAILABLE,
      details: expect.stringContaining(socket),
    });
  });

  it('with waitForReady waits for a server that starts later, and gives up at the deadline', async () => {
    const c = client();
    const call = c.call(methods.teardown, {}, { timeoutMs: 5000, waitForReady: true });
    await new Promise((resolve) => setTimeout(resolve, 150));
    await serve({ teardown: (_call: unknown, cb: sendUnaryData<unknown>) => cb(null, {}) });
    await expect(call).resolves.toEqual({ success: false });

    const lonely = new UnaryClient(join(dir, 'nobody.sock'));
    clients.push(lonely);
    await expect(lonely.call(methods.teardown, {}, { timeoutMs: 100, waitForReady: true })).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
  });

  it('reconnects after the server restarts', async () => {
    const ok = (_call: unknown, cb: sendUnaryData<unknown>) => cb(null, {});
    const first = await serve({ teardown: ok });
    const c = client();
    await c.call(methods.teardown, {});
    first.forceShutdown();
    servers.splice(servers.indexOf(first), 1);
    await serve({ teardown: ok });
    await expect(c.call(methods.teardown, {}, { waitForReady: true, timeoutMs: 5000 })).resolves.toEqual({ success: false });
  });
});

// The reply's message before its status: a gRPC server of node:http2 that sends the message and
// holds the trailers until the test lets them go (grpc-js sends them some loop turns later).
describe('UnaryClient early replies (onEarlyReply)', () => {
  let dir: string;
  let server: http2.Http2Server;
  let streams: http2.ServerHttp2Stream[];
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'wsrun-early-'));
    streams = [];
    server = http2.createServer();
    server.on('stream', (stream) => {
      stream.on('error', () => undefined); // a cancel the test causes itself
      streams.push(stream);
      stream.resume();
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      const message = Buffer.from(methods.prepareForUserNs.responseSerialize({ rootShift: inWorkspace.RootShift.ROOT_SHIFT_IDMAPPED, markPath: '/run/mark', workspacePath: '/workspace' }));
      const framed = Buffer.alloc(5 + message.length);
      framed.writeUInt32BE(message.length, 1);
      message.copy(framed, 5);
      // in three DATA frames, the first shorter than the length prefix: whole only with the last
      stream.write(framed.subarray(0, 2));
      setImmediate(() => {
        stream.write(framed.subarray(2, 7));
        setImmediate(() => stream.write(framed.subarray(7)));
      });
    });
    await new Promise<void>((r) => server.listen(join(dir, 'grpc.sock'), r));
  });
  afterEach(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });
  const endWith = (stream: http2.ServerHttp2Stream, trailers: http2.OutgoingHttpHeaders) => {
    stream.once('wantTrailers', () => stream.sendTrailers(trailers));
    stream.end();
  };

  it('hands the reply over before the status, and the call still ends by its status', async () => {
    const c = new UnaryClient(join(dir, 'grpc.sock'));
    try {
      const early: unknown[] = [];
      let settled = false;
      const call = c.call(methods.prepareForUserNs, {}, { onEarlyReply: (reply) => early.push(reply) });
      void call.then(() => (settled = true), () => (settled = true));
      while (early.length === 0) await new Promise((r) => setImmediate(r));
      expect(early).toEqual([{ rootShift: inWorkspace.RootShift.ROOT_SHIFT_IDMAPPED, markPath: '/run/mark', workspacePath: '/workspace' }]);
      expect(settled).toBe(false); // the server holds the status
      endWith(streams[0]!, { 'grpc-status': '0' });
      await expect(call).resolves.toEqual(early[0]);
      expect(early).toHaveLength(1);

      // a status that fails after the message: the call fails all the same
      const failing = c.call(methods.prepareForUserNs, {}, { onEarlyReply: (reply) => early.push(reply) });
      while (early.length === 1) await new Promise((r) => setImmediate(r));
      endWith(streams[1]!, { 'grpc-status': String(status.FAILED_PRECONDITION), 'grpc-message': 'already prepared' });
      await expect(failing).rejects.toMatchObject({ code: status.FAILED_PRECONDITION, details: 'already prepared' });
    } finally {
      c.close();
    }
  });

  it('cancels the call with the error its callback throws', async () => {
    const c = new UnaryClient(join(dir, 'grpc.sock'));
    try {
      const call = c.call(methods.prepareForUserNs, {}, {
        onEarlyReply: () => {
          throw new Error('cannot use that root');
        },
      });
      await expect(call).rejects.toThrow('cannot use that root');
      await new Promise<void>((r) => (streams[0]!.closed ? r() : streams[0]!.once('close', () => r())));
      expect(streams[0]!.rstCode).toBe(http2.constants.NGHTTP2_CANCEL);
    } finally {
      c.close();
    }
  });
});

describe('UTF-8 of the generated messages (node Buffer, useNodeTextEncoding)', () => {
  it('round-trips any text and refuses invalid UTF-8 where strict', () => {
    new UnaryClient('/nonexistent'); // installs it
    const text = 'ünïcode ✓ \u{1F600} \uFEFFbom';
    const te = getTextEncoding();
    expect(te.decodeUtf8(te.encodeUtf8(text), true)).toBe(text);
    const decoded = inWorkspace.PrepareForUserNSResponse.decode(inWorkspace.PrepareForUserNSResponse.encode({ rootShift: 1, markPath: text, workspacePath: '/w' }).finish());
    expect(decoded.markPath).toBe(text);
    const invalid = new Uint8Array([0x61, 0xc3]);
    expect(() => te.decodeUtf8(invalid, true)).toThrow(/UTF-8/);
    expect(te.decodeUtf8(invalid)).toBe('a\uFFFD');
    expect(te.checkUtf8('a\uD800')).toBe(false);
    expect(te.checkUtf8(text)).toBe(true);
  });
});
