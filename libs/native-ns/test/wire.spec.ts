import { decodeRecord, encodeRecord } from '../src/lib/wire';

// The records on a stage's control channel: what the C side (src/core/wire.c) reads, byte for byte.
describe('wire records', () => {
  it('encode every kind of field so that they decode to the same values', () => {
    const fields = [0, 7, -1, 0x7fffffff, -0x80000000, 2 ** 40 + 3, -(2 ** 40), 2n ** 62n, 'ascii', 'ünïcode ✓', '', Buffer.from([0, 1, 255])];
    const buf = encodeRecord(42, fields);
    const { type, fields: decoded } = decodeRecord(buf);
    expect(type).toBe(42);
    expect(decoded).toEqual([0n, 7n, -1n, 0x7fffffffn, -0x80000000n, 2n ** 40n + 3n, -(2n ** 40n), 2n ** 62n, Buffer.from('ascii'), Buffer.from('ünïcode ✓'), Buffer.alloc(0), Buffer.from([0, 1, 255])]);
    // the layout: {u32 type, u32 len}, then {u8 kind, 3 zero bytes, u32 len} + data per field
    const small = encodeRecord(3, [-2, 'ab']);
    expect(small.toString('hex')).toBe('03000000' + '1a000000' + '01000000' + '08000000' + 'feffffffffffffff' + '02000000' + '02000000' + '6162');
  });

  it('refuses numbers it cannot carry', () => {
    expect(() => encodeRecord(1, [1.5])).toThrow(/not an integer|out of range/);
    expect(() => encodeRecord(1, [2n ** 64n])).toThrow(/not an integer|out of range/);
  });
});
