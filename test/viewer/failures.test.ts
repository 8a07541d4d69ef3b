// How the viewer answers failures: the table from error codes to status, heading and hint; JSON for the JSON
// routes and key-header requests; a generic 500 that shows no detail for anything uncoded.
import { join } from 'node:path';
import express, { type Request } from 'express';
import request from 'supertest';
import { ElmahError, type ElmahErrorCode } from '../../src/model/errors';
import type { KeyInfo } from '../../src/model/keys';
import type { LogClient } from '../../src/client/types';
import { Failures, failurePage, wantsJson } from '../../src/viewer/failures';
import { Pages } from '../../src/viewer/pages';
import { Renderer, findPackageRoot } from '../../src/viewer/render';
import { RequestContexts } from '../../src/viewer/request-context';

const coded = (code: ElmahErrorCode, help = 'the error’s own help') => new ElmahError(code, `message of ${code}`, { help });

describe('failurePage', () => {
  it.each<[ElmahErrorCode, number, string]>([
    ['ERR_ELMAH_PERMISSION', 403, 'Not allowed'],
    ['ERR_ELMAH_NOT_FOUND', 404, 'Not found'],
    ['ERR_ELMAH_QUERY', 400, 'That request cannot be answered'],
    ['ERR_ELMAH_RATE_LIMITED', 429, 'Too many attempts'],
    ['ERR_ELMAH_CSRF', 403, 'Something went wrong'],
    ['ERR_ELMAH_STORE_UNAVAILABLE', 503, 'The error log is unavailable'],
    ['ERR_ELMAH_TIMEOUT', 504, 'The error log is unavailable'],
    ['ERR_ELMAH_INTERNAL', 500, 'The error log is unavailable'],
  ])('%s answers %i "%s" with the error’s own help', (code, status, heading) => {
    expect(failurePage(coded(code), false)).toEqual({ status, heading, hint: 'the error’s own help' });
  });

  it.each<ElmahErrorCode>(['ERR_ELMAH_KEY_MISSING', 'ERR_ELMAH_KEY_INVALID'])(
    '%s of the viewer’s own key turns the viewer into a 503 that says how to fix it',
    (code) => {
      const page = failurePage(coded(code), false);
      expect(page.status).toBe(503);
      expect(page.heading).toBe('The viewer’s API key no longer works');
      expect(page.hint).toContain('keys create --permissions messages_read');
    },
  );

  it('a key problem of a request’s own key header stays that request’s 401', () => {
    expect(failurePage(coded('ERR_ELMAH_KEY_INVALID'), true)).toEqual({
      status: 401,
      heading: 'Something went wrong',
      hint: 'the error’s own help',
    });
  });

  it('keeps a status the error was given', () => {
    expect(failurePage(new ElmahError('ERR_ELMAH_PERMISSION', 'no', { status: 401 }), false).status).toBe(401);
  });
});

describe('wantsJson', () => {
  it('is true for the JSON routes and key-header requests only', () => {
    expect(['/json/abc', '/json', '/poll', '/poll/'].map((p) => wantsJson(p, false))).toEqual([true, true, true, true]);
    expect(['/', '/jsonp', '/detail/abc', '/polls'].map((p) => wantsJson(p, false))).toEqual([false, false, false, false]);
    expect(wantsJson('/download', true)).toBe(true);
  });
});

describe('Failures', () => {
  /** An app whose routes throw what the test asks for, answered through Failures. */
  function appThatFails(toThrow: () => unknown, viaHeader = false) {
    const requests = new RequestContexts();
    const pages = new Pages(
      new Renderer(join(findPackageRoot(), 'views')),
      { title: 'Error log', log: undefined, access: 'local' },
      '0.0.0',
      requests,
    );
    const failures = new Failures(pages, requests);
    const app = express();
    const mark = (req: Request) =>
      requests.set(req, {
        client: {} as LogClient,
        who: { id: 'k', permissions: [], logs: [] } as unknown as KeyInfo,
        csrf: '',
        viaHeader,
      });
    const handler = failures.handle('failingRoute', async (req) => {
      mark(req);
      throw toThrow();
    });
    app.get(['/page', '/json/:id', '/download'], handler);
    return { app, handler };
  }

  it('answers a coded error with its problem page, status and Retry-After', async () => {
    const { app } = appThatFails(
      () => new ElmahError('ERR_ELMAH_RATE_LIMITED', 'Slow down.', { retryAfter: 61.2, help: 'Wait a minute.' }),
    );
    const res = await request(app).get('/page');
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('62');
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.text).toContain('<h1 id="problem-title">Too many attempts</h1>');
    expect(res.text).toContain('Slow down.');
    expect(res.text).toContain('Wait a minute.');
  });

  it('offers to try a 503 again instead of a link back into the same failure; a 4xx links back to the log', async () => {
    const { app } = appThatFails(() => coded('ERR_ELMAH_STORE_UNAVAILABLE'));
    const res = await request(app).get('/page?q=a');
    expect(res.status).toBe(503);
    expect(res.text).toContain('<a class="button" href="/page?q=a">Try again</a>');
    expect(res.text).not.toContain('Back to the error log');
    const missing = appThatFails(() => coded('ERR_ELMAH_NOT_FOUND'));
    const notFound = await request(missing.app).get('/page');
    expect(notFound.text).toContain('Back to the error log');
    expect(notFound.text).not.toContain('Try again');
  });

  it('answers in JSON on /json and for key-header requests', async () => {
    const { app } = appThatFails(() => coded('ERR_ELMAH_NOT_FOUND'));
    const res = await request(app).get('/json/abc');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({
      error: {
        code: 'ERR_ELMAH_NOT_FOUND',
        message: 'message of ERR_ELMAH_NOT_FOUND',
        help: 'the error’s own help',
        docs: 'docs/errors.md#err_elmah_not_found',
      },
    });
    const header = appThatFails(() => coded('ERR_ELMAH_KEY_INVALID'), true);
    const own = await request(header.app).get('/download');
    expect(own.status).toBe(401);
    expect(own.body.error.code).toBe('ERR_ELMAH_KEY_INVALID');
  });

  it('shows no detail of an uncoded failure, and tells the console', async () => {
    const spy = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const { app } = appThatFails(() => new Error('secret detail'));
      const page = await request(app).get('/page');
      expect(page.status).toBe(500);
      expect(page.text).toContain('The viewer failed');
      expect(page.text).not.toContain('secret detail');
      const json = await request(app).get('/json/abc');
      expect(json.status).toBe(500);
      expect(json.body).toEqual({ error: { code: 'ERR_ELMAH_INTERNAL', message: 'The viewer failed; see the server log.' } });
      expect(spy).toHaveBeenCalledTimes(2);
      expect(String(spy.mock.calls[0]![1])).toContain('secret detail');
    } finally {
      spy.mockRestore();
    }
  });

  it('names the wrapped handler', () => {
    expect(appThatFails(() => undefined).handler.name).toBe('failingRoute');
  });
});
