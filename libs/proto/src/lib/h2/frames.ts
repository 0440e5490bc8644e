import { put16, put24, put32 } from './bytes';

/** HTTP/2 framing (RFC 9113 §4, §6): the frame types, flags, settings and error codes a client meets. */

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME_HEADER = 9;

export enum FrameType {
  Data = 0x0,
  Headers = 0x1,
  Priority = 0x2,
  RstStream = 0x3,
  Settings = 0x4,
  PushPromise = 0x5,
  Ping = 0x6,
  GoAway = 0x7,
  WindowUpdate = 0x8,
  Continuation = 0x9,
}

/** Frame flags; END_STREAM and ACK share a bit (on different frame types). */
export const Flag = { EndStream: 0x1, Ack: 0x1, EndHeaders: 0x4, Padded: 0x8, Priority: 0x20 } as const;

export enum Setting {
  HeaderTableSize = 0x1,
  EnablePush = 0x2,
  MaxConcurrentStreams = 0x3,
  InitialWindowSize = 0x4,
  MaxFrameSize = 0x5,
  MaxHeaderListSize = 0x6,
}

export enum ErrorCode {
  NoError = 0x0,
  ProtocolError = 0x1,
  InternalError = 0x2,
  FlowControlError = 0x3,
  SettingsTimeout = 0x4,
  StreamClosed = 0x5,
  FrameSizeError = 0x6,
  RefusedStream = 0x7,
  Cancel = 0x8,
  CompressionError = 0x9,
  ConnectError = 0xa,
  EnhanceYourCalm = 0xb,
  InadequateSecurity = 0xc,
  Http11Required = 0xd,
}

/** The defaults both sides start from (RFC 9113 §6.5.2). */
export const DEFAULT_WINDOW = 65_535;
export const DEFAULT_MAX_FRAME = 16_384;
export const MAX_WINDOW = 2 ** 31 - 1;

export function frame(type: FrameType, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEADER + payload.length);
  put24(out, 0, payload.length);
  out[3] = type;
  out[4] = flags;
  put32(out, 5, streamId);
  out.set(payload, FRAME_HEADER);
  return out;
}

export function settingsFrame(settings: [Setting, number][]): Buffer {
  const payload = Buffer.allocUnsafe(6 * settings.length);
  settings.forEach(([id, value], i) => {
    put16(payload, 6 * i, id);
    put32(payload, 6 * i + 2, value);
  });
  return frame(FrameType.Settings, 0, 0, payload);
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  put32(payload, 0, increment);
  return frame(FrameType.WindowUpdate, 0, streamId, payload);
}

export function rstStreamFrame(streamId: number, code: ErrorCode): Buffer {
  const payload = Buffer.allocUnsafe(4);
  put32(payload, 0, code);
  return frame(FrameType.RstStream, 0, streamId, payload);
}

export function goAwayFrame(lastStreamId: number, code: ErrorCode): Buffer {
  const payload = Buffer.allocUnsafe(8);
  put32(payload, 0, lastStreamId);
  put32(payload, 4, code);
  return frame(FrameType.GoAway, 0, 0, payload);
}
