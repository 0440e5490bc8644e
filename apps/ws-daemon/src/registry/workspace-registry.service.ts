import { Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { WsError, WsErrorCode } from '@wsrun/common';
import type { IdMapping } from '@wsrun/native-ns';
import { DaemonConfig } from '../config/daemon-config';
import { RegistryRepository } from './registry.repository';
import { WORKSPACE_ID_PATTERN, WorkspaceLayout, type WorkspaceRecord, type WorkspaceState } from './workspace';

/**
 * The workspaces this node knows. Every change is written to disk before the call returns
 * (RegistryRepository), so a daemon killed at any moment comes back with what it had promised.
 */
@Injectable()
export class WorkspaceRegistry implements OnModuleInit, OnModuleDestroy {
  private readonly workspaces = new Map<string, WorkspaceRecord>();

  constructor(
    private readonly config: DaemonConfig,
    private readonly repository: RegistryRepository,
  ) {
    for (const w of repository.load()) this.workspaces.set(w.id, w);
  }

  /** The daemon owns the files from now on: the journal of the last run is folded in, a new one starts. */
  onModuleInit(): void {
    this.repository.compact(this.list());
  }

  /** runtime.json is left whole for whoever reads it after the daemon. */
  onModuleDestroy(): void {
    this.repository.compact(this.list());
    this.repository.close();
  }

  /** The id mapping every workspace on this node gets: 0 -> root uid, 1.. -> subordinate ids. */
  defaultIdMapping(): IdMapping[] {
    return [
      { containerId: 0, hostId: this.config.rootUid, size: 1 },
      { containerId: 1, hostId: this.config.subuidStart, size: this.config.subuidSize },
    ];
  }

  layout(id: string): WorkspaceLayout {
    return WorkspaceLayout.of(this.config.workspacesDir, id);
  }

  static validateId(id: string): void {
    if (!WORKSPACE_ID_PATTERN.test(id)) {
      throw new WsError(WsErrorCode.InvalidArgument, `invalid workspace id "${id}": use 1-63 of a-z, 0-9 and "-", starting with a letter or digit`);
    }
  }

  create(id: string, owner: string, state: WorkspaceState = 'initializing'): WorkspaceRecord {
    WorkspaceRegistry.validateId(id);
    if (this.workspaces.has(id)) throw new WsError(WsErrorCode.AlreadyExists, `workspace ${id} already exists`);
    const record: WorkspaceRecord = {
      id,
      owner,
      state,
      createdAt: new Date().toISOString(),
      idMapping: this.defaultIdMapping(),
      prepared: false,
      tornDown: false,
      idMapWritten: { uid: false, gid: false },
      procMounts: [],
    };
    this.workspaces.set(id, record);
    this.persist();
    return record;
  }

  find(id: string): WorkspaceRecord | undefined {
    return this.workspaces.get(id);
  }

  get(id: string): WorkspaceRecord {
    const record = this.workspaces.get(id);
    if (!record) throw new WsError(WsErrorCode.NotFound, `workspace ${id} does not exist on this node`);
    return record;
  }

  list(): WorkspaceRecord[] {
    return [...this.workspaces.values()];
  }

  /**
   * Applies a change to a copy and persists it; the change is visible only once it is on disk.
   * `journal`: for the calls on a workspace's start path, a change of runtime state only is
   * appended to the registry's journal instead of rewriting runtime.json (same crash safety, a
   * few µs instead of a file replace); runtime.json catches up with the next full write.
   */
  update(id: string, change: (w: WorkspaceRecord) => void, opts: { journal?: boolean } = {}): WorkspaceRecord {
    const current = this.get(id);
    const next: WorkspaceRecord = structuredClone(current);
    change(next);
    this.workspaces.set(id, next);
    try {
      if (opts.journal) this.repository.saveRuntime([...this.workspaces.values()], next);
      else this.persist();
    } catch (err) {
      this.workspaces.set(id, current);
      throw err;
    }
    return next;
  }

  remove(id: string): void {
    const current = this.workspaces.get(id);
    if (!current) return;
    this.workspaces.delete(id);
    try {
      this.persist();
    } catch (err) {
      this.workspaces.set(id, current);
      throw err;
    }
  }

  private persist(): void {
    this.repository.save([...this.workspaces.values()]);
  }
}
