import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonConfig } from '../../src/config/daemon-config';
import { DaemonLogger } from '../../src/daemon-logger';
import { startDaemon, type RunningDaemon } from '../../src/daemon';
import { InWorkspaceService } from '../../src/in-workspace/in-workspace.service';
import { WorkspaceSockets } from '../../src/in-workspace/workspace-sockets.service';
import { WorkspaceRegistry } from '../../src/registry/workspace-registry.service';

/** A real daemon in this process, on a temp state dir, with helpers to make workspaces. */
export class DaemonHarness {
  readonly stateDir: string;
  daemon!: RunningDaemon;
  config!: DaemonConfig;

  constructor(readonly overrides: Record<string, string> = {}) {
    // a shared folder for images across test files would be faster; each harness builds its own
    this.stateDir = mkdtempSync(join(tmpdir(), 'wsrun-daemon-'));
    chmodSync(this.stateDir, 0o755);
  }

  async start(): Promise<void> {
    this.config = DaemonConfig.from({ stateDir: this.stateDir, ...this.overrides });
    this.daemon = await startDaemon(this.config, new DaemonLogger(process.env['WSRUN_TEST_LOG_LEVEL'] ?? 'silent'));
  }

  get registry(): WorkspaceRegistry {
    return this.daemon.app.get(WorkspaceRegistry);
  }

  /** A workspace ready to start, with its socket served. Returns the socket path. */
  async workspace(id: string): Promise<string> {
    this.registry.create(id, 'test-owner', 'ready');
    const layout = this.registry.layout(id);
    mkdirSync(layout.content, { recursive: true });
    chownSync(layout.content, this.config.rootUid, this.config.rootUid);
    return this.daemon.app.get(WorkspaceSockets).open(id);
  }

  async stop(): Promise<void> {
    const service = this.daemon.app.get(InWorkspaceService);
    for (const ws of this.registry.list()) service.tearDownMounts(ws);
    await this.daemon.stop();
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}
