// Start-up key failures of the faces (errorLogger, errorViewer) made easier to act on: a missing key points at
// an env file beside the app that holds it, and an unknown key names the store it was checked against. Only the
// faces' own start-up checks use these; the collector never tells an HTTP client where its store is.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ElmahError, isElmahError } from '../model/errors.js';

/** The folders an app is likely started from or lives in: the current folder, then its main script's folder. */
function appFolders(): string[] {
  const folders = [process.cwd()];
  const main = process.argv[1];
  if (main !== undefined && main !== '') {
    const folder = dirname(resolve(main));
    if (!folders.includes(folder)) folders.push(folder);
  }
  return folders;
}

/** The first `.env` beside the app that assigns `variable`, or undefined. */
export function envFileWith(variable: string, folders: readonly string[] = appFolders()): string | undefined {
  const assigns = new RegExp(`^\\s*(export\\s+)?${variable}\\s*=\\s*\\S`, 'm');
  for (const folder of folders) {
    const path = join(folder, '.env');
    if (!existsSync(path)) continue;
    try {
      if (assigns.test(readFileSync(path, 'utf8'))) return path;
    } catch {
      // An unreadable file is no hint.
    }
  }
  return undefined;
}

/**
 * The help line for a missing key: when an env file beside the app holds `variable`, say to load it;
 * otherwise `fallback`.
 */
export function missingKeyHelp(variable: string, fallback: string, folders?: readonly string[]): string {
  const file = envFileWith(variable, folders);
  if (file === undefined) return fallback;
  return (
    `${file} holds ${variable}, but it is not in the environment: load the file when you start the app, ` +
    `e.g. \`node --env-file=${file} app.js\` (Node.js 20.6+) or \`import 'dotenv/config'\` first.`
  );
}

/**
 * A key failure at start-up with the store named in the message (`API key … is not known to the store
 * sqlite:/srv/app/.elmah/elmah.db.`, `API key … was revoked on … (store: …).`),
 * so a key made against another store is easy to tell. Any other error is returned as it is.
 */
export function withStoreNamed(err: unknown, where: { describe?(): { location: string } } | undefined): unknown {
  if (!isElmahError(err) || err.code !== 'ERR_ELMAH_KEY_INVALID' || typeof where?.describe !== 'function') return err;
  const location = where.describe().location;
  if (err.message.includes(location)) return err;
  const message = err.message.includes('this store')
    ? err.message.replace('this store', `the store ${location}`)
    : `${err.message.replace(/\.$/, '')} (store: ${location}).`;
  return new ElmahError(err.code, message, { help: err.help, cause: err });
}
