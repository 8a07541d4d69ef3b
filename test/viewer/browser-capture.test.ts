// The detail page's capture context in a real browser (Chromium through playwright-core): source lines with the
// failing line marked, the breadcrumb timeline, the typed JSON body and the non-Error note, light and dark, with
// hostile text that must never run. Skipped where Chromium is absent. Screenshots go to build/screenshots/.
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import type { ErrorMessage } from '../../src/model/message';
import { chromiumAvailable, launchChromium } from '../helpers/chromium';
import { createViewerApp, type TestApp } from '../helpers/viewer-app';

const available = chromiumAvailable('viewer capture browser test');

const XSS = '<img class="xss-injected" src=x onerror="window.__xss=1">';

/** A failed order with everything capture records now. */
function failedOrder(at: number): Partial<ErrorMessage> {
  const t = (ms: number) => new Date(at - ms).toISOString();
  return {
    id: '01JCAPTURE0000000000000001',
    dateTime: t(0),
    type: 'TypeError',
    title: 'body.quantity.trim is not a function',
    statusCode: 500,
    method: 'POST',
    url: '/api/orders',
    detail:
      'TypeError: body.quantity.trim is not a function\n    at createOrder (/app/src/routes/orders.ts:42:31)\n    at Layer.handle (/app/node_modules/express/lib/router/layer.js:95:5)',
    sourceContext: [
      {
        file: '/app/src/routes/orders.ts',
        line: 42,
        startLine: 39,
        lines: [
          'export async function createOrder(req: Request, res: Response) {',
          '  const body = req.body as OrderInput;',
          `  // ${XSS}`,
          '  const quantity = Number(body.quantity.trim());',
          '  const token = [Filtered];',
          '  const order = await orders.create({ sku: body.sku, quantity });',
          '  res.status(201).json(order);',
        ],
      },
    ],
    breadcrumbs: [
      { dateTime: t(420), severity: 'Information', action: 'Log', message: 'loading cart 7 for user 12' },
      {
        dateTime: t(300),
        severity: 'Information',
        action: 'Request',
        message: 'GET https://prices.internal/sku/7?currency=[Filtered] → 200 (84 ms)',
        data: [
          { key: 'method', value: 'GET' },
          { key: 'url', value: 'https://prices.internal/sku/7?currency=[Filtered]' },
          { key: 'status', value: '200' },
          { key: 'durationMs', value: '84' },
        ],
      },
      { dateTime: t(120), severity: 'Warning', action: 'Log', message: `stock low for sku 7 ${XSS}` },
      {
        dateTime: t(15),
        severity: 'Information',
        action: 'Payment',
        message: 'authorizing card',
        data: [{ key: 'amount', value: '24.9' }],
      },
    ],
    jsonBody: JSON.stringify({
      sku: '7',
      quantity: 2,
      gift: false,
      note: null,
      address: { city: 'Oslo', lines: ['Storgata 1', XSS] },
      password: '[Filtered]',
    }),
  };
}

const describeIf = available ? describe : describe.skip;

describeIf('detail page capture context in a browser', () => {
  let browser: Browser;
  let server: http.Server;
  let origin: string;
  let t: TestApp;

  beforeAll(async () => {
    t = await createViewerApp({
      count: 0,
      extra: [
        failedOrder(Date.now() - 60_000),
        { id: '01JCAPTURE0000000000000002', type: 'string', title: 'out of stock', detail: 'string: "out of stock"' },
      ],
    });
    server = http.createServer(t.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => server?.close(r));
  });

  async function open(path: string, colorScheme: 'light' | 'dark'): Promise<{ page: Page; problems: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 }, colorScheme });
    const problems: string[] = [];
    page.on('dialog', (d) => {
      problems.push(`dialog ${d.message()}`);
      void d.dismiss();
    });
    page.on('console', (msg) => {
      if (/Content Security Policy/i.test(msg.text())) problems.push(msg.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    await page.goto(`${origin}/elmah.axd${path}`);
    return { page, problems };
  }

  it('shows the source lines with the failing line marked, the breadcrumb timeline and the typed body, light and dark', async () => {
    const dir = join(process.cwd(), 'build', 'screenshots');
    mkdirSync(dir, { recursive: true });
    for (const scheme of ['light', 'dark'] as const) {
      const { page, problems } = await open('/detail/01JCAPTURE0000000000000001?log=default', scheme);
      // The failing line, marked and numbered.
      expect(await page.locator('.source-lines li.current').count()).toBe(1);
      expect(await page.locator('.source-lines li.current .ln').textContent()).toBe('42');
      expect(await page.locator('.source-lines li.current code').textContent()).toBe('  const quantity = Number(body.quantity.trim());');
      expect(await page.locator('.source-lines li').count()).toBe(7);
      // Four breadcrumbs, then the error itself, in order.
      const crumbs = page.locator('.timeline > li');
      expect(await crumbs.count()).toBe(5);
      expect(await crumbs.nth(1).locator('.crumb-action').textContent()).toBe('Request');
      expect(await crumbs.nth(1).locator('.crumb-time .muted').textContent()).toBe('-300 ms');
      expect(await crumbs.nth(4).locator('.crumb-message').textContent()).toBe('body.quantity.trim is not a function');
      // The body keeps its types: quantity is a number, sku a string.
      expect(await page.locator('.json-tree .json-number').first().textContent()).toBe('2');
      expect(await page.locator('.json-tree .json-string').first().textContent()).toBe('"7"');
      expect(await page.locator('.json-tree .json-boolean').textContent()).toBe('false');
      // Styled by the stylesheet (not inline styles): the marked line has its own background.
      const marked = await page.evaluate("getComputedStyle(document.querySelector('.source-lines li.current')).backgroundColor");
      const plain = await page.evaluate("getComputedStyle(document.querySelector('.source-lines li')).backgroundColor");
      expect(marked).not.toBe(plain);
      // Hostile text in source lines, breadcrumbs and the body is shown as text, never run.
      expect(await page.evaluate('window.__xss')).toBeUndefined();
      expect(await page.locator('.xss-injected').count()).toBe(0);
      expect(await page.locator('.json-tree').textContent()).toContain('onerror');
      expect(problems).toEqual([]);
      await page.screenshot({ path: join(dir, `detail-capture-${scheme}.png`), fullPage: true });
      await page.close();
    }
  });

  it('suggests throwing an Error when a string was thrown', async () => {
    const { page, problems } = await open('/detail/01JCAPTURE0000000000000002?log=default', 'light');
    expect(await page.locator('.thrown-note').textContent()).toContain('was thrown, not an Error');
    expect(await page.locator('.source-context').count()).toBe(0);
    expect(await page.locator('.timeline').count()).toBe(0);
    expect(problems).toEqual([]);
    await page.close();
  });
});
