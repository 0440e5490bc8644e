import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';

const projectRoot = resolve(__dirname, '..');

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** Runs the generator on a copy of the project (so a test never touches the real files). */
function generate(protoDir: string, outDir: string): void {
  const copy = mkdtempSync(join(tmpdir(), 'wsrun-proto-'));
  try {
    cpSync(join(projectRoot, 'scripts'), join(copy, 'libs/proto/scripts'), { recursive: true });
    cpSync(protoDir, join(copy, 'libs/proto/proto'), { recursive: true });
    // the generator finds ts-proto's plugin under <workspace>/node_modules
    execFileSync('ln', ['-s', resolve(projectRoot, '../../node_modules'), join(copy, 'node_modules')]);
    execFileSync(process.execPath, [join(copy, 'libs/proto/scripts/generate.mjs'), outDir], { stdio: 'pipe' });
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(filesUnder(dir).map((f) => [relative(dir, f), readFileSync(f, 'utf8')]));
}

describe('generated contracts', () => {
  it('are exactly what `nx run proto:generate` makes from the .proto files', () => {
    const out = mkdtempSync(join(tmpdir(), 'wsrun-generated-'));
    try {
      generate(join(projectRoot, 'proto'), out);
      expect(snapshot(out)).toEqual(snapshot(join(projectRoot, 'src/generated')));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('a changed .proto without a new generate is detected', () => {
    const protos = mkdtempSync(join(tmpdir(), 'wsrun-protos-'));
    const out = mkdtempSync(join(tmpdir(), 'wsrun-generated-'));
    try {
      cpSync(join(projectRoot, 'proto'), protos, { recursive: true });
      const file = join(protos, 'wsrun/daemon/v1/in_workspace.proto');
      writeFileSync(file, readFileSync(file, 'utf8').replace('message TeardownRequest {}', 'message TeardownRequest {\n  bool force = 1;\n}'));
      generate(protos, out);
      const fresh = snapshot(out);
      const committed = snapshot(join(projectRoot, 'src/generated'));
      expect(fresh).not.toEqual(committed);
      expect(fresh['wsrun/daemon/v1/in_workspace.ts']).toContain('force: boolean');
    } finally {
      rmSync(protos, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }
  });
});
