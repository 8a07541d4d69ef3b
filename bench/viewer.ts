// Viewer benchmark: full HTTP request time of the viewer's pages (list, groups, searches, chart) over a
// SQLite store of realistic messages (default 1,000,000; BENCH_MESSAGES to change), timed on the server
// from the first middleware to the response's `finish`, one request at a time.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import { LocalLogClient } from '../src/client/local';
import { createKey } from '../src/model/keys';
import { SqliteStore } from '../src/stores/sqlite';
import type { Store } from '../src/stores/types';
import { errorViewer, type ErrorViewer } from '../src/viewer';
import { BENCH_LOGS, benchBatch } from './fixtures';
import { ms, percentile } from './timing';

const TOTAL = Number(process.env.BENCH_MESSAGES ?? 1_000_000);
const BATCH = 500;
const RUNS = Number(process.env.BENCH_RUNS ?? 60);
const MAX_FILL_SECONDS = Number(process.env.BENCH_MAX_FILL_SECONDS ?? 900);
/** Each measured page stops after this long even if RUNS were not reached. */
const MAX_PAGE_SECONDS = 60;
/** A database file to keep between runs: filled when absent, reused (not refilled) when present. */
const KEEP_DB = process.env.BENCH_DB;

interface Row {
  name: string;
  path: string;
  goal: string;
  /** p50 of the same read made directly through a LogClient, without HTTP or rendering. */
  direct50: number | undefined;
  server50: number;
  server95: number;
  client50: number;
  status: number;
  bytes: number;
  runs: number;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'elmah-bench-viewer-'));
  let store: Store | undefined;
  let viewer: ErrorViewer | undefined;
  let server: http.Server | undefined;
  try {
    const file = KEEP_DB ?? join(dir, 'elmah.db');
    const reuse = KEEP_DB !== undefined && existsSync(KEEP_DB);
    store = await SqliteStore.open(file, { retention: { maxAgeDays: 90, maxCount: 10_000_000 } });
    let stored = 0;
    if (reuse) {
      stored = (await store.logs()).reduce((n, l) => n + l.count, 0);
      console.log(`Reusing ${store.describe()} with ${stored.toLocaleString('en-US')} messages.`);
    } else {
      console.log(`Filling ${TOTAL.toLocaleString('en-US')} messages into ${store.describe()} …`);
      const wall = process.hrtime.bigint();
      for (let i = 0; i < TOTAL; i += BATCH) {
        const batch = benchBatch(i, BATCH, { total: TOTAL });
        await store.append(batch);
        stored += batch.length;
        if (stored % 100_000 === 0) console.log(`  ${stored.toLocaleString('en-US')} stored (${(ms(wall) / 1000).toFixed(0)} s)`);
        if (ms(wall) > MAX_FILL_SECONDS * 1000) {
          console.log(`  stopping the fill at ${MAX_FILL_SECONDS} s`);
          break;
        }
      }
      console.log(`Filled ${stored.toLocaleString('en-US')} in ${(ms(wall) / 1000).toFixed(1)} s.`);
    }

    const { key, record } = createKey({ name: 'bench viewer', permissions: ['messages_read'] });
    await store.putKey(record);
    // The viewer's defaults: every log, 15 rows, key checked per request (cached for a second by the client).
    viewer = await errorViewer({ store, key });

    const serverTimes = new Map<string, number[]>();
    const app = express();
    app.use(function timeRequest(req: Request, res: Response, next: NextFunction) {
      const start = process.hrtime.bigint();
      const url = req.originalUrl;
      res.on('finish', () => {
        const list = serverTimes.get(url) ?? [];
        list.push(ms(start));
        serverTimes.set(url, list);
      });
      next();
    });
    app.use('/elmah.axd', viewer);
    server = http.createServer(app);
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

    const get = (path: string): Promise<{ status: number; bytes: number }> =>
      new Promise((resolve, reject) => {
        http
          .get(`${origin}${path}`, { agent }, (res) => {
            let bytes = 0;
            res.on('data', (c: Buffer) => (bytes += c.length));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
            res.on('error', reject);
          })
          .on('error', reject);
      });

    const log = BENCH_LOGS[0];
    // The same reads made straight through a client, to tell the store's share from the viewer's.
    const client = new LocalLogClient(store, key);
    const week = (): { from: string; to: string } => {
      const bucket = (7 * 86_400_000) / 84;
      const end = Math.ceil(Date.now() / bucket) * bucket;
      return { from: new Date(end - 7 * 86_400_000).toISOString(), to: new Date(end).toISOString() };
    };
    type Direct = (() => Promise<unknown>) | undefined;
    const pages: [string, string, string, Direct][] = [
      ['list page (all logs, first page of 15)', '/elmah.axd/', '<= 10 ms', () => client.search({ size: 15 })],
      [`list page (log ${log})`, `/elmah.axd/?log=${log}`, '<= 10 ms', () => client.search({ log, size: 15 })],
      ['list page 20 (all logs)', '/elmah.axd/?page=20', '', () => client.search({ page: 19, size: 15 })],
      ['grouped view (all logs)', '/elmah.axd/?view=groups', '<= 20 ms', () => client.groups({ size: 15 })],
      [`grouped view (log ${log})`, `/elmah.axd/?view=groups&log=${log}`, '<= 20 ms', () => client.groups({ log, size: 15 })],
      [
        'search: free text `ECONNREFUSED`',
        '/elmah.axd/?q=ECONNREFUSED',
        '<= 50 ms',
        () => client.search({ query: '(ECONNREFUSED)', size: 15 }),
      ],
      [
        'search: `type:TypeError`',
        '/elmah.axd/?q=type%3ATypeError',
        '<= 50 ms',
        () => client.search({ query: '(type:TypeError)', size: 15 }),
      ],
      [
        'search: status 5xx + type quick filters',
        '/elmah.axd/?status=5xx&type=TimeoutError',
        '<= 50 ms',
        () => client.search({ query: 'statusCode:[500 TO 599] AND type:"TimeoutError"', size: 15 }),
      ],
      [
        'search: phrase `"out of stock"`, last 7 days',
        '/elmah.axd/?q=%22out+of+stock%22&since=7d',
        '<= 50 ms',
        () => client.search({ query: '("out of stock")', from: new Date(Date.now() - 7 * 86_400_000).toISOString(), size: 15 }),
      ],
      ['chart image (7 days, 84 buckets; cached 30 s)', '/elmah.axd/chart.svg', '', () => client.histogram({ ...week(), buckets: 84 })],
      ['poll for new errors', '/elmah.axd/poll', '', () => client.search({ size: 1 })],
    ];
    // A detail page and a sparkline of a real message.
    const sample = (await store.search({ size: 1 })).messages[0];
    if (sample) {
      pages.push(['detail page', `/elmah.axd/detail/${sample.id}?log=${sample.log}`, '', undefined]);
      pages.push([
        'sparkline image (one group; cached 30 s)',
        `/elmah.axd/spark.svg?log=${sample.log}&fingerprint=${sample.fingerprint}`,
        '',
        () => client.histogram({ log: sample.log, query: `fingerprint:"${sample.fingerprint}"`, ...week(), buckets: 28 }),
      ]);
    }

    const rows: Row[] = [];
    for (const [name, path, goal, direct] of pages) {
      for (let i = 0; i < 3; i++) await get(path);
      serverTimes.delete(path);
      const client: number[] = [];
      const directTimes: number[] = [];
      if (direct) for (let i = 0; i < 3; i++) await direct();
      let last = { status: 0, bytes: 0 };
      const started = process.hrtime.bigint();
      // The HTTP request and the same read without HTTP alternate, so that both see the same machine load and cache.
      for (let i = 0; i < RUNS && ms(started) < MAX_PAGE_SECONDS * 1000; i++) {
        const t = process.hrtime.bigint();
        last = await get(path);
        client.push(ms(t));
        if (direct) {
          const d = process.hrtime.bigint();
          await direct();
          directTimes.push(ms(d));
        }
      }
      const srv = [...(serverTimes.get(path) ?? [])].sort((a, b) => a - b);
      client.sort((a, b) => a - b);
      const direct50 = direct
        ? percentile(
            directTimes.sort((a, b) => a - b),
            50,
          )
        : undefined;
      rows.push({
        name,
        path,
        goal,
        direct50,
        server50: percentile(srv, 50),
        server95: percentile(srv, 95),
        client50: percentile(client, 50),
        status: last.status,
        bytes: last.bytes,
        runs: client.length,
      });
      console.log(`  ${name}: p50 ${percentile(srv, 50).toFixed(2)} ms`);
    }
    agent.destroy();

    console.log('');
    console.log(
      `Command: BENCH_MESSAGES=${TOTAL}${KEEP_DB ? ` BENCH_DB=${KEEP_DB}` : ''} npm run bench:viewer   (Node ${process.version}, ${cpus().length} cores: ${cpus()[0]?.model ?? '?'})`,
    );
    console.log(
      `Messages stored: ${stored.toLocaleString('en-US')} over ${BENCH_LOGS.length} logs; times are server side (first middleware to 'finish'), one request at a time.`,
    );
    console.log('');
    console.log(
      '| request | server p50 ms | server p95 ms | client p50 ms | same read without HTTP, p50 ms | goal (server p50) | status, bytes | runs |',
    );
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of rows) {
      const verdict = r.goal ? ` ${r.server50 <= Number(r.goal.replace(/[^\d.]/g, '')) ? 'met' : 'missed'}` : '';
      console.log(
        `| ${r.name} | ${r.server50.toFixed(2)} | ${r.server95.toFixed(2)} | ${r.client50.toFixed(2)} | ${r.direct50 === undefined ? '' : r.direct50.toFixed(2)} | ${r.goal}${verdict} | ${r.status}, ${r.bytes.toLocaleString('en-US')} B | ${r.runs} |`,
      );
    }
  } finally {
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    await viewer?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
    if (KEEP_DB) console.log(`Kept ${KEEP_DB} for the next run (delete it to refill).`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
