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

/** A workspace's root built as a detached tree: mounted nowhere until it is attached at the mark. */
interface BuiltRoot {
  /** the root overlay, with the system folders' overlays inside it */
  tree: number;
  shift: RootShiftKind;
}

/**
 * A workspace's root filesystem, mounted at its mark: an overlay whose lower layer is the base
 * image, idmapped read-only with the workspace's map, and whose upper layer belongs to the
 * workspace; the node's system folders (/usr, ...) join the same way, each as its own overlay at
 * its place in the root. The idmapped lower trees are handed to overlayfs as fds
 * (fsconfig "lowerdir+") and never attached anywhere a process on the node could walk into them.
 * The whole root is assembled as a detached tree (held by an fd of the daemon only) and attached
 * at the mark in one move; the mark is a shared mount in a peer group of its own, so mounts made
 * below it later reach the rings as slaves.
 */
@Injectable()
export class RootFilesystem implements OnApplicationShutdown {
  /** user namespaces carrying a mapping, by mapping: every workspace of a node shares one */
  private readonly mappedNamespaces = new Map<string, Promise<number>>();
  /** roots built ahead of their mount, by workspace folder */
  private readonly ahead = new Map<string, Promise<BuiltRoot>>();
  /** workspace folders whose mount() is under way */
  private readonly mounting = new Set<string>();
  /** roots built ahead and discarded while their build was still under way: closed once built */
  private readonly discarding = new Map<string, Promise<void>>();

  constructor(
    private readonly config: DaemonConfig,
    private readonly image: BaseImage,
  ) {}

  /**
   * Builds the workspace's root now, for the mount() that follows: ring0 has connected, and its
   * PrepareForUserNS comes within milliseconds, while the daemon is otherwise idle. The tree stays
   * detached until mount(). A failed build is dropped: mount() builds again and reports why.
   */
  buildAhead(layout: WorkspaceLayout, mapping: IdMapping[]): void {
    // never a second overlay on the same upper and work folders: overlayfs cleans the work
    // folder when it mounts, under the feet of one mounted already or being built by mount()
    if (this.ahead.has(layout.dir) || this.mounting.has(layout.dir) || this.discarding.has(layout.dir) || hasOwnFilesystem(layout.mark)) return;
    const built = this.build(layout, mapping, 'auto');
    built.catch(() => {
      if (this.ahead.get(layout.dir) === built) this.ahead.delete(layout.dir);
    });
    this.ahead.set(layout.dir, built);
  }

  /** Closes a root built ahead and not mounted (the workspace stopped or goes away). */
  discardAhead(layout: WorkspaceLayout): void {
    const built = this.ahead.get(layout.dir);
    if (!built) return;
    this.ahead.delete(layout.dir);
    // until it is closed, no other build may start on the same folders
    const closing = built.then(
      (b) => closeFd(b.tree),
      () => undefined,
    );
    this.discarding.set(layout.dir, closing);
    void closing.then(() => {
      if (this.discarding.get(layout.dir) === closing) this.discarding.delete(layout.dir);
    });
  }

  async mount(layout: WorkspaceLayout, mapping: IdMapping[], shift: RootShiftKind | 'auto' = 'auto'): Promise<RootShiftKind> {
    const ahead = this.ahead.get(layout.dir);
    this.ahead.delete(layout.dir);
    this.mounting.add(layout.dir);
    let built: BuiltRoot | undefined;
    try {
      await this.discarding.get(layout.dir);
      if (ahead) {
        // settled (and closed when not wanted) before anything else is built on its folders
        const early = await ahead.catch(() => undefined);
        if (shift === 'auto') built = early;
        else if (early) closeFd(early.tree);
      }
      if (hasOwnFilesystem(layout.mark)) {
        throw new WsError(WsErrorCode.FailedPrecondition, `the root filesystem of ${layout.dir} is already mounted`);
      }
      built ??= await this.build(layout, mapping, shift);
      mkdirSync(layout.mark, { recursive: true, mode: 0o755 });
      try {
        attachTree(built.tree, layout.mark);
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
      return built.shift;
    } finally {
      this.mounting.delete(layout.dir);
      if (built) closeFd(built.tree);
    }
  }

  /** The root as a detached tree; its fd belongs to the caller. */
  private async build(layout: WorkspaceLayout, mapping: IdMapping[], shift: RootShiftKind | 'auto'): Promise<BuiltRoot> {
    const image = this.image.ensure();
    const layers = [{ name: 'root', lower: image.rootfs, at: '' }, ...image.systemFolders.map((f) => ({ name: f, lower: `/${f}`, at: f }))];
    for (const l of layers) {
      for (const part of ['upper', 'work']) this.ownedDir(join(layout.rootfsLayers, l.name, part));
    }
    const usernsFd = await this.mappedNamespace(mapping);
    let result: RootShiftKind = shift === 'bind' ? 'bind' : 'idmapped';
    let tree = -1;
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
          if (l.at === '') {
            tree = overlay;
            continue;
          }
          try {
            // resolved inside the root: the upper layer belongs to the workspace, and a symlink it
            // left at /usr must not send the mount anywhere on the node
            attachTree(overlay, l.at, { rootFd: tree });
          } finally {
            closeFd(overlay);
          }
        } finally {
          closeFd(lower);
        }
      }
      return { tree, shift: result };
    } catch (err) {
      // closing a detached tree's last fd unmounts all of it
      if (tree >= 0) closeFd(tree);
      throw WsError.wrap(`mounting the root filesystem of ${layout.dir}`, err, WsErrorCode.Internal);
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
    for (const dir of [...this.ahead.keys()]) this.discardAhead(new WorkspaceLayout(dir));
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
