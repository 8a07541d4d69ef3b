// Webhook alerts end to end: a real HTTP receiver on 127.0.0.1 checks the signature of the generic JSON body
// with verifySignature(); Slack and Teams bodies are checked against their documented shapes; faults (500,
// 429 with Retry-After, no answer) are retried or reported while the app answers and the log keeps every error.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import type { ElmahError } from '../../src/model/errors';
import { webhookChannel } from '../../src/notify/channels';
import { escapeTeams } from '../../src/notify/format';
import { verifySignature } from '../../src/notify/signature';
import type { NotifyOptions, WebhookChannelOptions } from '../../src/notify/options';
import { createApp } from '../helpers/app';
import { closeLoggers, createMemoryLogger, storedMessages } from '../helpers/capture';
import { closedPort, startReceiver, type Answer, type TestReceiver } from '../helpers/notify';
import type { Notification } from '../../src/notify/types';

const SECRET = 'whsec_0123456789abcdef0123';
const HOSTILE = '<@channel> <!here> *bold* & <https://evil.example|click here> [x](http://evil.example) _i_';

const receivers: TestReceiver[] = [];
afterEach(async () => {
  await closeLoggers();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

async function receiver(answers?: Answer[]): Promise<TestReceiver> {
  const r = await startReceiver(answers);
  receivers.push(r);
  return r;
}

async function appPosting(hook: WebhookChannelOptions, notify: Partial<NotifyOptions> = {}, title = 'Payment service returned 502') {
  const made = await createMemoryLogger({
    log: 'billing-api',
    notify: { webhook: hook, baseUrl: 'https://ops.example.com/elmah.axd', digestSeconds: 0, backoffMs: 20, ...notify },
  });
  const app = createApp({ logger: made.logger, value: () => new TypeError(title) });
  return { ...made, app };
}

describe('generic JSON webhook', () => {
  it('posts a signed body that verifySignature accepts, and refuses when tampered, replayed late or signed otherwise', async () => {
    const r = await receiver();
    const { app, logger, store } = await appPosting({ url: r.url, secret: SECRET });
    await request(app).get('/value').expect(500);
    await logger.flush(10_000);
    const [got] = await r.waitFor(1);
    const header = got!.headers['x-elmah-signature'] as string;
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(got!.headers['content-type']).toBe('application/json');
    expect(verifySignature(got!.body, header, SECRET)).toBe(true);
    expect(verifySignature(Buffer.from(got!.body), header, SECRET)).toBe(true);
    expect(verifySignature(got!.body.replace('502', '503'), header, SECRET)).toBe(false);
    expect(verifySignature(got!.body, header, 'another-secret-of-some-length')).toBe(false);
    expect(verifySignature(got!.body, header, SECRET, { now: Date.now() + 10 * 60_000 })).toBe(false);
    expect(verifySignature(got!.body, header, SECRET, { now: Date.now() + 10 * 60_000, toleranceSeconds: 3600 })).toBe(true);
    expect(verifySignature(got!.body, undefined, SECRET)).toBe(false);
    expect(verifySignature(got!.body, 't=abc,v1=zz', SECRET)).toBe(false);

    const [stored] = await storedMessages(store);
    const body = JSON.parse(got!.body);
    expect(body).toMatchObject({
      type: 'express-elmah.alert',
      subject: '[billing-api] New error: Payment service returned 502',
      test: false,
      omitted: 0,
      alerts: [
        {
          kind: 'new',
          log: 'billing-api',
          id: stored!.id,
          fingerprint: stored!.fingerprint,
          title: 'Payment service returned 502',
          type: 'TypeError',
          statusCode: 500,
          link: `https://ops.example.com/elmah.axd/detail/${stored!.id}?log=billing-api`,
        },
      ],
    });
    expect(typeof body.id).toBe('string');
  });

  it('sends no signature header without a secret', async () => {
    const r = await receiver();
    const { app, logger } = await appPosting({ url: r.url });
    await request(app).get('/value').expect(500);
    await logger.flush(10_000);
    const [got] = await r.waitFor(1);
    expect(got!.headers['x-elmah-signature']).toBeUndefined();
  });

  it('retries a 500 and delivers; each try is signed afresh with the same body', async () => {
    const r = await receiver([{ status: 500 }, { status: 500 }, { status: 204 }]);
    const { app, logger, errors } = await appPosting({ url: r.url, secret: SECRET });
    await request(app).get('/value').expect(500);
    await logger.flush(10_000);
    const got = await r.waitFor(3);
    expect(new Set(got.map((g) => g.body)).size).toBe(1);
    for (const g of got) expect(verifySignature(g.body, g.headers['x-elmah-signature'] as string, SECRET)).toBe(true);
    expect(errors.filter((e) => e.code.startsWith('ERR_ELMAH_NOTIFY'))).toEqual([]);
    expect(logger.stats().alerts).toMatchObject({ sent: 1, failed: 0 });
  });

  it('honours Retry-After on a 429', async () => {
    const r = await receiver([{ status: 429, headers: { 'retry-after': '1' } }, { status: 200 }]);
    const { app, logger } = await appPosting({ url: r.url }, { backoffMs: 1 });
    await request(app).get('/value').expect(500);
    await logger.flush(10_000);
    const got = await r.waitFor(2);
    expect(got[1]!.at - got[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('does not retry a 400, and reports it', async () => {
    const r = await receiver([{ status: 400 }]);
    const { app, logger, errors } = await appPosting({ url: r.url }, { maxAttempts: 5 });
    await request(app).get('/value').expect(500);
    await logger.flush(10_000);
    expect(r.requests).toHaveLength(1);
    const failed = errors.filter((e) => e.code === 'ERR_ELMAH_NOTIFY_FAILED');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.message).toContain('answered 400');
    // The receiver's path (which, for Slack and Teams, holds a secret) is not in the message.
    expect(failed[0]!.message).not.toContain('/hook');
  });

  it('a receiver that never answers: tries time out and are reported; the app answers and stores meanwhile', async () => {
    const r = await receiver([{ status: 200, delayMs: 5000 }]);
    const { app, logger, store, errors } = await appPosting({ url: r.url }, { timeoutMs: 200, maxAttempts: 2 });
    await request(app).get('/value').expect(500);
    await request(app).get('/ok').expect(200);
    await request(app).get('/value').expect(500);
    await logger.flush(10_000);
    expect(await storedMessages(store)).toHaveLength(2);
    expect(r.requests).toHaveLength(2);
    const failed = errors.filter((e) => e.code === 'ERR_ELMAH_NOTIFY_FAILED');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.message).toMatch(/no answer within 200 ms/);
    expect(logger.stats()).toMatchObject({ kept: 2, lost: 0 });
  });
});

const SAMPLE: Notification = { id: 'n1', subject: '[shop] New error: boom', alerts: [], omitted: 0 };

/** The failure a send rejects with. */
async function failure(p: Promise<void>): Promise<ElmahError> {
  try {
    await p;
  } catch (err) {
    return err as ElmahError;
  }
  throw new Error('expected the send to fail');
}

describe('webhook channel faults', () => {
  it('a URL with user:password fails without quoting the URL, and is not retried', async () => {
    // The option check refuses such a URL; the channel must still never copy fetch's text (which quotes it).
    const port = await closedPort();
    const channel = webhookChannel({ url: `http://hook:s3cr3t-pw@127.0.0.1:${port}/T0/secret-path`, format: 'json', secret: undefined });
    const err = await failure(channel.send(SAMPLE, 2000));
    expect(err.code).toBe('ERR_ELMAH_NOTIFY_FAILED');
    expect(err.transient).toBe(false);
    expect(err.message).toMatch(new RegExp(`^Posting the alert to http://127\\.0\\.0\\.1:${port} failed: the request could not be made`));
    expect(`${err.message} ${err.help}`).not.toMatch(/s3cr3t|secret-path|hook:/);
    expect(err.cause).toBeUndefined();
  });

  it('a refused connection names the network error and the origin only, and may be retried', async () => {
    const port = await closedPort();
    const channel = webhookChannel({ url: `http://127.0.0.1:${port}/services/T0/secret-path`, format: 'slack', secret: undefined });
    const err = await failure(channel.send(SAMPLE, 2000));
    expect(err.transient).toBe(true);
    expect(err.message).toBe(`Posting the alert to http://127.0.0.1:${port} failed: network error ECONNREFUSED`);
    // A cause without a code keeps its text only when it can hold no path: fetch refuses port 1 as "bad port".
    const bad = await failure(
      webhookChannel({ url: 'http://127.0.0.1:1/T0/secret-path', format: 'json', secret: undefined }).send(SAMPLE, 2000),
    );
    expect(bad.message).toBe('Posting the alert to http://127.0.0.1:1 failed: network error (bad port)');
  });

  it('does not read the answer: an endless body is let go of at once', async () => {
    let chunks = 0;
    let cancelled = false;
    const open = new Set<ServerResponse>();
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        open.add(res);
        // 64 KB every 10 ms for up to 3 s (about 19 MB), unless the client goes away first.
        const timer = setInterval(() => {
          if (++chunks >= 300) {
            clearInterval(timer);
            res.end();
          } else res.write(Buffer.alloc(65_536, 120));
        }, 10);
        res.on('close', () => {
          clearInterval(timer);
          if (!res.writableEnded) cancelled = true;
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const channel = webhookChannel({ url: `http://127.0.0.1:${port}/hook`, format: 'json', secret: undefined });
      await channel.send(SAMPLE, 10_000);
      // The client closes the connection well before the server has written it all.
      for (let i = 0; i < 100 && !cancelled; i++) await new Promise((r) => setTimeout(r, 20));
      expect(cancelled).toBe(true);
      expect(chunks).toBeLessThan(300);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('verifySignature says false (does not throw) when the secret is missing or not a string', () => {
    const header = 't=1700000000,v1=' + 'a'.repeat(64);
    const unset = process.env.ELMAH_TEST_UNSET_SECRET_VARIABLE;
    expect(verifySignature('{}', header, unset)).toBe(false);
    expect(verifySignature('{}', header, 42 as unknown as string)).toBe(false);
    expect(verifySignature(undefined as unknown as string, header, SECRET, { now: 1700000000_000 })).toBe(false);
  });
});

describe('Slack and Teams webhooks', () => {
  it('Slack: text and blocks, with &, < and > escaped so markup and mentions read as text', async () => {
    const r = await receiver();
    const { app, logger } = await appPosting({ url: r.url, format: 'slack' }, {}, HOSTILE);
    await request(app).get('/value').expect(500);
    await logger.flush(10_000);
    const [got] = await r.waitFor(1);
    const body = JSON.parse(got!.body);
    expect(Object.keys(body).sort()).toEqual(['blocks', 'text']);
    const escaped = '&lt;@channel&gt; &lt;!here&gt; *bold* &amp; &lt;https://evil.example|click here&gt; [x](http://evil.example) _i_';
    expect(body.text).toBe(`[billing-api] New error: ${escaped}`);
    expect(body.blocks).toHaveLength(1);
    const [section] = body.blocks;
    expect(section.type).toBe('section');
    expect(section.text.type).toBe('mrkdwn');
    expect(section.text.text).toContain(`*New error:* ${escaped}`);
    expect(section.text.text).toContain('*Type:* TypeError');
    // The only link is ours.
    expect(section.text.text.match(/<[^&]*>/g)).toEqual([
      expect.stringMatching(/^<https:\/\/ops\.example\.com\/elmah\.axd\/detail\/[^|]+\?log=billing-api\|View in the error log>$/),
    ]);
    expect(got!.body).not.toMatch(/<[@!]/);
  });

  it('Teams: an Adaptive Card message, markup in the title escaped', async () => {
    const r = await receiver();
    const { app, logger } = await appPosting({ url: r.url, format: 'teams' }, {}, HOSTILE);
    await request(app).get('/value').expect(500);
    await logger.flush(10_000);
    const [got] = await r.waitFor(1);
    const body = JSON.parse(got!.body);
    expect(body.type).toBe('message');
    expect(body.attachments).toHaveLength(1);
    const [attachment] = body.attachments;
    expect(attachment.contentType).toBe('application/vnd.microsoft.card.adaptive');
    const card = attachment.content;
    expect(card).toMatchObject({ type: 'AdaptiveCard', version: '1.4', $schema: 'http://adaptivecards.io/schemas/adaptive-card.json' });
    expect(card.body[0]).toMatchObject({ type: 'TextBlock', weight: 'Bolder', wrap: true });
    expect(card.body.map((b: { type: string }) => b.type)).toEqual(['TextBlock', 'TextBlock', 'FactSet']);
    const titleBlock = card.body[1].text as string;
    expect(titleBlock).toBe(
      'New error: \\<@channel\\> \\<!here\\> \\*bold\\* \\& \\<https://evil.example|click here\\> \\[x\\]\\(http://evil.example\\) \\_i\\_',
    );
    expect(card.body[2].facts).toContainEqual({ title: 'Type', value: 'TypeError' });
    expect(card.actions).toEqual([
      {
        type: 'Action.OpenUrl',
        title: 'View in the error log',
        url: expect.stringMatching(/^https:\/\/ops\.example\.com\/elmah\.axd\/detail\//),
      },
    ]);
  });
});

describe('escapeTeams', () => {
  it('escapes emphasis, links, code and a leading list or heading marker, and leaves other punctuation', () => {
    expect(escapeTeams('a_b*c [d](e) `f` ~g~ <h> & i.j-k!')).toBe('a\\_b\\*c \\[d\\]\\(e\\) \\`f\\` \\~g\\~ \\<h\\> \\& i.j-k!');
    expect(escapeTeams('- item')).toBe('\\- item');
    expect(escapeTeams('# heading')).toBe('\\# heading');
    expect(escapeTeams('12. step')).toBe('12\\. step');
    expect(escapeTeams('path\\to')).toBe('path\\\\to');
  });
});
