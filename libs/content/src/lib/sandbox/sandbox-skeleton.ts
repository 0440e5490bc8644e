import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * The root folder of one sandboxed run, made on the node before the stage starts and mounted
 * read-only as the sandbox's "/". It holds only mount points and a generated /etc without
 * secrets: root and nobody in passwd/group (no shadow at all), name resolution, CA certificates.
 * The node's system folders, the workspace folder, the content-init bundle, a tmpfs and a few
 * device nodes are mounted onto it by the stage (sandbox-stage.ts). It is made per run (a few
 * ms) so that resolv.conf and hosts are current, and removed afterwards.
 */

/** Top-level system folders of the node; on merged-/usr systems all but usr are symlinks into it. */
export const SYSTEM_FOLDERS = ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];

/** Small files of the node's /etc that git, curl and Node need and that hold no secrets: copied. */
const COPIED_ETC = ['resolv.conf', 'hosts', 'host.conf', 'gai.conf', 'services', 'protocols', 'ld.so.cache', 'localtime', 'ssl/openssl.cnf'];

/** Folders of the node's /etc bound read-only (certificate stores are many files and links). */
export const BOUND_ETC = ['ssl/certs'];

/** Device nodes bound from the node's /dev (git and Node need null and urandom; tools expect the rest). */
export const DEVICES = ['null', 'zero', 'full', 'random', 'urandom'];

export interface SandboxSkeleton {
  dir: string;
  /** system folders that are real directories on the node (mount points in the skeleton) */
  systemFolders: string[];
  /** /etc folders that exist on the node (mount points in the skeleton) */
  etcFolders: string[];
  remove(): void;
}

/**
 * Builds the skeleton in a fresh private folder under `parent` (default: the OS temp folder).
 * `extraReadOnly` are absolute host paths to be visible at the same path inside (mount points
 * are made for them). Throws on any filesystem error (nothing is left behind then).
 */
export function createSandboxSkeleton(opts: { parent?: string; mountPoints: string[]; extraReadOnly?: string[] }): SandboxSkeleton {
  const dir = mkdtempSync(join(opts.parent ?? tmpdir(), 'wsrun-content-root-'));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    // the stage runs as the workspace's uid on the node: it must be able to enter every folder
    chmodSync(dir, 0o755);
    const mkdir = (p: string, mode = 0o755): void => {
      mkdirSync(join(dir, p), { recursive: true, mode });
      chmodSync(join(dir, p), mode);
    };
    const systemFolders: string[] = [];
    for (const f of SYSTEM_FOLDERS) {
      const node = `/${f}`;
      if (!exists(node)) continue;
      if (lstatSync(node).isSymbolicLink()) symlinkSync(readlinkSync(node), join(dir, f));
      else {
        mkdir(f);
        systemFolders.push(f);
      }
    }
    for (const p of ['etc', 'root', 'dev', 'proc', 'tmp', ...opts.mountPoints.map((m) => m.replace(/^\/+/, ''))]) mkdir(p);
    chmodSync(join(dir, 'root'), 0o700);
    for (const d of DEVICES) writeFileSync(join(dir, 'dev', d), '', { mode: 0o644 });
    for (const [name, target] of [['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'], ['stdout', '/proc/self/fd/1'], ['stderr', '/proc/self/fd/2']]) symlinkSync(target, join(dir, 'dev', name));
    const etc = (name: string, text: string): void => writeFileSync(join(dir, 'etc', name), text, { mode: 0o644 });
    etc('passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
    etc('group', 'root:x:0:\nnogroup:x:65534:\n');
    etc('nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n');
    for (const name of COPIED_ETC) {
      const from = join('/etc', name);
      if (!existsSync(from)) continue; // a dangling link counts as missing
      mkdirSync(dirname(join(dir, 'etc', name)), { recursive: true, mode: 0o755 });
      copyFileSync(from, join(dir, 'etc', name));
      chmodSync(join(dir, 'etc', name), 0o644);
    }
    const etcFolders = BOUND_ETC.filter((f) => isDirectory(join('/etc', f)));
    for (const f of etcFolders) mkdir(join('etc', f));
    for (const p of opts.extraReadOnly ?? []) {
      const inside = join(dir, p);
      if (isDirectory(p)) mkdir(p.replace(/^\/+/, ''));
      else {
        mkdirSync(dirname(inside), { recursive: true, mode: 0o755 });
        writeFileSync(inside, '', { mode: 0o644 });
      }
    }
    return { dir, systemFolders, etcFolders, remove };
  } catch (err) {
    remove();
    throw err;
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
