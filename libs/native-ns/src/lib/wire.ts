// Encoding and decoding of the records on a stage's control channel. Twin: src/core/wire.c.
// A record is {u32 type, u32 len} + fields; a field is {u8 kind, 3 zero bytes, u32 len} + data,
// kind 1 = int64 little endian, kind 2 = bytes.

const KIND_INT = 1;
const KIND_BYTES = 2;

export type WireField = number | bigint | string | Buffer;

export function encodeRecord(type: number, fields: readonly WireField[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of fields) {
    const head = Buffer.alloc(8);
    if (typeof f === 'number' || typeof f === 'bigint') {
      head[0] = KIND_INT;
      head.writeUInt32LE(8, 4);
      const body = Buffer.alloc(8);
      body.writeBigInt64LE(BigInt(f));
      parts.push(head, body);
    } else {
      const body = typeof f === 'string' ? Buffer.from(f, 'utf8') : f;
      head[0] = KIND_BYTES;
      head.writeUInt32LE(body.length, 4);
      parts.push(head, body);
    }
  }
  const payload = Buffer.concat(parts);
  const header = Buffer.alloc(8);
  header.writeUInt32LE(type, 0);
  header.writeUInt32LE(payload.length, 4);
  return Buffer.concat([header, payload]);
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
