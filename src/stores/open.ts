// openStore(url): picks the backend from a connection string (memory:, sqlite:PATH, postgres://…).
import { MemoryStore } from './memory.js';
import type { OpenStoreOptions, Store } from './types.js';
import { parseStoreUrl, resolveStoreUrl } from './url.js';

export { DEFAULT_STORE_URL, redactUrl, resolveStoreUrl } from './url.js';
export type { OpenStoreOptions } from './types.js';

/**
 * Opens a store from a connection string: `memory:`, `sqlite:PATH` (the folder is created;
 * `sqlite::memory:` for a throwaway database), `postgres://…` or `postgresql://…`.
 * Unknown schemes fail with ERR_ELMAH_STORE_URL.
 */
export async function openStore(url: string = resolveStoreUrl(), options: OpenStoreOptions = {}): Promise<Store> {
  const parsed = parseStoreUrl(url);
  switch (parsed.kind) {
    case 'memory':
      return new MemoryStore({ retention: options.retention ?? {} });
    case 'sqlite': {
      const { SqliteStore } = await import('./sqlite/index.js');
      return SqliteStore.open(parsed.path, options);
    }
    case 'postgres': {
      const { PostgresStore } = await import('./postgres/index.js');
      return PostgresStore.open(parsed.url, options);
    }
  }
}
