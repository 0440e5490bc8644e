import { constants as osConstants } from 'node:os';
import { capabilityMask, type CapabilitySets } from './capabilities';
import { native } from './loader';
import { WireWriter, type WireField } from './wire';
import { CloneFlag, MountAttrBit, MountKind, Msg, Op, PropagationCode, SECCOMP_ACT_NOTIFY, UmountFlag, WIRE_MAX_MESSAGE, WIRE_NONE } from './wire-constants';

/**
 * A stage program: what a stage process (the wsrun-stage helper) does, in order, before it
 * execs its command, becomes the waiter of a nested stage, or exits. This file describes
 * programs and encodes them for the wire (src/core/wire.h); stage.ts runs them.
 */

export type Namespace = 'user' | 'mount' | 'pid' | 'net' | 'uts' | 'ipc' | 'cgroup';
export type MountAttr = keyof typeof MountAttrBit;
export type Propagation = Exclude<keyof typeof PropagationCode, 'none'>;

/** Where a path is resolved: a root register opened by an `openRoot` step, or the stage's "/". */
export type RootRef = number | undefined;

export type StageStep =
  /** Opens `path` (a plain path, trusted) as root register `register` for later steps. */
  | { op: 'openRoot'; register: number; path: string }
  /**
   * A mount onto `target`, resolved inside `targetRoot` with openat2(RESOLVE_IN_ROOT) and
   * attached through the fd: no symlink or ".." in the target can lead outside that root.
   * kind: bind/rbind of `source` (resolved inside `sourceRoot` when given), a new filesystem
   * (`fstype` + `options`), or a detached tree passed as `sourceFd`.
   */
  | {
      op: 'mount';
      kind: 'bind' | 'rbind' | 'fs' | 'fd';
      source?: string;
      fstype?: string;
      sourceRoot?: RootRef;
      sourceFd?: number;
      target: string;
      targetRoot?: RootRef;
      options?: string;
      pidnsFd?: number;
      attr?: MountAttr[];
      propagation?: Propagation;
      create?: boolean;
      /** a missing source is skipped and reported (stage 'notice') instead of failing */
      optional?: boolean;
    }
  | { op: 'mkdir'; root?: RootRef; path: string; mode?: number }
  /** pivot_root into `path`, detach the old root; the namespace becomes rslave first */
  | { op: 'pivotRoot'; path: string }
  | { op: 'chroot'; path: string }
  /** sends WAITING(tag) and blocks until Stage.go(tag) */
  | { op: 'wait'; tag: string }
  /** joins the namespaces of a process, given as a pidfd (or an ns fd) of the Node process */
  | { op: 'setns'; fd: number; namespaces: Namespace[] }
  /** fchdir + chroot(".") to a directory fd of the Node process (e.g. /proc/<pid>/root) */
  | { op: 'enterRoot'; fd: number }
  /** spawns a nested stage; the stage then ends as its waiter (end: 'waitChild') */
  | { op: 'spawn'; stage: NestedStageOptions }
  | { op: 'setattr'; root?: RootRef; path: string; set?: MountAttr[]; clear?: MountAttr[]; propagation?: Propagation; recursive?: boolean }
  | { op: 'umount'; root?: RootRef; path: string; detach?: boolean }
  /** open_tree(OPEN_TREE_CLONE) of path; the detached tree's fd goes to Node as Stage.receiveFd(tag) */
  | { op: 'openTree'; root?: RootRef; path: string; recursive?: boolean; tag: string }
  | { op: 'hostname'; name: string }
  /** makes every mount of the stage's namespace a slave: nothing propagates back out */
  | { op: 'rslave' }
  /**
   * new namespaces for the stage itself, at this point of its program: e.g. a mount namespace
   * made only once the stage is released (so it copies mounts the node made while it was held)
   */
  | { op: 'unshare'; namespaces: Namespace[] }
  /** switches ids now (e.g. to root of a user namespace just joined, before spawning a stage) */
  | { op: 'setCreds'; uid: number; gid: number; groups?: number[] }
  /**
   * installs the stage's `seccomp` filter now and sends its listener up, instead of right before
   * the exec: a stage that then waits (for ring0's go) has its listener with ring0 meanwhile.
   * Only syscalls the filter lets through may follow.
   */
  | { op: 'installSeccomp' };

export interface ExecSpec {
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
}

export interface SeccompPolicy {
  /** syscalls sent to the supervisor as user notifications */
  notify: string[];
  /** syscalls answered with an errno without reaching the kernel, e.g. { open_tree: 'EPERM' } */
  errno?: Record<string, string>;
  /** tag under which the listener fd is handed to Node (Stage.receiveFd) */
  listenerTag?: string;
  /** set no_new_privs with the filter (needed unless the stage is root in its user namespace) */
  noNewPrivs?: boolean;
}

export interface ProcessSettings {
  uid?: number;
  gid?: number;
  groups?: number[];
  /** fd numbers in the command -> fd numbers in this Node process. Every other fd is closed. */
  fds?: Record<number, number>;
  setsid?: boolean;
  /** with setsid: this target fd becomes the controlling terminal */
  controllingTty?: number;
  noNewPrivs?: boolean;
  capabilities?: CapabilitySets;
  noCoreDumps?: boolean;
  seccomp?: SeccompPolicy;
  /** signal the stage gets when its parent (thread) dies; default SIGKILL; 0 for none */
  pdeathsig?: NodeJS.Signals | 0;
}

export interface NestedStageOptions extends ProcessSettings {
  /** argv[0] and comm of the stage process (what `ps` shows), e.g. "wskit:ring2" */
  name?: string;
  namespaces?: Namespace[];
  steps?: StageStep[];
  /** exec a command, stay as the waiter of the stage spawned by a `spawn` step, or exit */
  end: { exec: ExecSpec } | 'waitChild' | { exit: number };
}

export interface StageOptions extends NestedStageOptions {
  /** the stage waits for Stage.release() before it runs its program (its id maps are written meanwhile) */
  hold?: boolean;
  /** start the stage in this cgroup (an O_DIRECTORY fd of a cgroup v2 folder) */
  cgroupFd?: number;
}

export interface EncodedStage {
  options: NestedStageOptions;
  /** the whole PROGRAM message, header included */
  program: Buffer;
  /** fds of the Node process that travel with the program (SCM_RIGHTS) */
  fds: number[];
  /** fds to close in Node once the program was sent (the child ends of nested channels) */
  closeAfterSend: number[];
  /** nested stages, by step index */
  nested: Map<number, { encoded: EncodedStage; parentEnd: number }>;
  /** what each step is, for error messages (describeStep): named only when one is needed */
  steps: readonly StageStep[];
}

export function cloneFlags(namespaces: readonly Namespace[] = []): number {
  let flags = 0;
  for (const ns of namespaces) {
    const bit = CloneFlag[ns];
    if (bit === undefined) throw new TypeError(`unknown namespace "${ns}"`);
    flags |= bit;
  }
  return flags;
}

export function signalNumber(signal: NodeJS.Signals | number | 0 | undefined, fallback: number): number {
  if (signal === undefined) return fallback;
  if (typeof signal === 'number') return signal;
  const n = osConstants.signals[signal];
  if (n === undefined) throw new TypeError(`unknown signal "${signal}"`);
  return n;
}

export function attrMask(attrs: readonly MountAttr[] = []): number {
  let mask = 0;
  for (const a of attrs) {
    const bit = MountAttrBit[a];
    if (bit === undefined) throw new TypeError(`unknown mount attribute "${a}"`);
    mask |= bit;
  }
  return mask;
}

function errnoNumber(name: string): number {
  const n = (osConstants.errno as Record<string, number>)[name];
  if (n === undefined) throw new TypeError(`unknown errno "${name}"`);
  return n;
}

function syscallNumber(name: string): number {
  const nr = native().syscallNumber(name);
  if (nr < 0) throw new TypeError(`seccomp: syscall "${name}" is unknown on this architecture`);
  return nr;
}

const root = (r: RootRef): number => (r === undefined ? WIRE_NONE : r);

export function describeStep(step: StageStep): string {
  switch (step.op) {
    case 'mount':
      return `mount ${step.kind} ${step.source ?? step.fstype ?? ''} on ${step.target}`.replace(/\s+/g, ' ');
    case 'spawn':
      return `spawn ${step.stage.name ?? 'stage'}`;
    case 'openRoot':
    case 'mkdir':
    case 'pivotRoot':
    case 'chroot':
    case 'setattr':
    case 'umount':
    case 'openTree':
      return `${step.op} ${step.path}`;
    case 'wait':
      return `wait ${step.tag}`;
    case 'unshare':
      return `unshare ${step.namespaces.join(',')}`;
    default:
      return step.op;
  }
}

/** Encodes a stage (and, recursively, its nested stages, each with its own channel). */
export function encodeStage(options: NestedStageOptions): EncodedStage {
  const fds: number[] = [];
  const ref = (fd: number): number => {
    if (!Number.isInteger(fd) || fd < 0) throw new TypeError(`invalid fd ${fd}`);
    const at = fds.indexOf(fd);
    if (at >= 0) return at;
    fds.push(fd);
    return fds.length - 1;
  };
  const writer = new WireWriter(4096, Msg.PROGRAM);
  const put = (op: number, fields: WireField[] = []) => writer.record(op, fields);
  const closeAfterSend: number[] = [];
  const nested = new Map<number, { encoded: EncodedStage; parentEnd: number }>();
  const steps = options.steps ?? [];

  // settings
  if (options.uid !== undefined || options.gid !== undefined) {
    put(Op.CREDS, [options.uid ?? 0, options.gid ?? 0, ...(options.groups ?? [])]);
  }
  for (const [target, source] of Object.entries(options.fds ?? {})) put(Op.FD, [Number(target), ref(source)]);
  put(Op.PDEATHSIG, [signalNumber(options.pdeathsig, osConstants.signals.SIGKILL)]);
  if (options.setsid) put(Op.SETSID, [options.controllingTty ?? -1]);
  if (options.noNewPrivs) put(Op.NNP);
  if (options.noCoreDumps) put(Op.NOCORE);
  if (options.capabilities) {
    const c = options.capabilities;
    put(Op.CAPS, [c.bounding, c.effective, c.permitted, c.inheritable, c.ambient].map(capabilityMask));
  }
  if (options.seccomp) {
    const s = options.seccomp;
    const rules: number[] = [];
    for (const name of s.notify) rules.push(syscallNumber(name), SECCOMP_ACT_NOTIFY);
    for (const [name, errno] of Object.entries(s.errno ?? {})) rules.push(syscallNumber(name), errnoNumber(errno));
    put(Op.SECCOMP, [s.notify.length > 0 ? 1 : 0, s.noNewPrivs ? 1 : 0, s.listenerTag ?? 'seccomp', ...rules]);
  }

  // steps
  for (let index = 0; index < steps.length; index++) {
    const step = steps[index]!;
    switch (step.op) {
      case 'openRoot':
        put(Op.OPEN_ROOT, [step.register, step.path]);
        break;
      case 'mount':
        put(Op.MOUNT, [
          MountKind[step.kind],
          step.kind === 'fs' ? (step.fstype ?? step.source ?? '') : (step.source ?? ''),
          root(step.sourceRoot),
          step.target,
          root(step.targetRoot),
          step.options ?? '',
          step.pidnsFd === undefined ? WIRE_NONE : ref(step.pidnsFd),
          attrMask(step.attr),
          step.propagation ? PropagationCode[step.propagation] : 0,
          step.create ? 1 : 0,
          step.optional ? 1 : 0,
          step.sourceFd === undefined ? WIRE_NONE : ref(step.sourceFd),
        ]);
        break;
      case 'mkdir':
        put(Op.MKDIR, [root(step.root), step.path, step.mode ?? 0o755]);
        break;
      case 'pivotRoot':
        put(Op.PIVOT_ROOT, [step.path]);
        break;
      case 'chroot':
        put(Op.CHROOT, [step.path]);
        break;
      case 'wait':
        put(Op.WAIT, [step.tag]);
        break;
      case 'setns':
        put(Op.SETNS, [ref(step.fd), cloneFlags(step.namespaces)]);
        break;
      case 'enterRoot':
        put(Op.ENTER_ROOT, [ref(step.fd)]);
        break;
      case 'spawn': {
        if (nested.size > 0) throw new TypeError('a stage spawns at most one nested stage');
        const [parentEnd, childEnd] = native().socketpair('seqpacket');
        const encoded = encodeStage(step.stage);
        nested.set(index, { encoded, parentEnd });
        closeAfterSend.push(childEnd);
        put(Op.SPAWN, [cloneFlags(step.stage.namespaces), ref(childEnd), signalNumber(step.stage.pdeathsig, osConstants.signals.SIGKILL), step.stage.name ?? 'wsrun-stage']);
        break;
      }
      case 'setattr':
        put(Op.SETATTR, [root(step.root), step.path, attrMask(step.set), attrMask(step.clear), step.propagation ? PropagationCode[step.propagation] : 0, step.recursive ? 1 : 0]);
        break;
      case 'umount':
        put(Op.UMOUNT, [root(step.root), step.path, step.detach ? UmountFlag.detach : 0]);
        break;
      case 'openTree':
        put(Op.OPEN_TREE, [root(step.root), step.path, step.recursive ? 1 : 0, step.tag]);
        break;
      case 'hostname':
        put(Op.HOSTNAME, [step.name]);
        break;
      case 'rslave':
        put(Op.RSLAVE);
        break;
      case 'unshare':
        put(Op.UNSHARE, [cloneFlags(step.namespaces)]);
        break;
      case 'installSeccomp':
        if (!options.seccomp) throw new TypeError('installSeccomp: the stage has no seccomp policy');
        put(Op.INSTALL_SECCOMP);
        break;
      case 'setCreds':
        put(Op.SETCREDS, [step.uid, step.gid, ...(step.groups ?? [])]);
        break;
      default:
        throw new TypeError(`unknown step ${(step as { op: string }).op}`);
    }
  }

  // the end
  const end = options.end;
  if (end === 'waitChild') {
    if (nested.size === 0) throw new TypeError('end "waitChild" needs a spawn step');
    put(Op.WAIT_CHILD);
  } else if ('exit' in end) {
    put(Op.EXIT, [end.exit]);
  } else {
    if (end.exec.argv.length === 0) throw new TypeError('exec: argv is empty');
    put(Op.ARGV, end.exec.argv);
    const env: string[] = [];
    const vars = end.exec.env ?? {};
    const names = Object.keys(vars);
    for (let i = 0; i < names.length; i++) env.push(`${names[i]}=${vars[names[i]!]}`);
    put(Op.ENV, env);
    if (end.exec.cwd) put(Op.CWD, [end.exec.cwd]);
    put(Op.EXEC);
  }
  const program = writer.take();
  if (program.length > WIRE_MAX_MESSAGE) {
    throw new TypeError(`stage program of ${program.length - 8} bytes exceeds ${WIRE_MAX_MESSAGE - 8} (argv or env too large)`);
  }
  if (fds.length > 64) throw new TypeError(`stage program passes ${fds.length} fds; at most 64`);
  return { options, program, fds, closeAfterSend, nested, steps };
}
