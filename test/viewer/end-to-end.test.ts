// End to end: errorLogger records the app's failures (and the viewer's /test error) into the store the
// viewer reads, through their own keys: write for the logger, read for the viewer.
import request from 'supertest';
import { errorLogger, type ErrorLogger } from '../../src/capture/logger';
import { createViewerApp, csrfOf } from '../helpers/viewer-app';

describe('viewer with errorLogger', () => {
  let logger: ErrorLogger | undefined;
  afterEach(async () => {
    await logger?.close(2000);
    logger = undefined;
  });

  it('shows an error the app raised, and the test error of /test', async () => {
    const t = await createViewerApp({
      count: 0,
      logger: (store, keys) => (logger = errorLogger({ store, key: keys.write, flushIntervalMs: 10 })),
    });
    await logger!.ready;
    expect((await request(t.app).get('/throw')).status).toBe(500);
    const agent = request.agent(t.app);
    const page = await agent.get('/elmah.axd/test');
    expect(page.headers['content-security-policy']).toContain("style-src 'self'");
    expect(page.text).toContain('href="/elmah.axd/?q=type%3AElmahTestError"');
    const raised = await agent
      .post('/elmah.axd/test')
      .type('form')
      .send({ _csrf: csrfOf(page.text) });
    expect(raised.status).toBe(500);
    // The app's own error page, under the app's headers: the viewer's CSP would block its inline styles.
    expect(raised.headers['content-security-policy']).toBeUndefined();
    expect(raised.headers['x-robots-tag']).toBeUndefined();
    expect(await logger!.flush(5000)).toBe(true);

    const list = await agent.get('/elmah.axd/');
    expect(list.text).toMatch(/Errors <strong>1<\/strong> to <strong>2<\/strong> of <strong>2<\/strong>/);
    expect(list.text).toContain('Something broke');
    expect(list.text).toContain('ElmahTestError');
    const test = await agent.get('/elmah.axd/?type=ElmahTestError');
    const href = /href="(\/elmah\.axd\/detail\/[^"]+)"/
      .exec(test.text.slice(test.text.indexOf('class="title-link"') - 200))![1]!
      .replace(/&amp;/g, '&');
    const detail = await agent.get(href);
    expect(detail.status).toBe(200);
    expect(detail.text).toContain('This is a test error raised from the error log viewer');
    expect(detail.text).toContain('POST /elmah.axd/test');
    // The CSRF token travelled in the form, which the logger filters.
    expect(detail.text).not.toContain(csrfOf(page.text));
  });
});
