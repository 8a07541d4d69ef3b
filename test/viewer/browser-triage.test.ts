// Triage in a real browser (Chromium through playwright-core): an error the app raised is resolved from the
// groups view with the keyboard, the app raises it again, and the group comes back as regressed.
// Skipped where Chromium is absent.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { errorLogger, type ErrorLogger } from '../../src/capture/logger';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { demoMessages } from '../fixtures/demo-messages';
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

  it('saves the screenshot of the groups view in triage: states, a regression, ticked groups', async () => {
    const demo = await createViewerApp({
      count: 0,
      extra: demoMessages(),
      permissions: ['messages_read', 'groups_write'],
      viewer: { title: 'Shop errors' },
    });
    const byType = (type: string) => demo.messages.find((m) => m.type === type)!;
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
    await demo.store.setGroupState(
      'default',
      [byType('RangeError').fingerprint],
      { status: 'resolved', inVersion: '2.4.1' },
      'k-ci',
      hourAgo,
    );
    await demo.store.setGroupState('default', [byType('NotFoundError').fingerprint], { status: 'ignored' }, 'k-ci', hourAgo);
    const typeError = byType('TypeError');
    await demo.store.setGroupState('default', [typeError.fingerprint], { status: 'resolved' }, 'k-ci', hourAgo);
    await demo.store.append([
      { ...typeError, id: undefined as unknown as string, dateTime: new Date(Date.now() - 60_000).toISOString(), version: '2.4.2' },
    ]);
    const demoServer = http.createServer(demo.app);
    await new Promise<void>((resolve) => demoServer.listen(0, '127.0.0.1', resolve));
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
      await page.goto(`http://127.0.0.1:${(demoServer.address() as AddressInfo).port}/elmah.axd/?view=groups&state=all`);
      await page.waitForLoadState('networkidle');
      expect(await page.locator('.badge-regressed').count()).toBe(1);
      expect(await page.locator('.badge-resolved').count()).toBe(1);
      expect(await page.locator('.badge-ignored').count()).toBe(1);
      const boxes = page.locator('input[name=group]');
      await boxes.nth(1).check();
      await boxes.nth(2).check();
      expect(await page.locator('#bulk-label').textContent()).toBe('2 groups ticked:');
      const images = join(__dirname, '../../build/screenshots');
      mkdirSync(images, { recursive: true });
      await page.screenshot({ path: join(images, 'viewer-triage.png'), fullPage: false });
      await page.close();
    } finally {
      await new Promise((r) => demoServer.close(r));
    }
  });
});
