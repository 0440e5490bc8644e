// Encoding and decoding of the records on a stage's control channel. Twin: src/core/wire.c.
// A record is {u32 type, u32 len} + fields; a field is {u8 kind, 3 zero bytes, u32 len} + data,
// kind 1 = int64 little endian, kind 2 = bytes.

const KIND_INT = 1;
const KIND_BYTES = 2;
const TWO_32 = 2 ** 32;
const INT64_MIN = -(BigInt(2) ** BigInt(63));
const INT64_MAX = BigInt(2) ** BigInt(63) - BigInt(1);

export type WireField = number | bigint | string | Buffer;

/**
 * Appends records to one growing buffer. Ring0 encodes ring1's program once, in a cold process:
 * there every JS call runs in the interpreter, so a field costs a DataView store (a V8 builtin),
 * not Buffer.alloc + Buffer methods + a concat per record (that was ~1 ms of ring0's start).
 */
export class WireWriter {
  private buf: Buffer;
  private view: DataView;
  private at = 0;

  /**
   * `messageType`: the records written are the payload of one message of that type (a stage's
   * PROGRAM): its header is reserved here and filled in by take(), no copy to frame it.
   */
  constructor(
    initialBytes = 256,
    private readonly messageType?: number,
  ) {
    this.buf = Buffer.allocUnsafe(initialBytes);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
    if (messageType !== undefined) this.at = 8;
  }

  record(type: number, fields: readonly WireField[] = []): void {
    const start = this.at;
    this.reserve(start, 8);
    this.view.setUint32(start, type, true);
    let at = start + 8;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      if (typeof f === 'string') {
        // utf8 takes at most 3 bytes per UTF-16 unit; the length is filled in once written
        this.reserve(at, 8 + 3 * f.length);
        const len = this.buf.write(f, at + 8, 'utf8');
        this.view.setUint32(at, KIND_BYTES, true); // kind and three zero bytes
        this.view.setUint32(at + 4, len, true);
        at += 8 + len;
      } else if (typeof f === 'number' && Number.isSafeInteger(f)) {
        this.reserve(at, 16);
        this.view.setUint32(at, KIND_INT, true);
        this.view.setUint32(at + 4, 8, true);
        // int64 little endian without a BigInt (fds, flags, ids, masks are safe integers); an
        // int32 (most are) without a division, whose double result is an allocation cold
        if (f >= -0x80000000 && f <= 0x7fffffff) {
          this.view.setInt32(at + 8, f, true);
          this.view.setInt32(at + 12, f < 0 ? -1 : 0, true);
        } else {
          const hi = Math.floor(f / TWO_32);
          this.view.setUint32(at + 8, f - hi * TWO_32, true);
          this.view.setInt32(at + 12, hi, true);
        }
        at += 16;
      } else if (typeof f === 'number' || typeof f === 'bigint') {
        const v = BigInt(f); // throws for a non-integer
        if (v < INT64_MIN || v > INT64_MAX) throw new RangeError(`wire: ${v} does not fit in an int64`);
        this.reserve(at, 16);
        this.view.setUint32(at, KIND_INT, true);
        this.view.setUint32(at + 4, 8, true);
        this.view.setBigInt64(at + 8, v, true);
        at += 16;
      } else {
        this.reserve(at, 8 + f.length);
        this.view.setUint32(at, KIND_BYTES, true);
        this.view.setUint32(at + 4, f.length, true);
        at += 8 + f.copy(this.buf, at + 8);
      }
    }
    this.view.setUint32(start + 4, at - start - 8, true);
    this.at = at;
  }

  get length(): number {
    return this.at;
  }

  /** What was written (every byte of it set; with its message header if one was asked for); the writer is done with. */
  take(): Buffer {
    if (this.messageType !== undefined) {
      this.view.setUint32(0, this.messageType, true);
      this.view.setUint32(4, this.at - 8, true);
    }
    return this.buf.subarray(0, this.at);
  }

  /** Makes room for n more bytes after the first `used` (which it keeps). */
  private reserve(used: number, n: number): void {
    if (used + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, used + n));
    this.buf.copy(bigger, 0, 0, used);
    this.buf = bigger;
    this.view = new DataView(bigger.buffer, bigger.byteOffset, bigger.length);
  }
}

export function encodeRecord(type: number, fields: readonly WireField[]): Buffer {
  const w = new WireWriter();
  w.record(type, fields);
  return w.take();
}

export interface DecodedRecord {
  type: number;
  fields: (bigint | Buffer)[];
}

/** Decodes one record (a whole message). Throws on malformed input. */
export function decodeRecord(buf: Buffer): DecodedRecord {
  if (buf.length < 8) throw new Error('wire: record shorter than its header');
  const type = buf.readUInt32LE(0);
  const len = buf.readUInt32LE(4);
  if (len > buf.length - 8) throw new Error('wire: record length beyond the message');
  const fields: (bigint | Buffer)[] = [];
  let at = 8;
  const end = 8 + len;
  while (at < end) {
    if (end - at < 8) throw new Error('wire: truncated field header');
    const kind = buf[at];
    const flen = buf.readUInt32LE(at + 4);
    if (flen > end - at - 8) throw new Error('wire: field length beyond the record');
    const data = buf.subarray(at + 8, at + 8 + flen);
    if (kind === KIND_INT) {
      if (flen !== 8) throw new Error('wire: int field of wrong size');
      fields.push(data.readBigInt64LE(0));
    } else if (kind === KIND_BYTES) {
      fields.push(Buffer.from(data));
    } else {
      throw new Error(`wire: unknown field kind ${kind}`);
    }
    at += 8 + flen;
  }
  return { type, fields };
}

export function fieldInt(r: DecodedRecord, i: number): number {
  const v = r.fields[i];
  if (typeof v !== 'bigint') throw new Error(`wire: field ${i} of record ${r.type} is not an int`);
  return Number(v);
}

export function fieldString(r: DecodedRecord, i: number): string {
  const v = r.fields[i];
  if (!Buffer.isBuffer(v)) throw new Error(`wire: field ${i} of record ${r.type} is not bytes`);
  return v.toString('utf8');
}
