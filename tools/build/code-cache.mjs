// V8 code cache for bundles on a user's critical path (workspacekit's ring0 starts every
// workspace). `<name>.js` becomes a small loader that compiles `<name>.bundle.js` with
// `<name>.bundle.js.cache`: bytecode for every function of the bundle, made at build time by the
// same node binary. Without it V8 parses the 1.3 MB bundle at start and then compiles each
// function the first time it runs, in the middle of starting the workspace (about 3 ms of ring0's
// start-up, 20 ms of its whole process). A cache that does not fit (another node version, other
// V8 flags such as --cpu-prof, an edited bundle) is rejected by V8 and the loader compiles as
// usual: the cache can make a start faster, never break it.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

// Runs in a separate node: compiles every function eagerly (--no-lazy) and serializes the
// result. The flag goes back to --lazy before serializing: the flags are part of the cache's
// fingerprint, and the loader runs with the default ones.
const MAKE_CACHE = `
const { readFileSync, writeFileSync } = require('node:fs');
const { Script } = require('node:vm');
const { wrap } = require('node:module');
const { setFlagsFromString } = require('node:v8');
const file = process.argv[1];
setFlagsFromString('--no-lazy');
const script = new Script(wrap(readFileSync(file, 'utf8')), { filename: file });
setFlagsFromString('--lazy');
writeFileSync(file + '.cache', script.createCachedData());
`;

const loader = (bundle) => `'use strict';
// Loads ${bundle} with its V8 code cache (tools/build/code-cache.mjs): a rejected or missing cache
// only means a normal compile. WSRUN_CODE_CACHE_DEBUG=1 tells which it was, on stderr.
const { readFileSync } = require('node:fs');
const { wrap } = require('node:module');
const { join } = require('node:path');
const { Script } = require('node:vm');
const file = join(__dirname, ${JSON.stringify(bundle)});
let cachedData;
try {
  cachedData = readFileSync(file + '.cache');
} catch {
  // no cache: compile as usual
}
const script = new Script(wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
if (process.env.WSRUN_CODE_CACHE_DEBUG) {
  process.stderr.write(\`code cache: \${cachedData === undefined ? 'missing' : script.cachedDataRejected ? 'rejected' : 'accepted'}\\n\`);
}
script.runInThisContext()(exports, require, module, file, __dirname);
`;

/** esbuild wrote `<name>.bundle.js` (and its map) into outDir: add the loader and the cache. */
export function codeCachedEntry(outDir, name) {
  const bundle = `${name}.bundle.js`;
  const file = join(outDir, bundle);
  writeFileSync(join(outDir, `${name}.js`), loader(bundle));
  const made = spawnSync(process.execPath, ['-e', MAKE_CACHE, file], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  if (made.status !== 0) throw new Error(`code cache of ${bundle}: ${made.stderr || `exit ${made.status}`}`);
}
