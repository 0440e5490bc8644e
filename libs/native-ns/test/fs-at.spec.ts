import { closeSync, fstatSync, lstatSync, readFileSync, readlinkSync, statSync, symlinkSync, writeSync, constants as fsConstants, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { closeFd, createFilesAt, DirentType, lchownAt, linkAt, mkdirAt, openAt, openRoot, readDirFd, readlinkAt, renameAt, symlinkAt, unlinkAt } from '../src';
import { tempDir } from './helpers';

const O_PATH = 0o10000000;

describe('directory-fd file operations', () => {
  const tmp = tempDir('fs-at');
  afterAll(tmp.cleanup);

  it('creates, links, renames and lists relative to a root fd', () => {
    const root = openRoot(tmp.path);
    try {
      mkdirAt(root, 'd', 0o750);
      const d = openAt(root, 'd', O_PATH | fsConstants.O_DIRECTORY, { resolve: 'beneathNoSymlinks' });
      const f = openAt(d, 'file', fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY, { mode: 0o640 });
      writeSync(f, 'content');
      closeSync(f);
      linkAt(d, 'file', d, 'hard');
      symlinkAt('../elsewhere', d, 'link');
      lchownAt(d, 'link', 1234, 5678);
      renameAt(d, 'hard', d, 'hard2', { noReplace: true });
      expect(() => renameAt(d, 'file', d, 'hard2', { noReplace: true })).toThrow(expect.objectContaining({ code: 'EEXIST', syscall: 'renameat2' }));
      const names = readDirFd(d).sort((a, b) => a.name.localeCompare(b.name));
      expect(names).toEqual([
        { name: 'file', type: DirentType.file },
        { name: 'hard2', type: DirentType.file },
        { name: 'link', type: DirentType.symlink },
      ]);
      expect(readlinkAt(d, 'link')).toBe('../elsewhere');
      expect(lstatSync(join(tmp.path, 'd/link'))).toMatchObject({ uid: 1234, gid: 5678 });
      expect(fstatSync(d).mode & 0o777).toBe(0o750);
      unlinkAt(d, 'hard2');
      expect(readFileSync(join(tmp.path, 'd/file'), 'utf8')).toBe('content');
      closeFd(d);
    } finally {
      closeFd(root);
    }
  });

  it('refuses to walk through a symlink with beneathNoSymlinks (ELOOP) and to escape with beneath (EXDEV)', () => {
    mkdirSync(join(tmp.path, 'inner'));
    symlinkSync('/etc', join(tmp.path, 'inner/etc-link'));
    const root = openRoot(join(tmp.path, 'inner'));
    try {
      expect(() => openAt(root, 'etc-link/passwd', fsConstants.O_RDONLY, { resolve: 'beneathNoSymlinks' })).toThrow(expect.objectContaining({ code: 'ELOOP', syscall: 'openat2' }));
      expect(() => openAt(root, 'etc-link/passwd', fsConstants.O_RDONLY, { resolve: 'beneath' })).toThrow(expect.objectContaining({ code: 'EXDEV' }));
      expect(() => openAt(root, '../inner', fsConstants.O_RDONLY, { resolve: 'beneath' })).toThrow(expect.objectContaining({ code: 'EXDEV' }));
      expect(readlinkSync(join(tmp.path, 'inner/etc-link'))).toBe('/etc');
    } finally {
      closeFd(root);
    }
  });

  describe('createFilesAt', () => {
    const file = (dirFd: number, name: string, body: string, over: Partial<Parameters<typeof createFilesAt>[0][number]> = {}) => ({
      dirFd,
      name,
      data: Buffer.from(body),
      uid: 1234,
      gid: 5678,
      mode: 0o4751,
      atimeNs: 1_000_000_000_500n,
      mtimeNs: -1_500_000_000n,
      ...over,
    });

    it('creates files with content, owner, mode and times, in order, on the thread pool', async () => {
      mkdirSync(join(tmp.path, 'batch'));
      const dir = openRoot(join(tmp.path, 'batch'));
      try {
        const result = await createFilesAt([file(dir, 'a', 'alpha'), file(dir, 'b', '', { uid: -1, gid: -1, mode: 0o600 })]);
        expect(result).toEqual({ created: 2 });
        // stat before reading: a read may move atime
        const a = statSync(join(tmp.path, 'batch/a'), { bigint: true });
        expect({ uid: a.uid, gid: a.gid, mode: a.mode & 0o7777n, atimeNs: a.atimeNs, mtimeNs: a.mtimeNs }).toEqual({
          uid: 1234n,
          gid: 5678n,
          mode: 0o4751n,
          atimeNs: 1_000_000_000_500n,
          mtimeNs: -1_500_000_000n,
        });
        expect(readFileSync(join(tmp.path, 'batch/a'), 'utf8')).toBe('alpha');
        expect(statSync(join(tmp.path, 'batch/b'))).toMatchObject({ uid: process.getuid?.(), size: 0, mode: 0o100600 });
      } finally {
        closeFd(dir);
      }
    });

    it('stops at the first failure: an existing name, a symlink, a name with a slash', async () => {
      mkdirSync(join(tmp.path, 'stops'));
      symlinkSync('/tmp', join(tmp.path, 'stops/link'));
      const dir = openRoot(join(tmp.path, 'stops'));
      try {
        expect(await createFilesAt([file(dir, 'x', '1'), file(dir, 'x', '2'), file(dir, 'y', '3')])).toEqual({
          created: 1,
          error: expect.objectContaining({ code: 'EEXIST', syscall: 'openat2', path: 'x' }),
        });
        expect(readFileSync(join(tmp.path, 'stops/x'), 'utf8')).toBe('1');
        expect(await createFilesAt([file(dir, 'link', 'pwned')])).toEqual({ created: 0, error: expect.objectContaining({ code: 'EEXIST' }) });
        expect(await createFilesAt([file(dir, 'link/pwned', 'pwned')])).toEqual({ created: 0, error: expect.objectContaining({ code: 'EINVAL' }) });
        expect(readDirFd(dir).map((e) => e.name).sort()).toEqual(['link', 'x']);
      } finally {
        closeFd(dir);
      }
    });
  });
});
