import { Readable } from 'node:stream';
import { WsError, WsErrorCode } from '@wsrun/common';
import { DEFAULT_MAX_META_SIZE, XATTR_PREFIX, encodePaxRecords, formatPaxTime } from './pax';
import { BLOCK_SIZE, OCTAL_11_MAX, OCTAL_7_MAX, USTAR_FIELD_LIMITS, encodeHeader, paddingFor } from './tar-header';
import { TYPEFLAG, type TarEntryType } from './tar-entry';

/**
 * Writes a pax-format tar archive (POSIX.1-2001) to a Readable. Each entry gets a plain ustar
 * header; whatever does not fit ustar (long or non-ASCII paths and link targets, sizes of 8 GiB
 * and more, ids above 2097151, sub-second or negative mtimes, long user/group names, xattrs)
 * goes into an "x" header before it, as GNU tar and libarchive read it. Bodies are streamed:
 * add() resolves only when the reader has taken enough of the output (backpressure).
 */

export interface TarWriteEntry {
  path: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  /** body length; required for 'file' (0 otherwise) */
  size?: number;
  linkpath?: string;
  uname?: string;
  gname?: string;
  devMajor?: number;
  devMinor?: number;
  xattrs?: ReadonlyMap<string, Buffer> | Readonly<Record<string, Buffer>>;
}

export interface TarWriterStats {
  entries: number;
  bytes: number;
}

/** The output side: push() until the reader's buffer is full, then wait for its next read. */
class TarOutput extends Readable {
  private wake: { resolve: () => void; reject: (e: Error) => void } | undefined;
  failure: Error | undefined;

  override _read(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.resolve();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.failure ??= err ?? new WsError(WsErrorCode.Cancelled, 'the tar output was closed by its reader');
    const w = this.wake;
    this.wake = undefined;
    w?.reject(this.failure);
    cb(err);
  }

  async send(buf: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.push(buf)) return;
    await new Promise<void>((resolve, reject) => (this.wake = { resolve, reject }));
  }
}

export class TarWriter {
  private readonly output: TarOutput;
  private readonly counts: TarWriterStats = { entries: 0, bytes: 0 };
  private busy = false;
  private finished = false;

  constructor(options: { highWaterMark?: number } = {}) {
    this.output = new TarOutput({ highWaterMark: options.highWaterMark ?? 1024 * 1024 });
  }

  /** The archive bytes. Destroying it makes the pending and later add() calls reject. */
  get stream(): Readable {
    return this.output;
  }

  get stats(): TarWriterStats {
    return { ...this.counts };
  }

  /**
   * Appends one entry. A 'file' body must yield exactly `size` bytes (else the archive is
   * aborted: a wrong length cannot be repaired afterwards). One add() at a time.
   */
  async add(entry: TarWriteEntry, body?: AsyncIterable<Buffer> | Buffer): Promise<void> {
    if (this.busy || this.finished) throw new WsError(WsErrorCode.Internal, `tar writer: add(${entry.path}) while ${this.finished ? 'finished' : 'busy'}`);
    this.busy = true;
    try {
      const size = entry.type === 'file' ? (entry.size ?? 0) : 0;
      if (!Number.isSafeInteger(size) || size < 0) throw new WsError(WsErrorCode.InvalidArgument, `tar writer: bad size ${entry.size} for ${entry.path}`);
      await this.out(encodeEntryHeaders(entry, size));
      let written = 0;
      if (size > 0 && body) {
        for await (const chunk of Buffer.isBuffer(body) ? [body] : body) {
          if (written + chunk.length > size) throw this.abort(`body of ${entry.path} is longer than its size ${size}`);
          written += chunk.length;
          await this.out(chunk);
        }
      }
      if (written !== size) throw this.abort(`body of ${entry.path} has ${written} bytes, its header says ${size}`);
      const pad = paddingFor(size);
      if (pad > 0) await this.out(Buffer.alloc(pad));
      this.counts.entries++;
    } finally {
      this.busy = false;
    }
  }

  /** Writes the end-of-archive marker (two zero blocks) and ends the stream. */
  async finish(): Promise<TarWriterStats> {
    if (this.finished) return this.stats;
    await this.out(Buffer.alloc(2 * BLOCK_SIZE));
    this.finished = true;
    this.output.push(null);
    return this.stats;
  }

  /** Ends the output with an error (the reader sees it); returns that error. */
  abort(reason: string | Error): Error {
    const err = typeof reason === 'string' ? new WsError(WsErrorCode.Internal, `tar writer: ${reason}`) : reason;
    if (!this.output.destroyed) this.output.destroy(err);
    return err;
  }

  private async out(buf: Buffer): Promise<void> {
    this.counts.bytes += buf.length;
    await this.output.send(buf);
  }
}

/** Only 7-bit characters and no NUL: bytes equal UTF-16 units, so lengths are byte lengths. */
function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c > 0x7f) return false;
  }
  return true;
}

/** The ustar name/prefix split of a path, or null when only a pax path can hold it. */
function ustarName(path: string): { name: Buffer; prefix?: Buffer } | null {
  if (!isAscii(path)) return null;
  if (path.length <= USTAR_FIELD_LIMITS.name) return { name: Buffer.from(path, 'latin1') };
  // split at a "/" so that prefix ≤ 155 and name ≤ 100 bytes
  for (let i = path.length - USTAR_FIELD_LIMITS.name - 1; i < path.length; i++) {
    if (i <= 0 || path[i] !== '/') continue;
    if (i > USTAR_FIELD_LIMITS.prefix) break;
    if (i === path.length - 1) break;
    return { name: Buffer.from(path.slice(i + 1), 'latin1'), prefix: Buffer.from(path.slice(0, i), 'latin1') };
  }
  return null;
}

/** A printable stand-in for readers without pax support (which would extract it under this name). */
function fallbackName(path: string, limit: number): Buffer {
  const ascii = path.replace(/[^\x20-\x7e]/g, '_');
  return Buffer.from(ascii.length <= limit ? ascii : ascii.slice(ascii.length - limit), 'latin1');
}

function fitsText(s: string, limit: number): boolean {
  return isAscii(s) && s.length <= limit;
}

/** The pax header (if any) and the ustar header of one entry. */
export function encodeEntryHeaders(entry: TarWriteEntry, size: number): Buffer {
  if (entry.path.length === 0 || entry.path.includes('\0')) throw new WsError(WsErrorCode.InvalidArgument, `tar writer: invalid path ${JSON.stringify(entry.path)}`);
  const records: [string, Buffer | string][] = [];
  // directories end in "/" as every tar does, so old readers see them as directories
  const path = entry.type === 'dir' && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path;
  let names = ustarName(path);
  if (!names) {
    records.push(['path', path]);
    names = { name: fallbackName(path, USTAR_FIELD_LIMITS.name) };
  }
  const linkpath = entry.linkpath ?? '';
  let linkname: Buffer = Buffer.from(linkpath, 'latin1');
  if (linkpath.includes('\0')) throw new WsError(WsErrorCode.InvalidArgument, `tar writer: invalid link target of ${entry.path}`);
  if (!fitsText(linkpath, USTAR_FIELD_LIMITS.linkname)) {
    records.push(['linkpath', linkpath]);
    linkname = fallbackName(linkpath, USTAR_FIELD_LIMITS.linkname);
  }
  let headerSize = size;
  if (size > OCTAL_11_MAX) {
    records.push(['size', String(size)]);
    headerSize = 0;
  }
  const id = (key: 'uid' | 'gid', value: number): number => {
    if (!Number.isSafeInteger(value) || value < 0) throw new WsError(WsErrorCode.InvalidArgument, `tar writer: bad ${key} ${value} for ${entry.path}`);
    if (value <= OCTAL_7_MAX) return value;
    records.push([key, String(value)]);
    return 0;
  };
  const uid = id('uid', entry.uid);
  const gid = id('gid', entry.gid);
  const text = (key: 'uname' | 'gname', value: string | undefined): Buffer | undefined => {
    if (!value) return undefined;
    if (fitsText(value, USTAR_FIELD_LIMITS[key])) return Buffer.from(value, 'latin1');
    records.push([key, value]);
    return undefined;
  };
  const uname = text('uname', entry.uname);
  const gname = text('gname', entry.gname);
  const sec = entry.mtimeNs / 1_000_000_000n - (entry.mtimeNs < 0n && entry.mtimeNs % 1_000_000_000n !== 0n ? 1n : 0n);
  let mtime = Number(sec);
  if (entry.mtimeNs % 1_000_000_000n !== 0n || sec < 0n || sec > BigInt(OCTAL_11_MAX)) {
    records.push(['mtime', formatPaxTime(entry.mtimeNs)]);
    mtime = sec < 0n ? 0 : sec > BigInt(OCTAL_11_MAX) ? OCTAL_11_MAX : mtime;
  }
  const xattrs = entry.xattrs instanceof Map ? [...entry.xattrs] : Object.entries(entry.xattrs ?? {});
  for (const [name, value] of xattrs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (name.length === 0 || name.includes('\0') || name.includes('=')) throw new WsError(WsErrorCode.InvalidArgument, `tar writer: invalid xattr name ${JSON.stringify(name)}`);
    records.push([`${XATTR_PREFIX}${name}`, value]);
  }

  const header = encodeHeader({
    ...names,
    mode: entry.mode,
    uid,
    gid,
    size: headerSize,
    mtime,
    typeflag: TYPEFLAG[entry.type],
    linkname,
    ...(uname ? { uname } : {}),
    ...(gname ? { gname } : {}),
    devmajor: entry.devMajor ?? 0,
    devminor: entry.devMinor ?? 0,
  });
  if (records.length === 0) return header;
  const data = encodePaxRecords(records);
  // never write what TarParser (and so extractTar) would refuse
  if (data.length > DEFAULT_MAX_META_SIZE) {
    throw new WsError(WsErrorCode.InvalidArgument, `tar writer: the pax header of ${entry.path} would be ${data.length} bytes (limit ${DEFAULT_MAX_META_SIZE})`);
  }
  const base = path.replace(/\/+$/, '').split('/').pop() ?? 'entry';
  const paxHeader = encodeHeader({
    name: Buffer.concat([Buffer.from('PaxHeaders/', 'latin1'), fallbackName(base, USTAR_FIELD_LIMITS.name - 11)]),
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: data.length,
    mtime,
    typeflag: 'x',
  });
  return Buffer.concat([paxHeader, data, Buffer.alloc(paddingFor(data.length)), header]);
}
