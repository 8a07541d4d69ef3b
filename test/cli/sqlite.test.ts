// The CLI against a real SQLite file: init, env files, keys that work (or not) with LocalLogClient, prune, store failures.
import fs, { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { LocalLogClient } from '../../src/client/local';
import { getEnvValue } from '../../src/cli/env-file';
import { openStore } from '../../src/stores/open';
import type { Store } from '../../src/stores/types';
import { runCli, cliErrorCode, cliJson, KEY_RE, removeTempDir, tempDir } from '../helpers/run-cli';

let dir: string;
const opened: Store[] = [];

beforeEach(() => (dir = tempDir()));
afterEach(async () => {
  await Promise.all(opened.splice(0).map((s) => s.close()));
  removeTempDir(dir);
});

const dbPath = (): string => join(dir, '.elmah', 'elmah.db');

/** Opens the folder's default store after the CLI has closed it. */
async function store(path = dbPath()): Promise<Store> {
  const s = await openStore(`sqlite:${path}`);
  opened.push(s);
  return s;
}

function keysFrom(stdout: string): { write: string; read: string } {
  const write = /ELMAH_WRITE_KEY=(\S+)/.exec(stdout)?.[1];
  const read = /ELMAH_READ_KEY=(\S+)/.exec(stdout)?.[1];
  expect(write).toMatch(/^elmah_[a-z2-7]{8}_[A-Za-z0-9_-]{43}$/);
  expect(read).toMatch(/^elmah_[a-z2-7]{8}_[A-Za-z0-9_-]{43}$/);
  return { write: write!, read: read! };
}

const message = (title: string, dateTime = new Date().toISOString()) => ({ title, type: 'Error', statusCode: 500, dateTime });

describe('init', () => {
  it('creates .elmah/elmah.db in an empty folder and prints a write key and a read key', async () => {
    const r = await runCli(['init'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(existsSync(dbPath())).toBe(true);
    expect(r.stdout).toContain(`Store: sqlite:${dbPath()}`);
    expect(r.stdout.match(KEY_RE)).toHaveLength(2);
    keysFrom(r.stdout);
  });

  it('makes keys that LocalLogClient accepts: the write key appends but cannot read, the read key reads but cannot append', async () => {
    const { write, read } = keysFrom((await runCli(['init'], { cwd: dir })).stdout);
    const s = await store();
    const writer = new LocalLogClient(s, write);
    const reader = new LocalLogClient(s, read);
    const [stored] = await writer.append([message('Boom')], 'default');
    expect(stored?.status).toBe('created');
    await expect(writer.search({})).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
    await expect(writer.get('default', stored!.id!)).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
    const found = await reader.search({});
    expect(found.messages.map((m) => m.title)).toEqual(['Boom']);
    expect((await reader.get('default', stored!.id!)).title).toBe('Boom');
    await expect(reader.append([message('Nope')], 'default')).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
    expect((await writer.whoami()).permissions).toEqual(['messages_write']);
    expect((await reader.whoami()).permissions).toEqual(['messages_read']);
  });

  it('limits both keys to --log', async () => {
    const { write, read } = keysFrom((await runCli(['init', '--log', 'shop'], { cwd: dir })).stdout);
    const s = await store();
    await expect(new LocalLogClient(s, write).append([message('x')], 'other')).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
    expect((await new LocalLogClient(s, write).append([message('x')], 'shop'))[0]?.status).toBe('created');
    expect((await new LocalLogClient(s, read).search({})).messages).toHaveLength(1);
  });

  it('never revokes or deletes on a second run: it adds a new pair and the old keys still work', async () => {
    const first = keysFrom((await runCli(['init'], { cwd: dir })).stdout);
    await new LocalLogClient(await store(), first.write).append([message('kept')], 'default');
    await Promise.all(opened.splice(0).map((s) => s.close()));
    const again = await runCli(['init'], { cwd: dir });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('It already held 2 keys; none were changed.');
    const second = keysFrom(again.stdout);
    expect(second.write).not.toBe(first.write);
    const s = await store();
    expect((await new LocalLogClient(s, first.read).search({})).messages.map((m) => m.title)).toEqual(['kept']);
    expect((await new LocalLogClient(s, second.read).search({})).total).toBe(1);
    const list = cliJson(await runCli(['keys', 'list', '--json'], { cwd: dir }));
    expect(list.map((k: any) => k.status)).toEqual(['active', 'active', 'active', 'active']);
  });
});

describe('init --env-file', () => {
  it('creates the file with mode 0600 and does not print the secrets', async () => {
    const r = await runCli(['init', '--env-file', '.env'], { cwd: dir });
    expect(r.code).toBe(0);
    const envPath = join(dir, '.env');
    expect(statSync(envPath).mode & 0o777).toBe(0o600);
    const text = readFileSync(envPath, 'utf8');
    const { write, read } = keysFrom(text);
    expect(r.stdout).not.toMatch(KEY_RE);
    expect(r.stdout).toContain(`Wrote ELMAH_WRITE_KEY, ELMAH_READ_KEY, ELMAH_STORE to ${envPath} (new file, mode 0600)`);
    // By its absolute location: an app started from another folder opens this store, not a new empty one.
    expect(getEnvValue(text, 'ELMAH_STORE')).toBe(`sqlite:${dbPath()}`);
    const s = await store();
    expect((await new LocalLogClient(s, write).whoami()).permissions).toEqual(['messages_write']);
    expect((await new LocalLogClient(s, read).whoami()).permissions).toEqual(['messages_read']);
  });

  it('tightens an existing file that others may read to 0600, with a note, before keys go in', async () => {
    const envPath = join(dir, '.env');
    writeFileSync(envPath, 'PORT=3000\n');
    chmodSync(envPath, 0o644);
    const r = await runCli(['init', '--env-file', envPath], { cwd: dir });
    expect(r.code).toBe(0);
    expect(statSync(envPath).mode & 0o777).toBe(0o600);
    expect(r.stderr).toContain(`${envPath} could be read by other users (mode 0644); it is now 0600.`);
    // A re-run that keeps the keys tightens too.
    chmodSync(envPath, 0o664);
    const again = await runCli(['init', '--env-file', envPath], { cwd: dir });
    expect(again.stdout).toContain('already holds a working write key');
    expect(statSync(envPath).mode & 0o777).toBe(0o600);
  });

  it('refuses with ERR_ELMAH_CLI, making no key, when a readable file cannot be tightened', async () => {
    const envPath = join(dir, '.env');
    writeFileSync(envPath, 'PORT=3000\n');
    chmodSync(envPath, 0o644);
    const chmod = jest.spyOn(fs, 'chmodSync').mockImplementation(() => {
      throw Object.assign(new Error('EPERM: operation not permitted'), { code: 'EPERM' });
    });
    try {
      const r = await runCli(['init', '--env-file', envPath], { cwd: dir });
      expect(r.code).not.toBe(0);
      expect(cliErrorCode(r)).toBe('ERR_ELMAH_CLI');
      expect(r.stderr).toContain('can be read by other users (mode 0644)');
    } finally {
      chmod.mockRestore();
    }
    expect(readFileSync(envPath, 'utf8')).toBe('PORT=3000\n');
    expect(cliJson(await runCli(['keys', 'list', '--json'], { cwd: dir }))).toHaveLength(0);
  });

  it('keeps comments, order and other variables, replacing only its own lines', async () => {
    const envPath = join(dir, '.env');
    writeFileSync(
      envPath,
      '# settings for the shop\nPORT=3000\nELMAH_WRITE_KEY=elmah_aaaaaaaa_stale\n\n# database\nDATABASE_URL=postgres://db/shop\n',
    );
    const r = await runCli(['init', '--env-file', envPath], { cwd: dir });
    expect(r.code).toBe(0);
    const lines = readFileSync(envPath, 'utf8').split('\n');
    expect(lines[0]).toBe('# settings for the shop');
    expect(lines[1]).toBe('PORT=3000');
    expect(lines[2]).toMatch(/^ELMAH_WRITE_KEY=elmah_[a-z2-7]{8}_/);
    expect(lines.slice(3, 6)).toEqual(['', '# database', 'DATABASE_URL=postgres://db/shop']);
    expect(lines[6]).toMatch(/^ELMAH_READ_KEY=elmah_[a-z2-7]{8}_/);
    expect(lines[7]).toBe(`ELMAH_STORE=sqlite:${dbPath()}`);
    expect(lines[8]).toBe('');
    expect(lines).toHaveLength(9);
    expect(r.stdout).toMatch(/Replacing a key in .*ELMAH_WRITE_KEY/);
  });

  it('creates nothing on a re-run while the file holds working keys', async () => {
    await runCli(['init', '--env-file', '.env'], { cwd: dir });
    const before = readFileSync(join(dir, '.env'), 'utf8');
    const r = await runCli(['init', '--env-file', '.env', '--json'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(cliJson(r)).toMatchObject({ created: false });
    expect(readFileSync(join(dir, '.env'), 'utf8')).toBe(before);
    expect(cliJson(await runCli(['keys', 'list', '--json'], { cwd: dir }))).toHaveLength(2);
    expect((await runCli(['init', '--env-file', '.env'], { cwd: dir })).stdout).toContain('already holds a working write key');
  });

  it('makes a new pair when a key in the file was revoked, leaving the old keys in the store', async () => {
    await runCli(['init', '--env-file', '.env'], { cwd: dir });
    const old = keysFrom(readFileSync(join(dir, '.env'), 'utf8'));
    const oldWriteId = old.write.slice(6, 14);
    expect((await runCli(['keys', 'revoke', oldWriteId], { cwd: dir })).code).toBe(0);
    const r = await runCli(['init', '--env-file', '.env'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`key ${oldWriteId} was revoked`);
    const now = keysFrom(readFileSync(join(dir, '.env'), 'utf8'));
    expect(now.write).not.toBe(old.write);
    expect(now.read).not.toBe(old.read);
    const list = cliJson(await runCli(['keys', 'list', '--json'], { cwd: dir }));
    expect(list.map((k: any) => k.status).sort()).toEqual(['active', 'active', 'active', 'revoked']);
    expect((await new LocalLogClient(await store(), old.read).whoami()).permissions).toEqual(['messages_read']);
  });

  it('writes ELMAH_STORE when --store is given, and reads it back on the next run', async () => {
    const r = await runCli(['init', '--store', 'sqlite:data/errors.db', '--env-file', '.env'], { cwd: dir });
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, 'data', 'errors.db'))).toBe(true);
    expect(existsSync(dbPath())).toBe(false);
    expect(getEnvValue(readFileSync(join(dir, '.env'), 'utf8'), 'ELMAH_STORE')).toBe(`sqlite:${join(dir, 'data', 'errors.db')}`);
    const again = await runCli(['init', '--env-file', '.env', '--json'], { cwd: dir });
    expect(cliJson(again)).toMatchObject({ created: false, store: `sqlite:${join(dir, 'data', 'errors.db')}` });
    expect(existsSync(dbPath())).toBe(false);
  });

  it('writes a relative SQLite path as an absolute one, so the file works from any folder', async () => {
    const conf = join(dir, 'conf');
    mkdirSync(conf);
    expect((await runCli(['init', '--store', 'sqlite:data/e.db', '--env-file', 'conf/.env'], { cwd: dir })).code).toBe(0);
    expect(getEnvValue(readFileSync(join(conf, '.env'), 'utf8'), 'ELMAH_STORE')).toBe(`sqlite:${join(dir, 'data', 'e.db')}`);
    const again = cliJson(await runCli(['init', '--env-file', '.env', '--json'], { cwd: conf }));
    expect(again).toMatchObject({ created: false, storeUpdated: false, store: `sqlite:${join(dir, 'data', 'e.db')}` });
  });

  it('adds the absolute ELMAH_STORE to a file with working keys that names none, or a relative one', async () => {
    expect((await runCli(['init', '--dotenv', '.env'], { cwd: dir })).code).toBe(0);
    const envPath = join(dir, '.env');
    const keys = keysFrom(readFileSync(envPath, 'utf8'));
    writeFileSync(envPath, `ELMAH_WRITE_KEY=${keys.write}\nELMAH_READ_KEY=${keys.read}\n`, { mode: 0o600 });
    const r = await runCli(['init', '--dotenv', '.env', '--json'], { cwd: dir });
    expect(cliJson(r)).toMatchObject({ created: false, storeUpdated: true });
    expect(getEnvValue(readFileSync(envPath, 'utf8'), 'ELMAH_STORE')).toBe(`sqlite:${dbPath()}`);
    writeFileSync(envPath, `ELMAH_WRITE_KEY=${keys.write}\nELMAH_READ_KEY=${keys.read}\nELMAH_STORE=sqlite:.elmah/elmah.db\n`);
    expect(cliJson(await runCli(['init', '--dotenv', '.env', '--json'], { cwd: dir }))).toMatchObject({
      created: false,
      storeUpdated: true,
    });
    expect(getEnvValue(readFileSync(envPath, 'utf8'), 'ELMAH_STORE')).toBe(`sqlite:${dbPath()}`);
    expect(keysFrom(readFileSync(envPath, 'utf8'))).toEqual(keys);
  });

  it('takes --dotenv as another name for --env-file', async () => {
    expect((await runCli(['init', '--dotenv', '.env'], { cwd: dir })).code).toBe(0);
    const again = cliJson(await runCli(['init', '--env-file', '.env', '--dotenv', '.env', '--json'], { cwd: dir }));
    expect(again).toMatchObject({ created: false });
    const both = await runCli(['init', '--env-file', 'a.env', '--dotenv', 'b.env'], { cwd: dir });
    expect([both.code, cliErrorCode(both)]).toEqual([2, 'ERR_ELMAH_CLI']);
  });

  it('fails before making keys when the file cannot be written', async () => {
    const r = await runCli(['init', '--env-file', 'no/such/folder/.env'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(cliErrorCode(r)).toBe('ERR_ELMAH_CLI');
    expect(r.stdout).not.toMatch(KEY_RE);
    expect(cliJson(await runCli(['keys', 'list', '--json'], { cwd: dir }))).toEqual([]);
  });
});

describe('keys', () => {
  it('creates a key that works as asked, lists it without secrets, and revokes it', async () => {
    const created = await runCli(
      ['keys', 'create', '--name', 'ops', '--permissions', 'messages_read,messages_delete', '--log', 'shop', '--json'],
      { cwd: dir },
    );
    expect(created.code).toBe(0);
    const k = cliJson(created);
    const secret = k.key.slice(15);
    const client = new LocalLogClient(await store(), k.key, { keyCacheMs: 0 });
    expect(await client.whoami()).toEqual({ id: k.id, name: 'ops', permissions: ['messages_read', 'messages_delete'], logs: ['shop'] });
    await expect(client.search({ log: 'other' })).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });

    for (const args of [
      ['keys', 'list'],
      ['keys', 'list', '--json'],
    ]) {
      const list = await runCli(args, { cwd: dir });
      expect(list.code).toBe(0);
      expect(list.stdout).toContain(k.id);
      expect(list.stdout).not.toContain(secret);
      expect(list.stdout).not.toMatch(/hash|[0-9a-f]{64}/);
    }
    expect((await runCli(['keys', 'list'], { cwd: dir })).stdout).toMatch(
      new RegExp(`^${k.id}\\s+ops\\s+messages_read,messages_delete\\s+shop\\s+\\S+\\s+-\\s+active$`, 'm'),
    );

    const revoked = await runCli(['keys', 'revoke', k.id], { cwd: dir });
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain(`Revoked key ${k.id} "ops"`);
    await expect(client.whoami()).rejects.toMatchObject({ code: 'ERR_ELMAH_KEY_INVALID' });
    const twice = await runCli(['keys', 'revoke', k.key, '--json'], { cwd: dir });
    expect(twice.code).toBe(0);
    expect(cliJson(twice)).toMatchObject({ id: k.id, status: 'revoked', alreadyRevoked: true });
    expect(twice.stdout).not.toContain(secret);
  });

  it('creates an expiring key that LocalLogClient refuses once expired', async () => {
    const k = cliJson(await runCli(['keys', 'create', '--name', 'short', '--expires', '1h', '--json'], { cwd: dir }));
    const s = await store();
    expect((await new LocalLogClient(s, k.key).whoami()).expires).toBe(k.expires);
    const later = new LocalLogClient(s, k.key, { now: () => new Date(Date.parse(k.expires) + 1000) });
    await expect(later.append([message('x')])).rejects.toMatchObject({ code: 'ERR_ELMAH_KEY_INVALID' });
  });

  it('refuses an unknown key id with ERR_ELMAH_KEY_NOT_FOUND', async () => {
    await runCli(['init'], { cwd: dir });
    const r = await runCli(['keys', 'revoke', 'zzzzzzzz'], { cwd: dir });
    expect([r.code, cliErrorCode(r)]).toEqual([1, 'ERR_ELMAH_KEY_NOT_FOUND']);
  });
});

describe('prune', () => {
  it('removes messages past --days and --max and prints how many went', async () => {
    const { write, read } = keysFrom((await runCli(['init'], { cwd: dir })).stdout);
    const day = 86_400_000;
    const s = await store();
    const writer = new LocalLogClient(s, write);
    // Within the stores' own 90-day retention, which they may apply on append.
    await writer.append(
      [
        message('old 1', new Date(Date.now() - 20 * day).toISOString()),
        message('old 2', new Date(Date.now() - 10 * day).toISOString()),
        message('new', new Date(Date.now() - day).toISOString()),
      ],
      'shop',
    );
    await writer.append(
      [1, 2, 3].map((i) => message(`api ${i}`, new Date(Date.now() - i * 60_000).toISOString())),
      'api',
    );
    await s.close();
    opened.length = 0;

    expect((await runCli(['prune'], { cwd: dir })).stdout).toMatch(
      /^Removed 0 messages from every log in sqlite:.* \(older than 90 days, or beyond the newest 100,000 per log\)\./,
    );
    const byAge = await runCli(['prune', '--days', '7'], { cwd: dir });
    expect(byAge.code).toBe(0);
    expect(byAge.stdout).toMatch(
      /^Removed 2 messages from every log in sqlite:.* \(older than 7 days, or beyond the newest 100,000 per log\)\./,
    );
    const byCount = cliJson(await runCli(['prune', '--max', '1', '--log', 'api', '--json'], { cwd: dir }));
    expect(byCount).toMatchObject({ removed: 2, maxCount: 1, log: 'api' });
    const left = await new LocalLogClient(await store(), read).search({ size: 100 });
    expect(left.messages.map((m) => m.title).sort()).toEqual(['api 1', 'new']);
  });
});

describe('store failures', () => {
  it('reports a corrupt file as ERR_ELMAH_STORE_CORRUPT, exit 1, no stack', async () => {
    const path = join(dir, 'broken.db');
    writeFileSync(path, Buffer.alloc(8192, 'this is not a database '));
    for (const args of [['init'], ['keys', 'list'], ['keys', 'create', '--name', 'x'], ['prune']]) {
      const r = await runCli([...args, '--store', `sqlite:${path}`], { cwd: dir });
      expect(r.code).toBe(1);
      expect(cliErrorCode(r)).toBe('ERR_ELMAH_STORE_CORRUPT');
      expect(r.stderr).toMatch(/^help: /m);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(r.stdout).not.toMatch(KEY_RE);
    }
  });

  it('reports a database locked by another process as ERR_ELMAH_STORE_BUSY, exit 1', async () => {
    await runCli(['init'], { cwd: dir });
    const other = new Database(dbPath());
    try {
      other.exec('BEGIN EXCLUSIVE');
      const r = await runCli(['keys', 'create', '--name', 'blocked'], { cwd: dir });
      expect(r.code).toBe(1);
      expect(cliErrorCode(r)).toBe('ERR_ELMAH_STORE_BUSY');
      expect(r.stdout).not.toMatch(KEY_RE);
    } finally {
      other.close();
    }
    expect(cliJson(await runCli(['keys', 'list', '--json'], { cwd: dir }))).toHaveLength(2);
  });
});
