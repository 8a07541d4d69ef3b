// Every LogClient runs the shared conformance suite: LocalLogClient over memory and SQLite stores,
// RemoteLogClient over a collector on 127.0.0.1, and the worker thread's writer over a SQLite file.
import { join } from 'node:path';
import { LocalLogClient } from '../../src/client/local';
import { RemoteLogClient } from '../../src/client/remote';
import type { LogWriter } from '../../src/client/types';
import { MemoryStore } from '../../src/stores/memory';
import { SqliteStore } from '../../src/stores/sqlite';
import type { Store } from '../../src/stores/types';
import { buildPackage, type BuiltPackage } from '../helpers/build-package';
import { startCollector } from '../helpers/collector';
import { clientConformance, type ClientHarness } from './conformance';

/** Local clients as connect() makes them from a store URL: each owns the store and closes it when it closes. */
function local(store: Store): ClientHarness {
  return { store, client: async (key) => new LocalLogClient(store, key, { ownsStore: true, keyCacheMs: 0 }), close: () => store.close() };
}

clientConformance('local (memory)', async () => local(new MemoryStore()));
clientConformance('local (sqlite :memory:)', async () => local(await SqliteStore.open(':memory:', { autoPruneMs: false })));

clientConformance('remote', async () => {
  const running = await startCollector();
  return { store: running.store, client: async (key) => new RemoteLogClient(running.url, key), close: running.close };
});

// The worker thread runs compiled JavaScript, so its writer is taken from a bundle of the package.
let built: BuiltPackage | undefined;
let WorkerLogClient: { start(url: string, key: string | undefined): Promise<LogWriter> };
let files = 0;
beforeAll(() => {
  built = buildPackage({ 'worker-client.cjs': 'src/client/worker.ts' });
  ({ WorkerLogClient } = require(join(built.pkg, 'dist', 'worker-client.cjs')) as { WorkerLogClient: typeof WorkerLogClient });
});
afterAll(() => built?.remove());

clientConformance(
  'worker thread',
  async () => {
    const url = `sqlite:${join(built!.dir, `store-${++files}.db`)}`;
    const store = await SqliteStore.open(url.slice('sqlite:'.length), { autoPruneMs: false });
    return { store, client: (key) => WorkerLogClient.start(url, key), close: () => store.close() };
  },
  {
    reads: false,
  },
);
