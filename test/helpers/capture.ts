// Shared pieces of the capture tests: a logger on a MemoryStore with keys, reading back what was stored,
// and fake clients whose append does what a test needs.
import type { ClientAppendResult, LogClient } from '../../src/client/types';
import { errorLogger, type ErrorLogger } from '../../src/capture/logger';
import type { ErrorLoggerOptions } from '../../src/capture/options';
import type { ElmahError } from '../../src/model/errors';
import type { KeyInfo } from '../../src/model/keys';
import type { ErrorMessage } from '../../src/model/message';
import type { Permission } from '../../src/model/permissions';
import type { MemoryStore } from '../../src/stores/memory';
import { withKeys, type TestKeys } from './keys';

const open: ErrorLogger[] = [];

/** A logger on a fresh MemoryStore with a write-only key; errors reported go to `errors`. Closed by {@link closeLoggers}. */
export async function createMemoryLogger(
  options: ErrorLoggerOptions = {},
): Promise<{ store: MemoryStore; keys: TestKeys; logger: ErrorLogger; errors: ElmahError[] }> {
  const { store, keys } = await withKeys();
  const errors: ElmahError[] = [];
  const logger = errorLogger({ store, key: keys.write, onError: (e) => errors.push(e), ...options });
  open.push(logger);
  return { store, keys, logger, errors };
}

/** Keeps a logger to be closed after the test. */
export function trackLogger(logger: ErrorLogger): ErrorLogger {
  open.push(logger);
  return logger;
}

/** Closes every logger made by the tests (afterEach). */
export async function closeLoggers(): Promise<void> {
  await Promise.all(open.splice(0).map((l) => l.close(1000)));
}

/** Every message in the store, oldest first. */
export async function storedMessages(store: MemoryStore): Promise<ErrorMessage[]> {
  const r = await store.search({ size: 1000 });
  return r.messages.reverse();
}

/** A LogClient whose append (and tally) is the given function; whoami answers with `permissions`. Tallies are created unless `tally` is given. */
export function createFakeClient(
  append: (batch: readonly unknown[]) => Promise<ClientAppendResult[]>,
  permissions: Permission[] = ['messages_write'],
  tally: (tallies: readonly unknown[]) => Promise<ClientAppendResult[]> = async (t) => createdResults(t),
): LogClient & { closed: boolean } {
  const info: KeyInfo = { id: 'fakekey1', name: 'fake', permissions, logs: [] };
  const client = {
    kind: 'remote' as const,
    closed: false,
    whoami: async () => info,
    append: (batch: readonly unknown[]) => append(batch),
    tally: (tallies: readonly unknown[]) => tally(tallies),
    get: async () => {
      throw new Error('not used');
    },
    search: async () => ({ messages: [], total: 0, totalExact: true }),
    groups: async () => ({ groups: [], total: 0 }),
    group: async () => undefined,
    histogram: async () => ({ from: '', to: '', bucketMs: 1, counts: [] }),
    neighbours: async () => ({}),
    delete: async () => 0,
    logs: async () => [],
    endSession: async () => undefined,
    sessionEnded: async () => false,
    deploy: async () => {
      throw new Error('not used by the capture tests');
    },
    deployments: async () => [],
    setGroupState: async () => {
      throw new Error('not used by the capture tests');
    },
    describe: () => ({ kind: 'fake', location: 'fake:' }),
    close: async () => {
      client.closed = true;
    },
  };
  return client;
}

/** Answers every item as created. */
export function createdResults(batch: readonly unknown[]): ClientAppendResult[] {
  return batch.map((m) => ({ id: (m as { id: string }).id, status: 'created' as const }));
}

/** Waits until `check` is true, polling, for at most `ms`. */
export async function waitUntil(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
