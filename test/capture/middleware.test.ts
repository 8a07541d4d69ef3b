// errorLogger() as Express middleware: next(err) always, response untouched, success path untouched,
// options checked at call time, key cases, and the request context of the stored record.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { errorLogger } from '../../src/capture/logger';
import { ElmahConfigError, type ElmahError } from '../../src/model/errors';
import { MemoryStore } from '../../src/stores/memory';
import { createApp, expressMajor } from '../helpers/app';
import { addKey } from '../helpers/keys';
import { closeLoggers, createMemoryLogger, storedMessages, trackLogger } from '../helpers/capture';

afterEach(closeLoggers);

describe(`errorLogger middleware (Express ${expressMajor})`, () => {
  it('is a named error middleware with the controls', async () => {
    const { logger } = await createMemoryLogger();
    expect(logger.name).toBe('errorLoggerMiddleware');
    expect(logger.length).toBe(4);
    expect(typeof logger.raise).toBe('function');
    expect(typeof logger.flush).toBe('function');
    expect(typeof logger.close).toBe('function');
    expect(logger.stats()).toEqual({ queued: 0, sent: 0, kept: 0, counted: 0, dropped: 0, failed: 0, lost: 0 });
    await expect(logger.ready).resolves.toMatchObject({ permissions: ['messages_write'] });
  });

  it('records a thrown error, passes it on and leaves the response as it would be without the logger', async () => {
    const { store, logger } = await createMemoryLogger();
    const withLogger = createApp({ logger });
    const without = createApp();
    for (const path of ['/throw', '/async', '/next', '/status/503']) {
      const a = await request(withLogger).get(path);
      const b = await request(without).get(path);
      expect([a.status, a.text, a.headers['content-type']]).toEqual([b.status, b.text, b.headers['content-type']]);
    }
    await logger.flush(2000);
    const messages = await storedMessages(store);
    expect(messages.map((m) => [m.title, m.type, m.statusCode])).toEqual([
      ['Something broke', 'Error', 500],
      ['Async failure', 'TypeError', 500],
      ['Passed to next', 'RangeError', 500],
      ['Status 503', 'InternalServerError', 503],
    ]);
    expect(logger.stats()).toMatchObject({ queued: 0, sent: 4, dropped: 0, failed: 0 });
  });

  it("keeps Express's own error handler answering as before", async () => {
    const { store, logger } = await createMemoryLogger();
    const res = await request(createApp({ logger, final: 'express' })).get('/throw');
    const plain = await request(createApp({ final: 'express' })).get('/throw');
    expect(res.status).toBe(500);
    expect(res.text).toBe(plain.text);
    await logger.flush(2000);
    expect(await storedMessages(store)).toHaveLength(1);
  });

  it('calls next with the very same error value, and does nothing on requests that do not fail', async () => {
    const { store, logger } = await createMemoryLogger();
    const seen: unknown[] = [];
    const thrown = new Error('identity');
    const app = createApp({
      value: () => thrown,
      logger: [
        logger,
        (err, _req, _res, next) => {
          seen.push(err);
          next(err);
        },
      ],
    });
    const ok = await request(app).get('/ok');
    expect([ok.status, ok.text]).toEqual([200, 'ok']);
    const json = await request(app).get('/json');
    expect(json.body).toEqual({ ok: true });
    expect(json.headers['x-powered-by']).toBe('Express');
    await request(app).get('/value').expect(500);
    expect(seen).toEqual([thrown]);
    expect(seen[0]).toBe(thrown);
    await logger.flush(2000);
    expect((await storedMessages(store)).map((m) => m.title)).toEqual(['identity']);
  });

  it('logs status >= 500 and errors without status by default; filter decides otherwise', async () => {
    const { store, logger } = await createMemoryLogger();
    const app = createApp({ logger });
    await request(app).get('/status/404').expect(404);
    await request(app).get('/status/400').expect(400);
    await request(app).get('/status/502').expect(502);
    await logger.flush(2000);
    expect((await storedMessages(store)).map((m) => m.statusCode)).toEqual([502]);

    const second = await createMemoryLogger({ filter: (err) => (err as { status?: number }).status === 404 });
    const app2 = createApp({ logger: second.logger });
    await request(app2).get('/status/404').expect(404);
    await request(app2).get('/status/500').expect(500);
    await second.logger.flush(2000);
    expect((await storedMessages(second.store)).map((m) => m.statusCode)).toEqual([404]);
  });

  it('a throwing filter is reported and the error is logged anyway', async () => {
    const { store, logger, errors } = await createMemoryLogger({
      filter: () => {
        throw new Error('filter bug');
      },
    });
    await request(createApp({ logger })).get('/throw').expect(500);
    await logger.flush(2000);
    expect(await storedMessages(store)).toHaveLength(1);
    expect(errors.map((e) => [e.code, e.message])).toContainEqual([
      'ERR_ELMAH_HOOK_FAILED',
      'filter threw; the error is logged: Error: filter bug',
    ]);
  });

  it('records an error thrown after the headers were sent', async () => {
    const { store, logger } = await createMemoryLogger();
    const res = await request(createApp({ logger })).get('/after-headers');
    expect(res.status).toBe(200);
    await logger.flush(2000);
    expect((await storedMessages(store)).map((m) => m.title)).toEqual(['After headers']);
  });

  it('raise() records a handled error (ignoring filter) and returns its id', async () => {
    const { store, logger } = await createMemoryLogger({ filter: () => false });
    const id = logger.raise(new Error('handled'));
    expect(typeof id).toBe('string');
    await logger.flush(2000);
    const [m] = await storedMessages(store);
    expect(m).toMatchObject({ id, title: 'handled', severity: 'Error' });
    expect(m!.url).toBeUndefined();
  });

  it('beforeLog may edit or drop a message, also asynchronously', async () => {
    const { store, logger } = await createMemoryLogger({
      beforeLog: async (m, err) => {
        if ((err as Error).message === 'drop me') return null;
        return { ...m, title: `edited: ${m.title}`, category: 'checkout' };
      },
    });
    logger.raise(new Error('keep me'));
    logger.raise(new Error('drop me'));
    await logger.flush(2000);
    expect((await storedMessages(store)).map((m) => [m.title, m.category])).toEqual([['edited: keep me', 'checkout']]);
    expect(logger.stats()).toMatchObject({ sent: 1, dropped: 0 });
  });

  it('a throwing beforeLog is reported and the message is kept unedited', async () => {
    const { store, logger, errors } = await createMemoryLogger({
      beforeLog: () => {
        throw new Error('hook bug');
      },
    });
    logger.raise(new Error('still logged'));
    await logger.flush(2000);
    expect((await storedMessages(store)).map((m) => m.title)).toEqual(['still logged']);
    expect(errors[0]!.message).toContain('hook bug');
    expect(errors[0]!.code).toBe('ERR_ELMAH_HOOK_FAILED');
  });

  it('a rejecting beforeLog is reported as ERR_ELMAH_HOOK_FAILED and the message is kept unedited', async () => {
    const { store, logger, errors } = await createMemoryLogger({
      beforeLog: () => Promise.reject(new Error('async hook bug')),
    });
    logger.raise(new Error('still logged'));
    await logger.flush(2000);
    expect((await storedMessages(store)).map((m) => m.title)).toEqual(['still logged']);
    expect(errors.map((e) => [e.code, e.message])).toEqual([
      ['ERR_ELMAH_HOOK_FAILED', 'beforeLog rejected; the message is logged unedited: Error: async hook bug'],
    ]);
  });

  it('worker: true from TypeScript sources, which have no worker entry, rejects ready with ERR_ELMAH_WORKER_UNAVAILABLE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'elmah-worker-required-'));
    try {
      // The worker is asked for before the key is looked at, so any well-formed key shows it.
      const key = `elmah_abcdefgh_${'a'.repeat(43)}`;
      const logger = trackLogger(errorLogger({ store: `sqlite:${join(dir, 'e.db')}`, key, worker: true, onError: () => undefined }));
      await expect(logger.ready).rejects.toMatchObject({
        code: 'ERR_ELMAH_WORKER_UNAVAILABLE',
        docs: 'docs/errors.md#err_elmah_worker_unavailable',
      });
      await logger.close(1000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('options are checked when errorLogger() is called', () => {
  it('rejects an unknown option with a suggestion', () => {
    expect(() => errorLogger({ stor: 'memory:' } as never)).toThrow(ElmahConfigError);
    try {
      errorLogger({ stor: 'memory:' } as never);
    } catch (err) {
      expect((err as ElmahError).code).toBe('ERR_ELMAH_UNKNOWN_OPTION');
      expect((err as ElmahError).message).toContain('did you mean "store"');
    }
  });

  it('rejects wrong types and bad values', () => {
    const code = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (err) {
        return (err as ElmahError).code;
      }
      return undefined;
    };
    expect(code(() => errorLogger({ queueSize: 'big' } as never))).toBe('ERR_ELMAH_OPTION_TYPE');
    expect(code(() => errorLogger({ queueSize: 0 }))).toBe('ERR_ELMAH_OPTION_TYPE');
    expect(code(() => errorLogger({ filter: true } as never))).toBe('ERR_ELMAH_OPTION_TYPE');
    expect(code(() => errorLogger({ log: 'no spaces allowed' }))).toBe('ERR_ELMAH_OPTION_TYPE');
    expect(code(() => errorLogger({ severity: 'Loud' as never }))).toBe('ERR_ELMAH_OPTION_TYPE');
    expect(code(() => errorLogger({ redact: { header: ['x'] } as never }))).toBe('ERR_ELMAH_OPTION_TYPE');
    expect(code(() => errorLogger('memory:' as never))).toBe('ERR_ELMAH_OPTION_TYPE');
  });

  it('rejects an invalid ELMAH_LOG with ERR_ELMAH_LOG_NAME, and the log option wins over it', () => {
    const saved = process.env.ELMAH_LOG;
    process.env.ELMAH_LOG = 'billing api';
    try {
      expect(() => errorLogger({ store: 'memory:' })).toThrow(
        expect.objectContaining({ code: 'ERR_ELMAH_LOG_NAME', name: 'ElmahConfigError' }),
      );
      expect(() => errorLogger({ store: 'memory:' })).toThrow('ELMAH_LOG "billing api" is not a valid log name');
      const logger = trackLogger(errorLogger({ store: 'memory:', log: 'billing-api', onError: () => undefined }));
      expect(typeof logger).toBe('function');
    } finally {
      if (saved === undefined) delete process.env.ELMAH_LOG;
      else process.env.ELMAH_LOG = saved;
    }
  });

  it('app.use(errorLogger) without the call shows ERR_ELMAH_NOT_CALLED on the very first request', async () => {
    let seen: ElmahError | undefined;
    const app = createApp({
      setup: (a) => a.use(errorLogger as never),
      logger: (err: unknown, _req: unknown, _res: unknown, next: (e: unknown) => void) => {
        seen = err as ElmahError;
        next(err);
      },
    });
    const res = await request(app).get('/ok');
    expect(res.status).toBe(500);
    expect(seen?.code).toBe('ERR_ELMAH_NOT_CALLED');
    expect(seen?.message).toContain('errorLogger');
  });
});

describe('keys', () => {
  const noEnv = (): (() => void) => {
    const saved = process.env.ELMAH_WRITE_KEY;
    delete process.env.ELMAH_WRITE_KEY;
    return () => {
      if (saved !== undefined) process.env.ELMAH_WRITE_KEY = saved;
    };
  };

  it('no key: ready rejects with ERR_ELMAH_KEY_MISSING, one line is reported once, and the app keeps answering', async () => {
    const restore = noEnv();
    try {
      const store = new MemoryStore();
      const errors: ElmahError[] = [];
      const logger = trackLogger(errorLogger({ store, onError: (e) => errors.push(e) }));
      await expect(logger.ready).rejects.toMatchObject({ code: 'ERR_ELMAH_KEY_MISSING' });
      const app = createApp({ logger });
      for (let i = 0; i < 3; i++) await request(app).get('/throw').expect(500);
      await logger.flush(1000);
      expect(errors.filter((e) => e.code === 'ERR_ELMAH_KEY_MISSING')).toHaveLength(1);
      expect(errors).toHaveLength(1);
      expect(logger.stats()).toMatchObject({ sent: 0, dropped: 3 });
    } finally {
      restore();
    }
  });

  it('the default onError prints one console.error line, once, for a missing key; an unobserved ready does not crash', async () => {
    const restore = noEnv();
    const spy = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const logger = trackLogger(errorLogger({ store: new MemoryStore() }));
      await new Promise((r) => setTimeout(r, 20));
      logger.raise(new Error('x'));
      logger.raise(new Error('y'));
      await logger.flush(500);
      expect(spy).toHaveBeenCalledTimes(1);
      const line = String(spy.mock.calls[0]![0]);
      expect(line).toContain('ERR_ELMAH_KEY_MISSING');
      expect(line).toMatch(/ See docs\/errors\.md#err_elmah_key_missing\.$/);
      expect(line).not.toContain('\n');
    } finally {
      spy.mockRestore();
      restore();
    }
  });

  it('takes the key from ELMAH_WRITE_KEY', async () => {
    const store = new MemoryStore();
    const key = await addKey(store, ['messages_write']);
    const saved = process.env.ELMAH_WRITE_KEY;
    process.env.ELMAH_WRITE_KEY = key;
    try {
      const logger = trackLogger(errorLogger({ store }));
      await expect(logger.ready).resolves.toMatchObject({ permissions: ['messages_write'] });
    } finally {
      if (saved === undefined) delete process.env.ELMAH_WRITE_KEY;
      else process.env.ELMAH_WRITE_KEY = saved;
    }
  });

  it('a key without messages_write: ERR_ELMAH_PERMISSION, nothing stored', async () => {
    const { store, keys, logger, errors } = await createMemoryLogger();
    await logger.close();
    const reader = trackLogger(errorLogger({ store, key: keys.read, onError: (e) => errors.push(e) }));
    await expect(reader.ready).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
    reader.raise(new Error('not stored'));
    await reader.flush(500);
    expect(await storedMessages(store)).toHaveLength(0);
    expect(errors.filter((e) => e.code === 'ERR_ELMAH_PERMISSION')).toHaveLength(1);
  });

  it('an unknown key: ERR_ELMAH_KEY_INVALID', async () => {
    const store = new MemoryStore();
    const key = await addKey(new MemoryStore(), ['messages_write']);
    const logger = trackLogger(errorLogger({ store, key, onError: () => undefined }));
    await expect(logger.ready).rejects.toMatchObject({ code: 'ERR_ELMAH_KEY_INVALID' });
  });

  it('a key with more than messages_write warns ERR_ELMAH_KEY_TOO_BROAD once and still ships', async () => {
    const { store, keys } = await createMemoryLogger();
    const errors: ElmahError[] = [];
    const logger = trackLogger(errorLogger({ store, key: keys.admin, onError: (e) => errors.push(e) }));
    await logger.ready;
    logger.raise(new Error('one'));
    logger.raise(new Error('two'));
    await logger.flush(2000);
    expect(errors.map((e) => e.code)).toEqual(['ERR_ELMAH_KEY_TOO_BROAD']);
    expect(await storedMessages(store)).toHaveLength(2);
  });
});

describe('request context', () => {
  it('records method, url, headers, query, form, cookies, user, address, correlation id, host and version', async () => {
    const { store, logger } = await createMemoryLogger({ version: '9.9.9', application: 'shop' });
    const app = createApp({ logger });
    await request(app)
      .post('/form?page=2&sort=name')
      .set('User-Agent', 'test-agent/1.0')
      .set('Cookie', 'theme=dark; lang=en')
      .set('traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')
      .send({ item: 'book', qty: 2, address: { city: 'Oslo' }, tags: ['a', 'b'] })
      .expect(500);
    await request(app).get('/user').set('X-Request-Id', 'req-123').expect(500);
    await logger.flush(2000);
    const [form, user] = await storedMessages(store);
    expect(form).toMatchObject({
      method: 'POST',
      url: '/form?page=2&sort=name',
      correlationId: '4bf92f3577b34da6a3ce929d0e0e4736',
      version: '9.9.9',
      application: 'shop',
      severity: 'Error',
      log: 'default',
    });
    expect(typeof form!.hostname).toBe('string');
    expect(form!.source).toMatch(/app\.ts:\d+:\d+$/);
    expect(form!.detail).toContain('Error: Form failed');
    expect(form!.fingerprint).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(form!.queryString).toEqual([
      { key: 'page', value: '2' },
      { key: 'sort', value: 'name' },
    ]);
    // A JSON body is kept as JSON with its types (qty stays a number), not flattened into the form table.
    expect(form!.form).toEqual([]);
    expect(JSON.parse(form!.jsonBody!)).toEqual({ item: 'book', qty: 2, address: { city: 'Oslo' }, tags: ['a', 'b'] });
    expect(form!.cookies).toEqual([
      { key: 'theme', value: '[Filtered]' },
      { key: 'lang', value: '[Filtered]' },
    ]);
    const vars = Object.fromEntries(form!.serverVariables.map((kv) => [kv.key, kv.value]));
    expect(vars['user-agent']).toBe('test-agent/1.0');
    expect(vars.cookie).toBe('[Filtered]');
    expect(vars.REMOTE_ADDR).toMatch(/127\.0\.0\.1|::1/);
    expect(user).toMatchObject({ user: 'alice', correlationId: 'req-123', url: '/user', form: [] });
  });

  it('has no form when no body parser ran, and takes the version from package.json by default', async () => {
    const { store, logger } = await createMemoryLogger();
    await request(createApp({ logger })).get('/throw?x=1').expect(500);
    await logger.flush(2000);
    const [m] = await storedMessages(store);
    const pkg = require('../../package.json') as { name: string; version: string };
    expect(m).toMatchObject({ form: [], version: pkg.version, application: pkg.name });
  });

  it('uses the user option and the log option', async () => {
    const { store, logger } = await createMemoryLogger({ user: (req) => String(req.headers['x-user']), log: 'billing' });
    await request(createApp({ logger })).get('/throw').set('X-User', 'bob').expect(500);
    await logger.flush(2000);
    const r = await store.search({ log: 'billing' });
    expect(r.messages[0]).toMatchObject({ user: 'bob', log: 'billing' });
  });
});

describe('close()', () => {
  it('ships what is queued, closes a client it opened, and later errors are counted as dropped', async () => {
    const store = new MemoryStore();
    const key = await addKey(store, ['messages_write']);
    const logger = errorLogger({ store, key, onError: () => undefined });
    logger.raise(new Error('before close'));
    expect(await logger.close(2000)).toBe(true);
    expect(await storedMessages(store)).toHaveLength(1);
    logger.raise(new Error('after close'));
    expect(logger.stats()).toMatchObject({ sent: 1, dropped: 1 });
    // The store was passed in, so the app still owns it: it stays open.
    await expect(store.search({})).resolves.toMatchObject({ total: 1 });
  });
});
