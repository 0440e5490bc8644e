import { WsError, WsErrorCode } from '@wsrun/common';
import { initializer } from '@wsrun/proto';
import { relativeParts } from '../fs/workspace-paths';

/**
 * A GitInitializer checked before anything runs: every string that reaches git's command line
 * is validated here (git sees them after `--` or as option values, never as options of their
 * own), and custom config may not undo the run's hardening.
 */
export interface GitTarget {
  remote: string;
  /** the remote as a URL, for http(s) remotes (credentials are keyed by its host) */
  remoteUrl?: URL;
  /** file:// or a local path: file transport must be allowed, also for submodules */
  local: boolean;
  upstream?: string;
  mode: initializer.CloneTargetMode;
  /** branch name or commit sha; '' for REMOTE_HEAD */
  target: string;
  /** validated components of the checkout location */
  location: string[];
  customConfig: [string, string][];
  shallow: boolean;
}

const TransportPattern = /^(https?|ssh|git|file):\/\//i;
/** scp-like ssh address: user@host:path */
const ScpPattern = /^[\w.-]+@[\w.-]+:(?!\/\/)/;

/** Config keys that would turn the hardening off (hooks, fsmonitor, credential helpers, includes, transports). */
const FORBIDDEN_CONFIG = [/^core\.hookspath$/i, /^core\.fsmonitor$/i, /^credential\./i, /^include\./i, /^includeif\./i, /^protocol\./i, /^core\.sshcommand$/i];

function invalid(message: string): WsError {
  return new WsError(WsErrorCode.InvalidArgument, `git initializer: ${message}`);
}

export function checkRemote(setting: string, remote: string): { url?: URL; local: boolean } {
  if (!remote) throw invalid(`${setting} is empty`);
  if (remote.startsWith('-') || /[\0\n\r]/.test(remote)) throw invalid(`${setting} is not a repository address`);
  if (remote.startsWith('/')) return { local: true };
  if (ScpPattern.test(remote)) return { local: false };
  if (!TransportPattern.test(remote)) throw invalid(`${setting} must be an http(s), ssh, git or file URL, an scp-like address or an absolute path`);
  let url: URL;
  try {
    url = new URL(remote);
  } catch {
    throw invalid(`${setting} is not a valid URL`);
  }
  const local = url.protocol === 'file:';
  return { url: url.protocol.startsWith('http') ? url : undefined, local };
}

/** git check-ref-format's rules for a branch name, as a predicate. */
export function isValidBranchName(name: string): boolean {
  if (!name || name.startsWith('-') || name.startsWith('/') || name.endsWith('/') || name.endsWith('.') || name.endsWith('.lock')) return false;
  if (name === '@' || name.includes('..') || name.includes('@{') || name.includes('//')) return false;
  if (/[\s~^:?*[\\]/.test(name) || [...name].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return false;
  return name.split('/').every((c) => c.length > 0 && !c.startsWith('.'));
}

export function parseGitInitializer(spec: initializer.GitInitializer): GitTarget {
  const remote = checkRemote('remoteUri', spec.remoteUri);
  if (spec.upstreamRemoteUri) checkRemote('upstreamRemoteUri', spec.upstreamRemoteUri);
  const mode = spec.targetMode;
  let target = '';
  switch (mode) {
    case initializer.CloneTargetMode.REMOTE_HEAD:
      break;
    case initializer.CloneTargetMode.REMOTE_COMMIT:
      if (!/^[0-9a-f]{4,64}$/i.test(spec.cloneTarget)) throw invalid(`cloneTarget ${JSON.stringify(spec.cloneTarget)} is not a commit id (4 to 64 hex digits)`);
      target = spec.cloneTarget.toLowerCase();
      break;
    case initializer.CloneTargetMode.REMOTE_BRANCH:
    case initializer.CloneTargetMode.LOCAL_BRANCH:
      if (!isValidBranchName(spec.cloneTarget)) throw invalid(`cloneTarget ${JSON.stringify(spec.cloneTarget)} is not a valid branch name`);
      target = spec.cloneTarget;
      break;
    default:
      throw invalid(`unknown targetMode ${String(mode)}`);
  }
  const customConfig = Object.entries(spec.config?.customConfig ?? {});
  for (const [key, value] of customConfig) {
    if (!/^[A-Za-z][A-Za-z0-9-]*(\..+)?\.[A-Za-z][A-Za-z0-9-]*$/.test(key) || /[\0\n]/.test(key) || /[\0\n]/.test(value)) throw invalid(`custom config key ${JSON.stringify(key)} is not a git config key`);
    if (FORBIDDEN_CONFIG.some((p) => p.test(key))) throw invalid(`custom config ${JSON.stringify(key)} is not allowed (it would turn off the sandbox's hardening)`);
  }
  const auth = spec.config?.authentication ?? initializer.GitAuthMethod.NO_AUTH;
  if (auth !== initializer.GitAuthMethod.NO_AUTH && !remote.url) throw invalid('basic authentication needs an http(s) remoteUri');
  return {
    remote: spec.remoteUri,
    ...(remote.url ? { remoteUrl: remote.url } : {}),
    local: remote.local,
    ...(spec.upstreamRemoteUri ? { upstream: spec.upstreamRemoteUri } : {}),
    mode,
    target,
    location: relativeParts('git checkoutLocation', spec.checkoutLocation),
    customConfig,
    shallow: !spec.fullClone,
  };
}
