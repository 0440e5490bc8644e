import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { WsError, WsErrorCode } from '@wsrun/common';
import { exitCodeOf, type IdMapping } from '@wsrun/native-ns';
import type { initializer } from '@wsrun/proto';
import type { DownloadPolicy, GitPolicy, InitializerProgress } from '../initializers/initializer-context';
import type { InitializerOutcome } from '../initializers/initializer-metrics';
import { CHILD_FAILED_EXIT, CHILD_FD, SANDBOX_BUNDLE_DIR, SANDBOX_DESTINATION, type ChildFailure } from '../request/child-protocol';
import { encodeChildRequest } from '../request/child-request';
import type { RemoteContent } from '../request/remote-content';
import { ChildPipes } from './child-pipes';
import { SandboxProcess } from './sandbox-process';

/**
 * The parent side of a sandboxed initializer run (DESIGN.md §3, §4 Init): builds the sandbox's
 * root, starts `content-init run-initializer` in it with the workspace's id mapping, hands it
 * the request over an inherited socket, and turns what it reports into a result or a typed
 * error. A deadline or a cancellation kills the sandbox (SIGKILL to its pid 1 takes everything
 * in its pid namespace along); the folder is then left for the next run's clean slate.
 */

export interface SandboxedInitializerRequest {
  /** host path of the workspace folder; owned by the host id that is root inside (33333) */
  destination: string;
  initializer: initializer.WorkspaceInitializer;
  remoteContent?: RemoteContent;
  /** container → host, the same for uids and gids; default WORKSPACE_ID_MAPPING */
  idMapping?: IdMapping[];
  git?: Partial<GitPolicy>;
  download?: DownloadPolicy;
}

export interface SandboxedRunOptions {
  /** the content-init bundle folder: main.js and native/ (bundle.mjs output) */
  bundleDir: string;
  /** the run is killed after this many ms (default 1 h) */
  timeoutMs?: number;
  signal?: AbortSignal;
  onProgress?: (progress: InitializerProgress) => void;
  /** every log line of the child (JSON from its logger, or plain text from a crash) */
  onLog?: (line: string) => void;
  /** host paths visible read-only at the same path inside (local mirrors, file:// remotes) */
  extraReadOnly?: string[];
  /** Node inside the sandbox; must live in a system folder (default: this process's node) */
  nodePath?: string;
  /** parent folder of the per-run root skeleton (default: the OS temp folder) */
  skeletonParent?: string;
}

/** 0 → 33333 (one id), 1.. → 100000.. (65536 ids): ws-daemon's defaults. */
export const WORKSPACE_ID_MAPPING: IdMapping[] = [
  { containerId: 0, hostId: 33333, size: 1 },
  { containerId: 1, hostId: 100000, size: 65536 },
];

const DEFAULT_TIMEOUT_MS = 60 * 60 * 1000;
const LOG_TAIL_LINES = 20;

export async function runSandboxedInitializer(request: SandboxedInitializerRequest, options: SandboxedRunOptions): Promise<InitializerOutcome> {
  const idMapping = request.idMapping ?? WORKSPACE_ID_MAPPING;
  checkDestination(request.destination, idMapping);
  const mainJs = join(options.bundleDir, 'main.js');
  if (!fs.existsSync(mainJs)) throw new WsError(WsErrorCode.FailedPrecondition, `content-init bundle not found: ${mainJs} (build it with \`node tools/build/bundle.mjs content-init\`)`);
  const nodePath = options.nodePath ?? process.execPath;
  if (!/^\/(usr|bin|sbin|lib|lib64)\//.test(nodePath)) throw new WsError(WsErrorCode.FailedPrecondition, `node (${nodePath}) must live in a system folder (/usr ...) to run in the sandbox`);
  if (options.signal?.aborted) throw new WsError(WsErrorCode.Cancelled, 'the initializer was cancelled before it started');

  const pipes = new ChildPipes();
  const logTail: string[] = [];
  let sandbox: SandboxProcess | undefined;
  let stopped: 'deadline' | 'cancelled' | undefined;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const stop = (why: 'deadline' | 'cancelled'): void => {
    stopped ??= why;
    sandbox?.kill();
  };
  const timer = setTimeout(() => stop('deadline'), timeoutMs);
  const onAbort = (): void => stop('cancelled');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    pipes.pass(0, fs.openSync('/dev/null', 'r'));
    const progress = pipes.output(CHILD_FD.progress, lineSplitter((line) => onProgressLine(line, options.onProgress)));
    const logs = pipes.output(
      CHILD_FD.log,
      lineSplitter((line) => {
        logTail.push(line);
        if (logTail.length > LOG_TAIL_LINES) logTail.shift();
        options.onLog?.(line);
      }),
    );
    const failure = pipes.output(CHILD_FD.failure);
    const metrics = pipes.output(CHILD_FD.metrics);
    const requestPipe = pipes.input(CHILD_FD.request);
    const env: Record<string, string> = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/root', LANG: 'C.UTF-8', WSRUN_LOG_LEVEL: process.env['WSRUN_LOG_LEVEL'] ?? 'info' };
    // only a CA file that is visible inside the sandbox (Node fails to start on a missing one)
    const ca = process.env['NODE_EXTRA_CA_CERTS'];
    if (ca && /^\/(etc\/ssl\/certs|usr)\//.test(ca)) env['NODE_EXTRA_CA_CERTS'] = ca;
    try {
      sandbox = await SandboxProcess.start({
        destination: request.destination,
        bundleDir: options.bundleDir,
        idMapping,
        exec: { argv: [nodePath, `${SANDBOX_BUNDLE_DIR}/main.js`, 'run-initializer'], env },
        fds: pipes.childFds,
        nodePath,
        ...(options.extraReadOnly ? { extraReadOnly: options.extraReadOnly } : {}),
        ...(options.skeletonParent ? { skeletonParent: options.skeletonParent } : {}),
      });
    } finally {
      // the launcher has its copies (or failed): ours must go for EOF to come
      pipes.closeChildEnds();
    }
    // a stop that came while the sandbox was starting
    if (stopped) sandbox.kill();
    requestPipe.send(encodeChildRequest({ destination: SANDBOX_DESTINATION, initializer: request.initializer, remoteContent: request.remoteContent ?? {}, idMapping, ...(request.git ? { git: request.git } : {}), ...(request.download ? { download: request.download } : {}) }));
    const setup = await sandbox.ready.then(
      () => undefined,
      (err: Error) => err,
    );
    const status = await sandbox.exited.catch((err: Error) => {
      if (stopped) return { code: null, signal: 'SIGKILL' as NodeJS.Signals };
      throw err;
    });
    const [failureText, metricsText] = await Promise.all([failure, metrics, progress, logs]);
    if (stopped) throw stoppedError(stopped, timeoutMs);
    if (setup) throw WsError.wrap('setting up the content-init sandbox', setup, WsErrorCode.Internal);
    if (status.code === 0) return parseOutcome(metricsText);
    if (status.code === CHILD_FAILED_EXIT) throw childFailure(failureText);
    throw new WsError(WsErrorCode.Internal, `the content initializer crashed (exit status ${exitCodeOf(status)}${status.signal ? `, ${status.signal}` : ''})${logTail.length ? `; last log lines:\n${logTail.slice(-5).join('\n')}` : ''}`);
  } catch (err) {
    if (stopped && !(err instanceof WsError && (err.code === WsErrorCode.Cancelled || err.code === WsErrorCode.DeadlineExceeded))) throw stoppedError(stopped, timeoutMs);
    throw err;
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    sandbox?.kill();
    sandbox?.close();
    pipes.destroy();
  }
}

function stoppedError(why: 'deadline' | 'cancelled', timeoutMs: number): WsError {
  if (why === 'deadline') return new WsError(WsErrorCode.DeadlineExceeded, `the content initializer did not finish within ${Math.round(timeoutMs / 1000)} s and was stopped`);
  return new WsError(WsErrorCode.Cancelled, 'the content initializer was cancelled');
}

/** The host id that is root inside (the launcher runs as it, and owns the workspace folder). */
function rootHostId(idMapping: readonly IdMapping[]): number {
  const root = idMapping.find((m) => m.containerId === 0);
  if (!root) throw new WsError(WsErrorCode.InvalidArgument, 'the id mapping has no range for container id 0');
  return root.hostId;
}

/**
 * The workspace folder must be a real directory (not a symlink) owned by the host id that is
 * root inside: the sandbox has no other way to write it.
 */
function checkDestination(destination: string, idMapping: readonly IdMapping[]): void {
  if (!destination.startsWith('/')) throw new WsError(WsErrorCode.InvalidArgument, `destination ${JSON.stringify(destination)} is not an absolute path`);
  let st: fs.Stats;
  try {
    st = fs.lstatSync(destination);
  } catch (err) {
    throw WsError.wrap(`destination ${destination}`, err, WsErrorCode.NotFound);
  }
  if (!st.isDirectory()) throw new WsError(WsErrorCode.FailedPrecondition, `destination ${destination} is not a directory (symlinks are not followed)`);
  const root = rootHostId(idMapping);
  if (st.uid !== root) throw new WsError(WsErrorCode.FailedPrecondition, `destination ${destination} is owned by uid ${st.uid}, not by ${root} (root of the workspace)`);
  // the sandbox opens it as that uid, without privileges on the node: every folder above must let it pass
  for (let dir = dirname(destination); ; dir = dirname(dir)) {
    const d = fs.statSync(dir);
    const searchable = d.mode & 0o001 || (d.uid === root && d.mode & 0o100) || (d.gid === root && d.mode & 0o010);
    if (!searchable) throw new WsError(WsErrorCode.FailedPrecondition, `destination ${destination}: uid ${root} cannot enter ${dir} (mode ${(d.mode & 0o777).toString(8)})`);
    if (dir === '/') break;
  }
}

function parseOutcome(text: string): InitializerOutcome {
  try {
    const outcome = JSON.parse(text) as InitializerOutcome;
    if (typeof outcome.source !== 'string' || !Array.isArray(outcome.metrics)) throw new Error('missing source or metrics');
    return outcome;
  } catch (err) {
    throw new WsError(WsErrorCode.Internal, `the content initializer reported success without valid metrics: ${(err as Error).message}`);
  }
}

function childFailure(text: string): WsError {
  try {
    const f = JSON.parse(text) as ChildFailure;
    const code = Object.values(WsErrorCode).includes(f.code) ? f.code : WsErrorCode.Internal;
    return new WsError(code, f.message);
  } catch {
    return new WsError(WsErrorCode.Internal, text.trim() || 'the content initializer failed without a message');
  }
}

function onProgressLine(line: string, onProgress: SandboxedRunOptions['onProgress']): void {
  if (!onProgress) return;
  try {
    onProgress(JSON.parse(line) as InitializerProgress);
  } catch {
    // not a progress line: ignored
  }
}

/** Calls fn once per complete line of a text stream. */
function lineSplitter(fn: (line: string) => void): (chunk: string) => void {
  let rest = '';
  return (chunk) => {
    rest += chunk;
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      const line = rest.slice(0, nl);
      rest = rest.slice(nl + 1);
      if (line) fn(line);
    }
  };
}
