// The record from any thrown value: a corpus of hostile values, each giving exactly one stored message,
// and the size limits with their visible truncation markers.
import vm from 'node:vm';
import request from 'supertest';
import type { Request, Response } from 'express';
import { fitMessage, limitList } from '../../src/capture/limits';
import { truncate } from '../../src/model/truncate';
import { buildMessage, correlationIdOf, typeOf } from '../../src/capture/record';
import { createRedactor } from '../../src/model/redact';
import { MAX_FORM_BYTES, MAX_MESSAGE_BYTES, STRING_FIELDS, normalizeMessage } from '../../src/model/message';
import { createApp, expressMajor, httpError } from '../helpers/app';
import { closeLoggers, createMemoryLogger, storedMessages } from '../helpers/capture';

afterEach(closeLoggers);

const TEN_MB = 10 * 1024 * 1024;

function withGetter<T extends object>(target: T, prop: string): T {
  Object.defineProperty(target, prop, {
    get() {
      throw new Error(`getter ${prop} throws`);
    },
    enumerable: true,
    configurable: true,
  });
  return target;
}

/** The hostile corpus: a name and a factory (fresh value per use). */
function corpus(): [string, () => unknown][] {
  return [
    ['null', () => null],
    ['undefined', () => undefined],
    ['string', () => 'a plain string'],
    ['empty string', () => ''],
    ['number', () => 42],
    ['NaN', () => NaN],
    ['Infinity', () => -Infinity],
    ['zero', () => 0],
    ['true', () => true],
    ['false', () => false],
    ['BigInt', () => 12345678901234567890n],
    ['Symbol', () => Symbol('sym')],
    ['Symbol without description', () => Symbol()],
    ['plain object', () => ({ a: 1 })],
    ['object with message', () => ({ message: 'plain object message', code: 'E_PLAIN' })],
    ['empty array', () => []],
    ['array', () => [1, 'two', { three: 3 }, 4n]],
    ['function', () => function namedFn() {}],
    [
      'class instance',
      () =>
        new (class Widget {
          size = 3;
        })(),
    ],
    ['null-prototype object', () => Object.assign(Object.create(null) as object, { x: 1 })],
    ['error with throwing message getter', () => withGetter(new Error('x'), 'message')],
    ['error with throwing stack getter', () => withGetter(new Error('stackless'), 'stack')],
    ['object with throwing getter', () => withGetter({ ok: 1 }, 'boom')],
    [
      'object with throwing toString',
      () => ({
        toString() {
          throw new Error('toString');
        },
        valueOf() {
          throw new Error('valueOf');
        },
      }),
    ],
    [
      'object with throwing toJSON',
      () => ({
        toJSON() {
          throw new Error('toJSON');
        },
      }),
    ],
    [
      'object with throwing Symbol.toPrimitive',
      () => ({
        [Symbol.toPrimitive]() {
          throw new Error('prim');
        },
      }),
    ],
    [
      'circular object',
      () => {
        const o: Record<string, unknown> = { name: 'loop' };
        o.self = o;
        return o;
      },
    ],
    [
      'error with circular property',
      () => {
        const e = new Error('circular prop') as Error & { self?: unknown };
        e.self = { back: e };
        return e;
      },
    ],
    [
      'error with number message',
      () => {
        const e = new Error('x');
        (e as unknown as { message: number }).message = 42;
        return e;
      },
    ],
    [
      'error with object message',
      () => {
        const e = new Error('x');
        (e as unknown as { message: object }).message = { nested: true };
        return e;
      },
    ],
    [
      'error with object stack',
      () => {
        const e = new Error('odd stack');
        (e as unknown as { stack: object }).stack = { not: 'a string' };
        return e;
      },
    ],
    [
      'error without stack',
      () => {
        const e = new Error('no stack');
        e.stack = undefined;
        return e;
      },
    ],
    ['10 MB error message', () => new Error('m'.repeat(TEN_MB))],
    ['10 MB string', () => 's'.repeat(TEN_MB)],
    [
      'cause cycle',
      () => {
        const a = new Error('a') as Error & { cause?: unknown };
        const b = new Error('b', { cause: a });
        a.cause = b;
        return a;
      },
    ],
    [
      'deep cause chain',
      () => {
        let e = new Error('root');
        for (let i = 0; i < 200; i++) e = new Error(`level ${i}`, { cause: e });
        return e;
      },
    ],
    ['non-error cause', () => new Error('with cause', { cause: { reason: 'string cause', n: 1n } })],
    ['AggregateError', () => new AggregateError([new Error('first'), 'second', null, new TypeError('third')], 'many failed')],
    ['nested AggregateError', () => new AggregateError([new AggregateError([new Error('inner')], 'inner agg')], 'outer agg')],
    [
      'AggregateError with 1000 members',
      () =>
        new AggregateError(
          Array.from({ length: 1000 }, (_, i) => new Error(`m${i}`)),
          'wide',
        ),
    ],
    ['cross-realm error', () => vm.runInNewContext('new TypeError("from another realm")')],
    ['cross-realm object', () => vm.runInNewContext('({ message: "realm object", deep: { x: [1, 2] } })')],
    [
      'revoked proxy',
      () => {
        const p = Proxy.revocable({}, {});
        p.revoke();
        return p.proxy;
      },
    ],
    [
      'proxy whose traps throw',
      () =>
        new Proxy(
          {},
          {
            get() {
              throw new Error('get');
            },
            ownKeys() {
              throw new Error('keys');
            },
            getPrototypeOf() {
              throw new Error('proto');
            },
            has() {
              throw new Error('has');
            },
          },
        ),
    ],
    [
      'proxy over an error whose traps throw',
      () =>
        new Proxy(new Error('proxied'), {
          get() {
            throw new Error('get');
          },
          ownKeys() {
            throw new Error('keys');
          },
        }),
    ],
    ['http-errors 404', () => httpError(404, 'Not Found')],
    ['http-errors 503', () => httpError(503, 'Service Unavailable')],
    ['error with bad status', () => Object.assign(new Error('bad status'), { status: 'abc', statusCode: 99999 })],
    [
      'renamed Error',
      () => {
        const e = new Error('invalid input');
        e.name = 'ValidationError';
        return e;
      },
    ],
    ['subclass', () => new (class PaymentError extends Error {})('card declined')],
    [
      'error with non-string name',
      () => {
        const e = new Error('weird name');
        (e as unknown as { name: object }).name = {};
        return e;
      },
    ],
    ['frozen error', () => Object.freeze(new Error('frozen'))],
    ['error with throwing constructor getter', () => withGetter(new Error('ctor'), 'constructor')],
    ['error with throwing cause getter', () => withGetter(new Error('cause getter'), 'cause')],
    ['Date', () => new Date(0)],
    ['invalid Date', () => new Date(NaN)],
    ['RegExp', () => /re/g],
    ['Promise', () => Promise.resolve(1)],
    ['Map', () => new Map([['k', 'v']])],
    ['Buffer', () => Buffer.from('bytes')],
    ['DOMException', () => new DOMException('aborted', 'AbortError')],
    ['error with 5 MB property', () => Object.assign(new Error('big prop'), { payload: 'p'.repeat(5 * 1024 * 1024) })],
    ['object with 10k keys', () => Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, i]))],
    ['control characters and lone surrogates', () => new Error('nul \u0000 bell \u0007 lone \ud800 end')],
    [
      'deeply nested object',
      () => {
        let o: Record<string, unknown> = { leaf: true };
        for (let i = 0; i < 5000; i++) o = { o };
        return o;
      },
    ],
  ];
}

const fakeReq = {
  method: 'GET',
  url: '/corpus?x=1',
  originalUrl: '/corpus?x=1',
  headers: { host: 'localhost' },
  socket: { remoteAddress: '127.0.0.1' },
} as unknown as Request;
const fakeRes = {} as Response;

describe('hostile values', () => {
  let unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  beforeAll(() => process.on('unhandledRejection', onUnhandled));
  afterAll(() => process.removeListener('unhandledRejection', onUnhandled));
  beforeEach(() => {
    unhandled = [];
  });

  it(`has at least 40 values`, () => {
    expect(corpus().length).toBeGreaterThanOrEqual(40);
  });

  it('each value through the middleware gives exactly one stored message, next(value) and no crash', async () => {
    const { store, logger, errors } = await createMemoryLogger({ filter: () => true });
    const values = corpus();
    for (const [name, make] of values) {
      const value = make();
      let passed: unknown = 'not called';
      logger(value, fakeReq, fakeRes, (err?: unknown) => {
        passed = err;
      });
      expect([name, passed === value || (Number.isNaN(passed) && Number.isNaN(value))]).toEqual([name, true]);
    }
    expect(await logger.flush(10_000)).toBe(true);
    const messages = await storedMessages(store);
    expect(logger.stats()).toEqual({ queued: 0, sent: values.length, kept: values.length, counted: 0, dropped: 0, failed: 0, lost: 0 });
    expect(messages).toHaveLength(values.length);
    expect(errors).toEqual([]);
    const byTitle = (part: string): (typeof messages)[number] => messages.find((m) => m.title.includes(part))!;
    for (const m of messages) {
      expect(() => normalizeMessage(m, m.log)).not.toThrow();
      expect(Buffer.byteLength(JSON.stringify(m))).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    }
    const types = messages.map((m) => m.type);
    expect(types.slice(0, 13)).toEqual([
      'null',
      'undefined',
      'string',
      'string',
      'number',
      'number',
      'number',
      'number',
      'boolean',
      'boolean',
      'bigint',
      'symbol',
      'symbol',
    ]);
    expect(messages[10]!.title).toBe('12345678901234567890');
    expect(messages[11]!.title).toBe('Symbol(sym)');
    expect(byTitle('from another realm')).toMatchObject({ type: 'TypeError' });
    expect(byTitle('from another realm').detail).toContain('TypeError: from another realm');
    expect(byTitle('many failed').detail).toMatch(
      /\[errors 0\] Error: first[\s\S]*\[errors 1\] string: second[\s\S]*\[errors 3\] TypeError: third/,
    );
    expect(byTitle('outer agg').detail).toContain('Error: inner');
    expect(byTitle('wide').detail).toContain('[… 980 more errors]');
    const cycle = messages.find((m) => m.title === 'a')!;
    expect(cycle.detail).toContain('Caused by: Error: b');
    expect(cycle.detail).toContain('[Circular cause]');
    expect(byTitle('level 199').detail).toContain('deeper causes left out');
    expect(byTitle('with cause').detail).toContain('Caused by: object: {"reason":"string cause","n":1n}');
    const huge = messages.find((m) => m.title.startsWith('mmmm'))!;
    expect(huge.title.length).toBeLessThanOrEqual(STRING_FIELDS.title);
    expect(huge.title).toMatch(/…\[truncated \d+ bytes\]$/);
    expect(huge.detail).toMatch(/…\[truncated \d+ bytes\]/);
    expect(huge.detail).toContain('    at ');
    expect(huge.source).toMatch(/record\.test\.ts:\d+:\d+$/);
    expect(messages.find((m) => m.title.startsWith('ssss'))!.title).toMatch(/truncated/);
    expect(byTitle('Not Found')).toMatchObject({ statusCode: 404, type: 'HttpError' });
    expect(byTitle('Not Found').data).toEqual(
      expect.arrayContaining([
        { key: 'status', value: '404' },
        { key: 'expose', value: 'true' },
      ]),
    );
    expect(byTitle('bad status').statusCode).toBe(500);
    expect(byTitle('invalid input').type).toBe('ValidationError');
    expect(byTitle('card declined').type).toBe('PaymentError');
    expect(byTitle('circular prop').data).toEqual([{ key: 'self', value: '{"back":"[Error: circular prop]"}' }]);
    expect(messages.find((m) => m.title.includes('"self":"[Circular]"'))).toBeDefined();
    expect(byTitle('big prop').data[0]!.value).toMatch(/…\[truncated \d+ bytes\]$/);
    expect(messages.find((m) => m.type === 'DOMException')).toMatchObject({ title: 'aborted' });
    expect(new Set(messages.map((m) => m.id)).size).toBe(values.length);
    await new Promise((r) => setImmediate(r));
    expect(unhandled).toEqual([]);
  });

  it(`each truthy value thrown from a route (Express ${expressMajor}) gives one stored message and the usual response`, async () => {
    const values = corpus().filter(([, make]) => Boolean(make()));
    let i = 0;
    const { store, logger } = await createMemoryLogger({ filter: () => true });
    const app = createApp({ logger, value: () => values[i]![1]() });
    for (; i < values.length; i++) {
      const res = await request(app).get('/value');
      expect([values[i]![0], res.status >= 400]).toEqual([values[i]![0], true]);
    }
    await logger.flush(10_000);
    expect(await storedMessages(store)).toHaveLength(values.length);
    expect(unhandled).toEqual([]);
  });
});

describe('record fields', () => {
  const redactor = createRedactor();
  const ctx = { log: 'default', severity: 'Error' as const, redactor };

  it('type words for non-errors and constructor names for errors', () => {
    expect([typeOf(null), typeOf(undefined), typeOf('s'), typeOf(1), typeOf(1n), typeOf(Symbol()), typeOf({}), typeOf([])]).toEqual([
      'null',
      'undefined',
      'string',
      'number',
      'bigint',
      'symbol',
      'object',
      'array',
    ]);
    expect(typeOf(new TypeError('x'))).toBe('TypeError');
    expect(typeOf(new (class Foo {})())).toBe('Foo');
  });

  it('correlation id from traceparent (trace-id), else x-request-id', () => {
    expect(correlationIdOf({ traceparent: '00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01' })).toBe(
      '0af7651916cd43dd8448eb211c80319c',
    );
    expect(correlationIdOf({ traceparent: 'garbage', 'x-request-id': ' abc ' })).toBe('abc');
    expect(correlationIdOf({})).toBeUndefined();
  });

  it('the fingerprint groups the same error from the same place, whatever the message', () => {
    const make = (n: number): Error => new Error(`order ${n} failed`);
    const a = buildMessage(make(1), undefined, ctx);
    const b = buildMessage(make(2), undefined, ctx);
    const c = buildMessage(new TypeError('order 1 failed'), undefined, ctx);
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(a.fingerprint).not.toBe(c.fingerprint);
    expect(buildMessage('id 41 missing', undefined, ctx).fingerprint).toBe(buildMessage('id 42 missing', undefined, ctx).fingerprint);
  });

  it('severity and category come from the context', () => {
    expect(buildMessage(new Error('x'), undefined, { ...ctx, severity: 'Fatal', category: 'uncaughtException' })).toMatchObject({
      severity: 'Fatal',
      category: 'uncaughtException',
    });
  });
});

describe('size limits', () => {
  it('truncate() marks the cut with the number of bytes removed and never splits a surrogate pair', () => {
    const cut = truncate('a'.repeat(100), 50);
    expect(cut.length).toBeLessThanOrEqual(50);
    expect(cut).toMatch(/^a+…\[truncated \d+ bytes\]$/);
    const removed = Number(/(\d+) bytes/.exec(cut)![1]);
    expect(cut.indexOf('…') + removed).toBe(100);
    const emoji = truncate('😀'.repeat(100), 61);
    expect(emoji).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
    expect(truncate('short', 50)).toBe('short');
  });

  it('a form list is cut to 10 KiB with a marker entry', () => {
    const list = Array.from({ length: 500 }, (_, i) => ({ key: `field${i}`, value: 'v'.repeat(100) }));
    const cut = limitList(list, MAX_FORM_BYTES);
    expect(Buffer.byteLength(JSON.stringify(cut))).toBeLessThanOrEqual(MAX_FORM_BYTES);
    expect(cut.at(-1)).toEqual({ key: '…', value: expect.stringMatching(/^\[truncated \d+ bytes\]$/) });
  });

  it('a posted 900 KB body is stored as at most 10 KiB of form, marked', async () => {
    const { store, logger } = await createMemoryLogger();
    await request(createApp({ logger }))
      .post('/form')
      .type('form')
      .send(`note=${'n'.repeat(900 * 1024)}&other=kept%3F`)
      .expect(500);
    await logger.flush(5000);
    const [m] = await storedMessages(store);
    expect(Buffer.byteLength(JSON.stringify(m!.form))).toBeLessThanOrEqual(MAX_FORM_BYTES);
    expect(m!.form[0]!.key).toBe('note');
    expect(m!.form[0]!.value).toMatch(/^n+…\[truncated \d+ bytes\]$/);
    expect(m!.form.map((kv) => kv.key)).toEqual(['note', 'other']);
    expect(m!.jsonBody).toBeUndefined();
  });

  it('a posted 900 KB JSON body is kept as typed JSON of at most 16 KiB, each cut marked', async () => {
    const { store, logger } = await createMemoryLogger();
    const body = { note: 'n'.repeat(900 * 1024), items: Array.from({ length: 500 }, (_, i) => ({ sku: i, qty: 2 })), other: 'kept' };
    await request(createApp({ logger })).post('/form').send(body).expect(500);
    await logger.flush(5000);
    const [m] = await storedMessages(store);
    expect(m!.form).toEqual([]);
    expect(m!.jsonBody!.length).toBeLessThanOrEqual(16_384);
    const parsed = JSON.parse(m!.jsonBody!) as { note: string; items: unknown[]; other: string };
    expect(parsed.note).toMatch(/^n+…\[truncated \d+ bytes\]$/);
    expect(parsed.items[0]).toEqual({ sku: 0, qty: 2 });
    expect(parsed.items.at(-1)).toMatch(/^\[… \d+ more items\]$/);
    expect(parsed.other).toBe('kept');
  });

  it('a message larger than 256 KiB is cut, largest part first, and still passes normalizeMessage', () => {
    const err = new Error('many props') as Error & Record<string, unknown>;
    for (let i = 0; i < 150; i++) err[`prop${i}`] = `${i}:`.padEnd(8000, 'x');
    err.stack = `Error: many props\n${'    at fn (/app/src/a.js:1:1)\n'.repeat(20_000)}`;
    const m = fitMessage(buildMessage(err, undefined, { log: 'default', severity: 'Error', redactor: createRedactor() }));
    const size = Buffer.byteLength(JSON.stringify(m));
    expect(size).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(() => normalizeMessage(m, 'default')).not.toThrow();
    expect(m.detail!.length).toBeLessThanOrEqual(STRING_FIELDS.detail);
    expect(m.detail).toMatch(/…\[truncated \d+ bytes\]$/);
    expect(m.data.at(-1)).toEqual({ key: '…', value: expect.stringMatching(/^\[truncated \d+ bytes\]$/) });
  });

  it('multi-byte text that fits in characters but not in bytes is cut to the byte budget', () => {
    const err = new Error('wide');
    err.stack = `Error: wide\n${'    at 函数 (/app/源/文件.js:1:1)\n'.repeat(12_000)}`;
    const m = fitMessage(buildMessage(err, undefined, { log: 'default', severity: 'Error', redactor: createRedactor() }));
    expect(Buffer.byteLength(JSON.stringify(m))).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(() => normalizeMessage(m, 'default')).not.toThrow();
  });
});
