// SqliteStore: the embedded default backend (better-sqlite3, WAL, FTS5).
import { ElmahError } from '../model/errors.js';
import type { OpenStoreOptions } from './open.js';
import type { Store } from './types.js';

/** The embedded SQLite backend. */
export class SqliteStore {
  static async open(_path: string, _options: OpenStoreOptions = {}): Promise<Store> {
    throw new ElmahError('ERR_ELMAH_STORE_URL', 'The SQLite store is not built yet.');
  }
}
