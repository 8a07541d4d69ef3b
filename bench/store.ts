// Store benchmark: fills a SQLite store with realistic messages (default 1,000,000; BENCH_MESSAGES to change),
// once with every title unique and once with the fixtures' mix (BENCH_TITLES=unique|mix for one), and times
// appends (CPU per message) and the viewer's reads at that size; then retention under sustained ingest;
// BENCH_CHECKPOINT_AB=1 adds two stores filled side by side, with and without the checkpointer thread.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseQuery } from '../src/model/query';
import { SqliteStore } from '../src/stores/sqlite';
import type { Store } from '../src/stores/types';
import { BENCH_LOGS, benchBatch } from './fixtures';
import { ms, percentile } from './timing';

const TOTAL = Number(process.env.BENCH_MESSAGES ?? 1_000_000);
const BATCH = 100;
const RUNS = Number(process.env.BENCH_RUNS ?? 50);
/** The fill stops here even if TOTAL was not reached (the figures then say how many were stored). */
/** BENCH_CHECKPOINT_THREAD=0 leaves checkpoints to SQLite's commits, for a side-by-side comparison. */
const CHECKPOINT_THREAD = process.env.BENCH_CHECKPOINT_THREAD !== '0';
const MAX_FILL_SECONDS = Number(process.env.BENCH_MAX_FILL_SECONDS ?? 900);

interface Row {
  name: string;
  goal: string;
  p50: number;
  p95: number;
  note: string;
}

/** Each read is measured RUNS times after 3 warm-up runs, but for at most MAX_READ_SECONDS. */
const MAX_READ_SECONDS = Number(process.env.BENCH_MAX_READ_SECONDS ?? 30);

async function timeIt(name: string, goal: string, fn: () => Promise<string>): Promise<Row> {
  let note = '';
  for (let i = 0; i < 3; i++) note = await fn();
  const times: number[] = [];
  const start = process.hrtime.bigint();
  for (let i = 0; i < RUNS && ms(start) < MAX_READ_SECONDS * 1000; i++) {
    const t = process.hrtime.bigint();
    note = await fn();
    times.push(ms(t));
  }
  times.sort((a, b) => a - b);
  const row = {
    name,
    goal,
    p50: percentile(times, 50),
    p95: percentile(times, 95),
    note: times.length < RUNS ? `${note} (${times.length} runs)` : note,
  };
  console.log(`  ${name}: p50 ${row.p50.toFixed(2)} ms, p95 ${row.p95.toFixed(2)} ms`);
  return row;
}

function folderBytes(dir: string): number {
  return readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

async function main(): Promise<void> {
  const titles = process.env.BENCH_TITLES;
  const modes = titles === 'none' ? [] : titles === 'mix' ? [false] : titles === 'unique' ? [true] : [true, false];
  for (const unique of modes) await fillAndRead(unique);
  if (process.env.BENCH_RETENTION !== '0') await retentionUnderIngest();
  if (process.env.BENCH_CHECKPOINT_AB === '1') await checkpointsSideBySide();
}

/**
 * Two stores filled in alternation, one append each in turn, one with the checkpointer thread and one with
 * SQLite's checkpoints in the commits: both meet the same load on this shared machine at the same time, so
 * their slowest appends can be compared. CPU time is not told apart (one process).
 */
async function checkpointsSideBySide(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'elmah-bench-ckpt-'));
  const variants = [
    { name: 'checkpointer thread', store: await SqliteStore.open(join(dir, 'thread.db'), { autoPruneMs: false }), times: [] as number[] },
    {
      name: 'checkpoints in the commit',
      store: await SqliteStore.open(join(dir, 'commit.db'), { autoPruneMs: false, checkpointThread: false }),
      times: [] as number[],
    },
  ];
  const total = Math.max(BATCH, Math.floor(TOTAL / 2));
  const options = { total, uniqueTitles: true };
  const loadBefore = loadavg()[0]!;
  try {
    for (let i = 0; i < total; i += BATCH) {
      const batch = benchBatch(i, BATCH, options);
      for (const v of variants) {
        const t = process.hrtime.bigint();
        await v.store.append(batch);
        v.times.push(ms(t));
      }
    }
    console.log('');
    console.log(
      `Checkpoints side by side: ${total.toLocaleString('en-US')} messages into each of two stores, one append of ${BATCH} to each in turn`,
    );
    console.log(`(load average ${loadBefore.toFixed(1)} before, ${loadavg()[0]!.toFixed(1)} after)`);
    console.log('');
    console.log('| variant | append p50 / p99 / p99.9 / max ms | over 50 / over 100 ms |');
    console.log('|---|---|---|');
    for (const v of variants) {
      const sorted = [...v.times].sort((a, b) => a - b);
      const over = (limit: number): number => sorted.filter((t) => t > limit).length;
      const p = (q: number): string => percentile(sorted, q).toFixed(1);
      console.log(
        `| ${v.name} | ${p(50)} / ${p(99)} / ${p(99.9)} / ${sorted[sorted.length - 1]!.toFixed(1)} | ${over(50)} / ${over(100)} of ${sorted.length.toLocaleString('en-US')} |`,
      );
    }
    const stats = (variants[0]!.store as SqliteStore).checkpointStats();
    if (stats)
      console.log(
        `\nCheckpointer thread: ${stats.passes} passes, ${stats.holds} holds (longest ${stats.longestHoldMs.toFixed(1)} ms, ${stats.holdTimeouts} ended by the time limit).`,
      );
  } finally {
    for (const v of variants) await v.store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Appends at a steady pace into a store whose count limit is a tenth of TOTAL (at least 20,000), with the
 * default automatic retention: the slowest append and the largest the log grew show that retention keeps up
 * in bounded steps.
 */
async function retentionUnderIngest(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'elmah-bench-retention-'));
  const limit = Math.max(20_000, Math.floor(TOTAL / 10));
  const total = limit * 4;
  const store = await SqliteStore.open(join(dir, 'elmah.db'), {
    retention: { maxAgeDays: 90, maxCount: limit },
    checkpointThread: CHECKPOINT_THREAD,
  });
  try {
    let slowest = 0;
    let largest = 0;
    const times: number[] = [];
    const options = { total, uniqueTitles: true };
    for (let i = 0; i < total; i += BATCH) {
      const batch = benchBatch(i, BATCH, options).map((m) => ({ ...m, log: 'steady' }));
      const t = process.hrtime.bigint();
      await store.append(batch);
      const took = ms(t);
      times.push(took);
      slowest = Math.max(slowest, took);
      if (i % (BATCH * 50) === 0) {
        const count = (await store.logs()).find((l) => l.name === 'steady')?.count ?? 0;
        largest = Math.max(largest, count);
      }
    }
    const count = (await store.logs()).find((l) => l.name === 'steady')?.count ?? 0;
    largest = Math.max(largest, count);
    times.sort((a, b) => a - b);
    console.log('');
    console.log(
      `Retention under ingest: ${total.toLocaleString('en-US')} messages in batches of ${BATCH} into a log limited to ${limit.toLocaleString('en-US')} (default automatic retention)`,
    );
    console.log('');
    console.log('| measure | value | goal |');
    console.log('|---|---|---|');
    console.log(
      `| append of ${BATCH} (incl. retention steps) p50 / p99 / max | ${percentile(times, 50).toFixed(1)} / ${percentile(times, 99).toFixed(1)} / ${slowest.toFixed(1)} ms | max <= 100 ms |`,
    );
    console.log(`| largest the log grew | ${largest.toLocaleString('en-US')} (${(largest / limit).toFixed(2)}x the limit) | <= 1.5x |`);
    console.log(`| messages at the end | ${count.toLocaleString('en-US')} | |`);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function fillAndRead(uniqueTitles: boolean): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'elmah-bench-store-'));
  const cleanUp = (): void => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once('SIGINT', cleanUp);
  process.once('SIGTERM', cleanUp);
  let store: Store | undefined;
  try {
    store = await SqliteStore.open(join(dir, 'elmah.db'), {
      retention: { maxAgeDays: 90, maxCount: 10_000_000 },
      checkpointThread: CHECKPOINT_THREAD,
    });
    const options = { total: TOTAL, uniqueTitles };
    console.log(
      `Filling ${TOTAL.toLocaleString('en-US')} messages (${uniqueTitles ? 'every title unique' : "the fixtures' title mix"}) in batches of ${BATCH} into ${store.describe()} …`,
    );
    let appendMs = 0;
    let appendCpuMs = 0;
    const loadBefore = loadavg()[0]!;
    let stored = 0;
    const wall = process.hrtime.bigint();
    let slowest = 0;
    const slow = { over50: 0, over100: 0, cpuOfSlowest: 0 };
    for (let i = 0; i < TOTAL; i += BATCH) {
      const batch = benchBatch(i, BATCH, options);
      const t = process.hrtime.bigint();
      const cpu = process.cpuUsage();
      await store.append(batch);
      const took = ms(t);
      const used = process.cpuUsage(cpu);
      appendCpuMs += (used.user + used.system) / 1000;
      if (took > 50) slow.over50++;
      if (took > 100) slow.over100++;
      if (took > slowest) slow.cpuOfSlowest = (used.user + used.system) / 1000;
      appendMs += took;
      slowest = Math.max(slowest, took);
      stored += batch.length;
      if (stored % 100_000 === 0)
        console.log(
          `  ${stored.toLocaleString('en-US')} stored, ${Math.round((stored / appendMs) * 1000).toLocaleString('en-US')} msg/s so far`,
        );
      if (ms(wall) > MAX_FILL_SECONDS * 1000) {
        console.log(`  stopping the fill at ${MAX_FILL_SECONDS} s`);
        break;
      }
    }
    const wallMs = ms(wall);
    const loadAfter = loadavg()[0]!;
    const checkpoints = (store as SqliteStore).checkpointStats();
    const log = BENCH_LOGS[0];
    const rows: Row[] = [];
    rows.push(
      await timeIt('list page (one log, first page of 15)', '<= 10 ms', async () => {
        const r = await store!.search({ log, size: 15 });
        return `total ${r.total}${r.totalExact ? '' : '+'}`;
      }),
    );
    const second = await store.search({ log, size: 15 });
    rows.push(
      await timeIt('list, next page by cursor', '', async () => {
        const r = await store!.search({ log, size: 15, after: second.after });
        return `${r.messages.length} rows`;
      }),
    );
    rows.push(
      await timeIt('list page (all logs)', '', async () => {
        const r = await store!.search({ size: 15 });
        return `total ${r.total}${r.totalExact ? '' : '+'}`;
      }),
    );
    rows.push(
      await timeIt('groups page (one log)', '<= 20 ms', async () => {
        const r = await store!.groups({ log, size: 15 });
        return `${r.total} groups`;
      }),
    );
    rows.push(
      await timeIt('groups page (all logs)', '<= 20 ms', async () => {
        const r = await store!.groups({ size: 15 });
        return `${r.total} groups`;
      }),
    );
    for (const q of ['type:TypeError', 'statusCode:[500 TO 599]', 'severity:fatal']) {
      const tree = parseQuery(q);
      rows.push(
        await timeIt(`field search \`${q}\` (one log)`, '<= 50 ms', async () => {
          const r = await store!.search({ log, size: 15, query: tree });
          return `total ${r.total}${r.totalExact ? '' : '+'}`;
        }),
      );
    }
    for (const q of ['ECONNREFUSED', 'timeout', '"out of stock"', 'checkout', 'request', 'withTransaction']) {
      const tree = parseQuery(q);
      rows.push(
        await timeIt(`free-text search \`${q}\` (one log)`, '<= 50 ms', async () => {
          const r = await store!.search({ log, size: 15, query: tree });
          return `total ${r.total}${r.totalExact ? '' : '+'}`;
        }),
      );
    }
    const tree = parseQuery('ECONNREFUSED');
    rows.push(
      await timeIt('free-text search `ECONNREFUSED` (all logs)', '<= 50 ms', async () => {
        const r = await store!.search({ size: 15, query: tree });
        return `total ${r.total}${r.totalExact ? '' : '+'}`;
      }),
    );
    const one = second.messages[3]!;
    rows.push(await timeIt('get by id', '', async () => ((await store!.get(one.log, one.id)) ? 'found' : 'missing')));
    await store.close();
    store = undefined;
    const bytes = folderBytes(dir);

    console.log('');
    console.log(
      `Command: BENCH_MESSAGES=${TOTAL} npm run bench:store   (Node ${process.version}, ${cpus().length} cores: ${cpus()[0]?.model ?? '?'})`,
    );
    console.log(
      `Fixtures: ${uniqueTitles ? 'every title unique (the word `request` in every title)' : "the fixtures' mix of titles (some repeat)"}`,
    );
    console.log('');
    console.log('| measure | value | goal |');
    console.log('|---|---|---|');
    console.log(`| messages stored | ${stored.toLocaleString('en-US')} | ${TOTAL.toLocaleString('en-US')} |`);
    console.log(
      `| append throughput (time inside append, batches of ${BATCH}) | ${Math.round((stored / appendMs) * 1000).toLocaleString('en-US')} msg/s | >= 40,000 msg/s |`,
    );
    console.log(
      `| append CPU per message (this process) | ${((appendCpuMs * 1000) / stored).toFixed(1)} µs (${Math.round((stored / appendCpuMs) * 1000).toLocaleString('en-US')} msg per CPU second) | <= 25 µs (>= 40,000) |`,
    );
    console.log(`| machine load average (1 min) before / after the fill | ${loadBefore.toFixed(1)} / ${loadAfter.toFixed(1)} | |`);
    console.log(
      `| fill wall time incl. generating messages | ${(wallMs / 1000).toFixed(1)} s (${Math.round((stored / wallMs) * 1000).toLocaleString('en-US')} msg/s) | |`,
    );
    console.log(
      `| slowest append of ${BATCH} (CPU of this process meanwhile) | ${slowest.toFixed(1)} ms (${slow.cpuOfSlowest.toFixed(1)} ms) | <= 100 ms |`,
    );
    console.log(
      `| appends over 50 / over 100 ms | ${slow.over50} / ${slow.over100} of ${Math.ceil(stored / BATCH).toLocaleString('en-US')} | |`,
    );
    console.log(
      checkpoints
        ? `| checkpointer thread: passes, holds (longest, ended by the time limit) | ${checkpoints.passes}, ${checkpoints.holds} (${checkpoints.longestHoldMs.toFixed(1)} ms, ${checkpoints.holdTimeouts}) | |`
        : '| checkpoints | in the commits (no checkpointer thread) | |',
    );
    console.log(
      `| database size on disk (db + wal) | ${(bytes / 1e6).toFixed(0)} MB (${Math.round(bytes / stored)} B/message) | <= 1,000 B/message |`,
    );
    console.log('');
    console.log(`| read (${RUNS} runs each) | p50 ms | p95 ms | goal | result |`);
    console.log('|---|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.name} | ${r.p50.toFixed(2)} | ${r.p95.toFixed(2)} | ${r.goal} | ${r.note} |`);
  } finally {
    if (store) await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
