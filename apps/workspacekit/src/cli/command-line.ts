/**
 * workspacekit's command line: a program of commands, each with long options (`--name value`,
 * `--name=value`, falling back to an environment variable, then a default) and a list of words
 * (the command to run). Like commander with passThroughOptions, which it replaces: ring0 starts
 * every workspace, and commander's load and set-up cost about 190 KB of young heap there (a
 * scavenge in the middle of the start) and a millisecond.
 *
 * Options are read up to the first word or `--`; everything after belongs to the command run
 * inside, options or not (`workspacekit exec -- ls -l`).
 */

export interface OptionSpec {
  /** long name without the dashes: `daemon-socket` */
  name: string;
  /** its value in the help: `<path>` */
  value: string;
  description: string;
  env?: string;
  default?: string;
  choices?: readonly string[];
}

export interface CommandSpec {
  name: string;
  description: string;
  /** the words after the options */
  words: { name: string; required: boolean; description: string };
  options: readonly OptionSpec[];
  /** a paragraph at the end of the command's help */
  helpAfter?: string;
  /** the options by name (each given, from its env variable or its default, else undefined) */
  run(words: string[], options: Record<string, string | undefined>): Promise<void>;
}

export interface ProgramSpec {
  name: string;
  description: string;
  commands: readonly CommandSpec[];
  /** runs before a command does (not for help or a usage error) */
  beforeRun?: () => void;
}

/** A command line that does not parse: the message, and the help of the command it was for. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly help: string,
  ) {
    super(message);
  }
}

export type ParsedCommandLine =
  | { kind: 'help'; text: string }
  | { kind: 'run'; command: CommandSpec; words: string[]; options: Record<string, string | undefined> };

const HELP_FLAGS = new Set(['-h', '--help']);
const WIDTH = 80;

export function parseCommandLine(program: ProgramSpec, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ParsedCommandLine {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('no command given', programHelp(program));
  if (HELP_FLAGS.has(first)) return { kind: 'help', text: programHelp(program) };
  if (first === 'help') {
    if (rest[0] === undefined) return { kind: 'help', text: programHelp(program) };
    const command = findCommand(program, rest[0]);
    if (!command) throw unknownCommand(program, rest[0]);
    return { kind: 'help', text: commandHelp(program, command) };
  }
  if (first.startsWith('-')) throw new UsageError(`unknown option '${first}'`, programHelp(program));
  const command = findCommand(program, first);
  if (!command) throw unknownCommand(program, first);
  return parseCommand(program, command, rest, env);
}

function unknownCommand(program: ProgramSpec, name: string): UsageError {
  return new UsageError(`unknown command '${name}' (commands: ${program.commands.map((c) => c.name).join(', ')})`, programHelp(program));
}

function parseCommand(program: ProgramSpec, command: CommandSpec, argv: readonly string[], env: NodeJS.ProcessEnv): ParsedCommandLine {
  const help = commandHelp(program, command);
  const given = new Map<string, string>();
  let i = 0;
  for (; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') {
      i++;
      break;
    }
    if (HELP_FLAGS.has(token)) return { kind: 'help', text: help };
    if (!token.startsWith('-') || token === '-') break; // the first word: the rest is the command's
    const eq = token.indexOf('=');
    const name = token.startsWith('--') ? token.slice(2, eq < 0 ? undefined : eq) : '';
    const option = command.options.find((o) => o.name === name);
    if (!option) throw new UsageError(`unknown option '${eq < 0 ? token : token.slice(0, eq)}'`, help);
    let value: string;
    if (eq >= 0) value = token.slice(eq + 1);
    else if (i + 1 < argv.length) value = argv[++i]!;
    else throw new UsageError(`option '--${option.name} ${option.value}' argument missing`, help);
    given.set(option.name, checkChoice(option, value, help));
  }
  const words = argv.slice(i);
  if (command.words.required && words.length === 0) throw new UsageError(`missing required argument '${command.words.name}'`, help);
  const options: Record<string, string | undefined> = {};
  for (const option of command.options) {
    const fromEnv = option.env === undefined ? undefined : env[option.env];
    options[option.name] = given.get(option.name) ?? (fromEnv === undefined ? option.default : checkChoice(option, fromEnv, help, option.env));
  }
  return { kind: 'run', command, words, options };
}

function checkChoice(option: OptionSpec, value: string, help: string, env?: string): string {
  if (option.choices && !option.choices.includes(value)) {
    const from = env ? `${env} (for --${option.name})` : `option '--${option.name} ${option.value}' argument`;
    throw new UsageError(`${from} '${value}' is invalid. Allowed choices are ${option.choices.join(', ')}.`, help);
  }
  return value;
}

function findCommand(program: ProgramSpec, name: string): CommandSpec | undefined {
  return program.commands.find((c) => c.name === name);
}

/**
 * Parses and runs: help goes to stdout (exit 0), a usage error with the command's help to
 * stderr (exit 2, like a bad setting).
 */
export async function runProgram(program: ProgramSpec, argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  let parsed: ParsedCommandLine;
  try {
    parsed = parseCommandLine(program, argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`error: ${err.message}\n\n${err.help}`);
    process.exit(2);
  }
  if (parsed.kind === 'help') {
    process.stdout.write(parsed.text);
    return;
  }
  program.beforeRun?.();
  await parsed.command.run(parsed.words, parsed.options);
}

// --- help ---

function usageOf(command: CommandSpec): string {
  const words = command.words.required ? `<${command.words.name}...>` : `[${command.words.name}...]`;
  return `${command.name} [options] ${words}`;
}

function programHelp(program: ProgramSpec): string {
  const commands: [string, string][] = program.commands.map((c) => [usageOf(c), c.description]);
  commands.push(['help [command]', 'display help for command']);
  return [`Usage: ${program.name} [options] [command]`, '', wrap(program.description, WIDTH), '', 'Options:', table([['-h, --help', 'display help for command']], commands), '', 'Commands:', table(commands, [['-h, --help', '']]), ''].join('\n');
}

function commandHelp(program: ProgramSpec, command: CommandSpec): string {
  const options: [string, string][] = command.options.map((o) => [`--${o.name} ${o.value}`, o.description + optionNotes(o)]);
  options.push(['-h, --help', 'display help for command']);
  const words: [string, string][] = [[command.words.name, command.words.description]];
  const lines = [`Usage: ${program.name} ${usageOf(command)}`, '', wrap(command.description, WIDTH), '', 'Arguments:', table(words, options), '', 'Options:', table(options, words)];
  if (command.helpAfter) lines.push('', command.helpAfter);
  return lines.join('\n') + '\n';
}

function optionNotes(o: OptionSpec): string {
  const notes: string[] = [];
  if (o.choices) notes.push(`choices: ${o.choices.map((c) => JSON.stringify(c)).join(', ')}`);
  if (o.default !== undefined) notes.push(`default: ${JSON.stringify(o.default)}`);
  if (o.env) notes.push(`env: ${o.env}`);
  return notes.length ? ` (${notes.join(', ')})` : '';
}

/** Two columns, the first as wide as the widest term of `rows` and `alignWith` (one help, one column). */
function table(rows: [string, string][], alignWith: [string, string][]): string {
  const termWidth = Math.max(...[...rows, ...alignWith].map(([term]) => term.length)) + 2;
  return rows
    .map(([term, text]) => {
      const [head = '', ...more] = wrap(text, WIDTH - 2 - termWidth).split('\n');
      return ['  ' + term.padEnd(termWidth) + head, ...more.map((l) => ' '.repeat(2 + termWidth) + l)].join('\n').trimEnd();
    })
    .join('\n');
}

function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(line);
  return lines.join('\n');
}
