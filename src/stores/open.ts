// openStore(url): picks the backend from a connection string (memory:, sqlite:PATH, postgres://…).
import { ElmahError } from '../model/errors.js';
import { MemoryStore } from './memory.js';
import type { RetentionOptions, Store } from './types.js';

/** The store used when nothing is configured. */
export const DEFAULT_STORE_URL = 'sqlite:.elmah/elmah.db';

/** Options passed through to the backend. */
export interface OpenStoreOptions {
  retention?: RetentionOptions;
  /** PostgreSQL schema for the tables. */
  schema?: string;
}

/** The store URL from an explicit value, else ELMAH_STORE, else the default SQLite file. */
export function resolveStoreUrl(url?: string): string {
  return url ?? process.env.ELMAH_STORE ?? DEFAULT_STORE_URL;
}

/** Strips a password from a URL before it is shown anywhere. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * Opens a store from a connection string: `memory:`, `sqlite:PATH` (the folder is created;
 * `sqlite::memory:` for a throwaway database), `postgres://…` or `postgresql://…`.
 * Unknown schemes fail with ERR_ELMAH_STORE_URL.
 */
export async function openStore(url: string = resolveStoreUrl(), options: OpenStoreOptions = {}): Promise<Store> {
  if (typeof url !== 'string' || url.trim() === '') {
    throw new ElmahError('ERR_ELMAH_STORE_URL', 'The store URL is empty.', { help: `Use ${DEFAULT_STORE_URL}, memory: or postgres://user@host/db.` });
  }
  if (url === 'memory:' || url.startsWith('memory:')) return new MemoryStore({ retention: options.retention ?? {} });
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (!path) throw new ElmahError('ERR_ELMAH_STORE_URL', 'sqlite: needs a file path, e.g. sqlite:.elmah/elmah.db.');
    const { SqliteStore } = await import('./sqlite/index.js');
    return SqliteStore.open(path, options);
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const { PostgresStore } = await import('./postgres.js');
    return PostgresStore.open(url, options);
  }
  throw new ElmahError('ERR_ELMAH_STORE_URL', `Unknown store "${redactUrl(url)}".`, {
    help: `Use ${DEFAULT_STORE_URL}, sqlite:PATH, memory: or postgres://user@host/db (http(s):// URLs are collectors, for connect()).`,
  });
}
