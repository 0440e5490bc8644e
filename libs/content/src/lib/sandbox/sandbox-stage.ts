import { type CapabilitySets, onlyCapabilities, type ExecSpec, type StageOptions, type StageStep } from '@wsrun/native-ns';
import { SANDBOX_BUNDLE_DIR, SANDBOX_DESTINATION } from '../request/child-protocol';
import { DEVICES, type SandboxSkeleton } from './sandbox-skeleton';

/**
 * The stage program of a sandboxed run (DESIGN.md §3): new user, mount, pid, ipc, uts and cgroup
 * namespaces (the network is shared: git and downloads need it), held until the parent wrote
 * the workspace's id maps. The root is the skeleton, read-only, with:
 *
 *   /usr, /lib* ...    the node's system folders, read-only, nosuid, nodev
 *   /etc/ssl/certs     read-only (the rest of /etc is generated in the skeleton: no secrets)
 *   /dst               the workspace folder, read-write, nosuid, nodev
 *   /opt/wsrun/content-init   the content-init bundle, read-only
 *   /tmp               a private tmpfs
 *   /dev/{null,...}    single device nodes, not the node's /dev
 *   /proc              a proc of the sandbox's own pid namespace
 *
 * The command runs as root of the namespace with groups dropped, no_new_privs, and only
 * CHOWN (archive owners), FOWNER (modes and times of files it does not own, removing read-only
 * folders), MKNOD (device entries in archives, when allowed) and SETFCAP (file capabilities in
 * archives). No CAP_SYS_ADMIN: it cannot mount, so the layout above is final.
 */

export interface SandboxLayout {
  /** a different capability set (packing a backup needs only DAC_READ_SEARCH) */
  capabilities?: CapabilitySets;
  /** the workspace folder bound read-only (packing only reads it) */
  readOnlyDestination?: boolean;
  skeleton: SandboxSkeleton;
  /** host path of the workspace folder (bound at /dst) */
  destination: string;
  /** host path of the content-init bundle folder (bound at /opt/wsrun/content-init) */
  bundleDir: string;
  /** host paths made visible read-only at the same path (local git mirrors, file:// remotes) */
  extraReadOnly?: string[];
  /** size of the private /tmp */
  tmpSize?: string;
}

/** Mount points the skeleton needs for a layout (besides system folders and /etc). */
export function layoutMountPoints(): string[] {
  return [SANDBOX_DESTINATION, SANDBOX_BUNDLE_DIR];
}

export const SANDBOX_CAPABILITIES = onlyCapabilities(['CHOWN', 'FOWNER', 'MKNOD', 'SETFCAP']);

const RO = ['rdonly', 'nosuid', 'nodev'] as const;

export function sandboxStageOptions(layout: SandboxLayout, exec: ExecSpec, fds: Record<number, number>, name = 'content-init:sandbox'): StageOptions {
  const { skeleton } = layout;
  const ROOT = 0;
  const steps: StageStep[] = [
    { op: 'rslave' },
    // opened before anything is mounted: the tmpfs below may cover the folders they live in
    { op: 'openRoot', register: ROOT, path: skeleton.dir },
    { op: 'openRoot', register: 1, path: layout.destination },
    { op: 'openRoot', register: 2, path: layout.bundleDir },
    ...skeleton.systemFolders.map((f): StageStep => ({ op: 'mount', kind: 'rbind', source: `/${f}`, target: f, targetRoot: ROOT, attr: [...RO] })),
    ...skeleton.etcFolders.map((f): StageStep => ({ op: 'mount', kind: 'rbind', source: `/etc/${f}`, target: `etc/${f}`, targetRoot: ROOT, attr: [...RO] })),
    { op: 'mount', kind: 'bind', source: '/', sourceRoot: 1, target: SANDBOX_DESTINATION, targetRoot: ROOT, attr: layout.readOnlyDestination ? [...RO] : ['nosuid', 'nodev'] },
    { op: 'mount', kind: 'bind', source: '/', sourceRoot: 2, target: SANDBOX_BUNDLE_DIR, targetRoot: ROOT, attr: [...RO] },
    { op: 'mount', kind: 'fs', fstype: 'tmpfs', target: 'tmp', targetRoot: ROOT, options: `mode=1777,size=${layout.tmpSize ?? '512m'}`, attr: ['nosuid', 'nodev'] },
    ...DEVICES.map((d): StageStep => ({ op: 'mount', kind: 'bind', source: `/dev/${d}`, target: `dev/${d}`, targetRoot: ROOT, attr: ['nosuid', 'noexec'] })),
    // this stage is pid 1 of the new pid namespace: the proc it mounts shows only the sandbox
    { op: 'mount', kind: 'fs', fstype: 'proc', target: 'proc', targetRoot: ROOT, attr: ['nosuid', 'nodev', 'noexec'] },
    ...(layout.extraReadOnly ?? []).map((p): StageStep => ({ op: 'mount', kind: 'rbind', source: p, target: p, targetRoot: ROOT, attr: [...RO], create: true })),
    { op: 'pivotRoot', path: skeleton.dir },
    // the skeleton itself (the new "/") becomes read-only; the mounts on it keep their own flags
    { op: 'setattr', path: '/', set: ['rdonly', 'nosuid', 'nodev'] },
  ];
  return {
    name,
    namespaces: ['user', 'mount', 'pid', 'ipc', 'uts', 'cgroup'],
    hold: true,
    steps,
    uid: 0,
    gid: 0,
    // drops the node's supplementary groups (root's group 0 would still count for access checks)
    groups: [],
    noNewPrivs: true,
    noCoreDumps: true,
    capabilities: layout.capabilities ?? SANDBOX_CAPABILITIES,
    pdeathsig: 'SIGKILL',
    fds,
    end: { exec: { cwd: '/', ...exec } },
  };
}
