// errorLogger shipping over HTTP to a collector that is absent, dies, fails, throttles, hangs or revokes the key.
// In every case the app keeps answering, the queue stays bounded, and every message counted as sent is
// stored exactly once (sent + dropped + failed = raised).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import request from 'supertest';
import { errorLogger } from '../../src/capture/logger';
import { collector } from '../../src/collector';
import type { ElmahError } from '../../src/model/errors';
import { MemoryStore } from '../../src/stores/memory';
import { withKeys } from '../helpers/keys';

/** What a fault hook in front of the collector does with one request. */
type Fault = (req: Request, res: Response, next: NextFunction) => void;

interface Harness {
  store: MemoryStore;
  keys: Awaited<ReturnType<typeof withKeys>>['keys'];
  url: string;
  /** Hits of /v3/messages/*\/_bulk (time, status answered or -1 for held). */
  bulkHits: number[];
  up(): Promise<void>;
  down(): Promise<void>;
  setFault(fault: Fault | undefined): void;
  app: express.Express;
  logger: ReturnType<typeof errorLogger>;
  errors: ElmahError[];
  raise(from: number, to: number): Promise<void>;
  /** Titles stored, sorted. */
  stored(): Promise<string[]>;
  close(): Promise<void>;
}

async function harness(loggerOptions: Record<string, unknown> = {}, startUp = true): Promise<Harness> {
  const { store, keys } = await withKeys(new MemoryStore({ maxMessages: 100_000 }));
  let fault: Fault | undefined;
  const bulkHits: number[] = [];
  const held = new Set<Response>();
  const capp = express();
  capp.use(function faultHook(req: Request, res: Response, next: NextFunction) {
    if (req.method === 'POST' && req.path.endsWith('/_bulk')) bulkHits.push(Date.now());
    if (fault && req.path !== '/v3/keys/current') {
      held.add(res);
      res.on('close', () => held.delete(res));
      fault(req, res, next);
    } else next();
  });
  capp.use(collector({ store, rateLimit: false }));

  // Reserve a port first, so the logger can be pointed at a collector that is not there yet.
  let server: Server | undefined = capp.listen(0, '127.0.0.1') as unknown as Server;
  await new Promise((r) => server!.once('listening', r));
  const port = (server.address() as AddressInfo).port;
  const down = async (): Promise<void> => {
    if (!server) return;
    const s = server;
    server = undefined;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  };
  const up = async (): Promise<void> => {
    if (server) return;
    const s = capp.listen(port, '127.0.0.1') as unknown as Server;
    await new Promise((r) => s.once('listening', r));
    server = s;
  };
  if (!startUp) await down();

  const errors: ElmahError[] = [];
  const url = `http://127.0.0.1:${port}`;
  const logger = errorLogger({
    store: url,
    key: keys.write,
    onError: (e: ElmahError) => errors.push(e),
    maxBackoffMs: 100,
    timeoutMs: 500,
    queueSize: 1000,
    ...loggerOptions,
  } as never);
  const app = express();
  app.get('/fail/:i', (req: Request) => {
    throw new Error(`boom ${req.params.i}`);
  });
  app.get('/ok', (_req: Request, res: Response) => {
    res.send('ok');
  });
  app.use(logger);
  app.use((_err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).send('failed');
  });

  return {
    store,
    keys,
    url,
    bulkHits,
    up,
    down,
    app,
    logger,
    errors,
    setFault: (f) => (fault = f),
    raise: async (from, to) => {
      for (let i = from; i < to; i++) {
        const res = await request(app).get(`/fail/${i}`);
        expect(res.status).toBe(500);
      }
      expect((await request(app).get('/ok')).text).toBe('ok');
    },
    stored: async () => (await store.search({ log: 'default', size: 1000 })).messages.map((m) => m.title).sort(),
    close: async () => {
      fault = undefined;
      for (const res of held) res.destroy();
      await logger.close(1000);
      await down();
    },
  };
}

/** Waits (bounded) until the logger has nothing queued. */
async function settle(h: Harness, ms = 10_000): Promise<void> {
  await h.logger.flush(ms);
}

/** The invariant of every case: no message stored twice, and kept + counted + dropped + failed accounts for all of them. */
async function expectExactlyOnce(h: Harness, raised: number): Promise<string[]> {
  const titles = await h.stored();
  expect(new Set(titles).size).toBe(titles.length);
  const stats = h.logger.stats();
  expect(stats.queued).toBe(0);
  expect(stats.kept).toBe(titles.length);
  expect(stats.kept + stats.counted + stats.dropped + stats.failed).toBe(raised);
  return titles;
}

describe('errorLogger over HTTP: faults', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('collector dying mid-stream and returning: everything arrives once', async () => {
    h = await harness();
    await h.raise(0, 10);
    await settle(h);
    await h.down();
    await h.raise(10, 20);
    expect(h.logger.stats().queued).toBeGreaterThan(0);
    await h.up();
    await h.raise(20, 30);
    await settle(h);
    const titles = await expectExactlyOnce(h, 30);
    expect(titles).toHaveLength(30);
    expect(h.errors.some((e) => /Cannot reach the collector/.test(e.message))).toBe(true);
  });

  it('collector absent at app start: the app keeps answering and nothing is stored twice', async () => {
    h = await harness({}, false);
    await h.raise(0, 10);
    await h.up();
    await h.raise(10, 20);
    await settle(h);
    await expectExactlyOnce(h, 20);
    expect(h.errors.some((e) => e.code === 'ERR_ELMAH_STORE_UNAVAILABLE' || /Cannot reach the collector/.test(e.message))).toBe(true);
  });

  it('collector absent at app start: the key check is retried and every message arrives once', async () => {
    h = await harness({}, false);
    await h.raise(0, 5);
    await h.up();
    await new Promise((r) => setTimeout(r, 300));
    await h.raise(5, 10);
    await settle(h);
    const titles = await expectExactlyOnce(h, 10);
    expect([...titles].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `boom ${i}`).sort());
  });

  it.each([
    [500, 'ERR_ELMAH_INTERNAL'],
    [503, 'ERR_ELMAH_STORE_BUSY'],
  ])('a collector answering %i retries until it recovers; everything arrives once', async (status, code) => {
    h = await harness();
    let failures = 3;
    h.setFault((_req, res, next) => {
      if (failures-- > 0) res.status(status).json({ error: { code, message: 'not now' } });
      else next();
    });
    await h.raise(0, 15);
    await settle(h);
    const titles = await expectExactlyOnce(h, 15);
    expect(titles).toHaveLength(15);
    expect(failures).toBeLessThan(0);
  });

  it('429 with Retry-After: the shipper waits as told, then everything arrives once', async () => {
    h = await harness();
    let throttled = 1;
    h.setFault((_req, res, next) => {
      if (throttled-- > 0)
        res
          .status(429)
          .set('Retry-After', '1')
          .json({ error: { code: 'ERR_ELMAH_RATE_LIMITED', message: 'slow down' } });
      else next();
    });
    await h.raise(0, 5);
    await settle(h);
    const titles = await expectExactlyOnce(h, 5);
    expect(titles).toHaveLength(5);
    const [first, second] = h.bulkHits;
    expect(second! - first!).toBeGreaterThanOrEqual(950);
  });

  it('a collector that accepts and never answers: the app keeps answering, no message is stored twice', async () => {
    h = await harness({ timeoutMs: 300, maxRetries: 5 });
    let hangs = 2;
    h.setFault((_req, _res, next) => {
      if (hangs-- > 0) return; // held: never answered
      next();
    });
    await h.raise(0, 10);
    await settle(h);
    const titles = await expectExactlyOnce(h, 10);
    expect(titles).toHaveLength(10);
  });

  it('a collector that stores, then loses its answer: the retry is a duplicate, stored once', async () => {
    h = await harness({ timeoutMs: 300, maxRetries: 5 });
    let lose = 1;
    h.setFault((_req, res, next) => {
      if (lose-- > 0) {
        // Let the collector store the batch, but never send its answer.
        res.json = (() => res) as never;
      }
      next();
    });
    await h.raise(0, 8);
    await settle(h);
    const titles = await expectExactlyOnce(h, 8);
    expect(titles).toHaveLength(8);
  });

  it('a key revoked while the app runs: shipping stops loudly, the rest is counted dropped, the app keeps answering', async () => {
    h = await harness();
    await h.raise(0, 5);
    await settle(h);
    await h.store.revokeKey(h.keys.write.slice(6, 14));
    await h.raise(5, 12);
    await settle(h);
    const titles = await expectExactlyOnce(h, 12);
    expect(titles).toHaveLength(5);
    expect(h.logger.stats().dropped).toBe(7);
    expect(h.errors.some((e) => e.code === 'ERR_ELMAH_KEY_INVALID')).toBe(true);
  });

  it('a long outage keeps the queue bounded: the overflow is counted through _tally, the rest arrives once', async () => {
    h = await harness({ queueSize: 20 });
    await h.raise(0, 2);
    await settle(h);
    await h.down();
    await h.raise(2, 60);
    await h.up();
    await settle(h);
    const titles = await expectExactlyOnce(h, 60);
    const stats = h.logger.stats();
    expect(stats).toMatchObject({ lost: 0, sent: 60 });
    expect(stats.counted).toBeGreaterThanOrEqual(38);
    expect(titles.length).toBeGreaterThanOrEqual(2);
    expect((await h.store.groups({})).groups.reduce((n, g) => n + g.count, 0)).toBe(60);
  });
});
