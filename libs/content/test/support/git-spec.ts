import { initializer } from '@wsrun/proto';

/** A git WorkspaceInitializer with the proto's defaults. */
export function gitInitializer(over: Partial<initializer.GitInitializer>): initializer.WorkspaceInitializer {
  return { spec: { $case: 'git', value: gitSpec(over) } };
}

export function gitSpec(over: Partial<initializer.GitInitializer>): initializer.GitInitializer {
  return {
    remoteUri: '',
    upstreamRemoteUri: '',
    targetMode: initializer.CloneTargetMode.REMOTE_HEAD,
    cloneTarget: '',
    checkoutLocation: '',
    config: undefined,
    fullClone: false,
    ...over,
  };
}

export function gitConfig(over: Partial<initializer.GitConfig>): initializer.GitConfig {
  return { customConfig: {}, authentication: initializer.GitAuthMethod.NO_AUTH, authUser: '', authPassword: '', authOts: '', ...over };
}
