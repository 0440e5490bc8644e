import { Metadata, status, type MethodDefinition, type ServiceError } from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import * as net from 'node:net';

/**
 * A lean gRPC client for unary calls over a unix socket: the gRPC wire protocol (HTTP/2, a
 * length-prefixed message, status in the trailers) straight on node:http2, without grpc-js's
 * channel machinery. It exists for start-up paths: grpc-js's first call costs about 20 ms
 * (resolver, load balancer, subchannel state machine, all cold), this one about 8 ms. Servers
 * stay grpc-js. Errors are ServiceError-shaped (code, details, metadata), like grpc-js's own.
 *
 * One HTTP/2 session is kept and shared by concurrent calls; when it breaks, the next call opens
 * a new one. With waitForReady a call retries the connection until its deadline (the server may
 * still be starting, its socket not there yet) instead of failing at once with UNAVAILABLE.
 */

export interface UnaryCallOptions {
  /** the call's deadline, sent as grpc-timeout too (default 30 s) */
  timeoutMs?: number;
  waitForReady?: boolean;
  /** called once the request is written to the socket: work of the caller's own can go on while the server works */
  onSent?: () => void;
}

const RETRY_FIRST_MS = 5;
const RETRY_MAX_MS = 200;
/** gRPC's frame prefix: a compressed flag byte and a big-endian 32-bit length */
const PREFIX = 5;

export class UnaryClient {
  private session: http2.ClientHttp2Session | undefined;
  /** One session at a time: concurrent callers share the connection in progress. */
  private connecting: Promise<http2.ClientHttp2Session> | undefined;
  private closed = false;

  constructor(readonly socketPath: string) {}

  async call<Req, Res>(method: MethodDefinition<Req, Res>, request: Req, opts: UnaryCallOptions = {}): Promise<Res> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    const session = await this.connected(deadline, opts.waitForReady ?? false, method.path);
    const body = method.requestSerialize(request);
    const reply = await exchange(session, method.path, body, deadline, opts.onSent);
    try {
      return method.responseDeserialize(reply);
    } catch (err) {
      throw callError(status.INTERNAL, `${method.path}: the response does not decode: ${(err as Error).message}`);
    }
  }

  /** Closes the session; calls in flight finish, later ones fail with UNAVAILABLE. */
  close(): void {
    this.closed = true;
    this.session?.close();
    this.session = undefined;
  }

  private async connected(deadline: number, waitForReady: boolean, path: string): Promise<http2.ClientHttp2Session> {
    for (let delay = RETRY_FIRST_MS; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      if (this.closed) throw callError(status.UNAVAILABLE, `${path}: the client is closed`);
      if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
      try {
        return await this.connect();
      } catch (err) {
        const why = `${path}: cannot connect to ${this.socketPath}: ${(err as Error).message}`;
        if (!waitForReady) throw callError(status.UNAVAILABLE, why);
        if (Date.now() + delay >= deadline) throw callError(status.DEADLINE_EXCEEDED, `${why} (deadline exceeded while waiting for the server)`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private connect(): Promise<http2.ClientHttp2Session> {
    this.connecting ??= new Promise<http2.ClientHttp2Session>((resolve, reject) => {
      const socket = net.connect(this.socketPath);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        const session = http2.connect('http://localhost', { createConnection: () => socket });
        // a broken session is dropped; its calls fail through their own streams
        session.on('error', () => undefined);
        session.once('close', () => {
          if (this.session === session) this.session = undefined;
        });
        this.session = session;
        resolve(session);
      });
    }).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }
}

/** One request stream: sends the framed message, gathers the reply, reads the status. */
function exchange(session: http2.ClientHttp2Session, path: string, body: Buffer, deadline: number, onSent?: () => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const left = Math.max(1, deadline - Date.now());
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${Math.min(left, 99_999_999)}m`,
    });
    const chunks: Buffer[] = [];
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    let settled = false;
    const finish = (err: ServiceError | undefined, value?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(err);
      } else resolve(value as Buffer);
    };
    const timer = setTimeout(() => finish(callError(status.DEADLINE_EXCEEDED, `${path}: deadline exceeded`)), left);
    stream.on('response', (h) => (headers = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', (err) => finish(callError(status.UNAVAILABLE, `${path}: ${err.message}`)));
    // settled at the end of the response, not at 'close' (which comes a turn or two later); a
    // stream that ends without a status is judged at 'close' (an error may still arrive)
    const settle = (atClose: boolean): void => {
      // a trailers-only response (every error) carries its status in the headers
      const final = trailers ?? headers;
      const code = final['grpc-status'];
      if (code === undefined) {
        if (!atClose) return;
        const httpStatus = headers[':status'];
        finish(callError(status.UNAVAILABLE, `${path}: the stream ended without a gRPC status${httpStatus ? ` (HTTP ${httpStatus})` : ''}`));
        return;
      }
      if (Number(code) !== status.OK) {
        finish(callError(Number(code), decodeMessage(final['grpc-message']), metadataOf(final)));
        return;
      }
      try {
        finish(undefined, unframe(Buffer.concat(chunks), path));
      } catch (err) {
        finish(err as ServiceError);
      }
    };
    stream.on('end', () => settle(false));
    stream.on('close', () => settle(true));
    const frame = Buffer.allocUnsafe(PREFIX + body.length);
    frame[0] = 0;
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, PREFIX);
    stream.end(frame);
    // node:http2 writes the frames to the socket from an immediate: one of ours queued now runs
    // after it, when the request really is on its way
    if (onSent) setImmediate(onSent);
  });
}

/** The one message of a unary reply (uncompressed: this client asks for no compression). */
function unframe(data: Buffer, path: string): Buffer {
  if (data.length < PREFIX) throw callError(status.INTERNAL, `${path}: the response has no message`);
  if (data[0] !== 0) throw callError(status.INTERNAL, `${path}: the response is compressed, which was not asked for`);
  const length = data.readUInt32BE(1);
  if (data.length !== PREFIX + length) throw callError(status.INTERNAL, `${path}: the response is not exactly one message`);
  return data.subarray(PREFIX);
}

/** grpc-message is percent-encoded (gRPC over HTTP/2, "Responses"). */
function decodeMessage(value: string | string[] | undefined): string {
  const raw = Array.isArray(value) ? value.join(',') : (value ?? '');
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The reply's custom metadata: every header that is neither a pseudo-header nor gRPC's own. */
function metadataOf(headers: http2.IncomingHttpHeaders): Metadata {
  const metadata = new Metadata();
  for (const [key, value] of Object.entries(headers)) {
    if (key.startsWith(':') || key.startsWith('grpc-') || key === 'content-type' || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      if (key.endsWith('-bin')) metadata.add(key, Buffer.from(v, 'base64'));
      else metadata.add(key, v);
    }
  }
  return metadata;
}

function callError(code: number, details: string, metadata = new Metadata()): ServiceError {
  return Object.assign(new Error(`${code} ${status[code] ?? 'UNKNOWN'}: ${details}`), { code, details, metadata });
}
