// Triage in a real browser (Chromium through playwright-core): an error the app raised is resolved from the
// groups view with the keyboard, the app raises it again, and the group comes back as regressed.
// Skipped where Chromium is absent.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { errorLogger, type ErrorLogger } from '../../src/capture/logger';
import { chromiumAvailable, launchChromium } from '../helpers/chromium';
import { createViewerApp, type TestApp } from '../helpers/viewer-app';

const available = chromiumAvailable('viewer triage browser test');

(available ? describe : describe.skip)('triage in Chromium', () => {
  jest.setTimeout(60_000);
  let browser: Browser;
  let server: http.Server;
  let origin: string;
  let logger: ErrorLogger | undefined;
  let t: TestApp;

  beforeAll(async () => {
    browser = await launchChromium();
    t = await createViewerApp({
      count: 0,
      permissions: ['messages_read', 'groups_write'],
      logger: (store, keys) => (logger = errorLogger({ store, key: keys.write, flushIntervalMs: 10 })),
    });
    await logger!.ready;
    server = http.createServer(t.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await browser?.close();
    await logger?.close(2000);
    await new Promise((r) => server?.close(r));
  });

  async function throwInApp(): Promise<void> {
    const res = await fetch(`${origin}/throw`);
    expect(res.status).toBe(500);
    expect(await logger!.flush(5000)).toBe(true);
  }

  it('resolves a group with the keyboard, sees it disappear, and sees it regressed when the error comes back', async () => {
    await throwInApp();
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${origin}/elmah.axd/?view=groups`);
    expect(await page.locator('a.title-link').allTextContents()).toEqual(['Something broke']);

    // The script shows the page-wide box; ticking it ticks every row and counts them.
    const all = page.locator('#select-all');
    expect(await all.isVisible()).toBe(true);
    await all.focus();
    await page.keyboard.press('Space');
    expect(await page.locator('input[name=group]:checked').count()).toBe(1);
    expect(await page.locator('#bulk-label').textContent()).toBe('1 group ticked:');

    // Tab to "Resolve" and press it with Enter.
    const resolve = page.locator('.bulk-bar button[value=resolve]');
    await resolve.focus();
    await Promise.all([page.waitForURL(/triaged=resolved/), page.keyboard.press('Enter')]);
    expect(await page.locator('.notice.ok').textContent()).toBe('Resolved 1 group.');
    expect(await page.locator('a.title-link').count()).toBe(0);
    expect(await page.locator('p.empty').textContent()).toBe('No groups match.');

    // The app raises the same error again: the group reopens, marked regressed.
    await throwInApp();
    await page.goto(`${origin}/elmah.axd/?view=groups`);
    expect(await page.locator('a.title-link').allTextContents()).toEqual(['Something broke']);
    expect(await page.locator('.badge-regressed').count()).toBe(1);
    await page.locator('a.title-link').click();
    await page.waitForLoadState('domcontentloaded');
    expect(await page.locator('.group-state').textContent()).toContain('Regressed');
    expect(await page.locator('.state-regressed').textContent()).toMatch(/^Regressed at /);
    expect(errors).toEqual([]);
    await page.close();
  });
});
