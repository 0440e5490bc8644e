import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DaemonConfig } from '../src/config/daemon-config';
import { checkWorkspaceMapping } from '../src/in-workspace/id-mapping-policy';
import { RateLimiter } from '../src/in-workspace/rate-limiter';
import { RegistryRepository } from '../src/registry/registry.repository';
import { WorkspaceRegistry } from '../src/registry/workspace-registry.service';

describe('DaemonConfig', () => {
  it('takes the defaults of a node', () => {
    const c = DaemonConfig.from({});
    expect(c).toMatchObject({ stateDir: '/var/lib/wsrun', listen: '/var/lib/wsrun/daemon.sock', rootUid: 33333, subuidStart: 100000, subuidSize: 65536 });
  });

  it.each([
    [{ stateDir: 'relative' }, 'invalid --state-dir: "relative" is not an absolute path'],
    [{ rootUid: '0' }, 'invalid --root-uid: 0 is below the minimum 1'],
    [{ rootUid: '100005' }, 'invalid --root-uid: 100005 lies inside the subordinate range 100000..165535'],
    [{ subuidStart: '4294967000', subuidSize: '65536' }, 'passes the largest id'],
    [{ listen: 'somewhere' }, 'invalid --listen: "somewhere" is neither an absolute socket path nor host:port'],
    [{ idMapRateWindow: 'soon' }, 'is not a duration'],
  ])('refuses %j with a message naming the flag', (input, message) => {
    expect(() => DaemonConfig.from(input)).toThrow(message);
  });
});

describe('checkWorkspaceMapping', () => {
  const config = DaemonConfig.from({});
  it('accepts root -> 33333 and ranges inside the subordinate range', () => {
    expect(() => checkWorkspaceMapping([{ containerId: 0, hostId: 33333, size: 1 }, { containerId: 1, hostId: 100000, size: 65536 }], config)).not.toThrow();
  });
  it('refuses a mapping without container 0, or with 0 mapped wider than one id', () => {
    expect(() => checkWorkspaceMapping([{ containerId: 1, hostId: 100000, size: 10 }], config)).toThrow('container id 0 must map to host id 33333 with size 1');
    expect(() => checkWorkspaceMapping([{ containerId: 0, hostId: 33333, size: 2 }], config)).toThrow('container id 0 must map to host id 33333 with size 1');
  });
});

describe('RateLimiter', () => {
  it('allows `limit` events per window and counts refused ones too', () => {
    let now = 0;
    const limiter = new RateLimiter(2, 1000, () => now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a'), limiter.take('b')]).toEqual([true, true, false, true]);
    now = 999;
    expect(limiter.take('a')).toBe(false);
    now = 2000;
    expect(limiter.take('a')).toBe(true);
  });
});

describe('the registry on disk', () => {
  let stateDir: string;
  beforeEach(() => (stateDir = mkdtempSync(join(tmpdir(), 'wsrun-registry-'))));
  afterEach(() => rmSync(stateDir, { recursive: true, force: true }));

  it('survives a restart with every change made before it', () => {
    const config = DaemonConfig.from({ stateDir });
    const a = new WorkspaceRegistry(config, new RegistryRepository(config));
    a.create('ws-1', 'alice', 'ready');
    a.update('ws-1', (w) => (w.prepared = true));
    a.create('ws-2', 'bob');
    a.remove('ws-2');
    const b = new WorkspaceRegistry(config, new RegistryRepository(config));
    expect(b.list()).toEqual([expect.objectContaining({ id: 'ws-1', owner: 'alice', state: 'ready', prepared: true })]);
  });

  it('keeps what only this boot needs apart: after a reboot a running workspace is ready again, with nothing started', () => {
    const config = DaemonConfig.from({ stateDir });
    const a = new WorkspaceRegistry(config, new RegistryRepository(config));
    a.create('ws-1', 'alice', 'ready');
    const durableBefore = readFileSync(config.registryFile, 'utf8');
    a.update('ws-1', (w) => {
      w.prepared = true;
      w.state = 'running';
      w.ring0 = { pid: 4242, startTime: 1 };
      w.idMapWritten = { uid: true, gid: true };
    });
    // starting a workspace writes only the runtime file (not fsynced: it is on the start-up path)
    expect(readFileSync(config.registryFile, 'utf8')).toBe(durableBefore);
    // a daemon restart in the same boot finds it all
    expect(new WorkspaceRegistry(config, new RegistryRepository(config)).get('ws-1')).toMatchObject({ state: 'running', prepared: true, ring0: { pid: 4242 } });
    // another boot: its processes and mounts are gone, so is what the registry knew of them
    const runtime = JSON.parse(readFileSync(config.runtimeFile, 'utf8')) as { bootId: string };
    writeFileSync(config.runtimeFile, JSON.stringify({ ...runtime, bootId: 'another-boot' }));
    const rebooted = new WorkspaceRegistry(config, new RegistryRepository(config)).get('ws-1');
    expect(rebooted).toMatchObject({ id: 'ws-1', owner: 'alice', state: 'ready', prepared: false, idMapWritten: { uid: false, gid: false } });
    expect(rebooted.ring0).toBeUndefined();
  });

  it('a runtime file cut short by a power loss is dropped; the workspaces stay', () => {
    const config = DaemonConfig.from({ stateDir });
    const a = new WorkspaceRegistry(config, new RegistryRepository(config));
    a.create('ws-1', 'alice', 'ready');
    a.update('ws-1', (w) => (w.prepared = true));
    writeFileSync(config.runtimeFile, '{"version":1,"bo');
    expect(new WorkspaceRegistry(config, new RegistryRepository(config)).list()).toEqual([expect.objectContaining({ id: 'ws-1', state: 'ready', prepared: false })]);
  });

  it('a crash while writing leaves the previous registry readable (the temp file is ignored)', () => {
    const config = DaemonConfig.from({ stateDir });
    new WorkspaceRegistry(config, new RegistryRepository(config)).create('ws-1', 'alice');
    // what a kill -9 between write and rename leaves behind
    writeFileSync(`${config.registryFile}.tmp-99999`, '{"version": 1, "workspaces": [{"id": "half');
    expect(new WorkspaceRegistry(config, new RegistryRepository(config)).list().map((w) => w.id)).toEqual(['ws-1']);
    expect(JSON.parse(readFileSync(config.registryFile, 'utf8')).workspaces).toHaveLength(1);
  });

  /** A registry as the daemon holds it: it owns the files (a fresh journal) from its start. */
  function daemonRegistry(config: DaemonConfig): WorkspaceRegistry {
    const r = new WorkspaceRegistry(config, new RegistryRepository(config));
    r.onModuleInit();
    return r;
  }

  it('a journaled change is on disk before update returns: a daemon killed right after comes back with it', () => {
    const config = DaemonConfig.from({ stateDir });
    const a = daemonRegistry(config);
    a.create('ws-1', 'alice', 'ready');
    const runtimeBefore = readFileSync(config.runtimeFile, 'utf8');
    a.update('ws-1', (w) => (w.ring0 = { pid: 4242, startTime: 7 }), { journal: true });
    a.update('ws-1', (w) => ((w.prepared = true), (w.state = 'running')), { journal: true });
    a.update('ws-1', (w) => (w.idMapWritten.uid = true), { journal: true });
    // appended to the journal only: runtime.json is as before
    expect(readFileSync(config.runtimeFile, 'utf8')).toBe(runtimeBefore);
    expect(readFileSync(config.runtimeJournalFile, 'utf8').trim().split('\n')).toHaveLength(3);
    // no shutdown: what a kill -9 leaves
    const b = new WorkspaceRegistry(config, new RegistryRepository(config));
    expect(b.get('ws-1')).toMatchObject({ state: 'running', prepared: true, ring0: { pid: 4242, startTime: 7 }, idMapWritten: { uid: true, gid: false } });
    // the next daemon folds the journal into runtime.json and starts an empty one
    b.onModuleInit();
    expect(readFileSync(config.runtimeJournalFile, 'utf8')).toBe('');
    expect(new WorkspaceRegistry(config, new RegistryRepository(config)).get('ws-1')).toMatchObject({ prepared: true, idMapWritten: { uid: true, gid: false } });
  });

  it('a full write folds the journal in; a journaled change of a durable field is a full write', () => {
    const config = DaemonConfig.from({ stateDir });
    const a = daemonRegistry(config);
    a.create('ws-1', 'alice', 'ready');
    a.update('ws-1', (w) => (w.prepared = true), { journal: true });
    a.update('ws-1', (w) => (w.lastBackup = 'b-1@bucket'), { journal: true });
    expect(JSON.parse(readFileSync(config.registryFile, 'utf8')).workspaces[0]).toMatchObject({ lastBackup: 'b-1@bucket' });
    expect(JSON.parse(readFileSync(config.runtimeFile, 'utf8')).workspaces['ws-1']).toMatchObject({ prepared: true });
    expect(readFileSync(config.runtimeJournalFile, 'utf8')).toBe('');
  });

  it('replays only what is new and whole: a torn last line, lines of another boot and lines already in runtime.json are skipped', () => {
    const config = DaemonConfig.from({ stateDir });
    const a = daemonRegistry(config);
    a.create('ws-1', 'alice', 'ready');
    a.update('ws-1', (w) => (w.prepared = true), { journal: true });
    const oldJournal = readFileSync(config.runtimeJournalFile, 'utf8');
    // the workspace is disposed and made again: a full write, the journal is emptied ...
    a.remove('ws-1');
    a.create('ws-1', 'bob', 'ready');
    a.update('ws-1', (w) => (w.idMapWritten.gid = true), { journal: true });
    // ... but a crash before the truncation left the old line in front: it is in runtime.json already
    writeFileSync(config.runtimeJournalFile, oldJournal + readFileSync(config.runtimeJournalFile, 'utf8'));
    // a kill during a write() leaves a line cut short (its call never answered)
    appendFileSync(config.runtimeJournalFile, '{"seq":99,"boot":"x","id":"ws-1","runtime":{"prepa');
    expect(new WorkspaceRegistry(config, new RegistryRepository(config)).get('ws-1')).toMatchObject({ owner: 'bob', prepared: false, idMapWritten: { uid: false, gid: true } });
    // another boot: every journal line is void, as runtime.json is
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    writeFileSync(config.runtimeJournalFile, readFileSync(config.runtimeJournalFile, 'utf8').replaceAll(bootId, 'another-boot'));
    writeFileSync(config.runtimeFile, readFileSync(config.runtimeFile, 'utf8').replace(bootId, 'another-boot'));
    expect(new WorkspaceRegistry(config, new RegistryRepository(config)).get('ws-1')).toMatchObject({ prepared: false, idMapWritten: { uid: false, gid: false } });
  });

  it('refuses invalid and duplicate workspace ids without changing anything', () => {
    const config = DaemonConfig.from({ stateDir });
    const r = new WorkspaceRegistry(config, new RegistryRepository(config));
    expect(() => r.create('../etc', 'x')).toThrow('invalid workspace id "../etc"');
    r.create('ok-1', 'x');
    expect(() => r.create('ok-1', 'y')).toThrow('workspace ok-1 already exists');
    expect(r.get('ok-1').owner).toBe('x');
  });
});
