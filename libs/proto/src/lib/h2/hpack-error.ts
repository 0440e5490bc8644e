/** A header block or Huffman string that does not decode: a connection error (COMPRESSION_ERROR). */
export class HpackError extends Error {}
