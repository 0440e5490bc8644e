#!/usr/bin/env node
// Bundles an app into one standalone file, dist/apps/<app>/main.js, that runs with plain `node`:
// workspace libs and npm packages are bundled, the native-ns addon and its stage helper are
// copied next to it (dist/apps/<app>/native/), and a package.json records the versions bundled.
// Entries on a start-up path get a V8 code cache beside them (CODE_CACHED, code-cache.mjs).
// Every further `src/<name>.main.ts` of the app becomes its own standalone `<name>.js` (e.g.
// content-init's sandboxed child, which starts often and needs a fraction of main.js).
//
// Workspace libs are declared free of side effects on import (they are: no lib does work at the
// top level), so a bundle carries only the lib code its entry reaches, and with it only the npm
// packages that code imports (the sandboxed child carries no S3 SDK, queue or gRPC).
//
// esbuild does not emit decorator metadata, which NestJS dependency injection needs, so files
// with decorators go through TypeScript's transpiler first (the same output as tsc).
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { codeCachedEntry } from './code-cache.mjs';

const workspaceRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

// Optional peers that NestJS and others require lazily inside try/catch; never installed here.
const OPTIONAL_EXTERNALS = [
  '@nestjs/microservices',
  '@nestjs/microservices/*',
  '@nestjs/websockets',
  '@nestjs/websockets/*',
  '@nestjs/platform-express',
  'class-validator',
  'class-transformer',
  'class-transformer/*',
  '@fastify/*',
  'pino-pretty',
  'msgpackr-extract',
  '@aws-sdk/signature-v4-crt',
  'aws-crt',
];

// Entries that start on a user's critical path: loaded with a V8 code cache (code-cache.mjs).
// ring0 starts every workspace; the sandboxed child starts for every pack and initializer.
const CODE_CACHED = { workspacekit: ['main'], 'content-init': ['sandbox-child'] };

// The native artifacts every app carries. Their build is libs/native-ns's `build` target.
const NATIVE_ARTIFACTS = ['native_ns.node', 'wsrun-stage'];

function decoratorMetadataPlugin(compilerOptions) {
  return {
    name: 'decorator-metadata',
    setup(b) {
      b.onLoad({ filter: /\.ts$/ }, (args) => {
        const source = readFileSync(args.path, 'utf8');
        if (!/^\s*@[A-Za-z]/m.test(source)) return undefined; // plain TS: esbuild handles it
        const out = ts.transpileModule(source, {
          fileName: args.path,
          compilerOptions: { ...compilerOptions, module: ts.ModuleKind.ESNext, sourceMap: false, inlineSourceMap: true, inlineSources: true },
        });
        return { contents: out.outputText, loader: 'js', resolveDir: dirname(args.path) };
      });
    },
  };
}

// npm packages whose import does nothing a bundle needs unless it uses them: grpc-js only sets up
// its own resolvers and balancers. A bundle that imports it for what it drops (the generated
// client constructors, ring0) then carries none of it.
const SIDE_EFFECT_FREE_PACKAGES = new Set(['@grpc/grpc-js']);

function sideEffectFreeLibsPlugin() {
  const libsDir = join(workspaceRoot, 'libs') + '/';
  return {
    name: 'side-effect-free-libs',
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData?.resolvingLib) return undefined;
        const isPackage = SIDE_EFFECT_FREE_PACKAGES.has(args.path);
        const mayBeLib = args.path.startsWith('@wsrun/') || (args.importer.startsWith(libsDir) && args.path.startsWith('.'));
        if (!mayBeLib && !isPackage) return undefined;
        const resolved = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: { resolvingLib: true } });
        if (resolved.errors.length > 0) return { errors: resolved.errors };
        if (!isPackage && !resolved.path.startsWith(libsDir)) return undefined;
        return { path: resolved.path, sideEffects: false };
      });
    },
  };
}

function readCompilerOptions(tsconfigPath) {
  const { config, error } = ts.readConfigFile(tsconfigPath, ts.sys.readFile);
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  return ts.parseJsonConfigFileContent(config, ts.sys, dirname(tsconfigPath)).options;
}

function usedPackages(metafile) {
  const names = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
    if (m) names.add(m[1]);
  }
  return [...names].sort();
}

export async function bundleApp(app) {
  const appRoot = join(workspaceRoot, 'apps', app);
  const outDir = join(workspaceRoot, 'dist/apps', app);
  const tsconfig = join(appRoot, 'tsconfig.app.json');
  if (!existsSync(tsconfig)) throw new Error(`bundle: no app "${app}" (${relative(workspaceRoot, tsconfig)} missing)`);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(join(outDir, 'native'), { recursive: true });

  const entryPoints = { main: join(appRoot, 'src/main.ts') };
  for (const name of readdirSync(join(appRoot, 'src'))) {
    const m = name.match(/^(.+)\.main\.ts$/);
    if (m) entryPoints[m[1]] = join(appRoot, 'src', name);
  }
  const cached = CODE_CACHED[app] ?? [];
  for (const name of cached) {
    entryPoints[`${name}.bundle`] = entryPoints[name];
    delete entryPoints[name];
  }
  const result = await build({
    entryPoints,
    outdir: outDir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: true,
    tsconfig,
    external: OPTIONAL_EXTERNALS,
    plugins: [sideEffectFreeLibsPlugin(), decoratorMetadataPlugin(readCompilerOptions(tsconfig))],
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
  });

  for (const name of cached) codeCachedEntry(outDir, name);

  const nativeBuild = join(workspaceRoot, 'libs/native-ns/build/Release');
  for (const name of NATIVE_ARTIFACTS) {
    const from = join(nativeBuild, name);
    if (!existsSync(from)) throw new Error(`bundle: ${relative(workspaceRoot, from)} missing; build native-ns first`);
    copyFileSync(from, join(outDir, 'native', name));
  }

  const rootPkg = JSON.parse(readFileSync(join(workspaceRoot, 'package.json'), 'utf8'));
  const bundled = {};
  for (const name of usedPackages(result.metafile)) {
    const pkgJson = join(workspaceRoot, 'node_modules', name, 'package.json');
    if (existsSync(pkgJson)) bundled[name] = JSON.parse(readFileSync(pkgJson, 'utf8')).version;
  }
  writeFileSync(
    join(outDir, 'package.json'),
    JSON.stringify(
      { name: `@wsrun/${app}`, version: rootPkg.version, private: true, main: 'main.js', engines: rootPkg.engines, bundledDependencies: bundled },
      null,
      2,
    ) + '\n',
  );
  return outDir;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const app = process.argv[2];
  if (!app || app === '--help') {
    console.error('usage: node tools/build/bundle.mjs <app>   (bundles apps/<app>/src/main.ts into dist/apps/<app>/main.js)');
    process.exit(app ? 0 : 2);
  }
  bundleApp(app).then(
    (out) => console.log(`bundle: ${relative(workspaceRoot, out)}/main.js`),
    (err) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
