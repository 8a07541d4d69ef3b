// CSRF: a token bound to the visitor (session id or a random cookie), checked with the browser's
// cross-site signals; the cookie binding is made once and malformed ones are ignored.
import express, { type Request } from 'express';
import request from 'supertest';
import type { LogClient } from '../../src/client/types';
import type { KeyInfo } from '../../src/model/keys';
import { Csrf, sameSite } from '../../src/viewer/csrf';
import { RequestContexts } from '../../src/viewer/request-context';
import { CSRF_COOKIE, SessionCodec } from '../../src/viewer/session';

const fakeReq = (headers: Record<string, string>, body?: unknown) =>
  ({ headers: { host: 'localhost:3000', ...headers }, body }) as unknown as Request;

describe('sameSite', () => {
  it('refuses cross-site fetches and other origins, and accepts the own origin, a null origin and none', () => {
    expect(sameSite(fakeReq({}))).toBe(true);
    expect(sameSite(fakeReq({ origin: 'http://localhost:3000' }))).toBe(true);
    expect(sameSite(fakeReq({ origin: 'null' }))).toBe(true);
    expect(sameSite(fakeReq({ 'sec-fetch-site': 'same-origin' }))).toBe(true);
    expect(sameSite(fakeReq({ 'sec-fetch-site': 'cross-site' }))).toBe(false);
    expect(sameSite(fakeReq({ origin: 'http://attacker.example' }))).toBe(false);
    expect(sameSite(fakeReq({ origin: 'http://localhost:4000' }))).toBe(false);
    expect(sameSite(fakeReq({ origin: 'not a url' }))).toBe(false);
  });
});

describe('Csrf', () => {
  const codec = new SessionCodec('s'.repeat(32));
  const requests = new RequestContexts();
  const csrf = new Csrf(codec, requests);

  it('accepts the token of the binding only, from the own site', () => {
    const token = csrf.token('visitor-a');
    expect(csrf.ok(fakeReq({}, { _csrf: token }), 'visitor-a')).toBe(true);
    expect(csrf.ok(fakeReq({}, { _csrf: token }), 'visitor-b')).toBe(false);
    expect(csrf.ok(fakeReq({}, { _csrf: token }), undefined)).toBe(false);
    expect(csrf.ok(fakeReq({}, {}), 'visitor-a')).toBe(false);
    expect(csrf.ok(fakeReq({}), 'visitor-a')).toBe(false);
    expect(csrf.ok(fakeReq({ origin: 'http://attacker.example' }, { _csrf: token }), 'visitor-a')).toBe(false);
    expect(new Csrf(new SessionCodec('t'.repeat(32)), requests).ok(fakeReq({}, { _csrf: token }), 'visitor-a')).toBe(false);
  });

  it('requires the token of the session, or else of the CSRF cookie', () => {
    const withSession = fakeReq({}, { _csrf: csrf.token('sid-1') });
    requests.set(withSession, {
      client: {} as LogClient,
      who: {} as KeyInfo,
      csrf: '',
      session: { key: 'k', sid: 'sid-1', exp: Date.now() + 60_000 },
      viaHeader: false,
    });
    expect(() => csrf.require(withSession)).not.toThrow();

    const cookie = 'c'.repeat(32);
    const withCookie = fakeReq({ cookie: `${CSRF_COOKIE}=${cookie}` }, { _csrf: csrf.token(cookie) });
    requests.set(withCookie, { client: {} as LogClient, who: {} as KeyInfo, csrf: '', viaHeader: false });
    expect(() => csrf.require(withCookie)).not.toThrow();

    const wrong = fakeReq({ cookie: `${CSRF_COOKIE}=${cookie}` }, { _csrf: csrf.token('sid-1') });
    requests.set(wrong, { client: {} as LogClient, who: {} as KeyInfo, csrf: '', viaHeader: false });
    expect(() => csrf.require(wrong)).toThrow(expect.objectContaining({ code: 'ERR_ELMAH_CSRF', status: 403 }));
  });

  it('sets a binding cookie once, under the mount path, and ignores a malformed one', async () => {
    const app = express();
    app.use('/elmah.axd', (req, res) => {
      const create = req.query.create === '1';
      res.json({ binding: csrf.cookieBinding(req, res, create) ?? null });
    });
    const made = await request(app).get('/elmah.axd/?create=1');
    const binding = made.body.binding as string;
    expect(binding).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const setCookie = (made.headers['set-cookie'] as unknown as string[])[0]!;
    expect(setCookie).toMatch(new RegExp(`^${CSRF_COOKIE}=${binding}; Path=/elmah.axd; HttpOnly; SameSite=Strict$`));

    const again = await request(app).get('/elmah.axd/?create=1').set('cookie', `${CSRF_COOKIE}=${binding}`);
    expect(again.body.binding).toBe(binding);
    expect(again.headers['set-cookie']).toBeUndefined();

    const malformed = await request(app).get('/elmah.axd/').set('cookie', `${CSRF_COOKIE}=short`);
    expect(malformed.body.binding).toBeNull();
    expect(malformed.headers['set-cookie']).toBeUndefined();
    const replaced = await request(app)
      .get('/elmah.axd/?create=1')
      .set('cookie', `${CSRF_COOKIE}=${'<bad>'.repeat(6)}`);
    expect(replaced.body.binding).not.toBe('<bad>'.repeat(6));
    expect(replaced.headers['set-cookie']).toBeDefined();
  });
});
