import { Injectable } from '@nestjs/common';
import { chownSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonConfig } from '../config/daemon-config';

/** Bump when the image's layout changes: images of an older version are rebuilt. */
const IMAGE_VERSION = 1;

/**
 * Top-level system folders taken from the node as read-only, idmapped lower layers of their own
 * overlay (RootFilesystem). On merged-/usr systems bin, sbin and lib* are symlinks into /usr and
 * only /usr is needed.
 */
export const SYSTEM_FOLDERS = ['usr', 'bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32'];

/** Files of the node's /etc that are safe to copy into every workspace: no secrets, no keys. */
const COPIED_ETC = [
  'nsswitch.conf', 'ld.so.conf', 'ld.so.conf.d', 'ld.so.cache', 'alternatives', 'ssl/certs', 'ssl/openssl.cnf',
  'ca-certificates.conf', 'os-release', 'debian_version', 'profile', 'profile.d', 'bash.bashrc', 'environment',
  'shells', 'login.defs', 'inputrc', 'mime.types', 'protocols', 'services', 'host.conf', 'gai.conf', 'localtime', 'timezone',
];

/** The workspace user inside (uid and gid 33333 inside the workspace, like Gitpod's "gitpod"). */
export const WORKSPACE_USER = { name: 'gitpod', uid: 33333, gid: 33333, home: '/home/gitpod' };

export interface ImageInfo {
  rootfs: string;
  /** system folders of the node that are real directories (each gets its own overlay) */
  systemFolders: string[];
}

/**
 * The base image every workspace's root filesystem starts from, built once per node into the
 * state dir and reused: a generated /etc holding no secrets (users root and gitpod, no shadow
 * entries with passwords, no keys), empty mount points for the node's system folders, and the
 * usual empty folders. Files carry CONTAINER ids on disk (0 = root inside): the image is mounted
 * idmapped, so disk id n shows as n inside the workspace.
 */
@Injectable()
export class BaseImage {
  /** the image this process checked or built: later calls (one per workspace start) look only for its marker */
  private known: ImageInfo | undefined;

  constructor(private readonly config: DaemonConfig) {}

  get dir(): string {
    return join(this.config.imagesDir, 'base');
  }

  ensure(): ImageInfo {
    const rootfs = join(this.dir, 'rootfs');
    const marker = join(this.dir, 'image.json');
    if (this.known && existsSync(marker)) return this.known;
    const systemFolders = SYSTEM_FOLDERS.filter((f) => isRealDirectory(`/${f}`));
    if (existsSync(marker)) {
      const info = JSON.parse(readFileSync(marker, 'utf8')) as { version: number };
      if (info.version === IMAGE_VERSION) return (this.known = { rootfs, systemFolders });
    }
    // build next to the final place and rename: a crash never leaves a half-built image in use
    const building = join(this.config.imagesDir, `base.building-${process.pid}`);
    rmSync(building, { recursive: true, force: true });
    this.build(join(building, 'rootfs'));
    writeFileSync(join(building, 'image.json'), JSON.stringify({ version: IMAGE_VERSION, builtAt: new Date().toISOString() }) + '\n');
    rmSync(this.dir, { recursive: true, force: true });
    renameSync(building, this.dir);
    return (this.known = { rootfs, systemFolders });
  }

  private build(rootfs: string): void {
    const dir = (path: string, mode = 0o755, owner = 0) => {
      mkdirSync(join(rootfs, path), { recursive: true, mode });
      chownSync(join(rootfs, path), owner, owner);
    };
    dir('.');
    for (const d of ['dev', 'proc', 'sys', 'run', 'mnt', 'opt', 'srv', 'media', 'workspace', 'var/lib', 'var/log', 'var/cache', 'etc', 'home']) dir(d);
    dir('root', 0o700);
    dir('tmp', 0o1777);
    dir('var/tmp', 0o1777);
    dir(WORKSPACE_USER.home.slice(1), 0o755, WORKSPACE_USER.uid);
    for (const f of SYSTEM_FOLDERS) {
      const node = `/${f}`;
      if (!existsSync(node)) continue;
      if (lstatSync(node).isSymbolicLink()) symlinkSync(readlinkSync(node), join(rootfs, f));
      else dir(f);
    }
    for (const entry of COPIED_ETC) {
      const from = join('/etc', entry);
      if (existsSync(from) || isSymlink(from)) cpSync(from, join(rootfs, 'etc', entry), { recursive: true, verbatimSymlinks: true });
    }
    const u = WORKSPACE_USER;
    const etc = (name: string, text: string, mode = 0o644) => writeFileSync(join(rootfs, 'etc', name), text, { mode });
    etc('passwd', `root:x:0:0:root:/root:/bin/bash\n${u.name}:x:${u.uid}:${u.gid}:Workspace user:${u.home}:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`);
    etc('group', `root:x:0:\n${u.name}:x:${u.gid}:\nnogroup:x:65534:\n`);
    // locked accounts only: the image holds no password of any kind
    etc('shadow', `root:*:19000:0:99999:7:::\n${u.name}:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n`, 0o640);
    etc('hosts', '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n');
    etc('hostname', 'workspace\n');
    etc('resolv.conf', '');
    symlinkSync('../proc/self/mounts', join(rootfs, 'etc/mtab'));
  }
}

function isRealDirectory(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

