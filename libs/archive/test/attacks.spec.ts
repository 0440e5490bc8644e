import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { extractTar, type ExtractOptions, type ExtractResult } from '../src';
import { archive, END, paxRecord, rawEntry, rawHeader, rawPax } from './support/raw-tar';
import { chunked, diffTrees, snapshot, tempDir } from './support/tree';

/**
 * Every attack is its own hand-made archive. After each, nothing outside the destination root
 * may have changed: a sentinel folder next to the root (with a planted file) is compared with
 * its snapshot from before, and /etc/passwd keeps its content and link count.
 */
describe('extraction attacks', () => {
  let base: ReturnType<typeof tempDir>;
  let root: string;
  let outside: string;
  let before: ReturnType<typeof snapshot>;
  const passwd = (): string => {
    const st = fs.statSync('/etc/passwd');
    return `${st.nlink}:${createHash('sha256').update(fs.readFileSync('/etc/passwd')).digest('hex')}`;
  };
  const passwdBefore = passwd();
  // "root" and "allowed" (a second root for the same archive with other options) are destinations
  const isDestination = (p: string): boolean => ['root', 'allowed'].some((d) => p === d || p.startsWith(`${d}/`));
  const outsideOfRoot = (): ReturnType<typeof snapshot> => new Map([...snapshot(base.path)].filter(([p]) => !isDestination(p)));

  beforeEach(() => {
    base = tempDir('attack');
    root = join(base.path, 'root');
    outside = join(base.path, 'outside');
    fs.mkdirSync(root);
    fs.mkdirSync(outside);
    fs.writeFileSync(join(outside, 'file'), 'original\n');
    before = outsideOfRoot();
  });
  afterEach(() => {
    // the invariant every test shares
    expect(diffTrees(before, outsideOfRoot())).toEqual([]);
    expect(fs.readFileSync(join(outside, 'file'), 'utf8')).toBe('original\n');
    expect(passwd()).toBe(passwdBefore);
    base.cleanup();
  });

  const extract = (bytes: Buffer, opts: ExtractOptions = {}): Promise<ExtractResult> => extractTar(chunked(bytes, 1000), { path: root }, opts);
  const rootEntries = (): string[] => fs.readdirSync(root).sort();
  const file = (name: string, body = 'pwned\n'): Buffer => rawEntry({ name, body });
  const symlink = (name: string, target: string): Buffer => rawEntry({ name, type: '2', linkname: target });
  const hardlink = (name: string, target: string): Buffer => rawEntry({ name, type: '1', linkname: target });
  const dir = (name: string): Buffer => rawEntry({ name, type: '5', mode: 0o755 });

  describe('names', () => {
    it.each(['/ABS', '////ABS', '/./ABS'])('refuses the absolute path %s', async (pattern) => {
      const name = pattern.replace('ABS', join(outside, 'abs-pwned').slice(1));
      const result = await extract(archive(file(name)));
      expect(result.refused).toEqual([{ path: name, reason: 'absolute path' }]);
      expect(result.entries).toBe(0);
      expect(rootEntries()).toEqual([]);
    });

    it.each(['a/../../outside/pwned', '../outside/pwned', '..', 'a/..'])('refuses ".." in %s', async (name) => {
      const result = await extract(archive(name === '..' ? dir(name) : file(name)));
      expect(result.refused).toEqual([{ path: name, reason: '".." in path' }]);
      expect(rootEntries()).toEqual([]);
    });

    it('refuses empty names, NUL bytes and the reserved staging name, and keeps going', async () => {
      const result = await extract(
        archive(file(''), rawPax(paxRecord('path', 'nul\0name')), file('placeholder'), file('.wsrun-extract-0123456789abcdef/x'), file('fine')),
      );
      expect(result.refused.map((r) => r.reason)).toEqual(['empty name', 'name contains a NUL byte', 'reserved name .wsrun-extract-*']);
      expect(rootEntries()).toEqual(['fine']);
    });

    it('refuses a name that is not UTF-8', async () => {
      const h = rawEntry({ name: 'bad-name', body: 'x' });
      h[3] = 0xff;
      fixChecksum(h);
      const result = await extract(archive(h, file('fine')));
      expect(result.refused).toEqual([{ path: expect.stringMatching(/^bad\uFFFD/), reason: 'name or link target is not valid UTF-8' }]);
      expect(rootEntries()).toEqual(['fine']);
    });
  });

  describe('symlinks', () => {
    it('refuses evil -> /outside by default; evil/pwned then lands in a real directory inside', async () => {
      const result = await extract(archive(symlink('evil', outside), file('evil/pwned')));
      expect(result.refused).toEqual([{ path: 'evil', reason: `symlink target ${JSON.stringify(outside)} is absolute` }]);
      expect(fs.lstatSync(join(root, 'evil')).isDirectory()).toBe(true);
      expect(fs.readFileSync(join(root, 'evil/pwned'), 'utf8')).toBe('pwned\n');
    });

    it('with allowEscapingSymlinks keeps evil -> /outside but never writes through it', async () => {
      const result = await extract(archive(symlink('evil', outside), file('evil/pwned')), { allowEscapingSymlinks: true });
      expect(result.refused).toEqual([{ path: 'evil/pwned', reason: 'path passes through a symlink' }]);
      expect(fs.readlinkSync(join(root, 'evil'))).toBe(outside);
    });

    it.each([
      ['evil', '../outside'],
      ['sub/evil', '../../outside'],
      ['sub/evil', 'x/../../../outside'],
    ])('refuses %s -> %s (climbs above the root), and evil/pwned never leaves', async (link, target) => {
      const result = await extract(archive(symlink(link, target), file(`${link}/pwned`)));
      expect(result.refused).toEqual([{ path: link, reason: `symlink target ${JSON.stringify(target)} leaves the root` }]);
      const allowed = await extractInto('allowed', archive(symlink(link, target), file(`${link}/pwned`)), { allowEscapingSymlinks: true });
      expect(allowed.refused).toEqual([{ path: `${link}/pwned`, reason: 'path passes through a symlink' }]);
    });

    it('accepts a relative symlink that stays inside, but still never writes through it', async () => {
      const result = await extract(archive(dir('real'), symlink('sub/inside', '../real'), file('sub/inside/x')));
      expect(fs.readlinkSync(join(root, 'sub/inside'))).toBe('../real');
      expect(result.refused).toEqual([{ path: 'sub/inside/x', reason: 'path passes through a symlink' }]);
      expect(fs.readdirSync(join(root, 'real'))).toEqual([]);
    });

    it('a directory replaced by a symlink: dir a, symlink a -> /outside, then a/x', async () => {
      const bytes = archive(dir('a'), symlink('a', outside), file('a/x'));
      const strict = await extract(bytes);
      expect(strict.refused).toEqual([{ path: 'a', reason: `symlink target ${JSON.stringify(outside)} is absolute` }]);
      expect(fs.readFileSync(join(root, 'a/x'), 'utf8')).toBe('pwned\n');
      const allowed = await extractInto('allowed', bytes, { allowEscapingSymlinks: true });
      expect(allowed.refused).toEqual([{ path: 'a/x', reason: 'path passes through a symlink' }]);
    });

    it('a non-empty directory is never replaced by a symlink', async () => {
      const result = await extract(archive(dir('a'), file('a/keep'), symlink('a', outside), file('a/x')), { allowEscapingSymlinks: true });
      expect(result.refused).toEqual([{ path: 'a', reason: 'would replace a non-empty directory' }]);
      expect(fs.readdirSync(join(root, 'a')).sort()).toEqual(['keep', 'x']);
    });

    it('replaces a symlink already in the destination instead of following it', async () => {
      fs.symlinkSync(outside, join(root, 'existing'));
      const result = await extract(archive(file('existing/pwned')));
      expect(result.refused).toEqual([]);
      expect(fs.lstatSync(join(root, 'existing')).isDirectory()).toBe(true);
      expect(fs.readFileSync(join(root, 'existing/pwned'), 'utf8')).toBe('pwned\n');
    });
  });

  describe('hardlinks', () => {
    it.each(['/etc/passwd', '../outside/file', 'a/../../outside/file'])('refuses a hardlink to %s', async (target) => {
      const result = await extract(archive(hardlink('h', target)));
      expect(result.refused).toEqual([{ path: 'h', reason: `hardlink target ${JSON.stringify(target)} is outside the root` }]);
      expect(rootEntries()).toEqual([]);
    });

    it('refuses a hardlink through an escaping symlink, to a directory, or to a file it did not extract', async () => {
      fs.writeFileSync(join(root, 'preexisting'), 'not from this archive\n');
      const result = await extract(archive(symlink('out', outside), hardlink('h1', 'out/file'), dir('d'), hardlink('h2', 'd'), hardlink('h3', 'preexisting'), hardlink('h4', 'out')), {
        allowEscapingSymlinks: true,
      });
      expect(result.refused.map((r) => r.path)).toEqual(['h1', 'h2', 'h3', 'h4']);
      expect(result.refused[0]?.reason).toBe('hardlink target "out/file" is not a file extracted earlier from this archive');
      expect(rootEntries()).toEqual(['d', 'out', 'preexisting']);
    });

    it('a later file entry replaces a hardlink instead of writing through it', async () => {
      const result = await extract(archive(file('a', 'original a\n'), hardlink('b', 'a'), file('b', 'new b\n')));
      expect(result.refused).toEqual([]);
      expect(fs.readFileSync(join(root, 'a'), 'utf8')).toBe('original a\n');
      expect(fs.readFileSync(join(root, 'b'), 'utf8')).toBe('new b\n');
    });
  });

  describe('special files', () => {
    it('skips a char device and a FIFO by default', async () => {
      const result = await extract(archive(rawEntry({ name: 'null', type: '3', devmajor: 1, devminor: 3 }), rawEntry({ name: 'pipe', type: '6' }), file('ok')));
      expect(result.refused).toEqual([
        { path: 'null', reason: 'char device not allowed (allowDevices is off)' },
        { path: 'pipe', reason: 'FIFO not allowed (allowDevices is off)' },
      ]);
      expect(rootEntries()).toEqual(['ok']);
    });
  });

  describe('malformed archives are refused whole, leaving the root untouched', () => {
    // valid members first, so that a non-atomic extractor would already have written them
    const prelude = (): Buffer[] => [dir('d'), file('d/first', 'x'.repeat(3000)), file('second')];

    const refuses = async (bytes: Buffer, message: string | RegExp): Promise<void> => {
      fs.writeFileSync(join(root, 'kept'), 'was here before\n');
      await expect(extract(bytes)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) });
      expect(rootEntries()).toEqual(['kept']);
      expect(fs.readFileSync(join(root, 'kept'), 'utf8')).toBe('was here before\n');
    };

    it('a 2 MB pax header', async () => {
      const big = paxRecord('comment', 'x'.repeat(2 * 1024 * 1024));
      await refuses(archive(...prelude(), rawPax(big), file('after')), /pax header of 2097\d+ bytes exceeds the limit of 1048576 bytes/);
    });

    it('a 2 MB GNU long name', async () => {
      await refuses(archive(...prelude(), rawEntry({ name: '././@LongLink', type: 'L', body: 'n'.repeat(2 * 1024 * 1024) }), file('x')), /GNU long name of \d+ bytes exceeds/);
    });

    it('a pax record whose length is wrong', async () => {
      const wrong = Buffer.from('31 path=this-is-not-31-bytes-long\n');
      await refuses(archive(...prelude(), rawPax(wrong), file('x')), /pax record length 31 does not/);
    });

    it('a pax record without "="', async () => {
      await refuses(archive(...prelude(), rawPax(Buffer.from('13 pathvalue\n')), file('x')), /pax record without "="/);
    });

    it('a pax number that is not a number', async () => {
      await refuses(archive(...prelude(), rawPax(paxRecord('uid', '12a')), file('x')), /pax uid "12a" is not a valid number/);
    });

    it('a header size that disagrees with the pax size', async () => {
      await refuses(archive(...prelude(), rawPax(paxRecord('size', '200')), rawEntry({ name: 'x', body: 'y'.repeat(100) })), /header size 100 disagrees with pax size 200/);
    });

    it('a symlink, hardlink or directory with a body', async () => {
      await refuses(archive(...prelude(), rawEntry({ name: 'l', type: '2', linkname: 'second', body: 'data' })), /symlink entry with a 4-byte body/);
    });

    it('a truncated archive (cut inside a body)', async () => {
      const whole = archive(...prelude(), file('big', 'z'.repeat(100_000)));
      await refuses(whole.subarray(0, whole.length - 1024 - 50_000), /truncated in the body of "big"/);
    });

    it('a truncated archive (cut inside a header)', async () => {
      const whole = archive(...prelude(), file('next'));
      await refuses(whole.subarray(0, whole.length - 1024 - 512 - 300), /truncated header/);
    });

    it('an archive without its end-of-archive marker', async () => {
      await refuses(Buffer.concat(prelude()), /no end-of-archive marker/);
    });

    it('a bad header checksum', async () => {
      await refuses(archive(...prelude(), rawEntry({ name: 'x', body: 'x', badChecksum: true })), /bad header checksum/);
    });

    it('an invalid octal field', async () => {
      await refuses(archive(...prelude(), rawEntry({ name: 'x', body: 'x', sizeField: '0000000001x\0' })), /invalid octal size field/);
    });

    it('a GNU sparse file', async () => {
      await refuses(archive(...prelude(), rawEntry({ name: 'sparse', type: 'S' })), /unsupported tar archive: GNU sparse file/);
    });

    it('pax GNU.sparse records', async () => {
      await refuses(archive(...prelude(), rawPax(paxRecord('GNU.sparse.major', '1')), file('x')), /GNU sparse/);
    });

    it('an unknown entry type', async () => {
      await refuses(archive(...prelude(), rawEntry({ name: 'odd', type: 'Q' })), /unknown entry type "Q"/);
    });

    it('non-zero garbage after the end marker', async () => {
      await refuses(Buffer.concat([archive(...prelude()), Buffer.from('garbage')]), /non-zero data after the end-of-archive marker/);
    });

    it('a pax header with no entry after it', async () => {
      await refuses(archive(...prelude(), rawPax(paxRecord('path', 'x'))), /extended header without the entry/);
    });

    it('a header without the ustar magic', async () => {
      const h = rawHeader({ name: 'v7' });
      h.write('\0\0\0\0\0\0\0\0', 257, 'latin1');
      let sum = 0;
      h.fill(0x20, 148, 156);
      for (const b of h) sum += b;
      h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
      await refuses(Buffer.concat([...prelude(), h, END]), /unknown header magic/);
    });
  });

  function fixChecksum(h: Buffer): void {
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h.subarray(0, 512)) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  }

  /** The same archive into a second root next to the first, with other options. */
  async function extractInto(name: 'allowed', bytes: Buffer, opts: ExtractOptions): Promise<ExtractResult> {
    const dst = join(base.path, name);
    fs.mkdirSync(dst);
    return extractTar(chunked(bytes, 1000), { path: dst }, opts);
  }
});
