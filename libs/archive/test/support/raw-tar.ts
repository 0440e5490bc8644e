/**
 * Hand-made tar bytes for attack tests, written independently of src/ (system tar refuses to
 * produce most of these). Every field can be given raw, and the checksum can be broken.
 */

export interface RawEntry {
  name: string;
  /** typeflag character: '0' file, '1' hardlink, '2' symlink, '3' char, '5' dir, '6' fifo, 'x' pax ... */
  type?: string;
  body?: Buffer | string;
  /** the size field; defaults to the body length */
  size?: number;
  /** the size field as raw text (12 bytes), overriding `size` */
  sizeField?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  badChecksum?: boolean;
}

function octal(value: number, len: number): string {
  return value.toString(8).padStart(len - 1, '0') + '\0';
}

export function rawHeader(e: RawEntry): Buffer {
  const h = Buffer.alloc(512);
  const body = typeof e.body === 'string' ? Buffer.from(e.body) : (e.body ?? Buffer.alloc(0));
  h.write(e.name, 0, 100, 'utf8');
  h.write(octal(e.mode ?? 0o644, 8), 100, 'latin1');
  h.write(octal(e.uid ?? 0, 8), 108, 'latin1');
  h.write(octal(e.gid ?? 0, 8), 116, 'latin1');
  h.write(e.sizeField ?? octal(e.size ?? body.length, 12), 124, 'latin1');
  h.write(octal(e.mtime ?? 1_700_000_000, 12), 136, 'latin1');
  h.write(e.type ?? '0', 156, 'latin1');
  h.write(e.linkname ?? '', 157, 100, 'utf8');
  h.write('ustar\x0000', 257, 'latin1');
  h.write(octal(e.devmajor ?? 0, 8), 329, 'latin1');
  h.write(octal(e.devminor ?? 0, 8), 337, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  if (e.badChecksum) sum += 1;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}

function pad(buf: Buffer): Buffer {
  const extra = (512 - (buf.length % 512)) % 512;
  return Buffer.concat([buf, Buffer.alloc(extra)]);
}

/** Header plus padded body. */
export function rawEntry(e: RawEntry): Buffer {
  const body = typeof e.body === 'string' ? Buffer.from(e.body) : (e.body ?? Buffer.alloc(0));
  return Buffer.concat([rawHeader(e), pad(body)]);
}

/** One correctly sized pax record. */
export function paxRecord(key: string, value: string | Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`), Buffer.isBuffer(value) ? value : Buffer.from(value), Buffer.from('\n')]);
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
  return Buffer.concat([Buffer.from(String(len)), rest]);
}

/** A pax "x" header with the given (raw) record bytes. */
export function rawPax(records: Buffer, type = 'x'): Buffer {
  return rawEntry({ name: 'PaxHeaders/x', type, body: records });
}

export const END = Buffer.alloc(1024);

export function archive(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, END]);
}
