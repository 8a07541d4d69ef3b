// Alert mail end to end: an app with errorLogger({ notify: { mail } }) fails, a real SMTP server in this
// process receives the mail, and the test reads the MIME message (subject, text and HTML parts, the link to
// the viewer). Faults: SMTP down, slow, refusing, failing once — the app keeps answering and the log keeps
// every error. The HTML part is rendered in Chromium for the README's screenshot (build/screenshots/).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import type { ErrorLoggerOptions } from '../../src/capture/options';
import type { ElmahError } from '../../src/model/errors';
import { mailChannel } from '../../src/notify/channels';
import type { NotifyOptions } from '../../src/notify/options';
import { createApp } from '../helpers/app';
import { closeLoggers, createMemoryLogger, storedMessages } from '../helpers/capture';
import { startSmtp, type TestSmtp, closedPort } from '../helpers/notify';
import { chromiumAvailable, launchChromium } from '../helpers/chromium';

const BASE = 'http://127.0.0.1:3000/elmah.axd';
const HOSTILE = '<img src=x onerror="window.__xss=1"> *bold* & <b>tag</b> <https://evil.example|click>';

const servers: TestSmtp[] = [];
afterEach(async () => {
  await closeLoggers();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function smtp(behaviour: Parameters<typeof startSmtp>[0] = {}): Promise<TestSmtp> {
  const s = await startSmtp(behaviour);
  servers.push(s);
  return s;
}

/** A logger on a memory store that mails `url`, and an app whose GET /value throws `title`. */
async function appMailing(
  url: string,
  notify: Partial<NotifyOptions> = {},
  title = 'Payment service returned 502',
  extra: ErrorLoggerOptions = {},
) {
  const made = await createMemoryLogger({
    log: 'billing-api',
    application: 'billing-api',
    version: '2.4.1',
    notify: {
      mail: { url, to: ['Ops <ops@example.com>', 'dev@example.com'], from: 'Alerts <alerts@example.com>' },
      baseUrl: BASE,
      digestSeconds: 0,
      ...notify,
    },
    ...extra,
  });
  const app = createApp({ logger: made.logger, value: () => new TypeError(title) });
  return { ...made, app };
}

describe('alert mail over SMTP', () => {
  it('mails a new group once, with subject, text and HTML parts and a link to the error in the viewer', async () => {
    const server = await smtp();
    const { app, logger, store } = await appMailing(server.url);
    await request(app).get('/value?order=42').expect(500);
    expect(await logger.flush(10_000)).toBe(true);
    const [mail] = await server.waitFor(1);
    const [stored] = await storedMessages(store);
    const link = `${BASE}/detail/${stored!.id}?log=billing-api`;

    expect(mail!.subject).toBe('[billing-api] New error: Payment service returned 502');
    expect(mail!.from?.text).toBe('"Alerts" <alerts@example.com>');
    expect(mail!.to && !Array.isArray(mail!.to) ? mail!.to.value.map((a) => a.address) : []).toEqual([
      'ops@example.com',
      'dev@example.com',
    ]);
    expect(mail!.text).toContain('New error: Payment service returned 502');
    expect(mail!.text).toContain('Type: TypeError');
    expect(mail!.text).toContain('Status: 500');
    expect(mail!.text).toContain('Request: GET /value?order=42');
    expect(mail!.text).toContain(`View: ${link}`);
    expect(mail!.html).toContain(`href="${link}"`);
    expect(mail!.html).toContain('Payment service returned 502');

    // The same error again: its group exists, so no second mail.
    await request(app).get('/value').expect(500);
    await logger.flush(10_000);
    expect(await storedMessages(store)).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 200));
    expect(server.mails).toHaveLength(1);
    expect(logger.stats().alerts).toMatchObject({ alerts: 1, sent: 1, failed: 0 });
  });

  it('escapes a title with HTML and Slack markup, so it reads as text', async () => {
    const server = await smtp();
    const { app, logger } = await appMailing(server.url, {}, HOSTILE);
    await request(app).get('/value').expect(500);
    await logger.flush(10_000);
    const [mail] = await server.waitFor(1);
    const html = mail!.html as string;
    expect(html).not.toContain('<img');
    expect(html).not.toContain('<b>tag');
    expect(html).toContain('&#60;img src=x onerror=&#34;window.__xss=1&#34;&#62; *bold* &#38; &#60;b&#62;tag&#60;/b&#62;');
    // The subject is a plain-text header: the text itself, on one line.
    expect(mail!.subject).toBe(`[billing-api] New error: ${HOSTILE}`);
    expect(mail!.text).toContain(HOSTILE);
  });

  it('renders the HTML part in a browser for the README (build/screenshots/alert-mail.png)', async () => {
    if (!chromiumAvailable('alert mail screenshot')) return;
    const server = await smtp();
    const { app, logger } = await appMailing(server.url, { digestSeconds: 0 }, "Cannot read properties of undefined (reading 'total')");
    await request(app).get('/value?cart=7f3a').set('user-agent', 'Mozilla/5.0').expect(500);
    await logger.flush(10_000);
    const [mail] = await server.waitFor(1);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 760, height: 420 } });
      // No network: the mail's HTML has no remote parts, and none may load.
      await page.route('**/*', (route) => route.abort());
      await page.setContent(mail!.html as string);
      expect(await page.textContent('a')).toBe('View in the error log');
      const dir = join(__dirname, '..', '..', 'build', 'screenshots');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, 'alert-mail.png');
      await page.screenshot({ path: file, fullPage: true });
      expect(existsSync(file)).toBe(true);
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('retries a temporary refusal (451) and delivers', async () => {
    const server = await smtp({ failFirst: 1 });
    const { app, logger, errors } = await appMailing(server.url, { backoffMs: 20 });
    await request(app).get('/value').expect(500);
    await logger.flush(10_000);
    await server.waitFor(1);
    expect(server.refused).toBe(1);
    expect(errors.filter((e) => e.code.startsWith('ERR_ELMAH_NOTIFY'))).toEqual([]);
    // The Message-ID is the notification's id, the same on the refused try and the retry.
    const ids = server.attempts.map((raw) => /^Message-ID: (.*)$/im.exec(raw)?.[1]?.trim());
    expect(ids).toHaveLength(2);
    expect(ids[0]).toMatch(/^<[0-9A-Za-z_-]+@express-elmah>$/);
    expect(ids[1]).toBe(ids[0]);
    expect(server.mails[0]!.messageId).toBe(ids[0]);
  });

  it('SMTP down: the app keeps answering, the log keeps the error, the failure is reported with a code', async () => {
    const port = await closedPort();
    const { app, logger, store, errors } = await appMailing(`smtp://127.0.0.1:${port}`, { maxAttempts: 2, backoffMs: 20, timeoutMs: 2000 });
    for (let i = 0; i < 3; i++) await request(app).get('/value').expect(500);
    await request(app).get('/ok').expect(200);
    await logger.flush(10_000);
    expect(await storedMessages(store)).toHaveLength(3);
    const failed = errors.filter((e) => e.code === 'ERR_ELMAH_NOTIFY_FAILED');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.message).toMatch(/ECONNREFUSED|connect/i);
    expect(logger.stats()).toMatchObject({ kept: 3, lost: 0, alerts: { failed: 1, sent: 0 } });
  });

  it('SMTP slow: a send that outlasts timeoutMs fails and is reported; requests and appends go on meanwhile', async () => {
    const server = await smtp({ delayMs: 3000 });
    const { app, logger, store, errors } = await appMailing(server.url, { maxAttempts: 1, timeoutMs: 300 });
    await request(app).get('/value').expect(500);
    // While the mail hangs, the app answers and the logger stores.
    await request(app).get('/ok').expect(200);
    await request(app).get('/value').expect(500);
    await logger.flush(5000);
    expect(await storedMessages(store)).toHaveLength(2);
    const failed = errors.filter((e) => e.code === 'ERR_ELMAH_NOTIFY_FAILED');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.message).toMatch(/timeout|within/i);
  });

  it('SMTP refusing (550): not tried again, reported with the reply', async () => {
    const server = await smtp({ rejectRecipients: true });
    const { app, logger, store, errors } = await appMailing(server.url, { maxAttempts: 5, backoffMs: 20 });
    await request(app).get('/value').expect(500);
    await logger.flush(10_000);
    expect(await storedMessages(store)).toHaveLength(1);
    const failed = errors.filter((e) => e.code === 'ERR_ELMAH_NOTIFY_FAILED');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.message).toContain('550');
    expect(server.mails).toHaveLength(0);
  });

  it('close() sends the alerts of what it just wrote before it resolves', async () => {
    const server = await smtp();
    const { app, logger } = await appMailing(server.url);
    await request(app).get('/value').expect(500);
    expect(await logger.close(10_000)).toBe(true);
    expect(server.mails).toHaveLength(1);
  });

  it('a send stopped by its signal (close() giving up) ends at once and is not retried', async () => {
    const server = await smtp({ delayMs: 60_000 });
    const channel = mailChannel({ url: server.url, to: ['ops@example.com'], from: 'alerts@example.com' });
    const controller = new AbortController();
    const outcome = channel.send({ id: 'n1', subject: 'x', alerts: [], omitted: 0 }, 60_000, controller.signal).then(
      () => undefined,
      (e: unknown) => e as ElmahError,
    );
    // Once the server holds the message, waiting on its answer.
    for (let i = 0; i < 250 && server.attempts.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(server.attempts).toHaveLength(1);
    controller.abort();
    const err = await outcome;
    expect(err?.code).toBe('ERR_ELMAH_NOTIFY_FAILED');
    expect(err?.transient).toBe(false);
    expect(err?.message).toMatch(/^Sending the alert mail via 127\.0\.0\.1:\d+ was stopped: the notifier closed\.$/);
    await channel.close!();
  }, 15_000);
});
