// The worker-thread writes of a sqlite: store, run as compiled JavaScript (bundled here with esbuild) in a
// child process, as the published package runs; and the fallback to in-process writes from TS sources.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorLogger } from '../../src/capture/logger';
import { createKey } from '../../src/model/keys';
import { openStore } from '../../src/stores/open';
import { buildPackage, bundle, type BuiltPackage } from '../helpers/build-package';
import { trackLogger, closeLoggers } from '../helpers/capture';

// The package as it is published: a bundle of src/index.ts, found by name, beside the worker's entry.
let built: BuiltPackage;
beforeAll(() => {
  built = buildPackage({ 'index.cjs': 'src/index.ts' });
});
afterAll(() => built?.remove());
afterEach(closeLoggers);

describe('worker-thread writes', () => {
  it('a sqlite: store is written by a worker thread; every message lands, and a burst beyond the queue is counted', () => {
    // It loads only what writes: none of the web faces' dependencies.
    expect(readFileSync(built.workerEntry, 'utf8')).not.toMatch(/require\("(express|ejs|helmet|commander)"\)/);
    const fixture = join(built.dir, 'worker-fixture.cjs');
    bundle('test/fixtures/worker-proc.ts', fixture, ['express-elmah']);
    const r = spawnSync(process.execPath, [fixture], {
      env: { ...process.env, DB_FILE: join(built.dir, 'w.db') },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as {
      flushed: boolean;
      stats: Record<string, number>;
      total: number;
      titles: string[];
      errors: string[];
      burstStats: Record<string, number>;
      burstGroups: unknown[];
    };
    expect(out.flushed).toBe(true);
    expect(out.stats).toEqual({ queued: 0, sent: 25, kept: 25, counted: 0, dropped: 0, failed: 0, lost: 0 });
    expect(out.total).toBe(25);
    expect(out.titles).toContain('worker error 24');
    expect(out.errors.filter((c) => c !== 'ERR_ELMAH_QUEUE_FULL')).toEqual([]);
    expect(out.burstStats).toEqual({ queued: 0, sent: 50, kept: 5, counted: 45, dropped: 0, failed: 0, lost: 0 });
    expect(out.burstGroups).toEqual([{ count: 50, countedOnly: 45 }]);
  });

  it('from TypeScript sources the logger writes in-process without complaint', async () => {
    const url = `sqlite:${join(built.dir, 'inproc.db')}`;
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
