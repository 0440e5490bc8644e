import { existsSync } from 'node:fs';
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

/** The folders to try, in order (maybe repeated). Lazily: the first one usually has both
 * files, and each look-up is a stat on ring0's start path. */
function* candidateDirs(): Generator<string> {
  const override = process.env['WSRUN_NATIVE_DIR'];
  if (override) yield resolve(override);
  const mainFile = require.main?.filename;
  if (mainFile) yield join(dirname(mainFile), 'native');
  yield join(__dirname, 'native');
  for (let dir = __dirname; ; dir = dirname(dir)) {
    yield join(dir, 'libs/native-ns/build/Release');
    if (existsSync(join(dir, 'build/Release', ADDON)) && dir.endsWith('native-ns')) yield join(dir, 'build/Release');
    if (dirname(dir) === dir) break;
  }
}

let loaded: NativeArtifacts | undefined;

export function loadNative(): NativeArtifacts {
  if (loaded) return loaded;
  const tried: string[] = [];
  let dir: string | undefined;
  for (const d of candidateDirs()) {
    if (tried.includes(d)) continue;
    tried.push(d);
    if (existsSync(join(d, ADDON)) && existsSync(join(d, HELPER))) {
      dir = d;
      break;
    }
  }
  if (!dir) {
    throw new Error(
      `native-ns: ${ADDON} and ${HELPER} not found; build them with \`npx nx run native-ns:build\`. Tried:\n  ${tried.join('\n  ')}`,
    );
  }
  // process.dlopen, not require: no bundler's or Jest's loader gets in the way, and it skips the
  // module resolution (~0.6 ms of ring0's start, in a cold process). A test runner that loads
  // this file again in a fresh registry gets new function objects over the same native state
  // (one process manager, the error class of the latest load), as it did through require.
  const addon = { exports: {} as NativeBinding };
  process.dlopen(addon, join(dir, ADDON));
  const binding = addon.exports;
  binding.setErrorClass(NativeNsError);
  loaded = { binding, dir, stageHelper: join(dir, HELPER) };
  return loaded;
}

export function native(): NativeBinding {
  return loadNative().binding;
}
