// The viewer in a real browser (Chromium through playwright-core): list → detail → back, the deployments page,
// an XSS corpus that must never execute, and the screenshots for the README. Skipped where Chromium is absent.
// Screenshots go to build/screenshots/ (git-ignored): a test run never rewrites tracked files.
// `npm run screenshots` runs this file and copies the images the docs show into docs/images/.
import { existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { demoMessages } from '../fixtures/demo-messages';
import { makeMessage } from '../helpers/messages';
import { chromiumAvailable, launchChromium } from '../helpers/chromium';
import { createViewerApp, type TestApp } from '../helpers/viewer-app';

const available = chromiumAvailable('viewer browser test');

/** Each payload, if it ran, would set window.__xss, open a dialog, or add an element with class xss-injected. */
const PAYLOADS = [
  '<script>window.__xss=1</script>',
  '<script>alert(1)</script>',
  '<img src=x onerror="window.__xss=2">',
  '<img class="xss-injected" src=x>',
  '<svg onload="window.__xss=3"></svg>',
  '<svg><script>window.__xss=4</script></svg>',
  '"><script>window.__xss=5</script>',
  "'><img src=x onerror=alert(6)>",
  '</title><script>window.__xss=7</script>',
  '</textarea><script>window.__xss=8</script>',
  '<iframe class="xss-injected" src="javascript:alert(9)"></iframe>',
  '<a class="xss-injected" href="javascript:alert(10)">x</a>',
  '<body onload="window.__xss=11">',
  '<details open ontoggle="window.__xss=12">',
  '<math><mtext><table><mglyph><style><img src=x onerror=alert(13)>',
  '<input class="xss-injected" autofocus onfocus="window.__xss=14">',
  '<div class="xss-injected" style="background:url(javascript:alert(15))">',
  '<object class="xss-injected" data="javascript:alert(16)"></object>',
  '<base href="https://evil.example/">',
  '<meta http-equiv="refresh" content="0;url=javascript:alert(18)">',
  '{{constructor.constructor("alert(19)")()}}',
  '${alert(20)}<%= 7*7 %><%- "x" %>',
  '<form class="xss-injected" action="https://evil.example"><button>go</button></form>',
  'javascript:alert(22)//<scr<script>ipt>window.__xss=22</script>',
  '<link rel="stylesheet" href="https://evil.example/x.css">',
];

const describeIf = available ? describe : describe.skip;

describeIf('viewer in a browser', () => {
  let browser: Browser;
  let server: http.Server;
  let origin: string;
  let t: TestApp;
  let demo: TestApp;
  let demoServer: http.Server;
  let demoOrigin: string;

  beforeAll(async () => {
    demo = await createViewerApp({
      count: 0,
      extra: demoMessages(),
      viewer: { title: 'Shop errors' },
      permissions: ['messages_read', 'messages_delete', 'groups_write', 'deployments_read'],
      deployments: [
        { version: '2.4.0', created: new Date(Date.now() - 6 * 86_400_000).toISOString(), userName: 'ci' },
        { version: '2.4.1', created: new Date(Date.now() - 3 * 86_400_000).toISOString(), userName: 'ci', description: 'Faster checkout' },
      ],
    });
    demoServer = http.createServer(demo.app);
    await new Promise<void>((resolve) => demoServer.listen(0, '127.0.0.1', resolve));
    demoOrigin = `http://127.0.0.1:${(demoServer.address() as AddressInfo).port}`;
    browser = await launchChromium();
    t = await createViewerApp({
      count: 40,
      permissions: ['messages_read', 'deployments_read'],
      deployments: PAYLOADS.slice(0, 10).map((p, i) => ({
        version: p.slice(0, 100),
        description: p,
        userName: p,
        created: new Date(Date.now() - (i + 1) * 3_600_000).toISOString(),
      })),
      extra: PAYLOADS.map((p, i) => ({
        title: p,
        type: i % 2 ? 'TypeError' : `X${i}`,
        url: `/search?q=${p}`,
        user: p,
        hostname: 'web-2',
        statusCode: 500,
        serverVariables: [
          { key: 'HTTP_USER_AGENT', value: p },
          { key: 'HTTP_REFERER', value: p },
        ],
        form: [{ key: 'comment', value: p }],
        cookies: [{ key: p, value: '[Filtered]' }],
        queryString: [{ key: 'q', value: p }],
        detail: `Error: ${p}\n    at handler (/app/src/routes/search.js:12:7)\n    at Layer.handle (/app/node_modules/express/lib/router/layer.js:95:5)`,
      })),
    });
    server = http.createServer(t.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => server?.close(r));
    await new Promise((r) => demoServer?.close(r));
  });

  /** A page that records dialogs, CSP violations and page errors. */
  async function watchedPage(): Promise<{ page: Page; dialogs: string[]; violations: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
    const dialogs: string[] = [];
    const violations: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) violations.push(msg.text());
    });
    await page.addInitScript(
      "window.__csp = []; document.addEventListener('securitypolicyviolation', function (e) { window.__csp.push(e.violatedDirective + ' ' + e.blockedURI); });",
    );
    return { page, dialogs, violations };
  }

  async function expectClean(page: Page, dialogs: string[], violations: string[]): Promise<void> {
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    expect(await page.evaluate("document.querySelectorAll('.xss-injected').length")).toBe(0);
    expect(await page.evaluate("document.querySelectorAll('script:not([src])').length")).toBe(0);
    expect(await page.evaluate("Array.from(document.scripts).map(function (s) { return s.getAttribute('src'); })")).toEqual([
      '/elmah.axd/assets/viewer.js',
    ]);
    expect(await page.evaluate('window.__csp')).toEqual([]);
    expect(dialogs).toEqual([]);
    expect(violations).toEqual([]);
  }

  it('goes list → detail → back and saves the screenshots', async () => {
    const { page, dialogs, violations } = await watchedPage();
    const images = join(__dirname, '../../build/screenshots');
    mkdirSync(images, { recursive: true });
    await page.goto(`${demoOrigin}/elmah.axd/`);
    await page.waitForLoadState('networkidle');
    expect(await page.title()).toBe('Errors · Shop errors');
    expect(await page.locator('a.title-link').count()).toBe(15);
    await page.screenshot({ path: join(images, 'viewer-list.png'), fullPage: false });

    const first = page.locator('a.title-link').first();
    const title = (await first.textContent())!.trim();
    await first.click();
    await page.waitForURL(/\/elmah\.axd\/detail\//);
    expect((await page.locator('h1#detail-title').textContent())!.trim()).toBe(title);
    expect(await page.locator('ol.frames.app li').count()).toBe(2);
    expect(await page.locator('details.frames.lib').count()).toBe(1);
    await page.screenshot({ path: join(images, 'viewer-detail.png'), fullPage: false });

    await page.goBack();
    await page.waitForURL(`${demoOrigin}/elmah.axd/`);
    expect(await page.locator('a.title-link').count()).toBe(15);
    await expectClean(page, dialogs, violations);
    expect(existsSync(join(images, 'viewer-list.png'))).toBe(true);
    expect(existsSync(join(images, 'viewer-detail.png'))).toBe(true);
    await page.close();
  });

  /**
   * Every visible button, badge and status label whose text is below WCAG AA (4.5:1) against the background it
   * sits on, from the colours the page computes (the background is the nearest ancestor's that is not transparent).
   */
  const LOW_CONTRAST = `(function () {
    function rgba(s) { var m = s.match(/[\\d.]+/g) || []; return { r: +m[0], g: +m[1], b: +m[2], a: m[3] === undefined ? 1 : +m[3] }; }
    function lum(c) { return [c.r, c.g, c.b].map(function (v) { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); })
      .reduce(function (sum, v, i) { return sum + v * [0.2126, 0.7152, 0.0722][i]; }, 0); }
    function background(el) {
      for (var e = el; e; e = e.parentElement) { var c = rgba(getComputedStyle(e).backgroundColor); if (c.a > 0.5) return c; }
      return rgba(getComputedStyle(document.body).backgroundColor);
    }
    var out = [];
    document.querySelectorAll('button, .button, summary.button, .badge, .status, .sev, .tabs a, .primary, .danger, .pager a').forEach(function (el) {
      var box = el.getBoundingClientRect();
      if (box.width === 0 || box.height === 0 || !el.textContent.trim()) return;
      var a = lum(rgba(getComputedStyle(el).color)), b = lum(background(el));
      var ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      if (ratio < 4.5) out.push(el.className + ' "' + el.textContent.trim().slice(0, 30) + '" ' + ratio.toFixed(2));
    });
    return out;
  })()`;

  it('fits list, groups and detail on a phone and a desktop, light and dark, with readable buttons; saves the screenshots', async () => {
    const images = join(__dirname, '../../build/screenshots');
    mkdirSync(images, { recursive: true });
    const detailId = demo.messages[demo.messages.length - 1]!.id;
    const views: [string, string][] = [
      ['list', '/elmah.axd/'],
      ['groups', '/elmah.axd/?view=groups'],
      ['detail', `/elmah.axd/detail/${detailId}?log=default`],
    ];
    const sizes: [string, { width: number; height: number }][] = [
      ['desktop', { width: 1280, height: 800 }],
      ['phone', { width: 390, height: 844 }],
    ];
    const problems: string[] = [];
    for (const [size, viewport] of sizes) {
      const page = await browser.newPage({ viewport });
      for (const scheme of ['light', 'dark'] as const) {
        await page.emulateMedia({ colorScheme: scheme });
        for (const [name, path] of views) {
          await page.goto(`${demoOrigin}${path}`);
          await page.waitForLoadState('networkidle');
          const where = `${name} ${size} ${scheme}`;
          const width = Number(await page.evaluate('document.scrollingElement.scrollWidth'));
          const inner = Number(await page.evaluate('window.innerWidth'));
          if (width > inner) problems.push(`${where}: ${width} px wide in a ${inner} px window`);
          for (const low of (await page.evaluate(LOW_CONTRAST)) as string[]) problems.push(`${where}: ${low}`);
          await page.screenshot({ path: join(images, `viewer-${name}-${size}-${scheme}.png`) });
        }
      }
      // On a phone, the first error is on the first screen: the filters fold away behind the search box.
      if (size === 'phone') {
        await page.emulateMedia({ colorScheme: 'light' });
        await page.goto(`${demoOrigin}/elmah.axd/`);
        const top = Number(await page.evaluate("document.querySelector('a.title-link').getBoundingClientRect().top"));
        if (top > viewport.height) problems.push(`list phone: the first error starts at y = ${top}`);
        expect(await page.locator('#q').isVisible()).toBe(true);
        expect(await page.locator('#status').isVisible()).toBe(false);
        // The search box shows the whole of a long query: it grows with its text instead of hiding the rest.
        await page.goto(`${demoOrigin}/elmah.axd/?q=${encodeURIComponent('statusCode:[500 TO 599] AND NOT url:"/checkout"')}`);
        const box = (await page.evaluate(
          "(function (q) { return [q.scrollWidth - q.clientWidth, q.scrollHeight - q.clientHeight]; })(document.getElementById('q'))",
        )) as number[];
        expect(box).toEqual([0, 0]);
      }
      await page.close();
    }
    expect(problems).toEqual([]);
  });

  it('keeps the new-errors notice in view while scrolled, saying how many arrived', async () => {
    const live = await createViewerApp({ count: 40, viewer: { refreshSeconds: 1 } });
    const liveServer = http.createServer(live.app);
    await new Promise<void>((resolve) => liveServer.listen(0, '127.0.0.1', resolve));
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    try {
      await page.goto(`http://127.0.0.1:${(liveServer.address() as AddressInfo).port}/elmah.axd/`);
      await page.evaluate('window.scrollTo(0, 600)');
      const now = new Date().toISOString();
      await live.store.append([makeMessage({ title: 'Fresh one', dateTime: now }), makeMessage({ title: 'Fresh two', dateTime: now })]);
      const banner = page.locator('#new-errors');
      await banner.waitFor({ state: 'visible', timeout: 10_000 });
      expect((await banner.textContent())!.replace(/\s+/g, ' ').trim()).toBe('2 new errors arrived. Show them');
      // Sticky: still on screen although the page is scrolled past where it sits.
      const top = Number(await page.evaluate("document.getElementById('new-errors').getBoundingClientRect().top"));
      expect(top).toBeGreaterThanOrEqual(0);
      expect(top).toBeLessThan(100);
    } finally {
      await page.close();
      await new Promise((r) => liveServer.close(r));
    }
  });

  it('copies the stack with its button, which stays hidden where the script does not run', async () => {
    const context = await browser.newContext();
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: demoOrigin });
    const page = await context.newPage();
    const m = demo.messages[0]!;
    await page.goto(`${demoOrigin}/elmah.axd/detail/${m.id}?log=default`);
    await page.locator('#copy-stack').click();
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(m.detail);
    expect((await page.locator('#copy-stack').textContent())!.trim()).toBe('Copied');
    await context.close();
    const plain = await browser.newContext({ javaScriptEnabled: false });
    const noScript = await plain.newPage();
    await noScript.goto(`${demoOrigin}/elmah.axd/detail/${m.id}?log=default`);
    expect(await noScript.locator('#copy-stack').isVisible()).toBe(false);
    // Without the script, deleting still takes two presses: the summary opens the confirmation.
    await noScript.locator('details.confirm > summary').click();
    expect(await noScript.locator('details.confirm button.danger-solid').isVisible()).toBe(true);
    await plain.close();
  });

  it('never executes the XSS corpus: list, groups, search, detail of every payload', async () => {
    const { page, dialogs, violations } = await watchedPage();
    const paths = [
      '/elmah.axd/?size=100',
      '/elmah.axd/?view=groups&size=100',
      `/elmah.axd/?q=${encodeURIComponent('"<script>"')}`,
      `/elmah.axd/?type=${encodeURIComponent(PAYLOADS[0]!)}`,
      '/elmah.axd/about',
      '/elmah.axd/deployments',
    ];
    const ids = t.messages.slice(-PAYLOADS.length).map((m) => m.id);
    for (const id of ids) paths.push(`/elmah.axd/detail/${id}?log=default`);
    for (const path of paths) {
      await page.goto(`${origin}${path}`);
      await page.waitForLoadState('networkidle');
      await expectClean(page, dialogs, violations);
    }
    // The payloads are shown as text, exactly.
    await page.goto(`${origin}/elmah.axd/detail/${ids[0]}?log=default`);
    expect((await page.locator('h1#detail-title').textContent())!.trim()).toBe(PAYLOADS[0]);
    await page.goto(`${origin}/elmah.axd/deployments`);
    expect(await page.locator('table.deployments a.version').allTextContents()).toEqual(PAYLOADS.slice(0, 10));
    await page.close();
  });

  it('opens the deployments page from the navigation and follows a version to its errors', async () => {
    const { page, dialogs, violations } = await watchedPage();
    await page.goto(`${demoOrigin}/elmah.axd/`);
    await page.waitForLoadState('networkidle');
    // The chart, with its deployment markers, is drawn in the page within the CSP, its bars linked.
    expect(await page.locator('figure.chart .chart-wide svg g.deployment').count()).toBe(2);
    expect(await page.locator('figure.chart .chart-wide svg a.chart-link').count()).toBeGreaterThan(5);
    expect(await page.locator('figure.chart .deployed a').allTextContents()).toEqual(['2.4.0', '2.4.1']);
    await page.getByRole('link', { name: 'Deployments', exact: true }).click();
    await page.waitForURL(`${demoOrigin}/elmah.axd/deployments`);
    expect(await page.title()).toBe('Deployments · Shop errors');
    expect(await page.locator('table.deployments a.version').allTextContents()).toEqual(['2.4.1', '2.4.0']);
    expect((await page.locator('table.deployments tbody .col-desc').first().textContent())!.trim()).toBe('Faster checkout');
    const errors = Number((await page.locator('table.deployments tbody .col-count a').first().textContent())!.trim());
    expect(errors).toBeGreaterThan(0);
    await page.locator('table.deployments a.version').first().click();
    await page.waitForURL(/q=version%3A%222\.4\.1%22/);
    expect(await page.locator('a.title-link').count()).toBe(15);
    await expectClean(page, dialogs, violations);
    await page.close();
  });

  it('is usable from the keyboard: "/" focuses the search and Enter runs it', async () => {
    const { page } = await watchedPage();
    await page.goto(`${demoOrigin}/elmah.axd/`);
    await page.keyboard.press('/');
    expect(await page.evaluate('document.activeElement && document.activeElement.id')).toBe('q');
    await page.keyboard.type('ECONNREFUSED');
    await page.keyboard.press('Enter');
    await page.waitForURL(/q=ECONNREFUSED/);
    expect(await page.locator('a.title-link').count()).toBeGreaterThan(0);
    await page.close();
  });
});
