import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { closeFd, openRoot } from '@wsrun/native-ns';
import { cleanExtractionLeftovers, extractTar, type ExtractProgress } from '../src';
import { archive, paxRecord, rawEntry, rawHeader, rawPax } from './support/raw-tar';
import { chunked, tempDir } from './support/tree';

describe('extractTar behaviour', () => {
  let tmp: ReturnType<typeof tempDir>;
  let root: string;
  beforeEach(() => {
    tmp = tempDir('behaviour');
    root = join(tmp.path, 'root');
    fs.mkdirSync(root);
  });
  afterEach(() => tmp.cleanup());

  const file = (name: string, body = `${name}\n`, mode = 0o644): Buffer => rawEntry({ name, body, mode });
  const dir = (name: string, mode = 0o755, mtime?: number): Buffer => rawEntry({ name, type: '5', mode, ...(mtime ? { mtime } : {}) });
  const read = (p: string): string => fs.readFileSync(join(root, p), 'utf8');

  describe('conflicts inside one archive', () => {
    it('a later file replaces a file or a symlink; a file replaces an empty directory', async () => {
      const result = await extractTar(
        chunked(archive(file('f', 'one'), file('f', 'two'), rawEntry({ name: 'l', type: '2', linkname: 'f' }), file('l', 'not a link'), dir('e'), file('e', 'was a dir'))),
        { path: root },
      );
      expect(result.refused).toEqual([]);
      expect(read('f')).toBe('two');
      expect(fs.lstatSync(join(root, 'l')).isFile()).toBe(true);
      expect(read('l')).toBe('not a link');
      expect(read('e')).toBe('was a dir');
    });

    it('a directory over a directory merges and takes the later metadata; a file over a non-empty directory is refused', async () => {
      const result = await extractTar(chunked(archive(dir('d', 0o755), file('d/x'), dir('d', 0o750, 1_500_000_000), file('d/y'), file('d', 'file over dir'))), { path: root });
      expect(result.refused).toEqual([{ path: 'd', reason: 'would replace a non-empty directory' }]);
      expect(fs.readdirSync(join(root, 'd')).sort()).toEqual(['x', 'y']);
      const st = fs.statSync(join(root, 'd'));
      expect(st.mode & 0o7777).toBe(0o750);
      expect(st.mtimeMs).toBe(1_500_000_000_000);
    });

    it('creates missing parents as 0755 directories, and treats "./" and "./a//b" like tar does', async () => {
      const result = await extractTar(chunked(archive(dir('./'), file('./a//b/c'))), { path: root });
      expect(result.refused).toEqual([]);
      expect(result.entries).toBe(1);
      expect(read('a/b/c')).toBe('./a//b/c\n');
      expect(fs.statSync(join(root, 'a')).mode & 0o7777).toBe(0o755);
    });
  });

  // small files go out in native batches while later members are parsed (file-batches.ts): these
  // archives hold enough of them that batches are in flight when the conflicting members arrive
  describe('small files created in batches', () => {
    const many = (prefix: string, n: number): Buffer[] => Array.from({ length: n }, (_, i) => file(`${prefix}${i}`, `${prefix}${i} body`.repeat(50)));
    const openFds = (): number => fs.readdirSync('/proc/self/fd').length;

    it('keeps the meaning of every conflict: later wins, a child of a queued file, a hardlink to one, a file over a full directory', async () => {
      const fdsBefore = openFds();
      // each conflict names the file queued just before it: still waiting in its batch
      const result = await extractTar(
        chunked(
          archive(
            dir('x'),
            ...many('x/f', 40),
            dir('x/f39'),
            file('x/f39/inner', 'inside what was a file'),
            ...many('z/g', 20),
            file('z/g19', 'nineteen again'),
            ...many('w/h', 20),
            rawEntry({ name: 'link', type: '1', linkname: 'w/h19' }),
            ...many('y/g', 40),
            file('y', 'file over a full directory'),
          ),
        ),
        { path: root },
      );
      expect(result.refused).toEqual([{ path: 'y', reason: 'would replace a non-empty directory' }]);
      expect(read('x/f39/inner')).toBe('inside what was a file');
      expect(read('z/g19')).toBe('nineteen again');
      expect(read('x/f0')).toBe('x/f0 body'.repeat(50));
      expect(fs.statSync(join(root, 'link')).ino).toBe(fs.statSync(join(root, 'w/h19')).ino);
      expect(fs.readdirSync(join(root, 'y'))).toHaveLength(40);
      expect(fs.statSync(join(root, 'x/f3')).mode & 0o7777).toBe(0o644);
      expect(result.entries).toBe(1 + 40 + 2 + 20 + 1 + 20 + 1 + 40);
      expect(openFds()).toBe(fdsBefore);
    });

    it('a disk that fills up in the middle of a batch rejects RESOURCE_EXHAUSTED and leaves the root as it was', async () => {
      const small = join(tmp.path, 'small');
      fs.mkdirSync(small);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'wsrun-archive-test', small]);
      try {
        fs.writeFileSync(join(small, 'before'), 'kept');
        const fdsBefore = openFds();
        const files = Array.from({ length: 100 }, (_, i) => file(`d/f${i}`, Buffer.alloc(8 * 1024, i).toString('latin1')));
        await expect(extractTar(chunked(archive(...files)), { path: small })).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
        expect(fs.readdirSync(small)).toEqual(['before']);
        expect(openFds()).toBe(fdsBefore);
      } finally {
        execFileSync('umount', [small]);
      }
    });
  });

  describe('merging into a destination that has content', () => {
    it('merges directories, replaces files and empty directories, refuses to replace a non-empty directory', async () => {
      fs.mkdirSync(join(root, 'keep'), { mode: 0o700 });
      fs.chmodSync(join(root, 'keep'), 0o700);
      fs.writeFileSync(join(root, 'keep/old'), 'old');
      fs.mkdirSync(join(root, 'empty'));
      fs.writeFileSync(join(root, 'f'), 'before');
      fs.mkdirSync(join(root, 'busy'));
      fs.writeFileSync(join(root, 'busy/inside'), 'stays');
      const result = await extractTar(chunked(archive(file('keep/new'), file('empty', 'now a file'), file('f', 'after'), file('busy', 'cannot land'))), { path: root });
      expect(result.refused).toEqual([{ path: 'busy', reason: 'would replace a non-empty directory in the destination' }]);
      expect(fs.readdirSync(join(root, 'keep')).sort()).toEqual(['new', 'old']);
      // "keep" was never named by the archive: its mode stays
      expect(fs.statSync(join(root, 'keep')).mode & 0o7777).toBe(0o700);
      expect(read('empty')).toBe('now a file');
      expect(read('f')).toBe('after');
      expect(read('busy/inside')).toBe('stays');
      expect(fs.readdirSync(root).sort()).toEqual(['busy', 'empty', 'f', 'keep']);
    });
  });

  describe('metadata', () => {
    it('creates devices and FIFOs with allowDevices, with their mode and owner', async () => {
      const result = await extractTar(
        chunked(archive(rawEntry({ name: 'null', type: '3', devmajor: 1, devminor: 3, mode: 0o620, uid: 5, gid: 6 }), rawEntry({ name: 'pipe', type: '6', mode: 0o600 }))),
        { path: root },
        { allowDevices: true },
      );
      expect(result.refused).toEqual([]);
      const dev = fs.lstatSync(join(root, 'null'));
      expect(dev.isCharacterDevice()).toBe(true);
      expect(dev.rdev).toBe((1 << 8) | 3);
      expect([dev.mode & 0o7777, dev.uid, dev.gid]).toEqual([0o620, 5, 6]);
      expect(fs.lstatSync(join(root, 'pipe')).isFIFO()).toBe(true);
      expect(fs.lstatSync(join(root, 'pipe')).mode & 0o7777).toBe(0o600);
    });

    it('skips xattrs the kernel refuses and reports them', async () => {
      const result = await extractTar(chunked(archive(rawPax(Buffer.concat([paxRecord('SCHILY.xattr.bogus.ns', 'v'), paxRecord('SCHILY.xattr.user.ok', 'fine')])), file('x'))), { path: root });
      expect(result.refused).toEqual([]);
      expect(result.skippedXattrs).toEqual([{ path: 'x', name: 'bogus.ns', code: expect.stringMatching(/^E(OPNOTSUPP|NOTSUP)$/) }]);
      expect(read('x')).toBe('x\n');
    });

    it('refuses members whose owner the id map cannot map', async () => {
      const mapId = { uid: (id: number) => (id < 1000 ? id + 100000 : -1), gid: (id: number) => id + 100000 };
      const result = await extractTar(chunked(archive(rawEntry({ name: 'ok', body: 'x', uid: 7, gid: 8 }), rawEntry({ name: 'no', body: 'x', uid: 5000 }))), { path: root }, { mapId });
      expect(result.refused).toEqual([{ path: 'no', reason: 'uid 5000 has no mapping' }]);
      expect([fs.statSync(join(root, 'ok')).uid, fs.statSync(join(root, 'ok')).gid]).toEqual([100007, 100008]);
    });

    it('applies pax global headers to every later entry, and an empty x record hides a global one', async () => {
      const g = rawPax(Buffer.concat([paxRecord('uid', '4242'), paxRecord('mtime', '1234567890.5')]), 'g');
      const result = await extractTar(chunked(archive(g, file('a'), rawPax(paxRecord('uid', '')), rawEntry({ name: 'b', body: 'b', uid: 7 }))), { path: root });
      expect(result.refused).toEqual([]);
      const a = fs.statSync(join(root, 'a'), { bigint: true });
      expect([a.uid, a.mtimeNs]).toEqual([4242n, 1_234_567_890_500_000_000n]);
      expect(fs.statSync(join(root, 'b')).uid).toBe(7);
    });
  });

  describe('streaming, progress and cancellation', () => {
    it('streams a 100 MB file with backpressure: the source never runs far ahead of the disk', async () => {
      const size = 100 * 1024 * 1024;
      let produced = 0;
      let maxAhead = 0;
      const chunk = Buffer.alloc(64 * 1024, 0xab);
      const parts = [rawHeader({ name: 'huge', size })];
      const source = new Readable({
        highWaterMark: 64 * 1024,
        read() {
          const next = parts.shift();
          if (next) return void this.push(next);
          if (produced < size) {
            const n = Math.min(chunk.length, size - produced);
            produced += n;
            this.push(n === chunk.length ? chunk : chunk.subarray(0, n));
          } else if (produced === size) {
            produced++;
            this.push(Buffer.alloc(1024));
          } else this.push(null);
        },
      });
      const progress: ExtractProgress[] = [];
      const result = await extractTar(source, { path: root }, {
        progressIntervalMs: 0,
        onProgress: (p) => {
          progress.push(p);
          maxAhead = Math.max(maxAhead, Math.min(produced, size) - p.bytes);
        },
      });
      expect(result.bytes).toBe(size);
      expect(fs.statSync(join(root, 'huge')).size).toBe(size);
      // the batch (512 KiB) plus stream buffers, never the file
      expect(maxAhead).toBeLessThan(4 * 1024 * 1024);
      expect(progress.length).toBeGreaterThan(100);
      expect(progress[progress.length - 1]).toEqual({ entries: 1, bytes: size });
    });

    it('cancels on abort: rejects CANCELLED and leaves the root as it was', async () => {
      const input = new PassThrough();
      const controller = new AbortController();
      fs.writeFileSync(join(root, 'kept'), 'k');
      const done = extractTar(input, { path: root }, { signal: controller.signal, progressIntervalMs: 0, onProgress: () => controller.abort() });
      input.write(Buffer.concat([file('a'), rawHeader({ name: 'b', size: 10 * 1024 * 1024 }), Buffer.alloc(1024 * 1024)]));
      await expect(done).rejects.toMatchObject({ code: 'CANCELLED' });
      expect(fs.readdirSync(root)).toEqual(['kept']);
    });

    it('cancels a stalled input', async () => {
      const input = new PassThrough();
      const controller = new AbortController();
      const done = extractTar(input, { path: root }, { signal: controller.signal });
      input.write(file('a'));
      setImmediate(() => controller.abort());
      await expect(done).rejects.toMatchObject({ code: 'CANCELLED', message: expect.stringContaining('cancelled') });
      expect(fs.readdirSync(root)).toEqual([]);
    });

    it('cancels a stalled async iterable that cannot be destroyed', async () => {
      const controller = new AbortController();
      async function* source(): AsyncGenerator<Buffer> {
        yield file('a');
        await new Promise(() => undefined);
      }
      const done = extractTar(source(), { path: root }, { signal: controller.signal });
      setImmediate(() => controller.abort());
      await expect(done).rejects.toMatchObject({ code: 'CANCELLED' });
      expect(fs.readdirSync(root)).toEqual([]);
    });

    it('rejects at once with an already aborted signal', async () => {
      await expect(extractTar(chunked(archive(file('a'))), { path: root }, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'CANCELLED' });
      expect(fs.readdirSync(root)).toEqual([]);
    });
  });

  it('rejects a destination that does not exist with NOT_FOUND', async () => {
    await expect(extractTar(chunked(archive(file('a'))), { path: join(tmp.path, 'missing') })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringContaining('opening extraction root'),
    });
  });

  describe('cleanExtractionLeftovers', () => {
    it('removes staging directories (read-only ones and symlinks inside included, never followed) and nothing else', () => {
      const outside = join(tmp.path, 'outside');
      fs.mkdirSync(outside);
      fs.writeFileSync(join(outside, 'precious'), 'keep me');
      const staging = join(root, '.wsrun-extract-00112233aabbccdd');
      fs.mkdirSync(join(staging, 'a/b'), { recursive: true });
      fs.writeFileSync(join(staging, 'a/b/file'), 'x');
      fs.symlinkSync(outside, join(staging, 'a/link'));
      fs.chmodSync(join(staging, 'a/b'), 0o555);
      fs.mkdirSync(join(root, '.wsrun-extract-not-hex'));
      fs.writeFileSync(join(root, 'user-file'), 'u');
      const rootFd = openRoot(root);
      try {
        expect(cleanExtractionLeftovers(rootFd)).toEqual(['.wsrun-extract-00112233aabbccdd']);
      } finally {
        closeFd(rootFd);
      }
      expect(fs.readdirSync(root).sort()).toEqual(['.wsrun-extract-not-hex', 'user-file']);
      expect(fs.readFileSync(join(outside, 'precious'), 'utf8')).toBe('keep me');
    });
  });
});
