// Store URLs, read in one place: the default and ELMAH_STORE, which backend (or collector) a URL names, the
// parts of a sqlite: or postgres:// URL, and how to show one without its password. The dispatcher (open.ts),
// the PostgreSQL store, the client layer and the CLI all read URLs through this module.
import { ElmahConfigError, ElmahError } from '../model/errors.js';

/** The store used when nothing is configured. */
export const DEFAULT_STORE_URL = 'sqlite:.elmah/elmah.db';

/** The store URL from an explicit value, else ELMAH_STORE, else the default SQLite file. */
export function resolveStoreUrl(url?: string): string {
  return url ?? process.env.ELMAH_STORE ?? DEFAULT_STORE_URL;
}

/** True for an `http://` or `https://` URL (any case, as URL schemes are): a collector, not a store. */
export function isCollectorUrl(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

/** What a store URL names. */
export type StoreUrl = { kind: 'memory' } | { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/** The file path of a `sqlite:` URL (`sqlite:///abs` and `sqlite:/abs` alike), or undefined for another URL. */
export function sqlitePath(url: string): string | undefined {
  return url.startsWith('sqlite:') ? url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '') : undefined;
}

/**
 * Reads a store URL: `memory:`, `sqlite:PATH` or `postgres://…`/`postgresql://…`. An empty or unknown URL
 * (a collector's `http(s)://` among them) fails with ERR_ELMAH_STORE_URL.
 */
export function parseStoreUrl(url: string): StoreUrl {
  if (typeof url !== 'string' || url.trim() === '') {
    throw new ElmahError('ERR_ELMAH_STORE_URL', 'The store URL is empty.', {
      help: `Use ${DEFAULT_STORE_URL}, memory: or postgres://user@host/db.`,
    });
  }
  if (url.startsWith('memory:')) return { kind: 'memory' };
  const path = sqlitePath(url);
  if (path !== undefined) {
    if (!path) throw new ElmahError('ERR_ELMAH_STORE_URL', 'sqlite: needs a file path, e.g. sqlite:.elmah/elmah.db.');
    return { kind: 'sqlite', path };
  }
  if (/^postgres(ql)?:\/\//.test(url)) return { kind: 'postgres', url };
  throw new ElmahError('ERR_ELMAH_STORE_URL', `Unknown store "${redactUrl(url)}".`, {
    help: `Use ${DEFAULT_STORE_URL}, sqlite:PATH, memory: or postgres://user@host/db (http(s):// URLs are collectors, for connect()).`,
  });
}

/** Where a `postgres://` URL connects, without `?schema=`, and the schema that parameter names. */
export function parsePostgresUrl(url: string): { connectionString: string; schema: string | undefined } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ElmahConfigError('ERR_ELMAH_STORE_URL', `Invalid PostgreSQL URL "${redactUrl(url)}".`, {
      help: 'Use postgres://user:password@host:5432/database (with ?schema=name to pick a schema).',
    });
  }
  const schema = u.searchParams.get('schema') ?? undefined;
  u.searchParams.delete('schema');
  return { connectionString: u.toString(), schema };
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
