import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyMasks, attachTree, cloneTree, closeFd, createFs, mount, openInRoot, openRoot, umount } from '../src';
import { tempDir } from './helpers';

/** true when `path` is a mount point in this process's mount namespace */
function isMountPoint(path: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === path);
}

describe('safe mounts inside a root', () => {
  const tmp = tempDir('safe-mounts');
  const root = join(tmp.path, 'root');
  const outside = join(tmp.path, 'outside');
  let rootFd = -1;

  beforeAll(() => {
    mkdirSync(root);
    mkdirSync(outside);
    writeFileSync(join(outside, 'secret'), 'node file\n');
    symlinkSync(outside, join(root, 'abs')); // absolute symlink out of the root
    symlinkSync('../../outside', join(root, 'rel')); // relative climb out of the root
    symlinkSync('/nonexistent/place', join(root, 'dangling'));
    rootFd = openRoot(root);
  });
  afterAll(() => {
    closeFd(rootFd);
    for (const p of [outside, join(root, tmp.path.slice(1), 'outside'), join(root, 'outside'), join(root, 'nonexistent/place')]) {
      while (isMountPoint(p)) umount(p, { detach: true });
    }
    tmp.cleanup();
  });

  const expectOutsideUntouched = () => {
    expect(isMountPoint(outside)).toBe(false);
    expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('node file\n');
  };

  it('an absolute symlink resolves inside the root, never to its target on the node', () => {
    // without create: the path inside the root does not exist
    expect(() => mount({ kind: 'fs', source: 'tmpfs', target: 'abs', targetRootFd: rootFd })).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'openat2', path: 'abs' }));
    // with create: the mount point is made inside the root, at the symlink's target taken as root-relative
    mount({ kind: 'fs', source: 'tmpfs', target: 'abs', targetRootFd: rootFd, create: true });
    expect(isMountPoint(join(root, outside))).toBe(true);
    expectOutsideUntouched();
  });

  it('a relative ../.. symlink is clamped at the root', () => {
    mount({ kind: 'fs', source: 'tmpfs', target: 'rel', targetRootFd: rootFd, create: true });
    expect(isMountPoint(join(root, 'outside'))).toBe(true);
    expectOutsideUntouched();
  });

  it('a dangling symlink is created inside the root or refused', () => {
    expect(() => mount({ kind: 'fs', source: 'tmpfs', target: 'dangling', targetRootFd: rootFd })).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    mount({ kind: 'fs', source: 'tmpfs', target: 'dangling', targetRootFd: rootFd, create: true });
    expect(isMountPoint(join(root, 'nonexistent/place'))).toBe(true);
    expect(existsSync('/nonexistent')).toBe(false);
  });

  it('a symlink swapped in after the target was opened changes nothing: the mount follows the fd', () => {
    const dir = join(root, 'checked');
    mkdirSync(dir);
    const targetFd = openInRoot(rootFd, 'checked');
    // the attacker swaps the checked folder for a symlink to the outside
    renameSync(dir, join(root, 'checked.moved'));
    symlinkSync(outside, dir);
    const tree = createFs('tmpfs', { options: 'size=1m' });
    try {
      attachTree(tree, '.', { rootFd: targetFd });
    } finally {
      closeFd(tree);
      closeFd(targetFd);
    }
    expect(isMountPoint(join(root, 'checked.moved'))).toBe(true);
    expectOutsideUntouched();
    umount(join(root, 'checked.moved'), { detach: true });
  });

  it('a symlink swapped back and forth while mounts are made never lets one land outside', async () => {
    const racy = join(root, 'racy');
    mkdirSync(racy);
    // a shell loop flips racy between a folder and a symlink to the outside as fast as it can
    const swapper = spawn('sh', ['-c', `cd ${root}; while :; do mv racy racy.d; ln -s ${outside} racy; rm racy; mv racy.d racy; done`], { stdio: 'ignore', detached: true });
    let landed = 0;
    try {
      for (let i = 0; i < 300; i++) {
        try {
          mount({ kind: 'fs', source: 'tmpfs', target: 'racy', targetRootFd: rootFd });
          landed++;
          // wherever it landed, it is inside the root
          expect(isMountPoint(outside)).toBe(false);
        } catch (err) {
          // ENOENT while the folder is away
          if ((err as { code: string }).code !== 'ENOENT') throw err;
        }
        // through the symlink phase the mount lands inside the root, at the link's target
        for (const p of [racy, join(root, 'racy.d'), join(root, outside)]) while (isMountPoint(p)) umount(p, { detach: true });
      }
    } finally {
      // the whole group: an mv or ln the shell had started must not outlive it and race the cleanup
      const gone = new Promise((r) => swapper.once('exit', r));
      process.kill(-swapper.pid!, 'SIGKILL');
      await gone;
    }
    for (const p of [racy, join(root, 'racy.d'), join(outside)]) while (isMountPoint(p)) umount(p, { detach: true });
    expectOutsideUntouched();
    expect(landed).toBeGreaterThan(0);
    rmSync(join(root, 'racy.d'), { recursive: true, force: true });
  });

  it('a file source mounts only on a file, a directory only on a directory', () => {
    writeFileSync(join(root, 'file'), 'x');
    expect(() => mount({ kind: 'bind', source: '/etc/hostname', target: 'checked.moved', targetRootFd: rootFd })).toThrow(
      expect.objectContaining({ code: 'EISDIR', syscall: 'move_mount' }),
    );
    expect(() => mount({ kind: 'fs', source: 'tmpfs', target: 'file', targetRootFd: rootFd })).toThrow(
      expect.objectContaining({ code: 'ENOTDIR', syscall: 'move_mount' }),
    );
  });
});

describe('masks on a detached tree (applyMasks)', () => {
  const tmp = tempDir('masks');
  afterAll(tmp.cleanup);

  it('covers files with /dev/null, folders with an empty read-only tmpfs or a read-only bind, skips what is missing, and never follows a symlink', () => {
    // a tree like a fresh proc: built in a scratch folder, then taken as a detached tree
    const scratch = join(tmp.path, 'scratch');
    mkdirSync(scratch);
    mount({ kind: 'fs', source: 'tmpfs', target: scratch, options: 'size=1m' });
    writeFileSync(join(scratch, 'kcore'), 'memory of the node\n');
    mkdirSync(join(scratch, 'acpi'));
    writeFileSync(join(scratch, 'acpi', 'wakeup'), 'hardware\n');
    mkdirSync(join(scratch, 'sys'));
    writeFileSync(join(scratch, 'sys', 'tunable'), '1\n');
    symlinkSync('/etc', join(scratch, 'link'));
    const tree = cloneTree(scratch, { recursive: true });
    umount(scratch, { detach: true });
    const target = join(tmp.path, 'seen');
    mkdirSync(target);
    try {
      expect(applyMasks(tree, [
        { path: 'kcore', how: 'file' },
        { path: 'acpi', how: 'dir' },
        { path: 'sys', how: 'readonly' },
        { path: 'timer_stats', how: 'file' },
      ])).toEqual(['kcore', 'acpi', 'sys']);
      // a symlink is refused (ELOOP), not followed to the node's /etc
      expect(() => applyMasks(tree, [{ path: 'link', how: 'dir' }])).toThrow(expect.objectContaining({ code: 'ELOOP', path: 'link' }));
      attachTree(tree, target);
      expect(readFileSync(join(target, 'kcore'), 'utf8')).toBe('');
      expect(existsSync(join(target, 'acpi', 'wakeup'))).toBe(false);
      expect(() => writeFileSync(join(target, 'acpi', 'x'), '')).toThrow(expect.objectContaining({ code: 'EROFS' }));
      expect(readFileSync(join(target, 'sys', 'tunable'), 'utf8')).toBe('1\n');
      expect(() => writeFileSync(join(target, 'sys', 'tunable'), '2\n')).toThrow(expect.objectContaining({ code: 'EROFS' }));
    } finally {
      closeFd(tree);
      while (isMountPoint(target)) umount(target, { detach: true });
    }
  });
});
