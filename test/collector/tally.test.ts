// POST /v3/messages/:log/_tally: occurrences a logger counted but could not keep in full, over HTTP —
// keys (401/403), validation per item (400), idempotency by tally id, and RemoteLogClient.tally.
import request from 'supertest';
import { RemoteLogClient } from '../../src/client/remote';
import { TallyBuilder, type OccurrenceTally } from '../../src/model/tally';
import { addKey } from '../helpers/keys';
import { makeMessage } from '../helpers/messages';
import { createCollectorApp, listen } from '../helpers/collector';

const at = Date.UTC(2026, 0, 1, 12, 0, 0);

function tally(fingerprint: string, count: number, log = 'shop'): OccurrenceTally {
  const b = new TallyBuilder(log, fingerprint);
  for (let i = 0; i < count; i++) b.add(at + i * 1000, `Order ${i} could not be saved`, 'Error', 500);
  return b.take()!;
}

const sum = (groups: { count: number }[]): number => groups.reduce((n, g) => n + g.count, 0);

describe('collector: POST /v3/messages/:log/_tally', () => {
  it('adds each tally to its group and the chart, with a result per item', async () => {
    const { app, store, keys } = await createCollectorApp();
    const stored = makeMessage({ log: 'shop', dateTime: new Date(at).toISOString() });
    await store.append([stored]);
    const res = await request(app)
      .post('/v3/messages/shop/_tally')
      .set('api_key', keys.write)
      .send([tally(stored.fingerprint, 3), tally('other-group', 2)]);
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      { id: expect.any(String), status: 'created', statusCode: 201 },
      { id: expect.any(String), status: 'created', statusCode: 201, group: 'new' },
    ]);
    const { groups } = await store.groups({ log: 'shop' });
    expect(groups.find((g) => g.fingerprint === stored.fingerprint)).toMatchObject({ count: 4, countedOnly: 3 });
    expect(groups.find((g) => g.fingerprint === 'other-group')).toMatchObject({
      count: 2,
      countedOnly: 2,
      title: 'Order 1 could not be saved',
    });
    const chart = await store.histogram({
      log: 'shop',
      from: new Date(at - 60_000).toISOString(),
      to: new Date(at + 60_000).toISOString(),
      buckets: 2,
    });
    expect(chart.counts.reduce((a, b) => a + b, 0)).toBe(6);
  });

  it('takes { tallies: [...] } too; the route names the log', async () => {
    const { app, store, keys } = await createCollectorApp();
    const res = await request(app)
      .post('/v3/messages/billing/_tally')
      .set('api_key', keys.write)
      .send({ tallies: [tally('fp', 2, 'shop')] });
    expect(res.status).toBe(200);
    expect((await store.groups({ log: 'billing' })).groups).toMatchObject([{ fingerprint: 'fp', count: 2 }]);
    expect((await store.groups({ log: 'shop' })).groups).toEqual([]);
  });

  it('is idempotent by tally id: a retried tally is a duplicate and counted once', async () => {
    const { app, store, keys } = await createCollectorApp();
    const t = tally('fp', 5);
    const first = await request(app).post('/v3/messages/shop/_tally').set('api_key', keys.write).send([t]);
    const again = await request(app).post('/v3/messages/shop/_tally').set('api_key', keys.write).send([t]);
    expect(first.body).toEqual([{ id: t.id, status: 'created', statusCode: 201, group: 'new' }]);
    expect(again.body).toEqual([{ id: t.id, status: 'duplicate', statusCode: 200 }]);
    expect(sum((await store.groups({ log: 'shop' })).groups)).toBe(5);
  });

  it('rejects an invalid tally with 400 in its own result and keeps the others', async () => {
    const { app, store, keys } = await createCollectorApp();
    const good = tally('fp', 2);
    const res = await request(app)
      .post('/v3/messages/shop/_tally')
      .set('api_key', keys.write)
      .send([{ ...tally('bad', 2), count: 3 }, good, { id: 'x', fingerprint: 'y', count: -1 }]);
    expect(res.status).toBe(200);
    expect(res.body[0]).toMatchObject({
      status: 'rejected',
      statusCode: 400,
      error: { code: 'ERR_ELMAH_INVALID_MESSAGE', message: expect.stringContaining('sum to 2, not count 3') },
    });
    expect(res.body[1]).toEqual({ id: good.id, status: 'created', statusCode: 201, group: 'new' });
    expect(res.body[2]).toMatchObject({ status: 'rejected', statusCode: 400 });
    expect((await store.groups({ log: 'shop' })).groups.map((g) => g.fingerprint)).toEqual(['fp']);
  });

  it('answers a body that is not a list with 400, and too many tallies with 413', async () => {
    const { app, keys } = await createCollectorApp({ maxBulkMessages: 2 });
    const notList = await request(app).post('/v3/messages/shop/_tally').set('api_key', keys.write).send({ title: 'x' });
    expect(notList.status).toBe(400);
    expect(notList.body.error.code).toBe('ERR_ELMAH_INVALID_MESSAGE');
    const many = await request(app)
      .post('/v3/messages/shop/_tally')
      .set('api_key', keys.write)
      .send([tally('a', 1), tally('b', 1), tally('c', 1)]);
    expect(many.status).toBe(413);
    expect(many.body.error.code).toBe('ERR_ELMAH_TOO_LARGE');
  });

  it('needs a key (401) with messages_write for the log (403)', async () => {
    const { app, store, keys } = await createCollectorApp();
    const scoped = await addKey(store, ['messages_write'], { logs: ['billing'] });
    const none = await request(app)
      .post('/v3/messages/shop/_tally')
      .send([tally('fp', 1)]);
    const unknown = await request(app)
      .post('/v3/messages/shop/_tally')
      .set('api_key', `elmah_aaaaaaaa_${'A'.repeat(43)}`)
      .send([tally('fp', 1)]);
    const readOnly = await request(app)
      .post('/v3/messages/shop/_tally')
      .set('api_key', keys.read)
      .send([tally('fp', 1)]);
    const otherLog = await request(app)
      .post('/v3/messages/shop/_tally')
      .set('api_key', scoped)
      .send([tally('fp', 1)]);
    expect([none.status, unknown.status, readOnly.status, otherLog.status]).toEqual([401, 401, 403, 403]);
    expect(readOnly.body.error.code).toBe('ERR_ELMAH_PERMISSION');
    expect((await store.groups({})).groups).toEqual([]);
  });
});

describe('RemoteLogClient.tally', () => {
  it('posts tallies to _tally per log and maps the results back in order', async () => {
    const { app, store, keys } = await createCollectorApp();
    const server = await listen(app);
    const client = new RemoteLogClient(server.url, keys.write);
    try {
      const a = tally('fp-a', 2, 'shop');
      const b = tally('fp-b', 3, 'billing');
      const results = await client.tally([a, { fingerprint: 'x', count: 0, log: 'shop' }, b]);
      expect(results[0]).toEqual({ id: a.id, status: 'created', group: 'new' });
      expect(results[1]).toMatchObject({ status: 'rejected', error: { code: 'ERR_ELMAH_INVALID_MESSAGE' } });
      expect(results[2]).toEqual({ id: b.id, status: 'created', group: 'new' });
      expect(await client.tally([a])).toEqual([{ id: a.id, status: 'duplicate' }]);
      expect(sum((await store.groups({})).groups)).toBe(5);
    } finally {
      await client.close();
      await server.close();
    }
  });
});
