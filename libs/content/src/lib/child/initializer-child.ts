import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { OVERFLOW_ID, packDirectory, type IdMapper } from '@wsrun/archive';
import { readableChunks, WsError, WsErrorCode, type Logger } from '@wsrun/common';
import type { IdMapping } from '@wsrun/native-ns';
import { closeFd } from '@wsrun/native-ns';
import { redactSecrets } from '../git/secret-redaction';
import type { PackedArchive } from '../sandbox/sandboxed-pack';
import { DEFAULT_GIT_POLICY, type InitializerProgress } from '../initializers/initializer-context';
import { initializeWorkspace } from '../initializers/workspace-initializer';
import { CHILD_FAILED_EXIT, CHILD_FD, DOWNLOAD_THREAD_SCRIPT, type ChildFailure } from '../request/child-protocol';
import { decodeChildRequest, secretsOf, type ChildRequest, type InitializeRequest } from '../request/child-request';
import { gitStatus } from '../git/git-status';
import { joinInside, relativeParts } from '../fs/workspace-paths';

/**
 * `content-init run-initializer`: the sandboxed child (it also answers git-status requests). It runs as root of the workspace's user
 * namespace (host uid 33333), so files it creates belong to the workspace's root, and archive
 * owners are workspace ids that the kernel maps. Reads its request from CHILD_FD.request, reports
 * on CHILD_FD.metrics / CHILD_FD.failure, and returns the exit code (0, or CHILD_FAILED_EXIT).
 * Anything it could not catch is a crash by design.
 */
export async function runInitializerChild(logger: Logger): Promise<number> {
  let secrets: string[] = [];
  const abort = new AbortController();
  // the parent cancels with SIGKILL; a TERM (an operator) still gets a clean failure message
  process.once('SIGTERM', () => abort.abort());
  try {
    const request = readRequest();
    if (request.operation === 'pack') {
      report(CHILD_FD.metrics, JSON.stringify(await packToDataFd(request.destination, abort.signal)));
      return 0;
    }
    if (request.operation === 'git-status') {
      report(CHILD_FD.metrics, JSON.stringify(await gitStatus(joinInside(request.destination, relativeParts('checkoutLocation', request.checkoutLocation)), { signal: abort.signal })));
      return 0;
    }
    secrets = secretsOf(request.initializer);
    const outcome = await runRequest(request, logger, abort.signal);
    report(CHILD_FD.metrics, JSON.stringify(outcome));
    return 0;
  } catch (err) {
    const failure: ChildFailure = {
      code: err instanceof WsError ? err.code : WsErrorCode.Internal,
      message: redactSecrets(err instanceof Error ? err.message : String(err), secrets),
    };
    logger.error({ code: failure.code, err: failure.message }, 'initializer failed');
    report(CHILD_FD.failure, JSON.stringify(failure));
    return CHILD_FAILED_EXIT;
  }
}

/** Writes a report to its fd and closes it; run by hand (no such fd), the report goes to stderr. */
function report(fd: number, text: string): void {
  try {
    fs.writeSync(fd, text);
    closeFd(fd);
  } catch {
    process.stderr.write(`${text}\n`);
  }
}

/**
 * The workspace folder as a tar stream on CHILD_FD.data. Inside the user namespace the files show
 * their workspace ids, so the archive needs no mapping; no symlink is ever followed (packDirectory
 * walks directory fds).
 */
async function packToDataFd(destination: string, signal: AbortSignal): Promise<PackedArchive> {
  const rootFd = fs.openSync(destination, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    const { stream, done } = packDirectory(rootFd, { signal });
    // hashed here, on this process's core: the parent checks what storage stored against it
    const hash = createHash('sha256');
    // blocking writes: this process does nothing else, and a full socket (the parent is busy
    // storing) is exactly when packing should wait; no thread-pool round trip per chunk
    for await (const chunk of readableChunks(stream)) {
      const buf = chunk as Buffer;
      hash.update(buf);
      writeAllSync(CHILD_FD.data, buf);
    }
    return { ...(await done), sha256: hash.digest('hex') };
  } finally {
    fs.closeSync(rootFd);
  }
}

/** The download thread's script when it was bundled next to this one (content-init's download-thread.js). */
function downloadThreadScript(): { downloadThread?: string } {
  const script = join(dirname(process.argv[1] ?? '.'), DOWNLOAD_THREAD_SCRIPT);
  return fs.existsSync(script) ? { downloadThread: script } : {};
}

function readRequest(): ChildRequest {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(CHILD_FD.request);
    closeFd(CHILD_FD.request);
  } catch (err) {
    throw new WsError(WsErrorCode.InvalidArgument, `run-initializer: cannot read the request from fd ${CHILD_FD.request} (it is started by content-init, not by hand): ${(err as Error).message}`);
  }
  return decodeChildRequest(bytes);
}

async function runRequest(request: InitializeRequest, logger: Logger, signal: AbortSignal) {
  const rootFd = fs.openSync(request.destination, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  const tmpDir = mkdtempSync(join('/tmp', 'content-init-'));
  try {
    return await initializeWorkspace(
      {
        root: { path: request.destination, fd: rootFd },
        remoteContent: request.remoteContent,
        mapId: namespaceIdMapper(request.idMapping),
        tmpDir,
        git: { ...DEFAULT_GIT_POLICY, ...request.git },
        download: request.download ?? {},
        ...downloadThreadScript(),
        signal,
        onProgress: (p) => reportProgress(p),
        logger,
      },
      request.initializer,
    );
  } finally {
    rmSync(tmpDir, { recursive: true, force: true });
    fs.closeSync(rootFd);
  }
}

/**
 * Inside the user namespace, archive ids (workspace ids) are what we chown to: the kernel maps
 * them. An id the mapping does not cover becomes the overflow id, as the kernel shows it.
 */
export function namespaceIdMapper(mapping: readonly IdMapping[]): IdMapper {
  const mapped = (id: number): number => (mapping.some((r) => id >= r.containerId && id < r.containerId + r.size) ? id : OVERFLOW_ID);
  return { uid: mapped, gid: mapped };
}

let last = { at: 0, step: '' };

/** One JSON line per report: every change of step, and at most every 200 ms within one. */
function reportProgress(p: InitializerProgress): void {
  const now = Date.now();
  const step = `${p.initializer}:${p.phase}`;
  if (step === last.step && now - last.at < 200) return;
  last = { at: now, step };
  try {
    fs.writeSync(CHILD_FD.progress, JSON.stringify(p) + '\n');
  } catch {
    // nobody listens: progress is optional
  }
}

/** Writes all of `buf` to a blocking fd. */
function writeAllSync(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length; ) off += fs.writeSync(fd, buf, off, buf.length - off);
}
