/**
 * Big-endian reads and writes, concatenation and latin1 text by plain indexing and the typed
 * arrays' own methods. Buffer's methods (readUInt32BE, concat, copy, toString('latin1')) are
 * JavaScript in node's library, compiled when first called: 0.05-0.15 ms each, every one of them
 * once on ring0's start-up path; these cost next to nothing the first time.
 */

export function u16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

export function u24(b: Uint8Array, at: number): number {
  return (b[at]! << 16) | (b[at + 1]! << 8) | b[at + 2]!;
}

export function u32(b: Uint8Array, at: number): number {
  return b[at]! * 0x1000000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
}

export function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 8;
  b[at + 1] = v;
}

export function put24(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 16;
  b[at + 1] = v >>> 8;
  b[at + 2] = v;
}

export function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

/** One buffer holding the parts in order. */
export function concat(parts: readonly Uint8Array[]): Buffer {
  let size = 0;
  for (let i = 0; i < parts.length; i++) size += parts[i]!.length;
  const out = Buffer.allocUnsafe(size);
  for (let i = 0, at = 0; i < parts.length; at += parts[i]!.length, i++) out.set(parts[i]!, at);
  return out;
}

/** String.fromCharCode takes its octets as arguments: at most this many per call */
const LATIN1_CHUNK = 4096;

/**
 * Octets as a string, one character per octet (HTTP/2 header fields are octets). One string per
 * chunk, not one per character: this runs cold, where `s +=` makes a string object per octet.
 */
export function latin1(b: Uint8Array): string {
  if (b.length <= LATIN1_CHUNK) return String.fromCharCode.apply(null, b as unknown as number[]);
  let s = '';
  for (let i = 0; i < b.length; i += LATIN1_CHUNK) s += String.fromCharCode.apply(null, b.subarray(i, i + LATIN1_CHUNK) as unknown as number[]);
  return s;
}
