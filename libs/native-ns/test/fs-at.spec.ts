import { closeSync, fstatSync, lstatSync, readFileSync, readlinkSync, symlinkSync, writeSync, constants as fsConstants, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { closeFd, DirentType, lchownAt, linkAt, mkdirAt, openAt, openRoot, readDirFd, readlinkAt, renameAt, symlinkAt, unlinkAt } from '../src';
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
});
