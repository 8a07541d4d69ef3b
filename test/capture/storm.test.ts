// An error storm through a real Express app: the store is held up (and fails transiently) while 2,000
// errors with unique messages are thrown, so the queue fills. Nothing is lost: what is not kept in full is
// counted into its group, the group counts and the chart add up to the errors thrown, and the viewer says
// how many were counted but not kept in full.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request as httpRequest } from 'node:http';
import { errorLogger } from '../../src/capture/logger';
import { ElmahError } from '../../src/model/errors';
import type { ErrorMessage } from '../../src/model/message';
import type { OccurrenceTally } from '../../src/model/tally';
import type { AppendResult } from '../../src/stores/types';
import { MemoryStore } from '../../src/stores/memory';
import { errorViewer } from '../../src/viewer';
import { fmt } from '../../src/viewer/render';
import { createApp } from '../helpers/app';
import { withKeys } from '../helpers/keys';
import { closeLoggers, trackLogger } from '../helpers/capture';

afterEach(closeLoggers);

const THROWN = 2000;
const CONCURRENCY = 20;

/** A store whose appends wait for `release()` (the first one fails as busy), and whose first tally fails as busy. */
class HeldUpStore extends MemoryStore {
  private gate: Promise<void>;
  release: () => void = () => undefined;
  appendCalls = 0;
  tallyCalls = 0;
  constructor() {
    super();
    this.gate = new Promise((r) => (this.release = r));
  }
  override async append(messages: readonly ErrorMessage[]): Promise<AppendResult[]> {
    if (++this.appendCalls === 1) throw new ElmahError('ERR_ELMAH_STORE_BUSY', 'database is locked', { transient: true });
    await this.gate;
    return super.append(messages);
  }
  override async tally(tallies: readonly OccurrenceTally[]): Promise<AppendResult[]> {
    if (++this.tallyCalls === 1) throw new ElmahError('ERR_ELMAH_STORE_BUSY', 'database is locked', { transient: true });
    return super.tally(tallies);
  }
}

function get(url: string, agent: Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('an error storm', () => {
  it('every thrown error is kept in full or counted: group counts, stats and the chart add up, and the viewer says so', async () => {
    const { store, keys } = await withKeys(new HeldUpStore());
    const reported: string[] = [];
    const logger = trackLogger(
      errorLogger({ store, key: keys.write, queueSize: 50, batchSize: 10, maxBackoffMs: 20, onError: (e) => reported.push(e.code) }),
    );
    await logger.ready;
    const viewer = await errorViewer({ store, key: keys.read });
    let n = 0;
    const app = createApp({
      setup: (a) => a.use('/elmah.axd', viewer),
      logger,
      value: () => new Error(`Order ${++n}-${Math.random().toString(36).slice(2)} could not be saved`),
    });
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const started = Date.now();
    try {
      const statuses: number[] = [];
      for (let i = 0; i < THROWN; i += CONCURRENCY) {
        const answers = await Promise.all(Array.from({ length: CONCURRENCY }, () => get(`${base}/value`, agent)));
        statuses.push(...answers.map((a) => a.status));
      }
      expect(statuses).toEqual(Array(THROWN).fill(500));
      expect(n).toBe(THROWN);

      // While the store is held up, at most the queue is kept in full; the rest waits as counts.
      expect(logger.stats().kept).toBe(0);
      store.release();
      expect(await logger.flush(10_000)).toBe(true);

      const stats = logger.stats();
      expect(stats.kept + stats.counted + stats.lost).toBe(THROWN);
      expect(stats).toMatchObject({ queued: 0, lost: 0, dropped: 0, failed: 0, sent: THROWN });
      expect(stats.counted).toBeGreaterThanOrEqual(THROWN - 50);
      expect(store.tallyCalls).toBeGreaterThan(1);

      const { groups } = await store.groups({});
      expect(groups).toHaveLength(1);
      expect(groups[0]).toMatchObject({ count: THROWN, countedOnly: stats.counted });
      expect((await store.search({ size: 1 })).total).toBe(stats.kept);
      const chart = await store.histogram({
        from: new Date(started - 60_000).toISOString(),
        to: new Date(Date.now() + 60_000).toISOString(),
        buckets: 4,
      });
      expect(chart.counts.reduce((a, b) => a + b, 0)).toBe(THROWN);

      const said = `${fmt.plural(stats.counted, 'occurrence')} counted but not kept in full`;
      const groupsPage = await get(`${base}/elmah.axd/?view=groups`, agent);
      expect(groupsPage.status).toBe(200);
      expect(groupsPage.body).toContain(said);
      expect(groupsPage.body).toContain(fmt.num(THROWN));
      const detail = await get(`${base}/elmah.axd/detail/${groups[0]!.lastId}`, agent);
      expect(detail.status).toBe(200);
      expect(detail.body).toContain(said);
      expect(reported).toContain('ERR_ELMAH_QUEUE_FULL');
    } finally {
      agent.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});
