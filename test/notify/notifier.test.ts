// The Notifier on its own: rules (new, regressed, spike, every, with their filters), the digest, the
// per-group throttle, bounded queues and retries, through a `handler` channel that records what it gets.
import type { ClientAppendResult } from '../../src/client/types';
import type { ElmahError } from '../../src/model/errors';
import type { Channel } from '../../src/notify/channels';
import { Notifier } from '../../src/notify/notifier';
import { resolveNotify, type NotifyOptions } from '../../src/notify/options';
import type { Notification } from '../../src/notify/types';

interface Made {
  notifier: Notifier;
  got: Notification[];
  errors: ElmahError[];
  clock: { now: number };
}

const open: Notifier[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((n) => n.close(100)));
});

function make(options: Omit<NotifyOptions, 'handler'> = {}, handler?: (n: Notification) => void | Promise<void>): Made {
  const got: Notification[] = [];
  const errors: ElmahError[] = [];
  const clock = { now: Date.parse('2026-01-01T00:00:00Z') };
  const config = resolveNotify('test', { handler: handler ?? ((n) => void got.push(n)), digestSeconds: 0, ...options }, {});
  const notifier = new Notifier(config, { report: (e) => errors.push(e), now: () => clock.now, random: () => 0.5 });
  open.push(notifier);
  return { notifier, got, errors, clock };
}

let seq = 0;
function message(fingerprint: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: `m${++seq}`,
    log: 'shop',
    fingerprint,
    title: `failure in ${fingerprint}`,
    type: 'TypeError',
    dateTime: '2026-01-01T00:00:00.000Z',
    severity: 'Error',
    statusCode: 500,
    ...extra,
  };
}

function created(m: Record<string, unknown>, group?: 'new' | 'regressed'): ClientAppendResult {
  return group ? { id: m.id as string, status: 'created', group } : { id: m.id as string, status: 'created' };
}

describe('Notifier rules', () => {
  it('alerts on a new group and a regression by default, and on nothing else', async () => {
    const { notifier, got } = make({ throttleMinutes: 0 });
    const a = message('fp-a');
    const b = message('fp-b');
    const c = message('fp-a');
    notifier.observe([a, b, c], [created(a, 'new'), created(b, 'regressed'), created(c)]);
    expect(await notifier.flush(2000)).toBe(true);
    expect(got).toHaveLength(1);
    expect(got[0]!.alerts.map((x) => [x.kind, x.fingerprint, x.id])).toEqual([
      ['new', 'fp-a', a.id],
      ['regressed', 'fp-b', b.id],
    ]);
    // A duplicate (a retried append) and a rejected item raise nothing.
    const d = message('fp-c');
    notifier.observe(
      [d, d],
      [
        { id: d.id as string, status: 'duplicate', group: 'new' },
        { status: 'rejected', error: { code: 'X', message: 'x' } },
      ],
    );
    await notifier.flush(2000);
    expect(got).toHaveLength(1);
  });

  it('limits a rule to logs, severities, status codes and a search query', async () => {
    const { notifier, got } = make({
      rules: [
        { on: 'new', logs: ['shop'], severities: ['Error', 'Fatal'], statusCodes: [[500, 599]], query: 'type:TypeError AND checkout' },
      ],
    });
    const hit = message('fp-1', { title: 'checkout broke' });
    const misses = [
      message('fp-2', { title: 'checkout broke', log: 'admin' }),
      message('fp-3', { title: 'checkout broke', severity: 'Warning' }),
      message('fp-4', { title: 'checkout broke', statusCode: 404 }),
      message('fp-5', { title: 'checkout broke', type: 'RangeError' }),
      message('fp-6', { title: 'cart broke' }),
    ];
    const all = [hit, ...misses];
    notifier.observe(
      all,
      all.map((m) => created(m, 'new')),
    );
    await notifier.flush(2000);
    expect(got.flatMap((n) => n.alerts.map((x) => x.fingerprint))).toEqual(['fp-1']);
  });

  it('alerts on a spike of one group once N occurrences fall within M minutes', async () => {
    const { notifier, got, clock } = make({ rules: [{ on: 'spike', count: 3, minutes: 1 }], throttleMinutes: 0 });
    const send = (fp: string): void => {
      const m = message(fp);
      notifier.observe([m], [created(m)]);
    };
    send('fp-s');
    clock.now += 40_000;
    send('fp-s');
    send('fp-other');
    clock.now += 40_000; // the first occurrence is now outside the minute
    send('fp-s');
    await notifier.flush(2000);
    expect(got).toHaveLength(0);
    send('fp-s');
    await notifier.flush(2000);
    expect(got).toHaveLength(1);
    expect(got[0]!.alerts[0]).toMatchObject({ kind: 'spike', fingerprint: 'fp-s', count: 3, minutes: 1 });
    expect(got[0]!.subject).toBe('[shop] Spike: 3 in 1 min: failure in fp-s');
  });

  it('counts a tally (occurrences counted but not kept) into a spike, and alerts on a group a tally made', async () => {
    const { notifier, got } = make({
      rules: [{ on: 'new' }, { on: 'spike', count: 50, minutes: 5 }],
      baseUrl: 'https://ops.example/elmah.axd',
    });
    const tally = {
      id: 't1',
      log: 'shop',
      fingerprint: 'fp-t',
      count: 60,
      firstSeen: '2026-01-01T00:00:00.000Z',
      lastSeen: '2026-01-01T00:00:10.000Z',
      title: 'storm',
      type: 'Error',
      minutes: [],
    };
    notifier.observeTallies([tally], [{ id: 't1', status: 'created', group: 'new' }]);
    const other = { ...tally, id: 't2', fingerprint: 'fp-u' };
    notifier.observeTallies([other], [{ id: 't2', status: 'created' }]);
    await notifier.flush(2000);
    const alerts = got.flatMap((n) => n.alerts);
    expect(alerts.map((a) => [a.kind, a.fingerprint])).toEqual([
      ['new', 'fp-t'],
      ['spike', 'fp-u'],
    ]);
    // No message id: the link goes to the group.
    expect(alerts[0]!.id).toBeUndefined();
    expect(alerts[0]!.link).toBe('https://ops.example/elmah.axd/?view=groups&log=shop&q=fingerprint%3A%22fp-t%22');
  });

  it("sends every occurrence with an 'every' rule (ELMAH's own behaviour)", async () => {
    const { notifier, got } = make({ rules: [{ on: 'every' }], throttleMinutes: 0, digestSeconds: 0 });
    for (let i = 0; i < 3; i++) {
      const m = message('fp-e');
      notifier.observe([m], [created(m)]);
      await notifier.flush(2000);
    }
    expect(got.map((n) => n.alerts[0]!.kind)).toEqual(['occurrence', 'occurrence', 'occurrence']);
  });
});

describe('Notifier throttle and digest', () => {
  it('sends at most one alert per group and event within the throttle window', async () => {
    const { notifier, got, clock } = make({ throttleMinutes: 10 });
    const regress = (): void => {
      const m = message('fp-r');
      notifier.observe([m], [created(m, 'regressed')]);
    };
    regress();
    regress();
    await notifier.flush(2000);
    clock.now += 9 * 60_000;
    regress();
    await notifier.flush(2000);
    expect(got.flatMap((n) => n.alerts)).toHaveLength(1);
    clock.now += 2 * 60_000;
    regress();
    await notifier.flush(2000);
    expect(got.flatMap((n) => n.alerts)).toHaveLength(2);
    expect(notifier.stats()).toMatchObject({ alerts: 4, throttled: 2, sent: 2, omitted: 0 });
  });

  it('turns a storm of new groups into one digest that lists 20 and counts the rest', async () => {
    const { notifier, got } = make({ digestSeconds: 60 });
    const ms = Array.from({ length: 30 }, (_, i) => message(`fp-${i}`));
    notifier.observe(
      ms,
      ms.map((m) => created(m, 'new')),
    );
    await notifier.flush(2000);
    expect(got).toHaveLength(1);
    expect(got[0]!.alerts).toHaveLength(20);
    expect(got[0]!.omitted).toBe(10);
    expect(got[0]!.subject).toBe('[shop] 30 alerts: failure in fp-0 and more');
    expect(notifier.stats()).toMatchObject({ alerts: 30, omitted: 10, sent: 1 });
  });

  it('sends the first alert at once and gathers those within the digest window into the next', async () => {
    const { notifier, got } = make({ digestSeconds: 60 });
    const first = message('fp-1');
    notifier.observe([first], [created(first, 'new')]);
    await new Promise((r) => setTimeout(r, 50));
    expect(got).toHaveLength(1);
    const later = [message('fp-2'), message('fp-3')];
    notifier.observe(
      later,
      later.map((m) => created(m, 'new')),
    );
    await new Promise((r) => setTimeout(r, 50));
    // Held for the window (60 s on the real timer); flush sends it now.
    expect(got).toHaveLength(1);
    expect(notifier.stats().queued).toBe(2);
    await notifier.flush(2000);
    expect(got).toHaveLength(2);
    expect(got[1]!.alerts.map((a) => a.fingerprint)).toEqual(['fp-2', 'fp-3']);
  });

  it('holds at most maxQueue alerts; the rest are counted into the digest as "and N more"', async () => {
    const { notifier, got, errors } = make({ maxQueue: 5, digestSeconds: 60 });
    const first = message('fp-first');
    notifier.observe([first], [created(first, 'new')]);
    await notifier.flush(2000);
    const ms = Array.from({ length: 12 }, (_, i) => message(`fp-${i}`));
    notifier.observe(
      ms,
      ms.map((m) => created(m, 'new')),
    );
    expect(notifier.stats()).toMatchObject({ queued: 12, omitted: 7, dropped: 0 });
    await notifier.flush(2000);
    expect(got).toHaveLength(2);
    expect(got[1]!.alerts).toHaveLength(5);
    expect(got[1]!.omitted).toBe(7);
    expect(got[1]!.subject).toBe('[shop] 12 alerts: failure in fp-0 and more');
    expect(errors).toEqual([]);
  });
});

describe('Notifier sending', () => {
  it('retries a failing channel with backoff and reports ERR_ELMAH_NOTIFY_FAILED after maxAttempts', async () => {
    let calls = 0;
    const { notifier, errors } = make({ maxAttempts: 3, backoffMs: 5 }, () => {
      calls++;
      throw new Error('receiver down');
    });
    const m = message('fp-f');
    notifier.observe([m], [created(m, 'new')]);
    await notifier.flush(5000);
    expect(calls).toBe(3);
    expect(errors.map((e) => e.code)).toEqual(['ERR_ELMAH_NOTIFY_FAILED']);
    expect(errors[0]!.message).toContain('receiver down');
    expect(notifier.stats()).toMatchObject({ failed: 1, sent: 0, queued: 0 });
  });

  it('close() drops what it cannot send within its deadline and says so', async () => {
    const { notifier, errors } = make({ maxAttempts: 1, timeoutMs: 60_000 }, () => new Promise<void>(() => undefined));
    const m = message('fp-h');
    notifier.observe([m], [created(m, 'new')]);
    expect(await notifier.close(100)).toBe(false);
    expect(notifier.stats()).toMatchObject({ dropped: 1, queued: 0 });
    expect(errors.map((e) => e.code)).toEqual(['ERR_ELMAH_NOTIFY_DROPPED']);
    // Closed: further appends raise nothing.
    notifier.observe([message('fp-i')], [created(m, 'new')]);
    expect(notifier.stats().alerts).toBe(1);
  });

  it('close() counts an alert lost by several channels once, and aborts the sends in flight', async () => {
    const signals: AbortSignal[] = [];
    const stuck = (name: string): Channel => ({
      name,
      send: (_n, _ms, signal) => {
        signals.push(signal!);
        return new Promise<void>(() => undefined);
      },
    });
    const errors: ElmahError[] = [];
    const config = resolveNotify('test', { handler: () => undefined, digestSeconds: 0, maxAttempts: 1, timeoutMs: 60_000 }, {});
    const notifier = new Notifier(config, { report: (e) => errors.push(e), channels: [stuck('one'), stuck('two')] });
    const a = message('fp-x');
    const b = message('fp-y');
    notifier.observe([a, b], [created(a, 'new'), created(b, 'new')]);
    expect(await notifier.close(100)).toBe(false);
    // Two alerts in one notification, waiting on two channels: two alerts lost, not four.
    expect(notifier.stats()).toMatchObject({ alerts: 2, dropped: 2, queued: 0 });
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/^2 alert\(s\) were dropped/)]);
    expect(signals).toHaveLength(2);
    expect(signals.every((s) => s.aborted)).toBe(true);
  });

  it('survives a message that is not an object and a throwing handler', async () => {
    const { notifier, errors } = make({ maxAttempts: 1 }, () => {
      throw new Error('boom');
    });
    expect(() => notifier.observe([null, 42], [created({ id: 'a' }, 'new'), created({ id: 'b' }, 'new')])).not.toThrow();
    const m = message('fp-ok');
    notifier.observe([m], [created(m, 'new')]);
    await notifier.flush(2000);
    expect(errors.map((e) => e.code)).toEqual(['ERR_ELMAH_NOTIFY_FAILED']);
  });
});
