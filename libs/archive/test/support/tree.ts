import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { closeFd, fgetxattrs, fsetxattr, lutimesAt, openRoot } from '@wsrun/native-ns';

/** Test trees: build a rich source tree, snapshot trees (path-based lstat: the tests are trusted), compare. */

export function tempDir(prefix: string): { path: string; cleanup: () => void } {
  const path = fs.mkdtempSync(join(tmpdir(), `wsrun-archive-${prefix}-`));
  return { path, cleanup: () => fs.rmSync(path, { recursive: true, force: true }) };
}

export interface NodeInfo {
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  sha256?: string;
  size?: number;
  target?: string;
  rdev?: bigint;
  xattrs: Record<string, string>;
  /** for files with several links: the first path (in sorted order) sharing the inode */
  linkGroup?: string;
}

function typeOf(st: fs.BigIntStats): NodeInfo['type'] {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

function xattrsOf(path: string, type: NodeInfo['type']): Record<string, string> {
  if (type !== 'file' && type !== 'dir') return {};
  const fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const all = fgetxattrs(fd);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(all).sort(([a], [b]) => (a < b ? -1 : 1))) if (k.startsWith('user.')) out[k] = v.toString('base64');
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

/** Every node below root (root itself excluded), keyed by relative path. */
export function snapshot(root: string): Map<string, NodeInfo> {
  const out = new Map<string, NodeInfo>();
  const inodes = new Map<string, string>();
  const walk = (rel: string): void => {
    const names = fs.readdirSync(join(root, rel)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(root, r);
      const st = fs.lstatSync(p, { bigint: true });
      const type = typeOf(st);
      const info: NodeInfo = { type, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid), mtimeNs: st.mtimeNs, xattrs: xattrsOf(p, type) };
      if (type === 'file') {
        info.size = Number(st.size);
        info.sha256 = createHash('sha256').update(fs.readFileSync(p)).digest('hex');
        if (st.nlink > 1n) {
          const key = `${st.dev}:${st.ino}`;
          if (!inodes.has(key)) inodes.set(key, r);
          info.linkGroup = inodes.get(key);
        }
      }
      if (type === 'symlink') info.target = fs.readlinkSync(p);
      if (type === 'char' || type === 'block') info.rdev = st.rdev;
      out.set(r, info);
      if (type === 'dir') walk(r);
    }
  };
  walk('');
  return out;
}

export interface CompareOptions {
  /** compare mtimes only to the second (GNU format) */
  secondsOnly?: boolean;
  xattrs?: boolean;
  /** skip mtimes of these types (e.g. directories whose content was changed afterwards) */
  ignoreMtimeOf?: NodeInfo['type'][];
}

/** A readable diff of two snapshots ([] when equal). */
export function diffTrees(expected: Map<string, NodeInfo>, actual: Map<string, NodeInfo>, opts: CompareOptions = {}): string[] {
  const diffs: string[] = [];
  const norm = (n: NodeInfo): Record<string, unknown> => {
    const { mtimeNs, xattrs, ...rest } = n;
    const out: Record<string, unknown> = { ...rest };
    if (!opts.ignoreMtimeOf?.includes(n.type)) out['mtime'] = opts.secondsOnly ? String(floorSec(mtimeNs)) : String(mtimeNs);
    if (opts.xattrs !== false) out['xattrs'] = xattrs;
    if (out['rdev'] !== undefined) out['rdev'] = String(out['rdev']);
    return out;
  };
  for (const [path, e] of expected) {
    const a = actual.get(path);
    if (!a) diffs.push(`missing ${path}`);
    else {
      const je = JSON.stringify(norm(e));
      const ja = JSON.stringify(norm(a));
      if (je !== ja) diffs.push(`${path}: expected ${je} got ${ja}`);
    }
  }
  for (const path of actual.keys()) if (!expected.has(path)) diffs.push(`unexpected ${path}`);
  return diffs;
}

function floorSec(ns: bigint): bigint {
  const s = ns / 1_000_000_000n;
  return ns < 0n && ns % 1_000_000_000n !== 0n ? s - 1n : s;
}

export const LONG_DIR_1 = `long/${'d'.repeat(60)}/${'e'.repeat(60)}`;
export const LONG_PATH_300 = `long/${'x'.repeat(200)}/${'y'.repeat(200)}/z.txt`;
export const UNICODE_NAME = 'unicode/ünïcødé-文件-😀.txt';

/**
 * A source tree with everything a workspace backup meets: empty and 5 MB files, 0700/0555
 * dirs, relative/absolute/dangling symlinks, hardlinks, paths over 100 and 255 bytes, unicode,
 * user.* xattrs, owners beyond ustar, setuid, sub-second and pre-1970 mtimes.
 */
export function makeSourceTree(root: string, opts: { bigFileBytes?: number } = {}): void {
  const w = (rel: string, data: string | Buffer): void => {
    fs.mkdirSync(join(root, rel, '..'), { recursive: true });
    fs.writeFileSync(join(root, rel), data);
  };
  w('empty', '');
  w('small.txt', 'hello archive\n');
  w('big.bin', randomBytes(opts.bigFileBytes ?? 5 * 1024 * 1024));
  w('dir0700/inside.txt', 'private\n');
  w('dir0555/inside.txt', 'read-only dir\n');
  w('dir0555/sub/deeper.txt', 'deeper\n');
  w('hard/a', 'shared inode\n');
  fs.linkSync(join(root, 'hard/a'), join(root, 'hard/b'));
  fs.linkSync(join(root, 'hard/a'), join(root, 'hard-c'));
  fs.mkdirSync(join(root, 'links'));
  fs.symlinkSync('../small.txt', join(root, 'links/rel'));
  fs.symlinkSync('/etc/hostname', join(root, 'links/abs'));
  fs.symlinkSync('nowhere/at/all', join(root, 'links/dangling'));
  fs.symlinkSync(`../${LONG_DIR_1}/${'t'.repeat(120)}`, join(root, 'links/long-target'));
  w(`${LONG_DIR_1}/file-${'f'.repeat(30)}`, 'over 100 bytes of path\n');
  w(LONG_PATH_300, 'over 255 bytes of path\n');
  w(`long/${'n'.repeat(150)}`, 'a 150-byte name\n');
  w(UNICODE_NAME, 'unicode\n');
  w('owners/u1000', '1000\n');
  w('owners/u33333', '33333\n');
  w('owners/u100001', '100001\n');
  w('owners/u4000000', 'beyond ustar\n');
  w('setuid', '#!/bin/sh\n');
  w('xattrs/file', 'has xattrs\n');
  w('old', 'before 1970\n');

  fs.chownSync(join(root, 'owners/u1000'), 1000, 1000);
  fs.chownSync(join(root, 'owners/u33333'), 33333, 33333);
  fs.chownSync(join(root, 'owners/u100001'), 100001, 100002);
  fs.chownSync(join(root, 'owners/u4000000'), 4000000, 4000001);
  fs.chownSync(join(root, 'owners'), 33333, 33333);
  fs.lchownSync(join(root, 'links/rel'), 33333, 33333);
  fs.chmodSync(join(root, 'setuid'), 0o4755);
  fs.chmodSync(join(root, 'small.txt'), 0o640);

  for (const rel of ['xattrs/file', 'xattrs']) {
    const fd = fs.openSync(join(root, rel), 'r');
    try {
      fsetxattr(fd, 'user.wsrun.test', Buffer.from(`value of ${rel}`));
      fsetxattr(fd, 'user.binary', Buffer.from([0, 1, 2, 10, 255]));
    } finally {
      fs.closeSync(fd);
    }
  }
  // times last, deepest first, so that creating children does not move a parent's mtime
  const rootFd = openRoot(root);
  try {
    const all = [...snapshot(root).keys()].sort((a, b) => b.split('/').length - a.split('/').length);
    let i = 0;
    for (const rel of all) {
      // whole seconds before 1970: native-ns cannot set a negative time with a fraction (see extract-tar.ts)
      const ns = rel === 'old' ? -1_000_000_000_000n : 1_600_000_000_123_456_789n + BigInt(i++) * 1_000_000_007n;
      lutimesAt(rootFd, rel, ns, ns);
    }
  } finally {
    closeFd(rootFd);
  }
  fs.chmodSync(join(root, 'dir0700'), 0o700);
  fs.chmodSync(join(root, 'dir0555'), 0o555);
}

/** A Readable over a buffer in small chunks, to exercise chunk boundaries. */
export function chunked(buf: Buffer, size = 7919): Readable {
  let at = 0;
  return new Readable({
    read() {
      if (at >= buf.length) this.push(null);
      else {
        this.push(buf.subarray(at, at + size));
        at += size;
      }
    },
  });
}

export async function collect(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c);
  return Buffer.concat(parts);
}
