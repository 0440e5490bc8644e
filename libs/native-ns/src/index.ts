// native-ns: the only place in wsrun that makes namespace, mount, seccomp, id-map, pidfd and
// SCM_RIGHTS syscalls. C core in src/core, the N-API binding in src/binding, the stage helper in
// src/stage, and this typed API in src/lib.
export { NativeNsError, type NativeNsErrorFields } from './lib/native-ns.error';
export { loadNative } from './lib/loader';
export * from './lib/capabilities';
export * from './lib/id-map';
export * from './lib/mounts';
export * from './lib/fd-passing';
export * from './lib/unix-stream';
export * from './lib/processes';
export * from './lib/seccomp';
export * from './lib/ns-ops';
export * from './lib/fs-at';
export {
  type Namespace,
  type MountAttr,
  type Propagation,
  type StageStep,
  type ExecSpec,
  type SeccompPolicy,
  type ProcessSettings,
  type NestedStageOptions,
  type StageOptions,
  cloneFlags,
} from './lib/stage-program';
export { spawnStage, spawnHeldStage, Stage, NestedStage, StageChannel, withTimeout, exitCodeOf, type ExitStatus, type StageProgram } from './lib/stage';
export { StageExit } from './lib/wire-constants';
