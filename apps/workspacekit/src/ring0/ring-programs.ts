import type { StageProgram, StageStep } from '@wsrun/native-ns';
import type { KitConfig } from '../config/kit-config';
import { workspaceSeccompPolicy } from '../seccomp/seccomp-policy';

/** Tags of the handshake between ring0 and ring2 (see Ring0). */
export const RING2_GO = 'proc-mounted';
export const SECCOMP_LISTENER = 'seccomp-listener';

/** Files of the container that the workspace sees as its own (skipped, and reported, when missing). */
const OPTIONAL_FILE_BINDS = ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf'];

export interface RingInputs {
  markPath: string;
  workspacePath: string;
  env: Record<string, string>;
}

// root registers of ring1's program
const MARK = 1;
const WORKSPACE = 2;
const SHARE = 3;
const NEW_ROOT = 0;

/**
 * ring1 is spawned held in a new user namespace while the daemon still prepares the root (its
 * maps are written right behind PrepareForUserNS); its program comes at release, with the paths
 * the daemon answered.
 */
export const RING1 = { name: 'wskit:ring1', namespaces: ['user' as const] };

/**
 * ring1: root in its user namespace; its mount namespace is made at release, so it copies the
 * root the daemon mounted meanwhile (whatever the propagation of the container's mounts). It
 * assembles ring2's root on ring0's mount point: the mark (the workspace's root filesystem) with
 * /dev, /sys, /workspace, /.workspace (the lift socket), the container's hosts/hostname/resolv.conf
 * and a fresh /tmp. Every target is opened inside the new root (RESOLVE_IN_ROOT): an image whose
 * /workspace is a symlink to /etc gets the bind on its own /etc, never the node's.
 * ring2: new mount + pid + uts namespaces; pivot_root into that root (old root detached);
 * installs the seccomp filter and hands the listener up; waits until ring0 had the daemon mount
 * /proc; execs the command.
 */
export function ring1Program(config: KitConfig, inputs: RingInputs): StageProgram {
  const steps: StageStep[] = [
    { op: 'unshare', namespaces: ['mount'] },
    { op: 'rslave' },
    // opened first: the folders may sit below the mount point the new root goes on
    { op: 'openRoot', register: MARK, path: inputs.markPath },
    { op: 'openRoot', register: WORKSPACE, path: inputs.workspacePath },
    { op: 'openRoot', register: SHARE, path: config.shareDir },
    { op: 'mount', kind: 'rbind', source: '/', sourceRoot: MARK, target: config.rootMountPoint },
    { op: 'openRoot', register: NEW_ROOT, path: config.rootMountPoint },
    { op: 'mount', kind: 'rbind', source: '/dev', target: '/dev', targetRoot: NEW_ROOT, create: true },
    { op: 'mount', kind: 'rbind', source: '/sys', target: '/sys', targetRoot: NEW_ROOT, create: true },
    { op: 'mount', kind: 'bind', source: '/', sourceRoot: WORKSPACE, target: '/workspace', targetRoot: NEW_ROOT, create: true },
    { op: 'mount', kind: 'bind', source: '/', sourceRoot: SHARE, target: '/.workspace', targetRoot: NEW_ROOT, create: true },
    ...OPTIONAL_FILE_BINDS.map((path): StageStep => ({ op: 'mount', kind: 'bind', source: path, target: path, targetRoot: NEW_ROOT, create: true, optional: true })),
    { op: 'mount', kind: 'fs', fstype: 'tmpfs', target: '/tmp', targetRoot: NEW_ROOT, options: 'mode=1777', attr: ['nosuid', 'nodev'], create: true },
    {
      op: 'spawn',
      stage: {
        name: 'wskit:ring2',
        namespaces: ['mount', 'pid', 'uts'],
        steps: [
          { op: 'hostname', name: config.hostname },
          { op: 'pivotRoot', path: config.rootMountPoint },
          // the filter before the wait: ring0 gets the listener while the daemon mounts /proc
          { op: 'installSeccomp' },
          { op: 'wait', tag: RING2_GO },
        ],
        seccomp: workspaceSeccompPolicy(SECCOMP_LISTENER),
        fds: { 0: 0, 1: 1, 2: 2 },
        end: { exec: { argv: config.command, env: inputs.env, cwd: '/workspace' } },
      },
    },
  ];
  return { steps, end: 'waitChild' };
}
