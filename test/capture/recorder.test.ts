// The recorder on its own, without Express: what it hands the shipper for a thrown value and a plain
// request-like object, how filter and beforeLog shape that, and how their failures are reported.
import type { Request } from 'express';
import { Recorder, type OccurrenceSink, type RecorderOptions } from '../../src/capture/recorder';
import type { Admission, Occurrence } from '../../src/capture/queue';
import type { ElmahError } from '../../src/model/errors';
import type { ErrorMessage } from '../../src/model/message';

/** A stand-in for the shipper: keeps what it is given, and admits as told. */
function createSink(admission: Admission = 'keep'): OccurrenceSink & { queued: ErrorMessage[]; counted: Occurrence[]; admit: Admission } {
  const sink = {
    admit: admission,
    queued: [] as ErrorMessage[],
    counted: [] as Occurrence[],
    admission: () => sink.admit,
    enqueue: (m: ErrorMessage) => {
      if (sink.admit !== 'keep') return false;
      sink.queued.push(m);
      return true;
    },
    count: (o: Occurrence) => {
      sink.counted.push(o);
      return true;
    },
  };
  return sink;
}

/** A recorder over a fresh sink; what it reports goes to `errors`. */
function createRecorder(options: Partial<RecorderOptions> = {}, admission?: Admission) {
  const sink = createSink(admission);
  const errors: ElmahError[] = [];
  const recorder = new Recorder({ log: 'shop', severity: 'Error', sink, report: (e) => errors.push(e), ...options });
  return { recorder, sink, errors };
}

/** What buildMessage reads of a request, as a plain object. */
function fakeRequest(overrides: Record<string, unknown> = {}): Request {
  return {
    method: 'POST',
    originalUrl: '/orders/7?page=2&token=abc123',
    headers: { host: 'shop.example', authorization: 'Bearer s3cret', 'user-agent': 'agent/1.0', 'x-request-id': 'req-9' },
    body: { item: 'book', password: 'hunter2' },
    ip: '10.0.0.1',
    route: { path: '/orders/:id' },
    ...overrides,
  } as unknown as Request;
}

const KEY = 'elmah_abcdefgh_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI';

describe('Recorder.record', () => {
  it('queues one redacted, fingerprinted record of the error and its request, and returns its id', () => {
    const { recorder, sink, errors } = createRecorder({ application: 'shop-api', version: '1.2.3' });
    const err = Object.assign(new TypeError('Order 7 failed'), { status: 502 });
    const id = recorder.record(err, fakeRequest());
    expect(sink.queued).toHaveLength(1);
    const m = sink.queued[0]!;
    expect(id).toBe(m.id);
    expect(m).toMatchObject({
      log: 'shop',
      severity: 'Error',
      title: 'Order 7 failed',
      type: 'TypeError',
      statusCode: 502,
      method: 'POST',
      url: '/orders/7?page=2&token=[Filtered]',
      application: 'shop-api',
      version: '1.2.3',
      correlationId: 'req-9',
    });
    expect(m.fingerprint).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const vars = Object.fromEntries(m.serverVariables.map((kv) => [kv.key, kv.value]));
    expect(vars.authorization).toBe('[Filtered]');
    expect(vars['user-agent']).toBe('agent/1.0');
    expect(m.form).toEqual([
      { key: 'item', value: 'book' },
      { key: 'password', value: '[Filtered]' },
    ]);
    expect(errors).toEqual([]);
  });

  it('records without a request, with the severity and category it is given', () => {
    const { recorder, sink } = createRecorder({ severity: 'Warning' });
    recorder.record('plain string thrown', undefined);
    recorder.record(new Error('fatal one'), undefined, 'Fatal', 'uncaughtException');
    expect(sink.queued.map((m) => [m.title, m.type, m.severity, m.category, m.url])).toEqual([
      ['plain string thrown', 'string', 'Warning', undefined, undefined],
      ['fatal one', 'Error', 'Fatal', 'uncaughtException', undefined],
    ]);
  });

  it("never lets the logger's own key out, even when beforeLog adds it", () => {
    // Without source lines: this test's own lines spell out part of the key's text.
    const { recorder, sink } = createRecorder({
      key: KEY,
      sourceContext: false,
      beforeLog: (m) => ({ ...m, title: `${m.title} with ${KEY}` }),
    });
    recorder.record(new Error(`connect failed for ${KEY}`), fakeRequest({ headers: { 'x-debug': KEY } }));
    expect(sink.queued).toHaveLength(1);
    expect(JSON.stringify(sink.queued[0])).not.toContain('c2VjcmV0c2VjcmV0');
  });

  it('when the queue can only count: hands over an occurrence of the same group, without a full record', () => {
    const keep = createRecorder();
    const err = new RangeError('stock is negative');
    keep.recorder.record(err, fakeRequest());
    const { recorder, sink } = createRecorder({}, 'count');
    expect(recorder.record(err, fakeRequest())).toBeUndefined();
    expect(sink.queued).toEqual([]);
    expect(sink.counted).toHaveLength(1);
    expect(sink.counted[0]).toMatchObject({
      log: 'shop',
      title: 'stock is negative',
      type: 'RangeError',
      statusCode: 500,
      fingerprint: keep.sink.queued[0]!.fingerprint,
    });
  });

  it('returns undefined when the sink does not keep the message in full', () => {
    const { recorder, sink } = createRecorder({ beforeLog: (m) => m }, 'drop');
    expect(recorder.record(new Error('late'), undefined)).toBeUndefined();
    expect(sink.queued).toEqual([]);
  });

  it('reports a failure of its own as ERR_ELMAH_DROPPED and never throws', () => {
    const { recorder, sink, errors } = createRecorder();
    sink.enqueue = () => {
      throw new Error('sink broke');
    };
    expect(recorder.record(new Error('x'), fakeRequest())).toBeUndefined();
    expect(errors.map((e) => [e.code, e.message])).toEqual([['ERR_ELMAH_DROPPED', 'An error could not be recorded: Error: sink broke']]);
  });
});

describe('Recorder.shouldLog', () => {
  it('by default logs status >= 500 and errors without a status', () => {
    const { recorder } = createRecorder();
    const req = fakeRequest();
    expect([undefined, 400, 404, 500, 503].map((status) => recorder.shouldLog(Object.assign(new Error('e'), { status }), req))).toEqual([
      true,
      false,
      false,
      true,
      true,
    ]);
    expect(recorder.shouldLog('a string', req)).toBe(true);
  });

  it('asks filter when there is one', () => {
    const seen: unknown[] = [];
    const { recorder } = createRecorder({
      filter: (err, req) => {
        seen.push(req.method);
        // Only `false` skips: a filter that answers nothing keeps the error.
        return (err as Error).message === 'skip' ? false : (undefined as unknown as boolean);
      },
    });
    expect(recorder.shouldLog(new Error('skip'), fakeRequest())).toBe(false);
    expect(recorder.shouldLog(Object.assign(new Error('keep'), { status: 404 }), fakeRequest())).toBe(true);
    expect(seen).toEqual(['POST', 'POST']);
  });

  it('a throwing filter is reported with its code and the error is logged', () => {
    const { recorder, errors } = createRecorder({
      filter: () => {
        throw new Error('filter bug');
      },
    });
    expect(recorder.shouldLog(Object.assign(new Error('e'), { status: 404 }), fakeRequest())).toBe(true);
    expect(errors.map((e) => [e.code, e.message])).toEqual([
      ['ERR_ELMAH_HOOK_FAILED', 'filter threw; the error is logged: Error: filter bug'],
    ]);
  });
});

describe('beforeLog', () => {
  it('edits the message, and its edit is scrubbed and fitted before it is queued', () => {
    const { recorder, sink } = createRecorder({
      beforeLog: (m) => ({ ...m, title: `edited: ${m.title}`, detail: 'x'.repeat(400_000), data: [{ key: 'apiToken', value: 'abc' }] }),
    });
    const id = recorder.record(new Error('original'), fakeRequest());
    const m = sink.queued[0]!;
    expect(id).toBe(m.id);
    expect(m.title).toBe('edited: original');
    expect(m.detail!.length).toBeLessThan(400_000);
    expect(m.detail).toContain('…[truncated');
    expect(m.data).toEqual([{ key: 'apiToken', value: '[Filtered]' }]);
  });

  it('sees the message, the thrown value and the request; null or false drops the message', () => {
    const calls: [string, unknown, unknown][] = [];
    const req = fakeRequest();
    const err = new Error('drop me');
    const { recorder, sink } = createRecorder({
      beforeLog: (m, e, r) => {
        calls.push([m.title, e, r]);
        return calls.length === 1 ? null : false;
      },
    });
    expect(recorder.record(err, req)).toBeUndefined();
    expect(recorder.record(err, undefined)).toBeUndefined();
    expect(calls).toEqual([
      ['drop me', err, req],
      ['drop me', err, undefined],
    ]);
    expect(sink.queued).toEqual([]);
  });

  it('still sees an occurrence that would only be counted, and may drop it', () => {
    const { recorder, sink } = createRecorder({ beforeLog: () => null }, 'count');
    recorder.record(new Error('storm'), undefined);
    expect(sink.queued).toEqual([]);
    expect(sink.counted).toEqual([]);
  });

  it('may answer asynchronously: the id is returned at once and the edit is queued when it settles', async () => {
    const { recorder, sink } = createRecorder({ beforeLog: async (m) => ({ ...m, category: 'checkout' }) });
    const id = recorder.record(new Error('async'), undefined);
    expect(typeof id).toBe('string');
    expect(sink.queued).toEqual([]);
    expect(await recorder.settle(1000)).toBeGreaterThan(0);
    expect(sink.queued.map((m) => [m.id, m.category])).toEqual([[id, 'checkout']]);
  });

  it('a throwing beforeLog is reported with its code and the message is logged unedited', () => {
    const { recorder, sink, errors } = createRecorder({
      beforeLog: () => {
        throw new Error('hook bug');
      },
    });
    const id = recorder.record(new Error('still logged'), fakeRequest());
    expect(sink.queued.map((m) => [m.id, m.title])).toEqual([[id, 'still logged']]);
    expect(errors.map((e) => [e.code, e.message])).toEqual([
      ['ERR_ELMAH_HOOK_FAILED', 'beforeLog threw; the message is logged unedited: Error: hook bug'],
    ]);
  });

  it('a rejecting beforeLog is reported with its code and the message is logged unedited', async () => {
    const { recorder, sink, errors } = createRecorder({ beforeLog: async () => Promise.reject(new Error('async hook bug')) });
    recorder.record(new Error('still logged'), undefined);
    await recorder.settle(1000);
    expect(sink.queued.map((m) => m.title)).toEqual(['still logged']);
    expect(errors.map((e) => [e.code, e.message])).toEqual([
      ['ERR_ELMAH_HOOK_FAILED', 'beforeLog rejected; the message is logged unedited: Error: async hook bug'],
    ]);
  });

  it('an async beforeLog that returns malformed breadcrumbs and source windows still gets its message logged', async () => {
    const { recorder, sink, errors } = createRecorder({
      beforeLog: async (m) => {
        const edited = m as unknown as Record<string, unknown>;
        edited.breadcrumbs = [{ message: 'hi' }, null, 'text', { action: 7, message: { nested: true }, data: 'x' }];
        edited.sourceContext = [{ file: 'a.js', line: 1, startLine: 1 }, 42];
        return m;
      },
    });
    const id = recorder.record(new Error('kept'), undefined);
    await recorder.settle(1000);
    expect(errors).toEqual([]);
    expect(sink.queued.map((m) => m.id)).toEqual([id]);
    const m = sink.queued[0]!;
    expect(m.breadcrumbs?.map((b) => [b.action, b.message, b.data])).toEqual([
      ['', 'hi', undefined],
      ['7', '', undefined],
    ]);
    expect(m.sourceContext?.map((c) => [c.file, c.lines])).toEqual([['a.js', []]]);
  });

  it('a failure after an async beforeLog is reported as a dropped message, not left as an unhandled rejection', async () => {
    const { recorder, sink, errors } = createRecorder({ beforeLog: async (m) => m });
    sink.enqueue = () => {
      throw new Error('queue broke');
    };
    recorder.record(new Error('lost'), undefined);
    await recorder.settle(1000);
    expect(errors.map((e) => [e.code, e.message])).toEqual([
      ['ERR_ELMAH_DROPPED', 'An error could not be recorded after beforeLog: Error: queue broke'],
    ]);
  });

  it('settle() gives up on a hook that never answers', async () => {
    const { recorder, sink } = createRecorder({ beforeLog: () => new Promise(() => undefined) });
    recorder.record(new Error('hangs'), undefined);
    await expect(recorder.settle(10)).resolves.toBeLessThan(10);
    expect(sink.queued).toEqual([]);
  });
});
