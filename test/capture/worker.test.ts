// The worker-thread writes of a sqlite: store, run as compiled JavaScript (bundled here with esbuild) in a
// child process, as the published package runs; and the fallback to in-process writes from TS sources.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { errorLogger } from '../../src/capture/logger';
import { createKey } from '../../src/model/keys';
import { openStore } from '../../src/stores/open';
import { trackLogger, closeLoggers } from '../helpers/capture';

// Inside node_modules, so that the bundle finds better-sqlite3 the way an installed package would.
const dir = mkdtempSync(join(__dirname, '..', '..', 'node_modules', '.elmah-test-worker-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(closeLoggers);

describe('worker-thread writes', () => {
  it('a sqlite: store is written by a worker thread; every message lands, and a burst beyond the queue is counted', () => {
    // The package as it is published: a bundle of src/index.ts, found by name.
    const pkg = join(dir, 'node_modules', 'express-elmah');
    mkdirSync(join(pkg, 'dist'), { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'express-elmah', main: 'dist/index.cjs' }));
    const src = join(__dirname, '..', '..', 'src', 'index.ts');
    const external = ['better-sqlite3', 'pg', 'express', 'ejs', 'helmet', 'commander'];
    buildSync({ entryPoints: [src], outfile: join(pkg, 'dist', 'index.cjs'), bundle: true, platform: 'node', format: 'cjs', target: 'node20', external, logLevel: 'error' });
    // The worker thread's own entry, as tsup builds it beside the library.
    const workerEntry = join(pkg, 'dist', 'worker.cjs');
    buildSync({ entryPoints: [join(__dirname, '..', '..', 'src', 'capture', 'worker-entry.ts')], outfile: workerEntry, bundle: true, platform: 'node', format: 'cjs', target: 'node20', external, logLevel: 'error' });
    // It loads only what writes: none of the web faces' dependencies.
    expect(readFileSync(workerEntry, 'utf8')).not.toMatch(/require\("(express|ejs|helmet|commander)"\)/);
    const bundle = join(dir, 'worker-fixture.cjs');
    buildSync({ entryPoints: [join(__dirname, '..', 'fixtures', 'worker-proc.ts')], outfile: bundle, bundle: true, platform: 'node', format: 'cjs', target: 'node20', external: ['express-elmah'], logLevel: 'error' });
    const r = spawnSync(process.execPath, [bundle], { env: { ...process.env, DB_FILE: join(dir, 'w.db') }, encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { flushed: boolean; stats: Record<string, number>; total: number; titles: string[]; errors: string[]; burstStats: Record<string, number>; burstGroups: unknown[] };
    expect(out.flushed).toBe(true);
    expect(out.stats).toEqual({ queued: 0, sent: 25, kept: 25, counted: 0, dropped: 0, failed: 0, lost: 0 });
    expect(out.total).toBe(25);
    expect(out.titles).toContain('worker error 24');
    expect(out.errors.filter((c) => c !== 'ERR_ELMAH_QUEUE_FULL')).toEqual([]);
    expect(out.burstStats).toEqual({ queued: 0, sent: 50, kept: 5, counted: 45, dropped: 0, failed: 0, lost: 0 });
    expect(out.burstGroups).toEqual([{ count: 50, countedOnly: 45 }]);
  });

  it('from TypeScript sources the logger writes in-process without complaint', async () => {
    const url = `sqlite:${join(dir, 'inproc.db')}`;
    const setup = await openStore(url);
    const { key, record } = createKey({ name: 'w' });
    await setup.putKey(record);
    await setup.close();
    const errors: string[] = [];
    const logger = trackLogger(errorLogger({ store: url, key, onError: (e) => errors.push(e.code) }));
    await logger.ready;
    logger.raise(new Error('in-process'));
    await logger.flush(5000);
    await logger.close(5000);
    const store = await openStore(url);
    expect((await store.search({})).messages.map((m) => m.title)).toEqual(['in-process']);
    await store.close();
    expect(errors).toEqual([]);
  });
});
