// connect({ store, key }): one LogClient, from a store URL, a store object, a collector URL or a client.
import { openLog, type OpenLogOptions, type StoreOption } from './open-log.js';
import type { LogClient } from './types.js';

/** Options of {@link connect}. */
export interface ConnectOptions extends Omit<OpenLogOptions, 'face' | 'accepts' | 'worker'> {
  /** Store URL, Store, collector URL or LogClient. Default: ELMAH_STORE, else sqlite:.elmah/elmah.db. */
  store?: StoreOption | undefined;
  /** The API key this client acts with. Ignored when `store` is already a LogClient. */
  key?: string | undefined;
}

/**
 * Opens (or wraps) a store and returns a client acting with `key`. A store opened here is closed with the
 * client; a Store or LogClient passed in stays open. A `store` of another type fails with ERR_ELMAH_OPTION_TYPE.
 */
export async function connect(options: ConnectOptions = {}): Promise<LogClient> {
  // A client asked for by name never starts a worker thread: that is the logger's choice (worker-entry.ts is one).
  return openLog(options.store, { ...options, worker: false }).client(options.key, { owning: true });
}
