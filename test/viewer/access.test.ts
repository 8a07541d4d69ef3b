// Access modes: 'local' (loopback, no proxy headers), 'key' (sign-in, signed session cookie, sign-out,
// rate limit), a function (the app's own auth), and API keys in headers for /json and /download.
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import { errorViewer } from '../../src/viewer';
import { addKey } from '../helpers/keys';
import { isLocalRequest, isLoopback, isLoopbackHost, keyFromHeaders } from '../../src/viewer/access';
import { createViewerApp, csrfOf } from '../helpers/viewer-app';

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

  it.each(['x-forwarded-for', 'forwarded', 'x-real-ip'])(
    'refuses a request carrying %s with a 403 page that says how to open access',
    async (header) => {
      const t = await createViewerApp();
      const res = await request(t.app).get('/elmah.axd/').set(header, '203.0.113.7');
      expect(res.status).toBe(403);
      expect(res.text).toContain(`carries a ${header} header`);
      expect(res.text).toContain("access: 'key'");
      expect(res.text).not.toContain('Order 0 failed');
      expect((await request(t.app).get(`/elmah.axd/json/${t.messages[0]!.id}`).set(header, '1.2.3.4')).status).toBe(403);
    },
  );

  it('refuses a request from another machine, on every route', async () => {
    const t = await createViewerApp({ remoteAddress: '10.1.2.3' });
    for (const path of [
      '/elmah.axd/',
      '/elmah.axd/about',
      '/elmah.axd/rss',
      '/elmah.axd/download',
      '/elmah.axd/test',
      '/elmah.axd/chart.svg',
    ]) {
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
    for (const a of ['10.0.0.1', '::ffff:10.0.0.1', '128.0.0.1', 'fe80::1', '', undefined, '127.0.0.1.evil'])
      expect(isLoopback(a)).toBe(false);
    const req = (headers: Record<string, string>, remoteAddress = '127.0.0.1') =>
      ({ headers: { host: 'localhost:3000', ...headers }, socket: { remoteAddress } }) as never;
    expect(isLocalRequest(req({}))).toBe(true);
    expect(isLocalRequest(req({ forwarded: 'for=1.2.3.4' }))).toBe(false);
    expect(isLocalRequest(req({}, '192.0.2.1'))).toBe(false);
  });

  it.each([
    'via',
    'forwarded',
    'x-real-ip',
    'x-forwarded-for',
    'x-forwarded-host',
    'x-forwarded-proto',
    'x-forwarded-port',
    'X-Forwarded-Server',
  ])('counts a request carrying %s as proxied', (header) => {
    const req = { headers: { host: 'localhost', [header.toLowerCase()]: 'x' }, socket: { remoteAddress: '127.0.0.1' } } as never;
    expect(isLocalRequest(req)).toBe(false);
  });

  it('accepts only Host headers that name a loopback host', () => {
    for (const h of [
      'localhost',
      'LOCALHOST:3000',
      'localhost:80',
      'app.localhost',
      'A.B.localhost:8080',
      '127.0.0.1',
      '127.0.0.1:3000',
      '127.255.0.9:1',
      '[::1]',
      '[::1]:3000',
      '[0:0:0:0:0:0:0:1]:80',
    ]) {
      expect([h, isLoopbackHost(h)]).toEqual([h, true]);
    }
    for (const h of [
      undefined,
      '',
      'example.com',
      'localhost.example.com',
      'evil-localhost',
      'attacker.example:3000',
      '127.0.0.1.nip.io',
      '128.0.0.1',
      '127.0.0.256',
      '10.0.0.1',
      '[::2]',
      '[fe80::1]:80',
      'localhost:3000:1',
      'local host',
      'localhost/x',
      '0.0.0.0',
    ]) {
      expect([h, isLoopbackHost(h)]).toEqual([h, false]);
    }
  });

  it('refuses a loopback request whose Host names another host, and a request without Host', async () => {
    const t = await createViewerApp();
    const res = await request(t.app).get('/elmah.axd/').set('Host', 'errors.example.com');
    expect(res.status).toBe(403);
    expect(res.text).toContain('Host header is not localhost');
    expect(res.text).not.toContain('Order 0 failed');
    const req = { headers: {}, socket: { remoteAddress: '127.0.0.1' } } as never;
    expect(isLocalRequest(req)).toBe(false);
  });
});

/** Sends one request with exactly these headers to 127.0.0.1:port. */
function rawRequest(
  port: number,
  path: string,
  headers: Record<string, string>,
  method = 'GET',
  body = '',
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, method, headers: { ...headers, connection: 'close' }, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function listenOn(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe("access 'local' behind a proxy that adds no header", () => {
  it('refuses a request piped through a plain TCP proxy (like socat or nginx proxy_pass) that names a public host', async () => {
    const t = await createViewerApp();
    const app = http.createServer(t.app);
    const appPort = await listenOn(app);
    // A TCP pipe: each connection is forwarded byte for byte, so the app sees 127.0.0.1 and no proxy header.
    const pipe = net.createServer((client) => {
      const upstream = net.connect(appPort, '127.0.0.1');
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    const pipePort = await listenOn(pipe);
    try {
      const outside = await rawRequest(pipePort, '/elmah.axd/', { host: 'errors.example.com' });
      expect(outside.status).toBe(403);
      expect(outside.text).toContain('Local access only');
      expect(outside.text).not.toContain('Order 0 failed');
      const json = await rawRequest(pipePort, `/elmah.axd/json/${t.messages[0]!.id}`, { host: 'errors.example.com:443' });
      expect(json.status).toBe(403);
      expect(json.text).not.toContain(t.messages[0]!.title);
      // The same pipe used from this machine, by a browser asking for localhost, still works.
      const local = await rawRequest(pipePort, '/elmah.axd/', { host: `localhost:${pipePort}` });
      expect(local.status).toBe(200);
      expect(local.text).toContain('Order 0 failed');
    } finally {
      await new Promise((r) => pipe.close(r));
      app.closeAllConnections();
      await new Promise((r) => app.close(r));
    }
  });

  it('refuses a DNS-rebound page: no log, no CSRF token, no delete', async () => {
    const t = await createViewerApp({ key: 'del' });
    const server = http.createServer(t.app);
    const port = await listenOn(server);
    try {
      const id = t.messages[0]!.id;
      const page = await rawRequest(port, '/elmah.axd/', { host: `attacker.example:${port}` });
      expect(page.status).toBe(403);
      expect(page.text).not.toContain('Order 0 failed');
      expect(page.text).not.toContain('name="_csrf"');
      const detail = await rawRequest(port, `/elmah.axd/detail/${id}`, { host: 'attacker.example' });
      expect(detail.status).toBe(403);
      expect(detail.text).not.toContain('name="_csrf"');
      // Even with a token taken from a genuine local page, the delete is refused.
      const genuine = await rawRequest(port, `/elmah.axd/detail/${id}`, { host: `localhost:${port}` });
      const csrf = csrfOf(genuine.text);
      const del = await rawRequest(
        port,
        `/elmah.axd/detail/${id}/delete`,
        { host: 'attacker.example', 'content-type': 'application/x-www-form-urlencoded' },
        'POST',
        `_csrf=${encodeURIComponent(csrf)}`,
      );
      expect(del.status).toBe(403);
      expect(await t.store.get('default', id)).toBeDefined();
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('the default access in production', () => {
  const saved = process.env.NODE_ENV;
  afterEach(() => {
    process.env.NODE_ENV = saved;
  });

  it("is 'key': a visitor from this machine is sent to the sign-in form", async () => {
    process.env.NODE_ENV = 'production';
    const t = await createViewerApp();
    const res = await request(t.app).get('/elmah.axd/');
    expect(res.status).toBe(303);
    expect(res.headers.location).toContain('/elmah.axd/signin');
    expect((await request(t.app).get('/elmah.axd/signin')).status).toBe(200);
  });

  it("warns with a code when 'local' is chosen explicitly, and only then", async () => {
    process.env.NODE_ENV = 'production';
    const warnings: { code: string }[] = [];
    const t = await createViewerApp({ viewer: { access: 'local', onError: (e) => warnings.push(e) } });
    expect(warnings.map((w) => w.code)).toEqual(['ERR_ELMAH_LOCAL_ACCESS_IN_PRODUCTION']);
    expect((await request(t.app).get('/elmah.axd/')).status).toBe(200);
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      await createViewerApp({ viewer: { access: 'local' } });
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('ERR_ELMAH_LOCAL_ACCESS_IN_PRODUCTION'));
      warn.mockClear();
      await createViewerApp({ viewer: { access: 'key' } });
      process.env.NODE_ENV = 'development';
      await createViewerApp({ viewer: { access: 'local' } });
      expect(warn).not.toHaveBeenCalled();
    } finally {
      warn.mockRestore();
    }
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
    const res = await agent
      .post('/elmah.axd/signin')
      .type('form')
      .send({ _csrf: csrfOf(form.text), key: t.keys.read, next: '/elmah.axd/about' });
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
      const res = await agent
        .post('/elmah.axd/signin')
        .type('form')
        .send({ _csrf: csrfOf(form.text), key: t.keys.read, next });
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
    const unknown = await agent
      .post('/elmah.axd/signin')
      .type('form')
      .send({ _csrf: csrf, key: 'elmah_aaaaaaaa_' + 'b'.repeat(43) });
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

  it('behind a proxy counts failures per client address as trust proxy resolves it, and per key id', async () => {
    const t = await keyApp();
    t.app.set('trust proxy', true);
    const signIn = async (client: string, key: string) => {
      const agent = request.agent(t.app);
      const csrf = csrfOf((await agent.get('/elmah.axd/signin').set('X-Forwarded-For', client)).text);
      return agent.post('/elmah.axd/signin').set('X-Forwarded-For', client).type('form').send({ _csrf: csrf, key });
    };
    for (let i = 0; i < 10; i++) expect((await signIn('203.0.113.66', 'wrong')).status).toBe(401);
    expect((await signIn('203.0.113.66', t.keys.read)).status).toBe(429);
    // Another visitor through the same proxy is not locked out.
    expect((await signIn('203.0.113.77', t.keys.read)).status).toBe(303);
    // Guesses at one key's secret from many addresses lock that key id.
    const id = t.keys.del.split('_')[1]!;
    for (let i = 0; i < 10; i++) expect((await signIn(`198.51.100.${i + 1}`, `elmah_${id}_${'x'.repeat(43)}`)).status).toBe(401);
    expect((await signIn('198.51.100.200', t.keys.del)).status).toBe(429);
    expect((await signIn('198.51.100.201', t.keys.read)).status).toBe(303);
  });

  it('rejects a tampered or foreign cookie', async () => {
    const t = await keyApp();
    const agent = request.agent(t.app);
    const csrf = csrfOf((await agent.get('/elmah.axd/signin')).text);
    const res = await agent.post('/elmah.axd/signin').type('form').send({ _csrf: csrf, key: t.keys.read });
    const value = cookieOf(res, 'elmah_session')!.split(';')[0]!.split('=')[1]!;
    const tampered = value.slice(0, 10) + (value[10] === 'A' ? 'B' : 'A') + value.slice(11);
    expect((await request(t.app).get('/elmah.axd/').set('Cookie', `elmah_session=${tampered}`)).status).toBe(303);
    const other = await createViewerApp({
      remoteAddress: '198.51.100.9',
      viewer: { access: 'key', sessionSecret: 'another-secret-that-is-32-characters-long' },
    });
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
    const out = await agent
      .post('/elmah.axd/signout')
      .type('form')
      .send({ _csrf: csrfOf(page.text) });
    expect(out.status).toBe(303);
    expect(out.headers.location).toBe('/elmah.axd/signin');
    expect(cookieOf(out, 'elmah_session')).toMatch(/Max-Age=0/);
    expect((await request(t.app).get('/elmah.axd/').set('Cookie', kept)).status).toBe(303);
  });

  it('keeps a sign-out in the store: a copied cookie fails on another instance and after a restart', async () => {
    const t = await keyApp();
    const agent = request.agent(t.app);
    const csrf = csrfOf((await agent.get('/elmah.axd/signin')).text);
    const signIn = await agent.post('/elmah.axd/signin').type('form').send({ _csrf: csrf, key: t.keys.read });
    const kept = cookieOf(signIn, 'elmah_session')!.split(';')[0]!;
    // Another instance with the same secret and store (or this one after a restart).
    const instance = async () => {
      const app = express();
      app.use(function fakeRemoteAddress(req, _res, next) {
        Object.defineProperty(req.socket, 'remoteAddress', { value: '198.51.100.9', configurable: true });
        next();
      });
      app.use('/elmah.axd', await errorViewer({ store: t.store, key: t.keys.read, access: 'key', sessionSecret: SECRET }));
      return app;
    };
    // It accepts the cookie ...
    expect(
      (
        await request(await instance())
          .get('/elmah.axd/')
          .set('Cookie', kept)
      ).status,
    ).toBe(200);
    // ... until the session is signed out on the first one.
    const page = await agent.get('/elmah.axd/');
    expect(
      (
        await agent
          .post('/elmah.axd/signout')
          .type('form')
          .send({ _csrf: csrfOf(page.text) })
      ).status,
    ).toBe(303);
    expect(
      (
        await request(await instance())
          .get('/elmah.axd/')
          .set('Cookie', kept)
      ).status,
    ).toBe(303);
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
      const boom = await createViewerApp({
        viewer: {
          access: () => {
            throw new Error('auth down');
          },
        },
      });
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
    const bad = await request(t.app)
      .get(`/elmah.axd/json/${id}`)
      .set('Authorization', 'Bearer elmah_zzzzzzzz_' + 'c'.repeat(43));
    expect(bad.status).toBe(401);
    expect(bad.body.error.code).toBe('ERR_ELMAH_KEY_INVALID');
    const malformed = await request(t.app).get('/elmah.axd/download').set('api_key', 'nope');
    expect(malformed.status).toBe(401);
    const write = await request(t.app).get(`/elmah.axd/json/${id}`).set('Authorization', `Bearer ${t.keys.write}`);
    expect(write.status).toBe(403);
    expect(write.body.error.code).toBe('ERR_ELMAH_PERMISSION');
  });

  it('limits failed key headers like sign-ins: 429 with Retry-After, also for a good key from that address', async () => {
    const t = await createViewerApp({ remoteAddress: '203.0.113.9' });
    const id = t.messages[0]!.id;
    for (let i = 0; i < 10; i++) {
      const path = i % 2 === 0 ? `/elmah.axd/json/${id}` : '/elmah.axd/download';
      expect(
        (
          await request(t.app)
            .get(path)
            .set('Authorization', `Bearer elmah_zzzzzzz${i}_${'c'.repeat(43)}`)
        ).status,
      ).toBe(401);
    }
    const blocked = await request(t.app).get(`/elmah.axd/json/${id}`).set('Authorization', `Bearer ${t.keys.read}`);
    expect(blocked.status).toBe(429);
    expect(blocked.body.error.code).toBe('ERR_ELMAH_RATE_LIMITED');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
    expect((await request(t.app).get('/elmah.axd/download').set('api_key', t.keys.read)).status).toBe(429);
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
