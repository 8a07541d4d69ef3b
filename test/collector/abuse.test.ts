// What unauthenticated traffic and leaked keys can cost the collector: keys are checked before a body is
// read, failing keys are limited per client address, bodies in flight are capped, a large _bulk is
// worked through in slices, and future-dated messages cannot push real ones out.
import net from 'node:net';
import request from 'supertest';
import { collector } from '../../src/collector';
import { ElmahConfigError } from '../../src/model/errors';
import { addKey } from '../helpers/keys';
import { createCollectorApp, listen } from '../helpers/collector';

/** Sends the head of a request and part of its body, and never the rest; resolves with the answer's status line and whether the server closed. */
function partialRequest(
  url: string,
  path: string,
  headers: Record<string, string>,
  declared: number,
  sent: number,
): Promise<{ head: string; closed: Promise<void>; socket: net.Socket }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname);
    let text = '';
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end >= 0) resolve({ head: text.slice(0, end), closed, socket });
    });
    socket.once('close', () => reject(new Error(`closed without an answer: ${text.slice(0, 200)}`)));
    const lines = [`POST ${path} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Content-Type: application/json', `Content-Length: ${declared}`];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n${'['.padEnd(sent, ' ')}`);
  });
}

const INVENTED = `elmah_abcdefgh_${'A'.repeat(43)}`;

describe('collector: keys are checked before the body is read', () => {
  it('answers an invented key at once while its 16 MB body is still arriving, and closes the connection', async () => {
    const { app } = await createCollectorApp();
    const server = await listen(app);
    try {
      const r = await partialRequest(server.url, '/v3/messages/default/_bulk', { api_key: INVENTED }, 16 * 1024 * 1024, 1000);
      expect(r.head).toMatch(/^HTTP\/1\.1 401 /);
      expect(r.head.toLowerCase()).toContain('connection: close');
      await r.closed;
      const missing = await partialRequest(server.url, '/v3/messages/default', {}, 200_000, 10);
      expect(missing.head).toMatch(/^HTTP\/1\.1 401 /);
      missing.socket.destroy();
    } finally {
      await server.close();
    }
  });

  it('answers 403 before reading the body for a key without the permission or the log', async () => {
    const { app, store, keys } = await createCollectorApp();
    const billingOnly = await addKey(store, ['messages_write'], { logs: ['billing'] });
    const server = await listen(app);
    try {
      for (const [path, key] of [
        ['/v3/messages/default/_bulk', keys.read],
        ['/v3/messages/default', billingOnly],
      ] as const) {
        const r = await partialRequest(server.url, path, { Authorization: `Bearer ${key}` }, 1_000_000, 100);
        expect(r.head).toMatch(/^HTTP\/1\.1 403 /);
        r.socket.destroy();
      }
      expect((await store.search({})).total).toBe(0);
    } finally {
      await server.close();
    }
  });
});

describe('collector: failing keys are limited per client address', () => {
  afterEach(() => jest.useRealTimers());

  it('answers 429 with Retry-After after a burst of failures, without touching other addresses or a key that works', async () => {
    // The clock stands still (only Date is faked): on a slow machine a second could pass during the
    // requests below, refill one token of the address's failure bucket and let the last key through.
    jest.useFakeTimers({
      doNotFake: [
        'hrtime',
        'nextTick',
        'performance',
        'queueMicrotask',
        'setImmediate',
        'clearImmediate',
        'setInterval',
        'clearInterval',
        'setTimeout',
        'clearTimeout',
      ],
    });
    const { app, keys } = await createCollectorApp();
    app.set('trust proxy', true);
    const from = (address: string, key?: string) => {
      const r = request(app).post('/v3/messages/default').set('X-Forwarded-For', address).send({ title: 'x' });
      return key ? r.set('api_key', key) : r;
    };
    // A key that works from this address before the flood keeps working.
    expect((await from('203.0.113.5', keys.write)).status).toBe(201);
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await from('203.0.113.5', `elmah_${'abcdefgh'}_${String(i).padStart(43, 'A')}`)).status);
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(20)).toEqual([429, 429, 429, 429, 429]);
    const limited = await from('203.0.113.5');
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('ERR_ELMAH_RATE_LIMITED');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await from('203.0.113.5', keys.write)).status).toBe(201);
    // A key not seen working from there waits too; another client address is not affected.
    expect((await from('203.0.113.5', keys.admin)).status).toBe(429);
    expect((await from('198.51.100.1', INVENTED)).status).toBe(401);
    expect((await from('198.51.100.1', keys.admin)).status).toBe(201);
  });

  it('gives invented keys no rate-limit bucket of their own', async () => {
    const { app, keys } = await createCollectorApp({ rateLimit: { perSecond: 0.1, burst: 1 } });
    for (let i = 0; i < 5; i++)
      expect(
        (
          await request(app)
            .get('/v3/keys/current')
            .set('api_key', `elmah_abcdefg${'234567'[i]}_${'B'.repeat(43)}`)
        ).status,
      ).toBe(401);
    expect((await request(app).get('/v3/keys/current').set('api_key', keys.read)).status).toBe(200);
  });
});

describe('collector: bytes of bodies in flight are capped', () => {
  it('answers 503 with Retry-After, unread, while other bodies fill the cap, and serves again once they are done', async () => {
    const { app, store, keys } = await createCollectorApp({ maxBulkBytes: 64 * 1024, maxBytesInFlight: 64 * 1024 });
    const server = await listen(app);
    try {
      const body = JSON.stringify({ title: 'small' });
      const held = await new Promise<net.Socket>((resolve) => {
        const s = net.connect(Number(new URL(server.url).port), '127.0.0.1', () => resolve(s));
        s.on('error', () => undefined);
      });
      const padded = JSON.stringify([{ title: 'held' }]).padEnd(60_000, ' ');
      held.write(
        `POST /v3/messages/default/_bulk HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\napi_key: ${keys.write}\r\nContent-Length: ${padded.length}\r\n\r\n${padded.slice(0, 100)}`,
      );
      // The held request claims its bytes once its key is checked; keep asking until the cap shows.
      let busy: request.Response | undefined;
      for (let i = 0; i < 200 && !busy; i++) {
        const r = await request(server.url)
          .post('/v3/messages/default')
          .set('api_key', keys.write)
          .set('Content-Type', 'application/json')
          .send(body.padEnd(8000, ' '));
        if (r.status === 503) busy = r;
        else expect(r.status).toBe(201);
      }
      expect(busy?.body.error.code).toBe('ERR_ELMAH_OVERLOADED');
      expect(Number(busy?.headers['retry-after'])).toBeGreaterThan(0);
      const answer = new Promise<string>((resolve) => {
        let text = '';
        held.on('data', (c: Buffer) => {
          text += c.toString();
          if (text.includes('\r\n\r\n')) resolve(text);
        });
      });
      held.write(padded.slice(100));
      expect(await answer).toMatch(/^HTTP\/1\.1 200 /);
      held.destroy();
      expect((await request(server.url).post('/v3/messages/default').set('api_key', keys.write).send({ title: 'after' })).status).toBe(201);
      expect((await store.search({ size: 1000 })).messages.filter((m) => m.title === 'held')).toHaveLength(1);
    } finally {
      await server.close();
    }
  });

  it('checks the option: at least maxBulkBytes', () => {
    expect(() => collector({ store: 'memory:', maxBulkBytes: 2048, maxBytesInFlight: 1024 })).toThrow(ElmahConfigError);
    expect(() => collector({ store: 'memory:', maxBytesInFlight: 'lots' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_ELMAH_OPTION_TYPE' }),
    );
  });
});

describe('collector: a large _bulk is worked through in slices', () => {
  it('answers one result per item, in order, across slices', async () => {
    const { app, store, keys } = await createCollectorApp();
    const items = Array.from({ length: 230 }, (_, i) =>
      i % 7 === 3 ? { title: 5 } : { id: `01JBULKSLICE${String(i).padStart(14, '0')}`, title: `m${i}` },
    );
    items.push({ id: '01JBULKSLICE00000000000000', title: 'again' });
    const res = await request(app).post('/v3/messages/default/_bulk').set('api_key', keys.write).send(items);
    expect(res.status).toBe(200);
    expect(res.body).toHaveLength(231);
    res.body.forEach((r: { status: string; id?: string }, i: number) => {
      if (i === 230) expect(r).toMatchObject({ status: 'duplicate', id: '01JBULKSLICE00000000000000' });
      else if (i % 7 === 3) expect(r.status).toBe('rejected');
      else expect(r).toMatchObject({ status: 'created', id: `01JBULKSLICE${String(i).padStart(14, '0')}` });
    });
    expect((await store.search({ log: 'default', size: 1 })).total).toBe(230 - 33);
  });
});

describe('collector: future-dated messages from a leaked write key', () => {
  it('stores a 9999-dated flood at receipt time: newer genuine errors list above it, and age-based pruning removes it', async () => {
    const { app, store, keys } = await createCollectorApp();
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    for (let i = 0; i < 3; i++) {
      expect(
        (
          await request(app)
            .post('/v3/messages/default')
            .set('api_key', keys.write)
            .send({ title: `genuine ${i}`, dateTime: hourAgo })
        ).status,
      ).toBe(201);
    }
    const flood = Array.from({ length: 40 }, (_, i) => ({ title: `flood ${i}`, dateTime: '9999-12-31T23:59:59Z' }));
    const before = Date.now();
    expect((await request(app).post('/v3/messages/default/_bulk').set('api_key', keys.write).send(flood)).status).toBe(200);
    const after = Date.now();
    const floodOf = async () => (await store.search({ log: 'default', size: 100 })).messages.filter((m) => m.title.startsWith('flood'));
    const stored = await floodOf();
    expect(stored).toHaveLength(40);
    for (const m of stored) {
      expect(Date.parse(m.dateTime)).toBeGreaterThanOrEqual(before - 1000);
      expect(Date.parse(m.dateTime)).toBeLessThanOrEqual(after + 1000);
      expect(m.data).toContainEqual({ key: 'elmah.sentDateTime', value: '9999-12-31T23:59:59.000Z' });
    }
    // A genuine error that happens after the flood lists above it.
    const soon = new Date(after + 60_000).toISOString();
    expect(
      (await request(app).post('/v3/messages/default').set('api_key', keys.write).send({ title: 'genuine later', dateTime: soon })).status,
    ).toBe(201);
    expect((await store.search({ log: 'default', size: 1 })).messages[0]!.title).toBe('genuine later');
    // Once it is old, the flood ages out like any message.
    await store.prune({ maxAgeDays: 1, now: new Date(after + 2 * 86_400_000) });
    expect(await floodOf()).toHaveLength(0);
  });
});
