/**
 * Hand-made tar bytes for attack archives (the archive library's writer would refuse to write
 * most of them). ustar headers, optionally preceded by a pax 'x' header.
 */
export interface RawEntry {
  name: string;
  /** '0' file, '1' hardlink, '2' symlink, '3' char device, '4' block device, '5' dir, '6' fifo, 'x' pax */
  type?: string;
  body?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  linkname?: string;
  /** a size field that disagrees with the body */
  sizeField?: number;
  devMajor?: number;
  devMinor?: number;
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

export function rawEntry(e: RawEntry): Buffer {
  const body = typeof e.body === 'string' ? Buffer.from(e.body) : (e.body ?? Buffer.alloc(0));
  const h = Buffer.alloc(512);
  h.write(e.name, 0, 100, 'utf8');
  h.write(octal(e.mode ?? (e.type === '5' ? 0o755 : 0o644), 8), 100, 'ascii');
  h.write(octal(e.uid ?? 0, 8), 108, 'ascii');
  h.write(octal(e.gid ?? 0, 8), 116, 'ascii');
  h.write(octal(e.sizeField ?? body.length, 12), 124, 'ascii');
  h.write(octal(1_700_000_000, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(e.type ?? '0', 156, 'ascii');
  h.write(e.linkname ?? '', 157, 100, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write(octal(e.devMajor ?? 0, 8), 329, 'ascii');
  h.write(octal(e.devMinor ?? 0, 8), 337, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  const pad = Buffer.alloc((512 - (body.length % 512)) % 512);
  return Buffer.concat([h, body, pad]);
}

/** A pax extended header carrying `records` (key → value), for the entry after it. */
export function paxEntry(records: Record<string, string>, name = 'PaxHeader'): Buffer {
  const lines = Object.entries(records).map(([k, v]) => {
    const tail = ` ${k}=${v}\n`;
    let len = Buffer.byteLength(tail) + 1;
    while (String(len).length + Buffer.byteLength(tail) !== len) len = String(len).length + Buffer.byteLength(tail);
    return `${len}${tail}`;
  });
  return rawEntry({ name, type: 'x', body: lines.join('') });
}

/** Entries followed by the two zero blocks that end an archive. */
export function archive(...entries: Buffer[]): Buffer {
  return Buffer.concat([...entries, Buffer.alloc(1024)]);
}
