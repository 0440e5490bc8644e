import type { MethodDefinition } from '@grpc/grpc-js';
import { CallMetadata, callError, GrpcStatus as status, type UnaryCallError } from './call-error';
import { concat, put32, u32 } from './h2/bytes';
import { useNodeTextEncoding } from './text-encoding';
import { ErrorCode } from './h2/frames';
import { H2Connection, H2StreamError, type H2Response } from './h2/h2-connection';
import type { HeaderList } from './h2/hpack';
import type { H2Connector } from './h2/transport';

/**
 * A lean gRPC client for unary calls over a unix socket: the gRPC wire protocol (HTTP/2, a
 * length-prefixed message, status in the trailers) on a small HTTP/2 client of our own
 * (h2/h2-connection.ts), without grpc-js's channel machinery or node:http2. It exists for
 * start-up paths: grpc-js's first call costs about 20 ms (resolver, load balancer, subchannel
 * state machine, all cold), node:http2's about 5 ms, this one well under 1 ms, and its request
 * is in the kernel when the call has returned. Servers stay grpc-js. Errors are ServiceError-
 * shaped (code, details, metadata), like grpc-js's own.
 *
 * One connection is kept and shared by concurrent calls; when it breaks, the next call opens
 * a new one. With waitForReady a call retries the connection until its deadline (the server may
 * still be starting, its socket not there yet) instead of failing at once with UNAVAILABLE.
 */

export interface UnaryCallOptions<Res = unknown> {
  /** the call's deadline, sent as grpc-timeout too (default 30 s) */
  timeoutMs?: number;
  waitForReady?: boolean;
  /**
   * Called with the reply as soon as its message is in, before the call's status (the trailers,
   * which a grpc-js server sends some loop turns later): for work that only prepares. The call
   * still ends by its status and may yet fail. If it throws, the call is cancelled with that error.
   */
  onEarlyReply?: (reply: Res) => void;
}

const RETRY_FIRST_MS = 5;
const RETRY_MAX_MS = 200;
/** gRPC's frame prefix: a compressed flag byte and a big-endian 32-bit length */
const PREFIX = 5;
/** like grpc-js's default receive limit */
const MAX_RESPONSE_MESSAGE = 4 * 1024 * 1024;

export class UnaryClient {
  private connection: H2Connection | undefined;
  /** One connection at a time: concurrent callers share the connection in progress. */
  private connecting: Promise<H2Connection> | undefined;
  private closed = false;

  /** `connector`: how the byte stream to the socket is made (node:net unless given) */
  constructor(
    readonly socketPath: string,
    private readonly opts: { connector?: H2Connector } = {},
  ) {
    useNodeTextEncoding();
  }

  async call<Req, Res>(method: MethodDefinition<Req, Res>, request: Req, opts: UnaryCallOptions<Res> = {}): Promise<Res> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    const connection = await this.connected(deadline, opts.waitForReady ?? false, method.path);
    const early = opts.onEarlyReply;
    const onEarlyMessage =
      early &&
      ((message: Buffer) => {
        let reply: Res;
        try {
          reply = method.responseDeserialize(message);
        } catch {
          return; // reported with the status, below
        }
        early(reply);
      });
    const reply = await exchange(connection, method.path, method.requestSerialize(request), deadline, onEarlyMessage);
    try {
      return method.responseDeserialize(reply);
    } catch (err) {
      throw callError(status.INTERNAL, `${method.path}: the response does not decode: ${(err as Error).message}`);
    }
  }

  /** Closes the connection; calls in flight finish, later ones fail with UNAVAILABLE. */
  close(): void {
    this.closed = true;
    this.connection?.close();
    this.connection = undefined;
  }

  private async connected(deadline: number, waitForReady: boolean, path: string): Promise<H2Connection> {
    for (let delay = RETRY_FIRST_MS; ; delay = Math.min(delay * 2, RETRY_MAX_MS)) {
      if (this.closed) throw callError(status.UNAVAILABLE, `${path}: the client is closed`);
      if (this.connection?.usable) return this.connection;
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

  private connect(): Promise<H2Connection> {
    this.connecting ??= H2Connection.connect(this.socketPath, { maxResponseBytes: PREFIX + MAX_RESPONSE_MESSAGE, ...(this.opts.connector ? { connector: this.opts.connector } : {}) })
      .then((connection) => {
        // closed while it connected: this connection is nobody's
        if (this.closed) {
          connection.destroy();
          throw callError(status.UNAVAILABLE, `${this.socketPath}: the client is closed`);
        }
        connection.onClose(() => {
          if (this.connection === connection) this.connection = undefined;
        });
        this.connection = connection;
        return connection;
      })
      .finally(() => {
        this.connecting = undefined;
      });
    return this.connecting;
  }
}

/** One request stream: sends the framed message, waits for the reply, reads the status. */
async function exchange(connection: H2Connection, path: string, body: Buffer, deadline: number, onEarlyMessage?: (message: Buffer) => void): Promise<Buffer> {
  const left = Math.max(1, deadline - Date.now());
  const frame = Buffer.allocUnsafe(PREFIX + body.length);
  frame[0] = 0;
  put32(frame, 1, body.length);
  frame.set(body, PREFIX);
  const stream = connection.request(
    [
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', path],
      [':authority', 'localhost'],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
      ['grpc-timeout', `${Math.min(left, 99_999_999)}m`],
    ],
    frame,
    onEarlyMessage && earlyMessageWatch(onEarlyMessage, (err) => stream.cancel(err)),
  );
  const timer = setTimeout(() => stream.cancel(callError(status.DEADLINE_EXCEEDED, `${path}: deadline exceeded`)), left);
  let response: H2Response;
  try {
    response = await stream.response;
  } catch (err) {
    throw err instanceof H2StreamError ? streamFailure(path, err) : err;
  } finally {
    clearTimeout(timer);
  }
  return unaryReply(response, path);
}

/**
 * Watches a response's data for its one length-prefixed message and hands it over once, whole,
 * before the stream ends. A compressed or oversized reply is left to unaryReply, which reports
 * it when the status is in.
 */
function earlyMessageWatch(onMessage: (message: Buffer) => void, cancel: (err: Error) => void): (received: readonly Buffer[]) => void {
  let done = false;
  return (received) => {
    if (done) return;
    // joined only once the message can be whole: a large reply comes in many frames
    let size = 0;
    for (let i = 0; i < received.length; i++) size += received[i]!.length;
    if (size < PREFIX) return;
    // the prefix: from the first chunk, or its first octets gathered over the chunks
    const head = received[0]!.length >= PREFIX ? received[0]! : prefixOf(received);
    const length = u32(head, 1);
    if (head[0] !== 0 || length > MAX_RESPONSE_MESSAGE) {
      done = true;
      return;
    }
    if (size < PREFIX + length) return;
    const data = received.length === 1 ? received[0]! : concat(received);
    done = true;
    try {
      onMessage(data.subarray(PREFIX, PREFIX + length));
    } catch (err) {
      cancel(err instanceof Error ? err : new Error(String(err)));
    }
  };
}

function prefixOf(received: readonly Buffer[]): Uint8Array {
  const head = new Uint8Array(PREFIX);
  for (let i = 0, n = 0; i < received.length && n < PREFIX; i++) {
    const part = received[i]!.subarray(0, PREFIX - n);
    head.set(part, n);
    n += part.length;
  }
  return head;
}

/** The reply's message, or the ServiceError its status says. */
function unaryReply(response: H2Response, path: string): Buffer {
  const headers = toRecord(response.headers);
  // a trailers-only response (every error) carries its status in the headers
  const final = response.trailers ? toRecord(response.trailers) : headers;
  const code = final['grpc-status']?.[0];
  if (code === undefined) {
    const httpStatus = headers[':status']?.[0];
    if (httpStatus && httpStatus !== '200') throw callError(httpToGrpc(Number(httpStatus)), `${path}: HTTP status ${httpStatus} without a gRPC status`);
    throw callError(status.UNAVAILABLE, `${path}: the stream ended without a gRPC status${httpStatus ? ` (HTTP ${httpStatus})` : ''}`);
  }
  if (Number(code) !== status.OK) throw callError(Number(code), decodeMessage(final['grpc-message']), metadataOf(final));
  return unframe(response.data, path);
}

function toRecord(list: HeaderList): Record<string, string[]> {
  const record: Record<string, string[]> = {};
  for (let i = 0; i < list.length; i++) (record[list[i]![0]] ??= []).push(list[i]![1]);
  return record;
}

/** gRPC's mapping of HTTP statuses for responses that carry no grpc-status. */
function httpToGrpc(httpStatus: number): number {
  if (httpStatus === 400) return status.INTERNAL;
  if (httpStatus === 401) return status.UNAUTHENTICATED;
  if (httpStatus === 403) return status.PERMISSION_DENIED;
  if (httpStatus === 404) return status.UNIMPLEMENTED;
  if ([429, 502, 503, 504].includes(httpStatus)) return status.UNAVAILABLE;
  return status.UNKNOWN;
}

/** A stream that failed below gRPC: what grpc-js reports for the same HTTP/2 event. */
function streamFailure(path: string, err: H2StreamError): UnaryCallError {
  if (err.kind === 'too-large') return callError(status.RESOURCE_EXHAUSTED, `${path}: ${err.message}`);
  if (err.kind === 'reset') {
    const code =
      err.http2Code === ErrorCode.RefusedStream
        ? status.UNAVAILABLE
        : err.http2Code === ErrorCode.Cancel
          ? status.CANCELLED
          : err.http2Code === ErrorCode.EnhanceYourCalm
            ? status.RESOURCE_EXHAUSTED
            : err.http2Code === ErrorCode.InadequateSecurity
              ? status.PERMISSION_DENIED
              : status.INTERNAL;
    return callError(code, `${path}: ${err.message}`);
  }
  return callError(status.UNAVAILABLE, `${path}: ${err.message}`);
}

/** The one message of a unary reply (uncompressed: this client asks for no compression). */
function unframe(data: Buffer, path: string): Buffer {
  if (data.length < PREFIX) throw callError(status.INTERNAL, `${path}: the response has no message`);
  if (data[0] !== 0) throw callError(status.INTERNAL, `${path}: the response is compressed, which was not asked for`);
  const length = u32(data, 1);
  if (data.length !== PREFIX + length) throw callError(status.INTERNAL, `${path}: the response is not exactly one message`);
  return data.subarray(PREFIX);
}

/** grpc-message is percent-encoded (gRPC over HTTP/2, "Responses"). */
function decodeMessage(value: string[] | undefined): string {
  const raw = (value ?? []).join(',');
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** The reply's custom metadata: every header that is neither a pseudo-header nor gRPC's own. */
function metadataOf(headers: Record<string, string[]>): CallMetadata {
  const metadata = new CallMetadata();
  for (const [key, values] of Object.entries(headers)) {
    if (key.startsWith(':') || key.startsWith('grpc-') || key === 'content-type') continue;
    for (const v of values) {
      if (key.endsWith('-bin')) metadata.add(key, Buffer.from(v, 'base64'));
      else metadata.add(key, v);
    }
  }
  return metadata;
}
