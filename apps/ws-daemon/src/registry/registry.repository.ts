import { Injectable } from '@nestjs/common';
import { replaceFile } from '@wsrun/common';
import { readFileSync } from 'node:fs';
import { DaemonConfig } from '../config/daemon-config';
import type { WorkspaceRecord } from './workspace';

/** What must survive anything, a power loss included: the workspaces and their content. */
type DurableRecord = Omit<WorkspaceRecord, RuntimeField>;

/** What only means something while this boot lasts: processes, mounts, once-per-start calls. */
const RUNTIME_FIELDS = ['ring0', 'prepared', 'tornDown', 'idMapWritten', 'procMounts'] as const;
type RuntimeField = (typeof RUNTIME_FIELDS)[number];
type RuntimeState = Pick<WorkspaceRecord, RuntimeField> & { running: boolean };

interface RegistryFile {
  version: 1;
  workspaces: DurableRecord[];
}

interface RuntimeFile {
  version: 1;
  /** the kernel's boot id: runtime state of another boot is void (its processes and mounts are gone) */
  bootId: string;
  workspaces: Record<string, RuntimeState>;
}

/**
 * The registry on disk, in two files:
 * - `registry.json`, the durable part, replaced atomically and fsynced (temp file, fsync, rename,
 *   fsync the folder): a crash at any moment, power loss included, leaves the old or the new one;
 * - `runtime.json`, what only this boot needs (ring0, mounts, once-only calls), replaced
 *   atomically but not fsynced: it is on a workspace's start-up path, and a daemon killed at any
 *   moment still finds it in the page cache. After a reboot (another boot id), or if a power loss
 *   left it unreadable, it is dropped: the processes and mounts it described are gone too.
 * A workspace is "running" only in runtime.json; registry.json says "ready" for it.
 */
@Injectable()
export class RegistryRepository {
  private readonly bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  /** what each file holds now, so that an unchanged part is not written again */
  private written = { durable: '', runtime: '' };

  constructor(private readonly config: DaemonConfig) {}

  load(): WorkspaceRecord[] {
    const durable = this.loadDurable();
    const runtime = this.loadRuntime();
    const records = durable.map((d) => merge(d, runtime[d.id]));
    this.written = { durable: serializeDurable(records), runtime: this.serializeRuntime(records) };
    return records;
  }

  save(workspaces: WorkspaceRecord[]): void {
    const durable = serializeDurable(workspaces);
    if (durable !== this.written.durable) {
      replaceFile(this.config.registryFile, durable, { durable: true });
      this.written.durable = durable;
    }
    const runtime = this.serializeRuntime(workspaces);
    if (runtime !== this.written.runtime) {
      replaceFile(this.config.runtimeFile, runtime, { durable: false });
      this.written.runtime = runtime;
    }
  }

  private loadDurable(): DurableRecord[] {
    let text: string;
    try {
      text = readFileSync(this.config.registryFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const parsed = JSON.parse(text) as RegistryFile;
    if (parsed.version !== 1 || !Array.isArray(parsed.workspaces)) {
      throw new Error(`${this.config.registryFile}: not a wsrun registry (version ${String(parsed.version)})`);
    }
    return parsed.workspaces;
  }

  /** This boot's runtime state by workspace id; empty when there is none that can be trusted. */
  private loadRuntime(): Record<string, RuntimeState> {
    try {
      const parsed = JSON.parse(readFileSync(this.config.runtimeFile, 'utf8')) as RuntimeFile;
      if (parsed.version !== 1 || parsed.bootId !== this.bootId || typeof parsed.workspaces !== 'object' || parsed.workspaces === null) return {};
      return parsed.workspaces;
    } catch {
      // missing (first start), or cut short by a power loss: nothing of it is running any more
      return {};
    }
  }

  private serializeRuntime(workspaces: WorkspaceRecord[]): string {
    const body: RuntimeFile = { version: 1, bootId: this.bootId, workspaces: Object.fromEntries(workspaces.map((w) => [w.id, runtimePart(w)])) };
    return JSON.stringify(body) + '\n';
  }
}

function serializeDurable(workspaces: WorkspaceRecord[]): string {
  const body: RegistryFile = { version: 1, workspaces: workspaces.map(durablePart) };
  return JSON.stringify(body, null, 2) + '\n';
}

/** The durable fields of a record (of one read from an older registry.json too, which held all). */
function durablePart(w: WorkspaceRecord | DurableRecord): DurableRecord {
  const d: Record<string, unknown> = { ...w };
  for (const f of RUNTIME_FIELDS) delete d[f];
  if (d['state'] === 'running') d['state'] = 'ready';
  return d as DurableRecord;
}

function runtimePart(w: WorkspaceRecord): RuntimeState {
  return {
    ...(w.ring0 ? { ring0: w.ring0 } : {}),
    prepared: w.prepared,
    tornDown: w.tornDown,
    idMapWritten: w.idMapWritten,
    procMounts: w.procMounts,
    running: w.state === 'running',
  };
}

/** A durable record with this boot's runtime state, or a fresh one (nothing started). */
function merge(d: DurableRecord, r: RuntimeState | undefined): WorkspaceRecord {
  const record: WorkspaceRecord = {
    ...durablePart(d),
    prepared: r?.prepared ?? false,
    tornDown: r?.tornDown ?? false,
    idMapWritten: r?.idMapWritten ?? { uid: false, gid: false },
    procMounts: r?.procMounts ?? [],
    ...(r?.ring0 ? { ring0: r.ring0 } : {}),
  };
  if (r?.running && record.state === 'ready') record.state = 'running';
  return record;
}
