// The shipper against fake clients: batching, transient retry with backoff, Retry-After, 400/413 drops,
// 401/403 stop, full-queue drops and the dropped-count notice on a later message.
import type { ClientAppendResult } from '../../src/client/types';
import { Shipper, classifyFailure, type ShipperOptions } from '../../src/capture/queue';
import { createReporter } from '../../src/capture/report';
import { ElmahError } from '../../src/model/errors';
import type { ErrorMessage } from '../../src/model/message';
import { makeMessage } from '../helpers/messages';
import { created, fakeClient, until } from './util';

const shippers: Shipper[] = [];
afterEach(async () => {
  await Promise.all(shippers.splice(0).map((s) => s.close(200)));
});

function shipper(append: (batch: readonly unknown[]) => Promise<ClientAppendResult[]>, options: Partial<ShipperOptions> = {}): { s: Shipper; reports: ElmahError[]; loud: ElmahError[] } {
  const client = fakeClient(append);
  const reports: ElmahError[] = [];
  const loud: ElmahError[] = [];
  const s = new Shipper({
    client: async () => client,
    report: (e, isLoud) => (isLoud ? loud : reports).push(e),
    queueSize: 1000,
    batchSize: 100,
    flushIntervalMs: 0,
    maxRetries: 3,
    maxBackoffMs: 1000,
    timeoutMs: 2000,
    baseBackoffMs: 10,
    random: () => 1,
    ...options,
  });
  shippers.push(s);
  return { s, reports, loud };
}

const messages = (n: number): ErrorMessage[] => Array.from({ length: n }, () => makeMessage());

describe('Shipper', () => {
  it('ships in batches of at most batchSize, one append at a time', async () => {
    const sizes: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const { s } = shipper(async (batch) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      sizes.push(batch.length);
      await new Promise((r) => setTimeout(r, 2));
      inFlight--;
      return created(batch);
    });
    for (const m of messages(250)) s.enqueue(m);
    expect(await s.flush(5000)).toBe(true);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(250);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(100);
    expect(maxInFlight).toBe(1);
    expect(s.stats()).toEqual({ queued: 0, sent: 250, dropped: 0, failed: 0 });
  });

  it('gathers a batch for flushIntervalMs when set', async () => {
    const sizes: number[] = [];
    const { s } = shipper(async (batch) => (sizes.push(batch.length), created(batch)), { flushIntervalMs: 50 });
    for (const m of messages(5)) s.enqueue(m);
    await new Promise((r) => setTimeout(r, 10));
    for (const m of messages(5)) s.enqueue(m);
    await until(() => s.stats().sent === 10);
    expect(sizes).toEqual([10]);
  });

  it('retries transient failures with growing backoff, then succeeds without losing or duplicating', async () => {
    const times: number[] = [];
    const ids: string[] = [];
    const { s, reports } = shipper(async (batch) => {
      times.push(Date.now());
      if (times.length <= 3) throw new ElmahError('ERR_ELMAH_STORE_BUSY', 'busy', { transient: true });
      ids.push(...batch.map((m) => (m as ErrorMessage).id));
      return created(batch);
    });
    const sent = messages(3);
    for (const m of sent) s.enqueue(m);
    expect(await s.flush(5000)).toBe(true);
    expect(times).toHaveLength(4);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // random() = 1: 10, 20, 40 ms.
    expect(gaps[0]).toBeGreaterThanOrEqual(9);
    expect(gaps[1]).toBeGreaterThanOrEqual(19);
    expect(gaps[2]).toBeGreaterThanOrEqual(39);
    expect(ids).toEqual(sent.map((m) => m.id));
    expect(s.stats()).toEqual({ queued: 0, sent: 3, dropped: 0, failed: 0 });
    expect(reports[0]!.code).toBe('ERR_ELMAH_SHIP_FAILED');
  });

  it('backoff has jitter: half to all of the exponential delay', async () => {
    const times: number[] = [];
    const { s } = shipper(async (batch) => {
      times.push(Date.now());
      if (times.length === 1) throw new ElmahError('ERR_ELMAH_REMOTE', 'down', { transient: true, status: 503 });
      return created(batch);
    }, { baseBackoffMs: 200, random: () => 0 });
    s.enqueue(makeMessage());
    await s.flush(5000);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(99);
  });

  it('honours Retry-After on 429', async () => {
    const times: number[] = [];
    const { s } = shipper(async (batch) => {
      times.push(Date.now());
      if (times.length === 1) throw new ElmahError('ERR_ELMAH_RATE_LIMITED', 'slow down', { status: 429, retryAfter: 0.3 });
      return created(batch);
    });
    s.enqueue(makeMessage());
    expect(await s.flush(5000)).toBe(true);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(295);
  });

  it('drops a batch refused with 400 (with a reason) and announces the count on the next shipped message', async () => {
    let calls = 0;
    const got: ErrorMessage[] = [];
    const { s, reports } = shipper(async (batch) => {
      calls++;
      if (calls === 1) throw new ElmahError('ERR_ELMAH_INVALID_MESSAGE', 'Invalid message: title required.', { status: 400 });
      got.push(...(batch as ErrorMessage[]));
      return created(batch);
    });
    for (const m of messages(2)) s.enqueue(m);
    await s.flush(2000);
    s.enqueue(makeMessage());
    await s.flush(2000);
    expect(s.stats()).toEqual({ queued: 0, sent: 1, dropped: 2, failed: 0 });
    expect(reports.map((r) => r.code)).toEqual(['ERR_ELMAH_DROPPED']);
    expect(reports[0]!.message).toContain('title required');
    expect(got[0]!.data).toEqual(expect.arrayContaining([
      { key: 'elmah.dropped', value: '2' },
      { key: 'elmah.droppedReason', value: expect.stringContaining('rejected (ERR_ELMAH_INVALID_MESSAGE): 2') },
    ]));
  });

  it('splits a batch refused with 413, and drops a single message refused with 413', async () => {
    const sizes: number[] = [];
    const { s } = shipper(async (batch) => {
      sizes.push(batch.length);
      if (batch.length > 3 || (batch[0] as ErrorMessage).title === 'too big') throw new ElmahError('ERR_ELMAH_TOO_LARGE', 'too large', { status: 413 });
      return created(batch);
    });
    for (const m of messages(10)) s.enqueue(m);
    await s.flush(5000);
    expect(s.stats()).toMatchObject({ sent: 10, dropped: 0 });
    s.enqueue(makeMessage({ title: 'too big' }));
    await s.flush(5000);
    expect(s.stats()).toMatchObject({ sent: 10, dropped: 1 });
    expect(sizes[0]).toBe(10);
  });

  it('drops items the store rejects one by one and counts the rest as sent', async () => {
    const { s, reports } = shipper(async (batch) =>
      batch.map((m, i) => (i === 1 ? { id: (m as ErrorMessage).id, status: 'rejected' as const, error: { code: 'ERR_ELMAH_INVALID_MESSAGE', message: 'bad field' } } : { id: (m as ErrorMessage).id, status: 'created' as const })),
    );
    for (const m of messages(3)) s.enqueue(m);
    await s.flush(2000);
    expect(s.stats()).toEqual({ queued: 0, sent: 2, dropped: 1, failed: 0 });
    expect(reports[0]!.message).toContain('bad field');
  });

  it.each([
    ['401', new ElmahError('ERR_ELMAH_KEY_INVALID', 'API key abcdefgh was revoked.')],
    ['403', new ElmahError('ERR_ELMAH_PERMISSION', 'API key lacks messages_write.')],
    ['HTTP 401 from a collector', new ElmahError('ERR_ELMAH_REMOTE', 'unauthorized', { status: 401 })],
  ])('stops shipping on %s, reports it once loudly and drops everything after', async (_name, error) => {
    let calls = 0;
    const { s, loud } = shipper(async () => {
      calls++;
      throw error;
    });
    for (const m of messages(5)) s.enqueue(m);
    await s.flush(2000);
    for (const m of messages(5)) s.enqueue(m);
    await s.flush(2000);
    expect(calls).toBe(1);
    expect(s.stats()).toEqual({ queued: 0, sent: 0, dropped: 10, failed: 0 });
    expect(loud).toHaveLength(1);
    expect(loud[0]!.code).toBe(error.code);
    expect(loud[0]!.message).toContain('Error logging stopped');
    expect(s.stopped?.code).toBe(error.code);
  });

  it('a full queue drops the newest, counts them, reports once, and a later message tells how many', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const got: ErrorMessage[] = [];
    const { s, reports } = shipper(async (batch) => {
      await gate;
      got.push(...(batch as ErrorMessage[]));
      return created(batch);
    }, { queueSize: 5, batchSize: 2 });
    const first = messages(12);
    const accepted = first.map((m) => s.enqueue(m));
    expect(accepted).toEqual([true, true, true, true, true, false, false, false, false, false, false, false]);
    expect(s.stats()).toEqual({ queued: 5, sent: 0, dropped: 7, failed: 0 });
    release();
    await s.flush(2000);
    s.enqueue(makeMessage({ title: 'after the storm' }));
    await s.flush(2000);
    expect(s.stats()).toEqual({ queued: 0, sent: 6, dropped: 7, failed: 0 });
    expect(got.map((m) => m.id).slice(0, 5)).toEqual(first.slice(0, 5).map((m) => m.id));
    const notice = got.find((m) => m.data.some((kv) => kv.key === 'elmah.dropped'))!;
    expect(notice.data).toEqual(expect.arrayContaining([{ key: 'elmah.dropped', value: '7' }, { key: 'elmah.droppedReason', value: '7 earlier message(s) were not stored (queue full: 7)' }]));
    expect(got.filter((m) => m.data.some((kv) => kv.key === 'elmah.dropped'))).toHaveLength(1);
    expect(reports.filter((r) => r.code === 'ERR_ELMAH_QUEUE_FULL')).toHaveLength(7);
  });

  it('retries unknown errors maxRetries times, then counts the batch as failed and moves on', async () => {
    let calls = 0;
    const { s, reports } = shipper(async (batch) => {
      calls++;
      if (calls <= 4) throw new TypeError('driver bug');
      return created(batch);
    }, { maxRetries: 3 });
    for (const m of messages(2)) s.enqueue(m);
    await s.flush(5000);
    expect(calls).toBe(4);
    expect(s.stats()).toEqual({ queued: 0, sent: 0, dropped: 0, failed: 2 });
    expect(reports.at(-1)!.message).toMatch(/Gave up on 2 message\(s\) after 4 tries: .*TypeError: driver bug/);
    s.enqueue(makeMessage());
    await s.flush(5000);
    expect(s.stats()).toMatchObject({ sent: 1, failed: 2 });
  });

  it('an append that hangs times out and counts as failed after the retries', async () => {
    const { s, reports } = shipper(() => new Promise(() => undefined), { timeoutMs: 30, maxRetries: 1 });
    s.enqueue(makeMessage());
    expect(await s.flush(5000)).toBe(true);
    expect(s.stats()).toEqual({ queued: 0, sent: 0, dropped: 0, failed: 1 });
    expect(reports.some((r) => r.message.includes('did not answer within 30 ms'))).toBe(true);
  });

  it('flush resolves false at the deadline and close drops what is left', async () => {
    const { s } = shipper(() => new Promise(() => undefined), { timeoutMs: 10_000 });
    s.enqueue(makeMessage());
    s.enqueue(makeMessage());
    expect(await s.flush(50)).toBe(false);
    expect(await s.close(50)).toBe(false);
    expect(s.enqueue(makeMessage())).toBe(false);
    expect(s.stats().dropped).toBe(1);
  });

  it('a client that cannot be had stops shipping', async () => {
    const reports: ElmahError[] = [];
    const s = new Shipper({
      client: () => Promise.reject(new ElmahError('ERR_ELMAH_KEY_MISSING', 'No API key was given.')),
      report: (e) => reports.push(e),
      queueSize: 10, batchSize: 10, flushIntervalMs: 0, maxRetries: 1, maxBackoffMs: 10, timeoutMs: 100,
    });
    shippers.push(s);
    s.enqueue(makeMessage());
    await s.flush(1000);
    expect(s.stats()).toEqual({ queued: 0, sent: 0, dropped: 1, failed: 0 });
    expect(reports.map((r) => r.code)).toEqual(['ERR_ELMAH_KEY_MISSING']);
  });
});

describe('classifyFailure', () => {
  it('follows the shipping contract', () => {
    const e = (code: ConstructorParameters<typeof ElmahError>[0], o: ConstructorParameters<typeof ElmahError>[2] = {}): ElmahError => new ElmahError(code, 'x', o);
    expect(classifyFailure(e('ERR_ELMAH_KEY_MISSING'))).toBe('stop');
    expect(classifyFailure(e('ERR_ELMAH_KEY_INVALID'))).toBe('stop');
    expect(classifyFailure(e('ERR_ELMAH_PERMISSION'))).toBe('stop');
    expect(classifyFailure(e('ERR_ELMAH_REMOTE', { status: 403 }))).toBe('stop');
    expect(classifyFailure(e('ERR_ELMAH_STORE_BUSY'))).toBe('retry');
    expect(classifyFailure(e('ERR_ELMAH_RATE_LIMITED', { retryAfter: 3 }))).toBe('retry');
    expect(classifyFailure(e('ERR_ELMAH_REMOTE', { status: 502 }))).toBe('retry');
    expect(classifyFailure(e('ERR_ELMAH_REMOTE', { transient: true }))).toBe('retry');
    expect(classifyFailure(e('ERR_ELMAH_STORE_UNAVAILABLE'))).toBe('retry');
    expect(classifyFailure(e('ERR_ELMAH_TOO_LARGE'), 5)).toBe('split');
    expect(classifyFailure(e('ERR_ELMAH_TOO_LARGE'), 1)).toBe('reject');
    expect(classifyFailure(e('ERR_ELMAH_INVALID_MESSAGE'))).toBe('reject');
    expect(classifyFailure(e('ERR_ELMAH_TIMEOUT'))).toBe('bounded');
    expect(classifyFailure(e('ERR_ELMAH_STORE_CORRUPT'))).toBe('bounded');
    expect(classifyFailure(new Error('ECONNRESET'))).toBe('bounded');
    expect(classifyFailure('a string')).toBe('bounded');
  });
});

describe('createReporter', () => {
  it('passes the first failure of a code on, counts the rest for a while, and lets loud ones through', () => {
    let t = 0;
    const seen: string[] = [];
    const report = createReporter((e) => seen.push(`${e.code} ${e.message}`), 1000, () => t);
    for (let i = 0; i < 50; i++) report(new ElmahError('ERR_ELMAH_SHIP_FAILED', 'down'));
    report(new ElmahError('ERR_ELMAH_QUEUE_FULL', 'full'));
    report(new ElmahError('ERR_ELMAH_PERMISSION', 'stopped'), true);
    t = 1500;
    report(new ElmahError('ERR_ELMAH_SHIP_FAILED', 'down'));
    expect(seen).toEqual([
      'ERR_ELMAH_SHIP_FAILED down',
      'ERR_ELMAH_QUEUE_FULL full',
      'ERR_ELMAH_PERMISSION stopped',
      'ERR_ELMAH_SHIP_FAILED down (49 more like this were not shown)',
    ]);
  });

  it('ignores a throwing hook', () => {
    const report = createReporter(() => {
      throw new Error('hook');
    });
    expect(report(new ElmahError('ERR_ELMAH_DROPPED', 'x'))).toBeUndefined();
  });
});
