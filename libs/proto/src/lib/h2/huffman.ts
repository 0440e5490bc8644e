import { HpackError } from './hpack-error';

/**
 * HPACK's static Huffman code (RFC 7541 Appendix B), decoding only. The code is canonical: the
 * bit length of each octet's code is all it takes to rebuild the codes (shorter codes first,
 * equal lengths in octet order), and EOS (256) is the 30-bit all-ones code after the last one.
 * test/h2/huffman.spec.ts checks the table against node:http2's own encoder, octet by octet.
 */
const CODE_LENGTHS =
  '13,23,28,28,28,28,28,28,28,24,30,28,28,30,28,28,28,28,28,28,28,28,30,28,28,28,28,28,28,28,28,28,' +
  '6,10,10,12,13,6,8,11,10,10,8,11,8,6,6,6,5,5,5,6,6,6,6,6,6,6,7,8,15,6,12,10,' +
  '13,6,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,8,7,8,13,19,13,14,6,' +
  '15,5,6,5,6,5,6,6,6,5,7,7,6,6,6,5,6,7,6,5,5,6,7,7,7,7,7,15,11,14,13,28,' +
  '20,22,20,20,22,22,22,23,22,23,23,23,23,23,24,23,24,24,22,23,24,23,23,23,23,21,22,23,22,23,23,24,' +
  '22,21,20,22,22,23,23,21,23,22,22,24,21,22,23,23,21,21,22,21,23,22,23,23,20,22,22,22,23,22,22,23,' +
  '26,26,20,19,22,23,22,25,26,26,26,27,27,26,24,25,19,21,26,27,27,26,27,24,21,21,26,26,28,27,27,27,' +
  '20,24,20,21,22,21,21,23,22,22,25,25,24,24,26,23,26,27,26,26,27,27,27,27,27,28,27,27,27,27,27,26';

const EOS = 256;

/**
 * The decoding tree, as two child arrays: node 0 is the root; a child value > 0 is an inner node,
 * <= 0 is a leaf holding -symbol; -1 marks "no such code" (only reachable past EOS's prefix).
 */
let tree: { zero: Int32Array; one: Int32Array } | undefined;

function buildTree(): { zero: Int32Array; one: Int32Array } {
  const lengths = CODE_LENGTHS.split(',').map(Number);
  lengths.push(30); // EOS
  const symbols = lengths.map((_, s) => s).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  const zero = new Int32Array(2 * symbols.length).fill(-1 - EOS - 1);
  const one = new Int32Array(2 * symbols.length).fill(-1 - EOS - 1);
  let nodes = 1;
  let code = 0;
  let previous = lengths[symbols[0]!]!;
  symbols.forEach((symbol, i) => {
    const length = lengths[symbol]!;
    if (i > 0) code = (code + 1) * 2 ** (length - previous);
    previous = length;
    let node = 0;
    for (let bit = length - 1; bit >= 0; bit--) {
      const side = Math.floor(code / 2 ** bit) % 2 === 1 ? one : zero;
      if (bit === 0) side[node] = -symbol;
      else {
        if (side[node]! <= 0) side[node] = nodes++;
        node = side[node]!;
      }
    }
  });
  return { zero, one };
}

/** Decodes a Huffman-coded HPACK string; malformed input (EOS, bad padding) is an HpackError. */
export function huffmanDecode(data: Buffer): string {
  tree ??= buildTree();
  const { zero, one } = tree;
  const out: number[] = [];
  let node = 0;
  /** bits read since the last complete symbol, and whether all of them were 1 (EOS's prefix) */
  let pendingBits = 0;
  let allOnes = true;
  for (const byte of data) {
    for (let bit = 7; bit >= 0; bit--) {
      const isOne = ((byte >> bit) & 1) === 1;
      const next = isOne ? one[node]! : zero[node]!;
      pendingBits++;
      allOnes &&= isOne;
      if (next > 0) {
        node = next;
        continue;
      }
      const symbol = -next;
      if (symbol === EOS) throw new HpackError('a Huffman string contains EOS');
      if (symbol > EOS) throw new HpackError('a Huffman string contains an invalid code');
      out.push(symbol);
      node = 0;
      pendingBits = 0;
      allOnes = true;
    }
  }
  // RFC 7541 §5.2: padding is fewer than 8 bits, all ones (the start of EOS)
  if (pendingBits > 7 || !allOnes) throw new HpackError('a Huffman string has invalid padding');
  return Buffer.from(out).toString('latin1');
}
