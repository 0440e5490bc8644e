import { Command } from 'commander';

// content-init: the content queue worker and the sandboxed initializer child.
const program = new Command('content-init').description('Fills workspace folders: the queue worker and the sandboxed initializer.');
program
  .command('run-initializer')
  .description('the sandboxed child: reads its request from an inherited fd and fills /dst')
  .action(() => {
    process.stderr.write('content-init run-initializer: not built yet\n');
    process.exit(1);
  });
program.parse(process.argv);
