import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { WsError, WsErrorCode } from '@wsrun/common';
import { attachTree, cloneTree, closeFd, createFs, openPath, setMountAttr, umount, type IdMapping } from '@wsrun/native-ns';
import { chownSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonConfig } from '../config/daemon-config';
import { WorkspaceLayout } from '../registry/workspace';
import { BaseImage } from './base-image';
import { openMappedUserNamespace } from './mapped-user-namespace';
import { hasOwnFilesystem, isMountPoint } from './mount-table';

export type RootShiftKind = 'idmapped' | 'bind';

const O_PATH = 0o10000000;

/**
 * A workspace's root filesystem, mounted at its mark: an overlay whose lower layer is the base
 * image, idmapped read-only with the workspace's map, and whose upper layer belongs to the
 * workspace; the node's system folders (/usr, ...) join the same way, each as its own overlay at
 * its place in the mark. The idmapped lower trees are handed to overlayfs as fds
 * (fsconfig "lowerdir+") and never attached anywhere a process on the node could walk into them.
 * The mark is a shared mount in a peer group of its own, so mounts made below it later reach the
 * rings as slaves.
 */
@Injectable()
export class RootFilesystem implements OnApplicationShutdown {
  /** user namespaces carrying a mapping, by mapping: every workspace of a node shares one */
  private readonly mappedNamespaces = new Map<string, Promise<number>>();

  constructor(
    private readonly config: DaemonConfig,
    private readonly image: BaseImage,
  ) {}

  async mount(layout: WorkspaceLayout, mapping: IdMapping[], shift: RootShiftKind | 'auto' = 'auto'): Promise<RootShiftKind> {
    const image = this.image.ensure();
    if (hasOwnFilesystem(layout.mark)) {
      throw new WsError(WsErrorCode.FailedPrecondition, `the root filesystem of ${layout.dir} is already mounted`);
    }
    const layers = [{ name: 'root', lower: image.rootfs, at: '' }, ...image.systemFolders.map((f) => ({ name: f, lower: `/${f}`, at: f }))];
    for (const l of layers) {
      for (const part of ['upper', 'work']) this.ownedDir(join(layout.rootfsLayers, l.name, part));
    }
    mkdirSync(layout.mark, { recursive: true, mode: 0o755 });
    const usernsFd = await this.mappedNamespace(mapping);
    {
      let result: RootShiftKind = shift === 'bind' ? 'bind' : 'idmapped';
      try {
        for (const l of layers) {
          const lower = cloneTree(l.lower);
          try {
            if (result === 'idmapped') {
              try {
                setMountAttr(lower, { set: ['rdonly'], usernsFd });
              } catch (err) {
                // a filesystem without idmapped-mount support: plain (read-only) bind instead
                if (shift === 'idmapped' || !['EINVAL', 'EOPNOTSUPP', 'ENOTSUP', 'EPERM'].includes((err as { code: string }).code)) throw err;
                result = 'bind';
                setMountAttr(lower, { set: ['rdonly'] });
              }
            } else {
              setMountAttr(lower, { set: ['rdonly'] });
            }
            const upper = join(layout.rootfsLayers, l.name, 'upper');
            const work = join(layout.rootfsLayers, l.name, 'work');
            const overlay = createFs('overlay', { fdParams: { 'lowerdir+': lower }, options: `upperdir=${upper},workdir=${work}`, attr: ['nodev'] });
            try {
              if (l.at === '') {
                attachTree(overlay, layout.mark);
              } else {
                // resolved inside the mark: the upper layer belongs to the workspace, and a symlink
                // it left at /usr must not send the mount anywhere on the node
                const mark = openPath(layout.mark, O_PATH);
                try {
                  attachTree(overlay, l.at, { rootFd: mark });
                } finally {
                  closeFd(mark);
                }
              }
            } finally {
              closeFd(overlay);
            }
          } finally {
            closeFd(lower);
          }
        }
        const mark = openPath(layout.mark, O_PATH);
        try {
          setMountAttr(mark, { propagation: 'private', recursive: true });
          setMountAttr(mark, { propagation: 'shared', recursive: true });
        } finally {
          closeFd(mark);
        }
      } catch (err) {
        this.unmount(layout);
        throw WsError.wrap(`mounting the root filesystem of ${layout.dir}`, err, WsErrorCode.Internal);
      }
      return result;
    }
  }

  /** A user namespace fd with the mapping, made once and kept (an fd keeps it alive). */
  private mappedNamespace(mapping: IdMapping[]): Promise<number> {
    const key = JSON.stringify(mapping);
    let fd = this.mappedNamespaces.get(key);
    if (!fd) {
      fd = openMappedUserNamespace(mapping);
      fd.catch(() => this.mappedNamespaces.delete(key));
      this.mappedNamespaces.set(key, fd);
    }
    return fd;
  }

  async onApplicationShutdown(): Promise<void> {
    for (const fd of this.mappedNamespaces.values()) closeFd(await fd);
    this.mappedNamespaces.clear();
  }

  /** Unmounts the mark with everything below it. Safe when nothing is mounted. */
  unmount(layout: WorkspaceLayout): void {
    while (isMountPoint(layout.mark)) umount(layout.mark, { detach: true });
  }

  private ownedDir(path: string): void {
    mkdirSync(path, { recursive: true, mode: 0o755 });
    chownSync(path, this.config.rootUid, this.config.rootUid);
  }
}
