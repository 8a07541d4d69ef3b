// The express-elmah command line: builds the commander program and runs it in-process, returning the exit code.
import { Command, CommanderError } from 'commander';
import { version } from '../../package.json';
import { registerDeploy } from './deploy.js';
import { registerInit } from './init.js';
import { registerKeys } from './keys.js';
import { registerNotify } from './notify.js';
import { EXIT_USAGE, reportFailure, usageError, type CliIo } from './output.js';
import { registerPrune } from './prune.js';
import { registerServe } from './serve.js';

export type { CliIo, TextSink } from './output.js';

/** The program with every command, writing to `io`. Commander never exits the process: errors come back as exceptions. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('express-elmah')
    .description('ELMAH for Express: create the error log store and its API keys, prune old messages, record deployments, run a collector.')
    .version(version, '-v, --version', 'print the version')
    // Options after a command's name are that command's: `deploy --version 1.2.3` is not the program's --version.
    .enablePositionalOptions()
    .helpOption('-h, --help', 'show help for a command')
    .helpCommand('help [command]', 'show help for a command')
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // Usage errors are reported once, with their code, by run().
      outputError: () => undefined,
    })
    .exitOverride()
    .addHelpText(
      'after',
      '\nEvery command takes --store URL (default: ELMAH_STORE, else sqlite:.elmah/elmah.db);\n' +
        'init, keys, prune and deploy also take --json, for scripts.\n' +
        'Start with `express-elmah init`; see `express-elmah <command> --help` for each command.',
    );
  // Settings above are inherited by the commands added below.
  registerInit(program, io);
  registerKeys(program, io);
  registerPrune(program, io);
  registerDeploy(program, io);
  registerNotify(program, io);
  // --- serve: the standalone collector registers itself here (src/cli/serve.ts). ---
  registerServe(program);
  return program;
}

/** The process's own surroundings. */
function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

/**
 * Runs the CLI with `argv` (the arguments after the program name, e.g. `['keys', 'list', '--json']`) and
 * resolves to the exit code: 0 on success, 2 for a usage error, 1 for any other failure. Every failure
 * is reported on stderr as `error ERR_ELMAH_…: message` plus a `help:` line.
 */
export async function run(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const full: CliIo = { ...processIo(), ...io };
  const json = argv.includes('--json');
  const program = buildProgram(full);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return commanderExit(full, err, json, commandPath(program, argv));
    return reportFailure(full, err, json);
  }
}

/** Commander signals help, version and usage errors by throwing; turns each into an exit code. */
function commanderExit(io: CliIo, err: CommanderError, json: boolean, path: string): number {
  if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
  // `help <command>` also ends with commander.help, but asked for and with exit code 0.
  if (err.code === 'commander.help' && err.exitCode === 0) return 0;
  if (err.code === 'commander.help') {
    // A command group without its subcommand (`express-elmah`, `express-elmah keys`): help went to stderr.
    reportFailure(io, usageError('A command is needed.', 'Pick one of the commands listed above.'), json);
    return EXIT_USAGE;
  }
  const message = err.message
    .replace(/^error: /, '')
    .replace(/\n/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  const sentence = /[.?!)]$/.test(message) ? message : `${message}.`;
  reportFailure(io, usageError(sentence.charAt(0).toUpperCase() + sentence.slice(1), `Run \`${path} --help\` for usage.`), json);
  return EXIT_USAGE;
}

/** The command an argument list reached (`express-elmah keys create`), for the help hint of a usage error. */
function commandPath(program: Command, argv: readonly string[]): string {
  const names = [program.name()];
  let current = program;
  for (const arg of argv) {
    if (arg.startsWith('-')) continue;
    const next = current.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (!next) break;
    names.push(next.name());
    current = next;
  }
  return names.join(' ');
}
