import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { closeFd, fsetxattr, mknodAt, openRoot } from '@wsrun/native-ns';
import { extractTar, packDirectory, TarParser, workspaceIdMappers, type IdMapper, type TarEntryHeader } from '../src';
import { chunked, collect, diffTrees, LONG_PATH_300, makeSourceTree, snapshot, tempDir, UNICODE_NAME } from './support/tree';

// a backup of a real workspace legitimately holds links like links/abs -> /etc/hostname
const BACKUP = { allowEscapingSymlinks: true };

// Real trees in a temp dir, packed and extracted for real, and checked against GNU tar both ways.
describe('pack and extract round trip', () => {
  const tmp = tempDir('roundtrip');
  const src = join(tmp.path, 'src');
  let archive: Buffer;
  let expected: ReturnType<typeof snapshot>;

  beforeAll(async () => {
    fs.mkdirSync(src);
    makeSourceTree(src);
    expected = snapshot(src);
    archive = await packToBuffer(src);
  });
  afterAll(() => tmp.cleanup());

  function freshDir(name: string): string {
    const dir = join(tmp.path, name);
    fs.mkdirSync(dir);
    return dir;
  }

  it('extracts what packDirectory wrote into an identical tree', async () => {
    const dst = freshDir('dst-own');
    const result = await extractTar(chunked(archive), { path: dst }, BACKUP);
    expect(result.refused).toEqual([]);
    expect(result.skippedXattrs).toEqual([]);
    expect(result.entries).toBe(expected.size);
    // a hardlinked file's bytes are written once
    const unique = [...expected].filter(([path, e]) => e.type === 'file' && (e.linkGroup === undefined || e.linkGroup === path));
    expect(result.bytes).toBe(unique.reduce((n, [, e]) => n + (e.size ?? 0), 0));
    expect(diffTrees(expected, snapshot(dst))).toEqual([]);
    // nothing left behind: no staging directory
    expect(fs.readdirSync(dst).some((n) => n.startsWith('.wsrun-extract-'))).toBe(false);
  });

  it('keeps hardlinks as one inode, symlink targets verbatim, long and unicode names', async () => {
    const dst = freshDir('dst-details');
    await extractTar(chunked(archive, 65536), { path: dst }, BACKUP);
    expect(fs.statSync(join(dst, 'hard/a')).ino).toBe(fs.statSync(join(dst, 'hard/b')).ino);
    expect(fs.statSync(join(dst, 'hard/a')).ino).toBe(fs.statSync(join(dst, 'hard-c')).ino);
    expect(fs.readlinkSync(join(dst, 'links/abs'))).toBe('/etc/hostname');
    expect(fs.readlinkSync(join(dst, 'links/dangling'))).toBe('nowhere/at/all');
    expect(fs.readFileSync(join(dst, LONG_PATH_300), 'utf8')).toBe('over 255 bytes of path\n');
    expect(fs.readFileSync(join(dst, UNICODE_NAME), 'utf8')).toBe('unicode\n');
    expect(fs.statSync(join(dst, 'dir0555')).mode & 0o7777).toBe(0o555);
    expect(fs.statSync(join(dst, 'setuid')).mode & 0o7777).toBe(0o4755);
    expect(fs.statSync(join(dst, 'owners/u4000000')).uid).toBe(4000000);
  });

  it('writes the same bytes for the same tree (deterministic order)', async () => {
    expect((await packToBuffer(src)).equals(archive)).toBe(true);
  });

  it('writes an archive GNU tar lists and extracts identically', async () => {
    const file = join(tmp.path, 'own.tar');
    fs.writeFileSync(file, archive);
    const listed = execFileSync('tar', ['-tf', file], { maxBuffer: 64 << 20 })
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((n) => n.replace(/\/$/, ''));
    expect(listed).toEqual([...expected.keys()]);
    const dst = freshDir('dst-gnu-x');
    execFileSync('tar', ['-xpf', file, '-C', dst, '--numeric-owner', '--xattrs', '--xattrs-include=*'], { stdio: 'pipe' });
    expect(diffTrees(expected, snapshot(dst))).toEqual([]);
  });

  it.each([
    ['pax', false],
    ['gnu', true],
  ] as const)('extracts a GNU tar --format=%s archive identically', async (format, secondsOnly) => {
    const args = ['-c', `--format=${format}`, '-C', src, '.'];
    if (format === 'pax') args.splice(1, 0, '--xattrs', '--xattrs-include=*');
    // stderr ignored: GNU tar warns about the pre-1970 time stamp
    const tar = spawn('tar', args, { stdio: ['ignore', 'pipe', 'ignore'] });
    const dst = freshDir(`dst-from-gnu-${format}`);
    const result = await extractTar(tar.stdout, { path: dst }, BACKUP);
    expect(result.refused).toEqual([]);
    // GNU format has no xattrs and whole-second times
    expect(diffTrees(expected, snapshot(dst), { secondsOnly, xattrs: format === 'pax' })).toEqual([]);
  });

  it('maps ids both ways: host → workspace when packing, workspace → host when extracting', async () => {
    const map = [
      { containerId: 0, hostId: 33333, size: 1 },
      { containerId: 1, hostId: 100000, size: 65534 },
    ];
    const { toWorkspace, toHost } = workspaceIdMappers(map);
    const host = freshDir('ids-host');
    fs.writeFileSync(join(host, 'root-inside'), 'x');
    fs.chownSync(join(host, 'root-inside'), 33333, 33333);
    fs.writeFileSync(join(host, 'user-inside'), 'x');
    // host 101000 is workspace 1 + (101000 - 100000)
    fs.chownSync(join(host, 'user-inside'), 101000, 101001);
    fs.writeFileSync(join(host, 'unmapped'), 'x');
    fs.chownSync(join(host, 'unmapped'), 5, 5);

    const packed = await packToBuffer(host, toWorkspace);
    const owners = new Map<string, [number, number]>();
    for await (const e of new TarParser(chunked(packed))) owners.set(e.header.path, [e.header.uid, e.header.gid]);
    expect(Object.fromEntries(owners)).toEqual({ 'root-inside': [0, 0], 'user-inside': [1001, 1002], unmapped: [65534, 65534] });

    const dst = freshDir('ids-dst');
    await extractTar(chunked(packed), { path: dst }, { ...BACKUP, mapId: toHost });
    const own = (n: string): [number, number] => {
      const st = fs.lstatSync(join(dst, n));
      return [st.uid, st.gid];
    };
    expect(own('root-inside')).toEqual([33333, 33333]);
    expect(own('user-inside')).toEqual([101000, 101001]);
    expect(own('unmapped')).toEqual([165533, 165533]);
  });

  it('reads every header field back as written', async () => {
    const headers = new Map<string, TarEntryHeader>();
    for await (const e of new TarParser(chunked(archive))) headers.set(e.header.path.replace(/\/$/, ''), e.header);
    const big = headers.get('big.bin');
    expect(big).toMatchObject({ type: 'file', size: 5 * 1024 * 1024, mtimeNs: expected.get('big.bin')?.mtimeNs });
    expect(headers.get('hard/b')).toMatchObject({ type: 'hardlink', linkpath: 'hard/a', size: 0 });
    expect(headers.get('old')?.mtimeNs).toBe(-1_000_000_000_000n);
    expect(headers.get('xattrs/file')?.xattrs.get('user.binary')).toEqual(Buffer.from([0, 1, 2, 10, 255]));
    expect(headers.get('owners/u4000000')).toMatchObject({ uid: 4000000, gid: 4000001 });
  });

  it('extracts with chown off: contents and modes, owners left to the extracting user', async () => {
    const dst = freshDir('no-chown');
    const result = await extractTar(chunked(archive), { rootFd: openRootFd(dst) }, { ...BACKUP, chown: false });
    expect(result.refused).toEqual([]);
    expect(fs.lstatSync(join(dst, 'owners/u1000')).uid).toBe(process.getuid?.());
    const withoutOwners = (m: ReturnType<typeof snapshot>): ReturnType<typeof snapshot> => new Map([...m].map(([k, v]) => [k, { ...v, uid: 0, gid: 0 }]));
    expect(diffTrees(withoutOwners(expected), withoutOwners(snapshot(dst)))).toEqual([]);
  });

  it('packs FIFOs and device nodes (extracted with allowDevices) and leaves sockets out with a warning', async () => {
    const dir = freshDir('special');
    const fd = openRootFd(dir);
    mknodAt(fd, 'null', 0o020000 | 0o666, (1 << 8) | 3);
    mknodAt(fd, 'loop-ish', 0o060000 | 0o600, (7 << 8) | 200);
    mknodAt(fd, 'pipe', 0o010000 | 0o640, 0);
    execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', join(dir, 'sock')]);
    fs.writeFileSync(join(dir, 'plain'), 'x');
    const { stream, done } = packDirectory(fd);
    const [bytes, stats] = await Promise.all([collect(stream), done]);
    expect(stats.warnings).toEqual([{ path: 'sock', reason: 'socket (tar cannot store it)' }]);
    expect(stats.entries).toBe(4);
    fs.unlinkSync(join(dir, 'sock'));
    const dst = freshDir('special-dst');
    const result = await extractTar(chunked(bytes), { path: dst }, { allowDevices: true });
    expect(result.refused).toEqual([]);
    expect(diffTrees(snapshot(dir), snapshot(dst))).toEqual([]);
    expect(fs.lstatSync(join(dst, 'loop-ish')).rdev).toBe((7 << 8) | 200);
  });

  it('leaves out (with a warning) xattrs a pax header cannot carry, instead of writing an unrestorable archive', async () => {
    const dir = freshDir('odd-xattrs');
    fs.writeFileSync(join(dir, 'f'), 'x');
    const fd = fs.openSync(join(dir, 'f'), 'r');
    try {
      fsetxattr(fd, 'user.a=b', Buffer.from('1'));
      fsetxattr(fd, 'user.fine', Buffer.from('2'));
    } finally {
      fs.closeSync(fd);
    }
    const { stream, done } = packDirectory(openRootFd(dir));
    const [bytes, stats] = await Promise.all([collect(stream), done]);
    expect(stats.warnings).toEqual([{ path: 'f', reason: 'xattr "user.a=b" left out: "=" cannot be stored in a pax key' }]);
    for await (const e of new TarParser(chunked(bytes))) expect([...e.header.xattrs.keys()]).toEqual(['user.fine']);
  });

  const roots: number[] = [];
  afterAll(() => roots.forEach(closeFd));
  function openRootFd(dir: string): number {
    const fd = openRoot(dir);
    roots.push(fd);
    return fd;
  }
});

async function packToBuffer(dir: string, mapId?: IdMapper): Promise<Buffer> {
  const rootFd = openRoot(dir);
  try {
    const { stream, done } = packDirectory(rootFd, mapId ? { mapId } : {});
    const [bytes, stats] = await Promise.all([collect(stream), done]);
    expect(stats.bytes).toBe(bytes.length);
    expect(stats.warnings).toEqual([]);
    return bytes;
  } finally {
    closeFd(rootFd);
  }
}
