// Headers (strict CSP, no-store, noindex, no-referrer), CSRF on every state-changing form, the delete
// permission, and escaping of attacker-controlled message text in every page.
import request from 'supertest';
import { createViewerApp, csrfOf } from '../helpers/viewer-app';

const ALLOWED_TAGS = new Set(
  (
    'html head meta title link body a header div span nav ul li form input button main section p h1 h2 ' +
    'footer label select option strong table caption thead tbody tr th td time pre figure figcaption dl dt dd article ol details summary code em br textarea kbd' +
    // The chart drawn in the list page.
    ' line text rect g'
  ).split(' '),
);
const XSS = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&';

describe('viewer headers', () => {
  it.each(['/elmah.axd/', '/elmah.axd/about', '/elmah.axd/assets/viewer.css', '/elmah.axd/nothing', '/elmah.axd/chart.svg'])(
    'sends a strict CSP, no-store, noindex and no-referrer on %s',
    async (path) => {
      const t = await createViewerApp();
      const res = await request(t.app).get(path);
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).toContain("form-action 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).not.toContain('unsafe-eval');
      expect(csp).not.toMatch(/https?:/);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['x-robots-tag']).toBe('noindex, nofollow');
      expect(res.headers['referrer-policy']).toBe('no-referrer');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    },
  );

  it('sends them on the 403 page of a refused request too', async () => {
    const t = await createViewerApp();
    const res = await request(t.app).get('/elmah.axd/').set('X-Forwarded-For', '1.2.3.4');
    expect(res.status).toBe(403);
    expect(String(res.headers['content-security-policy'])).toContain("default-src 'none'");
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('pages carry no inline script or style', async () => {
    const t = await createViewerApp();
    for (const path of [
      '/elmah.axd/',
      '/elmah.axd/?view=groups',
      `/elmah.axd/detail/${t.messages[0]!.id}`,
      '/elmah.axd/about',
      '/elmah.axd/test',
    ]) {
      const html = (await request(t.app).get(path)).text;
      expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
      expect(html).not.toMatch(/<style/);
      expect(html).not.toMatch(/\sstyle=/);
      expect(html).not.toMatch(/\son[a-z]+=/);
    }
  });
});

describe('CSRF', () => {
  it('sets an HttpOnly SameSite=Strict token cookie scoped to the mount path', async () => {
    const t = await createViewerApp();
    const res = await request(t.app).get('/elmah.axd/test');
    const cookies = res.headers['set-cookie'] as unknown as string[];
    expect(cookies.find((c) => c.startsWith('elmah_csrf='))).toMatch(/; Path=\/elmah\.axd; HttpOnly; SameSite=Strict$/);
  });

  it('refuses a POST without the token, with a wrong one, and from another site', async () => {
    const t = await createViewerApp({ key: 'del' });
    const agent = request.agent(t.app);
    const page = await agent.get(`/elmah.axd/detail/${t.messages[0]!.id}`);
    const csrf = csrfOf(page.text);
    const path = `/elmah.axd/detail/${t.messages[0]!.id}/delete`;
    const none = await agent.post(path).type('form').send({ log: 'default' });
    expect(none.status).toBe(403);
    expect(none.text).toContain('security token');
    expect(
      (
        await agent
          .post(path)
          .type('form')
          .send({ _csrf: csrf.slice(1) + 'x', log: 'default' })
      ).status,
    ).toBe(403);
    expect((await agent.post(path).type('form').set('Origin', 'https://evil.example').send({ _csrf: csrf, log: 'default' })).status).toBe(
      403,
    );
    expect((await agent.post(path).type('form').set('Sec-Fetch-Site', 'cross-site').send({ _csrf: csrf, log: 'default' })).status).toBe(
      403,
    );
    // Another visitor's token does not fit this visitor's cookie.
    const other = request.agent(t.app);
    const otherCsrf = csrfOf((await other.get(`/elmah.axd/detail/${t.messages[0]!.id}`)).text);
    expect((await agent.post(path).type('form').send({ _csrf: otherCsrf, log: 'default' })).status).toBe(403);
    expect(await t.store.get('default', t.messages[0]!.id)).toBeDefined();
    const ok = await agent.post(path).type('form').send({ _csrf: csrf, log: 'default' });
    expect(ok.status).toBe(303);
    expect(await t.store.get('default', t.messages[0]!.id)).toBeUndefined();
  });

  it('the test button needs the token as well', async () => {
    const t = await createViewerApp();
    const res = await request(t.app).post('/elmah.axd/test').type('form').send({});
    expect(res.status).toBe(403);
    expect(t.appErrors).toHaveLength(0);
  });
});

describe('delete', () => {
  it('hides delete controls from a key without messages_delete, and its routes answer 403', async () => {
    const t = await createViewerApp({ key: 'read' });
    const agent = request.agent(t.app);
    const list = await agent.get('/elmah.axd/');
    expect(list.text).not.toContain('Delete these');
    const detail = await agent.get(`/elmah.axd/detail/${t.messages[0]!.id}`);
    expect(detail.text).not.toContain('Delete this error');
    const csrf = csrfOf((await agent.get('/elmah.axd/test')).text);
    const one = await agent.post(`/elmah.axd/detail/${t.messages[0]!.id}/delete`).type('form').send({ _csrf: csrf, log: 'default' });
    expect(one.status).toBe(403);
    expect(one.text).toContain('lacks messages_delete');
    expect((await agent.get('/elmah.axd/delete?q=Order')).status).toBe(403);
    const many = await agent.post('/elmah.axd/delete').type('form').send({ _csrf: csrf, q: 'Order' });
    expect(many.status).toBe(403);
    expect((await t.store.search({})).total).toBe(30);
  });

  it('deletes one message with messages_delete and says so', async () => {
    const t = await createViewerApp({ key: 'del' });
    const agent = request.agent(t.app);
    const id = t.messages[3]!.id;
    const page = await agent.get(`/elmah.axd/detail/${id}`);
    // Two steps without JavaScript: the first press only opens the confirmation, whose button posts.
    expect(page.text).toMatch(
      /<details class="confirm">\s*<summary class="button danger">Delete this error…<\/summary>\s*<form method="post" action="\/elmah.axd\/detail\/[^"]+\/delete" class="confirm-box">\s*<input type="hidden" name="_csrf"/,
    );
    const res = await agent
      .post(`/elmah.axd/detail/${id}/delete`)
      .type('form')
      .send({ _csrf: csrfOf(page.text), log: 'default' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/elmah.axd/?deleted=1');
    expect((await agent.get(res.headers.location!)).text).toContain('Deleted 1 message.');
    expect((await request(t.app).get(`/elmah.axd/detail/${id}`)).status).toBe(404);
  });

  it('deletes a search result after a confirmation page, across logs', async () => {
    const t = await createViewerApp({ key: 'del' });
    const agent = request.agent(t.app);
    const list = await agent.get('/elmah.axd/?type=RangeError');
    // The type box of earlier versions is a term of the search now; its links keep working.
    expect(list.text).toContain('href="/elmah.axd/delete?q=type%3ARangeError"');
    const confirm = await agent.get('/elmah.axd/delete?type=RangeError');
    expect(confirm.status).toBe(200);
    expect(confirm.text).toContain('Delete 10 errors?');
    expect(confirm.text).toContain('<input type="hidden" name="q" value="type:RangeError">');
    const res = await agent
      .post('/elmah.axd/delete')
      .type('form')
      .send({ _csrf: csrfOf(confirm.text), type: 'RangeError' });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/elmah.axd/?deleted=10');
    const left = await t.store.search({ size: 100 });
    expect(left.total).toBe(20);
    expect(left.messages.every((m) => m.type === 'TypeError')).toBe(true);
    const bad = await agent
      .post('/elmah.axd/delete')
      .type('form')
      .send({ _csrf: csrfOf(confirm.text), q: 'title:(' });
    expect(bad.status).toBe(400);
  });
});

describe('escaping of message text', () => {
  it('never writes message data unescaped, on the list, groups, detail, about and feeds', async () => {
    const t = await createViewerApp({
      extra: [
        {
          title: XSS,
          type: 'X<svg/onload=alert(3)>',
          url: `/p?${XSS}`,
          user: XSS,
          hostname: XSS,
          correlationId: XSS,
          source: XSS,
          log: 'default',
          serverVariables: [{ key: XSS, value: XSS }],
          cookies: [{ key: XSS, value: '[Filtered]' }],
          form: [{ key: 'comment', value: XSS }],
          queryString: [{ key: 'q', value: XSS }],
          data: [{ key: 'd', value: XSS }],
          detail: `Error: ${XSS}\n    at ${XSS} (/app/src/${XSS}.js:1:1)\n    at x (/app/node_modules/${XSS}/i.js:2:2)`,
        },
      ],
    });
    const id = t.messages[t.messages.length - 1]!.id;
    for (const path of [
      '/elmah.axd/',
      '/elmah.axd/?view=groups',
      `/elmah.axd/detail/${id}`,
      `/elmah.axd/?q=${encodeURIComponent(XSS)}`,
      `/elmah.axd/?type=${encodeURIComponent(XSS)}`,
    ]) {
      const html = (await request(t.app).get(path)).text;
      expect(html).not.toContain('<script>alert');
      expect(html).not.toContain('<img src=x');
      expect(html).not.toContain('<svg/onload');
      // Every tag in the page is one of ours: none is opened by message text.
      const tags = new Set([...html.matchAll(/<([a-zA-Z][a-zA-Z0-9]*)/g)].map((m) => m[1]!.toLowerCase()));
      for (const tag of ['script', 'img', 'svg']) tags.delete(tag);
      expect([...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0])).toEqual(['<script src="/elmah.axd/assets/viewer.js" defer>']);
      expect([...tags].filter((tag) => !ALLOWED_TAGS.has(tag))).toEqual([]);
      expect([...html.matchAll(/<img\b[^>]*>/g)].every((m) => /^<img src="\/elmah\.axd\/(chart|spark)\.svg[?"]/.test(m[0]))).toBe(true);
      expect(
        [...html.matchAll(/<svg\b[^>]*>/g)].every((m) => m[0].startsWith('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ')),
      ).toBe(true);
    }
    const detail = (await request(t.app).get(`/elmah.axd/detail/${id}`)).text;
    expect(detail).toContain('&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&#34;&#39;&amp;');
    const rss = (await request(t.app).get('/elmah.axd/rss')).text;
    expect(rss).not.toContain('<script>');
    expect(rss).toContain('&lt;script&gt;');
    const digest = (await request(t.app).get('/elmah.axd/digestrss')).text;
    expect(digest).not.toContain('<script>');
    expect(digest).not.toContain('&lt;script&gt;alert');
  });

  it('escapes /rss descriptions for HTML inside the XML, since feed readers render them as HTML', async () => {
    const img = '<img src=x onerror=alert(document.domain)>';
    const t = await createViewerApp({
      count: 0,
      extra: [{ title: img, type: 'Error', url: `/x?${img}`, detail: `Error: ${img}\n    at f (/app/a.js:1:1)` }],
    });
    const rss = (await request(t.app).get('/elmah.axd/rss')).text;
    const descriptions = [...rss.matchAll(/<description>([\s\S]*?)<\/description>/g)].slice(1).map((m) => m[1]!);
    expect(descriptions).toHaveLength(1);
    // What a feed reader gets after reading the XML: HTML in which the message text is only text.
    const asHtml = descriptions[0]!
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&amp;/g, '&');
    expect(asHtml).not.toContain('<img');
    expect(asHtml).toContain('&lt;img src=x onerror=alert(document.domain)&gt;');
    expect([...asHtml.matchAll(/<([a-z]+)/g)].map((m) => m[1])).toEqual(['p', 'pre']);
  });

  it('shows bidi controls and invisible characters as visible markers on the list and detail pages', async () => {
    const title = 'Upload of invoice\u202Efdp.exe refused\u200B\u2066x\u2069\uFEFF';
    const t = await createViewerApp({ count: 0, extra: [{ title, type: 'Error', user: 'bob\u200F', detail: 'Error: a\u202Db' }] });
    const id = t.messages[0]!.id;
    for (const path of ['/elmah.axd/', `/elmah.axd/detail/${id}`]) {
      const html = (await request(t.app).get(path)).text;
      expect(html).toContain('invoice&lt;U+202E&gt;fdp.exe refused&lt;U+200B&gt;&lt;U+2066&gt;x&lt;U+2069&gt;&lt;U+FEFF&gt;');
      expect(html).not.toMatch(/[\u200B-\u200F\u202A-\u202E\u2066-\u2069\uFEFF]/);
    }
    const detail = (await request(t.app).get(`/elmah.axd/detail/${id}`)).text;
    expect(detail).toContain('bob&lt;U+200F&gt;');
    expect(detail).toContain('a&lt;U+202D&gt;b');
    // The data itself is unchanged: the JSON view gives the text as it was stored.
    expect((await request(t.app).get(`/elmah.axd/json/${id}`)).body.title).toBe(title);
  });

  it('protects CSV cells from spreadsheet formulas', async () => {
    const t = await createViewerApp({ count: 0, extra: [{ title: '=HYPERLINK("http://evil.example","x")', type: 'E' }] });
    const csv = (await request(t.app).get('/elmah.axd/download')).text;
    expect(csv).toContain(`"'=HYPERLINK(""http://evil.example"",""x"")"`);
  });
});
