// The gate: errorViewer() is built only with a valid key carrying messages_read; options are checked at
// the call; a key revoked after start turns the pages into a 503 that explains why.
import express from 'express';
import request from 'supertest';
import { LocalLogClient } from '../../src/client/local';
import { MemoryStore } from '../../src/stores/memory';
import { errorViewer } from '../../src/viewer';
import { addKey, withKeys } from '../helpers/keys';
import { createViewerApp } from '../helpers/viewer-app';

describe('errorViewer gate', () => {
  const saved = process.env.ELMAH_READ_KEY;
  afterEach(() => {
    if (saved === undefined) delete process.env.ELMAH_READ_KEY;
    else process.env.ELMAH_READ_KEY = saved;
  });

  it('rejects without a key (ERR_ELMAH_KEY_MISSING)', async () => {
    delete process.env.ELMAH_READ_KEY;
    const { store } = await withKeys();
    await expect(errorViewer({ store })).rejects.toMatchObject({
      code: 'ERR_ELMAH_KEY_MISSING',
      message: expect.stringContaining('messages_read'),
    });
  });

  it('takes the key from ELMAH_READ_KEY', async () => {
    const { store, keys } = await withKeys();
    process.env.ELMAH_READ_KEY = keys.read;
    const viewer = await errorViewer({ store });
    expect(typeof viewer).toBe('function');
    expect(typeof viewer.close).toBe('function');
  });

  it('rejects a malformed or unknown key (ERR_ELMAH_KEY_INVALID)', async () => {
    const { store } = await withKeys();
    await expect(errorViewer({ store, key: 'not-a-key' })).rejects.toMatchObject({ code: 'ERR_ELMAH_KEY_INVALID' });
    const other = await withKeys();
    await expect(errorViewer({ store, key: other.keys.read })).rejects.toMatchObject({ code: 'ERR_ELMAH_KEY_INVALID' });
  });

  it('rejects a revoked key and an expired key (ERR_ELMAH_KEY_INVALID)', async () => {
    const { store, keys } = await withKeys();
    await store.revokeKey(keys.read.split('_')[1]!);
    await expect(errorViewer({ store, key: keys.read })).rejects.toMatchObject({
      code: 'ERR_ELMAH_KEY_INVALID',
      message: expect.stringContaining('revoked'),
    });
    const expired = await addKey(store, ['messages_read'], { expires: new Date(Date.now() - 1000).toISOString() });
    await expect(errorViewer({ store, key: expired })).rejects.toMatchObject({
      code: 'ERR_ELMAH_KEY_INVALID',
      message: expect.stringContaining('expired'),
    });
  });

  it('rejects a write-only key, naming what it has (ERR_ELMAH_PERMISSION)', async () => {
    const { store, keys } = await withKeys();
    const err = await errorViewer({ store, key: keys.write }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
    expect((err as Error).message).toContain('lacks messages_read');
    expect((err as Error).message).toContain('it has messages_write');
    expect((err as { help: string }).help).toContain('--permissions messages_read');
  });

  it('rejects a key limited to another log than the pinned one', async () => {
    const store = new MemoryStore();
    const key = await addKey(store, ['messages_read'], { logs: ['shop'] });
    await expect(errorViewer({ store, key, log: 'billing' })).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
    await expect(errorViewer({ store, key, log: 'shop' })).resolves.toBeDefined();
  });

  it('accepts a LogClient as the store', async () => {
    const { store, keys } = await withKeys();
    const viewer = await errorViewer({ store: new LocalLogClient(store, keys.read) });
    const app = express().use('/elmah.axd', viewer);
    const res = await request(app).get('/elmah.axd/');
    expect(res.status).toBe(200);
  });

  it('rejects a key unknown to a store it opened from a URL', async () => {
    await expect(errorViewer({ store: 'memory:', key: 'elmah_abcdefgh_' + 'a'.repeat(43) })).rejects.toMatchObject({
      code: 'ERR_ELMAH_KEY_INVALID',
    });
  });

  it('checks options at the call: unknown names, wrong types, bad values', async () => {
    const { store, keys } = await withKeys();
    await expect(errorViewer({ store, key: keys.read, pagesize: 20 } as never)).rejects.toMatchObject({
      code: 'ERR_ELMAH_UNKNOWN_OPTION',
      message: expect.stringContaining('did you mean "pageSize"'),
    });
    await expect(errorViewer({ store, key: keys.read, access: 'public' } as never)).rejects.toMatchObject({
      code: 'ERR_ELMAH_OPTION_TYPE',
    });
    await expect(errorViewer({ store, key: keys.read, pageSize: 500 })).rejects.toMatchObject({ code: 'ERR_ELMAH_OPTION_TYPE' });
    await expect(errorViewer({ store, key: keys.read, sessionSecret: 'short' })).rejects.toMatchObject({ code: 'ERR_ELMAH_OPTION_TYPE' });
    await expect(errorViewer({ store, key: keys.read, sessionTtl: '5s' })).rejects.toMatchObject({ code: 'ERR_ELMAH_OPTION_TYPE' });
    await expect(errorViewer({ store, key: keys.read, log: 'bad log!' })).rejects.toMatchObject({ code: 'ERR_ELMAH_OPTION_TYPE' });
    await expect(errorViewer('x' as never)).rejects.toMatchObject({ code: 'ERR_ELMAH_OPTION_TYPE' });
    await expect(errorViewer({ store: new LocalLogClient(store, keys.read), access: 'key' })).rejects.toMatchObject({
      code: 'ERR_ELMAH_SIGNIN_UNAVAILABLE',
      name: 'ElmahConfigError',
    });
  });

  it("a viewer given a LogClient refuses a script's key header with 401 (ERR_ELMAH_SIGNIN_UNAVAILABLE)", async () => {
    const { store, keys } = await withKeys();
    const viewer = await errorViewer({ store: new LocalLogClient(store, keys.read) });
    const app = express().use('/elmah.axd', viewer);
    const res = await request(app).get('/elmah.axd/download').set('Authorization', `Bearer ${keys.read}`);
    expect(res.status).toBe(401);
    // The refusal comes before the request is marked as a script's, so it is the HTML problem page.
    expect(res.text).toContain('This viewer was given a LogClient, so it cannot check other keys.');
  });

  it('catches app.use(errorViewer) without the call', async () => {
    const app = express();
    app.use('/elmah.axd', errorViewer as never);
    app.use((err: { code?: string; message: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(500).json({ code: err.code, message: err.message });
    });
    const res = await request(app).get('/elmah.axd/');
    expect(res.body.code).toBe('ERR_ELMAH_NOT_CALLED');
    expect(res.body.message).toContain('errorViewer');
  });

  it('answers 503 with an explanation once its key is revoked, and recovers nothing from cache', async () => {
    const t = await createViewerApp();
    expect((await request(t.app).get('/elmah.axd/')).status).toBe(200);
    await t.store.revokeKey(t.keys.read.split('_')[1]!);
    await new Promise((r) => setTimeout(r, 1100)); // the client trusts a looked-up key for one second
    for (const path of ['/elmah.axd/', `/elmah.axd/detail/${t.messages[0]!.id}`, '/elmah.axd/about', '/elmah.axd/rss']) {
      const res = await request(t.app).get(path);
      expect(res.status).toBe(503);
      expect(res.text).toContain('no longer works');
      expect(res.text).not.toContain('Order 0 failed');
    }
    const json = await request(t.app).get(`/elmah.axd/json/${t.messages[0]!.id}`);
    expect(json.status).toBe(503);
    expect(json.body.error.code).toBe('ERR_ELMAH_KEY_INVALID');
  });
});
