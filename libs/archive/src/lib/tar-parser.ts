import { WsError, WsErrorCode } from '@wsrun/common';
import { ByteReader } from './byte-reader';
import { DEFAULT_MAX_META_SIZE, PaxState, parsePaxRecords, unsupported } from './pax';
import { BLOCK_SIZE, OCTAL_11_MAX, TYPEFLAG_OFFSET, decodeHeader, decodeUtf8, isAllZero, isZeroBlock, malformed, paddingFor, type RawHeader } from './tar-header';
import type { TarEntryHeader, TarEntryType } from './tar-entry';

/**
 * A streaming, strict tar reader: POSIX ustar, pax ("x" and "g" headers) and GNU long names
 * ("L"/"K"). It yields one entry at a time; the entry's body is an async iterable of views of the
 * input's chunks, read only as the consumer asks (backpressure), and drained automatically when
 * the consumer moves on without reading it. Anything malformed refuses the whole archive with a
 * WsError(INVALID_ARGUMENT) naming the problem and its offset: bad checksums, bad numbers, bad or
 * oversized pax records, sizes that disagree, bodies on types that have none, truncation,
 * unsupported types (GNU sparse, multi-volume, ...), and non-zero bytes after the end marker.
 */

export interface TarEntry {
  header: TarEntryHeader;
  /** the body bytes (empty for types without data); must be consumed before the next entry or it is skipped */
  body: AsyncIterable<Buffer>;
  /**
   * The rest of the body as views of the input when the parser already holds all of it (consumed
   * as if read from `body`), so small members need no await per chunk; undefined when it would
   * have to wait for more input (then read `body`).
   */
  takeBuffered(): Buffer[] | undefined;
}

export interface TarParserOptions {
  /** largest pax header or GNU long name/link accepted, in bytes (default 1 MiB) */
  maxMetaSize?: number;
  /** largest body chunk handed out (default 1 MiB) */
  maxChunk?: number;
  /** stops a pending read of the input: the iteration then fails with WsError(CANCELLED) */
  signal?: AbortSignal;
}

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file', // contiguous file: a plain file everywhere but on ancient systems
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

/** Headers that only describe the next one (pax, GNU long names): their own names are never read. */
const META_TYPEFLAGS = new Set(['x', 'g', 'L', 'K'].map((c) => c.charCodeAt(0)));

const UNSUPPORTED: Record<string, string> = {
  S: 'GNU sparse file',
  M: 'GNU multi-volume continuation',
  V: 'GNU volume label',
  D: 'GNU incremental dump directory',
  N: 'GNU old long name',
  A: 'Solaris ACL',
  E: 'Solaris extended attributes',
  X: 'old pax extended header',
};

export class TarParser implements AsyncIterable<TarEntry> {
  private readonly reader: ByteReader;
  private readonly maxMeta: number;
  private readonly maxChunk: number;
  private readonly pax = new PaxState();
  /** body bytes of the current entry not yet handed out, and its padding */
  private bodyLeft = 0;
  private paddingLeft = 0;
  private bodyPath = '';
  /** which entry the current body belongs to: a stale body iterator must not read the next one */
  private seq = 0;
  private started = false;

  constructor(input: AsyncIterable<unknown>, options: TarParserOptions = {}) {
    this.reader = new ByteReader(input, options.signal, () => new WsError(WsErrorCode.Cancelled, 'tar reading cancelled'));
    this.maxMeta = options.maxMetaSize ?? DEFAULT_MAX_META_SIZE;
    this.maxChunk = options.maxChunk ?? 1024 * 1024;
  }

  /** Bytes of the archive consumed so far. */
  get bytesRead(): number {
    return this.reader.position;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<TarEntry, void, undefined> {
    if (this.started) throw new WsError(WsErrorCode.Internal, 'a TarParser can be iterated only once');
    this.started = true;
    try {
      for (;;) {
        await this.skipRest();
        const header = await this.nextHeader();
        if (!header) return;
        this.bodyLeft = header.size;
        this.paddingLeft = paddingFor(header.size);
        this.bodyPath = header.path;
        const seq = ++this.seq;
        yield { header, body: this.body(seq), takeBuffered: () => this.takeBufferedBody(seq) };
      }
    } finally {
      this.reader.close();
    }
  }

  private async *body(seq: number): AsyncGenerator<Buffer, void, undefined> {
    while (this.bodyLeft > 0) {
      if (seq !== this.seq) throw new WsError(WsErrorCode.Internal, 'a tar entry body was read after the parser moved on');
      const chunk = await this.reader.readSome(Math.min(this.bodyLeft, this.maxChunk));
      if (chunk.length === 0) throw this.truncated(`in the body of ${JSON.stringify(this.bodyPath)}`);
      this.bodyLeft -= chunk.length;
      yield chunk;
    }
  }

  private takeBufferedBody(seq: number): Buffer[] | undefined {
    if (seq !== this.seq) throw new WsError(WsErrorCode.Internal, 'a tar entry body was read after the parser moved on');
    if (this.reader.available < this.bodyLeft) return undefined;
    const views = this.reader.takeViews(this.bodyLeft);
    this.bodyLeft = 0;
    return views;
  }

  /** Skips what the consumer left of the current body, then its padding. */
  private async skipRest(): Promise<void> {
    const rest = this.bodyLeft + this.paddingLeft;
    if (this.reader.available >= rest) {
      // the common case of small members: all in memory already
      this.reader.skip(rest);
      this.bodyLeft = 0;
      this.paddingLeft = 0;
      return;
    }
    while (this.bodyLeft > 0) {
      const chunk = await this.reader.readSome(Math.min(this.bodyLeft, this.maxChunk));
      if (chunk.length === 0) throw this.truncated(`in the body of ${JSON.stringify(this.bodyPath)}`);
      this.bodyLeft -= chunk.length;
    }
    if (this.paddingLeft > 0) {
      const pad = await this.reader.read(this.paddingLeft);
      if (pad.length < this.paddingLeft) throw this.truncated('in the padding after a body');
      this.paddingLeft = 0;
    }
  }

  private truncated(where: string): WsError {
    return new WsError(WsErrorCode.InvalidArgument, `malformed tar archive: truncated ${where} at offset ${this.reader.position}`);
  }

  /** The next real entry with its pax/long-name metadata applied, or null after the end marker. */
  private async nextHeader(): Promise<TarEntryHeader | null> {
    let longName: { text: string; valid: boolean } | undefined;
    let longLink: { text: string; valid: boolean } | undefined;
    let metaSeen = false;
    for (;;) {
      const offset = this.reader.position;
      const block = this.reader.tryRead(BLOCK_SIZE) ?? (await this.reader.read(BLOCK_SIZE));
      if (block.length === 0) throw this.truncated('archive: no end-of-archive marker');
      if (block.length < BLOCK_SIZE) throw this.truncated('header');
      if (isZeroBlock(block)) {
        if (metaSeen) throw malformed('extended header without the entry it describes', offset);
        await this.readEnd(offset);
        return null;
      }
      const raw = decodeHeader(block, offset, !META_TYPEFLAGS.has(block[TYPEFLAG_OFFSET]));
      switch (raw.typeflag) {
        case 'x':
        case 'g': {
          const records = parsePaxRecords(await this.readMeta(raw, 'pax header', offset), offset);
          if (raw.typeflag === 'g') this.pax.addGlobal(records);
          else {
            metaSeen = true;
            this.pax.addLocal(records);
          }
          continue;
        }
        case 'L':
        case 'K': {
          if ((raw.typeflag === 'L' ? longName : longLink) !== undefined) throw malformed(`two GNU long ${raw.typeflag === 'L' ? 'names' : 'links'} for one entry`, offset);
          const data = await this.readMeta(raw, 'GNU long name', offset);
          const nul = data.indexOf(0);
          const value = decodeUtf8(nul === -1 ? data : data.subarray(0, nul));
          if (raw.typeflag === 'L') longName = value;
          else longLink = value;
          metaSeen = true;
          continue;
        }
        default:
          return this.entryHeader(raw, offset, longName, longLink);
      }
    }
  }

  /** The body of a metadata header, refused when larger than the limit. */
  private async readMeta(raw: RawHeader, what: string, offset: number): Promise<Buffer> {
    if (raw.size > this.maxMeta) throw malformed(`${what} of ${raw.size} bytes exceeds the limit of ${this.maxMeta} bytes`, offset);
    const pad = paddingFor(raw.size);
    if (this.reader.available >= raw.size + pad) {
      const data = this.reader.gather(raw.size);
      this.reader.skip(pad);
      return data;
    }
    const data = await this.reader.read(raw.size);
    if (data.length < raw.size) throw this.truncated(`in a ${what}`);
    if ((await this.reader.read(pad)).length < pad) throw this.truncated(`in the padding of a ${what}`);
    return data;
  }

  private entryHeader(raw: RawHeader, offset: number, longName?: { text: string; valid: boolean }, longLink?: { text: string; valid: boolean }): TarEntryHeader {
    const type = TYPES[raw.typeflag];
    if (!type) {
      const known = UNSUPPORTED[raw.typeflag];
      throw unsupported(known ? `${known} (type '${raw.typeflag}')` : `unknown entry type ${JSON.stringify(raw.typeflag)}`, offset);
    }
    const pax = this.pax.takeAttributes(offset);
    let size = raw.size;
    if (pax.size !== undefined) {
      // a writer puts a pax size when the value overflows the field and leaves 0 or the maximum
      // there; any other header value must agree
      if (raw.size !== 0 && raw.size !== OCTAL_11_MAX && raw.size !== pax.size) {
        throw malformed(`header size ${raw.size} disagrees with pax size ${pax.size}`, offset);
      }
      size = pax.size;
    }
    if (type !== 'file' && size !== 0) throw malformed(`${type} entry with a ${size}-byte body`, offset);

    const ustarPath = raw.prefix ? `${raw.prefix}/${raw.name}` : raw.name;
    const path = pax.path ?? longName?.text ?? ustarPath;
    const linkpath = type === 'symlink' || type === 'hardlink' ? (pax.linkpath ?? longLink?.text ?? raw.linkname) : '';
    const invalidUtf8 =
      (pax.path === undefined && (longName ? !longName.valid : raw.invalidUtf8)) ||
      (pax.linkpath === undefined && longLink !== undefined && !longLink.valid) ||
      pax.invalidUtf8;
    const header: TarEntryHeader = {
      path,
      type,
      size,
      mode: raw.mode,
      uid: pax.uid ?? raw.uid,
      gid: pax.gid ?? raw.gid,
      uname: pax.uname ?? raw.uname,
      gname: pax.gname ?? raw.gname,
      mtimeNs: pax.mtimeNs ?? BigInt(raw.mtime) * 1_000_000_000n,
      linkpath,
      devMajor: type === 'char' || type === 'block' ? raw.devmajor : 0,
      devMinor: type === 'char' || type === 'block' ? raw.devminor : 0,
      xattrs: pax.xattrs,
      offset,
    };
    if (pax.atimeNs !== undefined) header.atimeNs = pax.atimeNs;
    if (invalidUtf8) header.invalidUtf8 = true;
    return header;
  }

  /** After the first zero block: a second one, then nothing but zeros until the end of the input. */
  private async readEnd(offset: number): Promise<void> {
    const second = await this.reader.read(BLOCK_SIZE);
    if (second.length < BLOCK_SIZE) throw this.truncated('end-of-archive marker (one zero block)');
    if (!isZeroBlock(second)) throw malformed('a lone zero block inside the archive', offset);
    for (;;) {
      const rest = await this.reader.readSome(1024 * 1024);
      if (rest.length === 0) return;
      if (!isAllZero(rest)) throw malformed('non-zero data after the end-of-archive marker', this.reader.position - rest.length);
    }
  }
}
