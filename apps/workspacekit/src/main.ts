import { Command } from 'commander';

// workspacekit: ring0 (the one Node process of a workspace), lift and exec.
const program = new Command('workspacekit').description('Starts a rootless workspace (ring0) and runs commands inside it (lift, exec).');
program
  .command('ring0')
  .description('start the workspace: rings 1 and 2 in new namespaces, the seccomp handler, lift and exec servers')
  .argument('[command...]', 'command to run inside (default: the supervisor from config, else the shell)')
  .action(() => {
    process.stderr.write('workspacekit ring0: not built yet\n');
    process.exit(1);
  });
program.parse(process.argv);
