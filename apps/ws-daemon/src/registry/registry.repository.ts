import { Injectable } from '@nestjs/common';
import { replaceFile } from '@wsrun/common';
import { closeSync, constants as fsConstants, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { DaemonConfig } from '../config/daemon-config';
import type { WorkspaceRecord } from './workspace';

/** What must survive anything, a power loss included: the workspaces and their content. */
type DurableRecord = Omit<WorkspaceRecord, RuntimeField>;

/** What only means something while this boot lasts: processes, mounts, once-per-start calls. */
const RUNTIME_FIELDS = ['ring0', 'prepared', 'tornDown', 'idMapWritten', 'procMounts', 'ring0ProcAsked'] as const;
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
  /** the last journal entry this snapshot includes: entries up to it are not replayed */
  seq?: number;
  workspaces: Record<string, RuntimeState>;
}

/** One line of runtime.log: a workspace's whole runtime state after a change. */
interface JournalEntry {
  seq: number;
  boot: string;
  id: string;
  runtime: RuntimeState;
}

/** Past this many entries the journal is folded into runtime.json (by the call that passes it). */
const JOURNAL_MAX_ENTRIES = 512;

/**
 * The registry on disk, in three files:
 * - `registry.json`, the durable part, replaced atomically and fsynced (temp file, fsync, rename,
 *   fsync the folder): a crash at any moment, power loss included, leaves the old or the new one;
 * - `runtime.json`, what only this boot needs (ring0, mounts, once-only calls), replaced
 *   atomically but not fsynced: a daemon killed at any moment still finds it in the page cache.
 *   After a reboot (another boot id), or if a power loss left it unreadable, it is dropped: the
 *   processes and mounts it described are gone too;
 * - `runtime.log`, a journal of runtime-only changes made since runtime.json was written: the
 *   calls on a workspace's start path record their change as ONE appended line (one write(), a
 *   few µs, where replacing runtime.json costs 0.2-0.7 ms), before they answer. Same guarantee as
 *   runtime.json: a killed daemon finds every line in the page cache; a line cut short by a kill
 *   during its write() belongs to a call that never answered and is skipped; every line carries
 *   the boot id. Lines carry a sequence number, so that lines already in runtime.json (a crash
 *   between writing it and truncating the journal) are not replayed over it. The next rewrite of
 *   runtime.json (any other change, the daemon's start, or the journal growing long) folds the
 *   journal in and truncates it.
 * A workspace is "running" only in the runtime state; registry.json says "ready" for it.
 */
@Injectable()
export class RegistryRepository {
  private readonly bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  /** what registry.json holds now, so that an unchanged durable part is not written again */
  private writtenDurable = '';
  /** each workspace's runtime state as on disk (runtime.json + journal), serialized */
  private writtenRuntime = new Map<string, string>();
  /** each workspace's durable part as on disk, serialized: a journaled change must leave it alone */
  private writtenDurableParts = new Map<string, string>();
  private seq = 0;
  /** the journal, open for appends once this process wrote runtime.json (which it extends) */
  private journalFd = -1;
  private journalEntries = 0;

  constructor(private readonly config: DaemonConfig) {}

  load(): WorkspaceRecord[] {
    const durable = this.loadDurable();
    const runtime = this.loadRuntime();
    const records = durable.map((d) => merge(d, runtime[d.id]));
    this.writtenDurable = serializeDurable(records);
    this.writtenDurableParts = new Map(records.map((r) => [r.id, JSON.stringify(durablePart(r))]));
    this.writtenRuntime = new Map(records.map((r) => [r.id, JSON.stringify(runtimePart(r))]));
    return records;
  }

  /** Writes what changed: registry.json (fsynced) and runtime.json, which then holds the journal too. */
  save(workspaces: WorkspaceRecord[]): void {
    const durable = serializeDurable(workspaces);
    if (durable !== this.writtenDurable) {
      replaceFile(this.config.registryFile, durable, { durable: true });
      this.writtenDurable = durable;
      this.writtenDurableParts = new Map(workspaces.map((w) => [w.id, JSON.stringify(durablePart(w))]));
    }
    const runtime = new Map(workspaces.map((w) => [w.id, JSON.stringify(runtimePart(w))]));
    if (this.journalFd < 0 || this.journalEntries > 0 || !sameEntries(runtime, this.writtenRuntime)) this.writeSnapshot(workspaces, runtime);
  }

  /**
   * Writes a change of `changed`'s runtime state as one journal line. A change that touches its
   * durable part, or the first write of this process, goes through save() instead.
   */
  saveRuntime(workspaces: WorkspaceRecord[], changed: WorkspaceRecord): void {
    if (this.journalFd < 0 || this.journalEntries >= JOURNAL_MAX_ENTRIES || JSON.stringify(durablePart(changed)) !== this.writtenDurableParts.get(changed.id)) {
      this.save(workspaces);
      return;
    }
    const runtime = JSON.stringify(runtimePart(changed));
    if (runtime === this.writtenRuntime.get(changed.id)) return;
    const seq = this.seq + 1;
    const line = `{"seq":${seq},"boot":${JSON.stringify(this.bootId)},"id":${JSON.stringify(changed.id)},"runtime":${runtime}}\n`;
    // one write(): O_APPEND puts it whole at the end; a short write would leave a torn line
    const n = writeSync(this.journalFd, line);
    if (n !== Buffer.byteLength(line)) {
      // the torn line is skipped at load; the next write starts a fresh journal rather than extend it
      this.close();
      throw new Error(`${this.config.runtimeJournalFile}: short write (${n} of ${Buffer.byteLength(line)} bytes)`);
    }
    this.seq = seq;
    this.journalEntries++;
    this.writtenRuntime.set(changed.id, runtime);
  }

  /** Folds the journal into runtime.json and starts it afresh (at the daemon's start). */
  compact(workspaces: WorkspaceRecord[]): void {
    this.writeSnapshot(workspaces, new Map(workspaces.map((w) => [w.id, JSON.stringify(runtimePart(w))])));
  }

  close(): void {
    if (this.journalFd >= 0) closeSync(this.journalFd);
    this.journalFd = -1;
  }

  /** runtime.json with everything up to the last journal line; then the journal is emptied. */
  private writeSnapshot(workspaces: WorkspaceRecord[], runtime: Map<string, string>): void {
    const body: RuntimeFile = { version: 1, bootId: this.bootId, seq: this.seq, workspaces: Object.fromEntries(workspaces.map((w) => [w.id, runtimePart(w)])) };
    replaceFile(this.config.runtimeFile, JSON.stringify(body) + '\n', { durable: false });
    this.writtenRuntime = runtime;
    // a crash before the truncation leaves lines with seq <= body.seq: load() skips them
    if (this.journalFd >= 0) ftruncateSync(this.journalFd, 0);
    else this.journalFd = openSync(this.config.runtimeJournalFile, fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT | fsConstants.O_TRUNC, 0o600);
    this.journalEntries = 0;
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

  /** This boot's runtime state by workspace id (runtime.json + journal); empty when none can be trusted. */
  private loadRuntime(): Record<string, RuntimeState> {
    let workspaces: Record<string, RuntimeState> = {};
    let seq = 0;
    try {
      const parsed = JSON.parse(readFileSync(this.config.runtimeFile, 'utf8')) as RuntimeFile;
      if (parsed.version === 1 && parsed.bootId === this.bootId && typeof parsed.workspaces === 'object' && parsed.workspaces !== null) {
        workspaces = parsed.workspaces;
        seq = typeof parsed.seq === 'number' ? parsed.seq : 0;
      }
    } catch {
      // missing (first start), or cut short by a power loss: nothing of it is running any more
    }
    this.seq = seq;
    for (const entry of this.loadJournal()) {
      if (entry.seq <= seq) continue; // already in runtime.json
      workspaces[entry.id] = entry.runtime;
      this.seq = Math.max(this.seq, entry.seq);
    }
    return workspaces;
  }

  /** This boot's journal lines; a torn or foreign line is skipped. */
  private loadJournal(): JournalEntry[] {
    let text: string;
    try {
      text = readFileSync(this.config.runtimeJournalFile, 'utf8');
    } catch {
      return [];
    }
    const entries: JournalEntry[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      let entry: JournalEntry;
      try {
        entry = JSON.parse(line) as JournalEntry;
      } catch {
        continue;
      }
      if (entry.boot === this.bootId && typeof entry.seq === 'number' && typeof entry.id === 'string' && typeof entry.runtime === 'object' && entry.runtime !== null) entries.push(entry);
    }
    return entries;
  }
}

function sameEntries(a: Map<string, string>, b: Map<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
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
    ...(w.ring0ProcAsked ? { ring0ProcAsked: true } : {}),
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
    ...(r?.ring0ProcAsked ? { ring0ProcAsked: true } : {}),
  };
  if (r?.running && record.state === 'ready') record.state = 'running';
  return record;
}
