// PostgreSQL benchmark (npm run bench:postgres): ingest through a collector and straight into the store, then
// the viewer's list, groups and search at BENCH_MESSAGES (default 1,000,000) messages, then bounded retention
// steps. Needs ELMAH_BENCH_POSTGRES_URL or ELMAH_TEST_POSTGRES_URL; works in its own schema and drops it at the end.
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { cpus } from 'node:os';
import express from 'express';
import { Pool } from 'pg';
import { connect } from '../src/client/connect';
import { collector } from '../src/collector/collector';
import { createKey } from '../src/model/keys';
import { PostgresStore } from '../src/stores/postgres';
import { STEP_ROWS } from '../src/stores/postgres/retention';
import { benchBatch, BENCH_KINDS, BENCH_LOGS } from './fixtures';

const URL_ = process.env.ELMAH_BENCH_POSTGRES_URL ?? process.env.ELMAH_TEST_POSTGRES_URL;
const TOTAL = Number(process.env.BENCH_MESSAGES ?? 1_000_000);
/** Messages sent through the collector (bounded in count and in time). */
const INGEST = Math.min(TOTAL, Number(process.env.BENCH_INGEST ?? 20_000));
const INGEST_SECONDS = 60;
/** The fill stops here whatever BENCH_MESSAGES says. */
const FILL_SECONDS = Number(process.env.BENCH_FILL_SECONDS ?? 1800);
const FILL_BATCH = 2000;
const RUNS = 15;

/** Median and 95th percentile of `RUNS` timed calls, ms. */
async function time(fn: () => Promise<unknown>, runs = RUNS): Promise<{ median: number; p95: number }> {
  await fn();
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await fn();
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)]!, p95: ms[Math.min(ms.length - 1, Math.ceil(ms.length * 0.95) - 1)]! };
}

const fmt = (n: number): string => (n >= 100 ? n.toFixed(0) : n.toFixed(1));

async function main(): Promise<void> {
  if (!URL_) {
    console.log(
      'bench:postgres skipped: set ELMAH_BENCH_POSTGRES_URL or ELMAH_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test).',
    );
    return;
  }
  const schema = `elmah_bench_${randomBytes(4).toString('hex')}`;
  const make = (count: number, start: number) => benchBatch(start, count, { total: TOTAL });
  const admin = new Pool({ connectionString: URL_, max: 1 });
  const pgVersion = String((await admin.query('SHOW server_version')).rows[0].server_version);
  const store = await PostgresStore.open(URL_, { schema, maxConnections: 8, retention: { maxAgeDays: 36_500, maxCount: 100_000_000 } });
  console.log(
    `bench:postgres — ${TOTAL.toLocaleString('en')} messages, schema ${schema}, PostgreSQL ${pgVersion}, ` +
      `Node ${process.version}, ${cpus().length} cores; bench/fixtures.ts messages (${BENCH_KINDS} kinds over ${BENCH_LOGS.join(', ')})`,
  );
  const rows: [string, string][] = [];
  try {
    const writer = createKey({ name: 'bench writer', permissions: ['messages_write'] });
    const reader = createKey({ name: 'bench reader', permissions: ['messages_read'] });
    await store.putKey(writer.record);
    await store.putKey(reader.record);

    // 1. Ingest through the collector (HTTP _bulk batches of 500, 4 senders) into PostgreSQL.
    const app = express();
    const router = collector({ store, rateLimit: false });
    app.use(router);
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const remote = await connect({ store: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, key: writer.key });
    let sent = 0;
    const ingestStart = Date.now();
    const deadline = ingestStart + INGEST_SECONDS * 1000;
    const sender = async (): Promise<void> => {
      while (sent < INGEST && Date.now() < deadline) {
        const n = Math.min(500, INGEST - sent);
        const batch = make(n, sent);
        sent += n;
        const results = await remote.append(batch);
        if (results.some((x) => x.status === 'rejected'))
          throw new Error(`collector rejected: ${JSON.stringify(results.find((x) => x.status === 'rejected'))}`);
      }
    };
    await Promise.all(Array.from({ length: 4 }, sender));
    const ingestSec = (Date.now() - ingestStart) / 1000;
    await remote.close();
    server.close();
    await router.close();
    rows.push([
      'ingest through the collector (HTTP _bulk, 500/batch, 4 senders)',
      `${fmt(sent / ingestSec)} msg/s (${sent.toLocaleString('en')} in ${ingestSec.toFixed(1)} s)`,
    ]);

    // 2. Fill straight through the store's append (multi-row inserts), 2 writers so that preparing one batch
    // overlaps inserting the other; bounded in time.
    let filled = sent;
    let next = sent;
    const fillStart = Date.now();
    let lastReport = fillStart;
    const writer2 = async (): Promise<void> => {
      while (next < TOTAL && Date.now() - fillStart < FILL_SECONDS * 1000) {
        const start = next;
        const n = Math.min(FILL_BATCH, TOTAL - start);
        next += n;
        await store.append(make(n, start));
        filled += n;
        if (Date.now() - lastReport > 30_000) {
          lastReport = Date.now();
          console.log(`  … ${filled.toLocaleString('en')} messages (${fmt((filled - sent) / ((lastReport - fillStart) / 1000))} msg/s)`);
        }
      }
    };
    await Promise.all([writer2(), writer2()]);
    const fillSec = (Date.now() - fillStart) / 1000;
    if (filled > sent)
      rows.push([
        `append straight into the store (${FILL_BATCH}/batch, 2 writers)`,
        `${fmt((filled - sent) / fillSec)} msg/s (${(filled - sent).toLocaleString('en')} in ${fillSec.toFixed(0)} s)`,
      ]);
    await admin.query(`VACUUM ANALYZE "${schema}".elmah_messages`);
    await admin.query(`ANALYZE "${schema}".elmah_groups`);
    const size = (
      await admin.query(
        `SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) AS s FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
        [schema],
      )
    ).rows[0].s as string;
    rows.push(['messages stored', `${filled.toLocaleString('en')} (${size} with indexes)`]);

    // 3. The viewer's reads, through a LocalLogClient with a read key (as errorViewer does).
    const viewer = await connect({ store, key: reader.key });
    const day = { from: new Date(Date.now() - 86_400_000).toISOString() };
    const log = BENCH_LOGS[0];
    const second = await viewer.search({ log, size: 15 });
    const one = second.messages[3]!;
    // The same reads as bench/store.ts (SQLite), named alike so the two tables line up, then a few more.
    const cases: [string, () => Promise<unknown>][] = [
      ['list page (one log, first page of 15)', () => viewer.search({ log, size: 15 })],
      ['list, next page by cursor', () => viewer.search({ log, size: 15, after: second.after })],
      ['list page (all logs)', () => viewer.search({ size: 15 })],
      ['groups page (one log)', () => viewer.groups({ log, size: 15 })],
      ['groups page (all logs)', () => viewer.groups({ size: 15 })],
      ...['type:TypeError', 'statusCode:[500 TO 599]', 'severity:fatal'].map((q): [string, () => Promise<unknown>] => [
        `field search \`${q}\` (one log)`,
        () => viewer.search({ log, size: 15, query: q }),
      ]),
      ...['ECONNREFUSED', 'timeout', '"out of stock"', 'checkout'].map((q): [string, () => Promise<unknown>] => [
        `free-text search \`${q}\` (one log)`,
        () => viewer.search({ log, size: 15, query: q }),
      ]),
      ['free-text search `ECONNREFUSED` (all logs)', () => viewer.search({ size: 15, query: 'ECONNREFUSED' })],
      ['get by id', () => viewer.get(one.log, one.id)],
      ['list page 100 (offset 1,500, all logs)', () => viewer.search({ size: 15, page: 100 })],
      [
        'search `type:TypeError AND statusCode:500` (all logs)',
        () => viewer.search({ size: 15, query: 'type:TypeError AND statusCode:500' }),
      ],
      ['search `"not found"` (all logs)', () => viewer.search({ size: 15, query: '"not found"' })],
      ['search `zzqqxx`, no match (all logs)', () => viewer.search({ size: 15, query: 'zzqqxx' })],
      ['search `timeout`, last day (all logs)', () => viewer.search({ size: 15, query: 'timeout', ...day })],
      [
        'groups `statusCode:[500 TO 599]`, last day (grouped on the fly)',
        () => viewer.groups({ size: 15, query: 'statusCode:[500 TO 599]', ...day }),
      ],
      ['groups `timeout`, all time (grouped on the fly)', () => viewer.groups({ size: 15, query: 'timeout' })],
      ['logs (counts from the aggregate)', () => viewer.logs()],
      [
        'histogram, 30 days in 60 buckets (the list chart)',
        () => viewer.histogram({ from: new Date(Date.now() - 30 * 86_400_000).toISOString(), to: new Date().toISOString(), buckets: 60 }),
      ],
      [
        'histogram of one group, 30 days in 24 buckets (a sparkline)',
        () =>
          viewer.histogram({
            log: one.log,
            query: `fingerprint:"${one.fingerprint}"`,
            from: new Date(Date.now() - 30 * 86_400_000).toISOString(),
            to: new Date().toISOString(),
            buckets: 24,
          }),
      ],
    ];
    for (const [label, fn] of cases) {
      const t = await time(fn);
      rows.push([label, `median ${fmt(t.median)} ms, p95 ${fmt(t.p95)} ms`]);
      console.log(`  ${label}: median ${fmt(t.median)} ms`);
    }
    await viewer.close();

    // 4. Retention in bounded steps on the full log: each call removes the next 1,000 oldest messages of one
    // log (one transaction, its groups repaired), as automatic retention does under a count limit.
    const held = (await store.logs()).find((l) => l.name === log)?.count ?? 0;
    const step = await time(() =>
      store.prune({ log, maxCount: Math.max(0, held - 20 * STEP_ROWS), maxAgeDays: Infinity, limit: STEP_ROWS }),
    );
    rows.push([
      `retention step (${STEP_ROWS.toLocaleString('en')} oldest messages of one log, groups repaired)`,
      `median ${fmt(step.median)} ms, p95 ${fmt(step.p95)} ms`,
    ]);
  } finally {
    await store.close();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  }
  const width = Math.max(...rows.map((r) => r[0].length));
  console.log(`\n| ${'measure'.padEnd(width)} | result |\n|${'-'.repeat(width + 2)}|--------|`);
  for (const [a, b] of rows) console.log(`| ${a.padEnd(width)} | ${b} |`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
