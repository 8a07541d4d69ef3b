// openLog(): the one resolver of a face's `store` option. Every face refuses the same values with the same
// coded error, a collector URL is told apart in any case, and close() releases what was opened, nothing else.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorLogger } from '../../src/capture/logger';
import { connect } from '../../src/client/connect';
import { LocalLogClient } from '../../src/client/local';
import { openLog, storeOptionProblem } from '../../src/client/open-log';
import { collector } from '../../src/collector';
import { MemoryStore } from '../../src/stores/memory';
import { errorViewer } from '../../src/viewer';
import { withKeys } from '../helpers/keys';
import { createCollectorApp, listen } from '../helpers/collector';

const NOT_STORES: Array<[string, unknown]> = [
  ['an empty object', {}],
  ['a number', 42],
  ['an object with only some client methods', { whoami: async () => ({}) }],
];

describe('a store option that is none', () => {
  it.each(NOT_STORES)('%s: every face fails with ERR_ELMAH_OPTION_TYPE when called', async (_what, store) => {
    const key = 'elmah_aaaaaaaa_' + 'A'.repeat(43);
    const code = { code: 'ERR_ELMAH_OPTION_TYPE' };
    expect(() => errorLogger({ store: store as never, key })).toThrow(expect.objectContaining(code));
    expect(() => collector({ store: store as never })).toThrow(expect.objectContaining(code));
    await expect(errorViewer({ store: store as never, key })).rejects.toMatchObject(code);
    await expect(connect({ store: store as never, key })).rejects.toMatchObject(code);
  });

  it('names what the face takes', () => {
    expect(storeOptionProblem({}, 'any')).toBe('must be a store URL, a Store, a collector URL or a LogClient');
    expect(storeOptionProblem({}, 'store')).toBe('must be a Store (from openStore) or a store URL');
    expect(storeOptionProblem(new MemoryStore(), 'store')).toBeUndefined();
    expect(storeOptionProblem('memory:', 'store')).toBeUndefined();
  });
});

describe('collector URLs', () => {
  const before = process.env.ELMAH_STORE;
  afterEach(() => {
    if (before === undefined) delete process.env.ELMAH_STORE;
    else process.env.ELMAH_STORE = before;
  });

  it('are told apart from store URLs in any case', () => {
    for (const url of ['http://collector.example', 'HTTPS://collector.example', 'Http://127.0.0.1:4000']) {
      expect(openLog(url).kind).toBe('remote');
      expect(storeOptionProblem(url, 'store')).toMatch(/not another collector/);
      expect(() => collector({ store: url })).toThrow(expect.objectContaining({ code: 'ERR_ELMAH_OPTION_TYPE' }));
    }
    expect(openLog('memory:').kind).toBe('local');
  });

  it('in ELMAH_STORE, make the collector refuse to start with ERR_ELMAH_STORE_URL, in any case', () => {
    process.env.ELMAH_STORE = 'HTTP://127.0.0.1:4000';
    expect(() => collector()).toThrow(expect.objectContaining({ code: 'ERR_ELMAH_STORE_URL' }));
    expect(openLog(undefined).kind).toBe('remote');
  });

  it('written in capitals reach the collector through connect() and the viewer', async () => {
    const ctx = await createCollectorApp();
    const { url, close } = await listen(ctx.app);
    try {
      const upper = url.replace('http://', 'HTTP://');
      const client = await connect({ store: upper, key: ctx.keys.read });
      expect(client.kind).toBe('remote');
      expect((await client.whoami()).permissions).toEqual(['messages_read']);
      await client.close();
      const viewer = await errorViewer({ store: upper, key: ctx.keys.read });
      await viewer.close();
    } finally {
      await close();
    }
  });
});

describe('what close() releases', () => {
  it('closes a store it opened from a URL, and every client over it stops', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'elmah-open-log-'));
    try {
      const log = openLog(`sqlite:${join(dir, 'a.db')}`);
      const client = await log.client('elmah_aaaaaaaa_' + 'A'.repeat(43));
      await expect(client.whoami()).rejects.toMatchObject({ code: 'ERR_ELMAH_KEY_INVALID' });
      await log.close();
      await expect(client.whoami()).rejects.toMatchObject({ code: 'ERR_ELMAH_STORE_CLOSED' });
      // Closing twice is one close.
      await log.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leaves a Store passed in open, and gives clients for any key over it', async () => {
    const { store, keys } = await withKeys();
    const log = openLog(store);
    const reader = await log.client(keys.read);
    const writer = await log.client(keys.write);
    expect((await reader.whoami()).permissions).toEqual(['messages_read']);
    expect((await writer.whoami()).permissions).toEqual(['messages_write']);
    await log.close();
    expect((await reader.whoami()).permissions).toEqual(['messages_read']);
  });

  it('leaves a LogClient passed in open, and gives it for every key', async () => {
    const { store, keys } = await withKeys();
    const given = new LocalLogClient(store, keys.read);
    const log = openLog(given);
    expect(log.kind).toBe('client');
    expect(await log.client(keys.write)).toBe(given);
    expect(await log.writer(keys.write, () => undefined)).toBe(given);
    await log.close();
    expect((await given.whoami()).permissions).toEqual(['messages_read']);
  });

  it('an owning client closes the store with itself; a shared one does not', async () => {
    const { keys } = await withKeys();
    const log = openLog('memory:');
    const shared = await log.client(keys.read);
    await shared.close();
    const owning = await log.client(keys.read, { owning: true });
    await expect(owning.whoami()).rejects.toMatchObject({ code: 'ERR_ELMAH_KEY_INVALID' });
    await owning.close();
    await expect(shared.whoami()).rejects.toMatchObject({ code: 'ERR_ELMAH_STORE_CLOSED' });
  });

  it('opens a store again after a failed open', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'elmah-open-log-'));
    // A file where the store's folder must go: the open fails; once it is gone, the next call opens.
    writeFileSync(join(dir, 'sub'), 'not a folder');
    const log = openLog(`sqlite:${join(dir, 'sub', 'x.db')}`);
    try {
      await expect(log.open()).rejects.toMatchObject({ code: 'ERR_ELMAH_STORE_UNAVAILABLE' });
      rmSync(join(dir, 'sub'));
      await expect(log.open()).resolves.toBeUndefined();
    } finally {
      await log.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('writers', () => {
  it('a sqlite: URL from TypeScript sources writes in-process unless a worker is required', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'elmah-open-log-'));
    try {
      const url = `sqlite:${join(dir, 'w.db')}`;
      expect(openLog(url).onWorker).toBe(false);
      expect(openLog(url, { worker: false }).onWorker).toBe(false);
      const required = openLog(url, { worker: true });
      expect(required.onWorker).toBe(true);
      const fallbacks: unknown[] = [];
      await expect(required.writer(undefined, (err) => fallbacks.push(err))).rejects.toMatchObject({
        code: 'ERR_ELMAH_WORKER_UNAVAILABLE',
      });
      expect(fallbacks).toEqual([]);
      await required.close();
      expect(openLog('memory:', { worker: true }).onWorker).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
