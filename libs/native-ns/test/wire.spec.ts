import { decodeRecord, encodeRecord, WireWriter } from '../src/lib/wire';

/** The layout of src/core/wire.h, spelled out byte by byte: what the C side reads. */
function expected(type: number, fields: (bigint | Buffer)[]): Buffer {
  const parts = fields.map((f) => {
    const head = Buffer.alloc(8);
    if (typeof f === 'bigint') {
      head[0] = 1;
      head.writeUInt32LE(8, 4);
      const body = Buffer.alloc(8);
      body.writeBigInt64LE(f);
      return Buffer.concat([head, body]);
    }
    head[0] = 2;
    head.writeUInt32LE(f.length, 4);
    return Buffer.concat([head, f]);
  });
  const payload = Buffer.concat(parts);
  const header = Buffer.alloc(8);
  header.writeUInt32LE(type, 0);
  header.writeUInt32LE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe('wire records', () => {
  it('lays out ints (negative, beyond 32 bits, bigint), strings (multi-byte) and bytes as wire.h says', () => {
    const ints = [0, 1, -1, -2, 0x7fffffff, 0x80000000, -(2 ** 31), -(2 ** 31) - 1, 2 ** 32, 2 ** 41 - 1, -(2 ** 33) - 5, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER];
    const record = encodeRecord(7, [...ints, BigInt(2) ** BigInt(63) - BigInt(1), -(BigInt(2) ** BigInt(63)), 'é/€/𝄞', '', Buffer.from([0, 255, 1])]);
    expect(record).toEqual(
      expected(7, [
        ...ints.map((n) => BigInt(n)),
        BigInt(2) ** BigInt(63) - BigInt(1),
        -(BigInt(2) ** BigInt(63)),
        Buffer.from('é/€/𝄞'),
        Buffer.alloc(0),
        Buffer.from([0, 255, 1]),
      ]),
    );
    expect(decodeRecord(record).fields.slice(0, ints.length)).toEqual(ints.map((n) => BigInt(n)));
  });

  it('keeps every record whole when the buffer grows past its first size', () => {
    const w = new WireWriter(16);
    const long = 'x'.repeat(5000);
    w.record(1, [long, 42]);
    w.record(2, []);
    w.record(3, ['€'.repeat(3000), Buffer.alloc(700, 9)]);
    expect(w.take()).toEqual(
      Buffer.concat([
        expected(1, [Buffer.from(long), BigInt(42)]),
        expected(2, []),
        expected(3, [Buffer.from('€'.repeat(3000)), Buffer.alloc(700, 9)]),
      ]),
    );
  });

  it('refuses what an int64 cannot hold, and non-integers', () => {
    expect(() => encodeRecord(1, [BigInt(2) ** BigInt(63)])).toThrow(RangeError);
    expect(() => encodeRecord(1, [-(BigInt(2) ** BigInt(63)) - BigInt(1)])).toThrow(RangeError);
    expect(() => encodeRecord(1, [1.5])).toThrow(RangeError);
    expect(() => encodeRecord(1, [NaN])).toThrow(RangeError);
  });
});
