// collector(): every route and status code of the HTTP API, over a memory store with keys.
import express from 'express';
import request from 'supertest';
import { collector } from '../../src/collector';
import { ElmahConfigError } from '../../src/model/errors';
import { MAX_MESSAGE_BYTES } from '../../src/model/message';
import { MemoryStore } from '../../src/stores/memory';
import { addKey } from '../helpers/keys';
import { makeMessage } from '../helpers/messages';
import { createCollectorApp, makeElmahIoMessage } from '../helpers/collector';

describe('collector: POST /v3/messages/:log', () => {
  it('stores an elmah.io-shaped message: 201, Location, every field kept, extra fields ignored', async () => {
    const { app, store, keys } = await createCollectorApp();
    const res = await request(app).post('/v3/messages/shop').set('api_key', keys.write).send(makeElmahIoMessage());
    expect(res.status).toBe(201);
    expect(res.body.status).toBe('created');
    expect(res.headers.location).toBe(`/v3/messages/shop/${res.body.id}`);
    const stored = await store.get('shop', res.body.id);
    expect(stored).toMatchObject({
      log: 'shop',
      title: 'Object reference not set to an instance of an object',
      type: 'System.NullReferenceException',
      statusCode: 500,
      severity: 'Error',
      hostname: 'web-1',
      application: 'shop',
      user: 'alice',
      url: '/orders/42',
      method: 'GET',
      version: '1.2.3',
      correlationId: 'c-1',
      category: 'Shop.Orders',
      cookies: [{ key: 'sid', value: '[Filtered]' }],
      form: [{ key: 'q', value: 'x' }],
      queryString: [{ key: 'page', value: '2' }],
      serverVariables: [{ key: 'HTTP_USER_AGENT', value: 'curl/8' }],
      data: [{ key: 'X-ELMAHIO-APPLICATION', value: 'shop' }],
    });
    // elmah.io's breadcrumbs are kept (severity completed); other extra fields are ignored.
    expect(stored?.breadcrumbs).toEqual([
      { dateTime: '2026-01-01T00:00:00.000Z', severity: 'Information', action: 'Navigation', message: 'home' },
    ]);
    expect(stored?.fingerprint).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Date.parse(stored!.dateTime)).toBeGreaterThan(Date.now() - 60_000);
  });

  it("accepts only a title (elmah.io's one required field), any severity case and elmah.io's content type", async () => {
    const { app, store, keys } = await createCollectorApp();
    const res = await request(app)
      .post('/v3/messages/default')
      .set('api_key', keys.write)
      .set('Content-Type', 'application/json-patch+json')
      .send(JSON.stringify({ title: 'This is a test message', severity: 'warning', dateTime: '2026-05-01T10:00:00+02:00' }));
    expect(res.status).toBe(201);
    const stored = await store.get('default', res.body.id);
    expect(stored).toMatchObject({
      title: 'This is a test message',
      severity: 'Warning',
      dateTime: '2026-05-01T08:00:00.000Z',
      type: 'Error',
    });
  });

  it('takes the key from the api_key header, a Bearer token or the api_key query parameter', async () => {
    const { app, store, keys } = await createCollectorApp();
    const a = await request(app).post('/v3/messages/default').set('api_key', keys.write).send({ title: 'header' });
    const b = await request(app).post('/v3/messages/default').set('Authorization', `Bearer ${keys.write}`).send({ title: 'bearer' });
    const c = await request(app)
      .post(`/v3/messages/default?api_key=${encodeURIComponent(keys.write)}`)
      .send({ title: 'query' });
    expect([a.status, b.status, c.status]).toEqual([201, 201, 201]);
    expect((await store.search({ log: 'default' })).messages.map((m) => m.title).sort()).toEqual(['bearer', 'header', 'query']);
  });

  it('answers a retried message with the same id as a duplicate (200) and stores it once', async () => {
    const { app, store, keys } = await createCollectorApp();
    const body = { id: '01JTESTRETRY0000000000000A', title: 'once' };
    const first = await request(app).post('/v3/messages/default').set('api_key', keys.write).send(body);
    const again = await request(app)
      .post('/v3/messages/default')
      .set('api_key', keys.write)
      .send({ ...body, title: 'twice' });
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: body.id, status: 'duplicate' });
    expect(again.headers.location).toBe(`/v3/messages/default/${body.id}`);
    const all = await store.search({ log: 'default' });
    expect(all.total).toBe(1);
    expect(all.messages[0]?.title).toBe('once');
  });

  it('answers 400 with field errors for wrong types, and for invalid JSON', async () => {
    const { app, keys } = await createCollectorApp();
    const res = await request(app)
      .post('/v3/messages/default')
      .set('api_key', keys.write)
      .send({ title: 42, statusCode: 'abc', severity: 'Loud', cookies: 'x' });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_ELMAH_INVALID_MESSAGE');
    expect(res.body.error.details.map((d: { field: string }) => d.field).sort()).toEqual(['cookies', 'severity', 'statusCode', 'title']);

    const bad = await request(app)
      .post('/v3/messages/default')
      .set('api_key', keys.write)
      .set('Content-Type', 'application/json')
      .send('{"title": ');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('ERR_ELMAH_INVALID_MESSAGE');

    const arr = await request(app)
      .post('/v3/messages/default')
      .set('api_key', keys.write)
      .send([{ title: 'a' }]);
    expect(arr.status).toBe(400);
    const empty = await request(app).post('/v3/messages/default').set('api_key', keys.write);
    expect(empty.status).toBe(400);
  });

  it('answers 400 for an invalid log name in the path', async () => {
    const { app, keys } = await createCollectorApp();
    const res = await request(app).post('/v3/messages/-bad').set('api_key', keys.write).send({ title: 'x' });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual(expect.arrayContaining([expect.objectContaining({ field: 'log' })]));
  });

  it('answers 413 for a message over 256 KiB, and 415 for a body that is not JSON', async () => {
    const { app, store, keys } = await createCollectorApp();
    const big = await request(app)
      .post('/v3/messages/default')
      .set('api_key', keys.write)
      .send({ title: 'big', detail: 'x'.repeat(MAX_MESSAGE_BYTES) });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('ERR_ELMAH_TOO_LARGE');
    // Under the raw limit but over 256 KiB once normalized: still 413.
    const lists = Array.from({ length: 9000 }, (_, i) => ({ key: `k${i}`, value: 'v'.repeat(10) }));
    const justOver = await request(app).post('/v3/messages/default').set('api_key', keys.write).send({ title: 't', data: lists });
    expect(justOver.status).toBe(413);

    const text = await request(app)
      .post('/v3/messages/default')
      .set('api_key', keys.write)
      .set('Content-Type', 'text/plain')
      .send('title=x');
    expect(text.status).toBe(415);
    expect(text.body.error.code).toBe('ERR_ELMAH_UNSUPPORTED_MEDIA_TYPE');
    const form = await request(app).post('/v3/messages/default').set('api_key', keys.write).type('form').send({ title: 'x' });
    expect(form.status).toBe(415);
    expect((await store.search({})).total).toBe(0);
  });
});

describe('collector: keys and permissions', () => {
  it('answers 401 for a missing, malformed, unknown, revoked or expired key, without echoing the key', async () => {
    const { app, store, keys } = await createCollectorApp();
    const post = (key?: string) => {
      const r = request(app).post('/v3/messages/default');
      return (key === undefined ? r : r.set('api_key', key)).send({ title: 'x' });
    };
    const missing = await post();
    expect(missing.status).toBe(401);
    expect(missing.body.error.code).toBe('ERR_ELMAH_KEY_MISSING');

    const malformed = await post('not-a-key');
    expect(malformed.status).toBe(401);
    expect(malformed.body.error.code).toBe('ERR_ELMAH_KEY_INVALID');

    const unknown = await post(`elmah_aaaaaaaa_${'A'.repeat(43)}`);
    expect(unknown.status).toBe(401);
    expect(unknown.body.error.code).toBe('ERR_ELMAH_KEY_INVALID');

    const wrongSecret = `${keys.write.slice(0, 15)}${'B'.repeat(43)}`;
    const wrong = await post(wrongSecret);
    expect(wrong.status).toBe(401);

    const revokedKey = await addKey(store, ['messages_write']);
    await store.revokeKey(revokedKey.slice(6, 14));
    const revoked = await post(revokedKey);
    expect(revoked.status).toBe(401);
    expect(revoked.body.error.message).toMatch(/revoked/);

    const expiredKey = await addKey(store, ['messages_write'], { expires: '2020-01-01T00:00:00.000Z' });
    const expired = await post(expiredKey);
    expect(expired.status).toBe(401);
    expect(expired.body.error.message).toMatch(/expired/);

    for (const r of [missing, malformed, unknown, wrong, revoked, expired]) {
      expect(JSON.stringify(r.body)).not.toContain(keys.write.slice(15));
      expect(JSON.stringify(r.body)).not.toContain(revokedKey.slice(15));
    }
    expect((await store.search({})).total).toBe(0);
  });

  it('answers 403 for a key without the permission, or limited to another log', async () => {
    const { app, store, keys } = await createCollectorApp();
    const read = await request(app).post('/v3/messages/default').set('api_key', keys.read).send({ title: 'x' });
    expect(read.status).toBe(403);
    expect(read.body.error.code).toBe('ERR_ELMAH_PERMISSION');
    expect(read.body.error.message).toMatch(/messages_write/);

    const writeSearch = await request(app).get('/v3/messages/default').set('api_key', keys.write);
    expect(writeSearch.status).toBe(403);

    const scoped = await addKey(store, ['messages_write', 'messages_read'], { logs: ['shop'] });
    const other = await request(app).post('/v3/messages/billing').set('api_key', scoped).send({ title: 'x' });
    expect(other.status).toBe(403);
    const own = await request(app).post('/v3/messages/shop').set('api_key', scoped).send({ title: 'x' });
    expect(own.status).toBe(201);
    const otherBulk = await request(app)
      .post('/v3/messages/billing/_bulk')
      .set('api_key', scoped)
      .send([{ title: 'x' }]);
    expect(otherBulk.status).toBe(403);
    const otherRead = await request(app).get('/v3/messages?log=billing').set('api_key', scoped);
    expect(otherRead.status).toBe(403);
    expect((await store.search({})).total).toBe(1);
  });
});

describe('collector: rate limit', () => {
  it('answers 429 with Retry-After once a key has used its burst; other keys go on', async () => {
    const { app, keys } = await createCollectorApp({ rateLimit: { perSecond: 0.5, burst: 2 } });
    const statuses: number[] = [];
    let last: request.Response | undefined;
    for (let i = 0; i < 3; i++) {
      last = await request(app)
        .post('/v3/messages/default')
        .set('api_key', keys.write)
        .send({ title: `m${i}` });
      statuses.push(last.status);
    }
    expect(statuses).toEqual([201, 201, 429]);
    expect(last!.body.error.code).toBe('ERR_ELMAH_RATE_LIMITED');
    expect(Number(last!.headers['retry-after'])).toBe(2);
    const other = await request(app).get('/v3/keys/current').set('api_key', keys.read);
    expect(other.status).toBe(200);
  });

  it("does not let a guessed key id drain the real key's bucket", async () => {
    const { app, keys } = await createCollectorApp({ rateLimit: { perSecond: 0.1, burst: 1 } });
    const forged = `${keys.write.slice(0, 15)}${'C'.repeat(43)}`;
    const forgedRes = await request(app).post('/v3/messages/default').set('api_key', forged).send({ title: 'x' });
    expect(forgedRes.status).toBe(401);
    const real = await request(app).post('/v3/messages/default').set('api_key', keys.write).send({ title: 'x' });
    expect(real.status).toBe(201);
  });
});

describe('collector: POST /v3/messages/:log/_bulk', () => {
  it('answers a result per item, stores the valid ones and rejects the others', async () => {
    const { app, store, keys } = await createCollectorApp();
    const res = await request(app)
      .post('/v3/messages/shop/_bulk')
      .set('api_key', keys.write)
      .send([
        { title: 'one', id: '01JBULK0000000000000000001' },
        { title: 7 },
        { title: 'three', data: Array.from({ length: 9000 }, (_, i) => ({ key: `k${i}`, value: 'v'.repeat(20) })) },
        makeElmahIoMessage({ id: '01JBULK0000000000000000004' }),
      ]);
    expect(res.status).toBe(200);
    expect(res.body).toHaveLength(4);
    expect(res.body[0]).toEqual({
      id: '01JBULK0000000000000000001',
      status: 'created',
      statusCode: 201,
      location: '/v3/messages/shop/01JBULK0000000000000000001',
      group: 'new',
    });
    expect(res.body[1]).toMatchObject({ status: 'rejected', statusCode: 400, error: { code: 'ERR_ELMAH_INVALID_MESSAGE' } });
    expect(res.body[2]).toMatchObject({ status: 'rejected', statusCode: 413, error: { code: 'ERR_ELMAH_TOO_LARGE' } });
    expect(res.body[3]).toMatchObject({ status: 'created', statusCode: 201 });
    expect((await store.search({ log: 'shop' })).total).toBe(2);
  });

  it('is idempotent: a retried batch stores nothing twice', async () => {
    const { app, store, keys } = await createCollectorApp();
    const batch = Array.from({ length: 20 }, (_, i) => ({ id: `01JIDEM00000000000000000${String(i).padStart(2, '0')}`, title: `m${i}` }));
    const first = await request(app).post('/v3/messages/default/_bulk').set('api_key', keys.write).send(batch.slice(0, 12));
    const retry = await request(app).post('/v3/messages/default/_bulk').set('api_key', keys.write).send(batch);
    expect(first.body.every((r: { status: string }) => r.status === 'created')).toBe(true);
    expect(retry.body.map((r: { status: string }) => r.status)).toEqual([...Array(12).fill('duplicate'), ...Array(8).fill('created')]);
    expect((await store.search({ log: 'default' })).total).toBe(20);
  });

  it('answers 400 for a body that is not an array, 413 past the per-request caps', async () => {
    const { app, store, keys } = await createCollectorApp({ maxBulkMessages: 5, maxBulkBytes: 4096 });
    const obj = await request(app).post('/v3/messages/default/_bulk').set('api_key', keys.write).send({ title: 'x' });
    expect(obj.status).toBe(400);
    const many = await request(app)
      .post('/v3/messages/default/_bulk')
      .set('api_key', keys.write)
      .send(Array.from({ length: 6 }, () => ({ title: 'x' })));
    expect(many.status).toBe(413);
    expect(many.body.error.code).toBe('ERR_ELMAH_TOO_LARGE');
    const bytes = await request(app)
      .post('/v3/messages/default/_bulk')
      .set('api_key', keys.write)
      .send([{ title: 'x', detail: 'd'.repeat(5000) }]);
    expect(bytes.status).toBe(413);
    const empty = await request(app).post('/v3/messages/default/_bulk').set('api_key', keys.write).send([]);
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual([]);
    expect((await store.search({})).total).toBe(0);
  });
});

describe('collector: reading', () => {
  async function seeded() {
    const ctx = await createCollectorApp();
    const a = Array.from({ length: 5 }, (_, i) =>
      makeMessage({ log: 'shop', statusCode: i < 3 ? 500 : 404, dateTime: `2026-04-0${i + 1}T00:00:00.000Z` }),
    );
    const b = [makeMessage({ log: 'billing', type: 'TypeError', dateTime: '2026-04-10T00:00:00.000Z' })];
    await ctx.store.append([...a, ...b]);
    return { ...ctx, a, b };
  }

  it('GET /v3/messages/:log pages newest first with total and a searchAfter cursor', async () => {
    const { app, keys, a } = await seeded();
    const page = await request(app).get('/v3/messages/shop?pageSize=2&pageIndex=1').set('api_key', keys.read);
    expect(page.status).toBe(200);
    expect(page.body.total).toBe(5);
    expect(page.body.messages.map((m: { id: string }) => m.id)).toEqual([a[2]!.id, a[1]!.id]);

    const first = await request(app).get('/v3/messages/shop?pageSize=3').set('api_key', keys.read);
    const next = await request(app).get(`/v3/messages/shop?pageSize=3&searchAfter=${first.body.searchAfter}`).set('api_key', keys.read);
    expect(next.body.messages.map((m: { id: string }) => m.id)).toEqual([a[1]!.id, a[0]!.id]);
    expect(next.body.searchAfter).toBeUndefined();
  });

  it('filters by query and time range; answers 400 for bad parameters', async () => {
    const { app, keys, a } = await seeded();
    const q = await request(app).get('/v3/messages/shop').query({ query: 'statusCode:[500 TO 599]' }).set('api_key', keys.read);
    expect(q.body.total).toBe(3);
    const ranged = await request(app)
      .get('/v3/messages/shop')
      .query({ from: '2026-04-02T00:00:00Z', to: '2026-04-04T00:00:00Z' })
      .set('api_key', keys.read);
    expect(ranged.body.messages.map((m: { id: string }) => m.id)).toEqual([a[2]!.id, a[1]!.id]);
    for (const bad of [
      'pageSize=0',
      'pageSize=5000',
      'pageIndex=-1',
      'pageSize=abc',
      'from=yesterday',
      'query=statusCode:[500',
      'searchAfter=xyz',
    ]) {
      const res = await request(app).get(`/v3/messages/shop?${bad}`).set('api_key', keys.read);
      expect({ bad, status: res.status, code: res.body.error?.code }).toEqual({ bad, status: 400, code: 'ERR_ELMAH_QUERY' });
    }
    for (const path of ['/v3/messages/sh%20op', '/v3/messages?log=-shop', '/v3/messages/_groups?log=a%2Fb']) {
      const res = await request(app).get(path).set('api_key', keys.read);
      expect({ path, status: res.status, code: res.body.error?.code }).toEqual({ path, status: 400, code: 'ERR_ELMAH_LOG_NAME' });
    }
  });

  it('GET /v3/messages searches across logs; log= narrows it', async () => {
    const { app, keys } = await seeded();
    const all = await request(app).get('/v3/messages').set('api_key', keys.read);
    expect(all.body.total).toBe(6);
    const some = await request(app).get('/v3/messages?log=billing&log=shop').set('api_key', keys.read);
    expect(some.body.total).toBe(6);
    const one = await request(app).get('/v3/messages?log=billing').set('api_key', keys.read);
    expect(one.body.total).toBe(1);
  });

  it('GET /v3/messages/:log/:id returns the message; 404 when absent; 403 without messages_read', async () => {
    const { app, keys, a } = await seeded();
    const ok = await request(app).get(`/v3/messages/shop/${a[0]!.id}`).set('api_key', keys.read);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual(a[0]);
    const missing = await request(app).get('/v3/messages/shop/NOPE').set('api_key', keys.read);
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('ERR_ELMAH_NOT_FOUND');
    const wrongLog = await request(app).get(`/v3/messages/billing/${a[0]!.id}`).set('api_key', keys.read);
    expect(wrongLog.status).toBe(404);
    const write = await request(app).get(`/v3/messages/shop/${a[0]!.id}`).set('api_key', keys.write);
    expect(write.status).toBe(403);
  });

  it('serves groups, histogram and neighbours for remote viewers', async () => {
    const { app, keys, a } = await seeded();
    const groups = await request(app).get('/v3/messages/_groups?log=shop').set('api_key', keys.read);
    expect(groups.status).toBe(200);
    expect(groups.body.groups.reduce((n: number, g: { count: number }) => n + g.count, 0)).toBe(5);
    const hist = await request(app)
      .get('/v3/messages/_histogram')
      .query({ log: 'shop', from: '2026-04-01T00:00:00Z', to: '2026-04-06T00:00:00Z', buckets: 5 })
      .set('api_key', keys.read);
    expect(hist.status).toBe(200);
    expect(hist.body.counts).toEqual([1, 1, 1, 1, 1]);
    const noBuckets = await request(app).get('/v3/messages/_histogram').set('api_key', keys.read);
    expect(noBuckets.status).toBe(400);
    const nb = await request(app).get(`/v3/messages/shop/${a[2]!.id}/_neighbours`).set('api_key', keys.read);
    expect(nb.body).toEqual({ newer: a[3]!.id, older: a[1]!.id });
  });

  it('GET /v3/logs lists logs; GET /v3/keys/current describes the key without its secret', async () => {
    const { app, keys } = await seeded();
    const logs = await request(app).get('/v3/logs').set('api_key', keys.read);
    expect(logs.status).toBe(200);
    expect(logs.body.map((l: { name: string; count: number }) => [l.name, l.count]).sort()).toEqual([
      ['billing', 1],
      ['shop', 5],
    ]);
    const logsWrite = await request(app).get('/v3/logs').set('api_key', keys.write);
    expect(logsWrite.status).toBe(403);

    const me = await request(app).get('/v3/keys/current').set('Authorization', `Bearer ${keys.write}`);
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ id: keys.write.slice(6, 14), name: 'messages_write', permissions: ['messages_write'], logs: [] });
    expect(JSON.stringify(me.body)).not.toContain(keys.write.slice(15));
    expect(me.headers['cache-control']).toBe('no-store');
    expect(me.headers['x-content-type-options']).toBe('nosniff');
    expect(me.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(me.headers.etag).toBeUndefined();
  });
});

describe('collector: deleting', () => {
  it('DELETE /v3/messages/:log/:id deletes one (200), then 404; needs messages_delete', async () => {
    const { app, store, keys } = await createCollectorApp();
    const m = makeMessage({ log: 'shop' });
    await store.append([m]);
    const denied = await request(app).delete(`/v3/messages/shop/${m.id}`).set('api_key', keys.read);
    expect(denied.status).toBe(403);
    const ok = await request(app).delete(`/v3/messages/shop/${m.id}`).set('api_key', keys.del);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ deleted: 1 });
    const again = await request(app).delete(`/v3/messages/shop/${m.id}`).set('api_key', keys.del);
    expect(again.status).toBe(404);
    expect(await store.get('shop', m.id)).toBeUndefined();
  });

  it('DELETE /v3/messages/:log deletes by query (URL or elmah.io JSON body) or by ids', async () => {
    const { app, store, keys } = await createCollectorApp();
    const ms = [
      makeMessage({ log: 'shop', statusCode: 404 }),
      makeMessage({ log: 'shop', statusCode: 404 }),
      makeMessage({ log: 'shop', statusCode: 500 }),
      makeMessage({ log: 'shop', statusCode: 503 }),
      makeMessage({ log: 'shop', statusCode: 502 }),
    ];
    await store.append(ms);
    const byUrl = await request(app).delete('/v3/messages/shop?query=statusCode:404').set('api_key', keys.del);
    expect(byUrl.body).toEqual({ deleted: 2 });
    const byBody = await request(app)
      .delete('/v3/messages/shop')
      .set('api_key', keys.del)
      .set('Content-Type', 'application/json-patch+json')
      .send(JSON.stringify({ query: 'statusCode:500' }));
    expect(byBody.body).toEqual({ deleted: 1 });
    const byIds = await request(app)
      .delete('/v3/messages/shop')
      .set('api_key', keys.del)
      .send({ ids: [ms[3]!.id, 'nope'] });
    expect(byIds.body).toEqual({ deleted: 1 });
    const badIds = await request(app).delete('/v3/messages/shop').set('api_key', keys.del).send({ ids: 'x' });
    expect(badIds.status).toBe(400);
    expect((await store.search({})).messages.map((m) => m.id)).toEqual([ms[4]!.id]);
  });
});

describe('collector: group state', () => {
  it('POST /v3/groups/:log/_state changes groups with groups_write only; GET /v3/messages/_groups filters by status', async () => {
    const { app, store, keys } = await createCollectorApp();
    const m = makeMessage({ log: 'shop', fingerprint: 'fpC' });
    await store.append([m, makeMessage({ log: 'shop', fingerprint: 'fpD' })]);
    const triage = await addKey(store, ['groups_write']);
    const body = { fingerprints: ['fpC'], status: 'ignored', until: '2099-01-01T00:00:00Z' };
    for (const key of [keys.write, keys.admin]) {
      const denied = await request(app).post('/v3/groups/shop/_state').set('api_key', key).send(body);
      expect(denied.status).toBe(403);
      expect(denied.body.error.code).toBe('ERR_ELMAH_PERMISSION');
    }
    const ok = await request(app).post('/v3/groups/shop/_state').set('api_key', triage).send(body);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ changed: 1 });
    const invalid = await request(app)
      .post('/v3/groups/shop/_state')
      .set('api_key', triage)
      .send({ fingerprints: ['fpC'], status: 'hidden' });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error).toMatchObject({ code: 'ERR_ELMAH_INVALID_STATE', details: [{ field: 'status' }] });
    const ignored = await request(app).get('/v3/messages/_groups?status=ignored').set('api_key', keys.read);
    expect(ignored.body.groups.map((g: { fingerprint: string }) => g.fingerprint)).toEqual(['fpC']);
    expect(ignored.body.groups[0].state).toMatchObject({ status: 'ignored', ignoreUntil: '2099-01-01T00:00:00.000Z' });
    const open = await request(app).get('/v3/messages/_groups?status=open,resolved').set('api_key', keys.read);
    expect(open.body.groups.map((g: { fingerprint: string }) => g.fingerprint)).toEqual(['fpD']);
    const bad = await request(app).get('/v3/messages/_groups?status=fixed').set('api_key', keys.read);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('ERR_ELMAH_QUERY');
  });

  it("elmah.io's _fix and _hide resolve or ignore the message's group; they need groups_write and messages_read", async () => {
    const { app, store, keys } = await createCollectorApp();
    const fixed = makeMessage({ log: 'shop', fingerprint: 'fpF' });
    const hidden = makeMessage({ log: 'shop', fingerprint: 'fpH' });
    await store.append([fixed, hidden]);
    const triage = await addKey(store, ['groups_write', 'messages_read']);
    const blind = await addKey(store, ['groups_write']);
    expect((await request(app).post(`/v3/messages/shop/${fixed.id}/_fix`).set('api_key', keys.admin)).status).toBe(403);
    expect((await request(app).post(`/v3/messages/shop/${fixed.id}/_fix`).set('api_key', blind)).status).toBe(403);
    const fix = await request(app).post(`/v3/messages/shop/${fixed.id}/_fix`).set('api_key', triage);
    expect(fix.status).toBe(200);
    expect(fix.body).toEqual({ changed: 1 });
    expect((await request(app).post(`/v3/messages/shop/${hidden.id}/_hide`).set('api_key', triage)).body).toEqual({ changed: 1 });
    expect((await store.group('shop', 'fpF'))?.state.status).toBe('resolved');
    expect((await store.group('shop', 'fpH'))?.state).toMatchObject({ status: 'ignored', ignoreUntil: undefined });
    const missing = await request(app).post('/v3/messages/shop/no-such-id/_hide').set('api_key', triage);
    expect(missing.status).toBe(404);
  });
});

describe('collector: the router', () => {
  it('answers unknown routes under /v3 with a JSON 404 and leaves other paths to the app', async () => {
    const { app, keys } = await createCollectorApp();
    app.get('/health', (_req, res) => {
      res.send('ok');
    });
    const res = await request(app).get('/v3/nothing').set('api_key', keys.read);
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('ERR_ELMAH_NOT_FOUND');
    expect((await request(app).get('/health')).text).toBe('ok');
  });

  it('works mounted under a path: Location includes the mount point', async () => {
    const { app, keys } = await createCollectorApp({}, '/errors');
    const res = await request(app).post('/errors/v3/messages/default').set('api_key', keys.write).send({ title: 'x' });
    expect(res.status).toBe(201);
    expect(res.headers.location).toBe(`/errors/v3/messages/default/${res.body.id}`);
  });

  it('uses a body parsed by express.json() placed before it', async () => {
    const { store, keys } = await createCollectorApp();
    const app = express();
    app.use(express.json());
    app.use(collector({ store }));
    const res = await request(app).post('/v3/messages/default').set('api_key', keys.write).send({ title: 'pre-parsed' });
    expect(res.status).toBe(201);
    expect((await store.get('default', res.body.id))?.title).toBe('pre-parsed');
  });

  it('answers 500 ERR_ELMAH_INTERNAL for an unexpected failure, reports it to onError, hides the details', async () => {
    const { store, keys } = await createCollectorApp();
    const seen: unknown[] = [];
    store.search = async () => {
      throw new Error('disk on fire at /secret/path');
    };
    const app = express();
    app.use(collector({ store, onError: (err) => seen.push(err) }));
    const res = await request(app).get('/v3/messages/default').set('api_key', keys.read);
    expect(res.status).toBe(500);
    expect(res.body.error.code).toBe('ERR_ELMAH_INTERNAL');
    expect(JSON.stringify(res.body)).not.toContain('/secret/path');
    expect(seen).toHaveLength(1);
  });

  it('opens a store from a URL, reports ready, and closes it', async () => {
    const seen: unknown[] = [];
    const router = collector({ store: 'memory:', onError: (err) => seen.push(err) });
    await expect(router.ready).resolves.toBeUndefined();
    await router.close();
    const app = express();
    app.use(router);
    const res = await request(app)
      .get('/v3/logs')
      .set('api_key', `elmah_aaaaaaaa_${'A'.repeat(43)}`);
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('ERR_ELMAH_STORE_CLOSED');
    // Reported to onError (by default a console.error line), as a closed store is no passing hiccup.
    expect(seen).toEqual([expect.objectContaining({ code: 'ERR_ELMAH_STORE_CLOSED' })]);
  });

  it('checks its options when called, and catches app.use(collector) without the call', async () => {
    expect(() => collector({ stroe: 'memory:' } as never)).toThrow(ElmahConfigError);
    expect(() => collector({ stroe: 'memory:' } as never)).toThrow(/did you mean "store"/);
    expect(() => collector({ store: 'http://127.0.0.1:4000' })).toThrow(expect.objectContaining({ code: 'ERR_ELMAH_OPTION_TYPE' }));
    expect(() => collector({ store: new MemoryStore(), rateLimit: { perSecond: -1 } })).toThrow(/positive/);
    expect(() => collector({ store: new MemoryStore(), rateLimit: true as never })).toThrow(ElmahConfigError);
    const app = express();
    app.use(collector as never);
    app.use((err: { code?: string }, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(500).json({ code: err.code });
    });
    const res = await request(app).get('/v3/logs');
    expect(res.body.code).toBe('ERR_ELMAH_NOT_CALLED');
  });
});
