import { status } from '@grpc/grpc-js';
import { callUnary, createClient, workspaceContent } from '@wsrun/proto';
import { ContentQueue } from '../src/queue/content-queue.service';
import { DaemonHarness } from './support/daemon-harness';

/** WorkspaceContentService through its gRPC endpoint; the queue is real (no worker runs here). */
describe('WorkspaceContentService, the daemon side', () => {
  const harness = new DaemonHarness();
  let client: workspaceContent.WorkspaceContentServiceClient;
  const call = <Req, Res>(method: keyof workspaceContent.WorkspaceContentServiceClient, req: Req) =>
    callUnary<Req, Res>((client[method] as (...a: unknown[]) => unknown).bind(client) as never, req, 10_000);

  beforeAll(async () => {
    await harness.start();
    client = createClient(workspaceContent.WorkspaceContentServiceClient, harness.daemon.address);
  });
  afterAll(async () => {
    client.close();
    await harness.stop();
  });

  const empty = { spec: { $case: 'empty', value: {} } };

  it('schedules an init flow once per workspace id: a second call joins the first', async () => {
    await call('initWorkspace', { id: 'content-1', metadata: { owner: 'alice', metaId: '' }, initializer: empty, storageQuotaBytes: 0 });
    await call('initWorkspace', { id: 'content-1', metadata: { owner: 'alice', metaId: '' }, initializer: empty, storageQuotaBytes: 0 });
    const queue = harness.daemon.app.get(ContentQueue);
    const job = await queue.initJob('content-1');
    expect(job?.data).toMatchObject({ workspaceId: 'content-1', owner: 'alice', initializer: { empty: {} } });
    expect(await call('isWorkspaceExists', { id: 'content-1' })).toEqual({ exists: true });
    expect(harness.registry.get('content-1')).toMatchObject({ state: 'initializing', init: { status: 'running' } });
  });

  it('refuses a snapshot that does not exist, and creates nothing', async () => {
    const snapshot = { spec: { $case: 'snapshot', value: { snapshot: 'workspaces/none/snapshot-x.tar@u-alice' } } };
    await expect(call('initWorkspace', { id: 'content-2', metadata: { owner: 'alice', metaId: '' }, initializer: snapshot, storageQuotaBytes: 0 })).rejects.toMatchObject({
      code: status.NOT_FOUND,
      details: expect.stringContaining('snapshot workspaces/none/snapshot-x.tar@u-alice does not exist'),
    });
    expect(await call('isWorkspaceExists', { id: 'content-2' })).toEqual({ exists: false });
  });

  it('refuses bad requests with INVALID_ARGUMENT', async () => {
    await expect(call('initWorkspace', { id: 'Bad Id', metadata: { owner: 'a', metaId: '' }, initializer: empty, storageQuotaBytes: 0 })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    await expect(call('initWorkspace', { id: 'ok-id', metadata: { owner: '', metaId: '' }, initializer: empty, storageQuotaBytes: 0 })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('owner') });
    await expect(call('initWorkspace', { id: 'ok-id', metadata: { owner: 'a', metaId: '' }, initializer: undefined, storageQuotaBytes: 0 })).rejects.toMatchObject({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('initializer') });
  });

  it('WaitForInit without an init, and snapshots of unknown workspaces, are NOT_FOUND', async () => {
    await expect(call('waitForInit', { id: 'never-created' })).rejects.toMatchObject({ code: status.NOT_FOUND, details: expect.stringContaining('call InitWorkspace first') });
    await expect(call('takeSnapshot', { id: 'never-created' })).rejects.toMatchObject({ code: status.NOT_FOUND });
    await expect(call('disposeWorkspace', { id: 'never-created', backup: true })).rejects.toMatchObject({ code: status.NOT_FOUND });
  });
});
