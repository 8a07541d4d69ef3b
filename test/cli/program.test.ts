// The CLI in-process on a memory store: help, version, usage errors, keys create/list/revoke, prune, --json, exit codes.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { absoluteStoreUrl, storeUrlFor } from '../../src/cli/context';
import { parseExpiry } from '../../src/cli/keys';
import { runCli, cliErrorCode, cliJson, KEY_RE } from '../helpers/run-cli';

const pkg = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as { version: string };
const mem = ['--store', 'memory:'];

describe('help and version', () => {
  it('prints the version from package.json', async () => {
    for (const flag of ['--version', '-v']) {
      const r = await runCli([flag]);
      expect(r).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    }
  });

  it('lists the commands and the shared options in --help', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const word of ['init', 'keys', 'prune', '--store', '--json', 'sqlite:.elmah/elmah.db']) expect(r.stdout).toContain(word);
    expect(r.stderr).toBe('');
  });

  it('documents every option of keys create', async () => {
    const r = await runCli(['keys', 'create', '--help']);
    expect(r.code).toBe(0);
    for (const word of ['--name', '--permissions', '--log', '--expires', '--store', '--json', 'messages_read'])
      expect(r.stdout).toContain(word);
  });

  it('answers `help keys` like `keys --help`', async () => {
    const a = await runCli(['help', 'keys']);
    const b = await runCli(['keys', '--help']);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });
});

describe('usage errors: exit 2 and one ERR_ELMAH_CLI line', () => {
  it.each([
    [['bogus'], /Unknown command 'bogus'/],
    [['keys', 'lst'], /Unknown command 'lst' \(Did you mean list\?\)/],
    [['keys', 'list', '--stor', 'x'], /Unknown option '--stor' \(Did you mean --store\?\)/],
    [['keys', 'create'], /Required option '--name <name>' not specified/],
    [['keys', 'revoke'], /Missing required argument 'id'/],
    [['keys', 'create', '--name'], /Option '--name <name>' argument missing/],
    [['prune', '--days', 'ten', ...mem], /--days needs a whole number, got "ten"/],
    [['prune', '--max', '-1', ...mem], /--max needs a whole number/],
  ])('%j', async (args, message) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(cliErrorCode(r)).toBe('ERR_ELMAH_CLI');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/^help: /m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('points the help line at the command that was used', async () => {
    const r = await runCli(['keys', 'create', '--nme', 'x']);
    expect(r.stderr).toContain('help: Run `express-elmah keys create --help` for usage.');
  });

  it("ends the help line with the link to the code's section of docs/errors.md", async () => {
    const r = await runCli(['keys', 'create', '--nme', 'x']);
    expect(r.stderr).toMatch(/^help: .* See docs\/errors\.md#err_elmah_cli\.$/m);
  });

  it('shows the help and a coded line when no command is given', async () => {
    for (const args of [[], ['keys']]) {
      const r = await runCli(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('Usage: express-elmah');
      expect(cliErrorCode(r)).toBe('ERR_ELMAH_CLI');
      expect(r.stdout).toBe('');
    }
  });

  it('prints the error document on stdout with --json', async () => {
    const r = await runCli(['keys', 'list', '--json', '--bogus']);
    expect(r.code).toBe(2);
    expect(cliJson(r).error.code).toBe('ERR_ELMAH_CLI');
    expect(cliJson(r).error.docs).toBe('docs/errors.md#err_elmah_cli');
  });
});

describe('keys create', () => {
  it('prints a new write-only key once, with what it carries', async () => {
    const r = await runCli(['keys', 'create', '--name', 'billing writer', ...mem]);
    expect(r.code).toBe(0);
    const keys = r.stdout.match(KEY_RE) ?? [];
    expect(keys).toHaveLength(1);
    expect(r.stdout).toContain('"billing writer"');
    expect(r.stdout).toContain('permissions: messages_write\n');
    expect(r.stdout).toContain('logs:        all logs');
    expect(r.stdout).toContain('expires:     never');
    expect(r.stderr).toContain('note: memory: keeps nothing');
  });

  it('takes permissions, repeated and comma-separated logs and a duration, in --json', async () => {
    const before = Date.now();
    const r = await runCli([
      'keys',
      'create',
      '--name',
      'ops',
      '--permissions',
      'messages_read, messages_delete',
      '--log',
      'billing,shop',
      '--log',
      'api',
      '--expires',
      '30d',
      '--json',
      ...mem,
    ]);
    expect(r.code).toBe(0);
    const k = cliJson(r);
    expect(k.key).toMatch(new RegExp(`^elmah_${k.id}_`));
    expect(k).toMatchObject({
      name: 'ops',
      permissions: ['messages_read', 'messages_delete'],
      logs: ['billing', 'shop', 'api'],
      revoked: null,
      status: 'active',
      store: 'memory:',
    });
    const expires = Date.parse(k.expires);
    expect(expires - before).toBeGreaterThanOrEqual(30 * 86_400_000 - 1000);
    expect(expires - before).toBeLessThan(30 * 86_400_000 + 60_000);
    expect(k.hash).toBeUndefined();
  });

  it('takes an ISO expiry date', async () => {
    const r = await runCli(['keys', 'create', '--name', 'x', '--expires', '2099-01-31', '--json', ...mem]);
    expect(cliJson(r).expires).toBe('2099-01-31T00:00:00.000Z');
  });

  it.each([
    [['--permissions', 'messages_read,root'], 'ERR_ELMAH_PERMISSION_NAME', /Unknown permission "root"/],
    [['--permissions', ','], 'ERR_ELMAH_PERMISSION_NAME', /No permission given/],
    [['--expires', 'soon'], 'ERR_ELMAH_KEY_EXPIRY', /Invalid expiry "soon"/],
    [['--expires', '2001-01-01'], 'ERR_ELMAH_KEY_EXPIRY', /is not in the future/],
    [['--log', 'bad log!'], 'ERR_ELMAH_LOG_NAME', /Invalid log name "bad log!"/],
  ])('refuses %j with %s and exit 1', async (extra, code, message) => {
    const r = await runCli(['keys', 'create', '--name', 'x', ...extra, ...mem]);
    expect(r.code).toBe(1);
    expect(cliErrorCode(r)).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain(`See docs/errors.md#${code.toLowerCase()}.`);
    expect(r.stdout).not.toMatch(KEY_RE);
  });

  it('refuses an empty, overlong or multi-line name with ERR_ELMAH_KEY_NAME', async () => {
    for (const name of ['  ', 'x'.repeat(101), 'a\nb']) {
      const r = await runCli(['keys', 'create', '--name', name, ...mem]);
      expect(r.code).toBe(1);
      expect(cliErrorCode(r)).toBe('ERR_ELMAH_KEY_NAME');
    }
  });
});

describe('keys list, revoke and prune on an empty store', () => {
  it('lists no keys', async () => {
    expect(cliJson(await runCli(['keys', 'list', '--json', ...mem]))).toEqual([]);
    expect((await runCli(['keys', 'list', ...mem])).stdout).toMatch(/^No keys in memory:/);
  });

  it('refuses an unknown key id with ERR_ELMAH_KEY_NOT_FOUND', async () => {
    const r = await runCli(['keys', 'revoke', 'abcdefgh', ...mem]);
    expect(r.code).toBe(1);
    expect(cliErrorCode(r)).toBe('ERR_ELMAH_KEY_NOT_FOUND');
    expect(r.stderr).toContain('No key with id "abcdefgh"');
    expect(r.stdout).toBe('');
  });

  it('refuses an invalid --log of prune and init with ERR_ELMAH_LOG_NAME', async () => {
    for (const command of ['prune', 'init']) {
      const r = await runCli([command, '--log', 'bad log!', ...mem]);
      expect([r.code, cliErrorCode(r)]).toEqual([1, 'ERR_ELMAH_LOG_NAME']);
      expect(r.stderr).toContain('Invalid log name "bad log!"');
      expect(r.stdout).not.toMatch(KEY_RE);
    }
  });

  it('prunes nothing and says so', async () => {
    const r = await runCli(['prune', '--days', '7', '--max', '10', '--log', 'shop', ...mem]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Removed 0 messages from log "shop" in memory: \(older than 7 days, or beyond the newest 10 per log\)\./);
    expect(cliJson(await runCli(['prune', '--json', ...mem]))).toEqual({
      removed: 0,
      maxAgeDays: 90,
      maxCount: 100000,
      log: null,
      store: 'memory:',
    });
  });
});

describe('init on a memory store', () => {
  it('prints a write key and a read key, labelled, with lines to copy', async () => {
    const r = await runCli(['init', ...mem]);
    expect(r.code).toBe(0);
    const write = /^ {2}ELMAH_WRITE_KEY=(elmah_[a-z2-7]{8}_[A-Za-z0-9_-]{43})$/m.exec(r.stdout)?.[1];
    const read = /^ {2}ELMAH_READ_KEY=(elmah_[a-z2-7]{8}_[A-Za-z0-9_-]{43})$/m.exec(r.stdout)?.[1];
    expect(write).toBeDefined();
    expect(read).toBeDefined();
    expect(write).not.toBe(read);
    expect(r.stdout).toMatch(/Write key [a-z2-7]{8} \(messages_write, all logs\)/);
    expect(r.stdout).toMatch(/Read key [a-z2-7]{8} \(messages_read, all logs\)/);
    expect(r.stdout.match(KEY_RE)).toHaveLength(2);
  });

  it('limits both keys to --log, in --json', async () => {
    const r = cliJson(await runCli(['init', '--log', 'shop', '--json', ...mem]));
    expect(r.keys.map((k: any) => [k.variable, k.permissions, k.logs])).toEqual([
      ['ELMAH_WRITE_KEY', ['messages_write'], ['shop']],
      ['ELMAH_READ_KEY', ['messages_read'], ['shop']],
    ]);
    for (const k of r.keys) expect(k.key).toMatch(/^elmah_[a-z2-7]{8}_[A-Za-z0-9_-]{43}$/);
  });
});

describe('store URLs', () => {
  it('fails with ERR_ELMAH_STORE_URL for an unknown scheme and for a collector URL, hiding passwords', async () => {
    const a = await runCli(['keys', 'list', '--store', 'redis://x']);
    expect([a.code, cliErrorCode(a)]).toEqual([1, 'ERR_ELMAH_STORE_URL']);
    const b = await runCli(['init', '--store', 'https://admin:hunter2@collector.example/']);
    expect([b.code, cliErrorCode(b)]).toEqual([1, 'ERR_ELMAH_STORE_URL']);
    expect(b.stderr).not.toContain('hunter2');
    const c = await runCli(['prune', '--store', '']);
    expect([c.code, cliErrorCode(c)]).toEqual([1, 'ERR_ELMAH_STORE_URL']);
  });

  it('refuses a ?schema= of over 63 bytes with ERR_ELMAH_SCHEMA_NAME before connecting', async () => {
    const r = await runCli(['keys', 'list', '--store', `postgres://nobody@127.0.0.1:1/db?schema=${'x'.repeat(64)}`]);
    expect([r.code, cliErrorCode(r)]).toEqual([1, 'ERR_ELMAH_SCHEMA_NAME']);
    expect(r.stderr).toContain('See docs/errors.md#err_elmah_schema_name.');
  });

  it('uses ELMAH_STORE when --store is absent, and --store over it', async () => {
    expect(cliJson(await runCli(['prune', '--json'], { env: { ELMAH_STORE: 'memory:' } })).store).toBe('memory:');
    const r = await runCli(['prune', '--store', 'memory:'], { env: { ELMAH_STORE: 'redis://nope' } });
    expect(r.code).toBe(0);
  });

  it('resolves relative SQLite paths against the working folder', () => {
    const io = { stdout: { write: () => true }, stderr: { write: () => true }, cwd: '/srv/app', env: {} };
    expect(storeUrlFor(undefined, io)).toBe(`sqlite:${resolve('/srv/app', '.elmah/elmah.db')}`);
    expect(storeUrlFor('sqlite:data/e.db', io)).toBe(`sqlite:${resolve('/srv/app/data/e.db')}`);
    expect(storeUrlFor(undefined, { ...io, env: { ELMAH_STORE: 'sqlite:x.db' } })).toBe(`sqlite:${resolve('/srv/app/x.db')}`);
    expect(storeUrlFor(undefined, io, 'sqlite:y.db', '/etc/app')).toBe(`sqlite:${resolve('/etc/app/y.db')}`);
    expect(storeUrlFor(undefined, { ...io, env: { ELMAH_STORE: '' } })).toBe(`sqlite:${resolve('/srv/app/.elmah/elmah.db')}`);
    expect(absoluteStoreUrl('sqlite:/abs/e.db', '/x')).toBe('sqlite:/abs/e.db');
    expect(absoluteStoreUrl('sqlite:///abs/e.db', '/x')).toBe('sqlite:///abs/e.db');
    expect(absoluteStoreUrl('sqlite::memory:', '/x')).toBe('sqlite::memory:');
    expect(absoluteStoreUrl('postgres://u@h/db', '/x')).toBe('postgres://u@h/db');
  });
});

describe('parseExpiry', () => {
  const now = new Date('2026-01-01T00:00:00Z');
  it('adds durations to now and takes ISO dates', () => {
    expect(parseExpiry('12h', now)?.toISOString()).toBe('2026-01-01T12:00:00.000Z');
    expect(parseExpiry('1w', now)?.toISOString()).toBe('2026-01-08T00:00:00.000Z');
    expect(parseExpiry('2026-02-01T10:00:00Z', now)?.toISOString()).toBe('2026-02-01T10:00:00.000Z');
    expect(parseExpiry(undefined, now)).toBeUndefined();
  });
  it('refuses numbers alone and nonsense', () => {
    for (const bad of ['12', 'tomorrow', '2026-13-45', ''])
      expect(() => parseExpiry(bad, now)).toThrow(expect.objectContaining({ code: 'ERR_ELMAH_KEY_EXPIRY' }));
  });
});
