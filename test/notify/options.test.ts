// The notify option: checked when the factory is called (coded errors naming the fix), completed from the
// environment only when absent, and refused on a logger that ships to a collector (the collector alerts).
import { errorLogger } from '../../src/capture/logger';
import { RemoteLogClient } from '../../src/client/remote';
import { collector } from '../../src/collector/collector';
import { MemoryStore } from '../../src/stores/memory';
import { notifyConfig, notifyFromEnv, resolveNotify } from '../../src/notify/options';
import { closeLoggers, trackLogger } from '../helpers/capture';

afterEach(closeLoggers);

function configError(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('expected a configuration error');
}

const MAIL = { url: 'smtp://u:p@127.0.0.1:2525', to: 'ops@example.com' };

describe('notify option checks', () => {
  it.each([
    [{ mail: MAIL, rules: [{ on: 'sometimes' }] }, /rules\[0\]\.on must be/],
    [{ mail: { ...MAIL, url: 'http://mail.example' } }, /smtp:\/\/ or smtps:\/\//],
    [{ mail: { ...MAIL, to: 'not an address' } }, /mail\.to must be one or more mail addresses/],
    [{ mail: { ...MAIL, to: 'a@b.example\r\nBcc: x@evil.example' } }, /mail\.to/],
    [{ webhook: { url: 'ftp://x.example' } }, /webhook\.url must be http or https/],
    [{ webhook: { url: 'https://x.example', format: 'discord' } }, /format must be 'json', 'slack' or 'teams'/],
    [{ webhook: { url: 'https://x.example', secret: 'short' } }, /secret must be a string of at least 16/],
    [{ webhook: [{ url: 'https://x.example', sekret: 'x' }] }, /webhook\[0\] has an unknown member "sekret"/],
    [{}, /has no channel/],
    [{ mail: MAIL, throttle: 5 }, /unknown member "throttle"/],
    [{ mail: MAIL, rules: [{ on: 'new', query: 'statusCode:[500 TO' }] }, /rules\[0\]\.query cannot be parsed/],
    [{ mail: MAIL, rules: [{ on: 'new', statusCodes: [[599, 500]] }] }, /statusCodes holds/],
    [{ mail: MAIL, rules: [{ on: 'new', count: 5 }] }, /only a 'spike' rule takes/],
    [{ mail: MAIL, rules: [{ on: 'spike', count: 1 }] }, /"rules\[0\]\.count" must be a number from 2/],
    [{ mail: MAIL, baseUrl: 'elmah.axd' }, /baseUrl is not a valid URL/],
    [{ mail: MAIL, digestSeconds: -1 }, /digestSeconds/],
    [{ webhook: { url: 'https://hook:s3cr3t-pw@hooks.example.com/T0/B0/xyz' } }, /webhook\.url must not hold a user name or password/],
    [{ webhook: [{ url: 'https://x.example' }, { url: 'https://user@x.example/h' }] }, /webhook\[1\]\.url must not hold a user/],
    [{ mail: MAIL, baseUrl: 'https://admin:pw@ops.example/elmah.axd' }, /baseUrl must not hold a user name or password/],
    [{ mail: { ...MAIL, url: 'smtp://alerts:100%zz@127.0.0.1:2525' } }, /malformed %-escape/],
    [{ mail: { ...MAIL, url: 'smtp://%E0%A4%A@127.0.0.1:2525' } }, /malformed %-escape/],
    [{ mail: MAIL, rules: [{ on: 'new', query: 'is:resolved' }] }, /rules\[0\]\.query holds a group state term/],
    [{ mail: MAIL, rules: [{ on: 'every', query: 'type:TypeError AND NOT status:ignored' }] }, /group state term/],
  ])('%j is refused with ERR_ELMAH_NOTIFY_CONFIG', (notify, message) => {
    const err = configError(() => resolveNotify('errorLogger()', notify, {}));
    expect(err.code).toBe('ERR_ELMAH_NOTIFY_CONFIG');
    expect(err.message).toMatch(message);
  });

  it('never echoes a webhook URL that holds a password', () => {
    const err = configError(() =>
      resolveNotify('collector()', { webhook: { url: 'https://hook:s3cr3t-pw@hooks.example.com/T0/xyz' } }, {}),
    );
    expect(`${err.message} ${(err as { help?: string }).help}`).not.toMatch(/s3cr3t|xyz|hooks\.example/);
  });

  it('accepts a percent-encoded SMTP password, and a query with fields of the message itself', () => {
    const c = resolveNotify(
      'test',
      { mail: { ...MAIL, url: 'smtp://alerts:50%25off%40x@127.0.0.1:2525' }, rules: [{ on: 'new', query: 'NOT type:TypeError' }] },
      {},
    );
    expect(c.mail!.url).toBe('smtp://alerts:50%25off%40x@127.0.0.1:2525');
    expect(c.rules[0]!.query).toBeDefined();
  });

  it('completes a valid option with defaults', () => {
    const c = resolveNotify('test', { mail: MAIL, baseUrl: 'https://ops.example/elmah.axd/' }, {});
    expect(c.mail).toEqual({ url: MAIL.url, to: ['ops@example.com'], from: expect.stringMatching(/^express-elmah@/) });
    expect(c.baseUrl).toBe('https://ops.example/elmah.axd');
    expect(c.rules.map((r) => r.on)).toEqual(['new', 'regressed']);
    expect(c).toMatchObject({ throttleMs: 30 * 60_000, digestMs: 60_000, maxQueue: 1000, maxAttempts: 5 });
  });

  it('errorLogger() and collector() check notify when called', () => {
    expect(configError(() => errorLogger({ store: new MemoryStore(), key: 'k', notify: { mail: { to: 'x' } as never } })).code).toBe(
      'ERR_ELMAH_NOTIFY_CONFIG',
    );
    expect(configError(() => errorLogger({ notify: true as never })).code).toBe('ERR_ELMAH_OPTION_TYPE');
    expect(configError(() => collector({ store: new MemoryStore(), notify: { webhook: { url: 'nope' } } })).code).toBe(
      'ERR_ELMAH_NOTIFY_CONFIG',
    );
  });
});

describe('notify from the environment', () => {
  const env = {
    ELMAH_SMTP_URL: 'smtp://user:pass@127.0.0.1:2525',
    ELMAH_MAIL_TO: 'ops@example.com, dev@example.com',
    ELMAH_MAIL_FROM: 'Alerts <alerts@example.com>',
    ELMAH_WEBHOOK_URL: 'https://hooks.example.com/T000/B000/XXXX',
    ELMAH_WEBHOOK_SECRET: 'whsec_0123456789abcdef',
    ELMAH_WEBHOOK_FORMAT: 'slack',
    ELMAH_VIEWER_URL: 'https://ops.example.com/elmah.axd',
  };

  it('reads mail, webhook and the viewer address from ELMAH_* variables', () => {
    const c = notifyConfig('test', undefined, env)!;
    expect(c.mail).toEqual({ url: env.ELMAH_SMTP_URL, to: ['ops@example.com', 'dev@example.com'], from: 'Alerts <alerts@example.com>' });
    expect(c.webhooks).toEqual([{ url: env.ELMAH_WEBHOOK_URL, format: 'slack', secret: env.ELMAH_WEBHOOK_SECRET }]);
    expect(c.baseUrl).toBe(env.ELMAH_VIEWER_URL);
  });

  it('is used only when the option is absent; false turns alerts off', () => {
    const c = notifyConfig('test', { webhook: { url: 'https://other.example/hook' } }, env)!;
    expect(c.mail).toBeUndefined();
    expect(c.webhooks.map((w) => w.url)).toEqual(['https://other.example/hook']);
    // An option is read as it is: nothing in it comes from the environment.
    const given = notifyConfig('test', { mail: { url: 'smtp://127.0.0.1:25', to: 'a@example.com' } }, env)!;
    expect(given.mail!.from).toMatch(/^express-elmah@/);
    expect(given.baseUrl).toBeUndefined();
    expect(given.webhooks).toEqual([]);
    expect(configError(() => notifyConfig('test', { mail: { to: 'a@example.com' } as never }, env)).message).toMatch(
      /mail needs an SMTP URL/,
    );
    expect(notifyConfig('test', false, env)).toBeUndefined();
    expect(notifyConfig('test', undefined, {})).toBeUndefined();
  });

  it('ELMAH_SMTP_URL without ELMAH_MAIL_TO, and a bad ELMAH_WEBHOOK_FORMAT, are configuration errors', () => {
    expect(configError(() => notifyFromEnv({ ELMAH_SMTP_URL: env.ELMAH_SMTP_URL })).code).toBe('ERR_ELMAH_NOTIFY_CONFIG');
    const err = configError(() => notifyConfig('test', undefined, { ELMAH_WEBHOOK_URL: 'https://x.example', ELMAH_WEBHOOK_FORMAT: 'xml' }));
    expect(err.message).toMatch(/format must be/);
  });
});

describe('a logger that ships to a collector', () => {
  it('refuses a notify option: the collector is the one that alerts', () => {
    const err = configError(() =>
      errorLogger({ store: 'http://127.0.0.1:1/', key: 'elmah_x_y', notify: { webhook: { url: 'https://hooks.example/x' } } }),
    );
    expect(err.code).toBe('ERR_ELMAH_NOTIFY_CONFIG');
    expect(err.message).toMatch(/ships to a collector/);
  });

  it('counts a RemoteLogClient as a collector', () => {
    const remote = new RemoteLogClient('http://127.0.0.1:1/', 'elmah_abcdefgh_x');
    const err = configError(() => errorLogger({ store: remote, notify: { webhook: { url: 'https://hooks.example/x' } } }));
    expect(err.code).toBe('ERR_ELMAH_NOTIFY_CONFIG');
  });

  it('ignores the alert environment (which the collector may share)', () => {
    const saved = { ...process.env };
    process.env.ELMAH_WEBHOOK_URL = 'https://hooks.example/x';
    try {
      const logger = trackLogger(errorLogger({ store: 'http://127.0.0.1:1/', key: 'elmah_x_y', onError: () => undefined }));
      expect(logger.stats().alerts).toBeUndefined();
      const local = trackLogger(errorLogger({ store: new MemoryStore(), key: 'elmah_x_y', onError: () => undefined }));
      expect(local.stats().alerts).toMatchObject({ alerts: 0 });
    } finally {
      process.env = saved;
    }
  });
});
