import { Readable } from 'node:stream';
import { WsError, WsErrorCode } from '@wsrun/common';
import { DEFAULT_MAX_META_SIZE, XATTR_PREFIX, encodePaxRecords, formatPaxTime } from './pax';
import { BLOCK_SIZE, OCTAL_11_MAX, OCTAL_7_MAX, USTAR_FIELD_LIMITS, encodeHeader, paddingFor, type HeaderFields } from './tar-header';
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

/** Small pieces (headers, padding, small bodies) are gathered into slabs of this size before they are pushed. */
const SLAB = 256 * 1024;
/** Pieces from this size on are pushed as they are: copying them would cost more than a chunk. */
const DIRECT = SLAB / 4;

/**
 * The output side. Small pieces are copied into a slab and pushed as one chunk when it fills up
 * (three pieces per small member would otherwise each be a chunk for the reader: a pipe write, a
 * hash update); large ones go out as they are. Pushing stops when the reader's buffer is full,
 * until its next read.
 */
class TarOutput extends Readable {
  private wake: { resolve: () => void; reject: (e: Error) => void } | undefined;
  failure: Error | undefined;
  private slab: Buffer;
  private used = 0;

  constructor(highWaterMark: number) {
    super({ highWaterMark });
    this.slab = this.newSlab();
  }

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

  /** Queues buf; returns a promise to wait for when the reader's buffer is full, else undefined. */
  send(buf: Buffer): Promise<void> | undefined {
    if (this.failure) throw this.failure;
    if (buf.length >= DIRECT || buf.length > this.slab.length) {
      const batched = this.flush();
      return this.push(buf) && batched ? undefined : this.drained();
    }
    let room = true;
    if (this.used + buf.length > this.slab.length) room = this.flush();
    buf.copy(this.slab, this.used);
    this.used += buf.length;
    return room ? undefined : this.drained();
  }

  /** Queues n zero bytes (padding, the end marker); as send. */
  zeros(n: number): Promise<void> | undefined {
    if (this.failure) throw this.failure;
    let room = true;
    if (this.used + n > this.slab.length) room = this.flush();
    this.slab.fill(0, this.used, this.used + n);
    this.used += n;
    return room ? undefined : this.drained();
  }

  /**
   * Pushes what the slab holds; false when the reader's buffer is full. The rest of the slab is
   * used on while it has room for a large share of it, so a small chunk never pins a whole slab.
   */
  flush(): boolean {
    if (this.used === 0) return true;
    const out = this.slab.subarray(0, this.used);
    this.slab = this.slab.length - this.used >= DIRECT ? this.slab.subarray(this.used) : this.newSlab();
    this.used = 0;
    return this.push(out);
  }

  /** No larger than the reader's buffer (backpressure stays as fine as asked), but room for the end marker. */
  private newSlab(): Buffer {
    return Buffer.allocUnsafe(Math.max(2 * BLOCK_SIZE, Math.min(SLAB, this.readableHighWaterMark)));
  }

  private drained(): Promise<void> {
    return new Promise<void>((resolve, reject) => (this.wake = { resolve, reject }));
  }
}

export class TarWriter {
  private readonly output: TarOutput;
  private readonly counts: TarWriterStats = { entries: 0, bytes: 0 };
  private busy = false;
  private finished = false;

  constructor(options: { highWaterMark?: number } = {}) {
    this.output = new TarOutput(options.highWaterMark ?? 1024 * 1024);
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
   * aborted: a wrong length cannot be repaired afterwards). One add() at a time. Resolves without
   * waiting while the reader's buffer has room.
   */
  async add(entry: TarWriteEntry, body?: AsyncIterable<Buffer> | Buffer): Promise<void> {
    if (this.busy || this.finished) throw new WsError(WsErrorCode.Internal, `tar writer: add(${entry.path}) while ${this.finished ? 'finished' : 'busy'}`);
    this.busy = true;
    try {
      const size = entry.type === 'file' ? (entry.size ?? 0) : 0;
      if (!Number.isSafeInteger(size) || size < 0) throw new WsError(WsErrorCode.InvalidArgument, `tar writer: bad size ${entry.size} for ${entry.path}`);
      let wait = this.out(encodeEntryHeaders(entry, size));
      if (wait) await wait;
      let written = 0;
      if (size > 0 && body !== undefined) {
        if (Buffer.isBuffer(body)) {
          // a body in memory (small files): one chunk, no async iteration
          if (body.length > size) throw this.abort(`body of ${entry.path} is longer than its size ${size}`);
          written = body.length;
          wait = this.out(body);
          if (wait) await wait;
        } else {
          for await (const chunk of body) {
            if (written + chunk.length > size) throw this.abort(`body of ${entry.path} is longer than its size ${size}`);
            written += chunk.length;
            wait = this.out(chunk);
            if (wait) await wait;
          }
        }
      }
      if (written !== size) throw this.abort(`body of ${entry.path} has ${written} bytes, its header says ${size}`);
      const pad = paddingFor(size);
      if (pad > 0) {
        this.counts.bytes += pad;
        wait = this.output.zeros(pad);
        if (wait) await wait;
      }
      this.counts.entries++;
    } finally {
      this.busy = false;
    }
  }

  /** Writes the end-of-archive marker (two zero blocks) and ends the stream. */
  async finish(): Promise<TarWriterStats> {
    if (this.finished) return this.stats;
    this.counts.bytes += 2 * BLOCK_SIZE;
    const wait = this.output.zeros(2 * BLOCK_SIZE);
    if (wait) await wait;
    this.output.flush();
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

  private out(buf: Buffer): Promise<void> | undefined {
    this.counts.bytes += buf.length;
    return this.output.send(buf);
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
function ustarName(path: string): { name: string; prefix?: string } | null {
  if (!isAscii(path)) return null;
  if (path.length <= USTAR_FIELD_LIMITS.name) return { name: path };
  // split at a "/" so that prefix ≤ 155 and name ≤ 100 bytes
  for (let i = path.length - USTAR_FIELD_LIMITS.name - 1; i < path.length; i++) {
    if (i <= 0 || path[i] !== '/') continue;
    if (i > USTAR_FIELD_LIMITS.prefix) break;
    if (i === path.length - 1) break;
    return { name: path.slice(i + 1), prefix: path.slice(0, i) };
  }
  return null;
}

/** A printable stand-in for readers without pax support (which would extract it under this name). */
function fallbackName(path: string, limit: number): string {
  const ascii = /^[\x20-\x7e]*$/.test(path) ? path : path.replace(/[^\x20-\x7e]/g, '_');
  return ascii.length <= limit ? ascii : ascii.slice(ascii.length - limit);
}

function fitsText(s: string, limit: number): boolean {
  return s.length <= limit && isAscii(s);
}

const NS_PER_SECOND = 1_000_000_000n;
const OCTAL_11_MAX_N = BigInt(OCTAL_11_MAX);

/** The pax header (if any) and the ustar header of one entry, in one buffer. */
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
  let linkname = entry.linkpath ?? '';
  if (linkname.includes('\0')) throw new WsError(WsErrorCode.InvalidArgument, `tar writer: invalid link target of ${entry.path}`);
  if (!fitsText(linkname, USTAR_FIELD_LIMITS.linkname)) {
    records.push(['linkpath', linkname]);
    linkname = fallbackName(linkname, USTAR_FIELD_LIMITS.linkname);
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
  const text = (key: 'uname' | 'gname', value: string | undefined): string | undefined => {
    if (!value) return undefined;
    if (fitsText(value, USTAR_FIELD_LIMITS[key])) return value;
    records.push([key, value]);
    return undefined;
  };
  const uname = text('uname', entry.uname);
  const gname = text('gname', entry.gname);
  // whole seconds rounded down (pre-1970 fractions included), the exact time in pax when needed
  const frac = entry.mtimeNs % NS_PER_SECOND;
  const sec = entry.mtimeNs / NS_PER_SECOND - (frac < 0n ? 1n : 0n);
  let mtime = Number(sec);
  if (frac !== 0n || sec < 0n || sec > OCTAL_11_MAX_N) {
    records.push(['mtime', formatPaxTime(entry.mtimeNs)]);
    mtime = sec < 0n ? 0 : sec > OCTAL_11_MAX_N ? OCTAL_11_MAX : mtime;
  }
  const xattrs = entry.xattrs instanceof Map ? [...entry.xattrs] : entry.xattrs ? Object.entries(entry.xattrs) : [];
  for (const [name, value] of xattrs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (name.length === 0 || name.includes('\0') || name.includes('=')) throw new WsError(WsErrorCode.InvalidArgument, `tar writer: invalid xattr name ${JSON.stringify(name)}`);
    records.push([`${XATTR_PREFIX}${name}`, value]);
  }

  // one literal with every field (no spreads): this runs for every member
  const fields: HeaderFields = {
    name: names.name,
    prefix: names.prefix,
    mode: entry.mode,
    uid,
    gid,
    size: headerSize,
    mtime,
    typeflag: TYPEFLAG[entry.type],
    linkname,
    uname,
    gname,
    devmajor: entry.devMajor ?? 0,
    devminor: entry.devMinor ?? 0,
  };
  if (records.length === 0) return encodeHeader(fields);
  const data = encodePaxRecords(records);
  // never write what TarParser (and so extractTar) would refuse
  if (data.length > DEFAULT_MAX_META_SIZE) {
    throw new WsError(WsErrorCode.InvalidArgument, `tar writer: the pax header of ${entry.path} would be ${data.length} bytes (limit ${DEFAULT_MAX_META_SIZE})`);
  }
  const trimmed = path.endsWith('/') ? path.replace(/\/+$/, '') : path;
  const base = trimmed.slice(trimmed.lastIndexOf('/') + 1);
  const dataEnd = BLOCK_SIZE + data.length;
  const out = Buffer.allocUnsafe(dataEnd + paddingFor(data.length) + BLOCK_SIZE);
  encodeHeader({ name: `PaxHeaders/${fallbackName(base, USTAR_FIELD_LIMITS.name - 11)}`, mode: 0o644, uid: 0, gid: 0, size: data.length, mtime, typeflag: 'x' }, out, 0);
  data.copy(out, BLOCK_SIZE);
  out.fill(0, dataEnd, out.length - BLOCK_SIZE);
  encodeHeader(fields, out, out.length - BLOCK_SIZE);
  return out;
}
