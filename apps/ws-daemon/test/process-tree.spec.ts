import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { identify, isAlive, resolveWorkspacePid } from '../src/in-workspace/process-tree';

/**
 * resolveWorkspacePid on real process trees: a "ring0" in the daemon's own pid namespace (one
 * machine) and one in a pid namespace of its own (a pod), each with a child and a grandchild in a
 * nested pid namespace (like ring2).
 */
const children = (pid: number): number[] =>
  readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
const nsPids = (pid: number): number[] => (/^NSpid:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '').trim().split(/\s+/).map(Number);
const startTime = (pid: number): number => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19]);

async function until<T>(fn: () => T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** sh as ring0 with `sleep` (its child) and `unshare --pid --fork sleep` (a nested pid namespace). */
const RING0_SCRIPT = 'sleep 60 & unshare --pid --fork sleep 60 & wait';

describe('resolveWorkspacePid', () => {
  const started: ChildProcess[] = [];
  afterAll(() => {
    for (const c of started) c.kill('SIGKILL');
  });

  /** Starts argv; returns its pid. */
  function start(...argv: [string, ...string[]]): number {
    const c = spawn(argv[0], argv.slice(1), { stdio: 'ignore' });
    started.push(c);
    if (c.pid === undefined) throw new Error(`${argv[0]} did not start`);
    return c.pid;
  }

  /** ring0's node pid, its sleep child and the sleep inside the nested namespace (node pids). */
  async function tree(ring0Pid: number) {
    const [child, unshare] = await until(() => {
      const [a, b] = children(ring0Pid);
      return a !== undefined && b !== undefined ? ([a, b] as const) : undefined;
    }, 'ring0 to start its children');
    const nested = await until(() => children(unshare)[0], 'the nested sleep');
    return { child, unshare, nested };
  }

  it('ring0 in the daemon\'s pid namespace: its descendants resolve to themselves, nothing else does', async () => {
    const sh = start('sh', '-c', RING0_SCRIPT);
    const ring0 = await until(() => identify(sh), 'ring0');
    const { child, unshare, nested } = await tree(sh);
    expect(resolveWorkspacePid(ring0, child)).toBe(child);
    expect(resolveWorkspacePid(ring0, nested)).toBe(nested);
    expect(resolveWorkspacePid(ring0, unshare)).toBe(unshare);
    // ring0 itself, its parent (this test), the node's init, a pid at another level, no such pid
    expect(resolveWorkspacePid(ring0, sh)).toBeUndefined();
    expect(resolveWorkspacePid(ring0, process.pid)).toBeUndefined();
    expect(resolveWorkspacePid(ring0, 1)).toBeUndefined();
    expect(nsPids(nested)).toEqual([nested, 1]);
    expect(resolveWorkspacePid(ring0, 2 ** 22 + 1)).toBeUndefined();
    // another process with ring0's pid (a recycled pid): a different start time
    expect(resolveWorkspacePid({ pid: ring0.pid, startTime: ring0.startTime + 1 }, child)).toBeUndefined();
  });

  it('ring0 in a pid namespace of its own: pids of that namespace resolve to node pids, never a pid of another level', async () => {
    const outer = start('unshare', '--pid', '--fork', 'sh', '-c', RING0_SCRIPT);
    const ringPid = await until(() => children(outer)[0], 'ring0 in its namespace');
    const ring0 = await until(() => identify(ringPid), 'ring0');
    const { child, unshare, nested } = await tree(ringPid);
    expect(nsPids(ringPid)).toEqual([ringPid, 1]);
    const inNs = (pid: number) => nsPids(pid)[1] ?? NaN;
    expect(resolveWorkspacePid(ring0, inNs(child))).toBe(child);
    expect(resolveWorkspacePid(ring0, inNs(nested))).toBe(nested);
    expect(resolveWorkspacePid(ring0, inNs(unshare))).toBe(unshare);
    // ring0 itself (1 in its namespace), node pids of its descendants, and the nested level's 1
    expect(resolveWorkspacePid(ring0, 1)).toBeUndefined();
    expect(resolveWorkspacePid(ring0, child)).toBeUndefined();
    expect(resolveWorkspacePid(ring0, nested)).toBeUndefined();
  });

  it('a zombie is not alive and resolves to nothing', async () => {
    // `true` exits at once and its parent, which became `sleep` by exec, never reaps it
    const parent = start('sh', '-c', 'true & exec sleep 60');
    const ring0 = await until(() => identify(parent), 'the parent');
    const zombie = await until(() => children(parent).find((p) => /\) Z /.test(readFileSync(`/proc/${p}/stat`, 'utf8'))), 'the zombie');
    expect(identify(zombie)).toBeUndefined();
    expect(isAlive({ pid: zombie, startTime: startTime(zombie) })).toBe(false);
    expect(resolveWorkspacePid(ring0, zombie)).toBeUndefined();
    expect(isAlive(ring0)).toBe(true);
  });
});
