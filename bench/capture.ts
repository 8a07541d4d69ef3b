// Capture benchmark (npm run bench:capture): req/s of an Express 5 app whose route throws a new, unique
// Error per request, with no logger, with express-elmah, and with @sentry/node, side by side in one run;
// each variant in its own child process, driven by autocannon on loopback. Per variant: errors thrown,
// kept in full, counted only and lost, and whether the store's group counts add up to the errors thrown.
// Then an error storm: 60 s of failures against a store whose appends always fail, watching RSS.
//
// Variants are a list: to add one (e.g. shipping over HTTP to a collector process), push an entry to
// VARIANTS and a setup function to SETUPS with the same name.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import type { Express, NextFunction, Request, Response } from 'express';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const STORM_SECONDS = Number(process.env.BENCH_STORM_SECONDS ?? 60);
/** Slices each variant's time on a route is cut into. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const ONLY = process.env.BENCH_VARIANTS?.split(',');

/** One side of the comparison. */
interface Variant {
  name: string;
  label: string;
}

/** The logger's counters (see ShipperStats). */
type Stats = { queued: number; sent: number; kept: number; counted: number; dropped: number; failed: number; lost: number };

/** What a child reports after the load: how many errors its routes threw and what reached the other end. */
interface Delivered {
  thrown: number;
  /** Messages stored in full (rows), or events received. */
  stored: number;
  /** Sum of the store's group counts (kept in full + counted only), when there is a store. */
  groupSum?: number;
  note: string;
  stats?: Stats;
  rssPeakMb?: number;
  /** After the storm and a full collection: what the process still holds. */
  heapAfterGcMb?: number;
  heapBaseMb?: number;
  rssAfterGcMb?: number;
  rssBaseMb?: number;
}

const VARIANTS: Variant[] = [
  { name: 'none', label: 'no logger (plain 500 handler)' },
  { name: 'elmah', label: 'express-elmah, SQLite store (default: appends on a worker thread)' },
  {
    name: 'elmah-bare',
    label: 'express-elmah, SQLite store, without breadcrumbs and source lines (breadcrumbs: false, sourceContext: false)',
  },
  { name: 'elmah-inprocess', label: 'express-elmah, SQLite store, in-process appends batched per event-loop turn (worker: false)' },
  {
    name: 'elmah-inprocess-timer',
    label: 'express-elmah, SQLite store, in-process appends batched every 100 ms (worker: false, flushIntervalMs: 100)',
  },
  { name: 'elmah-http', label: 'express-elmah over HTTP to a collector process (express-elmah serve, SQLite)' },
  { name: 'sentry', label: '@sentry/node (setupExpressErrorHandler, tracesSampleRate 0)' },
];

// ---------------------------------------------------------------- child side

/** What a variant adds to the app: before the routes, after them, and how to count what was delivered. */
interface Setup {
  before?(app: Express): void;
  after?(app: Express): void;
  /** Finishes the writes of what was captured so far (between measured slices; not timed). */
  flush?(): Promise<void>;
  delivered(thrown: number): Promise<Delivered>;
}

async function sqliteWithKey(): Promise<{ url: string; key: string }> {
  const { openStore, createKey } = pkg();
  const url = `sqlite:${join(process.env.BENCH_DIR!, `${process.env.BENCH_VARIANT}.db`)}`;
  const store = await openStore(url);
  const { key, record } = createKey({ name: 'bench writer' });
  await store.putKey(record);
  await store.close();
  return { url, key };
}

/** Rows stored in full, and the sum of every group's count (kept in full + counted only). */
async function countStored(url: string): Promise<{ stored: number; groupSum: number }> {
  const { openStore } = pkg();
  const store = await openStore(url);
  try {
    return { stored: (await store.logs()).reduce((n, l) => n + l.count, 0), groupSum: await groupSum(store) };
  } finally {
    await store.close();
  }
}

async function groupSum(store: Pick<ReturnType<typeof pkg>['MemoryStore']['prototype'], 'groups'>): Promise<number> {
  let sum = 0;
  for (let page = 0; page < 1000; page++) {
    const r = await store.groups({ page, size: 1000 });
    sum += r.groups.reduce((n, g) => n + g.count, 0);
    if (r.groups.length < 1000) break;
  }
  return sum;
}

async function elmahSetup(extra: {
  worker?: boolean;
  flushIntervalMs?: number;
  breadcrumbs?: boolean;
  sourceContext?: boolean;
}): Promise<Setup> {
  const { errorLogger } = pkg();
  const { url, key } = await sqliteWithKey();
  const logger = errorLogger({ store: url, key, ...extra, onError: (e) => console.error(`  (${e.code}: ${e.message})`) });
  return loggerSetup(logger, url, 'rows in the SQLite store');
}

/** A variant around one logger: mount it, flush it, and count what reached `url` once it is closed. */
async function loggerSetup(
  logger: ReturnType<ReturnType<typeof pkg>['errorLogger']>,
  url: string,
  note: string,
  afterClose?: () => Promise<void>,
): Promise<Setup> {
  await logger.ready;
  return {
    after: (app) => app.use(logger),
    flush: async () => void (await logger.flush(120_000)),
    delivered: async (thrown) => {
      await logger.flush(120_000);
      const stats = logger.stats();
      await logger.close(5000);
      await afterClose?.();
      return { thrown, ...(await countStored(url)), note, stats };
    },
  };
}

/** express-elmah as an app gets it: the package bundle (see bundle()), loaded by name. */
function pkg(): typeof import('../src/index.js') {
  return require('express-elmah') as typeof import('../src/index.js');
}

const SETUPS: Record<string, () => Promise<Setup>> = {
  none: async () => ({ delivered: async (thrown) => ({ thrown, stored: 0, note: 'nothing recorded' }) }),

  elmah: async () => elmahSetup({}),

  'elmah-bare': async () => elmahSetup({ breadcrumbs: false, sourceContext: false }),

  'elmah-inprocess': async () => elmahSetup({ worker: false }),

  'elmah-inprocess-timer': async () => elmahSetup({ worker: false, flushIntervalMs: 100 }),

  'elmah-http': async () => {
    // The collector runs in its own process (express-elmah serve); the app ships to it over loopback HTTP.
    const { spawn } = await import('node:child_process');
    const { errorLogger } = pkg();
    const { url, key } = await sqliteWithKey();
    // The children run from a bundle elsewhere, so the path is taken from the project folder.
    const cli = join(process.cwd(), 'src', 'cli', 'main.ts');
    const collectorProc = spawn(process.execPath, ['--import', 'tsx', cli, 'serve', '--port', '0', '--store', url, '--rate-limit', '0'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const collectorUrl = await new Promise<string>((resolve, reject) => {
      let out = '';
      collectorProc.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /listening on (http:\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      collectorProc.once('exit', (code) => reject(new Error(`collector exited with ${code}`)));
    });
    const logger = errorLogger({ store: collectorUrl, key });
    return loggerSetup(logger, url, "rows in the collector's SQLite store", async () => {
      const exited = new Promise((r) => collectorProc.once('exit', r));
      collectorProc.kill('SIGTERM');
      await exited;
    });
  },

  sentry: async () => {
    // Sentry must be initialised before express is loaded, so that its instrumentation applies.
    const Sentry = await import('@sentry/node');
    Sentry.init({ dsn: process.env.BENCH_SENTRY_DSN, tracesSampleRate: 0 });
    return {
      after: (app) => Sentry.setupExpressErrorHandler(app),
      flush: async () => void (await Sentry.flush(30_000)),
      delivered: async (thrown) => {
        await Sentry.flush(30_000);
        const res = await fetch(`${process.env.BENCH_STUB_URL}/count`);
        const { envelopes, events } = (await res.json()) as { envelopes: number; events: number };
        return { thrown, stored: events, note: `events in ${envelopes} envelopes received by the stub` };
      },
    };
  },

  storm: async () => {
    const { errorLogger } = pkg();
    const { MemoryStore, createKey } = pkg();
    // Appends always fail; tallies are summed and not kept, so that the child's memory is the logger's own (a
    // store in the app's process would otherwise hold every counted group: the storm's errors group by title,
    // since its frames are not the app's, and each title is unique).
    let tallied = 0;
    const seenTallies = new Set<string>();
    class FailingStore extends MemoryStore {
      override async append(): Promise<never> {
        throw new Error('the store always fails');
      }
      override async tally(tallies: Parameters<InstanceType<typeof MemoryStore>['tally']>[0]) {
        return tallies.map((t) => {
          if (seenTallies.has(t.id)) return { id: t.id, status: 'duplicate' as const };
          if (seenTallies.size > 100_000) seenTallies.clear();
          seenTallies.add(t.id);
          tallied += t.count;
          return { id: t.id, status: 'created' as const };
        });
      }
    }
    const store = new FailingStore();
    const { key, record } = createKey({ name: 'storm' });
    await store.putKey(record);
    let reports = 0;
    const logger = errorLogger({ store, key, onError: () => void reports++ });
    await logger.ready;
    return {
      after: (app) => app.use(logger),
      delivered: async (thrown) => {
        const during = logger.stats();
        await logger.close(5000);
        const stats = logger.stats();
        return {
          thrown,
          stored: 0,
          groupSum: tallied,
          stats,
          note: `at the end of the storm: queued ${during.queued}, counted ${during.counted}, lost ${during.lost}; onError heard ${reports} times`,
        };
      },
    };
  },
};

async function child(name: string): Promise<void> {
  const setup = await SETUPS[name]!();
  const { default: express } = await import('express');
  const app = express();
  let thrown = 0;
  setup.before?.(app);
  app.get('/ok', (_req, res) => {
    res.type('text').send('ok');
  });
  app.get('/fail', () => {
    thrown++;
    throw new Error(`Order ${thrown}-${Math.random().toString(36).slice(2)} could not be saved`);
  });
  setup.after?.(app);
  app.use(function plainErrorHandler(_err: unknown, _req: Request, res: Response, _next: NextFunction) {
    res.status(500).type('text').send('failed');
  });
  let rssBase = process.memoryUsage().rss;
  let heapBase = process.memoryUsage().heapUsed;
  let rssPeak = rssBase;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 100);
  const server = app.listen(0, '127.0.0.1', () => {
    process.send!({ port: (server.address() as { port: number }).port });
  });
  process.on('message', (msg: { cmd: string }) => {
    if (msg.cmd === 'baseline') {
      (globalThis as { gc?: () => void }).gc?.();
      heapBase = process.memoryUsage().heapUsed;
      rssBase = process.memoryUsage().rss;
      rssPeak = rssBase;
      process.send!({ ok: true });
    }
    if (msg.cmd === 'flush') {
      void (setup.flush?.() ?? Promise.resolve()).then(() => process.send!({ ok: true }));
    }
    if (msg.cmd === 'report') {
      void setup.delivered(thrown).then((d) => {
        clearInterval(sampler);
        const gc = (globalThis as { gc?: () => void }).gc;
        if (gc) {
          gc();
          d.heapAfterGcMb = process.memoryUsage().heapUsed / 2 ** 20;
          d.heapBaseMb = heapBase / 2 ** 20;
          d.rssAfterGcMb = process.memoryUsage().rss / 2 ** 20;
        }
        process.send!({ ...d, rssBaseMb: rssBase / 2 ** 20, rssPeakMb: rssPeak / 2 ** 20 } satisfies Delivered);
        server.close();
        setTimeout(() => process.exit(0), 100).unref();
      });
    }
  });
}

// ---------------------------------------------------------------- parent side

function sentryStub(): Promise<{ server: Server; url: string; reset(): void }> {
  let envelopes = 0;
  let events = 0;
  const server = createServer((req, res) => {
    if (req.url === '/count') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ envelopes, events }));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      envelopes++;
      // Envelope: a header line, then item header / payload pairs; count event items.
      for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
        if (line.length > 300 || !line.includes('"event"')) continue;
        try {
          if ((JSON.parse(line) as { type?: string }).type === 'event') events++;
        } catch {
          // Not an item header.
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      resolve({ server, url: `http://127.0.0.1:${port}`, reset: () => ((envelopes = 0), (events = 0)) });
    });
  });
}

/**
 * The children run a bundle of this file, with plain node: the app and express-elmah then run as compiled
 * JavaScript, as in production. (Under tsx every error's stack is source-mapped, which costs several times
 * what the rest of the capture does, and would distort the comparison.)
 */
async function bundle(dir: string): Promise<string> {
  const esbuild = await import('esbuild');
  // The package, as published (a bundle of src/index.ts), where `require('express-elmah')` finds it.
  const pkgDir = join(dir, 'node_modules', 'express-elmah');
  mkdirSync(join(pkgDir, 'dist'), { recursive: true });
  writeFileSync(join(pkgDir, 'package.json'), JSON.stringify({ name: 'express-elmah', main: 'dist/index.cjs' }));
  const external = ['express', 'better-sqlite3', 'pg', 'ejs', 'helmet', 'commander'];
  const bundle = (entry: string[], out: string): Promise<unknown> =>
    esbuild.build({
      entryPoints: [join(process.cwd(), ...entry)],
      outfile: join(pkgDir, 'dist', out),
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      logLevel: 'error',
      external,
    });
  await bundle(['src', 'index.ts'], 'index.cjs');
  // The store worker thread's own entry, beside the library as tsup builds it.
  await bundle(['src', 'client', 'worker-entry.ts'], 'worker.cjs');
  const outfile = join(dir, 'capture-bench.cjs');
  await esbuild.build({
    entryPoints: [__filename],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    logLevel: 'error',
    external: ['express', 'express-elmah', '@sentry/node', 'better-sqlite3', 'pg', 'autocannon', 'esbuild', 'tsx'],
  });
  return outfile;
}

let childScript = '';

function startChild(name: string, env: Record<string, string>): Promise<{ proc: ChildProcess; port: number }> {
  const proc = fork(childScript, ['--child', name], {
    // --expose-gc lets the storm tell memory that is held (after a collection) from memory not yet collected.
    execArgv: name === 'storm' ? ['--expose-gc'] : [],
    cwd: process.cwd(),
    env: { ...process.env, ...env, BENCH_VARIANT: name },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    proc.once('message', (m: { port: number }) => resolve({ proc, port: m.port }));
    proc.once('exit', (code) => reject(new Error(`variant ${name} exited with ${code}`)));
  });
}

function ask<T>(proc: ChildProcess, cmd: string): Promise<T> {
  return new Promise((resolve) => {
    proc.once('message', (m: T) => resolve(m));
    proc.send({ cmd });
  });
}

async function load(port: number, path: string, seconds: number): Promise<autocannon.Result> {
  return autocannon({ url: `http://127.0.0.1:${port}${path}`, connections: CONNECTIONS, duration: seconds });
}

interface Row {
  variant: Variant;
  fail: number;
  ok: number;
  delivered: Delivered;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(process.cwd(), 'node_modules', '.elmah-bench-capture-'));
  childScript = await bundle(dir);
  const stub = await sentryStub();
  const env = { BENCH_DIR: dir, BENCH_SENTRY_DSN: `http://public@${stub.url.slice('http://'.length)}/1`, BENCH_STUB_URL: stub.url };
  console.log(
    `bench:capture — ${cpus().length} cores, Node ${process.version}; per variant and route: ${WARMUP} s warm-up, then ${SECONDS} s in ${ROUNDS} slices taken in turns; ${CONNECTIONS} connections; load average at the start: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(', ')}`,
  );
  const rows: Row[] = [];
  try {
    // Every variant's process runs for the whole comparison and is measured in slices, in turns (the
    // order rotating every round), so that the shared machine's changing load falls on all of them alike.
    // After each slice of the failing route the variant finishes its writes (not timed), so that its
    // backlog does not run into the next variant's slice.
    const chosen = VARIANTS.filter((v) => !ONLY || ONLY.includes(v.name));
    const running: {
      variant: Variant;
      proc: ChildProcess;
      port: number;
      requests: Record<string, number>;
      seconds: Record<string, number>;
    }[] = [];
    for (const variant of chosen) {
      const { proc, port } = await startChild(variant.name, env);
      running.push({ variant, proc, port, requests: { '/fail': 0, '/ok': 0 }, seconds: { '/fail': 0, '/ok': 0 } });
    }
    const slice = SECONDS / ROUNDS;
    for (const path of ['/fail', '/ok']) {
      for (const r of running) {
        await load(r.port, path, WARMUP);
        await ask(r.proc, 'flush');
      }
      for (let round = 0; round < ROUNDS; round++) {
        const order = running.map((_, i) => running[(i + round) % running.length]!);
        for (const r of order) {
          const result = await load(r.port, path, slice);
          r.requests[path]! += result.requests.total;
          r.seconds[path]! += result.duration;
          if (path === '/fail') await ask(r.proc, 'flush');
        }
      }
    }
    for (const r of running) {
      const delivered = await ask<Delivered>(r.proc, 'report');
      await new Promise((res) => r.proc.once('exit', res));
      const row: Row = {
        variant: r.variant,
        fail: r.requests['/fail']! / r.seconds['/fail']!,
        ok: r.requests['/ok']! / r.seconds['/ok']!,
        delivered,
      };
      rows.push(row);
      console.log(
        `  ${r.variant.name}: fail ${row.fail.toFixed(0)} req/s, ok ${row.ok.toFixed(0)} req/s; stored ${delivered.stored}/${delivered.thrown}`,
      );
    }
    const base = rows.find((r) => r.variant.name === 'none');
    console.log(
      `\nload average at the end: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(', ')}`,
    );
    console.log(
      '\n| variant | failing route req/s | ratio | succeeding route req/s | ratio | errors thrown | kept in full | counted only | lost | group counts = thrown |',
    );
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
    for (const r of rows) {
      const fr = base ? (r.fail / base.fail).toFixed(3) : '-';
      const or = base ? (r.ok / base.ok).toFixed(3) : '-';
      const d = r.delivered;
      const s = d.stats;
      const kept = s ? s.kept : r.variant.name === 'none' ? '-' : d.stored;
      const counted = s ? s.counted : '-';
      const lost = s ? s.lost : r.variant.name === 'none' ? '-' : d.thrown - d.stored;
      const sums =
        d.groupSum === undefined ? `- (${d.note})` : `${d.groupSum === d.thrown ? 'yes' : 'NO'} (${d.groupSum}; ${d.stored} ${d.note})`;
      console.log(
        `| ${r.variant.label} | ${r.fail.toFixed(0)} | ${fr}x | ${r.ok.toFixed(0)} | ${or}x | ${d.thrown} | ${kept} | ${counted} | ${lost} | ${sums} |`,
      );
    }

    if (STORM_SECONDS > 0 && (!ONLY || ONLY.includes('storm'))) {
      console.log(`\nError storm: ${STORM_SECONDS} s of failures against a store whose appends always fail …`);
      const { proc, port } = await startChild('storm', env);
      await load(port, '/fail', WARMUP);
      await ask(proc, 'baseline');
      const r = await load(port, '/fail', STORM_SECONDS);
      const d = await ask<Delivered>(proc, 'report');
      await new Promise((res) => proc.once('exit', res));
      const s = d.stats!;
      const growth = d.rssPeakMb! - d.rssBaseMb!;
      console.log(
        '| errors thrown | req/s | RSS at start | peak RSS growth | kept in full | counted only | lost | group counts = thrown |',
      );
      console.log('|---:|---:|---:|---:|---:|---:|---:|---|');
      console.log(
        `| ${d.thrown} | ${r.requests.average.toFixed(0)} | ${d.rssBaseMb!.toFixed(1)} MB | ${growth.toFixed(1)} MB | ${s.kept} | ${s.counted} | ${s.lost} | ${d.groupSum === d.thrown ? 'yes' : 'NO'} (${d.groupSum}) |`,
      );
      console.log(d.note);
      if (d.heapAfterGcMb !== undefined)
        console.log(
          `after a full garbage collection: heap used ${d.heapAfterGcMb.toFixed(1)} MB (at start ${d.heapBaseMb!.toFixed(1)} MB), RSS ${d.rssAfterGcMb!.toFixed(1)} MB (RSS at start ${d.rssBaseMb!.toFixed(1)} MB)`,
        );
      console.log(
        `load average at the end: ${loadavg()
          .map((l) => l.toFixed(2))
          .join(', ')}`,
      );
    }
  } finally {
    stub.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') {
  void child(process.argv[3]!);
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
