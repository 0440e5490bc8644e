import { constants as fsConstants } from 'node:fs';
import { native } from './loader';
import type { MountAttr, Propagation } from './stage-program';
import { MountAttrBit, MountKind, PropagationCode, UmountFlag } from './wire-constants';

/**
 * Safe paths and mounts in the calling process's own mount namespace. Targets are opened inside
 * a root with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) and mounts are attached through
 * that fd (move_mount), so a symlink or ".." can never lead a mount outside the root, even when
 * it is swapped in after the check. For mounts in another process's namespaces see ns-ops.ts.
 */

const O_PATH = 0o10000000;
export const AT_FDCWD = -100;

export type ResolveMode = 'inRoot' | 'beneath' | 'beneathNoSymlinks';
const RESOLVE: Record<ResolveMode, number> = { inRoot: 1, beneath: 2, beneathNoSymlinks: 3 };

/** An O_PATH fd of a directory, to use as a root for the functions below. */
export function openRoot(path: string): number {
  return native().openRoot(path);
}

/**
 * Opens `path` inside the tree at rootFd. inRoot: "/" and ".." stop at the root and symlinks
 * resolve inside it; beneath: any escape fails with EXDEV; beneathNoSymlinks: any symlink fails
 * with ELOOP. Magic links (/proc/<pid>/fd/*) never resolve. Default flags: O_PATH.
 */
export function openInRoot(rootFd: number, path: string, opts: { flags?: number; resolve?: ResolveMode } = {}): number {
  return native().openInRoot(rootFd, path, opts.flags ?? O_PATH, RESOLVE[opts.resolve ?? 'inRoot']);
}

/** mkdir -p of `path` inside rootFd (existing symlinks resolve inside the root). */
export function mkdirInRoot(rootFd: number, path: string, mode = 0o755): void {
  native().mkdirInRoot(rootFd, path, mode);
}

export function attrBits(attrs: readonly MountAttr[] = []): number {
  return attrs.reduce((mask, a) => {
    const bit = MountAttrBit[a];
    if (bit === undefined) throw new TypeError(`unknown mount attribute "${a}"`);
    return mask | bit;
  }, 0);
}

export interface MountOptions {
  kind: 'bind' | 'rbind' | 'fs' | 'fd';
  /** bind/rbind: the source path; fs: the filesystem type */
  source?: string;
  /** resolve the bind source inside this root fd (else a plain path) */
  sourceRootFd?: number;
  /** fd: the detached tree to attach */
  sourceFd?: number;
  /** fs: comma-separated options, e.g. "size=64m,mode=1777" */
  options?: string;
  /** fs proc: the pid namespace (an fd of /proc/<pid>/ns/pid) */
  pidnsFd?: number;
  target: string;
  /** the root the target is resolved in; default: this process's "/" */
  targetRootFd?: number;
  attr?: MountAttr[];
  propagation?: Propagation;
  /** create a missing mount point (a directory, or a file for a file source) */
  create?: boolean;
}

/** Creates a mount (see MountOptions). Nothing is attached when it fails. */
export function mount(opts: MountOptions): void {
  const rootFd = opts.targetRootFd ?? native().openRoot('/');
  try {
    native().mount({
      kind: MountKind[opts.kind],
      source: opts.source ?? '',
      sourceRootFd: opts.sourceRootFd ?? -1,
      sourceFd: opts.sourceFd ?? -1,
      options: opts.options ?? '',
      pidnsFd: opts.pidnsFd ?? -1,
      target: opts.target,
      targetRootFd: rootFd,
      attr: attrBits(opts.attr),
      propagation: opts.propagation ? PropagationCode[opts.propagation] : 0,
      createTarget: opts.create ?? false,
    });
  } finally {
    if (opts.targetRootFd === undefined) native().close(rootFd);
  }
}

/** open_tree(OPEN_TREE_CLONE): a detached copy of the mount at `path` (with submounts when recursive). */
export function cloneTree(path: string, opts: { rootFd?: number; recursive?: boolean } = {}): number {
  return native().cloneTree(opts.rootFd ?? -1, path, opts.recursive ?? false);
}

/**
 * fsopen + fsconfig + fsmount: a detached new filesystem (proc, sysfs, tmpfs, overlay ...).
 * `options` are string parameters ("size=1m,mode=755"); `fdParams` are fd parameters, set first:
 * { pidns: fd } for proc, { 'lowerdir+': fd } for an overlay whose lower layer is a detached tree.
 */
export function createFs(fstype: string, opts: { options?: string; pidnsFd?: number; fdParams?: Record<string, number>; attr?: MountAttr[] } = {}): number {
  const fdParams = { ...(opts.fdParams ?? {}), ...(opts.pidnsFd !== undefined ? { pidns: opts.pidnsFd } : {}) };
  return native().newFs(fstype, opts.options ?? '', fdParams, attrBits(opts.attr));
}

/** mount_setattr on a mount fd: attributes, propagation, or an idmap (detached trees only). */
export function setMountAttr(
  fd: number,
  opts: { set?: MountAttr[]; clear?: MountAttr[]; propagation?: Propagation; usernsFd?: number; recursive?: boolean },
): void {
  native().setAttr(fd, {
    set: attrBits(opts.set) | (opts.usernsFd !== undefined ? MountAttrBit.idmap : 0),
    clear: attrBits(opts.clear),
    propagation: opts.propagation ? PropagationCode[opts.propagation] : 0,
    ...(opts.usernsFd !== undefined ? { usernsFd: opts.usernsFd } : {}),
    recursive: opts.recursive ?? false,
  });
}

/** Attaches a detached tree on `target` inside rootFd (default "/"). */
export function attachTree(treeFd: number, target: string, opts: { rootFd?: number; create?: boolean } = {}): void {
  const rootFd = opts.rootFd ?? native().openRoot('/');
  try {
    native().attachTree(treeFd, rootFd, target, opts.create ?? false);
  } finally {
    if (opts.rootFd === undefined) native().close(rootFd);
  }
}

/** How a mask covers its path. Twin: enum ns_mask_kind in src/core/masks.h. */
export type MaskKind = 'file' | 'dir' | 'readonly';
const MASK_KIND: Record<MaskKind, number> = { file: 1, dir: 2, readonly: 3 };

/**
 * Covers paths of a detached tree (a fresh proc or sysfs), in one call: `file` gets /dev/null
 * over it, `dir` an empty read-only tmpfs, `readonly` a read-only bind of itself. Each path is
 * resolved beneath the tree without symlinks; one that does not exist is skipped. Returns the
 * paths covered; throws for the first that fails (the ones before it stay covered).
 */
export function applyMasks(treeFd: number, masks: readonly { path: string; how: MaskKind }[]): string[] {
  const applied = native().applyMasks(
    treeFd,
    masks.map((m) => m.path),
    masks.map((m) => MASK_KIND[m.how]),
  );
  return masks.filter((_, i) => applied[i] === 1).map((m) => m.path);
}

/** Unmounts the mount at `path` inside rootFd (default "/"). */
export function umount(path: string, opts: { rootFd?: number; detach?: boolean } = {}): void {
  const rootFd = opts.rootFd ?? native().openRoot('/');
  try {
    native().umountInRoot(rootFd, path, opts.detach ? UmountFlag.detach : 0);
  } finally {
    if (opts.rootFd === undefined) native().close(rootFd);
  }
}

/** O_RDONLY | O_DIRECTORY, for callers opening cgroup folders and the like. */
export const O_DIRECTORY_RDONLY = fsConstants.O_RDONLY | fsConstants.O_DIRECTORY;
