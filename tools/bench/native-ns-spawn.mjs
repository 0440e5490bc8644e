#!/usr/bin/env node
// Spawning into user + mount + pid namespaces and running /bin/true: native-ns (with the id map
// written while the child is held, like unshare --map-root-user does) against `unshare` and
// `bwrap --unshare-all`, timed side by side in one run. Target: no slower than bwrap.
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { available, median, runCommand, table, timeRuns } from './bench-util.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
process.env.WSRUN_NATIVE_DIR ??= join(root, 'libs/native-ns/build/Release');
// the TS API, bundled once for this script
const out = mkdtempSync(join(tmpdir(), 'wsrun-bench-'));
buildSync({ entryPoints: [join(root, 'libs/native-ns/src/index.ts')], outfile: join(out, 'native-ns.js'), bundle: true, platform: 'node', format: 'cjs', logLevel: 'error' });
const ns = createRequire(import.meta.url)(join(out, 'native-ns.js'));

const runs = Number(process.env.BENCH_RUNS ?? 50);
const rows = [];
rows.push({
  name: 'native-ns spawnStage(user+mount+pid, map written) /bin/true',
  ms: median(
    await timeRuns(
      async () => {
        const stage = ns.spawnStage({ namespaces: ['user', 'mount', 'pid'], hold: true, end: { exec: { argv: ['/bin/true'] } } });
        ns.writeIdMap(stage.pid, 'uid', [{ containerId: 0, hostId: 0, size: 1 }]);
        ns.writeIdMap(stage.pid, 'gid', [{ containerId: 0, hostId: 0, size: 1 }], { setgroups: 'deny' });
        stage.release();
        const status = await stage.exited;
        if (status.code !== 0) throw new Error(`stage exited with ${JSON.stringify(status)}`);
      },
      { runs },
    ),
  ),
});
rows.push({ name: 'unshare --user --map-root-user --mount --pid --fork /bin/true', ms: median(await timeRuns(() => runCommand(['unshare', '--user', '--map-root-user', '--mount', '--pid', '--fork', '/bin/true']), { runs })) });
if (available('bwrap')) rows.push({ name: 'bwrap --unshare-all --ro-bind / / /bin/true', ms: median(await timeRuns(() => runCommand(['bwrap', '--unshare-all', '--ro-bind', '/', '/', '/bin/true']), { runs })) });
else console.log('bwrap not installed (Debian package bubblewrap): skipped');
table(`spawn into namespaces and run /bin/true (${runs} runs each, median)`, rows, 'bwrap --unshare-all --ro-bind / / /bin/true');
rmSync(out, { recursive: true, force: true });
process.exit(0);
