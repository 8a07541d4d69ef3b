// PostgresStore: many app instances, one shared log (pg, JSONB, tsvector).
import { ElmahError } from '../model/errors.js';
import type { OpenStoreOptions } from './open.js';
import type { Store } from './types.js';

/** The PostgreSQL backend. */
export class PostgresStore {
  static async open(_url: string, _options: OpenStoreOptions = {}): Promise<Store> {
    throw new ElmahError('ERR_ELMAH_STORE_URL', 'The PostgreSQL store is not built yet.');
  }
}
