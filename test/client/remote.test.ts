// RemoteLogClient's own behaviour against a real collector on an ephemeral loopback port (batching, coded errors
// that name the URL, never the key) and against misbehaving servers. What every client does alike is in the
// conformance suite (clients.test.ts).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { RemoteLogClient, parseRetryAfter } from '../../src/client/remote';
import type { ElmahError } from '../../src/model/errors';
import { addKey } from '../helpers/keys';
import { makeMessage } from '../helpers/messages';
import { startCollector, type RunningCollector } from '../helpers/collector';

/** A bare HTTP server answering with `handler`; for statuses the collector would not give on its own. */
async function fakeServer(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void>; hits: () => number }> {
  let hits = 0;
  const server = http.createServer((req, res) => {
    hits++;
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits: () => hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function caught(p: Promise<unknown>): Promise<ElmahError> {
  try {
    await p;
  } catch (err) {
    return err as ElmahError;
  }
  throw new Error('expected a rejection');
}

describe('RemoteLogClient against a collector', () => {
  let ctx: RunningCollector;
  const clients: RemoteLogClient[] = [];
  const client = (key: string | undefined, options = {}) => {
    const c = new RemoteLogClient(ctx.url, key, options);
    clients.push(c);
    return c;
  };
  beforeEach(async () => {
    ctx = await startCollector();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await ctx.close();
  });

  it("whoami returns the key's public view (a key with a trailing newline, as read from a file, works)", async () => {
    const me = await client(`${ctx.keys.admin}\n`).whoami();
    expect(me).toEqual({
      id: ctx.keys.admin.slice(6, 14),
      name: expect.any(String),
      permissions: ['messages_write', 'messages_read', 'messages_delete', 'logs_read'],
      logs: [],
    });
  });

  it('appends through _bulk, grouped by log, with per-item results mapped back in order', async () => {
    const c = client(ctx.keys.write);
    const a = makeMessage({ log: 'shop' });
    const b = makeMessage({ log: 'billing' });
    const results = await c.append([a, { title: 5 }, b, { title: 'no log' }]);
    expect(results[0]).toEqual({ id: a.id, status: 'created', group: 'new' });
    expect(results[1]).toMatchObject({ status: 'rejected', error: { code: 'ERR_ELMAH_INVALID_MESSAGE' } });
    expect(results[2]).toEqual({ id: b.id, status: 'created', group: 'new' });
    expect(results[3]).toMatchObject({ status: 'created' });
    expect(await ctx.store.get('shop', a.id)).toEqual(a);
    expect(await ctx.store.get('billing', b.id)).toEqual(b);
    expect(await ctx.store.get('default', results[3]!.id!)).toMatchObject({ title: 'no log' });
    const again = await c.append([a]);
    expect(again).toEqual([{ id: a.id, status: 'duplicate' }]);
    const forced = await c.append([{ title: 'into x' }], 'x');
    expect(await ctx.store.get('x', forced[0]!.id!)).toBeDefined();
  });

  it('splits a large append into several requests, and halves a chunk the collector finds too large', async () => {
    await ctx.close();
    ctx = await startCollector({ maxBulkMessages: 10 });
    const c = client(ctx.keys.write, { maxBatchMessages: 25 });
    const batch = Array.from({ length: 57 }, () => makeMessage());
    const results = await c.append(batch);
    expect(results.every((r) => r.status === 'created')).toBe(true);
    expect((await ctx.store.search({ log: 'default' })).total).toBe(57);
  });

  it('rejects, without sending, a message that cannot be serialized', async () => {
    const c = client(ctx.keys.write);
    const loop: Record<string, unknown> = { title: 'loop' };
    loop.self = loop;
    const results = await c.append([loop, { title: 'fine' }]);
    expect(results[0]).toMatchObject({ status: 'rejected', error: { code: 'ERR_ELMAH_INVALID_MESSAGE' } });
    expect(results[1]).toMatchObject({ status: 'created' });
  });

  it('maps each collector status to a coded error that names the URL, never the key', async () => {
    const scoped = await addKey(ctx.store, ['messages_read'], { logs: ['shop'] });
    const unknownKey = `elmah_aaaaaaaa_${'Z'.repeat(43)}`;
    const cases: Array<[Promise<unknown>, string, number]> = [
      [client(unknownKey).whoami(), 'ERR_ELMAH_KEY_INVALID', 401],
      [client(ctx.keys.write).search({ log: 'shop' }), 'ERR_ELMAH_PERMISSION', 403],
      [client(scoped).search({ log: 'billing' }), 'ERR_ELMAH_PERMISSION', 403],
      [client(ctx.keys.read).get('shop', 'nope'), 'ERR_ELMAH_NOT_FOUND', 404],
      [client(ctx.keys.read).search({ log: 'shop', query: 'statusCode:[5' }), 'ERR_ELMAH_QUERY', 400],
    ];
    for (const [p, code, status] of cases) {
      const err = await caught(p);
      expect({ code: err.code, status: err.status, transient: err.transient }).toEqual({ code, status, transient: false });
      expect(err.message).toContain(`${ctx.url}/`);
      expect(err.message).toContain(`answered ${status}`);
      for (const k of [unknownKey, ctx.keys.write, scoped, ctx.keys.read])
        expect(JSON.stringify({ m: err.message, h: err.help, d: err.details })).not.toContain(k.slice(15));
    }
  });

  it('fails at once, without a request, when the key is missing or malformed', async () => {
    const missing = await caught(client(undefined).whoami());
    expect(missing.code).toBe('ERR_ELMAH_KEY_MISSING');
    const malformed = await caught(client('oops').append([{ title: 'x' }]));
    expect(malformed.code).toBe('ERR_ELMAH_KEY_INVALID');
    expect(malformed.message).not.toContain('oops');
  });

  it('reports 429 as transient with retryAfter from Retry-After', async () => {
    await ctx.close();
    ctx = await startCollector({ rateLimit: { perSecond: 0.2, burst: 1 } });
    const c = client(ctx.keys.write);
    await c.append([{ title: 'first' }]);
    const err = await caught(c.append([{ title: 'second' }]));
    expect({ code: err.code, status: err.status, transient: err.transient, retryAfter: err.retryAfter }).toEqual({
      code: 'ERR_ELMAH_RATE_LIMITED',
      status: 429,
      transient: true,
      retryAfter: 5,
    });
  });

  it('describes the URL without credentials', async () => {
    const c = client(undefined);
    expect(c.describe()).toEqual({ kind: 'remote', location: `${ctx.url}/` });
    const withCreds = new RemoteLogClient(`http://user:pw@127.0.0.1:1/base?api_key=${encodeURIComponent(ctx.keys.read)}`, undefined);
    expect(withCreds.describe().location).toBe('http://127.0.0.1:1/base/');
    await withCreds.close();
  });

  it('reaches a collector mounted under a path, with the key from the URL', async () => {
    const mounted = await startCollector({}, '/elmah');
    try {
      const c = new RemoteLogClient(`${mounted.url}/elmah?api_key=${encodeURIComponent(mounted.keys.read)}`, undefined);
      expect((await c.whoami()).permissions).toEqual(['messages_read']);
      await c.close();
    } finally {
      await mounted.close();
    }
  });
});

describe('RemoteLogClient against failing servers', () => {
  const key = `elmah_aaaaaaaa_${'A'.repeat(43)}`;

  it.each([
    [500, 'ERR_ELMAH_INTERNAL', JSON.stringify({ error: { code: 'ERR_ELMAH_INTERNAL', message: 'boom' } })],
    [503, 'ERR_ELMAH_STORE_BUSY', JSON.stringify({ error: { code: 'ERR_ELMAH_STORE_BUSY', message: 'busy' } })],
    [502, 'ERR_ELMAH_REMOTE', '<html>Bad gateway</html>'],
  ])("a %i answer is transient, carries the status and the collector's code", async (status, code, body) => {
    const server = await fakeServer((_req, res) => {
      res.writeHead(status, { 'content-type': body.startsWith('{') ? 'application/json' : 'text/html', 'retry-after': '7' });
      res.end(body);
    });
    const c = new RemoteLogClient(server.url, key);
    try {
      const err = await caught(c.append([{ title: 'x' }]));
      expect({ code: err.code, status: err.status, transient: err.transient, retryAfter: err.retryAfter }).toEqual({
        code,
        status,
        transient: true,
        retryAfter: 7,
      });
      expect(err.message).toContain(server.url);
      expect(err.message).not.toContain(key.slice(15));
    } finally {
      await c.close();
      await server.close();
    }
  });

  it('times out against a server that accepts and never answers', async () => {
    const server = await fakeServer(() => undefined);
    const c = new RemoteLogClient(server.url, key, { timeoutMs: 200 });
    try {
      const started = Date.now();
      const err = await caught(c.whoami());
      expect({ code: err.code, transient: err.transient }).toEqual({ code: 'ERR_ELMAH_TIMEOUT', transient: true });
      expect(err.message).toContain(server.url);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await c.close();
      await server.close();
    }
  });

  it('reports a refused connection as transient and unavailable', async () => {
    const server = await fakeServer(() => undefined);
    const url = server.url;
    await server.close();
    const c = new RemoteLogClient(url, key);
    try {
      const err = await caught(c.append([{ title: 'x' }]));
      expect({ code: err.code, transient: err.transient, status: err.status }).toEqual({
        code: 'ERR_ELMAH_STORE_UNAVAILABLE',
        transient: true,
        status: 503,
      });
      expect(err.message).toContain('ECONNREFUSED');
      expect(err.message).toContain(url);
    } finally {
      await c.close();
    }
  });

  it('treats an answer of the wrong shape as ERR_ELMAH_REMOTE', async () => {
    const server = await fakeServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"hello":"world"}');
    });
    const c = new RemoteLogClient(server.url, key);
    try {
      expect((await caught(c.whoami())).code).toBe('ERR_ELMAH_REMOTE');
      expect((await caught(c.append([{ title: 'x' }]))).code).toBe('ERR_ELMAH_REMOTE');
    } finally {
      await c.close();
      await server.close();
    }
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('12')).toBe(12);
    expect(parseRetryAfter(new Date(Date.UTC(2026, 0, 1, 0, 0, 30)).toUTCString(), Date.UTC(2026, 0, 1))).toBe(30);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
