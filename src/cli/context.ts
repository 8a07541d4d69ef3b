// What every CLI command shares: the --store and --json options, where the store is, and opening it safely.
import { isAbsolute, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { ElmahError } from '../model/errors.js';
import { openStore } from '../stores/open.js';
import type { Store } from '../stores/types.js';
import { DEFAULT_STORE_URL, isCollectorUrl, redactUrl, sqlitePath } from '../stores/url.js';
import { Output, usageError, type CliIo } from './output.js';

/** Options every command takes. */
export interface CommonOptions {
  store?: string | undefined;
  json?: boolean | undefined;
}

/** Adds `--store URL` and `--json` to a command. */
export function addCommonOptions(command: Command): Command {
  return command
    .addOption(
      new Option('--store <url>', `store to use: sqlite:PATH, postgres://… or memory: (default: ELMAH_STORE, else ${DEFAULT_STORE_URL})`),
    )
    .addOption(new Option('--json', 'print the result as JSON, for scripts'));
}

/** The output of a command, honouring `--json`. */
export function outputFor(io: CliIo, options: CommonOptions): Output {
  return new Output(io, options.json === true);
}

/**
 * The store URL a command uses: `--store`, else ELMAH_STORE, else `fallback` (ELMAH_STORE read from an
 * env file, with relative paths taken from `fallbackBase`), else the default SQLite file. A relative
 * SQLite path is made absolute, so the printed location is unambiguous.
 */
export function storeUrlFor(option: string | undefined, io: CliIo, fallback?: string, fallbackBase?: string): string {
  const given = option ?? nonEmpty(io.env.ELMAH_STORE);
  if (given !== undefined) return absoluteStoreUrl(given, io.cwd);
  const fromFile = nonEmpty(fallback);
  return absoluteStoreUrl(fromFile ?? DEFAULT_STORE_URL, fromFile !== undefined ? (fallbackBase ?? io.cwd) : io.cwd);
}

/** `sqlite:relative/path` resolved against `base`; other URLs unchanged. */
export function absoluteStoreUrl(url: string, base: string): string {
  const path = sqlitePath(url);
  if (path === undefined || path === '' || path === ':memory:' || isAbsolute(path)) return url;
  return `sqlite:${resolve(base, path)}`;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** Opens the store, runs `work` and always closes the store again, also when `work` fails. */
export async function withStore<T>(url: string, out: Output, work: (store: Store) => Promise<T>): Promise<T> {
  if (isCollectorUrl(url)) {
    throw new ElmahError('ERR_ELMAH_STORE_URL', `"${redactUrl(url)}" is a collector URL; the CLI manages a store directly.`, {
      help: 'Run the command where the store is, with --store sqlite:PATH or postgres://… (the one the collector uses).',
    });
  }
  const store = await openStore(url);
  if (store.kind === 'memory') out.note('memory: keeps nothing after this command ends; use sqlite:PATH or postgres://… for a real log.');
  let result: T;
  try {
    result = await work(store);
  } catch (err) {
    // The command's own failure is the one to report, not a second one from closing.
    await store.close().catch(() => undefined);
    throw err;
  }
  await store.close();
  return result;
}

/** Parses a non-negative whole number given to `flag`, or fails with a usage error. */
export function parseCount(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim())) throw usageError(`${flag} needs a whole number, got "${value}".`, `Example: ${flag} 30.`);
  return Number(value.trim());
}
