// How the CLI talks to the terminal: plain lines or JSON on stdout, one coded message per failure on stderr.
import { ElmahError, isElmahError, type ElmahErrorCode } from '../model/errors.js';

/** Something the CLI can write text to (process.stdout, or a buffer in tests). */
export interface TextSink {
  write(chunk: string): unknown;
}

/** The process surroundings the CLI runs in; tests pass their own to run the CLI in-process. */
export interface CliIo {
  stdout: TextSink;
  stderr: TextSink;
  /** Environment variables (ELMAH_STORE). */
  env: Readonly<Record<string, string | undefined>>;
  /** Folder that relative paths (store file, env file) resolve against. */
  cwd: string;
}

/** Exit code of a command-line usage error (unknown option, bad argument). */
export const EXIT_USAGE = 2;
/** Exit code of every other failure. */
export const EXIT_FAILURE = 1;

/** Writes the results of one command, as text for people or as JSON (`--json`) for scripts. */
export class Output {
  constructor(
    private readonly io: CliIo,
    /** True when the command was given `--json`. */
    readonly json: boolean,
  ) {}

  /** A line of text for people; silent in JSON mode. */
  line(text = ''): void {
    if (!this.json) this.io.stdout.write(`${text}\n`);
  }

  /** The one JSON document of a command; silent in text mode. */
  data(value: unknown): void {
    if (this.json) this.io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** A note for people that is not part of the result (warnings); goes to stderr so JSON stays clean. */
  note(text: string): void {
    this.io.stderr.write(`note: ${text}\n`);
  }
}

/** Failures nobody planned for: reported with a hint to look at the stack. */
const unexpected = new WeakSet<ElmahError>();
/** Command-line usage errors (unknown option, bad argument value): exit code 2. */
const usage = new WeakSet<ElmahError>();

/** A command-line usage error (`ERR_ELMAH_CLI`, exit code 2). */
export function usageError(message: string, help: string): ElmahError {
  const err = new ElmahError('ERR_ELMAH_CLI', message, { help });
  usage.add(err);
  return err;
}

/** Node's file-system failures carry a `code` such as ENOENT and a `syscall`. */
function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return (
    err instanceof Error &&
    typeof (err as NodeJS.ErrnoException).code === 'string' &&
    typeof (err as NodeJS.ErrnoException).syscall === 'string'
  );
}

/**
 * Turns whatever a command threw into an ElmahError. Store backends already throw coded errors; this
 * only catches driver errors that slipped through, and marks anything else as unexpected.
 */
export function toElmahError(err: unknown): ElmahError {
  if (isElmahError(err)) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new ElmahError('ERR_ELMAH_STORE_BUSY', `The store is locked by another process: ${message}`, {
      help: 'Wait for the other process to finish (or stop it) and run the command again.',
      transient: true,
      cause: err,
    });
  }
  if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
    return new ElmahError('ERR_ELMAH_STORE_CORRUPT', `The store file is not a usable SQLite database: ${message}`, {
      help: 'Check the --store path; move a damaged file aside (or restore a backup) and run `express-elmah init`.',
      cause: err,
    });
  }
  if (isSystemError(err)) {
    return new ElmahError('ERR_ELMAH_STORE_UNAVAILABLE', `Cannot reach the store: ${message}`, {
      help: 'Check that the path exists and that you may read and write it.',
      cause: err,
    });
  }
  const wrapped = new ElmahError('ERR_ELMAH_CLI', `Unexpected failure: ${message}`, {
    help: 'This is a bug in express-elmah; run again with ELMAH_DEBUG=1 to see the stack, and report it.',
    cause: err,
  });
  unexpected.add(wrapped);
  return wrapped;
}

/** A help line for errors that arrive without one, so every failure says what to do. */
const DEFAULT_HELP: Partial<Record<ElmahErrorCode, string>> = {
  ERR_ELMAH_STORE_URL: 'Use --store sqlite:PATH, postgres://user@host/db or memory:.',
  ERR_ELMAH_STORE_BUSY: 'Another process holds a lock on the store; wait for it to finish and run the command again.',
  ERR_ELMAH_STORE_CORRUPT: 'Check the --store path; move a damaged file aside (or restore a backup) and run `express-elmah init`.',
  ERR_ELMAH_STORE_UNAVAILABLE: 'Check that the store exists and that you may read and write it.',
  ERR_ELMAH_DRIVER_MISSING: 'Install the database driver: npm install better-sqlite3 (SQLite) or pg (PostgreSQL).',
};

/**
 * Reports a failure: `error ERR_ELMAH_…: message` and a `help:` line, which ends with the link to the code's
 * section of docs/errors.md, on stderr; with `--json`, also the
 * `{ error: { code, message, help } }` document on stdout so a script reading stdout sees it.
 * Returns the exit code.
 */
export function reportFailure(io: CliIo, err: unknown, json: boolean): number {
  const e = toElmahError(err);
  io.stderr.write(`error ${e.code}: ${e.message}\n`);
  const help = e.help || DEFAULT_HELP[e.code] || 'See `express-elmah --help`.';
  io.stderr.write(`help: ${help} See ${e.docs}.\n`);
  const isUnexpected = unexpected.has(e);
  if (isUnexpected && io.env.ELMAH_DEBUG && e.cause instanceof Error && e.cause.stack) io.stderr.write(`${e.cause.stack}\n`);
  if (json) io.stdout.write(`${JSON.stringify({ error: { ...e.toJSON().error, help } }, null, 2)}\n`);
  return usage.has(e) ? EXIT_USAGE : EXIT_FAILURE;
}

/** Lays out rows as left-aligned columns under a header, for `keys list`. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [fmt(header), ...rows.map(fmt)].join('\n');
}
