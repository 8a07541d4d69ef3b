// The secrets corpus: none of these values may reach the store. The stored JSON is searched for each one.
import request from 'supertest';
import { createRedactor, redactMessage } from '../../src/model/redact';
import { PROSE, SECRET_CASES } from '../fixtures/secrets-corpus';
import { captureRecord, PLACES } from '../fixtures/hostile';
import { createApp } from '../helpers/app';
import { closeLoggers, createMemoryLogger, storedMessages } from '../helpers/capture';

afterEach(closeLoggers);

const SECRETS = {
  bearer: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
  basic: Buffer.from('admin:s3cr3t-basic-pw').toString('base64'),
  proxyAuth: 'ProxyCred123xyz',
  sessionCookie: 's%3AsessionValue8841.signaturePart',
  otherCookie: 'cookieValue77231',
  apiKeyHeader: 'hdr-api-key-99812',
  jsonPassword: 'json-P@ssw0rd-1',
  jsonToken: 'json-token-abc-777',
  jsonApiKey: 'json-api-key-555',
  nestedRefresh: 'nested-refresh-42x',
  cardNumber: '4111111111111111',
  formPassword: 'form-pass-x81',
  formToken: 'form-token-y92',
  queryPassword: 'query-pass-z13',
  queryToken: 'query-token-q24',
  queryApiKey: 'query-apikey-w35',
  refererToken: 'referer-token-r46',
  axiosBearer: 'axiosBearerToken9931xyz',
  dbPassword: 'hunter2dbpass',
  textBodyPassword: 'text-body-pw-551',
};

describe('secrets never reach the store', () => {
  it('auth headers, cookies, bodies, query strings, error properties and the own key are filtered', async () => {
    const { store, logger, keys } = await createMemoryLogger();
    const key = keys.write;
    const app = createApp({
      logger,
      value: () =>
        Object.assign(new Error(`lookup failed for ${key} on postgres://app:${SECRETS.dbPassword}@db.internal/shop`), {
          config: { headers: { Authorization: `Bearer ${SECRETS.axiosBearer}`, Accept: 'application/json' }, url: '/upstream' },
          apiKey: key,
        }),
    });

    await request(app)
      .post(`/form?password=${SECRETS.queryPassword}&access_token=${SECRETS.queryToken}&api_key=${SECRETS.queryApiKey}&page=1`)
      .set('Authorization', `Bearer ${SECRETS.bearer}`)
      .set('Proxy-Authorization', `Basic ${SECRETS.proxyAuth}`)
      .set('Cookie', `connect.sid=${SECRETS.sessionCookie}; prefs=${SECRETS.otherCookie}`)
      .set('X-Api-Key', SECRETS.apiKeyHeader)
      .set('Referer', `https://shop.example/cart?token=${SECRETS.refererToken}&step=2`)
      .send({
        user: 'alice',
        password: SECRETS.jsonPassword,
        token: SECRETS.jsonToken,
        api_key: SECRETS.jsonApiKey,
        nested: { refreshToken: SECRETS.nestedRefresh },
        payment: { cardNumber: SECRETS.cardNumber },
      })
      .expect(500);
    await request(app)
      .post('/form')
      .set('Authorization', `Basic ${SECRETS.basic}`)
      .type('form')
      .send(`username=alice&password=${SECRETS.formPassword}&csrf_token=${SECRETS.formToken}`)
      .expect(500);
    await request(app).post('/form').set('Content-Type', 'text/plain').send(`user=alice&password=${SECRETS.textBodyPassword}`).expect(500);
    await request(app)
      .get(`/value?q=${key}&api_key=${encodeURIComponent(key)}`)
      .expect(500);
    await logger.flush(2000);

    const messages = await storedMessages(store);
    expect(messages).toHaveLength(4);
    const json = JSON.stringify(messages);
    for (const [name, secret] of Object.entries(SECRETS)) {
      expect([name, json.includes(secret)]).toEqual([name, false]);
    }
    // The secret is everything after `elmah_<id>_`; it may itself contain `_`.
    const secretPart = key.split('_').slice(2).join('_');
    expect(json.includes(key)).toBe(false);
    expect(json.includes(secretPart)).toBe(false);

    const [jsonPost, formPost, textPost, keyed] = messages;
    const kv = (list: { key: string; value: string }[]): Record<string, string> => Object.fromEntries(list.map((e) => [e.key, e.value]));
    expect(JSON.parse(jsonPost!.jsonBody!)).toEqual({
      user: 'alice',
      password: '[Filtered]',
      token: '[Filtered]',
      api_key: '[Filtered]',
      nested: { refreshToken: '[Filtered]' },
      payment: { cardNumber: '[Filtered]' },
    });
    expect(kv(jsonPost!.queryString)).toEqual({ password: '[Filtered]', access_token: '[Filtered]', api_key: '[Filtered]', page: '1' });
    expect(jsonPost!.url).toBe('/form?password=[Filtered]&access_token=[Filtered]&api_key=[Filtered]&page=1');
    expect(jsonPost!.cookies).toEqual([
      { key: 'connect.sid', value: '[Filtered]' },
      { key: 'prefs', value: '[Filtered]' },
    ]);
    const vars = kv(jsonPost!.serverVariables);
    expect(vars).toMatchObject({
      authorization: '[Filtered]',
      'proxy-authorization': '[Filtered]',
      cookie: '[Filtered]',
      'x-api-key': '[Filtered]',
    });
    expect(vars.referer).toBe('https://shop.example/cart?token=[Filtered]&step=2');
    expect(kv(formPost!.form)).toEqual({ username: 'alice', password: '[Filtered]', csrf_token: '[Filtered]' });
    expect(kv(textPost!.form)['(body)']).toBe('user=alice&password=[Filtered]');
    expect(keyed!.title).toContain('lookup failed for [Filtered] on postgres://app:[Filtered]@db.internal/shop');
    expect(keyed!.url).toBe('/value?q=[Filtered]&api_key=[Filtered]');
    expect(kv(keyed!.data).apiKey).toBe('[Filtered]');
    expect(kv(keyed!.data).config).toContain('"Authorization":"[Filtered]"');
  });

  it('whatever beforeLog adds is scrubbed of the own key', async () => {
    const { store, logger, keys } = await createMemoryLogger({
      beforeLog: (m) => ({ ...m, user: `user ${keys.write}`, data: [...m.data, { key: 'note', value: keys.write }] }),
    });
    logger.raise(new Error('x'));
    await logger.flush(2000);
    const json = JSON.stringify(await storedMessages(store));
    expect(json).not.toContain(keys.write);
    expect(json).toContain('user [Filtered]');
  });

  it('rules can be extended, values removed anywhere, or the lists replaced', async () => {
    const extended = await createMemoryLogger({
      redact: { keys: ['pin', /^x-tenant$/i], headers: ['x-internal'], values: ['corp-db-pw-1'] },
    });
    await request(createApp({ logger: extended.logger }))
      .post('/form')
      .set('X-Internal', 'internal-value-1')
      .set('X-Tenant', 'tenant-7')
      .send({ pin: '1234', note: 'uses corp-db-pw-1 here' })
      .expect(500);
    await extended.logger.flush(2000);
    const [m] = await storedMessages(extended.store);
    const json = JSON.stringify(m);
    expect(json).not.toContain('internal-value-1');
    expect(json).not.toContain('tenant-7');
    expect(json).not.toContain('1234');
    expect(json).not.toContain('corp-db-pw-1');

    const replaced = await createMemoryLogger({ redact: { replace: true, keys: ['only_this'] } });
    await request(createApp({ logger: replaced.logger }))
      .post('/form?password=visible')
      .set('Cookie', 'sid=abc')
      .send({ only_this: 'hidden', password: 'visible' })
      .expect(500);
    await replaced.logger.flush(2000);
    const [r] = await storedMessages(replaced.store);
    expect(JSON.parse(r!.jsonBody!)).toEqual({ only_this: '[Filtered]', password: 'visible' });
    // Cookie values stay filtered whatever the rules say.
    expect(r!.cookies).toEqual([{ key: 'sid', value: '[Filtered]' }]);
  });

  it('text scrubbing leaves prose alone', () => {
    const r = createRedactor();
    expect(r.text('Basic authentication failed for Bearer tokens')).toBe('Basic authentication failed for Bearer tokens');
    expect(r.text('header was Bearer abc.def.ghi123')).toBe('header was Bearer [Filtered]');
    expect(r.text('key elmah_abcdefgh_' + 'A'.repeat(43) + ' leaked')).toBe('key elmah_abcdefgh_[Filtered] leaked');
    expect(r.url('/a?b=1#frag')).toBe('/a?b=1#frag');
    expect(r.url('/a?secret=1#frag')).toBe('/a?secret=[Filtered]#frag');
    // A URL glued to digits before its scheme (a proxy's target after a port) still loses its password.
    expect(r.text('via proxy:8080http://user:hunter2@db.internal/x')).toBe('via proxy:8080http://user:[Filtered]@db.internal/x');
    expect(r.text('see 1http://u:p4ss@h/ and 2https://u:p@ss@h/')).toBe('see 1http://u:[Filtered]@h/ and 2https://u:[Filtered]@h/');
  });
});

describe('console output in breadcrumbs', () => {
  /** A message with one breadcrumb per text, as a collector receives it from any client. */
  const crumbs = (...texts: string[]) =>
    redactMessage({
      id: 'm1',
      log: 'default',
      dateTime: '2026-01-01T00:00:00.000Z',
      title: 't',
      type: 'Error',
      severity: 'Error',
      statusCode: 500,
      serverVariables: [],
      cookies: [],
      form: [],
      queryString: [],
      data: [],
      fingerprint: 'f',
      breadcrumbs: texts.map((message) => ({
        dateTime: '2026-01-01T00:00:00.000Z',
        severity: 'Information' as const,
        action: 'Log',
        message,
        data: [{ key: 'line', value: message }],
      })),
    }).breadcrumbs!;

  it("filters members and labels whose name is secret, in util.inspect's forms, in messages and data values", () => {
    const cases: [string, string][] = [
      ["{ user: 'bob', password: 'hunter2' }", "{ user: 'bob', password: '[Filtered]' }"],
      ["{ 'x-api-key': 'sk_live_abcdef123' }", "{ 'x-api-key': '[Filtered]' }"],
      ["db config { host: 'db', pass: 'p4ss' }", "db config { host: 'db', pass: '[Filtered]' }"],
      ['password: hunter2b', 'password: [Filtered]'],
      ['user bob, apiKey: 12345678, retries: 3', 'user bob, apiKey: [Filtered], retries: 3'],
      ['{ "clientSecret": "abc\\"def" }', '{ "clientSecret": "[Filtered]" }'],
      [
        "URL { href: 'https://x/?access_token=tok123', searchParams: URLSearchParams { 'access_token' => 'tok123' } }",
        "URL { href: 'https://x/?access_token=[Filtered]', searchParams: URLSearchParams { 'access_token' => '[Filtered]' } }",
      ],
      ["Map(1) { 'session' => 'abc' }", "Map(1) { 'session' => '[Filtered]' }"],
      // An unclosed quote: the value is filtered to the line's end (at most 512 characters).
      ["{ token: 'abc", "{ token: '[Filtered]'"],
    ];
    const out = crumbs(...cases.map(([text]) => text));
    expect(out.map((b) => b.message)).toEqual(cases.map(([, want]) => want));
    expect(out.map((b) => b.data![0]!.value)).toEqual(cases.map(([, want]) => want));
  });

  it('leaves error names, prose and other members alone, and redacting twice changes nothing', () => {
    const texts = [
      'TokenExpiredError: jwt expired',
      'AuthenticationError: bad credentials for bob',
      "{ user: 'bob', count: 3 }",
      "{ username: '', password: '' }",
      'the password was rejected: try again',
      'GET /orders → 200 (12 ms)',
    ];
    const out = crumbs(...texts);
    expect(out.map((b) => b.message)).toEqual(texts);
    const once = crumbs("{ password: 'hunter2' }", 'password: hunter2b');
    expect(crumbs(...once.map((b) => b.message)).map((b) => b.message)).toEqual(once.map((b) => b.message));
  });
});

describe('the secrets corpus at capture', () => {
  const places = ['message', 'stack', 'header', 'form', 'textBody', 'data', 'cause'] as const;

  it.each(SECRET_CASES.map((c) => [c.name, c] as const))('%s: gone from every place, the text around it kept', (_name, c) => {
    for (const place of places) {
      const { err, req } = PLACES[place]!(c.text);
      const m = captureRecord(err, req);
      const json = JSON.stringify(m);
      expect([place, c.secrets.filter((s) => json.includes(JSON.stringify(s).slice(1, -1)))]).toEqual([place, []]);
      expect(redactMessage(m)).toEqual(m);
    }
    const title = captureRecord(new Error(c.text), undefined).title;
    expect(c.kept.filter((k) => !title.includes(k))).toEqual([]);
  });

  it('prose that only looks like a secret is left alone', () => {
    const r = createRedactor();
    expect(PROSE.map((p) => r.text(p))).toEqual(PROSE);
  });

  it("an HTTP client's error keeps its code but loses cookies, set-cookie and the raw header block", async () => {
    const { store, logger } = await createMemoryLogger();
    const app = createApp({
      logger,
      value: () =>
        Object.assign(new Error('Request failed with status code 502'), {
          code: 'ERR_BAD_RESPONSE',
          config: { url: 'https://api.example/v1/orders', headers: { Accept: 'application/json', Cookie: 'sid=axios-cookie-1' } },
          response: { status: 502, headers: { 'set-cookie': ['sid=axios-set-cookie-2; Path=/'], 'content-type': 'text/html' } },
          request: { _header: 'GET /v1/orders HTTP/1.1\r\nHost: api.example\r\nCookie: sid=axios-raw-3\r\nX-Api-Key: axios-key-4\r\n\r\n' },
          rawHeaders: ['Set-Cookie', 'sid=undici-raw-5', 'Content-Length', '0'],
        }),
    });
    await request(app).get('/value').expect(500);
    await logger.flush(2000);
    const [m] = await storedMessages(store);
    const json = JSON.stringify(m);
    for (const secret of ['axios-cookie-1', 'axios-set-cookie-2', 'axios-raw-3', 'axios-key-4', 'undici-raw-5'])
      expect([secret, json.includes(secret)]).toEqual([secret, false]);
    const data = Object.fromEntries(m!.data.map((e) => [e.key, e.value]));
    expect(data.code).toBe('ERR_BAD_RESPONSE');
    expect(data.config).toContain('"Accept":"application/json"');
    expect(data.request).toContain('Host: api.example');
    expect(data.rawHeaders).toContain('"Content-Length","0"');
  });

  it('the OAuth code, SAS sig and reset tokens of the request URL are filtered; rules can be replaced', async () => {
    const r = createRedactor();
    expect(r.url('/callback?code=oauth-c0de-1&state=s1')).toBe('/callback?code=[Filtered]&state=s1');
    expect(r.url('/files?sv=2021&sig=sas-sig-2#top')).toBe('/files?sv=2021&sig=[Filtered]#top');
    expect(r.url('/reset/8f3a9c2b7d1e4f6a9b0c?next=/home')).toBe('/reset/[Filtered]?next=/home');
    expect(r.url('/orders/8f3a9c2b7d1e4f6a9b0c')).toBe('/orders/8f3a9c2b7d1e4f6a9b0c');
    expect(r.key('code')).toBe(false);
    expect(r.param('code')).toBe(true);
    const plain = createRedactor({ replace: true, keys: ['pin'] });
    expect(plain.url('/reset/8f3a9c2b7d1e4f6a9b0c?code=1&pin=2')).toBe('/reset/8f3a9c2b7d1e4f6a9b0c?code=1&pin=[Filtered]');
  });
});

describe('the redactor remembers names and clean short texts', () => {
  it('answers the same for a name or text seen before, after many distinct ones, and never remembers a secret text', () => {
    const r = createRedactor({ keys: [/^x-tenant-secret$/i] });
    const bearer = 'Bearer abcdEFGH1234ijkl5678';
    expect(r.text(bearer)).toBe('Bearer [Filtered]');
    expect(r.header('X-Tenant-Secret')).toBe(true);
    // Far more distinct names and texts than a memo keeps: it starts over and keeps judging right.
    for (let i = 0; i < 10_000; i++) {
      expect(r.param(`field${i}`)).toBe(false);
      expect(r.text(`host-${i}`)).toBe(`host-${i}`);
    }
    expect(r.header('X-Tenant-Secret')).toBe(true);
    expect(r.param('code')).toBe(true);
    expect(r.key('code')).toBe(false);
    expect(r.text(bearer)).toBe('Bearer [Filtered]');
    expect(r.text(bearer)).toBe('Bearer [Filtered]');
    // Long names are judged by the rules every time.
    expect(r.key(`${'a'.repeat(300)}password`)).toBe(true);
  });
});
