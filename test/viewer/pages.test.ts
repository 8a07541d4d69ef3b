// The pages: list with paging, search and quick filters, groups, chart, detail, JSON, CSV, feeds,
// about, test, not-found and friendly errors for bad parameters, at any mount point.
import request from 'supertest';
import { createViewerApp, csrfOf, svg, type TestApp } from '../helpers/viewer-app';

const rows = (html: string): number => (html.match(/class="title-link"/g) ?? []).length;

describe('viewer pages', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createViewerApp();
  });

  describe('list', () => {
    it('shows the first 15 errors, newest first, with "errors X to Y of Z"', async () => {
      const res = await request(t.app).get('/elmah.axd/');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/text\/html/);
      expect(rows(res.text)).toBe(15);
      expect(res.text).toMatch(/Errors <strong>1<\/strong> to <strong>15<\/strong> of <strong>30<\/strong>/);
      expect(res.text.indexOf('Order 0 failed')).toBeLessThan(res.text.indexOf('Order 1 failed'));
      for (const col of ['Log', 'Status', 'Type', 'Error', 'User', 'Time (UTC)']) expect(res.text).toContain(`>${col}</th>`);
      expect(res.text).toContain('user0');
      // One host on the whole page: no column of the same value on every row, but a line that says it.
      expect(res.text).not.toContain('>Host</th>');
      expect(res.text).toContain('<p class="muted same-values">Every error on this page: host web-1.</p>');
      const billing = await request(t.app).get('/elmah.axd/?log=billing');
      expect(billing.text).not.toContain('>Log</th>');
      expect(billing.text).toContain('Every error on this page: log billing · host web-1.');
    });

    it('pages with ?page and ?size', async () => {
      const res = await request(t.app).get('/elmah.axd/?page=2&size=10');
      expect(rows(res.text)).toBe(10);
      expect(res.text).toMatch(/Errors <strong>11<\/strong> to <strong>20<\/strong> of <strong>30<\/strong>/);
      expect(res.text).toContain('Order 10 failed');
      expect(res.text).toContain('href="/elmah.axd/?size=10&amp;page=3" rel="next"');
      expect(res.text).toContain('rel="prev"');
      const last = await request(t.app).get('/elmah.axd/?page=2');
      expect(rows(last.text)).toBe(15);
      const beyond = await request(t.app).get('/elmah.axd/?page=9');
      expect(beyond.status).toBe(200);
      expect(beyond.text).toContain('go to the first page');
    });

    it('uses the pageSize option as the default size', async () => {
      const a = await createViewerApp({ viewer: { pageSize: 25 } });
      expect(rows((await request(a.app).get('/elmah.axd/')).text)).toBe(25);
    });

    it('searches with the query language', async () => {
      const res = await request(t.app).get('/elmah.axd/').query({ q: 'title:"Order 7"' });
      expect(res.status).toBe(200);
      expect(rows(res.text)).toBe(1);
      expect(res.text).toContain('Order 7 failed');
      const none = await request(t.app).get('/elmah.axd/').query({ q: 'nothingmatcheshere' });
      expect(rows(none.text)).toBe(0);
      expect(none.text).toContain('No error matches this search');
    });

    it('applies quick filters: status class, type, log and time range', async () => {
      const s4 = await request(t.app).get('/elmah.axd/?status=4xx&size=100');
      expect(rows(s4.text)).toBe(6);
      const type = await request(t.app).get('/elmah.axd/?type=RangeError&size=100');
      expect(rows(type.text)).toBe(10);
      const log = await request(t.app).get('/elmah.axd/?log=billing&size=100');
      expect(rows(log.text)).toBe(3);
      const since = await request(t.app).get('/elmah.axd/?since=1h');
      expect(rows(since.text)).toBe(0);
      const day = await request(t.app).get('/elmah.axd/?since=24h&size=100');
      expect(rows(day.text)).toBe(23);
      const both = await request(t.app).get('/elmah.axd/?status=5xx&type=TypeError&size=100');
      expect(rows(both.text)).toBe(16);
    });

    it("lists the logs in a filter and names each row's log", async () => {
      const res = await request(t.app).get('/elmah.axd/');
      expect(res.text).toContain('<option value="billing">billing (3)</option>');
      expect(res.text).toContain('<td class="col-log">default</td>');
    });

    it('pins to one log with the log option', async () => {
      const a = await createViewerApp({ viewer: { log: 'billing' } });
      const res = await request(a.app).get('/elmah.axd/?size=100&log=default');
      expect(rows(res.text)).toBe(3);
      expect(res.text).not.toContain('id="log"');
    });

    it('says what is wrong with a bad page, size or query, with status 400', async () => {
      const bad = await request(t.app).get('/elmah.axd/?page=0');
      expect(bad.status).toBe(400);
      expect(bad.text).toContain('Page must be a whole number from 1');
      const size = await request(t.app).get('/elmah.axd/?size=abc');
      expect(size.status).toBe(400);
      expect(size.text).toContain('Size must be a whole number from 1 to 100');
      const big = await request(t.app).get('/elmah.axd/?size=101');
      expect(big.status).toBe(400);
      const q = await request(t.app).get('/elmah.axd/').query({ q: 'title:(oops' });
      expect(q.status).toBe(400);
      expect(q.text).toMatch(/at position \d+/);
      expect(q.text).toContain('class="caret"');
      expect(q.text).toContain('aria-invalid="true"');
      const status = await request(t.app).get('/elmah.axd/?status=2xx');
      expect(status.status).toBe(400);
      const view = await request(t.app).get('/elmah.axd/?view=table');
      expect(view.status).toBe(400);
    });

    it('offers the chart, CSV download and auto-refresh of the first page', async () => {
      const res = await request(t.app).get('/elmah.axd/?q=Order');
      // The chart is drawn in the page (wide and narrow); its bars link to the list of their time range.
      expect(res.text).toContain('<div class="chart-wide"><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 960 120" class="chart-svg"');
      expect(res.text).toContain(
        '<div class="chart-narrow"><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 150" class="chart-svg"',
      );
      expect(res.text).toMatch(/<a class="chart-link" href="\/elmah.axd\/\?q=%28Order%29\+AND\+dateTime%3A%5B2\d{3}-/);
      expect(res.text).toContain('href="/elmah.axd/download?q=Order"');
      // A keyboard user can pass the bar links at once: the skip link leads to the table.
      expect(res.text).toContain('<a class="skip-link" href="#results">Skip the chart\'s bar links</a>');
      expect(res.text).toContain('<span id="results"></span>');
      expect(res.text).toMatch(/data-poll-url="\/elmah.axd\/poll\?q=Order" data-newest="[0-9A-Z]+" data-refresh="15" data-total="30"/);
      // Over a moving window (since=) the count of new errors is not a difference of totals: none is given.
      expect((await request(t.app).get('/elmah.axd/?q=Order&since=7d')).text).toMatch(/data-refresh="15" data-total="-1"/);
      const page2 = await request(t.app).get('/elmah.axd/?page=2');
      expect(page2.text).not.toContain('data-poll-url');
      const off = await createViewerApp({ viewer: { refreshSeconds: 0 } });
      expect((await request(off.app).get('/elmah.axd/')).text).not.toContain('data-poll-url');
    });

    it('poll answers the newest id for the filter', async () => {
      const res = await request(t.app).get('/elmah.axd/poll');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ newest: t.messages[0]!.id, total: 30 });
      const bad = await request(t.app).get('/elmah.axd/poll?q=(');
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('ERR_ELMAH_QUERY');
    });
  });

  describe('groups and charts', () => {
    it('shows one row per fingerprint with counts and a sparkline', async () => {
      const res = await request(t.app).get('/elmah.axd/?view=groups');
      expect(res.status).toBe(200);
      expect(res.text).toContain('Error groups');
      // Two types × two logs.
      expect((res.text.match(/class="col-count"><a /g) ?? []).length).toBe(4);
      expect(res.text).toMatch(/<img src="\/elmah.axd\/spark.svg\?log=default&amp;fingerprint=[A-Za-z0-9_-]+"/);
      expect(res.text).toContain('>First seen</th>');
      expect(res.text).toContain('>Last seen</th>');
    });

    it('draws the errors-over-time chart as SVG', async () => {
      const res = await svg(t.app, '/elmah.axd/chart.svg');
      expect(res.status).toBe(200);
      expect(res.type).toMatch(/image\/svg\+xml/);
      expect(res.text).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      expect(res.text).toContain('30 errors from');
      expect((res.text.match(/<rect /g) ?? []).length).toBeGreaterThan(5);
      const day = await svg(t.app, '/elmah.axd/chart.svg?since=1h');
      expect(day.text).toContain('0 errors from');
    });

    it('links each bar of the chart to the list of its time range, which lists exactly its errors', async () => {
      const res = await request(t.app).get('/elmah.axd/');
      const links = [...res.text.matchAll(/<div class="chart-wide">[\s\S]*?<\/div>/g)][0]![0].matchAll(
        /<a class="chart-link" href="([^"]+)"><title>[^<]*: (\d+) errors?<\/title>/g,
      );
      let listed = 0;
      let bars = 0;
      for (const [, link, count] of links) {
        const page = await request(t.app).get(link!.replace(/&amp;/g, '&') + '&size=100');
        expect(page.status).toBe(200);
        expect(rows(page.text)).toBe(Number(count));
        listed += Number(count);
        bars++;
      }
      // 30 errors an hour apart: a week in 2-hour bars is mostly empty, so the chart is drawn in hours.
      expect(bars).toBe(30);
      expect(listed).toBe(30);
      expect(res.text).toContain('one bar per 1 hour');
    });

    it('says "No errors in the last 7 days" instead of drawing an empty chart', async () => {
      const old = await createViewerApp({ count: 0, extra: [{ dateTime: new Date(Date.now() - 20 * 86_400_000).toISOString() }] });
      const res = await request(old.app).get('/elmah.axd/');
      expect(res.text).toContain('<p class="chart-empty">No errors in the last 7 days.</p>');
      expect(res.text).not.toContain('<figure class="chart">');
      const day = await request(t.app).get('/elmah.axd/?since=1h');
      expect(day.text).toContain('No errors in the last hour.');
    });

    it('draws a sparkline for a group and 404s an unknown one', async () => {
      const fp = t.messages[0]!.fingerprint;
      const res = await svg(t.app, `/elmah.axd/spark.svg?log=default&fingerprint=${fp}`);
      expect(res.status).toBe(200);
      expect(res.text).toContain('<polyline points="');
      expect((await request(t.app).get('/elmah.axd/spark.svg?log=default&fingerprint=bad!')).status).toBe(404);
    });
  });

  describe('detail', () => {
    it('shows the message, its stack with in-app frames set apart, and its tables', async () => {
      const m = t.messages[4]!;
      const res = await request(t.app).get(`/elmah.axd/detail/${m.id}?log=default`);
      expect(res.status).toBe(200);
      expect(res.text).toContain('Order 4 failed');
      expect(res.text).toContain(`${m.dateTime.slice(0, 10)} ${m.dateTime.slice(11, 19)} UTC`);
      expect(res.text).toContain('5 hours ago');
      expect(res.text).toContain('<ol class="frames app">');
      // In-app paths relative to the app root (the folder above node_modules), the full path on hover.
      expect(res.text).toContain('<span class="file" title="/app/src/routes/orders.js">src/routes/orders.js</span>');
      expect(res.text).toContain('Paths relative to <span class="mono">/app/</span>');
      expect(res.text).toContain('<pre id="stack-raw" hidden>Error: Something failed');
      expect(res.text).toContain('<button type="button" id="copy-stack" class="small" hidden>Copy stack</button>');
      expect(res.text).toContain('<details class="frames lib">');
      expect(res.text).toContain('1 library frame');
      // Empty sections are one line, not five empty tables.
      expect(res.text).toContain('<p class="muted no-pairs">No server variables, query string, form, cookies or data.</p>');
      expect(res.text).not.toContain('<span class="count">');
      expect(res.text).toContain(`href="/elmah.axd/json/${m.id}?log=default"`);
      expect(res.text).toContain('rel="prev"');
      expect(res.text).toContain('rel="next"');
      expect(res.text).toMatch(/href="\/elmah.axd\/\?q=fingerprint%3A[^"]+&amp;log=default">\d+ occurrences/);
    });

    it('names the type once, shows [Filtered] as a badge, and tables only the sections that have pairs', async () => {
      const a = await createViewerApp({
        count: 0,
        extra: [
          {
            type: 'Error',
            title: 'Error: connect ECONNREFUSED',
            severity: 'Error',
            cookies: [{ key: 'sid', value: '[Filtered]' }],
            form: [{ key: 'qty', value: '2' }],
          },
          { type: 'TimeoutError', title: 'Payment provider did not answer', severity: 'Warning' },
          { type: 'Error', title: 'Errors in checkout' },
        ],
      });
      const [first, second, third] = a.messages;
      // A title that merely starts with the type's letters still shows the type.
      expect((await request(a.app).get(`/elmah.axd/detail/${third!.id}?log=default`)).text).toContain('<span class="type">Error</span>');
      const one = await request(a.app).get(`/elmah.axd/detail/${first!.id}?log=default`);
      expect(one.text).not.toContain('<span class="type">Error</span>');
      expect(one.text).not.toContain('class="sev');
      expect(one.text).toContain('<h1 id="detail-title" class="title">Error: connect ECONNREFUSED</h1>');
      expect(one.text).toContain('<span class="badge filtered" title="Removed before it was logged">filtered</span>');
      expect(one.text).not.toContain('>[Filtered]<');
      expect(one.text).toContain('>Form <span class="count">1</span>');
      expect(one.text).toContain('>Cookies <span class="count">1</span>');
      expect(one.text).toContain('No server variables, query string or data.');
      const two = await request(a.app).get(`/elmah.axd/detail/${second!.id}?log=default`);
      expect(two.text).toContain('<span class="type">TimeoutError</span>');
      expect(two.text).toContain('<span class="sev sev-warning" title="Severity">Warning</span>');
      // Nobody signed in on either: no User column of blanks.
      const list = await request(a.app).get('/elmah.axd/');
      expect(list.text).toContain('>Error</th>');
      expect(list.text).not.toContain('>User</th>');
    });

    it('finds the log of a message when the URL does not name it', async () => {
      const m = t.messages[9]!; // in "billing"
      const res = await request(t.app).get(`/elmah.axd/detail/${m.id}`);
      expect(res.status).toBe(200);
      expect(res.text).toContain('Order 9 failed');
    });

    it('answers 404 for an unknown or malformed id', async () => {
      const res = await request(t.app).get('/elmah.axd/detail/01ZZZZZZZZZZZZZZZZZZZZZZZZ');
      expect(res.status).toBe(404);
      expect(res.text).toContain('Not found');
      expect((await request(t.app).get('/elmah.axd/detail/01ZZZZZZZZZZZZZZZZZZZZZZZZ?log=default')).status).toBe(404);
      expect((await request(t.app).get('/elmah.axd/detail/bad%20id!')).status).toBe(404);
      expect((await request(t.app).get('/elmah.axd/detail/x?log=../etc')).status).toBe(404);
    });
  });

  describe('json, csv and feeds', () => {
    it('answers /json/:id with the record', async () => {
      const m = t.messages[2]!;
      const res = await request(t.app).get(`/elmah.axd/json/${m.id}`);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/application\/json/);
      expect(res.body).toMatchObject({ id: m.id, title: 'Order 2 failed', log: 'default' });
      const missing = await request(t.app).get('/elmah.axd/json/01ZZZZZZZZZZZZZZZZZZZZZZZZ?log=default');
      expect(missing.status).toBe(404);
      expect(missing.body.error.code).toBe('ERR_ELMAH_NOT_FOUND');
    });

    it('streams CSV honouring the search and limit, across pages', async () => {
      const res = await request(t.app).get('/elmah.axd/download?type=TypeError');
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/text\/csv/);
      expect(res.headers['content-disposition']).toMatch(/^attachment; filename="errors-\d{8}-\d{4}\.csv"$/);
      const lines = res.text.trim().split('\r\n');
      expect(lines[0]!.replace(/^\uFEFF/, '')).toBe(
        'id,log,dateTime,severity,statusCode,type,title,url,method,user,hostname,application,version,source,correlationId,fingerprint',
      );
      expect(lines).toHaveLength(21);
      expect(lines.slice(1).every((l) => l.includes(',TypeError,'))).toBe(true);
      const limited = await request(t.app).get('/elmah.axd/download?limit=3');
      expect(limited.text.trim().split('\r\n')).toHaveLength(4);
      const bad = await request(t.app).get('/elmah.axd/download?limit=0');
      expect(bad.status).toBe(400);
      expect((await request(t.app).get('/elmah.axd/download?q=(')).status).toBe(400);
    });

    it('streams more rows than one store page', async () => {
      const big = await createViewerApp({ count: 1200 });
      const res = await request(big.app).get('/elmah.axd/download?limit=1100');
      expect(res.text.trim().split('\r\n')).toHaveLength(1101);
      const ids = new Set(
        res.text
          .trim()
          .split('\r\n')
          .slice(1)
          .map((l) => l.split(',')[0]),
      );
      expect(ids.size).toBe(1100);
    });

    it('serves the last 15 errors as RSS and a daily digest', async () => {
      const rss = await request(t.app).get('/elmah.axd/rss');
      expect(rss.status).toBe(200);
      expect(rss.headers['content-type']).toMatch(/application\/rss\+xml/);
      expect((rss.text.match(/<item>/g) ?? []).length).toBe(15);
      expect(rss.text).toMatch(/<link>http:\/\/127\.0\.0\.1:\d+\/elmah\.axd\/detail\/[0-9A-Z]+\?log=default<\/link>/);
      const digest = await request(t.app).get('/elmah.axd/digestrss');
      expect(digest.status).toBe(200);
      const items = (digest.text.match(/<item>/g) ?? []).length;
      expect(items).toBeGreaterThanOrEqual(2);
      expect(items).toBeLessThanOrEqual(3);
      expect(digest.text).toMatch(/<title>\d{4}-\d{2}-\d{2}: \d+ errors?<\/title>/);
    });
  });

  describe('about, test and not found', () => {
    it('about shows version, store and key, never a secret', async () => {
      const res = await request(t.app).get('/elmah.axd/about');
      expect(res.status).toBe(200);
      expect(res.text).toContain('express-elmah 0.1.0');
      expect(res.text).toContain('memory · memory:');
      const id = t.keys.read.split('_')[1]!;
      const secret = t.keys.read.split('_').slice(2).join('_');
      expect(res.text).toContain(id);
      expect(res.text).toContain('messages_read');
      expect(res.text).not.toContain(secret);
    });

    it('/test shows a button; its POST raises an error through next(err)', async () => {
      const agent = request.agent(t.app);
      const page = await agent.get('/elmah.axd/test');
      expect(page.status).toBe(200);
      expect(page.text).toContain('Raise a test error');
      const before = t.appErrors.length;
      const res = await agent
        .post('/elmah.axd/test')
        .type('form')
        .send({ _csrf: csrfOf(page.text) });
      expect(res.status).toBe(500);
      expect(res.text).toBe('failed 500');
      expect(t.appErrors.length).toBe(before + 1);
      expect(t.appErrors[before]).toMatchObject({ name: 'ElmahTestError' });
    });

    it('answers 404 with a page for an unknown path', async () => {
      const res = await request(t.app).get('/elmah.axd/nothing/here');
      expect(res.status).toBe(404);
      expect(res.text).toContain('There is no page at this address');
      expect((await request(t.app).get('/elmah.axd/assets/secret.txt')).status).toBe(404);
      expect((await request(t.app).get('/elmah.axd/assets/..%2Flayout.ejs')).status).toBe(404);
    });

    it('serves its stylesheet, script and icon', async () => {
      const css = await request(t.app).get('/elmah.axd/assets/viewer.css');
      expect(css.status).toBe(200);
      expect(css.headers['content-type']).toMatch(/text\/css/);
      expect(css.text).toContain('prefers-color-scheme: dark');
      const js = await request(t.app).get('/elmah.axd/assets/viewer.js');
      expect(js.headers['content-type']).toMatch(/javascript/);
      expect((await request(t.app).get('/elmah.axd/assets/favicon.svg')).headers['content-type']).toMatch(/image\/svg/);
    });
  });

  describe('mount points', () => {
    it.each([
      ['/admin/errors', undefined, '/admin/errors'],
      ['/errors', '/ops', '/ops/errors'],
      ['/', undefined, ''],
    ])('links stay under the mount point (%s in sub-app %s)', async (mount, subApp, base) => {
      const a = await createViewerApp({ mount, subApp });
      const res = await request(a.app).get(`${base}/`);
      expect(res.status).toBe(200);
      expect(res.text).toContain(`href="${base}/assets/viewer.css"`);
      expect(res.text).toContain(`href="${base}/detail/${a.messages[0]!.id}?log=default"`);
      expect(res.text).toContain(`<a class="chart-link" href="${base}/?q=dateTime%3A%5B`);
      const detail = await request(a.app).get(`${base}/detail/${a.messages[0]!.id}?log=default`);
      expect(detail.status).toBe(200);
      expect(detail.text).toContain(`href="${base}/"`);
    });
  });
});
