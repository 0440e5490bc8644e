import { chownSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { invalid, WsError, WsErrorCode } from '@wsrun/common';
import { runSandboxedInitializer, type InitializerOutcome, type InitializerProgress, type RemoteContent } from '@wsrun/content';
import { initializer } from '@wsrun/proto';
import type { ContentInitConfig } from '../config/content-init-config';

/** The flags of `content-init init`, as parsed. */
export interface InitCommandInput {
  dst: string;
  initializer: string;
  remote?: string[];
  backup?: string;
  readOnly?: string[];
}

/**
 * `content-init init`: an operator's (and developer's) way to fill a folder exactly as a
 * workspace gets filled, in the sandbox, without the queue. Progress goes to stderr, the outcome
 * as JSON to stdout. Ctrl-C cancels (the sandbox is killed).
 */
export async function runInitCommand(input: InitCommandInput, config: ContentInitConfig, bundleDir: string): Promise<InitializerOutcome> {
  const spec = readInitializer(input.initializer);
  const destination = prepareDestination(resolve(input.dst), config.rootUid);
  const remoteContent: RemoteContent = {};
  for (const pair of input.remote ?? []) {
    const at = pair.indexOf('=');
    if (at <= 0) throw invalid('--remote', `"${pair}" is not <object@bucket>=<url>`);
    (remoteContent.objects ??= {})[pair.slice(0, at)] = { url: pair.slice(at + 1) };
  }
  if (input.backup) remoteContent.backup = { url: input.backup };
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await runSandboxedInitializer(
      { destination, initializer: spec, remoteContent, idMapping: config.idMapping, download: config.download },
      {
        bundleDir,
        timeoutMs: config.timeoutMs,
        signal: abort.signal,
        onProgress: (p) => process.stderr.write(`${formatProgress(p)}\n`),
        onLog: (line) => process.stderr.write(`${line}\n`),
        ...(input.readOnly?.length ? { extraReadOnly: input.readOnly.map((p) => resolve(p)) } : {}),
      },
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The initializer in the proto's JSON form, from a file or stdin ("-"). */
function readInitializer(source: string): initializer.WorkspaceInitializer {
  let text: string;
  try {
    text = readFileSync(source === '-' ? 0 : source, 'utf8');
  } catch (err) {
    throw invalid('--initializer', `cannot read ${source}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw invalid('--initializer', `not JSON: ${(err as Error).message}`);
  }
  const spec = initializer.WorkspaceInitializer.fromJSON(json);
  if (!spec.spec) throw invalid('--initializer', 'no initializer in it (expected e.g. {"git": {"remoteUri": "..."}})');
  return spec;
}

/** Creates the folder for the workspace's root when it is missing; an existing one is used as is. */
function prepareDestination(path: string, rootUid: number): string {
  if (!existsSync(path)) {
    try {
      mkdirSync(path, { recursive: true, mode: 0o755 });
      chownSync(path, rootUid, rootUid);
    } catch (err) {
      throw WsError.wrap(`creating ${path}`, err, WsErrorCode.FailedPrecondition);
    }
  }
  return path;
}

function formatProgress(p: InitializerProgress): string {
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  let line = `[${p.initializer}] ${p.phase}`;
  if (p.bytes !== undefined) line += ` ${mib(p.bytes)}${p.totalBytes !== undefined ? ` / ${mib(p.totalBytes)}` : ''}`;
  if (p.bytesPerSecond) line += ` (${mib(p.bytesPerSecond)}/s)`;
  return line;
}
