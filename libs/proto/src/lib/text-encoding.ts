import { configureTextEncoding } from '@bufbuild/protobuf/wire';
import { isUtf8 } from 'node:buffer';

/**
 * UTF-8 for the generated messages through node's Buffer instead of TextEncoder/TextDecoder:
 * the first decode with a (fatal) TextDecoder sets up ICU, ~0.25 ms on ring0's start-up path,
 * where the first PrepareForUserNS answer carries the first strings. Same results: strict
 * decoding refuses invalid UTF-8, lenient decoding puts U+FFFD in its place, a leading U+FEFF
 * stays part of the text.
 */
let installed = false;

export function useNodeTextEncoding(): void {
  if (installed) return;
  installed = true;
  configureTextEncoding({
  checkUtf8(text) {
    try {
      encodeURIComponent(text); // throws on a lone surrogate, the one thing UTF-8 cannot carry
      return true;
    } catch {
      return false;
    }
  },
  encodeUtf8(text) {
    const b = Buffer.from(text, 'utf8');
    return new Uint8Array(b.buffer as ArrayBuffer, b.byteOffset, b.length);
  },
  decodeUtf8(bytes, strict) {
    if (strict && !isUtf8(bytes)) throw new Error('invalid UTF-8');
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
  },
  });
}
