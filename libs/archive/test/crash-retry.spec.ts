import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { buildSync } from 'esbuild';
import { closeFd, openRoot } from '@wsrun/native-ns';
import { cleanExtractionLeftovers, extractTar, packDirectory } from '../src';
import { collect, diffTrees, makeSourceTree, snapshot, tempDir } from './support/tree';

const REPO = resolve(__dirname, '../../..');

/**
 * kill -9 in the middle of an extraction, then clean up and retry into the same root: the
 * result must be exactly the source tree (DESIGN §7: an interrupted init is retried from a
 * clean slate). The extraction runs in a real child node process built from the sources.
 */
describe('extraction killed mid-way', () => {
  const tmp = tempDir('crash');
  afterAll(() => tmp.cleanup());

  it('leaves only a staging directory; cleanExtractionLeftovers and a retry give a complete tree', async () => {
    const src = join(tmp.path, 'src');
    const root = join(tmp.path, 'root');
    fs.mkdirSync(src);
    fs.mkdirSync(root);
    makeSourceTree(src);
    for (let i = 0; i < 8; i++) fs.writeFileSync(join(src, `bulk-${i}.bin`), Buffer.alloc(1024 * 1024, i));
    const expected = snapshot(src);
    const archivePath = join(tmp.path, 'src.tar');
    const srcFd = openRoot(src);
    try {
      const packed = packDirectory(srcFd);
      fs.writeFileSync(archivePath, await collect(packed.stream));
      await packed.done;
    } finally {
      closeFd(srcFd);
    }

    const child = join(tmp.path, 'extract-child.js');
    buildSync({
      entryPoints: [join(__dirname, 'fixtures/extract-child.ts')],
      outfile: child,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      tsconfig: join(REPO, 'libs/archive/tsconfig.spec.json'),
      logLevel: 'error',
    });

    const proc = spawn(process.execPath, [child, archivePath, root], {
      env: { ...process.env, WSRUN_NATIVE_DIR: join(REPO, 'libs/native-ns/build/Release') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | number | null>((res) => proc.on('exit', (code, signal) => res(signal ?? code)));
    let killedAt = 0;
    for await (const line of createInterface({ input: proc.stdout })) {
      const bytes = Number(/^bytes (\d+)$/.exec(line)?.[1] ?? NaN);
      if (bytes > 3 * 1024 * 1024) {
        killedAt = bytes;
        proc.kill('SIGKILL');
        break;
      }
      if (line === 'done') break;
    }
    expect({ exit: await exited, stderr }).toEqual({ exit: 'SIGKILL', stderr: '' });
    expect(killedAt).toBeGreaterThan(0);

    // the killed run wrote only into its staging directory
    const left = fs.readdirSync(root);
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(/^\.wsrun-extract-[0-9a-f]{16}$/);
    expect(fs.readdirSync(join(root, left[0] as string)).length).toBeGreaterThan(0);

    const rootFd = openRoot(root);
    try {
      expect(cleanExtractionLeftovers(rootFd)).toEqual(left);
      expect(fs.readdirSync(root)).toEqual([]);
      const result = await extractTar(fs.createReadStream(archivePath), { rootFd }, { allowEscapingSymlinks: true });
      expect(result.refused).toEqual([]);
    } finally {
      closeFd(rootFd);
    }
    expect(diffTrees(expected, snapshot(root))).toEqual([]);
  });
});
