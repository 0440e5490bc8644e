import { WsError, WsErrorCode } from '@wsrun/common';
import { decodeUtf8, malformed } from './tar-header';

/**
 * pax extended header records (POSIX.1-2001 pax "x"/"g" headers): "<len> <key>=<value>\n" where
 * <len> counts the whole record in bytes, its own digits included. Values stay bytes because
 * SCHILY.xattr.* values are binary; the keys wsrun reads are interpreted by paxAttributes.
 */

/** Keys are text, values raw bytes; an empty value deletes the key (see PaxState). */
export type PaxRecords = Map<string, Buffer>;

/** Default limit for one pax header or GNU long name/link: larger ones refuse the archive. */
export const DEFAULT_MAX_META_SIZE = 1024 * 1024;

export const XATTR_PREFIX = 'SCHILY.xattr.';

/** Parses the body of a pax header. Any syntax error refuses the archive (throws, offset for messages). */
export function parsePaxRecords(data: Buffer, offset: number): PaxRecords {
  const records: PaxRecords = new Map();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space === -1 || space === at || space - at > 20) throw malformed(`pax record at byte ${at} has no length`, offset);
    const lenText = data.toString('latin1', at, space);
    if (!/^[0-9]+$/.test(lenText)) throw malformed(`pax record length ${JSON.stringify(lenText)} is not a decimal number`, offset);
    const len = Number(lenText);
    const end = at + len;
    // the shortest record is "<len> k=\n"
    if (len < space - at + 4 || end > data.length) throw malformed(`pax record length ${len} does not fit the header (${data.length - at} bytes left)`, offset);
    if (data[end - 1] !== 0x0a) throw malformed(`pax record length ${len} does not end at a newline`, offset);
    const eq = data.indexOf(0x3d, space + 1);
    if (eq === -1 || eq >= end - 1) throw malformed('pax record without "="', offset);
    if (eq === space + 1) throw malformed('pax record with an empty key', offset);
    records.set(recordKey(data, space + 1, eq, offset), data.subarray(eq + 1, end - 1));
    at = end;
  }
  return records;
}

/** The key of a record: ASCII read directly (every standard key), anything else must be valid UTF-8 without NUL. */
function recordKey(data: Buffer, start: number, end: number, offset: number): string {
  let i = start;
  while (i < end && data[i] > 0 && data[i] < 0x80) i++;
  if (i === end) return data.toString('latin1', start, end);
  const key = decodeUtf8(data.subarray(start, end));
  if (!key.valid || key.text.includes('\0')) throw malformed('pax record key is not valid text', offset);
  return key.text;
}

/** Encodes records; the length prefix is found by iterating until it is stable (it counts itself). */
export function encodePaxRecords(records: Iterable<[string, Buffer | string]>): Buffer {
  // text records (all but xattrs) are joined as one string: one Buffer instead of three per record
  const parts: Buffer[] = [];
  let text = '';
  for (const [key, value] of records) {
    if (typeof value === 'string') {
      const body = ` ${key}=${value}\n`;
      text += `${recordLength(Buffer.byteLength(body, 'utf8'))}${body}`;
      continue;
    }
    if (text) parts.push(Buffer.from(text, 'utf8'));
    text = '';
    const head = Buffer.from(` ${key}=`, 'utf8');
    const bodyLength = head.length + value.length + 1;
    parts.push(Buffer.from(String(recordLength(bodyLength)), 'latin1'), head, value, Buffer.from('\n'));
  }
  if (parts.length === 0) return Buffer.from(text, 'utf8');
  if (text) parts.push(Buffer.from(text, 'utf8'));
  return Buffer.concat(parts);
}

/** The length of a record whose text after the length digits is bodyLength bytes. */
function recordLength(bodyLength: number): number {
  let len = bodyLength + 1;
  while (String(len).length + bodyLength !== len) len = String(len).length + bodyLength;
  return len;
}

/** The pax state of one entry: the archive's global ("g") records overlaid by its own ("x"). */
export class PaxState {
  private readonly global: PaxRecords = new Map();
  private local: PaxRecords = new Map();

  /** "g" records persist for the rest of the archive; an empty value deletes the key. */
  addGlobal(records: PaxRecords): void {
    for (const [k, v] of records) {
      if (v.length === 0) this.global.delete(k);
      else this.global.set(k, v);
    }
  }

  /** "x" records apply to the next entry only; an empty value hides a global one. */
  addLocal(records: PaxRecords): void {
    for (const [k, v] of records) this.local.set(k, v);
  }

  hasLocal(): boolean {
    return this.local.size > 0;
  }

  /** The attributes for the entry being read now; clears the per-entry records. */
  takeAttributes(offset: number): PaxAttributes {
    if (this.global.size === 0) {
      // the usual archive: no global records, the entry's own are all there is
      const local = this.local;
      if (local.size > 0) this.local = new Map();
      return paxAttributes(local, offset, true);
    }
    const merged: PaxRecords = new Map();
    for (const [k, v] of this.global) {
      // a global path/linkpath/size would give every entry the same name or size: ignored
      if (k === 'path' || k === 'linkpath' || k === 'size') continue;
      merged.set(k, v);
    }
    for (const [k, v] of this.local) {
      if (v.length === 0) merged.delete(k);
      else merged.set(k, v);
    }
    this.local = new Map();
    return paxAttributes(merged, offset);
  }
}

/** The pax keys wsrun interprets; everything else is ignored as POSIX asks (except sparse files). */
export interface PaxAttributes {
  path?: string;
  linkpath?: string;
  size?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  mtimeNs?: bigint;
  atimeNs?: bigint;
  xattrs: Map<string, Buffer>;
  invalidUtf8: boolean;
}

const ID_MAX = 0xfffffffe;

/** The attributes of records; with `skipEmpty`, a record with an empty value is left out (it only hides a global one). */
function paxAttributes(records: PaxRecords, offset: number, skipEmpty = false): PaxAttributes {
  const out: PaxAttributes = { xattrs: new Map(), invalidUtf8: false };
  if (records.size === 0) return out;
  const text = (value: Buffer): string => {
    const { text: t, valid } = decodeUtf8(value);
    if (!valid) out.invalidUtf8 = true;
    return t;
  };
  const integer = (key: string, value: Buffer, max: number): number => {
    const t = value.toString('latin1');
    if (!/^[0-9]{1,16}$/.test(t) || Number(t) > max) throw malformed(`pax ${key} ${JSON.stringify(t)} is not a valid number`, offset);
    return Number(t);
  };
  for (const [key, value] of records) {
    if (skipEmpty && value.length === 0) continue;
    if (key.startsWith('GNU.sparse.')) throw unsupported('GNU sparse file (pax GNU.sparse.*)', offset);
    if (key.startsWith(XATTR_PREFIX)) {
      const name = key.slice(XATTR_PREFIX.length);
      if (name.length === 0) throw malformed('pax xattr record without a name', offset);
      out.xattrs.set(name, Buffer.from(value));
      continue;
    }
    switch (key) {
      case 'path':
        out.path = text(value);
        break;
      case 'linkpath':
        out.linkpath = text(value);
        break;
      case 'size':
        out.size = integer(key, value, Number.MAX_SAFE_INTEGER);
        break;
      case 'uid':
        out.uid = integer(key, value, ID_MAX);
        break;
      case 'gid':
        out.gid = integer(key, value, ID_MAX);
        break;
      case 'uname':
        out.uname = text(value);
        break;
      case 'gname':
        out.gname = text(value);
        break;
      case 'mtime':
        out.mtimeNs = parsePaxTime(value.toString('latin1'), offset);
        break;
      case 'atime':
        out.atimeNs = parsePaxTime(value.toString('latin1'), offset);
        break;
      default:
        // ctime, comment, charset, hdrcharset, SCHILY.dev/ino/nlink, LIBARCHIVE.* ...: not needed
        break;
    }
  }
  return out;
}

export function unsupported(what: string, offset: number): WsError {
  return new WsError(WsErrorCode.InvalidArgument, `unsupported tar archive: ${what} at offset ${offset}`);
}

const PAX_TIME = /^(-?)([0-9]{1,19})(?:\.([0-9]+))?$/;

/** "<seconds>[.<fraction>]", optionally negative, to nanoseconds; digits beyond ns are dropped. */
export function parsePaxTime(value: string, offset: number): bigint {
  const m = PAX_TIME.exec(value);
  if (!m) throw malformed(`pax time ${JSON.stringify(value)} is not a decimal number`, offset);
  // seconds and the fraction's first 9 digits ("5" is 500000000 ns) joined: one BigInt conversion
  const frac = m[3] === undefined ? '000000000' : m[3].length >= 9 ? m[3].slice(0, 9) : m[3].padEnd(9, '0');
  const ns = BigInt(m[2] + frac);
  return m[1] ? -ns : ns;
}

/** Nanoseconds to "<seconds>.<fraction>" without trailing zeros (the inverse of parsePaxTime). */
export function formatPaxTime(ns: bigint): string {
  const negative = ns < 0n;
  const abs = negative ? -ns : ns;
  const sec = abs / 1_000_000_000n;
  const frac = (abs % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${sec}${frac ? `.${frac}` : ''}`;
}
