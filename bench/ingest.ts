// Ingest benchmark (npm run bench:ingest): messages/s that a collector stores through POST /v3/messages/:log/_bulk
// into SQLite, on loopback. The collector runs in a child process; the load generator (keep-alive HTTP
// clients posting realistic ~2 KB messages in batches, every title unique) runs in this one, on the same machine.
// The collector also watches its own event loop: the longest delay shows whether any request or store call
// held it up.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import express from 'express';
import { LocalLogClient } from '../src/client/local';
import { collector } from '../src/collector';
import { createKey } from '../src/model/keys';
import { openStore } from '../src/stores/open';
import { BENCH_LOGS, benchBatch } from './fixtures';
import { percentile } from './timing';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 2);
/** Distinct request bodies cycled through; messages carry no id, so the collector stores every one anew. */
const BODIES = 60;

interface Scenario {
  name: string;
  batch: number;
  connections: number;
}

const SCENARIOS: Scenario[] = [
  { name: '_bulk, batches of 100, 4 connections', batch: 100, connections: 4 },
  { name: '_bulk, batches of 100, 1 connection', batch: 100, connections: 1 },
  { name: '_bulk, batches of 100, 16 connections', batch: 100, connections: 16 },
  { name: '_bulk, batches of 10, 4 connections', batch: 10, connections: 4 },
  { name: 'one message per POST, 4 connections', batch: 1, connections: 4 },
];

// ---------------------------------------------------------------- collector side (child process)

async function server(file: string): Promise<void> {
  const store = await openStore(`sqlite:${file}`);
  const app = express();
  // The per-key limit is off: this measures what the collector and the store can take.
  app.use(collector({ store, rateLimit: false }));
  let loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const listener = app.listen(0, '127.0.0.1', () => {
    process.send!({ port: (listener.address() as { port: number }).port });
  });
  process.on('message', (msg: { cmd: string }) => {
    // CPU time is the figure a shared, noisy machine does not distort: the load generator's share is not in it.
    if (msg.cmd === 'cpu') {
      process.send!({ cpu: process.cpuUsage(), loopMaxMs: loop.max / 1e6, loopP99Ms: loop.percentile(99) / 1e6 });
      loop.disable();
      loop = monitorEventLoopDelay({ resolution: 5 });
      loop.enable();
    }
    if (msg.cmd !== 'count') return;
    void store.logs().then(async (logs) => {
      process.send!({ stored: logs.reduce((n, l) => n + l.count, 0) });
      listener.close();
      listener.closeAllConnections();
      await store.close();
      process.exit(0);
    });
  });
}

// ---------------------------------------------------------------- load side

interface Result {
  scenario: Scenario;
  requests: number;
  created: number;
  errors: number;
  seconds: number;
  latencies: number[];
}

function makeBodies(batch: number): { path: string; body: Buffer }[] {
  const out: { path: string; body: Buffer }[] = [];
  for (let b = 0; b < BODIES; b++) {
    const log = BENCH_LOGS[b % BENCH_LOGS.length]!;
    const messages = benchBatch(b * batch, batch, { total: BODIES * batch, uniqueTitles: true }).map(
      ({ id: _id, log: _log, ...rest }) => rest,
    );
    const path = batch === 1 ? `/v3/messages/${log}` : `/v3/messages/${log}/_bulk`;
    out.push({ path, body: Buffer.from(JSON.stringify(batch === 1 ? messages[0] : messages)) });
  }
  return out;
}

function post(agent: http.Agent, port: number, key: string, path: string, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: '127.0.0.1',
      port,
      path,
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': body.length, api_key: key },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Posts batches on `connections` keep-alive connections for `seconds`; counts what the collector created. */
async function drive(port: number, key: string, scenario: Scenario, seconds: number): Promise<Result> {
  const bodies = makeBodies(scenario.batch);
  const agent = new http.Agent({ keepAlive: true, maxSockets: scenario.connections });
  const result: Result = { scenario, requests: 0, created: 0, errors: 0, seconds, latencies: [] };
  const end = Date.now() + seconds * 1000;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (Date.now() < end) {
      const { path, body } = bodies[next++ % bodies.length]!;
      const t = process.hrtime.bigint();
      const { status, text } = await post(agent, port, key, path, body);
      result.latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      result.requests++;
      if (status === 201) result.created++;
      else if (status === 200) result.created += (JSON.parse(text) as { status: string }[]).filter((r) => r.status === 'created').length;
      else result.errors++;
    }
  };
  const started = Date.now();
  await Promise.all(Array.from({ length: scenario.connections }, worker));
  result.seconds = (Date.now() - started) / 1000;
  agent.destroy();
  return result;
}

/** The ceiling without HTTP: LocalLogClient.append (validation + SQLite) in this process, batches of 100. */
async function direct(file: string, seconds: number): Promise<{ created: number; seconds: number; cpuUs: number }> {
  const store = await openStore(`sqlite:${file}`);
  const { key, record } = createKey({ name: 'bench writer', permissions: ['messages_write'] });
  await store.putKey(record);
  const batches = makeBodies(100).map(({ path, body }) => ({
    log: path.split('/')[3]!,
    messages: JSON.parse(body.toString('utf8')) as unknown[],
  }));
  let created = 0;
  let i = 0;
  const cpuBefore = process.cpuUsage();
  const started = Date.now();
  const end = started + seconds * 1000;
  while (Date.now() < end) {
    const { log, messages } = batches[i++ % batches.length]!;
    const results = await new LocalLogClient(store, key, { keyCacheMs: 0 }).append(messages, log);
    created += results.filter((r) => r.status === 'created').length;
  }
  const elapsed = (Date.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  await store.close();
  return { created, seconds: elapsed, cpuUs: (cpu.user + cpu.system) / Math.max(1, created) };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'elmah-bench-ingest-'));
  console.log(
    `bench:ingest — ${cpus().length} cores, Node ${process.version}; ${WARMUP} s warm-up + ${SECONDS} s per scenario; collector in a child process, SQLite store`,
  );
  const rows: { r: Result; stored: number; expected: number; cpuUs: number; loopMaxMs: number; loopP99Ms: number }[] = [];
  try {
    await direct(join(dir, 'direct-warm.db'), WARMUP);
    const ceiling = await direct(join(dir, 'direct.db'), SECONDS);
    const ceilingRate = ceiling.created / ceiling.seconds;
    console.log(`  no HTTP: LocalLogClient.append in one process, batches of 100: ${ceilingRate.toFixed(0)} messages/s`);
    for (const [i, scenario] of SCENARIOS.entries()) {
      const file = join(dir, `ingest-${i}.db`);
      const setup = await openStore(`sqlite:${file}`);
      const { key, record } = createKey({ name: 'bench writer', permissions: ['messages_write'] });
      await setup.putKey(record);
      await setup.close();

      const proc: ChildProcess = fork(__filename, ['--server', file], {
        execArgv: ['--import', 'tsx'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const port = await new Promise<number>((resolve, reject) => {
        proc.once('message', (m: { port: number }) => resolve(m.port));
        proc.once('exit', (code) => reject(new Error(`collector exited with ${code}`)));
      });
      const cpu = (): Promise<{ cpu: NodeJS.CpuUsage; loopMaxMs: number; loopP99Ms: number }> =>
        new Promise((resolve) => {
          proc.once('message', (m: { cpu: NodeJS.CpuUsage; loopMaxMs: number; loopP99Ms: number }) => resolve(m));
          proc.send({ cmd: 'cpu' });
        });
      const warm = await drive(port, key, scenario, WARMUP);
      const before = (await cpu()).cpu;
      const r = await drive(port, key, scenario, SECONDS);
      const { cpu: after, loopMaxMs, loopP99Ms } = await cpu();
      const cpuUs = (after.user - before.user + after.system - before.system) / Math.max(1, r.created);
      const stored = await new Promise<number>((resolve) => {
        proc.once('message', (m: { stored: number }) => resolve(m.stored));
        proc.send({ cmd: 'count' });
      });
      await new Promise((res) => proc.once('exit', res));
      const expected = warm.created + r.created;
      rows.push({ r, stored, expected, cpuUs, loopMaxMs, loopP99Ms });
      console.log(
        `  ${scenario.name}: ${(r.created / r.seconds).toFixed(0)} messages/s (${(r.requests / r.seconds).toFixed(0)} req/s, ${r.errors} errors); stored ${stored}, created ${expected}${stored === expected ? '' : ' MISMATCH'}`,
      );
    }
    console.log(
      '\n| scenario | messages/s | requests/s | p50 ms | p95 ms | collector CPU µs/message | collector event-loop delay p99 / max ms | errors | stored = created |',
    );
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---|');
    for (const { r, stored, expected, cpuUs, loopMaxMs, loopP99Ms } of rows) {
      const sorted = [...r.latencies].sort((a, b) => a - b);
      console.log(
        `| ${r.scenario.name} | ${(r.created / r.seconds).toFixed(0)} | ${(r.requests / r.seconds).toFixed(0)} | ${percentile(sorted, 50).toFixed(1)} | ${percentile(sorted, 95).toFixed(1)} | ${cpuUs.toFixed(0)} | ${loopP99Ms.toFixed(0)} / ${loopMaxMs.toFixed(0)} | ${r.errors} | ${stored === expected ? 'yes' : `NO (${stored} of ${expected})`} |`,
      );
    }
    const main = rows[0]!;
    const rate = main.r.created / main.r.seconds;
    console.log(
      `| (no HTTP) LocalLogClient.append, batches of 100, same store | ${ceilingRate.toFixed(0)} | - | - | - | ${ceiling.cpuUs.toFixed(0)} | - | - | - |`,
    );
    console.log(
      `\nThe collector over HTTP reaches ${(rate / ceilingRate).toFixed(2)}x of the in-process ceiling (validation + SQLite), with the load generator on the same cores.`,
    );
    console.log(
      `On one otherwise idle core, ${main.cpuUs.toFixed(0)} µs of collector CPU per message would allow about ${(1e6 / main.cpuUs).toFixed(0)} messages/s.`,
    );
    console.log(
      `\nGoal: >= 25,000 messages/s with batches of 100 — ${rate >= 25_000 ? 'met' : 'NOT met'} (${rate.toFixed(0)} messages/s).`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--server') {
  void server(process.argv[3]!);
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
