import { HpackError } from './hpack-error';
import { latin1 } from './bytes';
import { huffmanDecode } from './huffman';

export { HpackError };

/**
 * HPACK (RFC 7541) for a client that only needs to read a server's headers and write its own
 * requests. The decoder is complete (static and dynamic table, size updates, Huffman strings);
 * the encoder writes literals that never touch the peer's dynamic table and never use Huffman,
 * so it is correct for any server whatever its table settings.
 */

export type HeaderList = [name: string, value: string][];

/** RFC 7541 Appendix A. */
const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/** Each entry's size counts 32 octets of overhead (RFC 7541 §4.1). */
const ENTRY_OVERHEAD = 32;

/** One connection's decoding context: the dynamic table outlives each header block. */
export class HpackDecoder {
  /** newest first, as HPACK indexes it */
  private readonly dynamic: [string, string][] = [];
  private size = 0;
  private maxSize: number;

  /** `limit`: the SETTINGS_HEADER_TABLE_SIZE this side announced (4096 unless it sent another) */
  constructor(private readonly limit = 4096) {
    this.maxSize = limit;
  }

  /** Decodes one complete header block (HEADERS plus any CONTINUATION payloads, joined). */
  decode(block: Buffer): HeaderList {
    const headers: HeaderList = [];
    let pos = 0;
    let fieldSeen = false;
    // RFC 7541 §5.1: an integer in an N-bit prefix, continued in 7-bit groups
    const int = (prefixBits: number): number => {
      const max = (1 << prefixBits) - 1;
      let value = block[pos++]! & max;
      if (value < max) return value;
      for (let shift = 0; ; shift += 7) {
        if (pos >= block.length) throw new HpackError('a header block ends inside an integer');
        if (shift > 28) throw new HpackError('a header integer is too large');
        const b = block[pos++]!;
        value += (b & 0x7f) * 2 ** shift;
        if ((b & 0x80) === 0) return value;
      }
    };
    const str = (): string => {
      if (pos >= block.length) throw new HpackError('a header block ends inside a string');
      const huffman = (block[pos]! & 0x80) !== 0;
      const length = int(7);
      if (pos + length > block.length) throw new HpackError('a header string is longer than its block');
      const raw = block.subarray(pos, pos + length);
      pos += length;
      return huffman ? huffmanDecode(raw) : latin1(raw);
    };
    while (pos < block.length) {
      const b = block[pos]!;
      if (b & 0x80) {
        // indexed header field
        const index = int(7);
        const [name, value] = this.entry(index);
        headers.push([name, value]);
        fieldSeen = true;
      } else if ((b & 0xc0) === 0x40) {
        // literal with incremental indexing
        const index = int(6);
        const name = index === 0 ? str() : this.entry(index)[0];
        const value = str();
        headers.push([name, value]);
        this.insert(name, value);
        fieldSeen = true;
      } else if ((b & 0xe0) === 0x20) {
        // dynamic table size update: only at the start of a block
        if (fieldSeen) throw new HpackError('a dynamic table size update after a header field');
        const size = int(5);
        if (size > this.limit) throw new HpackError(`a dynamic table size update to ${size} above the announced ${this.limit}`);
        this.maxSize = size;
        this.evict(0);
      } else {
        // literal without indexing (0000) or never indexed (0001): 4-bit name index
        const index = int(4);
        const name = index === 0 ? str() : this.entry(index)[0];
        headers.push([name, str()]);
        fieldSeen = true;
      }
    }
    return headers;
  }

  private entry(index: number): readonly [string, string] {
    if (index === 0) throw new HpackError('header index 0');
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]!;
    const e = this.dynamic[index - STATIC_TABLE.length - 1];
    if (!e) throw new HpackError(`header index ${index} is not in the table`);
    return e;
  }

  private insert(name: string, value: string): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    this.evict(size);
    // an entry larger than the whole table empties it and is not added (RFC 7541 §4.4)
    if (size > this.maxSize) return;
    this.dynamic.unshift([name, value]);
    this.size += size;
  }

  /** Makes room for `incoming` octets. */
  private evict(incoming: number): void {
    while (this.dynamic.length > 0 && this.size + incoming > this.maxSize) {
      const [n, v] = this.dynamic.pop()!;
      this.size -= n.length + v.length + ENTRY_OVERHEAD;
    }
  }
}

/** Writes an integer (§5.1) at `at`; returns where the next octet goes. */
function writeInteger(out: Uint8Array, at: number, value: number, prefixBits: number, firstByteFlags: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out[at++] = firstByteFlags | value;
    return at;
  }
  out[at++] = firstByteFlags | max;
  let rest = value - max;
  while (rest >= 0x80) {
    out[at++] = (rest & 0x7f) | 0x80;
    rest = Math.floor(rest / 128);
  }
  out[at++] = rest;
  return at;
}

const STATIC_NAME_INDEX = new Map<string, number>();
STATIC_TABLE.forEach(([name], i) => {
  if (!STATIC_NAME_INDEX.has(name)) STATIC_NAME_INDEX.set(name, i + 1);
});

/**
 * A header block of literal fields "without indexing" (RFC 7541 §6.2.2): the name by its static
 * index when it has one, strings raw (latin1: the low octet of each UTF-16 unit, like Buffer's
 * 'latin1'). Nothing enters the server's dynamic table. Indexed loops and one buffer: it runs
 * cold, in the interpreter, where an iterator or a Buffer per string allocates for each octet.
 */
export function encodeHeaders(headers: HeaderList): Buffer {
  // per string at most 6 octets of length prefix; per field one octet of name index or 0
  let bound = 0;
  for (let i = 0; i < headers.length; i++) bound += headers[i]![0].length + headers[i]![1].length + 16;
  const out = Buffer.allocUnsafe(bound);
  let at = 0;
  const str = (s: string): void => {
    at = writeInteger(out, at, s.length, 7, 0);
    for (let i = 0; i < s.length; i++) out[at++] = s.charCodeAt(i) & 0xff;
  };
  for (let i = 0; i < headers.length; i++) {
    const name = headers[i]![0];
    const index = STATIC_NAME_INDEX.get(name);
    if (index !== undefined) at = writeInteger(out, at, index, 4, 0);
    else {
      out[at++] = 0;
      str(name);
    }
    str(headers[i]![1]);
  }
  return out.subarray(0, at);
}
