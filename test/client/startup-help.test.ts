// Start-up key failures that say what to do: a missing key points at the env file beside the app that holds
// it, and a key unknown to the store names the store that was opened (errorLogger and errorViewer).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CaptureWriter } from '../../src/capture/writer';
import { envFileWith, missingKeyHelp, withStoreNamed } from '../../src/client/startup-help';
import { ElmahError } from '../../src/model/errors';
import { openStore } from '../../src/stores/open';
import { errorViewer } from '../../src/viewer';
import { withKeys } from '../helpers/keys';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'elmah-startup-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('missingKeyHelp', () => {
  it('says to load the env file beside the app when it holds the variable', () => {
    writeFileSync(join(dir, '.env'), '# keys\nexport ELMAH_READ_KEY=elmah_abcdefgh_secret\n');
    expect(envFileWith('ELMAH_READ_KEY', [dir])).toBe(join(dir, '.env'));
    const help = missingKeyHelp('ELMAH_READ_KEY', 'fallback', [dir]);
    expect(help).toContain(`${join(dir, '.env')} holds ELMAH_READ_KEY`);
    expect(help).toContain(`node --env-file=${join(dir, '.env')}`);
  });

  it('keeps the usual help when there is no env file, or it lacks the variable', () => {
    expect(missingKeyHelp('ELMAH_READ_KEY', 'fallback', [dir])).toBe('fallback');
    writeFileSync(join(dir, '.env'), 'ELMAH_WRITE_KEY=elmah_abcdefgh_secret\nELMAH_READ_KEY=\n');
    expect(missingKeyHelp('ELMAH_READ_KEY', 'fallback', [dir])).toBe('fallback');
  });

  it('reaches errorViewer() and errorLogger() started from the folder of the env file', async () => {
    writeFileSync(join(dir, '.env'), 'ELMAH_WRITE_KEY=elmah_abcdefgh_secret\nELMAH_READ_KEY=elmah_abcdefgh_secret\n');
    const saved = { cwd: process.cwd(), read: process.env.ELMAH_READ_KEY, write: process.env.ELMAH_WRITE_KEY };
    delete process.env.ELMAH_READ_KEY;
    delete process.env.ELMAH_WRITE_KEY;
    process.chdir(dir);
    try {
      const { store } = await withKeys();
      await expect(errorViewer({ store })).rejects.toMatchObject({
        code: 'ERR_ELMAH_KEY_MISSING',
        help: expect.stringContaining('holds ELMAH_READ_KEY, but it is not in the environment'),
      });
      const writer = new CaptureWriter({ store, report: () => undefined });
      await expect(writer.ready).rejects.toMatchObject({
        code: 'ERR_ELMAH_KEY_MISSING',
        help: expect.stringContaining('holds ELMAH_WRITE_KEY, but it is not in the environment'),
      });
      await writer.close();
    } finally {
      process.chdir(saved.cwd);
      if (saved.read !== undefined) process.env.ELMAH_READ_KEY = saved.read;
      if (saved.write !== undefined) process.env.ELMAH_WRITE_KEY = saved.write;
    }
  });
});

describe('a key unknown to the store', () => {
  it('names the store errorViewer() opened', async () => {
    const url = `sqlite:${join(dir, 'elmah.db')}`;
    const other = await withKeys();
    await expect(errorViewer({ store: url, key: other.keys.read })).rejects.toMatchObject({
      code: 'ERR_ELMAH_KEY_INVALID',
      message: expect.stringContaining(`is not known to the store ${url}`),
    });
  });

  it('names the store errorLogger() opened', async () => {
    const url = `sqlite:${join(dir, 'elmah.db')}`;
    // The store exists, with keys of its own; the logger's key comes from another store.
    const store = await openStore(url);
    await withKeys(store);
    await store.close();
    const other = await withKeys();
    const writer = new CaptureWriter({ store: url, key: other.keys.write, worker: false, report: () => undefined });
    await expect(writer.ready).rejects.toMatchObject({
      code: 'ERR_ELMAH_KEY_INVALID',
      message: expect.stringContaining(`is not known to the store ${url}`),
    });
    await writer.close();
  });

  it('leaves other failures, and messages that already name the store, as they are', () => {
    const where = { describe: () => ({ kind: 'memory', location: 'memory:' }) };
    const busy = new ElmahError('ERR_ELMAH_STORE_BUSY', 'busy');
    expect(withStoreNamed(busy, where)).toBe(busy);
    const revoked = new ElmahError('ERR_ELMAH_KEY_INVALID', 'API key abcdefgh was revoked on 2026-01-01.', { help: 'Make a new key.' });
    const named = withStoreNamed(revoked, where) as ElmahError;
    expect(named.message).toBe('API key abcdefgh was revoked on 2026-01-01 (store: memory:).');
    expect(named.help).toBe('Make a new key.');
    expect(withStoreNamed(named, where)).toBe(named);
  });
});
