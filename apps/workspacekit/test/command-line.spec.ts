import { parseCommandLine, UsageError, type CommandSpec, type ProgramSpec } from '../src/cli/command-line';

const run = async (): Promise<void> => undefined;
const start: CommandSpec = {
  name: 'start',
  description: 'start something with a description long enough to be wrapped onto a second line of the help',
  words: { name: 'command', required: false, description: 'what runs' },
  options: [
    { name: 'socket', value: '<path>', description: 'where to connect', env: 'KIT_SOCKET', default: '/run/kit.sock' },
    { name: 'mode', value: '<mode>', description: 'how', choices: ['fast', 'safe'], default: 'safe', env: 'KIT_MODE' },
    { name: 'name', value: '<name>', description: 'a name' },
  ],
  helpAfter: 'Exit status: the command\'s.',
  run,
};
const other: CommandSpec = { name: 'other', description: 'another', words: { name: 'argv', required: true, description: 'its words' }, options: [], run };
const program: ProgramSpec = { name: 'kit', description: 'A test program.', commands: [start, other] };

const parse = (argv: string[], env: NodeJS.ProcessEnv = {}) => parseCommandLine(program, argv, env);
const parsed = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const p = parse(argv, env);
  if (p.kind !== 'run') throw new Error(`expected a command to run, got help`);
  return p;
};
const usageError = (argv: string[], env: NodeJS.ProcessEnv = {}): UsageError => {
  try {
    parse(argv, env);
  } catch (err) {
    if (err instanceof UsageError) return err;
    throw err;
  }
  throw new Error(`${argv.join(' ')} parsed`);
};

describe('command line', () => {
  it('takes options as "--name value" and "--name=value", then the words', () => {
    const p = parsed(['start', '--socket', '/a.sock', '--name=x=y', 'sh', '-c', 'true']);
    expect(p.command).toBe(start);
    expect(p.options).toEqual({ socket: '/a.sock', mode: 'safe', name: 'x=y' });
    expect(p.words).toEqual(['sh', '-c', 'true']);
  });

  it('gives everything after the first word or "--" to the command, options too', () => {
    expect(parsed(['start', 'ls', '--socket', '/x']).words).toEqual(['ls', '--socket', '/x']);
    expect(parsed(['start', '--', '--socket', '/x']).words).toEqual(['--socket', '/x']);
    expect(parsed(['start', '--', '--socket', '/x']).options['socket']).toBe('/run/kit.sock');
  });

  it('takes an option from the flag, else its environment variable, else its default', () => {
    expect(parsed(['start'], { KIT_SOCKET: '/env.sock' }).options['socket']).toBe('/env.sock');
    expect(parsed(['start', '--socket', '/flag.sock'], { KIT_SOCKET: '/env.sock' }).options['socket']).toBe('/flag.sock');
    expect(parsed(['start']).options['socket']).toBe('/run/kit.sock');
    expect(parsed(['start']).options['name']).toBeUndefined();
  });

  it('refuses what it does not know, a missing value, a value outside the choices, missing words', () => {
    expect(usageError(['start', '--sockt', '/x']).message).toBe("unknown option '--sockt'");
    expect(usageError(['start', '--sockt=/x']).message).toBe("unknown option '--sockt'");
    expect(usageError(['start', '-s']).message).toBe("unknown option '-s'");
    expect(usageError(['start', '--socket']).message).toBe("option '--socket <path>' argument missing");
    expect(usageError(['start', '--mode', 'quick']).message).toBe("option '--mode <mode>' argument 'quick' is invalid. Allowed choices are fast, safe.");
    expect(usageError(['start'], { KIT_MODE: 'quick' }).message).toBe("KIT_MODE (for --mode) 'quick' is invalid. Allowed choices are fast, safe.");
    expect(usageError(['other']).message).toBe("missing required argument 'argv'");
    expect(usageError(['stop']).message).toBe("unknown command 'stop' (commands: start, other)");
    expect(usageError(['help', 'stop']).message).toBe("unknown command 'stop' (commands: start, other)");
    expect(usageError([]).message).toBe('no command given');
    expect(usageError(['--verbose']).message).toBe("unknown option '--verbose'");
  });

  it('a usage error carries the help of its command', () => {
    expect(usageError(['start', '--sockt']).help).toContain('Usage: kit start [options] [command...]');
    expect(usageError(['stop']).help).toContain('Usage: kit [options] [command]');
  });

  it('shows the program\'s help and each command\'s, with defaults, choices and environment variables', () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const p = parse(argv);
      expect(p.kind).toBe('help');
      if (p.kind !== 'help') continue;
      expect(p.text).toContain('Usage: kit [options] [command]');
      expect(p.text).toMatch(/ {2}start \[options\] \[command\.\.\.\] +start something/);
      expect(p.text).toMatch(/ {2}other \[options\] <argv\.\.\.> +another/);
    }
    const help = parse(['help', 'start']);
    expect(help).toEqual(parse(['start', '--help']));
    expect(help).toEqual(parse(['start', '--socket', '/x', '-h']));
    if (help.kind !== 'help') throw new Error('no help');
    expect(help.text).toContain('Usage: kit start [options] [command...]');
    expect(help.text).toMatch(/--socket <path> +where to connect \(default: "\/run\/kit\.sock", env: KIT_SOCKET\)/);
    expect(help.text).toMatch(/--mode <mode> +how \(choices: "fast", "safe", default: "safe", env: KIT_MODE\)/);
    expect(help.text).toContain('Exit status: the command\'s.');
    for (const line of help.text.split('\n')) expect(line.length).toBeLessThanOrEqual(80);
    // "-h" after the first word is the command's own
    expect(parsed(['start', 'ls', '-h']).words).toEqual(['ls', '-h']);
  });
});
