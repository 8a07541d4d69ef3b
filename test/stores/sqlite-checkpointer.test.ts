// The SQLite store's checkpointer thread: the writer's commits never checkpoint while it runs, the WAL is
// restarted under a continuous stream of appends (a writer that never yields to its event loop), nothing
// written is lost, and checkpointing falls back to SQLite's own when the thread ends.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/stores/sqlite';
import { makeMessage } from '../helpers/messages';

const dirs: string[] = [];
function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'elmah-ckpt-'));
  dirs.push(dir);
  return join(dir, 'elmah.db');
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** The store's own connection, to read the pragmas it set. */
function connection(store: SqliteStore): Database.Database {
  return (store as unknown as { db: Database.Database }).db;
}

function batch(start: number, size: number): ReturnType<typeof makeMessage>[] {
  const now = Date.now();
  return Array.from({ length: size }, (_, i) =>
    makeMessage({
      id: `m${start + i}`,
      dateTime: new Date(now - 1000 + ((start + i) % 1000)).toISOString(),
      title: `Order ${start + i} could not be found in the warehouse ${(start + i) * 7919}`,
      detail: `Error: Order ${start + i}\n    at handler (/app/routes/orders.js:${(start + i) % 97}:5)\n    at next (/app/node_modules/express/lib/router.js:1:1)`,
    }),
  );
}

/** Appends batches back to back (never yielding to the event loop between them) until `done` or a bound. */
async function appendUntil(store: SqliteStore, done: () => boolean, maxBatches = 3000, maxMs = 20_000, from = 0): Promise<number> {
  const start = Date.now();
  let n = from;
  for (let b = 0; b < maxBatches && Date.now() - start < maxMs; b++) {
    await store.append(batch(n, 50));
    n += 50;
    if (done()) break;
  }
  return n - from;
}

describe('SqliteStore checkpointer thread', () => {
  it('restarts the WAL under a continuous stream, with the writer never checkpointing, and loses nothing', async () => {
    const file = tempFile();
    const store = await SqliteStore.open(file, { autoPruneMs: false, walRestartPages: 64 });
    try {
      expect(store.checkpointStats()).toBeUndefined(); // started by the first write
      const restarts = (): number => readFileSync(`${file}-wal`).readUInt32BE(12);
      let appended = await appendUntil(store, () => connection(store).pragma('wal_autocheckpoint', { simple: true }) === 0);
      const before = restarts();
      appended += await appendUntil(store, () => (store.checkpointStats()?.holds ?? 0) >= 3 && restarts() > before, 3000, 20_000, appended);
      const stats = store.checkpointStats()!;
      expect(stats.holds).toBeGreaterThanOrEqual(3);
      expect(stats.passes).toBeGreaterThan(stats.holds);
      expect(connection(store).pragma('wal_autocheckpoint', { simple: true })).toBe(0);
      // Each restart (the WAL written again from its start) bumps the checkpoint sequence number in its header;
      // with the writer's own checkpoints off, the thread's holds are what restarted it.
      expect(restarts()).toBeGreaterThan(before);
      expect((await store.search({ size: 1 })).total).toBe(appended);
    } finally {
      await store.close();
    }
    // Closed: everything was copied back and the WAL removed; a new connection reads every message.
    expect(existsSync(`${file}-wal`)).toBe(false);
    const again = await SqliteStore.open(file, { autoPruneMs: false, checkpointThread: false });
    try {
      const r = await again.search({ size: 1 });
      expect(r.total).toBeGreaterThan(0);
      expect(r.messages[0]!.title).toMatch(/^Order \d+ could not be found/);
    } finally {
      await again.close();
    }
  });

  it('hands checkpoints back to SQLite when the thread ends unexpectedly', async () => {
    const store = await SqliteStore.open(tempFile(), { autoPruneMs: false });
    try {
      await appendUntil(store, () => connection(store).pragma('wal_autocheckpoint', { simple: true }) === 0, 400);
      expect(connection(store).pragma('wal_autocheckpoint', { simple: true })).toBe(0);
      const worker = (store.checkpointStats() &&
        (store as unknown as { checkpointer: { worker: { terminate(): Promise<number> } } }).checkpointer.worker)!;
      await worker.terminate();
      await new Promise((r) => setTimeout(r, 50));
      expect(connection(store).pragma('wal_autocheckpoint', { simple: true })).toBeGreaterThan(0);
      // Writes go on, now checkpointed by SQLite in the commits.
      await store.append(batch(1_000_000, 10));
      expect(await store.get('default', 'm1000009')).toBeDefined();
    } finally {
      await store.close();
    }
  });

  it('runs no thread when turned off, for :memory: or for a Database the caller passed', async () => {
    const off = await SqliteStore.open(tempFile(), { autoPruneMs: false, checkpointThread: false });
    const memory = await SqliteStore.open(':memory:', { autoPruneMs: false });
    const db = new Database(tempFile());
    const passed = await SqliteStore.open(db, { autoPruneMs: false });
    try {
      for (const s of [off, memory, passed]) {
        await s.append(batch(0, 20));
        expect(s.checkpointStats()).toBeUndefined();
      }
      expect(connection(off).pragma('wal_autocheckpoint', { simple: true })).toBeGreaterThan(0);
    } finally {
      await off.close();
      await memory.close();
      await passed.close();
      db.close();
    }
  });
});
