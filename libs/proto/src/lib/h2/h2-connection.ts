import { encodeHeaders, HpackDecoder, HpackError, type HeaderList } from './hpack';
import {
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  frame,
  FRAME_HEADER,
  FrameType,
  goAwayFrame,
  MAX_WINDOW,
  PREFACE,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from './frames';
import { concat, u16, u24, u32 } from './bytes';
import { netConnector, type H2Connector, type H2Transport } from './transport';

/**
 * The client side of one HTTP/2 connection (RFC 9113) over a connected stream (transport.ts),
 * for request / response exchanges whose bodies are small: what a gRPC unary call needs and
 * nothing more. No server push, no priorities, no upgrade. Frames are written at once, which on
 * a unix socket reaches the kernel before write() returns: a request is on its way when
 * request() returns. (node:http2 queues frames and writes them from an immediate, and its first
 * request costs several ms of cold code; this costs a few Buffer operations.)
 */

export interface H2Response {
  headers: HeaderList;
  /** absent when the response ended with its headers (gRPC's "trailers-only") or after DATA */
  trailers?: HeaderList;
  data: Buffer;
}

/** Why a stream failed: reset by the server, refused by GOAWAY, or the connection ended. */
export class H2StreamError extends Error {
  constructor(
    message: string,
    readonly kind: 'reset' | 'refused' | 'connection' | 'too-large',
    readonly http2Code?: number,
  ) {
    super(message);
  }
}

export interface H2Stream {
  readonly id: number;
  readonly response: Promise<H2Response>;
  /** Stops waiting: RST_STREAM(CANCEL) goes out, the response rejects with `reason`. */
  cancel(reason: Error): void;
}

/** The largest header block read (a HEADERS frame and its CONTINUATIONs): a server sending more is broken. */
const MAX_HEADER_BLOCK = 256 * 1024;
/** Receive windows are topped up once this much was consumed (fewer WINDOW_UPDATE frames). */
const WINDOW_UPDATE_THRESHOLD = 16_384;
const MAX_STREAM_ID = 2 ** 31 - 1;

interface StreamState {
  id: number;
  headers?: HeaderList;
  trailers?: HeaderList;
  chunks: Buffer[];
  received: number;
  unacked: number;
  /** what the peer lets us send on this stream */
  sendWindow: number;
  pending: Buffer;
  endAfterPending: boolean;
  /** after each DATA frame that does not end the stream: everything received so far */
  onData?: (received: readonly Buffer[]) => void;
  resolve: (r: H2Response) => void;
  reject: (e: Error) => void;
}

export class H2Connection {
  private readonly decoder = new HpackDecoder();
  private readonly streams = new Map<number, StreamState>();
  private nextStreamId = 1;
  private inbox: Buffer = Buffer.alloc(0);
  /** a header block spread over HEADERS + CONTINUATION frames */
  private partial: { streamId: number; endStream: boolean; fragments: Buffer[]; size: number } | undefined;
  private connSendWindow = DEFAULT_WINDOW;
  private connUnacked = 0;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = DEFAULT_MAX_FRAME;
  private peerMaxStreams = Infinity;
  private readonly waitingToOpen: (() => void)[] = [];
  private goingAway = false;
  private ended: Error | undefined;
  private readonly closeListeners: (() => void)[] = [];

  private constructor(
    private readonly socket: H2Transport,
    private readonly maxResponseBytes: number,
  ) {
    socket.onData((chunk) => this.onData(chunk));
    socket.onClose((err) => this.fail(new H2StreamError(err ? `the connection failed: ${err.message}` : 'the connection closed', 'connection')));
    // our settings: no server push; everything else at its default
    socket.write(concat([PREFACE, settingsFrame([[Setting.EnablePush, 0]])]));
  }

  /**
   * Connects to a unix socket and starts the HTTP/2 session (the preface goes out at once).
   * `connector`: how the byte stream is made (node:net unless given).
   */
  static async connect(path: string, opts: { maxResponseBytes?: number; connector?: H2Connector } = {}): Promise<H2Connection> {
    const transport = await (opts.connector ?? netConnector)(path);
    return new H2Connection(transport, opts.maxResponseBytes ?? 4 * 1024 * 1024 + 5);
  }

  /** True while new streams may be opened here. */
  get usable(): boolean {
    return !this.ended && !this.goingAway && this.nextStreamId <= MAX_STREAM_ID;
  }

  onClose(listener: () => void): void {
    if (this.ended) listener();
    else this.closeListeners.push(listener);
  }

  /**
   * Opens a stream, sends the header block and the body (END_STREAM on its last frame). The
   * frames are written before this returns unless flow control or the peer's stream limit holds
   * them back. `onData` sees the response's data as it comes, before the stream ends.
   */
  request(headers: HeaderList, body: Buffer, onData?: (received: readonly Buffer[]) => void): H2Stream {
    if (!this.usable) {
      const err = this.ended ?? new H2StreamError('the connection is closing', 'refused');
      return { id: 0, response: Promise.reject(err), cancel: () => undefined };
    }
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    let state!: StreamState;
    const response = new Promise<H2Response>((resolve, reject) => {
      state = { id, chunks: [], received: 0, unacked: 0, sendWindow: 0, pending: body, endAfterPending: true, onData, resolve, reject };
    });
    const open = (): void => {
      if (this.ended || this.goingAway) {
        state.reject(this.ended ?? new H2StreamError('the connection is closing', 'refused'));
        return;
      }
      state.sendWindow = this.peerInitialWindow;
      this.streams.set(id, state);
      const out = this.headerFrames(id, encodeHeaders(headers));
      this.sendData(state, out);
      this.socket.write(out.length === 1 ? out[0]! : concat(out));
    };
    if (this.streams.size < this.peerMaxStreams) open();
    else this.waitingToOpen.push(open);
    return {
      id,
      response,
      cancel: (reason) => {
        const i = this.waitingToOpen.indexOf(open);
        if (i >= 0) this.waitingToOpen.splice(i, 1);
        else if (this.streams.has(id)) {
          this.streams.delete(id);
          if (!this.ended) this.socket.write(rstStreamFrame(id, ErrorCode.Cancel));
          this.openWaiting();
        }
        state.reject(reason);
        this.maybeFinishClose();
      },
    };
  }

  /** Graceful: no new streams; the socket ends once the streams in flight are done. */
  close(): void {
    if (this.ended || this.goingAway) return;
    this.goingAway = true;
    this.maybeFinishClose();
  }

  /** At once: every stream in flight fails with `err`. */
  destroy(err: Error = new H2StreamError('the connection was closed by the client', 'connection')): void {
    this.fail(err);
    this.socket.destroy();
  }

  private maybeFinishClose(): void {
    if (this.goingAway && this.streams.size === 0 && this.waitingToOpen.length === 0 && !this.ended) {
      this.socket.end(goAwayFrame(0, ErrorCode.NoError));
      this.fail(new H2StreamError('the connection is closed', 'connection'));
    }
  }

  private fail(err: Error): void {
    if (this.ended) return;
    this.ended = err;
    for (const s of this.streams.values()) s.reject(err);
    this.streams.clear();
    for (const open of this.waitingToOpen.splice(0)) open();
    this.socket.end();
    for (const l of this.closeListeners.splice(0)) l();
  }

  /** A connection error (RFC 9113 §5.4.1): GOAWAY with the code, then the socket goes. */
  private protocolError(code: ErrorCode, why: string): void {
    if (this.ended) return;
    this.socket.write(goAwayFrame(0, code));
    this.fail(new H2StreamError(`HTTP/2 protocol error from the server: ${why}`, 'connection', code));
    this.socket.destroy();
  }

  private headerFrames(id: number, block: Buffer): Buffer[] {
    const out: Buffer[] = [];
    for (let at = 0; at === 0 || at < block.length; at += this.peerMaxFrame) {
      const part = block.subarray(at, at + this.peerMaxFrame);
      const last = at + this.peerMaxFrame >= block.length;
      out.push(frame(at === 0 ? FrameType.Headers : FrameType.Continuation, last ? Flag.EndHeaders : 0, id, part));
    }
    return out;
  }

  /** Moves as much of the stream's pending body into DATA frames as the windows allow. */
  private sendData(s: StreamState, out: Buffer[]): void {
    while (s.pending.length > 0 || s.endAfterPending) {
      const room = Math.max(0, Math.min(s.pending.length, this.connSendWindow, s.sendWindow, this.peerMaxFrame));
      if (room <= 0 && s.pending.length > 0) return; // a WINDOW_UPDATE resumes it
      const chunk = s.pending.subarray(0, room);
      s.pending = s.pending.subarray(room);
      this.connSendWindow -= room;
      s.sendWindow -= room;
      const last = s.pending.length === 0 && s.endAfterPending;
      if (last) s.endAfterPending = false;
      out.push(frame(FrameType.Data, last ? Flag.EndStream : 0, s.id, chunk));
      if (last) return;
    }
  }

  private flushBlocked(): void {
    const out: Buffer[] = [];
    for (const s of this.streams.values()) if (s.pending.length > 0 || s.endAfterPending) this.sendData(s, out);
    if (out.length > 0) this.socket.write(concat(out));
  }

  private openWaiting(): void {
    while (this.waitingToOpen.length > 0 && this.streams.size < this.peerMaxStreams) this.waitingToOpen.shift()!();
  }

  private onData(chunk: Buffer): void {
    this.inbox = this.inbox.length === 0 ? chunk : concat([this.inbox, chunk]);
    let at = 0;
    while (!this.ended && this.inbox.length - at >= FRAME_HEADER) {
      const length = u24(this.inbox, at);
      // we never raised SETTINGS_MAX_FRAME_SIZE
      if (length > DEFAULT_MAX_FRAME) return this.protocolError(ErrorCode.FrameSizeError, `a frame of ${length} octets`);
      if (this.inbox.length - at < FRAME_HEADER + length) break;
      const type = this.inbox[at + 3]!;
      const flags = this.inbox[at + 4]!;
      const streamId = u32(this.inbox, at + 5) & MAX_STREAM_ID;
      const payload = this.inbox.subarray(at + FRAME_HEADER, at + FRAME_HEADER + length);
      at += FRAME_HEADER + length;
      try {
        this.onFrame(type, flags, streamId, payload);
      } catch (err) {
        if (err instanceof HpackError) return this.protocolError(ErrorCode.CompressionError, err.message);
        throw err;
      }
    }
    this.inbox = at === this.inbox.length ? Buffer.alloc(0) : this.inbox.subarray(at);
  }

  private onFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.partial && type !== FrameType.Continuation) return this.protocolError(ErrorCode.ProtocolError, 'a header block was interrupted');
    switch (type) {
      case FrameType.Data:
        return this.onDataFrame(flags, streamId, payload);
      case FrameType.Headers: {
        if (streamId === 0) return this.protocolError(ErrorCode.ProtocolError, 'HEADERS on stream 0');
        const fragment = unpad(flags, payload, flags & Flag.Priority ? 5 : 0);
        if (!fragment) return this.protocolError(ErrorCode.ProtocolError, 'HEADERS with invalid padding');
        this.partial = { streamId, endStream: (flags & Flag.EndStream) !== 0, fragments: [fragment], size: fragment.length };
        if (flags & Flag.EndHeaders) this.onHeaderBlock();
        return;
      }
      case FrameType.Continuation:
        if (!this.partial || this.partial.streamId !== streamId) return this.protocolError(ErrorCode.ProtocolError, 'CONTINUATION without HEADERS');
        this.partial.fragments.push(payload);
        this.partial.size += payload.length;
        if (this.partial.size > MAX_HEADER_BLOCK) return this.protocolError(ErrorCode.EnhanceYourCalm, `a header block of more than ${MAX_HEADER_BLOCK} octets`);
        if (flags & Flag.EndHeaders) this.onHeaderBlock();
        return;
      case FrameType.RstStream: {
        if (streamId === 0) return this.protocolError(ErrorCode.ProtocolError, 'RST_STREAM on stream 0');
        const s = this.streams.get(streamId);
        if (!s || payload.length !== 4) return;
        const code = u32(payload, 0);
        this.streams.delete(streamId);
        s.reject(new H2StreamError(`the server reset the stream (HTTP/2 error ${code})`, 'reset', code));
        this.openWaiting();
        this.maybeFinishClose();
        return;
      }
      case FrameType.Settings:
        return this.onSettings(flags, streamId, payload);
      case FrameType.PushPromise:
        return this.protocolError(ErrorCode.ProtocolError, 'PUSH_PROMISE although push is disabled');
      case FrameType.Ping:
        if (payload.length !== 8) return this.protocolError(ErrorCode.FrameSizeError, 'a PING that is not 8 octets');
        if (!(flags & Flag.Ack)) this.socket.write(frame(FrameType.Ping, Flag.Ack, 0, payload));
        return;
      case FrameType.GoAway:
        return this.onGoAway(payload);
      case FrameType.WindowUpdate: {
        if (payload.length !== 4) return this.protocolError(ErrorCode.FrameSizeError, 'a WINDOW_UPDATE that is not 4 octets');
        const increment = u32(payload, 0) & MAX_WINDOW;
        if (streamId === 0) {
          this.connSendWindow += increment;
          if (this.connSendWindow > MAX_WINDOW) return this.protocolError(ErrorCode.FlowControlError, 'the connection window overflowed');
        } else {
          const s = this.streams.get(streamId);
          if (s) s.sendWindow += increment;
          if (s && s.sendWindow > MAX_WINDOW) {
            // a stream error (RFC 9113 §6.9.1): this stream goes, the connection stays
            this.streams.delete(streamId);
            this.socket.write(rstStreamFrame(streamId, ErrorCode.FlowControlError));
            s.reject(new H2StreamError('the server overflowed the stream\'s send window', 'reset', ErrorCode.FlowControlError));
            this.openWaiting();
            return this.maybeFinishClose();
          }
        }
        this.flushBlocked();
        return;
      }
      default:
        return; // PRIORITY and unknown frame types are ignored (RFC 9113 §4.1, §5.5)
    }
  }

  private onDataFrame(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) return this.protocolError(ErrorCode.ProtocolError, 'DATA on stream 0');
    // flow control counts the whole payload, padding included, also for streams we gave up on
    this.connUnacked += payload.length;
    const updates: Buffer[] = [];
    if (this.connUnacked >= WINDOW_UPDATE_THRESHOLD) {
      updates.push(windowUpdateFrame(0, this.connUnacked));
      this.connUnacked = 0;
    }
    const s = this.streams.get(streamId);
    const data = unpad(flags, payload, 0);
    if (!data) return this.protocolError(ErrorCode.ProtocolError, 'DATA with invalid padding');
    if (s) {
      s.chunks.push(data); // a view of a chunk the transport handed over and no longer uses
      s.received += data.length;
      s.unacked += payload.length;
      if (s.received > this.maxResponseBytes) {
        this.streams.delete(streamId);
        updates.push(rstStreamFrame(streamId, ErrorCode.Cancel));
        s.reject(new H2StreamError(`the response is larger than ${this.maxResponseBytes} octets`, 'too-large'));
      } else if (flags & Flag.EndStream) this.complete(s);
      else if (s.unacked >= WINDOW_UPDATE_THRESHOLD) {
        updates.push(windowUpdateFrame(streamId, s.unacked));
        s.unacked = 0;
      }
    }
    if (updates.length > 0) this.socket.write(concat(updates));
    // last: the callback may cancel the stream (or do a lot of work)
    if (s?.onData && this.streams.get(streamId) === s) s.onData(s.chunks);
  }

  private onHeaderBlock(): void {
    const { streamId, endStream, fragments } = this.partial!;
    this.partial = undefined;
    // decoded even for a stream we gave up on: the decoder's table must follow the server's
    const headers = this.decoder.decode(fragments.length === 1 ? fragments[0]! : concat(fragments));
    const s = this.streams.get(streamId);
    if (!s) return;
    if (!s.headers) s.headers = headers;
    else s.trailers = headers;
    if (endStream) this.complete(s);
  }

  private complete(s: StreamState): void {
    this.streams.delete(s.id);
    s.resolve({ headers: s.headers ?? [], trailers: s.trailers, data: s.chunks.length === 1 ? s.chunks[0]! : concat(s.chunks) });
    this.openWaiting();
    this.maybeFinishClose();
  }

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) return this.protocolError(ErrorCode.ProtocolError, 'SETTINGS on a stream');
    if (flags & Flag.Ack) return payload.length === 0 ? undefined : this.protocolError(ErrorCode.FrameSizeError, 'a SETTINGS ACK with a payload');
    if (payload.length % 6 !== 0) return this.protocolError(ErrorCode.FrameSizeError, 'SETTINGS of a wrong length');
    for (let i = 0; i < payload.length; i += 6) {
      const id = u16(payload, i);
      const value = u32(payload, i + 2);
      if (id === Setting.InitialWindowSize) {
        if (value > MAX_WINDOW) return this.protocolError(ErrorCode.FlowControlError, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
        // open streams' windows move by the difference (RFC 9113 §6.9.2)
        for (const s of this.streams.values()) s.sendWindow += value - this.peerInitialWindow;
        this.peerInitialWindow = value;
      } else if (id === Setting.MaxFrameSize) {
        if (value < DEFAULT_MAX_FRAME || value > 2 ** 24 - 1) return this.protocolError(ErrorCode.ProtocolError, 'SETTINGS_MAX_FRAME_SIZE out of range');
        this.peerMaxFrame = value;
      } else if (id === Setting.MaxConcurrentStreams) this.peerMaxStreams = value;
      // HEADER_TABLE_SIZE: our encoder never uses the table; the rest concerns a server
    }
    this.socket.write(frame(FrameType.Settings, Flag.Ack, 0));
    this.flushBlocked();
    this.openWaiting();
  }

  private onGoAway(payload: Buffer): void {
    if (payload.length < 8) return this.protocolError(ErrorCode.FrameSizeError, 'a GOAWAY shorter than 8 octets');
    const last = u32(payload, 0) & MAX_STREAM_ID;
    const code = u32(payload, 4);
    const debug = payload.subarray(8).toString('utf8');
    this.goingAway = true;
    const why = `the server is closing the connection (GOAWAY, HTTP/2 error ${code}${debug ? `: ${debug}` : ''})`;
    // streams above `last` were never processed: safe to retry elsewhere
    for (const [id, s] of this.streams) {
      if (id > last) {
        this.streams.delete(id);
        s.reject(new H2StreamError(why, 'refused', code));
      }
    }
    for (const open of this.waitingToOpen.splice(0)) open();
    this.maybeFinishClose();
  }
}

/** A frame's payload without its padding (and `skip` priority octets), or undefined when malformed. */
function unpad(flags: number, payload: Buffer, skip: number): Buffer | undefined {
  if (!(flags & Flag.Padded)) return payload.length >= skip ? payload.subarray(skip) : undefined;
  if (payload.length < 1) return undefined;
  const pad = payload[0]!;
  if (1 + skip + pad > payload.length) return undefined;
  return payload.subarray(1 + skip, payload.length - pad);
}
