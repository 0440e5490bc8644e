import { WsError } from '@wsrun/common';
import type { GitFailureKind } from './git-failure';

/** A git command that failed: its classification, and git's (redacted) messages. */
export class GitCommandError extends WsError {
  constructor(
    readonly command: string,
    readonly kind: GitFailureKind,
    readonly stderrTail: string,
    exit: string,
  ) {
    super(kind.code, `git ${command}: ${kind.reason ? `${kind.reason} (${summary(stderrTail) || exit})` : summary(stderrTail) || exit}`);
  }

  get transient(): boolean {
    return this.kind.transient;
  }
}

/** What git said went wrong: its first and last fatal:/error: lines (the first is the cause), else its last line. */
function summary(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const fatal = lines.filter((l) => /^(fatal|error):/.test(l));
  if (fatal.length === 0) return lines[lines.length - 1] ?? '';
  return fatal.length === 1 ? fatal[0] : `${fatal[0]}; ${fatal[fatal.length - 1]}`;
}
