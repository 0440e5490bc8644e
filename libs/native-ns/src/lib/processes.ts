import { constants as osConstants } from 'node:os';
import { native } from './loader';
import { signalNumber } from './stage-program';

/** pidfd_open: a handle on a process that never points at a recycled pid. */
export function pidfdOpen(pid: number): number {
  return native().pidfdOpen(pid);
}

export function pidfdSendSignal(pidfd: number, signal: NodeJS.Signals | number): void {
  native().pidfdSendSignal(pidfd, signalNumber(signal, osConstants.signals.SIGTERM));
}

/** PR_SET_CHILD_SUBREAPER: orphaned descendants are reparented to this process. */
export function setChildSubreaper(on = true): void {
  native().setChildSubreaper(on);
}

/**
 * Signals a supervisor passes on to the process it supervises: all it can catch, except the ones
 * that are about the supervisor itself (as docker's signal proxy does): SIGPROF is V8's profiler
 * sampling this very process (passed on, it killed the workspace of a profiled ring0), SIGPIPE
 * and SIGURG come from its own sockets, SIGCHLD from its own children.
 */
export const FORWARDED_SIGNALS: NodeJS.Signals[] = [
  'SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT', 'SIGTSTP',
  'SIGTTIN', 'SIGTTOU', 'SIGALRM', 'SIGVTALRM', 'SIGXCPU', 'SIGXFSZ', 'SIGPWR',
];

/**
 * Forwards every catchable signal this Node process receives to a child (through its pidfd).
 * `onSignal` may intercept one (return true to handle it yourself, e.g. SIGTERM's grace period).
 * Returns a function that stops forwarding.
 */
export function forwardSignals(pidfd: number, onSignal?: (signal: NodeJS.Signals) => boolean): () => void {
  const handlers = new Map<NodeJS.Signals, () => void>();
  for (const sig of FORWARDED_SIGNALS) {
    const handler = () => {
      if (onSignal?.(sig)) return;
      try {
        native().pidfdSendSignal(pidfd, osConstants.signals[sig]);
      } catch {
        // the child is gone; its exit is reported elsewhere
      }
    };
    handlers.set(sig, handler);
    process.on(sig, handler);
  }
  return () => {
    for (const [sig, handler] of handlers) process.off(sig, handler);
  };
}
