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

/** Fields for encodeHeader; every value must already fit its field (the writer checks). */
export interface HeaderFields {
  name: Buffer;
  prefix?: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname?: Buffer;
  uname?: Buffer;
  gname?: Buffer;
  devmajor?: number;
  devminor?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const ZERO_BLOCK = Buffer.alloc(BLOCK_SIZE);

export function malformed(message: string, offset: number): WsError {
  return new WsError(WsErrorCode.InvalidArgument, `malformed tar archive: ${message} at offset ${offset}`);
}

export function isZeroBlock(block: Buffer): boolean {
  return block.length === BLOCK_SIZE && block.equals(ZERO_BLOCK);
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

/** Validates and decodes one header block; throws a malformed-archive WsError. `offset` is for messages. */
export function decodeHeader(block: Buffer, offset: number): RawHeader {
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
    const raw = cString(block, field);
    const { text: t, valid } = decodeUtf8(raw);
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

function cString(block: Buffer, [start, len]: readonly [number, number]): Buffer {
  const field = block.subarray(start, start + len);
  const nul = field.indexOf(0);
  return nul === -1 ? field : field.subarray(0, nul);
}

/** The checksum counts the chksum field as eight spaces; historic writers summed signed bytes. */
function verifyChecksum(block: Buffer, offset: number): void {
  const stored = decodeNumeric(block, F.chksum, 'chksum', offset, false);
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const b = i >= F.chksum[0] && i < F.chksum[0] + F.chksum[1] ? 0x20 : block[i];
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
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
function writeOctal(block: Buffer, [start, len]: readonly [number, number], value: number): boolean {
  if (!Number.isSafeInteger(value) || value < 0) return false;
  const text = value.toString(8);
  if (text.length > len - 1) return false;
  block.write(text.padStart(len - 1, '0'), start, 'latin1');
  block[start + len - 1] = 0;
  return true;
}

/** GNU base-256: 0x80 then the big-endian value (negative: two's complement with a 0xff lead). */
function writeBase256(block: Buffer, [start, len]: readonly [number, number], value: number): void {
  let v = BigInt(value);
  const negative = v < 0n;
  if (negative) v = (1n << BigInt(8 * len)) + v;
  for (let i = start + len - 1; i > start; i--) {
    block[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  block[start] = negative ? 0xff : 0x80;
}

function writeNumeric(block: Buffer, field: readonly [number, number], value: number): void {
  if (!writeOctal(block, field, value)) writeBase256(block, field, value);
}

function writeBytes(block: Buffer, [start, len]: readonly [number, number], bytes: Buffer | undefined, what: string): void {
  if (!bytes) return;
  if (bytes.length > len) throw new WsError(WsErrorCode.Internal, `tar header: ${what} of ${bytes.length} bytes exceeds its ${len}-byte field`);
  bytes.copy(block, start);
}

/**
 * Encodes a POSIX ustar header block. Numbers that do not fit octal fall back to base-256 (the
 * writer puts such values in pax records first, so this only happens for device numbers).
 */
export function encodeHeader(h: HeaderFields): Buffer {
  const block = Buffer.alloc(BLOCK_SIZE);
  writeBytes(block, F.name, h.name, 'name');
  writeNumeric(block, F.mode, h.mode & 0o7777);
  writeNumeric(block, F.uid, h.uid);
  writeNumeric(block, F.gid, h.gid);
  writeNumeric(block, F.size, h.size);
  writeNumeric(block, F.mtime, h.mtime);
  block.write(h.typeflag, F.typeflag[0], 'latin1');
  writeBytes(block, F.linkname, h.linkname, 'linkname');
  block.write('ustar\x0000', F.magic[0], 'latin1');
  writeBytes(block, F.uname, h.uname, 'uname');
  writeBytes(block, F.gname, h.gname, 'gname');
  writeNumeric(block, F.devmajor, h.devmajor ?? 0);
  writeNumeric(block, F.devminor, h.devminor ?? 0);
  writeBytes(block, F.prefix, h.prefix, 'prefix');
  block.fill(0x20, F.chksum[0], F.chksum[0] + F.chksum[1]);
  let sum = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) sum += block[i];
  // "%06o\0 " as GNU tar and POSIX readers expect
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', F.chksum[0], 'latin1');
  return block;
}

/** Padding after a body of `size` bytes up to the next block boundary. */
export function paddingFor(size: number): number {
  return (BLOCK_SIZE - (size % BLOCK_SIZE)) % BLOCK_SIZE;
}

export const USTAR_FIELD_LIMITS = { name: F.name[1], prefix: F.prefix[1], linkname: F.linkname[1], uname: F.uname[1], gname: F.gname[1] } as const;
