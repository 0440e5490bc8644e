import { execSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { status } from '@grpc/grpc-js';
import { callUnary, createClient, health } from '@wsrun/proto';
import { DaemonConfig } from '../src/config/daemon-config';
import { RegistryRepository } from '../src/registry/registry.repository';
import { WorkspaceRegistry } from '../src/registry/workspace-registry.service';
import { removeRing0Bundle, Ring0Process } from './support/ring0-process';

const MAIN = resolve(__dirname, '../../../dist/apps/ws-daemon/main.js');

/** The daemon as the node runs it: the built bundle in its own process. */
function startDaemonProcess(stateDir: string): ChildProcess {
  return spawn(process.execPath, [MAIN, '--state-dir', stateDir, '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
}

async function eventually<T>(fn: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('ws-daemon killed with SIGKILL and started again', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'wsrun-restart-'));
  chmodSync(stateDir, 0o755);
  const config = DaemonConfig.from({ stateDir });
  let daemon: ChildProcess | undefined;
  const ring0s: Ring0Process[] = [];

  afterAll(async () => {
    for (const r of ring0s) await r.close();
    if (daemon && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await new Promise((r) => daemon!.once('exit', r));
    }
    // the root filesystem mounted by the first daemon outlives it: unmount it before removing
    execSync(`grep -o ' ${stateDir}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l || true`);
    rmSync(stateDir, { recursive: true, force: true });
    removeRing0Bundle();
  });

  it('comes back with its registry and serves the workspace sockets again', async () => {
    expect(existsSync(MAIN)).toBe(true);
    // a node that already knows one workspace
    const registry = new WorkspaceRegistry(config, new RegistryRepository(config));
    registry.create('survivor', 'owner-1', 'ready');
    mkdirSync(registry.layout('survivor').content, { recursive: true });
    const socket = registry.layout('survivor').socket;

    daemon = startDaemonProcess(stateDir);
    const first = new Ring0Process(socket);
    ring0s.push(first);
    expect(await eventually(() => first.health())).toEqual({ status: 1 });
    expect((await first.rpc('prepareForUserNs', {})).ok).toMatchObject({ markPath: registry.layout('survivor').mark });

    // its private redis-server: it must not outlive the daemon (two on one append-only file corrupt it)
    const redisPid = Number(readFileSync(join(config.redisDir, 'redis.pid'), 'utf8'));
    const redisAlive = () => existsSync(`/proc/${redisPid}`) && !/\) [ZX] /.test(readFileSync(`/proc/${redisPid}/stat`, 'utf8'));
    expect(redisAlive()).toBe(true);

    daemon.kill('SIGKILL');
    await new Promise((r) => daemon!.once('exit', r));
    await eventually(async () => {
      if (redisAlive()) throw new Error(`redis-server ${redisPid} outlived the daemon`);
    });
    // PrepareForUserNS put its change in the registry's journal before it answered
    expect(readFileSync(config.runtimeJournalFile, 'utf8')).toContain('"prepared":true');
    // the registry on disk is whole, and it says the root was prepared and the workspace runs
    expect(new RegistryRepository(config).load()).toEqual([expect.objectContaining({ id: 'survivor', prepared: true, state: 'running' })]);

    daemon = startDaemonProcess(stateDir);
    const second = new Ring0Process(socket);
    ring0s.push(second);
    expect(await eventually(() => second.health())).toEqual({ status: 1 });
    const again = await second.rpc('prepareForUserNs', {});
    expect(again.error).toMatchObject({ code: status.FAILED_PRECONDITION });
    expect(again.error!.details).toMatch(/already called/);
    expect(await second.rpc('teardown', {})).toEqual({ ok: { success: true } });
  });

  it('a ring0 that died while the daemon was down is torn down at start: the workspace starts again', async () => {
    daemon!.kill('SIGTERM');
    await new Promise((r) => daemon!.once('exit', r));
    const registry = new WorkspaceRegistry(config, new RegistryRepository(config));
    registry.create('orphan', 'owner-2', 'ready');
    mkdirSync(registry.layout('orphan').content, { recursive: true });
    const socket = registry.layout('orphan').socket;

    daemon = startDaemonProcess(stateDir);
    const first = new Ring0Process(socket);
    ring0s.push(first);
    expect(await eventually(() => first.health())).toEqual({ status: 1 });
    expect((await first.rpc('prepareForUserNs', {})).ok).toBeDefined();
    daemon.kill('SIGKILL');
    await new Promise((r) => daemon!.once('exit', r));
    // the workspace's ring0 goes while nobody watches its socket
    await first.close();

    daemon = startDaemonProcess(stateDir);
    const next = new Ring0Process(socket);
    ring0s.push(next);
    expect(await eventually(() => next.health())).toEqual({ status: 1 });
    expect(await next.rpc('prepareForUserNs', {})).toEqual({ ok: expect.objectContaining({ markPath: expect.stringContaining('/orphan/mark') }) });
    expect(await next.rpc('teardown', {})).toEqual({ ok: { success: true } });
  });

  it('starts on a fresh node: a state folder that does not exist yet is created', async () => {
    const fresh = join(stateDir, 'fresh-node/state');
    const node = startDaemonProcess(fresh);
    let stderr = '';
    node.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    try {
      const client = createClient(health.HealthClient, join(fresh, 'daemon.sock'));
      try {
        const reply = await eventually(() => callUnary<object, health.HealthCheckResponse>(client.check.bind(client) as never, { service: '' }, 1000));
        expect(reply.status).toBe(health.HealthCheckResponse_ServingStatus.SERVING);
      } finally {
        client.close();
      }
      expect(existsSync(join(fresh, 'storage.secret'))).toBe(true);
    } catch (err) {
      throw new Error(`${(err as Error).message}\ndaemon stderr: ${stderr}`);
    } finally {
      const gone = new Promise((r) => node.once('exit', r));
      node.kill('SIGTERM');
      await gone;
    }
  });
});
