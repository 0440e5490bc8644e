import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * CPU and memory of a process's cgroup, from cgroup v2 when the process's unified cgroup has the
 * controllers, else from the v1 memory and cpu/cpuacct hierarchies (this runs on hybrid nodes).
 */
export interface ResourceUsage {
  cpu: { usedMillicores: number; limitMillicores: number };
  memory: { usedBytes: number; limitBytes: number };
}

const CGROUP_ROOT = '/sys/fs/cgroup';
const UNLIMITED_V1 = 2 ** 62; // v1 reports "no limit" as a huge page-rounded number

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function cgroupPaths(pid: number): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of (read(`/proc/${pid}/cgroup`) ?? '').split('\n')) {
    const [, controllers, path] = line.split(':');
    if (path === undefined) continue;
    if (controllers === '') paths.set('unified', path);
    else for (const c of controllers!.split(',')) paths.set(c, path);
  }
  return paths;
}

/** CPU time used (µs) and the CPU limit (millicores, 0 = none) plus memory, for pid's cgroup. */
export function readCgroup(pid: number): { cpuUsageUsec: number; limitMillicores: number; memoryBytes: number; memoryLimit: number } | undefined {
  const paths = cgroupPaths(pid);
  const unified = paths.get('unified');
  const v2 = unified !== undefined ? join(existsSync(join(CGROUP_ROOT, 'cgroup.controllers')) ? CGROUP_ROOT : join(CGROUP_ROOT, 'unified'), unified) : undefined;
  if (v2 && existsSync(join(v2, 'memory.current'))) {
    const usage = Number(/usage_usec (\d+)/.exec(read(join(v2, 'cpu.stat')) ?? '')?.[1] ?? 0);
    const [quota, period] = (read(join(v2, 'cpu.max')) ?? 'max 100000').split(' ');
    const memMax = read(join(v2, 'memory.max')) ?? 'max';
    return {
      cpuUsageUsec: usage,
      limitMillicores: quota === 'max' ? 0 : Math.round((Number(quota) / Number(period)) * 1000),
      memoryBytes: Number(read(join(v2, 'memory.current')) ?? 0),
      memoryLimit: memMax === 'max' ? 0 : Number(memMax),
    };
  }
  const memory = paths.get('memory');
  const cpuacct = paths.get('cpuacct') ?? paths.get('cpu');
  if (memory === undefined && cpuacct === undefined) return undefined;
  const memDir = memory !== undefined ? join(CGROUP_ROOT, 'memory', memory) : undefined;
  const cpuDir = cpuacct !== undefined ? join(CGROUP_ROOT, paths.has('cpuacct') ? 'cpuacct' : 'cpu', cpuacct) : undefined;
  const quotaDir = paths.get('cpu') !== undefined ? join(CGROUP_ROOT, 'cpu', paths.get('cpu')!) : undefined;
  const quota = Number(read(join(quotaDir ?? '', 'cpu.cfs_quota_us')) ?? -1);
  const period = Number(read(join(quotaDir ?? '', 'cpu.cfs_period_us')) ?? 100000);
  const memLimit = Number(memDir ? (read(join(memDir, 'memory.limit_in_bytes')) ?? 0) : 0);
  return {
    cpuUsageUsec: Math.round(Number(cpuDir ? (read(join(cpuDir, 'cpuacct.usage')) ?? 0) : 0) / 1000),
    limitMillicores: quota > 0 ? Math.round((quota / period) * 1000) : 0,
    memoryBytes: Number(memDir ? (read(join(memDir, 'memory.usage_in_bytes')) ?? 0) : 0),
    memoryLimit: memLimit >= UNLIMITED_V1 ? 0 : memLimit,
  };
}

/**
 * Turns cumulative CPU time into millicores: the average use since the previous sample for the
 * same key (or since the process started, on the first call).
 */
export class CpuSampler {
  private readonly last = new Map<string, { usageUsec: number; at: number }>();

  usage(key: string, pid: number, now = Date.now()): ResourceUsage | undefined {
    const cg = readCgroup(pid);
    if (!cg) return undefined;
    const previous = this.last.get(key);
    this.last.set(key, { usageUsec: cg.cpuUsageUsec, at: now });
    let used = 0;
    if (previous && now > previous.at) {
      used = Math.round(((cg.cpuUsageUsec - previous.usageUsec) / 1000 / (now - previous.at)) * 1000);
    } else {
      const uptimeMs = Number((read('/proc/uptime') ?? '0').split(' ')[0]) * 1000;
      const startMs = (readStartTicks(pid) / 100) * 1000;
      const lifeMs = Math.max(1, uptimeMs - startMs);
      used = Math.round((cg.cpuUsageUsec / 1000 / lifeMs) * 1000);
    }
    return {
      cpu: { usedMillicores: Math.max(0, used), limitMillicores: cg.limitMillicores },
      memory: { usedBytes: cg.memoryBytes, limitBytes: cg.memoryLimit },
    };
  }

  forget(key: string): void {
    this.last.delete(key);
  }
}

function readStartTicks(pid: number): number {
  const stat = read(`/proc/${pid}/stat`) ?? '';
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? 0);
}
