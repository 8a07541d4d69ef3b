// Redaction on arrival: messages from any client are stored with the capture rules applied, through the
// single and `_bulk` routes, and grouped as if the secrets had never been there.
import request from 'supertest';
import { redactMessage } from '../../src/model/redact';
import { SECRET_CASES } from '../fixtures/secrets-corpus';
import { createCollectorApp, makeElmahIoMessage } from '../helpers/collector';

/** What elmah.io's browser client sends for a failing page opened with a token in its URL. */
function browserMessage(token: string): Record<string, unknown> {
  return makeElmahIoMessage({
    title: 'Uncaught TypeError: x is undefined',
    type: 'TypeError',
    detail: `TypeError: x is undefined\n    at load (https://app.example/main.js?token=${token}:12:34)\n    at https://app.example/app.js?v=3&token=${token}:1:2`,
    url: `https://app.example/account?token=${token}&tab=2`,
    queryString: [
      { key: 'token', value: token },
      { key: 'tab', value: '2' },
    ],
    serverVariables: [
      { key: 'HTTP_COOKIE', value: `sid=${token}` },
      { key: 'HTTP_AUTHORIZATION', value: `Bearer ${token}` },
      { key: 'HTTP_USER_AGENT', value: 'Mozilla/5.0' },
    ],
    cookies: [{ key: 'sid', value: token }],
    form: [
      { key: 'password', value: token },
      { key: 'q', value: 'shoes' },
    ],
    data: [
      { key: 'X-ELMAHIO-APPLICATION', value: 'shop' },
      { key: 'api_key', value: token },
    ],
  });
}

describe('collector: messages are redacted on arrival', () => {
  it("a browser client's token is gone from the query table, the url, the stack, cookies, headers and form", async () => {
    const { app, store, keys } = await createCollectorApp();
    const token = 'tok-7f3a9c2b1d4e';
    const res = await request(app).post('/v3/messages/shop').set('api_key', keys.write).send(browserMessage(token));
    expect(res.status).toBe(201);
    const stored = (await store.get('shop', res.body.id))!;
    expect(JSON.stringify(stored)).not.toContain(token);
    expect(stored.url).toBe('https://app.example/account?token=[Filtered]&tab=2');
    expect(stored.queryString).toEqual([
      { key: 'token', value: '[Filtered]' },
      { key: 'tab', value: '2' },
    ]);
    expect(stored.detail).toContain('at load (https://app.example/main.js?token=[Filtered]:12:34)');
    expect(stored.detail).toContain('app.js?v=3&token=[Filtered]:1:2');
    expect(stored.cookies).toEqual([{ key: 'sid', value: '[Filtered]' }]);
    expect(stored.serverVariables).toEqual([
      { key: 'HTTP_COOKIE', value: '[Filtered]' },
      { key: 'HTTP_AUTHORIZATION', value: '[Filtered]' },
      { key: 'HTTP_USER_AGENT', value: 'Mozilla/5.0' },
    ]);
    expect(stored.form).toEqual([
      { key: 'password', value: '[Filtered]' },
      { key: 'q', value: 'shoes' },
    ]);
    expect(stored.data).toEqual([
      { key: 'X-ELMAHIO-APPLICATION', value: 'shop' },
      { key: 'api_key', value: '[Filtered]' },
    ]);
    // Redacting what was stored changes nothing.
    expect(redactMessage(stored)).toEqual(stored);
  });

  it('every case of the secrets corpus is redacted in _bulk posts, and the text around it kept', async () => {
    const { app, store, keys } = await createCollectorApp();
    const res = await request(app)
      .post('/v3/messages/shop/_bulk')
      .set('api_key', keys.write)
      .send(SECRET_CASES.map((c) => ({ title: c.text.slice(0, 4000), detail: c.text, data: [{ key: 'note', value: c.text }] })));
    expect(res.status).toBe(200);
    expect(res.body.map((r: { statusCode: number }) => r.statusCode)).toEqual(SECRET_CASES.map(() => 201));
    for (const [i, c] of SECRET_CASES.entries()) {
      const stored = (await store.get('shop', res.body[i].id))!;
      const json = JSON.stringify(stored);
      expect([c.name, c.secrets.filter((s) => json.includes(JSON.stringify(s).slice(1, -1)))]).toEqual([c.name, []]);
      expect([c.name, c.kept.filter((k) => !stored.detail!.includes(k))]).toEqual([c.name, []]);
      expect(redactMessage(stored)).toEqual(stored);
    }
  });

  it('messages that differ only in their tokens group together', async () => {
    const { app, store, keys } = await createCollectorApp();
    const ids: string[] = [];
    for (const token of ['tok-aaaa1111bbbb', 'tok-cccc2222dddd']) {
      const res = await request(app).post('/v3/messages/shop').set('api_key', keys.write).send(browserMessage(token));
      ids.push(res.body.id);
    }
    const [a, b] = await Promise.all(ids.map((id) => store.get('shop', id)));
    expect(a!.fingerprint).toBe(b!.fingerprint);
    // A fingerprint the client sent is kept.
    const res = await request(app)
      .post('/v3/messages/shop')
      .set('api_key', keys.write)
      .send({ ...browserMessage('tok-x1'), fingerprint: 'client-group-1' });
    expect((await store.get('shop', res.body.id))!.fingerprint).toBe('client-group-1');
  });

  it('a field sent at its limit still passes when [Filtered] is longer than the secret it replaces', async () => {
    const { app, store, keys } = await createCollectorApp();
    const title = `${'x'.repeat(4096 - 'pwd=a'.length - 1)} pwd=a`;
    const res = await request(app).post('/v3/messages/shop').set('api_key', keys.write).send({ title });
    expect(res.status).toBe(201);
    const stored = (await store.get('shop', res.body.id))!;
    expect(stored.title.length).toBeLessThanOrEqual(4096);
    expect(stored.title).toMatch(/^x+…\[truncated \d+ bytes\]$/);
  });

  it('an invalid message is still rejected with its reasons', async () => {
    const { app, keys } = await createCollectorApp();
    const res = await request(app).post('/v3/messages/shop').set('api_key', keys.write).send({ title: 42 });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('ERR_ELMAH_INVALID_MESSAGE');
    expect(res.body.error.message).toContain('title expected a string');
  });
});
