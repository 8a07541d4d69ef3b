// openLog(store): the one place where a face's `store` option becomes clients. A store URL is opened here and
// closed with the log; a Store or a LogClient passed in is used as it is and left open; an http(s):// URL is a
// collector, reached with RemoteLogClients. connect(), the viewer, the collector and the logger all come
// through here, so they accept and refuse the same values with the same coded errors.
import type { Agent } from 'node:http';
import { ElmahConfigError } from '../model/errors.js';
import type { KeyInfo } from '../model/keys.js';
import type { OptionRule } from '../model/options.js';
import { openStore } from '../stores/open.js';
import { isStore, type OpenStoreOptions, type Store } from '../stores/types.js';
import { isCollectorUrl, resolveStoreUrl, sqlitePath } from '../stores/url.js';
import { LocalLogClient } from './local.js';
import { RemoteLogClient, collectorAgent } from './remote.js';
import { isLogClient, type LogClient, type LogWriter } from './types.js';
import { WorkerLogClient } from './worker.js';

/** Where a face's messages live: a store URL, an open Store, an `http(s)://` collector URL, or a ready LogClient. */
export type StoreOption = string | Store | LogClient;

/**
 * What a face takes as `store`: all four kinds (`any`), or only a store it can serve itself (`store`: a store
 * URL or a Store; the collector's).
 */
export type StoreAccepts = 'any' | 'store';

/** Why `value` is not a `store` option a face that `accepts` takes, or undefined when it is one. */
export function storeOptionProblem(value: unknown, accepts: StoreAccepts = 'any'): string | undefined {
  if (value === undefined || isStore(value)) return undefined;
  if (accepts === 'store') {
    if (typeof value !== 'string') return 'must be a Store (from openStore) or a store URL';
    return isCollectorUrl(value) ? 'must be a store (sqlite:, postgres://, memory:), not another collector' : undefined;
  }
  return typeof value === 'string' || isLogClient(value) ? undefined : 'must be a store URL, a Store, a collector URL or a LogClient';
}

/** The rule for a face's `store` option in its option schema. */
export function storeOptionRule(accepts: StoreAccepts): OptionRule {
  return {
    kinds: ['string', 'object'],
    describe: accepts === 'store' ? 'a store URL or a Store' : 'a store URL, a Store, a collector URL or a LogClient',
    check: (value) => storeOptionProblem(value, accepts),
  };
}

/** Options of {@link openLog}. */
export interface OpenLogOptions extends OpenStoreOptions {
  /** Who asks, for error messages: `errorViewer()`. Default `connect()`. */
  face?: string | undefined;
  /** What the face takes as `store`. Default `any`. */
  accepts?: StoreAccepts | undefined;
  /** Key cache lifetime of local clients, ms. Default 1000. */
  keyCacheMs?: number | undefined;
  /** Request timeout of remote clients, ms. */
  timeoutMs?: number | undefined;
  /**
   * Writers of a `sqlite:` URL run on a worker thread: `true` always (a worker that cannot start is a failure),
   * `false` never, undefined when the built package is there to run one.
   */
  worker?: boolean | undefined;
}

/** A writer that can also tell its key: every LogClient, and the worker thread's writer. */
export type CheckedWriter = LogWriter & { whoami(): Promise<KeyInfo> };

/** A face's log: clients for any key over one store or collector, and one `close()` for what was opened. */
export interface OpenedLog {
  /** `client` when a LogClient was passed (it acts with its own key), `local` for a store, `remote` for a collector. */
  readonly kind: 'client' | 'local' | 'remote';
  /** True when {@link OpenedLog.writer} first tries a worker thread. */
  readonly onWorker: boolean;
  /** Opens what the clients share (a store named by a URL) now. A failed open is tried again by the next call. */
  open(): Promise<void>;
  /**
   * A client acting with `key` (the LogClient passed in, whatever the key). Clients share what the log opened:
   * close the log, not them. With `owning`, the client takes that over instead, and closing it closes the store
   * or its sockets: for a log that gives out this one client (connect()).
   */
  client(key: string | undefined, options?: { owning?: boolean }): Promise<LogClient>;
  /**
   * A writer acting with `key`: on a worker thread when {@link OpenedLog.onWorker} (closed with the log), else
   * {@link OpenedLog.client}. When the worker cannot start and `worker` was not `true`, `onFallback` hears why
   * and the writes go in-process.
   */
  writer(key: string | undefined, onFallback: (err: unknown) => void): Promise<CheckedWriter>;
  /** Closes what openLog opened: the store of a URL, the collector's sockets, worker threads. Never a Store or LogClient passed in. */
  close(): Promise<void>;
}

/**
 * Checks a face's `store` option and returns its log; nothing is opened until a client is asked for. Throws
 * ERR_ELMAH_OPTION_TYPE for a value that is no store option of this face, and ERR_ELMAH_STORE_URL when a face
 * that serves a store of its own finds a collector URL in ELMAH_STORE.
 */
export function openLog(store: unknown, options: OpenLogOptions = {}): OpenedLog {
  const face = options.face ?? 'connect()';
  const accepts = options.accepts ?? 'any';
  const problem = storeOptionProblem(store, accepts);
  if (problem) {
    throw new ElmahConfigError('ERR_ELMAH_OPTION_TYPE', `${face}: option "store" ${problem}.`, {
      help: 'Pass e.g. "sqlite:.elmah/elmah.db", "postgres://…", "https://collector.example", or the result of openStore().',
    });
  }
  const given = store as StoreOption | undefined;
  if (isLogClient(given)) return givenClient(given);
  if (isStore(given)) return givenStore(given, options);
  const url = resolveStoreUrl(given);
  if (!isCollectorUrl(url)) return storeAt(url, options);
  if (accepts === 'store') {
    throw new ElmahConfigError('ERR_ELMAH_STORE_URL', `${face}: ELMAH_STORE points at another collector.`, {
      help: 'Give it a store of its own: sqlite:PATH, postgres://… or memory:.',
    });
  }
  return collectorAt(url, options);
}

/** Every key but the LogClient's own is ignored; nothing is opened or closed. */
function givenClient(client: LogClient): OpenedLog {
  return {
    kind: 'client',
    onWorker: false,
    open: async () => undefined,
    client: async () => client,
    writer: async () => client,
    close: async () => undefined,
  };
}

/** The parts every log over a store shares: local clients, and writers that are local clients. */
function localLog(storeOf: () => Promise<Store>, opened: boolean, options: OpenLogOptions): Omit<OpenedLog, 'close'> {
  const keyCacheMs = options.keyCacheMs ?? 1000;
  const client = async (key: string | undefined, own: { owning?: boolean } = {}): Promise<LogClient> =>
    new LocalLogClient(await storeOf(), key, { keyCacheMs, ownsStore: opened && own.owning === true });
  return {
    kind: 'local',
    onWorker: false,
    open: async () => void (await storeOf()),
    client,
    writer: (key) => client(key),
  };
}

function givenStore(store: Store, options: OpenLogOptions): OpenedLog {
  return { ...localLog(async () => store, false, options), close: async () => undefined };
}

/** A store named by a URL: opened on first use (again after a failed open), closed with the log. */
function storeAt(url: string, options: OpenLogOptions): OpenedLog {
  let opening: Promise<Store> | undefined;
  const storeOf = (): Promise<Store> => {
    opening ??= openStore(url, options).catch((err: unknown) => {
      opening = undefined;
      throw err;
    });
    return opening;
  };
  const local = localLog(storeOf, true, options);
  const onWorker = sqlitePath(url) !== undefined && options.worker !== false && (options.worker === true || WorkerLogClient.available());
  const workers = new Set<WorkerLogClient>();
  let closing: Promise<void> | undefined;
  return {
    ...local,
    onWorker,
    async writer(key, onFallback) {
      if (onWorker) {
        try {
          const worker = await WorkerLogClient.start(url, key);
          workers.add(worker);
          return worker;
        } catch (err) {
          if (options.worker === true) throw err;
          onFallback(err);
        }
      }
      return local.writer(key, onFallback);
    },
    close() {
      closing ??= (async () => {
        for (const worker of workers) await worker.close();
        const store = await opening?.catch(() => undefined);
        await store?.close();
      })();
      return closing;
    },
  };
}

/** A collector: its clients share one keep-alive agent, destroyed with the log. */
function collectorAt(url: string, options: OpenLogOptions): OpenedLog {
  let agent: Agent | undefined;
  const client = async (key: string | undefined, own: { owning?: boolean } = {}): Promise<LogClient> =>
    new RemoteLogClient(url, key, { timeoutMs: options.timeoutMs, agent: own.owning ? undefined : (agent ??= collectorAgent(url)) });
  return {
    kind: 'remote',
    onWorker: false,
    open: async () => undefined,
    client,
    writer: (key) => client(key),
    close: async () => agent?.destroy(),
  };
}
