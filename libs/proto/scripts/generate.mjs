#!/usr/bin/env node
// Generates the TypeScript contracts from the .proto files with ts-proto, through Debian's protoc.
// Usage: node libs/proto/scripts/generate.mjs [outDir]   (default: libs/proto/src/generated)
// The sync test calls this with a temp outDir and compares the result with the committed files.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const workspaceRoot = resolve(projectRoot, '../..');
const protoRoot = join(projectRoot, 'proto');
const outDir = resolve(process.argv[2] ?? join(projectRoot, 'src/generated'));

// The options are part of the contract: changing them changes every generated file.
export const TS_PROTO_OPTIONS = [
  'outputServices=grpc-js',
  'env=node',
  'esModuleInterop=true',
  'forceLong=number',
  'oneof=unions-value',
  'useOptionals=none',
  'snakeToCamel=true',
  'outputTypeRegistry=false',
  'useDate=false',
];

function protoFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return protoFiles(path);
    return name.endsWith('.proto') ? [path] : [];
  });
}

const plugin = join(workspaceRoot, 'node_modules/.bin/protoc-gen-ts_proto');
if (!existsSync(plugin)) {
  console.error(`generate: ${plugin} is missing; run npm install`);
  process.exit(1);
}
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
const files = protoFiles(protoRoot).map((f) => relative(protoRoot, f)).sort();
try {
  execFileSync(
    'protoc',
    [
      `--plugin=protoc-gen-ts_proto=${plugin}`,
      `--ts_proto_out=${outDir}`,
      `--ts_proto_opt=${TS_PROTO_OPTIONS.join(',')}`,
      `-I${protoRoot}`,
      ...files,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
} catch (err) {
  if (err.code === 'ENOENT') {
    console.error('generate: protoc not found; install Debian protobuf-compiler (tools/setup/setup.sh does)');
  }
  process.exit(1);
}
// The grpc-js client constructors are made at module load: marked pure, a bundle that uses only
// the messages and service definitions (ring0) drops them, and grpc-js with them.
for (const file of generatedFiles(outDir)) {
  const text = readFileSync(file, 'utf8');
  writeFileSync(file, text.replace(/= makeGenericClientConstructor\(/g, '= /* @__PURE__ */ makeGenericClientConstructor('));
}
console.log(`generate: ${files.length} proto files -> ${relative(workspaceRoot, outDir)}`);

function generatedFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return generatedFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}
