// Access modes: 'local' (loopback, no proxy headers), 'key' (sign-in, signed session cookie, sign-out,
// rate limit), a function (the app's own auth), and API keys in headers for /json and /download.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { addKey } from '../helpers/keys';
import { isLocalRequest, isLoopback, keyFromHeaders } from '../../src/viewer/access';
import { createViewerApp, csrfOf } from './app';

const SECRET = 'a-test-session-secret-of-32-characters!';

function cookieOf(res: request.Response, name: string): string | undefined {
  const list = (res.headers['set-cookie'] as unknown as string[] | undefined) ?? [];
  return list.find((c) => c.startsWith(`${name}=`));
}

describe("access 'local' (default)", () => {
  it('serves loopback requests', async () => {
    const t = await createViewerApp();
    expect((await request(t.app).get('/elmah.axd/')).status).toBe(200);
  });

  it.each(['x-forwarded-for', 'forwarded', 'x-real-ip'])('refuses a request carrying %s with a 403 page that says how to open access', async (header) => {
    const t = await createViewerApp();
    const res = await request(t.app).get('/elmah.axd/').set(header, '203.0.113.7');
    expect(res.status).toBe(403);
    expect(res.text).toContain(`carries a ${header} header`);
    expect(res.text).toContain("access: 'key'");
    expect(res.text).not.toContain('Order 0 failed');
    expect((await request(t.app).get(`/elmah.axd/json/${t.messages[0]!.id}`).set(header, '1.2.3.4')).status).toBe(403);
  });

  it('refuses a request from another machine, on every route', async () => {
    const t = await createViewerApp({ remoteAddress: '10.1.2.3' });
    for (const path of ['/elmah.axd/', '/elmah.axd/about', '/elmah.axd/rss', '/elmah.axd/download', '/elmah.axd/test', '/elmah.axd/chart.svg']) {
      const res = await request(t.app).get(path);
      expect(res.status).toBe(403);
    }
    const res = await request(t.app).get('/elmah.axd/');
    expect(res.text).toContain('did not come from this machine');
    // The stylesheet is public, so the 403 page looks right.
    expect((await request(t.app).get('/elmah.axd/assets/viewer.css')).status).toBe(200);
  });

  it('treats an IPv4-mapped loopback as local and a mapped remote address as remote', async () => {
    expect((await request((await createViewerApp({ remoteAddress: '::ffff:127.0.0.1' })).app).get('/elmah.axd/')).status).toBe(200);
    expect((await request((await createViewerApp({ remoteAddress: '::ffff:192.168.1.4' })).app).get('/elmah.axd/')).status).toBe(403);
  });

  it('serves a real request over IPv6 loopback (::1)', async () => {
    const t = await createViewerApp();
    const server = http.createServer(t.app);
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(0, '::1', () => resolve(true));
    });
    if (!listening) {
      console.log('IPv6 loopback test skipped: cannot listen on ::1 here');
      return;
    }
    try {
      const port = (server.address() as AddressInfo).port;
      const res = await fetch(`http://[::1]:${port}/elmah.axd/`);
      expect(res.status).toBe(200);
      const proxied = await fetch(`http://[::1]:${port}/elmah.axd/`, { headers: { 'x-forwarded-for': '::1' } });
      expect(proxied.status).toBe(403);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('recognises loopback addresses', () => {
    for (const a of ['127.0.0.1', '127.5.6.7', '::1', '::ffff:127.0.0.1', '0:0:0:0:0:0:0:1']) expect(isLoopback(a)).toBe(true);
    for (const a of ['10.0.0.1', '::ffff:10.0.0.1', '128.0.0.1', 'fe80::1', '', undefined, '127.0.0.1.evil']) expect(isLoopback(a)).toBe(false);
    const req = (headers: Record<string, string>, remoteAddress = '127.0.0.1') => ({ headers, socket: { remoteAddress } }) as never;
    expect(isLocalRequest(req({}))).toBe(true);
    expect(isLocalRequest(req({ forwarded: 'for=1.2.3.4' }))).toBe(false);
    expect(isLocalRequest(req({}, '192.0.2.1'))).toBe(false);
  });
});

describe("access 'key'", () => {
  async function keyApp() {
    return createViewerApp({ remoteAddress: '198.51.100.9', viewer: { access: 'key', sessionSecret: SECRET } });
  }

  it('sends a visitor without a session to the sign-in form', async () => {
    const t = await keyApp();
    const res = await request(t.app).get('/elmah.axd/?q=Order');
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/elmah.axd/signin?next=%2Felmah.axd%2F%3Fq%3DOrder');
    const form = await request(t.app).get(res.headers.location!);
    expect(form.status).toBe(200);
    expect(form.text).toContain('<label for="key">');
    expect(form.text).toContain('type="password"');
    expect(form.text).toContain('name="next" value="/elmah.axd/?q=Order"');
    expect((await request(t.app).post('/elmah.axd/detail/x/delete')).status).toBe(401);
    const json = await request(t.app).get(`/elmah.axd/json/${t.messages[0]!.id}`);
    expect(json.status).toBe(401);
    expect(json.body.error.code).toBe('ERR_ELMAH_KEY_MISSING');
    const bearer = await request(t.app).get(`/elmah.axd/json/${t.messages[0]!.id}`).set('Authorization', `Bearer ${t.keys.read}`);
    expect(bearer.status).toBe(200);
  });

  it('signs in with a read key: HttpOnly SameSite=Strict cookie with an expiry that holds no key in clear', async () => {
    const t = await keyApp();
    const agent = request.agent(t.app);
    const form = await agent.get('/elmah.axd/signin?next=%2Felmah.axd%2Fabout');
    const res = await agent.post('/elmah.axd/signin').type('form').send({ _csrf: csrfOf(form.text), key: t.keys.read, next: '/elmah.axd/about' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/elmah.axd/about');
    const cookie = cookieOf(res, 'elmah_session')!;
    expect(cookie).toMatch(/; Path=\/elmah\.axd; HttpOnly; SameSite=Strict; Max-Age=28800; Expires=/);
    const secret = t.keys.read.split('_').slice(2).join('_');
    expect(cookie).not.toContain(secret);
    expect(decodeURIComponent(cookie)).not.toContain(t.keys.read.split('_')[1]!);
    const about = await agent.get('/elmah.axd/about');
    expect(about.status).toBe(200);
    expect(about.text).toContain('Sign out');
    expect(about.text).toContain(t.keys.read.split('_')[1]!);
    expect((await agent.get('/elmah.axd/')).text).toContain('Order 0 failed');
  });

  it('does not redirect off-site after sign-in', async () => {
    const t = await keyApp();
    const agent = request.agent(t.app);
    const form = await agent.get('/elmah.axd/signin');
    for (const next of ['https://evil.example/', '//evil.example/', '/elmah.axd//evil.example', '/other']) {
      const res = await agent.post('/elmah.axd/signin').type('form').send({ _csrf: csrfOf(form.text), key: t.keys.read, next });
      expect(res.headers.location).toBe('/elmah.axd/');
    }
  });

  it('refuses a write-only key, an unknown key, and a missing CSRF token', async () => {
    const t = await keyApp();
    const agent = request.agent(t.app);
    const form = await agent.get('/elmah.axd/signin');
    const csrf = csrfOf(form.text);
    const write = await agent.post('/elmah.axd/signin').type('form').send({ _csrf: csrf, key: t.keys.write });
    expect(write.status).toBe(401);
    expect(write.text).toContain('needs messages_read');
    expect(cookieOf(write, 'elmah_session')).toBeUndefined();
    const unknown = await agent.post('/elmah.axd/signin').type('form').send({ _csrf: csrf, key: 'elmah_aaaaaaaa_' + 'b'.repeat(43) });
    expect(unknown.status).toBe(401);
    expect(unknown.text).toContain('was not accepted');
    const noCsrf = await agent.post('/elmah.axd/signin').type('form').send({ key: t.keys.read });
    expect(noCsrf.status).toBe(403);
    expect(cookieOf(noCsrf, 'elmah_session')).toBeUndefined();
  });

  it('rate-limits failed sign-ins per client address', async () => {
    const t = await keyApp();
    const agent = request.agent(t.app);
    const csrf = csrfOf((await agent.get('/elmah.axd/signin')).text);
    for (let i = 0; i < 10; i++) {
      expect((await agent.post('/elmah.axd/signin').type('form').send({ _csrf: csrf, key: 'wrong' })).status).toBe(401);
    }
    const blocked = await agent.post('/elmah.axd/signin').type('form').send({ _csrf: csrf, key: t.keys.read });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect(blocked.text).toContain('Too many failed sign-ins');
  });

  it('rejects a tampered or foreign cookie', async () => {
    const t = await keyApp();
    const agent = request.agent(t.app);
    const csrf = csrfOf((await agent.get('/elmah.axd/signin')).text);
    const res = await agent.post('/elmah.axd/signin').type('form').send({ _csrf: csrf, key: t.keys.read });
    const value = cookieOf(res, 'elmah_session')!.split(';')[0]!.split('=')[1]!;
    const tampered = value.slice(0, 10) + (value[10] === 'A' ? 'B' : 'A') + value.slice(11);
    expect((await request(t.app).get('/elmah.axd/').set('Cookie', `elmah_session=${tampered}`)).status).toBe(303);
    const other = await createViewerApp({ remoteAddress: '198.51.100.9', viewer: { access: 'key', sessionSecret: 'another-secret-that-is-32-characters-long' } });
    expect((await request(other.app).get('/elmah.axd/').set('Cookie', `elmah_session=${value}`)).status).toBe(303);
    expect((await request(t.app).get('/elmah.axd/').set('Cookie', `elmah_session=${value}`)).status).toBe(200);
  });

  it('signs out: the cookie is cleared and a kept copy stops working', async () => {
    const t = await keyApp();
    const agent = request.agent(t.app);
    const csrf = csrfOf((await agent.get('/elmah.axd/signin')).text);
    const signIn = await agent.post('/elmah.axd/signin').type('form').send({ _csrf: csrf, key: t.keys.read });
    const kept = cookieOf(signIn, 'elmah_session')!.split(';')[0]!;
    const page = await agent.get('/elmah.axd/');
    const out = await agent.post('/elmah.axd/signout').type('form').send({ _csrf: csrfOf(page.text) });
    expect(out.status).toBe(303);
    expect(out.headers.location).toBe('/elmah.axd/signin');
    expect(cookieOf(out, 'elmah_session')).toMatch(/Max-Age=0/);
    expect((await request(t.app).get('/elmah.axd/').set('Cookie', kept)).status).toBe(303);
  });

  it('uses the signed-in key for data: its permissions decide, and revoking it ends the session', async () => {
    const t = await keyApp();
    const agent = request.agent(t.app);
    const csrf = csrfOf((await agent.get('/elmah.axd/signin')).text);
    const limited = await addKey(t.store, ['messages_read'], { logs: ['billing'] });
    await agent.post('/elmah.axd/signin').type('form').send({ _csrf: csrf, key: limited });
    const list = await agent.get('/elmah.axd/?size=100');
    expect((list.text.match(/class="title-link"/g) ?? []).length).toBe(3);
    expect(list.text).not.toContain('Delete these');
    await t.store.revokeKey(limited.split('_')[1]!);
    await new Promise((r) => setTimeout(r, 1100));
    const after = await agent.get('/elmah.axd/');
    expect(after.status).toBe(303);
    expect(after.headers.location).toBe('/elmah.axd/signin?reason=key');
    expect((await agent.get('/elmah.axd/signin?reason=key')).text).toContain('Your key stopped working');
  });

  it('has no sign-in routes in the other modes', async () => {
    const t = await createViewerApp();
    expect((await request(t.app).get('/elmah.axd/signin')).status).toBe(404);
  });
});

describe('access function', () => {
  it("lets the app's own check decide, per request", async () => {
    const t = await createViewerApp({ remoteAddress: '203.0.113.50', viewer: { access: (req) => req.headers['x-admin'] === 'yes' } });
    expect((await request(t.app).get('/elmah.axd/').set('x-admin', 'yes')).status).toBe(200);
    const denied = await request(t.app).get('/elmah.axd/');
    expect(denied.status).toBe(403);
    expect(denied.text).toContain('access check did not allow');
  });

  it('accepts an async check and treats a throwing check as a refusal', async () => {
    const errors = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const ok = await createViewerApp({ viewer: { access: async () => true } });
      expect((await request(ok.app).get('/elmah.axd/')).status).toBe(200);
      const boom = await createViewerApp({ viewer: { access: () => { throw new Error('auth down'); } } });
      expect((await request(boom.app).get('/elmah.axd/')).status).toBe(403);
      expect(errors).toHaveBeenCalled();
    } finally {
      errors.mockRestore();
    }
  });
});

describe('API keys in headers for /json and /download', () => {
  it('answers a remote request with a Bearer read key, and an api_key header', async () => {
    const t = await createViewerApp({ remoteAddress: '203.0.113.9' });
    const id = t.messages[0]!.id;
    const json = await request(t.app).get(`/elmah.axd/json/${id}`).set('Authorization', `Bearer ${t.keys.read}`);
    expect(json.status).toBe(200);
    expect(json.body.id).toBe(id);
    const csv = await request(t.app).get('/elmah.axd/download?limit=2').set('api_key', t.keys.admin);
    expect(csv.status).toBe(200);
    expect(csv.text.trim().split('\r\n')).toHaveLength(3);
    // Pages still need access: a key header does not open them.
    expect((await request(t.app).get('/elmah.axd/').set('Authorization', `Bearer ${t.keys.read}`)).status).toBe(403);
  });

  it('answers 401 for a bad key and 403 for a key without messages_read, as JSON', async () => {
    const t = await createViewerApp({ remoteAddress: '203.0.113.9' });
    const id = t.messages[0]!.id;
    const bad = await request(t.app).get(`/elmah.axd/json/${id}`).set('Authorization', 'Bearer elmah_zzzzzzzz_' + 'c'.repeat(43));
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe('ERR_ELMAH_KEY_INVALID');
    const malformed = await request(t.app).get('/elmah.axd/download').set('api_key', 'nope');
    expect(malformed.status).toBe(401);
    const write = await request(t.app).get(`/elmah.axd/json/${id}`).set('Authorization', `Bearer ${t.keys.write}`);
    expect(write.status).toBe(403);
    expect(write.body.error.code).toBe('ERR_ELMAH_PERMISSION');
  });

  it('reads keys from the headers it knows', () => {
    const req = (headers: Record<string, string>) => ({ headers }) as never;
    expect(keyFromHeaders(req({ authorization: 'Bearer abc' }))).toBe('abc');
    expect(keyFromHeaders(req({ authorization: 'Basic abc' }))).toBeUndefined();
    expect(keyFromHeaders(req({ api_key: ' k ' }))).toBe('k');
    expect(keyFromHeaders(req({}))).toBeUndefined();
  });
});

describe('the rest of the app', () => {
  it('keeps its own routes and error handling', async () => {
    const t = await createViewerApp();
    expect((await request(t.app).get('/ok')).text).toBe('ok');
    expect((await request(t.app).get('/throw')).text).toBe('failed 500');
  });
});
