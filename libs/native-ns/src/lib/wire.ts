// Encoding and decoding of the records on a stage's control channel. Twin: src/core/wire.c.
// A record is {u32 type, u32 len} + fields; a field is {u8 kind, 3 zero bytes, u32 len} + data,
// kind 1 = int64 little endian, kind 2 = bytes.

const KIND_INT = 1;
const KIND_BYTES = 2;

export type WireField = number | bigint | string | Buffer;

/** Sizes first, then one buffer written in place: a program is encoded on ring0's start-up path. */
export function encodeRecord(type: number, fields: readonly WireField[]): Buffer {
  let size = 8;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    size += 8 + (typeof f === 'number' || typeof f === 'bigint' ? 8 : typeof f === 'string' ? Buffer.byteLength(f, 'utf8') : f.length);
  }
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32LE(type, 0);
  out.writeUInt32LE(size - 8, 4);
  let at = 8;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const isInt = typeof f === 'number' || typeof f === 'bigint';
    out.writeUInt32LE(isInt ? KIND_INT : KIND_BYTES, at); // the kind and its 3 zero bytes
    at += 4;
    if (isInt) {
      out.writeUInt32LE(8, at);
      writeInt64(out, f, at + 4);
      at += 12;
    } else if (typeof f === 'string') {
      const n = out.write(f, at + 4, 'utf8');
      out.writeUInt32LE(n, at);
      at += 4 + n;
    } else {
      out.writeUInt32LE(f.length, at);
      f.copy(out, at + 4);
      at += 4 + f.length;
    }
  }
  return out;
}

function writeInt64(out: Buffer, n: number | bigint, at: number): void {
  if (typeof n === 'number' && Number.isInteger(n) && n >= -0x80000000 && n <= 0x7fffffff) {
    out.writeInt32LE(n, at);
    out.writeInt32LE(n < 0 ? -1 : 0, at + 4);
  } else {
    out.writeBigInt64LE(BigInt(n), at); // throws for a fraction or a value beyond 64 bits, as before
  }
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
