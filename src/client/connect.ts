// connect({ store, key }): how faces get a LogClient, from a store URL, a store object, a collector URL or a client.
import { ElmahError } from '../model/errors.js';
import { openStore, resolveStoreUrl, type OpenStoreOptions } from '../stores/open.js';
import { isStore, type Store } from '../stores/types.js';
import { LocalLogClient } from './local.js';
import type { LogClient } from './types.js';

/** Where a face's messages live: a store URL, an open Store, an `http(s)://` collector URL, or a ready LogClient. */
export type StoreOption = string | Store | LogClient;

/** Options of {@link connect}. */
export interface ConnectOptions extends OpenStoreOptions {
  /** Store URL, Store, collector URL or LogClient. Default: ELMAH_STORE, else sqlite:.elmah/elmah.db. */
  store?: StoreOption | undefined;
  /** The API key this client acts with. Ignored when `store` is already a LogClient. */
  key?: string | undefined;
  /** Key cache lifetime, ms (LocalLogClient). */
  keyCacheMs?: number;
  /** Request timeout, ms (remote clients). */
  timeoutMs?: number;
}

/** True for an object with the LogClient methods. */
export function isLogClient(value: unknown): value is LogClient {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Record<string, unknown>;
  return ['whoami', 'append', 'get', 'search', 'close'].every((m) => typeof c[m] === 'function') && (c.kind === 'local' || c.kind === 'remote');
}

/** Opens (or wraps) a store and returns a client acting with `key`. A store opened here is closed with the client. */
export async function connect(options: ConnectOptions = {}): Promise<LogClient> {
  const store = options.store ?? resolveStoreUrl();
  if (isLogClient(store)) return store;
  if (isStore(store)) return new LocalLogClient(store, options.key, { keyCacheMs: options.keyCacheMs ?? 1000 });
  if (typeof store !== 'string') {
    throw new ElmahError('ERR_ELMAH_OPTION_TYPE', 'Option `store` must be a URL string, a Store or a LogClient.', {
      help: 'Pass e.g. "sqlite:.elmah/elmah.db", "postgres://…", "https://collector.example", or the result of openStore().',
    });
  }
  if (/^https?:\/\//.test(store)) {
    const { RemoteLogClient } = await import('./remote.js');
    return new RemoteLogClient(store, options.key, { timeoutMs: options.timeoutMs });
  }
  const opened = await openStore(store, options);
  return new LocalLogClient(opened, options.key, { ownsStore: true, keyCacheMs: options.keyCacheMs ?? 1000 });
}
