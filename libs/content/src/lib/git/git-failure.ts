import { WsErrorCode } from '@wsrun/common';

/**
 * What a failed git command means for the caller: a permanent failure (bad credentials, a branch
 * or commit that does not exist) gets a clear code at once; a transient one (network, 5xx) is
 * worth another attempt. Decided from git's messages with LC_ALL=C.
 */
export interface GitFailureKind {
  code: WsErrorCode;
  transient: boolean;
  /** a short explanation for the user, or undefined to use git's own last line */
  reason?: string;
}

const RULES: { pattern: RegExp; kind: GitFailureKind }[] = [
  {
    pattern: /Authentication failed|could not read (Username|Password)|terminal prompts disabled|returned error: 40[13]\b|HTTP Basic: Access denied/i,
    kind: { code: WsErrorCode.PermissionDenied, transient: false, reason: 'authentication failed' },
  },
  { pattern: /Remote branch (\S+) not found in upstream/i, kind: { code: WsErrorCode.NotFound, transient: false } },
  {
    pattern: /not our ref|couldn't find remote ref|no such remote ref|reference is not a tree|unknown revision|did not match any file|invalid reference/i,
    kind: { code: WsErrorCode.NotFound, transient: false },
  },
  {
    pattern: /repository '.*' not found|does not appear to be a git repository|returned error: 404\b|Repository not found|not a git repository/i,
    kind: { code: WsErrorCode.NotFound, transient: false, reason: 'repository not found' },
  },
  {
    pattern:
      /Could not resolve host|Connection refused|Failed to connect|Connection timed out|Operation timed out|early EOF|RPC failed|remote end hung up|returned error: (5\d\d|429|408)\b|transfer closed|Connection reset|gnutls_handshake|SSL_ERROR|Empty reply from server|unexpected disconnect/i,
    kind: { code: WsErrorCode.Unavailable, transient: true },
  },
];

export function classifyGitFailure(stderr: string): GitFailureKind {
  for (const rule of RULES) if (rule.pattern.test(stderr)) return rule.kind;
  return { code: WsErrorCode.Internal, transient: false };
}
