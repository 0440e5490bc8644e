import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { WsError, WsErrorCode } from '@wsrun/common';
import { exitCodeOf, type CapabilitySets, type IdMapping } from '@wsrun/native-ns';
import type { Readable } from 'node:stream';
import type { InitializerProgress } from '../initializers/initializer-context';
import { CHILD_FAILED_EXIT, CHILD_FD, SANDBOX_BUNDLE_DIR, type ChildFailure } from '../request/child-protocol';
import { encodeChildRequest, type ChildRequest } from '../request/child-request';
import { ChildPipes } from './child-pipes';
import { SandboxProcess } from './sandbox-process';

/**
 * The parent side of a sandboxed child run (DESIGN.md §3): starts content-init's sandboxed child
 * (sandbox-child.js, the same code as `content-init run-initializer`) in the sandbox with the workspace's id mapping, hands it the request over an inherited socket,
 * and turns what it reports into its result (the JSON it wrote on CHILD_FD.metrics) or a typed
 * error carrying the child's message. A deadline or a cancellation kills the sandbox (SIGKILL to
 * its pid 1 takes everything in its pid namespace along); the workspace folder is then left for
 * the next run's clean slate.
 */

export interface SandboxedRunOptions {
  /** the content-init bundle folder: sandbox-child.js and native/ (bundle.mjs output) */
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

/** What a particular operation needs beyond the common options. */
export interface SandboxedChildExtras {
  capabilities?: CapabilitySets;
  readOnlyDestination?: boolean;
  /** consumes the byte stream the child writes on CHILD_FD.data */
  consumeData?: (data: Readable) => Promise<void>;
}

/** 0 → 33333 (one id), 1.. → 100000.. (65536 ids): ws-daemon's defaults. */
export const WORKSPACE_ID_MAPPING: IdMapping[] = [
  { containerId: 0, hostId: 33333, size: 1 },
  { containerId: 1, hostId: 100000, size: 65536 },
];

const DEFAULT_TIMEOUT_MS = 60 * 60 * 1000;
/** the sandboxed child's entry in the content-init bundle folder */
const CHILD_BUNDLE = 'sandbox-child.js';
const LOG_TAIL_LINES = 20;

/**
 * Runs the child on `run.destination` (host path, bound at /dst) with `request`; resolves with
 * what it reported on success. Throws WsError: the child's code and message when it failed on
 * purpose, DEADLINE_EXCEEDED, CANCELLED, FAILED_PRECONDITION for a destination the sandbox
 * cannot use, INTERNAL for a crash or a sandbox that did not start.
 */
export async function runSandboxedChild<T>(run: { destination: string; idMapping: IdMapping[] }, request: ChildRequest, options: SandboxedRunOptions, extras: SandboxedChildExtras = {}): Promise<T> {
  const idMapping = run.idMapping;
  checkDestination(run.destination, idMapping);
  // the child's own small bundle (apps/content-init/src/sandbox-child.main.ts): it starts in
  // about 50 ms where main.js, with the queue, S3 and gRPC code, takes about 200
  const childJs = join(options.bundleDir, CHILD_BUNDLE);
  if (!fs.existsSync(childJs)) throw new WsError(WsErrorCode.FailedPrecondition, `content-init bundle not found: ${childJs} (build it with \`node tools/build/bundle.mjs content-init\`)`);
  const nodePath = options.nodePath ?? process.execPath;
  if (!/^\/(usr|bin|sbin|lib|lib64)\//.test(nodePath)) throw new WsError(WsErrorCode.FailedPrecondition, `node (${nodePath}) must live in a system folder (/usr ...) to run in the sandbox`);
  if (options.signal?.aborted) throw new WsError(WsErrorCode.Cancelled, 'the content initializer was cancelled before it started');

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
    const data = extras.consumeData ? pipes.stream(CHILD_FD.data) : undefined;
    // a consumer that fails (a storage error) stops the child: nothing more to write to
    const consumed = data && extras.consumeData ? extras.consumeData(data).then(() => undefined, (err: unknown) => { sandbox?.kill(); return err; }) : Promise.resolve(undefined);
    const env: Record<string, string> = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8', WSRUN_LOG_LEVEL: process.env['WSRUN_LOG_LEVEL'] ?? 'info' };
    // only a CA file that is visible inside the sandbox (Node fails to start on a missing one),
    // and only for a child that may download: loading it triples Node's start (about 60 ms)
    const ca = process.env['NODE_EXTRA_CA_CERTS'];
    if (ca && request.operation === 'initialize' && /^\/(etc\/ssl\/certs|usr)\//.test(ca)) env['NODE_EXTRA_CA_CERTS'] = ca;
    try {
      sandbox = SandboxProcess.start({
        destination: run.destination,
        bundleDir: options.bundleDir,
        idMapping,
        exec: { argv: [nodePath, `${SANDBOX_BUNDLE_DIR}/${CHILD_BUNDLE}`], env },
        fds: pipes.childFds,
        ...(options.extraReadOnly ? { extraReadOnly: options.extraReadOnly } : {}),
        ...(options.skeletonParent ? { skeletonParent: options.skeletonParent } : {}),
        ...(extras.capabilities ? { capabilities: extras.capabilities } : {}),
        ...(extras.readOnlyDestination ? { readOnlyDestination: true } : {}),
      });
    } catch (err) {
      pipes.closeChildEnds();
      throw err;
    }
    // the stage has its copies once it is set up (or failed): ours must go for EOF to come
    sandbox.ready.finally(() => pipes.closeChildEnds()).catch(() => undefined);
    requestPipe.send(encodeChildRequest(request));
    const setup = await sandbox.ready.then(
      () => undefined,
      (err: Error) => err,
    );
    const status = await sandbox.exited;
    const [failureText, metricsText] = await Promise.all([failure, metrics, progress, logs]);
    const consumerError = await consumed;
    if (consumerError) throw consumerError instanceof WsError ? consumerError : WsError.wrap('consuming the sandbox\'s output', consumerError, WsErrorCode.Internal);
    if (stopped) throw stoppedError(stopped, timeoutMs);
    if (setup) throw WsError.wrap('setting up the content-init sandbox', setup, WsErrorCode.Internal);
    if (status.code === 0) return parseResult(metricsText);
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

/** The host id that is root inside (it owns the workspace folder). */
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

function parseResult<T>(text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new WsError(WsErrorCode.Internal, `the content initializer reported success without a valid result: ${(err as Error).message}`);
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
