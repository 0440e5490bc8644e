import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';

const root = resolve(__dirname, '../..');

function trackedAndNewFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' });
  return out.split('\n').filter(Boolean);
}

describe('repository layout', () => {
  it('native code (C, C++, node-gyp) lives only in libs/native-ns', () => {
    const native = trackedAndNewFiles().filter((f) => /\.(c|cc|cpp|h|hh|hpp)$|(^|\/)binding\.gyp$/.test(f));
    expect(native.length).toBeGreaterThan(0);
    expect(native.filter((f) => !f.startsWith('libs/native-ns/'))).toEqual([]);
  });

  it('the project graph has no app depending on another app', () => {
    const file = resolve(tmpdir(), `wsrun-graph-${process.pid}.json`);
    execFileSync(resolve(root, 'node_modules/.bin/nx'), ['graph', `--file=${file}`], { cwd: root, stdio: 'pipe', env: { ...process.env, NX_DAEMON: 'false' } });
    const { graph } = JSON.parse(readFileSync(file, 'utf8')) as {
      graph: { nodes: Record<string, { type: string }>; dependencies: Record<string, { target: string }[]> };
    };
    rmSync(file, { force: true });
    const apps = Object.keys(graph.nodes).filter((n) => graph.nodes[n]!.type === 'app');
    expect(apps.sort()).toEqual(['content-init', 'workspacekit', 'ws-daemon']);
    const appToApp = apps.flatMap((a) => graph.dependencies[a]!.filter((d) => apps.includes(d.target)).map((d) => `${a} -> ${d.target}`));
    expect(appToApp).toEqual([]);
  }, 60_000);

  it('every project has build, test and lint targets and apps also serve', () => {
    const projects = JSON.parse(execFileSync(resolve(root, 'node_modules/.bin/nx'), ['show', 'projects', '--json'], { cwd: root, encoding: 'utf8', env: { ...process.env, NX_DAEMON: 'false' } })) as string[];
    expect(projects).toEqual(expect.arrayContaining(['ws-daemon', 'workspacekit', 'content-init', 'native-ns', 'proto']));
    for (const name of projects) {
      const project = JSON.parse(execFileSync(resolve(root, 'node_modules/.bin/nx'), ['show', 'project', name, '--json'], { cwd: root, encoding: 'utf8', env: { ...process.env, NX_DAEMON: 'false' } }));
      const targets = Object.keys(project.targets);
      expect({ name, targets }).toEqual({ name, targets: expect.arrayContaining(['build', 'test', 'lint']) });
      if (project.projectType === 'application') expect({ name, targets }).toEqual({ name, targets: expect.arrayContaining(['serve']) });
    }
  }, 60_000);
});
