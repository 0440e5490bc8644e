import { WsError, WsErrorCode } from '@wsrun/common';

/**
 * One 512-byte tar header block: decoding with strict validation (checksum, magic, numeric
 * fields) and encoding of ustar headers. pax and GNU long-name records are handled by the
 * parser and writer on top of this; this file knows only the fixed block layout.
 */

export const BLOCK_SIZE = 512;

/** Largest value of an 11-digit octal field (size, mtime): 8 GiB - 1. */
export const OCTAL_11_MAX = 0o77777777777;
/** Largest value of a 7-digit octal field (mode, uid, gid, devmajor, devminor). */
export const OCTAL_7_MAX = 0o7777777;

/** Field offsets and lengths of the ustar layout (POSIX.1-2001 "ustar Interchange Format"). */
const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

/** Where the type character sits in a header block. */
export const TYPEFLAG_OFFSET = F.typeflag[0];

export type HeaderFormat = 'ustar' | 'gnu';

/** A decoded header block. Strings are decoded as UTF-8; `invalidUtf8` flags names that are not. */
export interface RawHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** seconds since the epoch (may be negative in base-256) */
  mtime: number;
  typeflag: string;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** ustar/pax only: the path prefix; GNU headers use this area for other fields */
  prefix: string;
  format: HeaderFormat;
  invalidUtf8: boolean;
}

/**
 * Fields for encodeHeader; every value must already fit its field (the writer checks). Text is
 * raw bytes, or a string of ASCII characters only (written as is, without a Buffer per field).
 */
export interface HeaderFields {
  name: Buffer | string;
  prefix?: Buffer | string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname?: Buffer | string;
  uname?: Buffer | string;
  gname?: Buffer | string;
  devmajor?: number;
  devminor?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const ZERO_BLOCK = Buffer.alloc(BLOCK_SIZE);

export function malformed(message: string, offset: number): WsError {
  return new WsError(WsErrorCode.InvalidArgument, `malformed tar archive: ${message} at offset ${offset}`);
}

export function isZeroBlock(block: Buffer): boolean {
  // a header starts with its name: one byte tells nearly every time
  return block.length === BLOCK_SIZE && block[0] === 0 && block.equals(ZERO_BLOCK);
}

/** Every byte of `buf` is zero. */
export function isAllZero(buf: Buffer): boolean {
  for (let at = 0; at < buf.length; at += BLOCK_SIZE) {
    const part = buf.subarray(at, Math.min(buf.length, at + BLOCK_SIZE));
    if (!part.equals(ZERO_BLOCK.subarray(0, part.length))) return false;
  }
  return true;
}

/** Decodes UTF-8, reporting whether the bytes were valid (the lossy text is returned either way). */
export function decodeUtf8(bytes: Buffer): { text: string; valid: boolean } {
  try {
    return { text: utf8.decode(bytes), valid: true };
  } catch {
    return { text: bytes.toString('utf8'), valid: false };
  }
}

/**
 * Validates and decodes one header block; throws a malformed-archive WsError. `offset` is for
 * messages. With `texts` false the text fields are left empty (a pax or GNU long-name header
 * only needs its type and size; every number is still validated).
 */
export function decodeHeader(block: Buffer, offset: number, texts = true): RawHeader {
  if (block.length !== BLOCK_SIZE) throw malformed('short header block', offset);
  verifyChecksum(block, offset);
  const magic = block.toString('latin1', F.magic[0], F.magic[0] + F.magic[1]);
  const version = block.toString('latin1', F.version[0], F.version[0] + F.version[1]);
  let format: HeaderFormat;
  if (magic === 'ustar\0') format = 'ustar';
  else if (magic === 'ustar ' && version === ' \0') format = 'gnu';
  // v7 headers (no magic) and anything else are refused: every writer of the last 30 years emits one of the two
  else throw malformed(`unknown header magic ${JSON.stringify(magic + version)}`, offset);

  let invalidUtf8 = false;
  const text = (field: readonly [number, number]): string => {
    if (!texts) return '';
    const ascii = asciiField(block, field);
    if (ascii !== undefined) return ascii;
    const { text: t, valid } = decodeUtf8(cString(block, field));
    if (!valid) invalidUtf8 = true;
    return t;
  };
  const num = (name: keyof typeof F, allowNegative = false): number => decodeNumeric(block, F[name], name, offset, allowNegative);

  return {
    name: text(F.name),
    mode: num('mode') & 0o7777,
    uid: num('uid'),
    gid: num('gid'),
    size: num('size'),
    mtime: num('mtime', true),
    typeflag: String.fromCharCode(block[F.typeflag[0]]),
    linkname: text(F.linkname),
    uname: text(F.uname),
    gname: text(F.gname),
    devmajor: num('devmajor'),
    devminor: num('devminor'),
    prefix: format === 'ustar' ? text(F.prefix) : '',
    format,
    invalidUtf8,
  };
}

/**
 * A NUL-terminated field that is plain ASCII (nearly every name), decoded without the UTF-8
 * decoder or a view of the block; undefined when it holds other bytes.
 */
function asciiField(block: Buffer, [start, len]: readonly [number, number]): string | undefined {
  let end = start;
  const limit = start + len;
  for (; end < limit; end++) {
    const c = block[end];
    if (c === 0) break;
    if (c > 0x7f) return undefined;
  }
  return end === start ? '' : block.toString('latin1', start, end);
}

function cString(block: Buffer, [start, len]: readonly [number, number]): Buffer {
  const field = block.subarray(start, start + len);
  const nul = field.indexOf(0);
  return nul === -1 ? field : field.subarray(0, nul);
}

/** The checksum counts the chksum field as eight spaces; historic writers summed signed bytes. */
function verifyChecksum(block: Buffer, offset: number): void {
  const stored = decodeNumeric(block, F.chksum, 'chksum', offset, false);
  const [at, len] = F.chksum;
  let unsigned = 0;
  let high = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const b = block[i];
    unsigned += b;
    high += b >> 7;
  }
  for (let i = at; i < at + len; i++) {
    const b = block[i];
    unsigned += 0x20 - b;
    high -= b >> 7;
  }
  // the signed sum counts each byte over 127 as 256 less
  const signed = unsigned - 256 * high;
  if (stored !== unsigned && stored !== signed) {
    throw malformed(`bad header checksum (stored ${stored}, computed ${unsigned})`, offset);
  }
}

/**
 * A numeric field: octal digits (leading spaces, then digits, then only NULs/spaces), or GNU
 * base-256 when the first byte has its high bit set (0x80 positive, 0xff negative). An all
 * NUL/space field is 0. Values beyond 2^53 are refused rather than rounded.
 */
export function decodeNumeric(block: Buffer, [start, len]: readonly [number, number], what: string, offset: number, allowNegative: boolean): number {
  const first = block[start];
  if (first & 0x80) {
    const negative = first === 0xff;
    if (!negative && first !== 0x80) throw malformed(`invalid base-256 ${what} field`, offset);
    if (negative && !allowNegative) throw malformed(`negative ${what}`, offset);
    let value = 0n;
    for (let i = start + 1; i < start + len; i++) value = (value << 8n) | BigInt(negative ? block[i] ^ 0xff : block[i]);
    if (negative) value = -(value + 1n);
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) throw malformed(`${what} out of range`, offset);
    return Number(value);
  }
  let i = start;
  const end = start + len;
  while (i < end && block[i] === 0x20) i++;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = block[i];
    if (c < 0x30 || c > 0x37) break;
    value = value * 8 + (c - 0x30);
    digits++;
  }
  for (; i < end; i++) {
    const c = block[i];
    if (c !== 0 && c !== 0x20) throw malformed(`invalid octal ${what} field ${JSON.stringify(block.toString('latin1', start, end))}`, offset);
  }
  if (digits > 0 && value > Number.MAX_SAFE_INTEGER) throw malformed(`${what} out of range`, offset);
  return value;
}

/** Writes `value` as zero-padded octal filling len-1 digits plus a NUL; false when it does not fit. */
function writeOctal(block: Buffer, at: number, [start, len]: readonly [number, number], value: number): boolean {
  if (!Number.isSafeInteger(value) || value < 0 || value >= 8 ** (len - 1)) return false;
  // digit by digit from the right: no string per field (every header has eight of them)
  let v = value;
  const first = at + start;
  let i = first + len - 2;
  // 31-bit values (all but sizes and times past 2038) with integer ops
  for (; v > 0x7fffffff; i--) {
    block[i] = 0x30 + (v % 8);
    v = Math.floor(v / 8);
  }
  for (; i >= first; i--) {
    block[i] = 0x30 + (v & 7);
    v >>>= 3;
  }
  block[first + len - 1] = 0;
  return true;
}

/** GNU base-256: 0x80 then the big-endian value (negative: two's complement with a 0xff lead). */
function writeBase256(block: Buffer, at: number, [start, len]: readonly [number, number], value: number): void {
  let v = BigInt(value);
  const negative = v < 0n;
  if (negative) v = (1n << BigInt(8 * len)) + v;
  for (let i = at + start + len - 1; i > at + start; i--) {
    block[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  block[at + start] = negative ? 0xff : 0x80;
}

function writeNumeric(block: Buffer, at: number, field: readonly [number, number], value: number): void {
  if (!writeOctal(block, at, field, value)) writeBase256(block, at, field, value);
}

/** A text field: a Buffer is copied, a string is written as latin1 (callers pass only ASCII strings). */
function writeText(block: Buffer, at: number, [start, len]: readonly [number, number], text: Buffer | string | undefined, what: string): void {
  if (!text) return;
  if (text.length > len) throw new WsError(WsErrorCode.Internal, `tar header: ${what} of ${text.length} bytes exceeds its ${len}-byte field`);
  if (typeof text === 'string') block.write(text, at + start, len, 'latin1');
  else text.copy(block, at + start);
}

/**
 * Encodes a POSIX ustar header block. Numbers that do not fit octal fall back to base-256 (the
 * writer puts such values in pax records first, so this only happens for device numbers).
 * Writes into `out` at `at` when given (the block is zeroed first), else into a new buffer.
 */
export function encodeHeader(h: HeaderFields, out?: Buffer, at = 0): Buffer {
  const block = out ?? Buffer.allocUnsafe(BLOCK_SIZE);
  block.fill(0, at, at + BLOCK_SIZE);
  writeText(block, at, F.name, h.name, 'name');
  writeNumeric(block, at, F.mode, h.mode & 0o7777);
  writeNumeric(block, at, F.uid, h.uid);
  writeNumeric(block, at, F.gid, h.gid);
  writeNumeric(block, at, F.size, h.size);
  writeNumeric(block, at, F.mtime, h.mtime);
  block[at + F.typeflag[0]] = h.typeflag.charCodeAt(0);
  writeText(block, at, F.linkname, h.linkname, 'linkname');
  block.write('ustar\x0000', at + F.magic[0], 'latin1');
  writeText(block, at, F.uname, h.uname, 'uname');
  writeText(block, at, F.gname, h.gname, 'gname');
  writeNumeric(block, at, F.devmajor, h.devmajor ?? 0);
  writeNumeric(block, at, F.devminor, h.devminor ?? 0);
  writeText(block, at, F.prefix, h.prefix, 'prefix');
  block.fill(0x20, at + F.chksum[0], at + F.chksum[0] + F.chksum[1]);
  let sum = 0;
  for (let i = at; i < at + BLOCK_SIZE; i++) sum += block[i];
  // "%06o\0 " as GNU tar and POSIX readers expect
  writeOctal(block, at, [F.chksum[0], 7], sum);
  block[at + F.chksum[0] + 7] = 0x20;
  return block;
}

/** Padding after a body of `size` bytes up to the next block boundary. */
export function paddingFor(size: number): number {
  return (BLOCK_SIZE - (size % BLOCK_SIZE)) % BLOCK_SIZE;
}

export const USTAR_FIELD_LIMITS = { name: F.name[1], prefix: F.prefix[1], linkname: F.linkname[1], uname: F.uname[1], gname: F.gname[1] } as const;
