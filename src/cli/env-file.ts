// Reads and updates a dotenv file (`.env`) for `init --env-file`: only our variables' lines change,
// comments, order and every other line stay; a new file is created readable by its owner only (0600),
// and an existing one that others may read is tightened to 0600.
import {
  accessSync,
  chmodSync,
  constants,
  existsSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { ElmahError } from '../model/errors.js';

/** Mode of a newly created env file: it holds secrets. */
export const ENV_FILE_MODE = 0o600;

/** `NAME=…`, optionally indented and after `export `. */
function assignment(name: string): RegExp {
  return new RegExp(`^(\\s*)(export\\s+)?${name}\\s*=(.*)$`);
}

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t' };

/** The value part of a dotenv line: quoted (with escapes in double quotes) or bare up to a ` #` comment. */
function parseValue(raw: string): string {
  const text = raw.trim();
  const quote = text[0];
  if (quote === "'" || quote === '`') {
    const end = text.indexOf(quote, 1);
    return end < 0 ? text.slice(1) : text.slice(1, end);
  }
  if (quote === '"') {
    // Up to the first quote that is not escaped; \n \r \t \" \\ are unescaped.
    let value = '';
    for (let i = 1; i < text.length; i++) {
      const c = text[i]!;
      if (c === '"') break;
      if (c === '\\' && i + 1 < text.length) {
        const next = text[++i]!;
        value += ESCAPES[next] ?? (next === '"' || next === '\\' ? next : `\\${next}`);
      } else value += c;
    }
    return value;
  }
  const comment = text.search(/\s#/);
  return (comment < 0 ? text : text.slice(0, comment)).trim();
}

/** A value as a dotenv line writes it: bare when safe, otherwise double-quoted with escapes. */
export function formatValue(value: string): string {
  if (/^[A-Za-z0-9_\-.:/@%+=,~]*$/.test(value)) return value;
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"`;
}

/** The value of `name` in dotenv text; the last assignment wins, as dotenv reads it. */
export function getEnvValue(text: string, name: string): string | undefined {
  const re = assignment(name);
  let value: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const match = re.exec(line);
    if (match) value = parseValue(match[3]!);
  }
  return value;
}

/**
 * Sets variables in dotenv text. Each line that assigns one of them is rewritten in place (keeping its
 * indent and `export `); variables not present yet are added at the end. Other lines are untouched, and
 * the text keeps its line endings.
 */
export function setEnvValues(text: string, values: Readonly<Record<string, string>>): string {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const lines = text === '' ? [] : text.split(/\r?\n/);
  // A trailing newline leaves an empty last element; put it back after appending.
  const trailing = lines.length > 0 && lines[lines.length - 1] === '';
  if (trailing) lines.pop();
  const pending = new Set(Object.keys(values));
  for (let i = 0; i < lines.length; i++) {
    for (const [name, value] of Object.entries(values)) {
      const match = assignment(name).exec(lines[i]!);
      if (match) {
        lines[i] = `${match[1]}${match[2] ?? ''}${name}=${formatValue(value)}`;
        pending.delete(name);
      }
    }
  }
  for (const name of pending) lines.push(`${name}=${formatValue(values[name]!)}`);
  return lines.join(eol) + eol;
}

/** The text of an env file, or undefined when it does not exist. */
export function readEnvFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw envFileError(path, 'read', err);
  }
}

function envFileError(path: string, what: string, err: unknown): ElmahError {
  const reason = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err));
  return new ElmahError('ERR_ELMAH_CLI', `Cannot ${what} the env file ${path} (${reason}).`, {
    help: 'Check that its folder exists and that you may write there, or choose another --env-file path.',
    cause: err,
  });
}

/** Fails early, before keys are made, when the env file could not be written. */
export function checkEnvFileWritable(path: string): void {
  try {
    if (existsSync(path)) accessSync(path, constants.R_OK | constants.W_OK);
    accessSync(dirname(existsSync(path) ? realpathSync(path) : path), constants.W_OK);
  } catch (err) {
    throw envFileError(path, 'write', err);
  }
}

/**
 * Makes an existing env file readable by its owner only (0600) when its group or others may read or
 * write it, before secrets go in or are kept there. Returns the mode it had when it was changed.
 * Throws ERR_ELMAH_CLI when it cannot be changed (e.g. the file belongs to someone else).
 */
export function tightenEnvFile(path: string): number | undefined {
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw envFileError(path, 'read', err);
  }
  if ((mode & 0o077) === 0) return undefined;
  try {
    chmodSync(path, ENV_FILE_MODE);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ElmahError(
      'ERR_ELMAH_CLI',
      `The env file ${path} can be read by other users (mode ${octal(mode)}) and its mode cannot be changed (${reason}).`,
      {
        help: `Run \`chmod 600 ${path}\` as its owner, or choose another --env-file path; no key was created.`,
        cause: err,
      },
    );
  }
  return mode;
}

/** A file mode as `0644`. */
export function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

/** What {@link writeEnvFile} did. */
export interface EnvFileWrite {
  /** True when the file did not exist before. */
  created: boolean;
  /** Permission bits of the file now. */
  mode: number;
}

/**
 * Sets variables in an env file. A new file is created with mode 0600. An existing one is rewritten
 * through a temporary file and a rename (so a crash never leaves it half-written), keeping its mode and
 * following a symlink to the real file.
 */
export function writeEnvFile(path: string, values: Readonly<Record<string, string>>): EnvFileWrite {
  const existing = readEnvFile(path);
  if (existing === undefined) {
    try {
      writeFileSync(path, setEnvValues('', values), { mode: ENV_FILE_MODE, flag: 'wx' });
      chmodSync(path, ENV_FILE_MODE);
    } catch (err) {
      throw envFileError(path, 'create', err);
    }
    return { created: true, mode: ENV_FILE_MODE };
  }
  const target = realpathSync(path);
  const mode = statSync(target).mode & 0o777;
  const temp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    writeFileSync(temp, setEnvValues(existing, values), { mode, flag: 'wx' });
    chmodSync(temp, mode);
    renameSync(temp, target);
  } catch (err) {
    try {
      unlinkSync(temp);
    } catch {
      // The temporary file may not exist; nothing to clean up then.
    }
    throw envFileError(path, 'write', err);
  }
  return { created: false, mode };
}
