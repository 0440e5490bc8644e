import { Socket } from 'node:net';
import { closeFd, socketPair, type ExitStatus } from '@wsrun/native-ns';
import { SandboxProcess, WORKSPACE_ID_MAPPING } from '../../src';

/** Runs a shell script in the content-init sandbox (the very layout the initializer gets). */
export async function probeSandbox(opts: { bundleDir: string; destination: string; script: string; extraReadOnly?: string[]; skeletonParent?: string }): Promise<{ output: string; status: ExitStatus }> {
  const [ours, theirs] = socketPair('stream');
  const sock = new Socket({ fd: ours, readable: true, writable: false });
  const output = new Promise<string>((resolve) => {
    let text = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (text += d));
    sock.on('close', () => resolve(text));
  });
  let sandbox: SandboxProcess;
  try {
    sandbox = SandboxProcess.start({
      destination: opts.destination,
      bundleDir: opts.bundleDir,
      idMapping: WORKSPACE_ID_MAPPING,
      exec: { argv: ['/bin/sh', '-c', opts.script], env: { PATH: '/usr/bin:/bin' } },
      fds: { 1: theirs, 2: theirs },
      ...(opts.extraReadOnly ? { extraReadOnly: opts.extraReadOnly } : {}),
      ...(opts.skeletonParent ? { skeletonParent: opts.skeletonParent } : {}),
    });
  } catch (err) {
    closeFd(theirs);
    throw err;
  }
  // the stage has its copy once set up: ours must go for EOF to come
  await sandbox.ready.catch(() => undefined);
  closeFd(theirs);
  try {
    const status = await sandbox.exited;
    return { output: await output, status };
  } finally {
    sandbox.close();
  }
}
