import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { TarParser, TarWriter, type TarEntryHeader, type TarWriteEntry } from '../src';
import { encodePaxRecords, formatPaxTime, parsePaxRecords, parsePaxTime } from '../src/lib/pax';
import { decodeHeader, encodeHeader } from '../src/lib/tar-header';
import { encodeEntryHeaders } from '../src/lib/tar-writer';
import { archive, rawEntry } from './support/raw-tar';
import { chunked, collect, tempDir } from './support/tree';

describe('pax records', () => {
  it('round-trips records whose length prefix crosses a digit boundary', () => {
    for (const n of [0, 1, 2, 3, 4, 5, 6, 90, 91, 92, 93, 94, 95, 96, 97, 98, 990, 991, 992, 993, 994, 995, 996, 997]) {
      const value = 'v'.repeat(n);
      const data = encodePaxRecords([['k', value]]);
      expect(Number(data.toString().split(' ')[0])).toBe(data.length);
      expect(parsePaxRecords(data, 0).get('k')?.toString()).toBe(value);
    }
  });

  it('keeps binary values, newlines and "=" in values', () => {
    const value = Buffer.from([0, 10, 61, 255, 32]);
    const parsed = parsePaxRecords(encodePaxRecords([['SCHILY.xattr.user.a=b', value]]), 0);
    // the key ends at the first "=": "=" in xattr names cannot be stored, as in GNU tar
    expect(parsed.get('SCHILY.xattr.user.a')).toEqual(Buffer.concat([Buffer.from('b='), value]));
  });

  it.each([
    ['no length', ' path=x\n', /has no length/],
    ['a non-decimal length', '1x path=x\n', /not a decimal number/],
    ['a length past the end', '99 path=x\n', /does not fit/],
    ['a record not ending in a newline', '10 path=xy', /does not end at a newline/],
    ['an empty key', '9 =value\n', /empty key/],
  ])('refuses %s', (_what, text, message) => {
    expect(() => parsePaxRecords(Buffer.from(text), 512)).toThrow(message);
  });

  it('parses and formats times with fractions, before and after 1970', () => {
    expect(parsePaxTime('1700000000.123456789123', 0)).toBe(1_700_000_000_123_456_789n);
    expect(parsePaxTime('5.5', 0)).toBe(5_500_000_000n);
    expect(parsePaxTime('-1.25', 0)).toBe(-1_250_000_000n);
    expect(formatPaxTime(-1_250_000_000n)).toBe('-1.25');
    expect(formatPaxTime(7_000_000_000n)).toBe('7');
    expect(() => parsePaxTime('1e9', 0)).toThrow(/not a decimal number/);
  });
});

describe('header blocks', () => {
  const base = { name: Buffer.from('f'), mode: 0o644, uid: 1, gid: 2, size: 3, mtime: 4, typeflag: '0' };

  it('round-trips ustar fields and base-256 numbers', () => {
    const h = decodeHeader(encodeHeader({ ...base, devmajor: 0o7777777 + 5, devminor: 7 }), 0);
    expect(h).toMatchObject({ name: 'f', mode: 0o644, uid: 1, gid: 2, size: 3, mtime: 4, typeflag: '0', devmajor: 0o7777777 + 5, devminor: 7, format: 'ustar' });
  });

  it('reads negative base-256 times (GNU) and refuses them elsewhere', () => {
    const block = encodeHeader(base);
    block.fill(0xff, 136, 148); // mtime -1
    fixChecksum(block);
    expect(decodeHeader(block, 0).mtime).toBe(-1);
    block.fill(0xff, 108, 116); // uid -1
    fixChecksum(block);
    expect(() => decodeHeader(block, 0)).toThrow(/negative uid/);
  });

  it('accepts GNU headers and ignores their prefix area', () => {
    const block = encodeHeader({ ...base, prefix: Buffer.from('ignored') });
    block.write('ustar  \0', 257, 'latin1');
    fixChecksum(block);
    expect(decodeHeader(block, 0)).toMatchObject({ name: 'f', prefix: '', format: 'gnu' });
  });
});

describe('TarWriter', () => {
  const entry = (over: Partial<TarWriteEntry>): TarWriteEntry => ({ path: 'x', type: 'file', mode: 0o644, uid: 0, gid: 0, mtimeNs: 1_000_000_000n, ...over });

  async function headerOf(bytes: Buffer): Promise<TarEntryHeader> {
    for await (const e of new TarParser(chunked(bytes))) return e.header;
    throw new Error('no entry');
  }

  it('puts what ustar cannot hold into pax records', async () => {
    const h = await headerOf(
      Buffer.concat([
        encodeEntryHeaders(entry({ path: `${'p'.repeat(300)}/ü`, type: 'symlink', linkpath: 'l'.repeat(200), uid: 3_000_000, gid: 2_097_152, mtimeNs: 1_700_000_000_000_000_001n, uname: 'u'.repeat(40) }), 0),
        Buffer.alloc(1024),
      ]),
    );
    expect(h).toMatchObject({ path: `${'p'.repeat(300)}/ü`, linkpath: 'l'.repeat(200), uid: 3_000_000, gid: 2_097_152, mtimeNs: 1_700_000_000_000_000_001n, uname: 'u'.repeat(40) });
  });

  it('writes sizes of 8 GiB and more as pax size (header read only)', async () => {
    const size = 20 * 1024 * 1024 * 1024;
    const header = encodeEntryHeaders(entry({ size }), size);
    const parser = new TarParser(chunked(header));
    for await (const e of parser) {
      expect(e.header.size).toBe(size);
      break;
    }
  });

  it('refuses to write a pax header its own reader would refuse', () => {
    expect(() => encodeEntryHeaders(entry({ xattrs: { 'user.big': Buffer.alloc(2 * 1024 * 1024) } }), 0)).toThrow(/pax header of x would be \d+ bytes \(limit 1048576\)/);
  });

  it('splits paths of up to 255 bytes into ustar prefix and name without pax', () => {
    const path = `${'a'.repeat(150)}/${'b'.repeat(99)}`;
    const bytes = encodeEntryHeaders(entry({ path }), 0);
    expect(bytes.length).toBe(512);
    expect(decodeHeader(bytes, 0)).toMatchObject({ prefix: 'a'.repeat(150), name: 'b'.repeat(99) });
  });

  it('waits for the reader (backpressure) and aborts on a body of the wrong length', async () => {
    const writer = new TarWriter({ highWaterMark: 64 * 1024 });
    let added = false;
    const adding = writer.add(entry({ size: 1024 * 1024 }), Buffer.alloc(1024 * 1024)).then(() => (added = true));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(added).toBe(false);
    const reading = collect(writer.stream);
    await adding;
    await expect(writer.add(entry({ path: 'short', size: 10 }), Buffer.alloc(5))).rejects.toThrow(/has 5 bytes, its header says 10/);
    await expect(reading).rejects.toThrow(/has 5 bytes/);
  });

  it('rejects pending and later adds once the reader destroys the stream', async () => {
    const writer = new TarWriter({ highWaterMark: 1024 });
    const adding = writer.add(entry({ size: 1024 * 1024 }), Buffer.alloc(1024 * 1024));
    writer.stream.destroy();
    await expect(adding).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('writes archives GNU tar reads', async () => {
    const tmp = tempDir('writer');
    try {
      const writer = new TarWriter();
      const reading = collect(writer.stream);
      await writer.add(entry({ path: 'dir', type: 'dir', mode: 0o755 }));
      await writer.add(entry({ path: 'dir/file', size: 5 }), Buffer.from('hello'));
      await writer.add(entry({ path: 'dir/link', type: 'hardlink', linkpath: 'dir/file' }));
      await writer.add(entry({ path: `dir/${'long'.repeat(50)}`, type: 'symlink', linkpath: 'file' }));
      await writer.finish();
      const file = join(tmp.path, 'w.tar');
      fs.writeFileSync(file, await reading);
      expect(execFileSync('tar', ['-tvf', file]).toString()).toMatch(/dir\/link link to dir\/file/);
      execFileSync('tar', ['-xf', file, '-C', tmp.path]);
      expect(fs.readFileSync(join(tmp.path, 'dir/link'), 'utf8')).toBe('hello');
      expect(fs.readlinkSync(join(tmp.path, `dir/${'long'.repeat(50)}`))).toBe('file');
    } finally {
      tmp.cleanup();
    }
  });
});

describe('TarParser', () => {
  it('skips bodies the consumer does not read, and refuses reading a body after moving on', async () => {
    const bytes = archive(rawEntry({ name: 'a', body: 'A'.repeat(1000) }), rawEntry({ name: 'b', body: 'bee' }));
    const seen: string[] = [];
    for await (const e of new TarParser(chunked(bytes, 100))) {
      seen.push(e.header.path);
      if (e.header.path === 'b') expect((await collect(e.body)).toString()).toBe('bee');
    }
    expect(seen).toEqual(['a', 'b']);

    const entries = new TarParser(chunked(bytes, 100))[Symbol.asyncIterator]();
    const first = await entries.next();
    await entries.next();
    if (first.done) throw new Error('no entry');
    await expect(collect(first.value.body)).rejects.toThrow(/read after the parser moved on/);
  });

  it('reads GNU long names and links (L/K)', async () => {
    const long = 'n'.repeat(300);
    const bytes = archive(
      rawEntry({ name: '././@LongLink', type: 'L', body: `${long}\0` }),
      rawEntry({ name: '././@LongLink', type: 'K', body: `${long}-target\0` }),
      rawEntry({ name: long.slice(0, 100), type: '2', linkname: 'x' }),
    );
    for await (const e of new TarParser(chunked(bytes))) expect(e.header).toMatchObject({ path: long, linkpath: `${long}-target`, type: 'symlink' });
  });

  it('ignores trailing zeros after the end marker (tar pads to a 10 KiB record)', async () => {
    const bytes = Buffer.concat([archive(rawEntry({ name: 'a', body: 'a' })), Buffer.alloc(8192)]);
    const names: string[] = [];
    for await (const e of new TarParser(chunked(bytes))) names.push(e.header.path);
    expect(names).toEqual(['a']);
  });

  it('flags names that are not UTF-8', async () => {
    const h = rawEntry({ name: 'x', body: '' });
    h[0] = 0xff;
    fixChecksum(h);
    for await (const e of new TarParser(chunked(Buffer.concat([h, Buffer.alloc(1024)])))) expect(e.header.invalidUtf8).toBe(true);
  });
});

function fixChecksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += block[i] ?? 0;
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
}
