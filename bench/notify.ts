// Alerts benchmark (npm run bench:notify). Two questions:
// 1. What does hearing an append cost? Notifier.observe() per message, with the default rules on messages
//    that make no group (the usual case), on messages that each make a new group (a storm: alerts are
//    queued, bounded, then dropped), and with an `every` rule filtered by a search query plus a spike rule.
// 2. Does a dead channel slow the app? req/s and p99 latency of an Express app whose every request throws a
//    new error (a new group each, so each raises an alert), without alerts, with mail to an SMTP server that
//    accepts connections and never answers, and with a webhook that always answers 500. Everything runs in
//    this one process (app, logger, receivers and autocannon), so compare the variants with each other.
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import express, { type NextFunction, type Request, type Response } from 'express';
import { errorLogger } from '../src/capture/logger';
import type { ErrorLoggerOptions } from '../src/capture/options';
import type { ClientAppendResult } from '../src/client/types';
import { createKey } from '../src/model/keys';
import { Notifier } from '../src/notify/notifier';
import { resolveNotify, type NotifyOptions } from '../src/notify/options';
import { MemoryStore } from '../src/stores/memory';
import { ms } from './timing';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const MESSAGES = 100_000;

function messages(n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `m${i}`,
    log: 'shop',
    fingerprint: `fp${i % 500}`,
    title: `Cannot read properties of undefined (reading 'total') in checkout ${i}`,
    type: i % 2 ? 'TypeError' : 'RangeError',
    detail: `TypeError: boom\n${'    at handler (/app/src/routes/checkout.js:42:13)\n'.repeat(30)}`,
    url: `/checkout/${i}?step=pay`,
    method: 'POST',
    statusCode: 500,
    severity: 'Error',
    dateTime: new Date().toISOString(),
  }));
}

/** ns per message of observe() over MESSAGES messages in batches of 100. */
function observeCost(options: NotifyOptions, group: 'new' | undefined): { nsPerMessage: number; stats: unknown } {
  const config = resolveNotify('bench', { handler: () => undefined, digestSeconds: 60, ...options }, {});
  const notifier = new Notifier(config, { report: () => undefined });
  const batch = messages(100);
  const results: ClientAppendResult[] = batch.map((m) =>
    group ? { id: m.id as string, status: 'created', group } : { id: m.id as string, status: 'created' },
  );
  // Warm up, then measure.
  for (let i = 0; i < 100; i++) notifier.observe(batch, results);
  const start = process.hrtime.bigint();
  for (let i = 0; i < MESSAGES / 100; i++) notifier.observe(batch, results);
  const elapsed = ms(start);
  const stats = notifier.stats();
  void notifier.close(0);
  return { nsPerMessage: Math.round((elapsed * 1e6) / MESSAGES), stats };
}

/** An SMTP "server" that takes connections and never says a word (a hung mail relay). */
async function hungSmtp(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

async function failingWebhook(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

async function load(name: string, notify: NotifyOptions | false): Promise<Record<string, unknown>> {
  const store = new MemoryStore();
  const { key, record } = createKey({ name: 'bench', permissions: ['messages_write'] });
  await store.putKey(record);
  let n = 0;
  const options: ErrorLoggerOptions = {
    store,
    key,
    notify,
    onError: () => undefined,
    // A new group per request: each error raises an alert.
    beforeLog: (m) => ({ ...m, fingerprint: `bench-${n++}` }),
  };
  const logger = errorLogger(options);
  await logger.ready;
  const app = express();
  app.get('/fail', function failRoute() {
    throw new Error('checkout failed');
  });
  app.use(logger);
  app.use(function quiet(_err: unknown, _req: Request, res: Response, _next: NextFunction) {
    res.status(500).end();
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  const result = await autocannon({ url: `http://127.0.0.1:${port}/fail`, connections: CONNECTIONS, duration: SECONDS });
  await logger.flush(2000);
  const stats = logger.stats();
  server.close();
  await logger.close(500);
  return {
    variant: name,
    'req/s': Math.round(result.requests.average),
    'p99 ms': result.latency.p99,
    requests: result.requests.total,
    kept: stats.kept,
    counted: stats.counted,
    lost: stats.lost,
    alerts: stats.alerts
      ? `${stats.alerts.alerts} raised, ${stats.alerts.sent} sent, ${stats.alerts.dropped} dropped, ${stats.alerts.failed} failed`
      : '—',
  };
}

async function main(): Promise<void> {
  console.log(`Notifier.observe(), ${MESSAGES.toLocaleString('en-US')} messages in batches of 100:`);
  console.table(
    [
      { case: 'default rules, no group event', ...observeCost({}, undefined) },
      { case: 'default rules, every message a new group', ...observeCost({}, 'new') },
      {
        case: "'every' + query filter, spike rule",
        ...observeCost(
          {
            rules: [
              { on: 'every', query: 'type:TypeError AND checkout' },
              { on: 'spike', count: 50, minutes: 5 },
            ],
          },
          undefined,
        ),
      },
    ].map(({ stats, ...row }) => ({ ...row, stats: JSON.stringify(stats) })),
  );

  const smtp = await hungSmtp();
  const hook = await failingWebhook();
  const fast = { maxAttempts: 3, backoffMs: 100, timeoutMs: 2000 };
  const rows = [];
  rows.push(await load('no alerts', false));
  rows.push(await load('mail to a hung SMTP server', { mail: { url: `smtp://127.0.0.1:${smtp.port}`, to: 'ops@example.com' }, ...fast }));
  rows.push(await load('webhook answering 500', { webhook: { url: hook.url }, ...fast }));
  await smtp.close();
  await hook.close();
  console.log(`\nAn app whose every request makes a new group, ${SECONDS} s each, ${CONNECTIONS} connections:`);
  console.table(rows);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
