import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { NativeNsError } from './native-ns.error';
import type { NativeBinding } from './native';

/**
 * Finds and loads the addon (native_ns.node) and the stage helper (wsrun-stage) that its
 * build puts side by side. Tried in order:
 *  1. $WSRUN_NATIVE_DIR (an operator's override),
 *  2. `native/` next to the running bundle (dist/apps/<app>/native, see tools/build/bundle.mjs),
 *  3. libs/native-ns/build/Release, found upwards from this file (source, tests).
 * A failure names every folder tried.
 */
export interface NativeArtifacts {
  binding: NativeBinding;
  dir: string;
  stageHelper: string;
}

const ADDON = 'native_ns.node';
const HELPER = 'wsrun-stage';

function candidateDirs(): string[] {
  const dirs: string[] = [];
  const override = process.env['WSRUN_NATIVE_DIR'];
  if (override) dirs.push(resolve(override));
  const mainFile = require.main?.filename;
  if (mainFile) dirs.push(join(dirname(mainFile), 'native'));
  dirs.push(join(__dirname, 'native'));
  for (let dir = __dirname; ; dir = dirname(dir)) {
    dirs.push(join(dir, 'libs/native-ns/build/Release'));
    if (existsSync(join(dir, 'build/Release', ADDON)) && dir.endsWith('native-ns')) dirs.push(join(dir, 'build/Release'));
    if (dirname(dir) === dir) break;
  }
  return [...new Set(dirs)];
}

let loaded: NativeArtifacts | undefined;

export function loadNative(): NativeArtifacts {
  if (loaded) return loaded;
  const tried = candidateDirs();
  const dir = tried.find((d) => existsSync(join(d, ADDON)) && existsSync(join(d, HELPER)));
  if (!dir) {
    throw new Error(
      `native-ns: ${ADDON} and ${HELPER} not found; build them with \`npx nx run native-ns:build\`. Tried:\n  ${tried.join('\n  ')}`,
    );
  }
  // Node's own loader (not a bundler's or Jest's): one instance of the addon per process, even
  // when a test runner loads this file again in a fresh module registry
  const binding = createRequire(__filename)(join(dir, ADDON)) as NativeBinding;
  binding.setErrorClass(NativeNsError);
  loaded = { binding, dir, stageHelper: join(dir, HELPER) };
  return loaded;
}

export function native(): NativeBinding {
  return loadNative().binding;
}
