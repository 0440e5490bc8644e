import { WsError, WsErrorCode } from '@wsrun/common';
import type { ByteRange } from './object-storage';

/** Throws WsError(INVALID_ARGUMENT) unless start/end are integers with 0 <= start <= end. */
export function validateByteRange(range: ByteRange): ByteRange {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0) {
    throw new WsError(WsErrorCode.InvalidArgument, `invalid byte range: start ${start} must be a non-negative integer`);
  }
  if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) {
    throw new WsError(WsErrorCode.InvalidArgument, `invalid byte range: end ${end} must be an integer >= start ${start}`);
  }
  return range;
}

/**
 * The inclusive range to read from an object of `size` bytes, clamped to its end like HTTP does;
 * throws WsError(INVALID_ARGUMENT) when it starts at or past the end.
 */
export function clampByteRange(range: ByteRange, size: number, what: string): { start: number; end: number } {
  validateByteRange(range);
  if (range.start >= size) {
    throw new WsError(WsErrorCode.InvalidArgument, `${what}: range start ${range.start} is not below the object size ${size}`);
  }
  return { start: range.start, end: Math.min(range.end ?? size - 1, size - 1) };
}

/** The result of parsing an HTTP Range header against an object of known size. */
export type HttpRangeResult =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number }
  | { kind: 'unsatisfiable' };

/**
 * Parses a single-range `Range: bytes=a-b | a- | -n` header (RFC 9110 §14.1.2). A missing,
 * malformed or multi-range header yields 'full' (a server may ignore Range; multipart/byteranges
 * responses are not worth their complexity here); a syntactically valid range that selects no
 * byte yields 'unsatisfiable' (416).
 */
export function parseHttpRange(header: string | undefined, size: number): HttpRangeResult {
  if (header === undefined) return { kind: 'full' };
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return { kind: 'full' };
  if (m[1] === '') {
    // suffix range: the last n bytes
    const n = Number(m[2]);
    if (!Number.isSafeInteger(n)) return { kind: 'full' };
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? undefined : Number(m[2]);
  if (!Number.isSafeInteger(start) || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) return { kind: 'full' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end: Math.min(end ?? size - 1, size - 1) };
}
