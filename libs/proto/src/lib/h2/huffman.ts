import { latin1 } from './bytes';
import { HpackError } from './hpack-error';

/**
 * HPACK's static Huffman code (RFC 7541 Appendix B), decoding only. The code is canonical: codes
 * are numbered in order of length, equal lengths in octet order, and EOS is the 30-bit all-ones
 * code after the last one. So two small tables are the whole code: how many codes each length
 * has, and the octets in code order. (Both are derived from the RFC's table of code lengths; the
 * tests check them against node:http2's own encoder octet by octet, and the structure: a
 * permutation of all 256 octets, a complete code with EOS.) Decoding runs on ring0's start-up
 * path, cold: no table to build, plain indexed loops.
 */

/** CODES_PER_LENGTH[n]: how many octets have an n-bit code (5..30) */
export const CODES_PER_LENGTH = [0, 0, 0, 0, 0, 10, 26, 32, 6, 0, 5, 3, 2, 6, 2, 3, 0, 0, 0, 3, 8, 13, 26, 29, 12, 4, 15, 19, 29, 0, 3];

/** the 256 octets in code order: shorter codes first, equal lengths by value */
export const OCTETS_IN_CODE_ORDER =
  '\x30\x31\x32\x61\x63\x65\x69\x6f\x73\x74\x20\x25\x2d\x2e\x2f\x33\x34\x35\x36\x37\x38\x39\x3d\x41\x5f\x62\x64\x66\x67\x68\x6c\x6d' +
  '\x6e\x70\x72\x75\x3a\x42\x43\x44\x45\x46\x47\x48\x49\x4a\x4b\x4c\x4d\x4e\x4f\x50\x51\x52\x53\x54\x55\x56\x57\x59\x6a\x6b\x71\x76' +
  '\x77\x78\x79\x7a\x26\x2a\x2c\x3b\x58\x5a\x21\x22\x28\x29\x3f\x27\x2b\x7c\x23\x3e\x00\x24\x40\x5b\x5d\x7e\x5e\x7d\x3c\x60\x7b\x5c' +
  '\xc3\xd0\x80\x82\x83\xa2\xb8\xc2\xe0\xe2\x99\xa1\xa7\xac\xb0\xb1\xb3\xd1\xd8\xd9\xe3\xe5\xe6\x81\x84\x85\x86\x88\x92\x9a\x9c\xa0' +
  '\xa3\xa4\xa9\xaa\xad\xb2\xb5\xb9\xba\xbb\xbd\xbe\xc4\xc6\xe4\xe8\xe9\x01\x87\x89\x8a\x8b\x8c\x8d\x8f\x93\x95\x96\x97\x98\x9b\x9d' +
  '\x9e\xa5\xa6\xa8\xae\xaf\xb4\xb6\xb7\xbc\xbf\xc5\xe7\xef\x09\x8e\x90\x91\x94\x9f\xab\xce\xd7\xe1\xec\xed\xc7\xcf\xea\xeb\xc0\xc1' +
  '\xc8\xc9\xca\xcd\xd2\xd5\xda\xdb\xee\xf0\xf2\xf3\xff\xcb\xcc\xd3\xd4\xd6\xdd\xde\xdf\xf1\xf4\xf5\xf6\xf7\xf8\xfa\xfb\xfc\xfd\xfe' +
  '\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f\xdc\xf9\x0a\x0d\x16';

const MAX_LENGTH = 30;
const EOS_CODE = 0x3fffffff;

/** per length: the first code, and the index of its first octet in OCTETS_IN_CODE_ORDER */
const FIRST_CODE: number[] = [];
const FIRST_INDEX: number[] = [];
for (let length = 0, code = 0, index = 0; length <= MAX_LENGTH; length++) {
  FIRST_CODE.push(code);
  FIRST_INDEX.push(index);
  code = (code + CODES_PER_LENGTH[length]!) * 2;
  index += CODES_PER_LENGTH[length]!;
}

/** Decodes a Huffman-coded HPACK string; malformed input (EOS, bad padding) is an HpackError. */
export function huffmanDecode(data: Buffer): string {
  // the shortest code has 5 bits; the octets become one string at the end (see latin1)
  const out = new Uint8Array(Math.ceil((data.length * 8) / 5));
  let n = 0;
  let code = 0;
  let length = 0;
  for (let i = 0; i < data.length; i++) {
    const byte = data[i]!;
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      length++;
      const offset = code - FIRST_CODE[length]!;
      if (offset < CODES_PER_LENGTH[length]!) {
        out[n++] = OCTETS_IN_CODE_ORDER.charCodeAt(FIRST_INDEX[length]! + offset);
        code = 0;
        length = 0;
      } else if (length === MAX_LENGTH) {
        throw new HpackError(code === EOS_CODE ? 'a Huffman string contains EOS' : 'a Huffman string contains an invalid code');
      }
    }
  }
  // RFC 7541 §5.2: padding is fewer than 8 bits, all ones (the start of EOS)
  if (length > 7 || code !== 2 ** length - 1) throw new HpackError('a Huffman string has invalid padding');
  return latin1(out.subarray(0, n));
}
