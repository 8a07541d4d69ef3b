// Loading better-sqlite3 on demand, opening a database file owner-only, and mapping driver failures to coded errors.
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { ElmahError, isElmahError } from '../../model/errors.js';

/** Loads better-sqlite3 on demand, so that a project using another store never needs it. */
export async function loadDriver(): Promise<typeof BetterSqlite3> {
  try {
    const mod = (await import('better-sqlite3')) as unknown as { default?: typeof BetterSqlite3 };
    return mod.default ?? (mod as unknown as typeof BetterSqlite3);
  } catch (cause) {
    throw new ElmahError('ERR_ELMAH_DRIVER_MISSING', 'The SQLite store needs the better-sqlite3 package.', {
      cause,
      help: 'install better-sqlite3 (or pass a Database): npm install better-sqlite3',
    });
  }
}

/**
 * Opens a database file, creating its folder (0700) and the file (0600) owner-only: the log holds captured
 * requests, which other local users must not read. SQLite gives the -wal and -shm files the mode of the
 * database file. Existing files and folders keep their modes.
 */
export function openFile(Driver: typeof BetterSqlite3, path: string, busyTimeout: number): BetterSqlite3.Database {
  const memory = path === ':memory:';
  const folder = dirname(path);
  if (!memory && !existsSync(folder)) mkdirSync(folder, { recursive: true, mode: 0o700 });
  if (!memory && !existsSync(path)) {
    closeSync(openSync(path, 'a', 0o600));
    // The umask may have taken bits away, never added any; chmod states the intent whatever it is.
    chmodSync(path, 0o600);
  }
  try {
    return new Driver(path, { timeout: busyTimeout });
  } catch (error) {
    // The package is there but its native addon is not: its install script did not run or was not approved.
    if (/bindings file|better_sqlite3\.node|NODE_MODULE_VERSION|invalid ELF/i.test(String((error as Error | null)?.message))) {
      throw new ElmahError(
        'ERR_ELMAH_DRIVER_MISSING',
        'better-sqlite3 is installed but its native addon is missing or was built for another Node.js.',
        {
          cause: error,
          help: 'Let its install script run: npm install-scripts approve better-sqlite3 && npm rebuild better-sqlite3',
        },
      );
    }
    throw error;
  }
}

/** Maps a driver failure to a coded ElmahError: locked → BUSY (transient), damaged → CORRUPT, I/O → UNAVAILABLE. */
export function sqliteError(error: unknown, where: string): unknown {
  if (isElmahError(error)) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return error;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new ElmahError('ERR_ELMAH_STORE_BUSY', `The SQLite store ${where} is locked by another connection.`, {
      cause: error,
      transient: true,
      help: 'Retry shortly; if it persists, look for a long-running process holding the file (raise busyTimeout if needed).',
    });
  }
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new ElmahError('ERR_ELMAH_STORE_CORRUPT', `The SQLite store ${where} is not a database or is damaged.`, {
      cause: error,
      help: 'Point ELMAH_STORE at another file, or move this one away (keep it for inspection) and start afresh.',
    });
  }
  if (/^SQLITE_(CANTOPEN|READONLY|IOERR|FULL|PERM|AUTH|NOLFS)/.test(code)) {
    return new ElmahError('ERR_ELMAH_STORE_UNAVAILABLE', `The SQLite store ${where} cannot be read or written (${code}).`, {
      cause: error,
      transient: code.startsWith('SQLITE_IOERR') || code === 'SQLITE_FULL',
      help: 'Check that the folder exists, is writable by this process and that the disk is not full.',
    });
  }
  return error;
}

/** An open failure as a coded error: driver codes as in {@link sqliteError}, file system codes as UNAVAILABLE. */
export function wrapOpen(error: unknown, where: string): unknown {
  const mapped = sqliteError(error, where);
  if (mapped !== error) return mapped;
  if (isElmahError(error)) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^(EACCES|EPERM|ENOTDIR|EROFS|ENOSPC|EEXIST)$/.test(code)) {
    return new ElmahError('ERR_ELMAH_STORE_UNAVAILABLE', `Cannot create the SQLite store ${where} (${code}).`, {
      cause: error,
      help: 'Check that the folder can be created and written by this process, or set ELMAH_STORE to another path.',
    });
  }
  return error;
}
