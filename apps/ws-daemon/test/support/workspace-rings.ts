import type { StageOptions } from '@wsrun/native-ns';
import type { Ring0Process } from './ring0-process';

export const MAP = [
  { containerId: 0, hostId: 33333, size: 1 },
  { containerId: 1, hostId: 100000, size: 65536 },
];

const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root' };

/**
 * A minimal pair of rings on the workspace's own root (what workspacekit does in full): ring1 in
 * new user+mount namespaces binds the mark as the new root with /dev, /workspace and a /tmp;
 * ring2 in new mount+pid namespaces pivots into it and waits for the go-ahead.
 */
export function rings(markPath: string, workspacePath: string, script: string, opts: { net?: boolean } = {}): StageOptions {
  return {
    name: 'test:ring1',
    namespaces: opts.net ? ['user', 'mount', 'net'] : ['user', 'mount'],
    hold: true,
    steps: [
      { op: 'rslave' },
      // held open first: the scratch tmpfs below may cover the folders they live in
      { op: 'openRoot', register: 1, path: markPath },
      { op: 'openRoot', register: 2, path: workspacePath },
      { op: 'mount', kind: 'fs', fstype: 'tmpfs', target: '/tmp', options: 'mode=755,size=1m' },
      { op: 'mkdir', path: '/tmp/root' },
      { op: 'mount', kind: 'rbind', source: '/', sourceRoot: 1, target: '/tmp/root' },
      { op: 'openRoot', register: 0, path: '/tmp/root' },
      { op: 'mount', kind: 'rbind', source: '/dev', target: '/dev', targetRoot: 0 },
      { op: 'mount', kind: 'bind', source: '/', sourceRoot: 2, target: '/workspace', targetRoot: 0 },
      { op: 'mount', kind: 'fs', fstype: 'tmpfs', target: '/tmp', targetRoot: 0, options: 'mode=1777,size=4m' },
      {
        op: 'spawn',
        stage: {
          name: 'test:ring2',
          namespaces: ['mount', 'pid'],
          steps: [{ op: 'pivotRoot', path: '/tmp/root' }, { op: 'wait', tag: 'go' }],
          end: { exec: { argv: ['sh', '-c', script], env: ENV, cwd: '/' } },
        },
      },
    ],
    end: 'waitChild',
  };
}

/** Prepares the root, starts the rings with `script`, maps ring1, returns ring2's pid (held at "go"). */
export async function startRings(r0: Ring0Process, script: string, opts: { net?: boolean; mountProc?: boolean } = {}): Promise<{ ring1: number; ring2: number; prepared: { rootShift: number; markPath: string; workspacePath: string } }> {
  const prepared = await r0.rpc<{ rootShift: number; markPath: string; workspacePath: string }>('prepareForUserNs', {});
  if (prepared.error) throw new Error(`PrepareForUserNS: ${JSON.stringify(prepared.error)}`);
  const { markPath, workspacePath } = prepared.ok!;
  const ring1 = await r0.spawn(rings(markPath, workspacePath, script, opts));
  for (const gid of [false, true]) {
    const r = await r0.rpc('writeIdMapping', { pid: ring1, gid, mapping: MAP });
    if (r.error) throw new Error(`WriteIDMapping: ${JSON.stringify(r.error)}`);
  }
  await r0.release();
  const ring2 = await r0.nestedPid(1);
  await r0.waitFor('go', 1);
  if (opts.mountProc ?? true) {
    const r = await r0.rpc('mountProc', { target: '/proc', pid: ring2 });
    if (r.error) throw new Error(`MountProc: ${JSON.stringify(r.error)}`);
  }
  return { ring1, ring2, prepared: prepared.ok! };
}

/** Resolves once `text` appears in the ring0's output (the rings write there). */
export async function outputContains(r0: Ring0Process, text: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!r0.output.includes(text)) {
    if (Date.now() > until) throw new Error(`"${text}" did not appear; output so far:\n${r0.output}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
