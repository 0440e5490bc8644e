// Lint for every project. The module-boundary rule is the architecture in code: see DESIGN.md §2.
import nx from '@nx/eslint-plugin';

// Packages that carry a transport (gRPC, HTTP servers, NestJS microservices). Apps own transports;
// domain libs stay plain so the same services run behind gRPC, a queue worker or a test.
const TRANSPORT_PACKAGES = ['@nestjs/microservices', '@nestjs/platform-*', '@grpc/grpc-js', '@grpc/proto-loader'];

export const depConstraints = [
  // two dimensions: where code belongs (scope) ...
  { sourceTag: 'scope:daemon', onlyDependOnLibsWithTags: ['scope:daemon', 'scope:content', 'scope:shared'] },
  { sourceTag: 'scope:kit', onlyDependOnLibsWithTags: ['scope:kit', 'scope:shared'] },
  { sourceTag: 'scope:content', onlyDependOnLibsWithTags: ['scope:content', 'scope:shared'] },
  { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
  // ... and what it is. Apps never import apps (no constraint lists type:app as a target).
  { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib', 'type:native', 'type:proto'] },
  {
    sourceTag: 'type:lib',
    onlyDependOnLibsWithTags: ['type:lib', 'type:native', 'type:proto'],
    bannedExternalImports: TRANSPORT_PACKAGES,
  },
  { sourceTag: 'type:native', onlyDependOnLibsWithTags: [], bannedExternalImports: ['@nestjs/*', ...TRANSPORT_PACKAGES] },
  { sourceTag: 'type:proto', onlyDependOnLibsWithTags: [], bannedExternalImports: ['@nestjs/*'] },
  { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['type:lib', 'type:native', 'type:proto'] },
];

// Native code (addons, node-gyp) lives in libs/native-ns only; nobody else loads a .node file.
const NATIVE_IMPORT_BAN = {
  patterns: [
    { group: ['*.node'], message: 'Only libs/native-ns loads native code; use @wsrun/native-ns.' },
    { group: ['node-addon-api', 'bindings', 'node-gyp-build'], message: 'Only libs/native-ns contains native code.' },
  ],
};

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  ...nx.configs['flat/javascript'],
  {
    ignores: ['**/dist', '**/node_modules', '**/build', '**/.nx', '**/src/generated/**', '**/tmp', '**/fixtures/**'],
  },
  {
    files: ['**/*.ts', '**/*.js', '**/*.mjs', '**/*.cjs'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints,
        },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
      'no-restricted-imports': ['error', NATIVE_IMPORT_BAN],
    },
  },
  {
    // the one place allowed to load the addon
    files: ['libs/native-ns/**/*'],
    rules: { 'no-restricted-imports': 'off' },
  },
];
