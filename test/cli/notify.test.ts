// `express-elmah notify test` (a sample through each configured channel, real SMTP server and HTTP receiver),
// the alert flags shared with `serve` (a flag overrides its ELMAH_* variable), and `serve` alerting.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../src/stores/open';
import { addKey } from '../helpers/keys';
import { notifyOptionOf } from '../../src/cli/notify';
import { startServer } from '../../src/cli/serve';
import { verifySignature } from '../../src/notify/signature';
import { withKeys } from '../helpers/keys';
import { startReceiver, startSmtp, closedPort } from '../helpers/notify';
import { cliErrorCode, cliJson, runCli } from '../helpers/run-cli';

const SECRET = 'whsec_0123456789abcdef0123';

describe('express-elmah notify test', () => {
  it('sends one sample through each channel the environment and flags name, and says how each went', async () => {
    const smtp = await startSmtp();
    const hook = await startReceiver();
    try {
      const result = await runCli(
        ['notify', 'test', '--webhook-url', hook.url, '--webhook-format', 'json', '--base-url', 'https://ops.example/elmah.axd'],
        {
          env: { ELMAH_SMTP_URL: smtp.url, ELMAH_MAIL_TO: 'ops@example.com', ELMAH_WEBHOOK_SECRET: SECRET },
        },
      );
      expect(result.code).toBe(0);
      expect(result.stderr).toBe('');
      expect(result.stdout).toContain(`sent    mail via 127.0.0.1:${smtp.port}`);
      expect(result.stdout).toMatch(/sent {4}json webhook http:\/\/127\.0\.0\.1:\d+\n/);
      const [mail] = await smtp.waitFor(1);
      expect(mail!.subject).toBe('[default] Test notification from express-elmah');
      expect(mail!.text).toContain('This is a test notification from express-elmah.');
      expect(mail!.text).toMatch(/View: https:\/\/ops\.example\/elmah\.axd\/detail\/[0-9A-Z]+\?log=default/);
      const [got] = await hook.waitFor(1);
      expect(verifySignature(got!.body, got!.headers['x-elmah-signature'] as string, SECRET)).toBe(true);
      expect(JSON.parse(got!.body)).toMatchObject({ test: true, alerts: [{ type: 'ElmahTestError' }] });
    } finally {
      await smtp.close();
      await hook.close();
    }
  });

  it('exits 1 with ERR_ELMAH_NOTIFY_FAILED when a channel fails, naming it', async () => {
    const port = await closedPort();
    const result = await runCli(['notify', 'test', '--json'], {
      env: { ELMAH_SMTP_URL: `smtp://127.0.0.1:${port}`, ELMAH_MAIL_TO: 'ops@example.com' },
    });
    expect(result.code).toBe(1);
    expect(cliErrorCode(result)).toBe('ERR_ELMAH_NOTIFY_FAILED');
    const out = cliJson<{ error: { details: { channels: Array<{ channel: string; ok: boolean; error?: string }> } } }>(result);
    expect(out.error.details.channels).toEqual([
      { channel: `mail via 127.0.0.1:${port}`, ok: false, error: expect.stringMatching(/ECONNREFUSED|connect/i) },
    ]);
  });

  it('is a usage error without any channel, and a configuration error for a bad one', async () => {
    const none = await runCli(['notify', 'test']);
    expect(none.code).toBe(2);
    expect(cliErrorCode(none)).toBe('ERR_ELMAH_CLI');
    const bad = await runCli(['notify', 'test', '--webhook-url', 'ftp://x.example']);
    expect(bad.code).toBe(1);
    expect(cliErrorCode(bad)).toBe('ERR_ELMAH_NOTIFY_CONFIG');
    const orphan = await runCli(['notify', 'test', '--mail-to', 'ops@example.com']);
    expect(orphan.code).toBe(2);
    expect(orphan.stderr).toContain('no SMTP server');
  });
});

describe('alert flags of serve', () => {
  it('override their environment variables; --no-notify turns alerts off', () => {
    const env = {
      ELMAH_SMTP_URL: 'smtp://a@127.0.0.1:25',
      ELMAH_MAIL_TO: 'env@example.com',
      ELMAH_VIEWER_URL: 'https://env.example/elmah.axd',
    };
    expect(notifyOptionOf({ mailTo: 'flag@example.com' }, env)).toEqual({
      mail: { url: 'smtp://a@127.0.0.1:25', to: 'flag@example.com' },
      baseUrl: 'https://env.example/elmah.axd',
    });
    expect(notifyOptionOf({ notify: false }, env)).toBe(false);
    expect(notifyOptionOf({}, {})).toBeUndefined();
    expect(notifyOptionOf({ webhookUrl: 'https://hooks.example/x', webhookFormat: 'teams' }, {})).toEqual({
      webhook: { url: 'https://hooks.example/x', format: 'teams' },
    });
  });

  it('startServer({ notify }) alerts once per new group shipped to it', async () => {
    const hook = await startReceiver();
    const { store, keys } = await withKeys();
    const running = await startServer({ port: 0, store, notify: { webhook: { url: hook.url, format: 'slack' }, digestSeconds: 0 } });
    try {
      const post = (title: string): Promise<Response> =>
        fetch(`${running.url}v3/messages/shop`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', api_key: keys.write },
          body: JSON.stringify({ title, type: 'Error', detail: `Error: ${title}\n    at handler (/app/routes.js:10:5)` }),
        });
      expect((await post('first')).status).toBe(201);
      expect((await post('first')).status).toBe(201);
      const [got] = await hook.waitFor(1);
      expect(JSON.parse(got!.body).text).toBe('[shop] New error: first');
    } finally {
      await running.close();
      await hook.close();
    }
    expect(hook.requests).toHaveLength(1);
  });
});

describe('express-elmah serve with alert flags', () => {
  it('says where alerts go when it starts, and alerts on a new group', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'elmah-serve-alerts-'));
    const hook = await startReceiver();
    const file = join(dir, 'elmah.db');
    const setup = await openStore(`sqlite:${file}`);
    const write = await addKey(setup, ['messages_write']);
    await setup.close();
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'src/cli/main.ts',
        'serve',
        '--port',
        '0',
        '--store',
        `sqlite:${file}`,
        '--webhook-format',
        'slack',
        '--base-url',
        'https://ops.example/elmah.axd',
      ],
      {
        cwd: join(__dirname, '..', '..'),
        env: { ...process.env, ELMAH_WEBHOOK_URL: hook.url, ELMAH_SMTP_URL: '', NODE_OPTIONS: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      let stdout = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      const deadline = Date.now() + 25_000;
      while (!/alerts by/.test(stdout) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
      expect(stdout).toMatch(/alerts by slack webhook http:\/\/127\.0\.0\.1:\d+\n/);
      expect(stdout).not.toContain('/hook');
      const url = /listening on (http:\S+)/.exec(stdout)![1]!;
      const res = await fetch(`${url}v3/messages/api`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', api_key: write },
        body: JSON.stringify({ title: 'served', type: 'Error' }),
      });
      expect(res.status).toBe(201);
      const [got] = await hook.waitFor(1, 15_000);
      const body = JSON.parse(got!.body);
      expect(body.text).toBe('[api] New error: served');
      expect(JSON.stringify(body.blocks)).toContain('https://ops.example/elmah.axd/detail/');
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      await hook.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);
});
