// `express-elmah deploy`: records a deployment with the key in ELMAH_DEPLOY_KEY, in a SQLite file or through
// a collector, and refuses without a key, with a key that cannot deploy, or without --version.
import { join } from 'node:path';
import { startServer } from '../../src/cli/serve';
import { openStore } from '../../src/stores/open';
import { MemoryStore } from '../../src/stores/memory';
import { addKey } from '../helpers/keys';
import { cliErrorCode, cliJson, removeTempDir, runCli, tempDir } from '../helpers/run-cli';

describe('express-elmah deploy', () => {
  let dir: string;
  let storeUrl: string;
  let deployKey: string;
  beforeEach(async () => {
    dir = tempDir();
    storeUrl = `sqlite:${join(dir, 'elmah.db')}`;
    const store = await openStore(storeUrl);
    deployKey = await addKey(store, ['deployments_write']);
    await store.close();
  });
  afterEach(() => removeTempDir(dir));

  it('records a deployment in the store and prints it; --json gives the stored fields', async () => {
    const env = { ELMAH_STORE: storeUrl, ELMAH_DEPLOY_KEY: deployKey };
    const text = await runCli(['deploy', '--version', '1.4.2', '--description', 'Checkout fix', '--log', 'shop'], { env });
    expect(text).toMatchObject({ code: 0, stderr: '' });
    expect(text.stdout).toMatch(/^Recorded deployment 1\.4\.2 of log "shop" at 20\d\d-.*Z in sqlite:/);
    const json = await runCli(
      [
        'deploy',
        '--version',
        '1.5.0',
        '--user-name',
        'ci',
        '--user-email',
        'ci@example.test',
        '--created',
        '2026-06-01T00:00:00Z',
        '--json',
      ],
      { env },
    );
    expect(json.code).toBe(0);
    expect(cliJson(json)).toMatchObject({
      status: 'created',
      deployment: { version: '1.5.0', userName: 'ci', userEmail: 'ci@example.test', created: '2026-06-01T00:00:00.000Z' },
    });
    const store = await openStore(storeUrl);
    try {
      expect((await store.deployments()).map((d) => [d.version, d.log ?? null])).toEqual([
        ['1.4.2', 'shop'],
        ['1.5.0', null],
      ]);
    } finally {
      await store.close();
    }
  });

  it('records through a collector given as --store', async () => {
    const store = new MemoryStore();
    const key = await addKey(store, ['deployments_write']);
    const running = await startServer({ port: 0, store });
    try {
      const r = await runCli(['deploy', '--version', '2.0.0', '--store', running.url, '--json'], { env: { ELMAH_DEPLOY_KEY: key } });
      expect(r.code).toBe(0);
      expect((await store.deployments()).map((d) => d.version)).toEqual(['2.0.0']);
    } finally {
      await running.close();
      await store.close();
    }
  });

  it('refuses without ELMAH_DEPLOY_KEY, with a key lacking deployments_write, an invalid value or no --version', async () => {
    const missing = await runCli(['deploy', '--version', '1'], { env: { ELMAH_STORE: storeUrl } });
    expect({ code: missing.code, error: cliErrorCode(missing) }).toEqual({ code: 1, error: 'ERR_ELMAH_KEY_MISSING' });
    const store = await openStore(storeUrl);
    const writer = await addKey(store, ['messages_write']);
    await store.close();
    const refused = await runCli(['deploy', '--version', '1'], { env: { ELMAH_STORE: storeUrl, ELMAH_DEPLOY_KEY: writer } });
    expect({ code: refused.code, error: cliErrorCode(refused) }).toEqual({ code: 1, error: 'ERR_ELMAH_PERMISSION' });
    const invalid = await runCli(['deploy', '--version', '1', '--user-email', 'nobody'], {
      env: { ELMAH_STORE: storeUrl, ELMAH_DEPLOY_KEY: deployKey },
    });
    expect({ code: invalid.code, error: cliErrorCode(invalid) }).toEqual({ code: 1, error: 'ERR_ELMAH_INVALID_DEPLOYMENT' });
    const usage = await runCli(['deploy'], { env: { ELMAH_STORE: storeUrl, ELMAH_DEPLOY_KEY: deployKey } });
    expect({ code: usage.code, error: cliErrorCode(usage) }).toEqual({ code: 2, error: 'ERR_ELMAH_CLI' });
  });
});
