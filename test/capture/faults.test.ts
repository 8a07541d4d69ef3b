// Faults: a store that throws, one that hangs and one that is always busy. The app keeps answering, the
// queue stays bounded, what cannot be kept in full is still counted into its group, stats() accounts for
// every error, and onError hears about it without a flood.
import request from 'supertest';
import { errorLogger } from '../../src/capture/logger';
import { ElmahError } from '../../src/model/errors';
import type { ErrorMessage } from '../../src/model/message';
import type { AppendResult } from '../../src/stores/types';
import { MemoryStore } from '../../src/stores/memory';
import { createApp } from '../helpers/app';
import { withKeys } from '../helpers/keys';
import { closeLoggers, trackLogger } from '../helpers/capture';

afterEach(closeLoggers);

class ThrowingStore extends MemoryStore {
  calls = 0;
  override async append(_messages: readonly ErrorMessage[]): Promise<AppendResult[]> {
    this.calls++;
    throw new Error('disk on fire');
  }
}

class HangingStore extends MemoryStore {
  calls = 0;
  override append(_messages: readonly ErrorMessage[]): Promise<AppendResult[]> {
    this.calls++;
    return new Promise(() => undefined);
  }
}

class BusyStore extends MemoryStore {
  override async append(_messages: readonly ErrorMessage[]): Promise<AppendResult[]> {
    throw new ElmahError('ERR_ELMAH_STORE_BUSY', 'database is locked', { transient: true });
  }
}

const TOTAL = 150;

/** Fires TOTAL failing requests and TOTAL succeeding ones, 10 at a time; returns the statuses seen. */
async function hammer(app: ReturnType<typeof createApp>): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < TOTAL; i += 10) {
    const batch = await Promise.all(Array.from({ length: 10 }, (_, j) => request(app).get((i + j) % 2 ? '/ok' : '/throw')));
    statuses.push(...batch.map((r) => r.status));
    const more = await Promise.all(Array.from({ length: 10 }, () => request(app).get('/throw')));
    statuses.push(...more.map((r) => r.status));
  }
  return statuses;
}

describe('a failing store never breaks the app', () => {
  it('a store that throws: every request answered, failures counted, onError rate-limited', async () => {
    const { store, keys } = await withKeys(new ThrowingStore());
    const errors: ElmahError[] = [];
    const logger = trackLogger(
      errorLogger({ store, key: keys.write, onError: (e) => errors.push(e), maxRetries: 1, maxBackoffMs: 5, queueSize: 50 }),
    );
    const app = createApp({ logger });
    const statuses = await hammer(app);
    const failing = statuses.filter((s) => s === 500).length;
    expect(statuses.filter((s) => s === 200)).toHaveLength(TOTAL / 2);
    expect(failing).toBe(TOTAL * 1.5);
    await logger.flush(5000);
    const stats = logger.stats();
    // Appends fail, but the tallies get through: every error is counted into its group.
    expect(stats).toEqual({ queued: 0, sent: failing, kept: 0, counted: failing, dropped: 0, failed: 0, lost: 0 });
    expect((await store.groups({})).groups.reduce((n, g) => n + g.count, 0)).toBe(failing);
    expect(store.calls).toBeGreaterThan(0);
    // One line per kind of failure (and a "more like this" line at most every 10 s), not one per error.
    expect(errors.length).toBeLessThanOrEqual(4);
    expect(errors.some((e) => e.message.includes('disk on fire'))).toBe(true);
  });

  it('a store that hangs on appends: every request answered, no more than queueSize messages held, every error counted', async () => {
    const { store, keys } = await withKeys(new HangingStore());
    const errors: ElmahError[] = [];
    const logger = trackLogger(
      errorLogger({ store, key: keys.write, onError: (e) => errors.push(e), timeoutMs: 30, maxRetries: 0, maxBackoffMs: 5, queueSize: 40 }),
    );
    const app = createApp({ logger });
    const statuses: number[] = [];
    for (let i = 0; i < TOTAL; i += 15) {
      const batch = await Promise.all(Array.from({ length: 15 }, () => request(app).get('/throw')));
      statuses.push(...batch.map((r) => r.status));
    }
    expect(statuses).toEqual(Array(TOTAL).fill(500));
    expect((await request(app).get('/ok')).text).toBe('ok');
    expect(await logger.flush(5000)).toBe(true);
    const stats = logger.stats();
    expect(stats).toEqual({ queued: 0, sent: TOTAL, kept: 0, counted: TOTAL, dropped: 0, failed: 0, lost: 0 });
    expect((await store.groups({})).groups.reduce((n, g) => n + g.count, 0)).toBe(TOTAL);
    // Each hung append held at most one batch; everything else was only counted.
    expect(store.calls).toBeLessThanOrEqual(TOTAL);
    expect(errors.length).toBeLessThanOrEqual(4);
    expect(errors.some((e) => e.code === 'ERR_ELMAH_SHIP_FAILED')).toBe(true);
  });

  it('a store that is always busy for appends: retried without end, the overflow counted, close() counts the rest', async () => {
    const { store, keys } = await withKeys(new BusyStore());
    const errors: ElmahError[] = [];
    const logger = errorLogger({ store, key: keys.write, onError: (e) => errors.push(e), maxBackoffMs: 10, queueSize: 20 });
    const app = createApp({ logger });
    for (let i = 0; i < 60; i++) await request(app).get('/throw').expect(500);
    const during = logger.stats();
    expect(during).toMatchObject({ kept: 0, dropped: 0, failed: 0 });
    expect(during.queued + during.counted).toBe(60);
    // The 20 messages that never got in are counted at close, within its deadline.
    expect(await logger.close(400)).toBe(true);
    expect(logger.stats()).toEqual({ queued: 0, sent: 60, kept: 0, counted: 60, dropped: 0, failed: 0, lost: 0 });
    expect((await store.groups({})).groups.reduce((n, g) => n + g.count, 0)).toBe(60);
    expect(errors.map((e) => e.code).sort()).toEqual(['ERR_ELMAH_QUEUE_FULL', 'ERR_ELMAH_SHIP_FAILED']);
  });

  it('the logger never logs its own failures into the log', async () => {
    const inner = new MemoryStore();
    const { keys } = await withKeys(inner);
    let calls = 0;
    const store = Object.assign(Object.create(inner) as MemoryStore, {
      append: async (messages: readonly ErrorMessage[]) => {
        if (++calls === 1) throw new Error('first try fails');
        return inner.append(messages);
      },
    });
    const logger = trackLogger(errorLogger({ store, key: keys.write, onError: () => undefined, maxBackoffMs: 5 }));
    logger.raise(new Error('the only error'));
    await logger.flush(2000);
    expect(calls).toBe(2);
    const r = await inner.search({ size: 100 });
    expect(r.messages.map((m) => m.title)).toEqual(['the only error']);
  });
});
