// The shipper against fake clients: batching, transient retry with backoff, Retry-After, 400/413 handling,
// 401/403 stop, counting what cannot be kept in full (tallies: folding, bounds, retries) and the notice of
// what was lost on a later message.
import type { ClientAppendResult } from '../../src/client/types';
import { Shipper, classifyFailure, type Occurrence, type ShipperOptions, type ShipperStats } from '../../src/capture/queue';
import { createReporter } from '../../src/capture/report';
import { ElmahError } from '../../src/model/errors';
import type { ErrorMessage } from '../../src/model/message';
import type { OccurrenceTally } from '../../src/model/tally';
import { makeMessage } from '../helpers/messages';
import { createdResults, createFakeClient, waitUntil } from '../helpers/capture';

const shippers: Shipper[] = [];
afterEach(async () => {
  await Promise.all(shippers.splice(0).map((s) => s.close(200)));
});

function shipper(
  append: (batch: readonly unknown[]) => Promise<ClientAppendResult[]>,
  options: Partial<ShipperOptions> = {},
  tally?: (tallies: readonly unknown[]) => Promise<ClientAppendResult[]>,
): { s: Shipper; reports: ElmahError[]; loud: ElmahError[] } {
  const client = createFakeClient(append, undefined, tally);
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

/** Full stats from the counters that matter; `sent` and `lost` follow from them. */
function counters(c: Partial<{ queued: number; kept: number; counted: number; dropped: number; failed: number }>): ShipperStats {
  const { queued = 0, kept = 0, counted = 0, dropped = 0, failed = 0 } = c;
  return { queued, sent: kept + counted, kept, counted, dropped, failed, lost: dropped + failed };
}

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
      return createdResults(batch);
    });
    for (const m of messages(250)) s.enqueue(m);
    expect(await s.flush(5000)).toBe(true);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(250);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(100);
    expect(maxInFlight).toBe(1);
    expect(s.stats()).toEqual(counters({ kept: 250 }));
  });

  it('gathers a batch for flushIntervalMs when set', async () => {
    const sizes: number[] = [];
    const { s } = shipper(async (batch) => (sizes.push(batch.length), createdResults(batch)), { flushIntervalMs: 50 });
    for (const m of messages(5)) s.enqueue(m);
    await new Promise((r) => setTimeout(r, 10));
    for (const m of messages(5)) s.enqueue(m);
    await waitUntil(() => s.stats().sent === 10);
    expect(sizes).toEqual([10]);
  });

  it('retries transient failures with growing backoff, then succeeds without losing or duplicating', async () => {
    const times: number[] = [];
    const ids: string[] = [];
    const { s, reports } = shipper(async (batch) => {
      times.push(Date.now());
      if (times.length <= 3) throw new ElmahError('ERR_ELMAH_STORE_BUSY', 'busy', { transient: true });
      ids.push(...batch.map((m) => (m as ErrorMessage).id));
      return createdResults(batch);
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
    expect(s.stats()).toEqual(counters({ kept: 3 }));
    expect(reports[0]!.code).toBe('ERR_ELMAH_SHIP_FAILED');
  });

  it('backoff has jitter: half to all of the exponential delay', async () => {
    const times: number[] = [];
    const { s } = shipper(
      async (batch) => {
        times.push(Date.now());
        if (times.length === 1) throw new ElmahError('ERR_ELMAH_REMOTE', 'down', { transient: true, status: 503 });
        return createdResults(batch);
      },
      { baseBackoffMs: 200, random: () => 0 },
    );
    s.enqueue(makeMessage());
    await s.flush(5000);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(99);
  });

  it('honours Retry-After on 429', async () => {
    const times: number[] = [];
    const { s } = shipper(async (batch) => {
      times.push(Date.now());
      if (times.length === 1) throw new ElmahError('ERR_ELMAH_RATE_LIMITED', 'slow down', { status: 429, retryAfter: 0.3 });
      return createdResults(batch);
    });
    s.enqueue(makeMessage());
    expect(await s.flush(5000)).toBe(true);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(295);
  });

  it('counts a batch refused with 400 instead of keeping it, with a reason; lost counts go on the next shipped message', async () => {
    let calls = 0;
    const got: ErrorMessage[] = [];
    const tallied: OccurrenceTally[] = [];
    const { s, reports } = shipper(
      async (batch) => {
        calls++;
        if (calls === 1) throw new ElmahError('ERR_ELMAH_INVALID_MESSAGE', 'Invalid message: title required.', { status: 400 });
        got.push(...(batch as ErrorMessage[]));
        return createdResults(batch);
      },
      {},
      async (t) => {
        tallied.push(...(t as OccurrenceTally[]));
        return createdResults(t);
      },
    );
    const refused = messages(2);
    for (const m of refused) s.enqueue(m);
    await s.flush(2000);
    expect(s.stats()).toEqual(counters({ counted: 2 }));
    expect(tallied.reduce((n, t) => n + t.count, 0)).toBe(2);
    expect(tallied[0]).toMatchObject({ log: 'default', fingerprint: refused[0]!.fingerprint, title: refused[1]!.title });
    expect(reports.map((r) => r.code)).toEqual(['ERR_ELMAH_DROPPED']);
    expect(reports[0]!.message).toContain('title required');
    s.enqueue(makeMessage());
    await s.flush(2000);
    // Counted occurrences are not announced as lost.
    expect(got[0]!.data.some((kv) => kv.key === 'elmah.dropped')).toBe(false);
  });

  it('a tally refused with 400 is dropped, reported, and announced on the next shipped message', async () => {
    let calls = 0;
    const got: ErrorMessage[] = [];
    const { s, reports } = shipper(
      async (batch) => {
        calls++;
        if (calls === 1) throw new ElmahError('ERR_ELMAH_INVALID_MESSAGE', 'bad message', { status: 400 });
        got.push(...(batch as ErrorMessage[]));
        return createdResults(batch);
      },
      {},
      async () => {
        throw new ElmahError('ERR_ELMAH_INVALID_MESSAGE', 'Invalid tally: count must be a positive integer.', { status: 400 });
      },
    );
    for (const m of messages(2)) s.enqueue(m);
    await s.flush(2000);
    s.enqueue(makeMessage());
    await s.flush(2000);
    expect(s.stats()).toEqual(counters({ kept: 1, dropped: 2 }));
    expect(reports.map((r) => r.code)).toEqual(['ERR_ELMAH_DROPPED', 'ERR_ELMAH_DROPPED']);
    expect(got[0]!.data).toEqual(
      expect.arrayContaining([
        { key: 'elmah.dropped', value: '2' },
        { key: 'elmah.droppedReason', value: expect.stringContaining('count rejected (ERR_ELMAH_INVALID_MESSAGE): 2') },
      ]),
    );
  });

  it('splits a batch refused with 413, and drops a single message refused with 413', async () => {
    const sizes: number[] = [];
    const { s } = shipper(async (batch) => {
      sizes.push(batch.length);
      if (batch.length > 3 || (batch[0] as ErrorMessage).title === 'too big')
        throw new ElmahError('ERR_ELMAH_TOO_LARGE', 'too large', { status: 413 });
      return createdResults(batch);
    });
    for (const m of messages(10)) s.enqueue(m);
    await s.flush(5000);
    expect(s.stats()).toMatchObject({ kept: 10, dropped: 0 });
    s.enqueue(makeMessage({ title: 'too big' }));
    await s.flush(5000);
    expect(s.stats()).toEqual(counters({ kept: 10, counted: 1 }));
    expect(sizes[0]).toBe(10);
  });

  it('counts items the store rejects one by one, and keeps the rest', async () => {
    const { s, reports } = shipper(async (batch) =>
      batch.map((m, i) =>
        i === 1
          ? { id: (m as ErrorMessage).id, status: 'rejected' as const, error: { code: 'ERR_ELMAH_INVALID_MESSAGE', message: 'bad field' } }
          : { id: (m as ErrorMessage).id, status: 'created' as const },
      ),
    );
    for (const m of messages(3)) s.enqueue(m);
    await s.flush(2000);
    expect(s.stats()).toEqual(counters({ kept: 2, counted: 1 }));
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
    expect(s.stats()).toEqual(counters({ dropped: 10 }));
    expect(loud).toHaveLength(1);
    expect(loud[0]!.code).toBe(error.code);
    expect(loud[0]!.message).toContain('Error logging stopped');
    expect(s.stopped?.code).toBe(error.code);
  });

  it('a full queue counts the newest instead of keeping them, reports it, and writes them as one tally', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const got: ErrorMessage[] = [];
    const tallied: OccurrenceTally[] = [];
    const { s, reports } = shipper(
      async (batch) => {
        await gate;
        got.push(...(batch as ErrorMessage[]));
        return createdResults(batch);
      },
      { queueSize: 5, batchSize: 2 },
      async (t) => (tallied.push(...(t as OccurrenceTally[])), createdResults(t)),
    );
    const first = messages(12);
    const accepted = first.map((m) => s.enqueue(m));
    expect(accepted).toEqual([true, true, true, true, true, false, false, false, false, false, false, false]);
    expect(s.stats()).toEqual(counters({ queued: 12 }));
    release();
    expect(await s.flush(2000)).toBe(true);
    expect(s.stats()).toEqual(counters({ kept: 5, counted: 7 }));
    expect(got.map((m) => m.id)).toEqual(first.slice(0, 5).map((m) => m.id));
    // One group: one tally with the seven occurrences, named after the newest.
    expect(tallied).toHaveLength(1);
    expect(tallied[0]).toMatchObject({
      count: 7,
      fingerprint: first[11]!.fingerprint,
      title: first[11]!.title,
      firstSeen: first[5]!.dateTime,
      lastSeen: first[11]!.dateTime,
    });
    expect(got.some((m) => m.data.some((kv) => kv.key === 'elmah.dropped'))).toBe(false);
    // Reported once for the burst (at most one report a second is made; the reporter rate-limits further).
    expect(reports.filter((r) => r.code === 'ERR_ELMAH_QUEUE_FULL')).toHaveLength(1);
  });

  it('retries unknown errors maxRetries times, then counts the batch as failed and moves on', async () => {
    let calls = 0;
    const { s, reports } = shipper(
      async (batch) => {
        calls++;
        if (calls <= 4) throw new TypeError('driver bug');
        return createdResults(batch);
      },
      { maxRetries: 3 },
    );
    for (const m of messages(2)) s.enqueue(m);
    await s.flush(5000);
    expect(calls).toBe(4);
    // Not kept in full, but counted: the tally goes through.
    expect(s.stats()).toEqual(counters({ counted: 2 }));
    expect(reports.at(-1)!.message).toMatch(
      /Gave up on keeping 2 message\(s\) in full after 4 tries; they are counted instead: .*TypeError: driver bug/,
    );
    s.enqueue(makeMessage());
    await s.flush(5000);
    expect(s.stats()).toEqual(counters({ kept: 1, counted: 2 }));
  });

  it('a store that hangs: appends and then tallies time out, and count as failed after the retries', async () => {
    const hang = (): Promise<never> => new Promise(() => undefined);
    const { s, reports } = shipper(hang, { timeoutMs: 30, maxRetries: 1 }, hang);
    s.enqueue(makeMessage());
    expect(await s.flush(5000)).toBe(true);
    expect(s.stats()).toEqual(counters({ failed: 1 }));
    expect(reports.some((r) => r.message.includes('did not answer within 30 ms'))).toBe(true);
  });

  it('flush resolves false at the deadline and close drops what is left', async () => {
    const { s } = shipper(() => new Promise(() => undefined), { timeoutMs: 10_000 });
    s.enqueue(makeMessage());
    s.enqueue(makeMessage());
    expect(await s.flush(50)).toBe(false);
    expect(await s.close(50)).toBe(false);
    expect(s.enqueue(makeMessage())).toBe(false);
    expect(s.stats()).toEqual(counters({ queued: 2, dropped: 1 }));
  });

  it('a client that cannot be had stops shipping', async () => {
    const reports: ElmahError[] = [];
    const s = new Shipper({
      client: () => Promise.reject(new ElmahError('ERR_ELMAH_KEY_MISSING', 'No API key was given.')),
      report: (e) => reports.push(e),
      queueSize: 10,
      batchSize: 10,
      flushIntervalMs: 0,
      maxRetries: 1,
      maxBackoffMs: 10,
      timeoutMs: 100,
    });
    shippers.push(s);
    s.enqueue(makeMessage());
    await s.flush(1000);
    expect(s.stats()).toEqual(counters({ dropped: 1 }));
    expect(reports.map((r) => r.code)).toEqual(['ERR_ELMAH_KEY_MISSING']);
  });
});

describe('Shipper: counting what cannot be kept in full', () => {
  const at = Date.UTC(2026, 0, 1, 12, 0, 0);
  const occ = (group: string, i: number, log = 'default'): Occurrence => ({
    log,
    fingerprint: `fp-${group}`,
    time: at + i * 1000,
    title: `${group} ${i}`,
    type: 'Error',
    statusCode: 500,
  });

  it('folds occurrences into one tally per group, written as one tally() per interval', async () => {
    const calls: OccurrenceTally[][] = [];
    const { s } = shipper(
      async (b) => createdResults(b),
      { tallyIntervalMs: 30 },
      async (t) => (calls.push([...(t as OccurrenceTally[])]), createdResults(t)),
    );
    for (let i = 0; i < 90; i++) s.count(occ(['a', 'b', 'c'][i % 3]!, i));
    s.count(occ('a', 90, 'other-log'));
    expect(s.stats()).toEqual(counters({ queued: 91 }));
    await waitUntil(() => s.stats().counted === 91);
    expect(calls).toHaveLength(1);
    const byGroup = new Map(calls[0]!.map((t) => [`${t.log}/${t.fingerprint}`, t]));
    expect([...byGroup.keys()].sort()).toEqual(['default/fp-a', 'default/fp-b', 'default/fp-c', 'other-log/fp-a']);
    const a = byGroup.get('default/fp-a')!;
    expect(a).toMatchObject({
      count: 30,
      firstSeen: new Date(at).toISOString(),
      lastSeen: new Date(at + 87_000).toISOString(),
      title: 'a 87',
      type: 'Error',
      statusCode: 500,
    });
    // 0–59 s in the first minute, 60–87 s in the second.
    expect(a.minutes).toEqual([
      [new Date(at).toISOString(), 20],
      [new Date(at + 60_000).toISOString(), 10],
    ]);
    expect(s.stats()).toEqual(counters({ counted: 91 }));
  });

  it('holds at most maxGroups groups: an occurrence of a further group is dropped, reported and announced', async () => {
    const got: ErrorMessage[] = [];
    const { s, reports } = shipper(async (b) => (got.push(...(b as ErrorMessage[])), createdResults(b)), { maxGroups: 2 });
    expect(s.count(occ('a', 1))).toBe(true);
    expect(s.count(occ('b', 2))).toBe(true);
    expect(s.count(occ('c', 3))).toBe(false);
    expect(s.count(occ('a', 4))).toBe(true);
    expect(await s.flush(2000)).toBe(true);
    expect(s.stats()).toEqual(counters({ counted: 3, dropped: 1 }));
    expect(reports.map((r) => r.code)).toEqual(['ERR_ELMAH_DROPPED']);
    s.enqueue(makeMessage());
    await s.flush(2000);
    expect(got[0]!.data).toEqual(expect.arrayContaining([{ key: 'elmah.dropped', value: '1' }]));
    // Once written, the bound is free again.
    expect(s.count(occ('c', 5))).toBe(true);
  });

  it('retries a tally after transient failures with the same id, and never merges later occurrences into it', async () => {
    const calls: OccurrenceTally[][] = [];
    const { s } = shipper(
      async (b) => createdResults(b),
      { tallyIntervalMs: 10 },
      async (t) => {
        calls.push([...(t as OccurrenceTally[])]);
        if (calls.length <= 2) {
          // Arrives while the first tally waits for its retry.
          s.count(occ('a', 100 + calls.length));
          throw new ElmahError('ERR_ELMAH_STORE_BUSY', 'busy', { transient: true });
        }
        return createdResults(t);
      },
    );
    for (let i = 0; i < 5; i++) s.count(occ('a', i));
    expect(await s.flush(5000)).toBe(true);
    expect(calls[0]!.map((t) => t.count)).toEqual([5]);
    expect(calls[1]).toEqual(calls[0]);
    expect(calls[2]).toEqual(calls[0]);
    expect(calls[3]!.map((t) => t.count)).toEqual([2]);
    expect(calls[3]![0]!.id).not.toBe(calls[0]![0]!.id);
    expect(s.stats()).toEqual(counters({ counted: 7 }));
  });

  it('a tally refused with 401 stops shipping: everything held is dropped', async () => {
    const { s, loud } = shipper(
      async (b) => createdResults(b),
      {},
      async () => {
        throw new ElmahError('ERR_ELMAH_KEY_INVALID', 'API key abcdefgh was revoked.', { status: 401 });
      },
    );
    s.count(occ('a', 1));
    s.count(occ('b', 2));
    await s.flush(2000);
    expect(s.stats()).toEqual(counters({ dropped: 2 }));
    expect(loud.map((e) => e.code)).toEqual(['ERR_ELMAH_KEY_INVALID']);
    expect(s.admission()).toBe('drop');
  });

  it('while shipping backs off, at most one batch is kept in full; the rest is counted, and all of it lands', async () => {
    let down = true;
    const { s } = shipper(
      async (b) => {
        if (down) throw new ElmahError('ERR_ELMAH_STORE_UNAVAILABLE', 'down', { transient: true });
        return createdResults(b);
      },
      { batchSize: 3, baseBackoffMs: 20 },
      async (t) => {
        if (down) throw new ElmahError('ERR_ELMAH_STORE_UNAVAILABLE', 'down', { transient: true });
        return createdResults(t);
      },
    );
    for (const m of messages(3)) s.enqueue(m);
    await waitUntil(() => s.admission() === 'count');
    expect(messages(4).map((m) => s.enqueue(m))).toEqual([false, false, false, false]);
    down = false;
    expect(await s.flush(5000)).toBe(true);
    expect(s.stats()).toEqual(counters({ kept: 3, counted: 4 }));
    expect(s.admission()).toBe('keep');
  });

  it('while closing, new occurrences are counted and written before close resolves', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const { s } = shipper(async (b) => (await gate, createdResults(b)));
    s.enqueue(makeMessage());
    const closing = s.close(5000);
    expect(s.admission()).toBe('count');
    expect(s.enqueue(makeMessage())).toBe(false);
    s.count(occ('a', 1));
    release();
    expect(await closing).toBe(true);
    expect(s.stats()).toEqual(counters({ kept: 1, counted: 2 }));
    expect(s.admission()).toBe('drop');
  });
});

describe('classifyFailure', () => {
  it('follows the shipping contract', () => {
    const e = (code: ConstructorParameters<typeof ElmahError>[0], o: ConstructorParameters<typeof ElmahError>[2] = {}): ElmahError =>
      new ElmahError(code, 'x', o);
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
    const report = createReporter(
      (e) => seen.push(`${e.code} ${e.message}`),
      1000,
      () => t,
    );
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
