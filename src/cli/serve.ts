// `express-elmah serve`: a standalone collector (and the viewer, given a read key) with graceful shutdown.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Option, type Command } from 'commander';
import express, { type NextFunction, type Request, type Response } from 'express';
import { collector } from '../collector/collector.js';
import type { RateLimitOptions } from '../collector/rate-limit.js';
import { ElmahError } from '../model/errors.js';
import type { NotifyOptions } from '../notify/options.js';
import { openStore } from '../stores/open.js';
import type { Store } from '../stores/types.js';
import { isCollectorUrl, redactUrl } from '../stores/url.js';
import { storeUrlFor } from './context.js';
import { addNotifyOptions, describeNotify, notifyOptionOf, type NotifyFlags } from './notify.js';
import { usageError, type CliIo } from './output.js';

/** Options of {@link startServer}. */
export interface ServeOptions {
  /** Port to listen on; 0 picks a free one. Default 4000. */
  port?: number;
  /** Address to listen on. Default 127.0.0.1 (this machine only). */
  host?: string;
  /** Store URL or an open Store. A URL is opened here and closed on close(). */
  store: string | Store;
  /** API key with `messages_read`: when given, the viewer is served at /elmah.axd. */
  viewerKey?: string | undefined;
  /** Who may use the viewer: loopback requests only, or anyone signed in with a read key. Default: the viewer's ('key' when NODE_ENV=production, else 'local'). */
  viewerAccess?: 'local' | 'key' | undefined;
  /** Per-key rate limit of the collector, or false. */
  rateLimit?: RateLimitOptions | false;
  /** How long close() waits for requests in flight before cutting connections, ms. Default 10,000. */
  graceMs?: number;
  /** Alerts for every app that ships here (the collector's `notify` option). Default: from the environment. */
  notify?: NotifyOptions | false | undefined;
}

/** A running server. */
export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:4000/`. */
  url: string;
  /** Where the viewer is, when it is served. */
  viewerUrl?: string | undefined;
  /** What the store is, safe to print. */
  store: string;
  server: Server;
  /** Stops accepting connections, lets requests in flight finish (up to graceMs), then closes the viewer and the store. */
  close(): Promise<void>;
}

function notFound(req: Request, res: Response, _next: NextFunction): void {
  const err = new ElmahError('ERR_ELMAH_NOT_FOUND', `Nothing at ${req.method} ${req.path}.`, {
    help: 'The collector API is under /v3 (see docs/collector.md); the viewer, when enabled, at /elmah.axd.',
  });
  res.status(404).json(err.toJSON());
}

/** Starts the collector (and the viewer when `viewerKey` is given) on an HTTP server. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const store = typeof options.store === 'string' ? await openStore(options.store) : options.store;
  const ownsStore = typeof options.store === 'string';
  const closers: Array<() => Promise<void>> = [];
  try {
    const app = express();
    app.disable('x-powered-by');
    const api = collector({
      store,
      rateLimit: options.rateLimit ?? {},
      ...(options.notify === undefined ? {} : { notify: options.notify }),
    });
    closers.push(() => api.close());
    app.use(api);
    if (options.viewerKey) {
      const { errorViewer } = await import('../viewer/index.js');
      const viewer = await errorViewer({ store, key: options.viewerKey, access: options.viewerAccess });
      closers.push(() => viewer.close());
      app.use('/elmah.axd', viewer);
    }
    app.use(notFound);

    const server: Server = await new Promise((resolve, reject) => {
      const s = app.listen(options.port ?? 4000, host) as unknown as Server;
      s.once('listening', () => resolve(s));
      s.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          new ElmahError('ERR_ELMAH_LISTEN', `Cannot listen on ${host}:${options.port ?? 4000}: ${err.code ?? err.message}.`, {
            cause: err,
            help: err.code === 'EADDRINUSE' ? 'Pick another --port, or stop what uses this one.' : 'Check --host and --port.',
          }),
        );
      });
    });
    const { port } = server.address() as AddressInfo;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;
    let closing: Promise<void> | undefined;
    return {
      url,
      viewerUrl: options.viewerKey ? `${url}elmah.axd` : undefined,
      store: store.describe(),
      server,
      close(): Promise<void> {
        closing ??= (async () => {
          await new Promise<void>((resolve) => {
            const deadline = setTimeout(() => server.closeAllConnections(), options.graceMs ?? 10_000);
            deadline.unref();
            server.close(() => {
              clearTimeout(deadline);
              resolve();
            });
            // Keep-alive connections with no request in flight would hold close() open.
            server.closeIdleConnections();
          });
          for (const close of closers.reverse()) await close().catch(() => undefined);
          if (ownsStore) await store.close();
        })();
        return closing;
      },
    };
  } catch (err) {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    if (ownsStore) await store.close().catch(() => undefined);
    throw err;
  }
}

interface ServeFlags extends NotifyFlags {
  port: string;
  host: string;
  store?: string;
  viewerKey?: string;
  viewerAccess?: 'local' | 'key';
  rateLimit: string;
}

function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

/** Adds `express-elmah serve` to the program. */
export function registerServe(program: Command): void {
  const command = program
    .command('serve')
    .description('run a standalone collector over HTTP (and the viewer at /elmah.axd with --viewer-key)')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '4000')
    .option('--host <host>', 'address to listen on; 0.0.0.0 opens it to the network', '127.0.0.1')
    .addOption(
      new Option('--store <url>', 'store to use: sqlite:PATH, postgres://… or memory: (default: ELMAH_STORE, else sqlite:.elmah/elmah.db)'),
    )
    .addOption(
      new Option(
        '--viewer-key <key>',
        'API key with messages_read: also serve the viewer at /elmah.axd (default: ELMAH_READ_KEY, which keeps the secret out of the process list; prefer it)',
      ),
    )
    .addOption(
      new Option(
        '--viewer-access <mode>',
        'who may use the viewer: local (this machine) or key (sign in with a read key); default key when NODE_ENV=production, else local',
      ).choices(['local', 'key']),
    )
    .option('--rate-limit <perSecond>', 'requests per second per API key, bursts of twice that (0 turns the limit off)', '100');
  addNotifyOptions(command).action(async function serveAction(flags: ServeFlags): Promise<void> {
    const io = processIo();
    const port = Number(flags.port);
    if (!/^\d{1,5}$/.test(flags.port) || port > 65535)
      throw usageError(`--port needs a port number from 0 to 65535, got "${flags.port}".`, 'Example: --port 4000.');
    const perSecond = Number(flags.rateLimit);
    if (!/^\d+(\.\d+)?$/.test(flags.rateLimit))
      throw usageError(`--rate-limit needs a number, got "${flags.rateLimit}".`, 'Example: --rate-limit 100, or 0 for no limit.');
    const storeUrl = storeUrlFor(flags.store, io);
    if (isCollectorUrl(storeUrl)) {
      throw new ElmahError('ERR_ELMAH_STORE_URL', `"${redactUrl(storeUrl)}" is a collector URL; serve needs a store of its own.`, {
        help: 'Use --store sqlite:PATH, postgres://… or memory:.',
      });
    }
    const viewerKey = flags.viewerKey ?? (io.env.ELMAH_READ_KEY || undefined);
    // Flags over the environment; nothing configured: no alerts.
    const notify = notifyOptionOf(flags, io.env) ?? false;
    const running = await startServer({
      port,
      host: flags.host,
      store: storeUrl,
      viewerKey,
      viewerAccess: flags.viewerAccess,
      rateLimit: perSecond > 0 ? { perSecond, burst: Math.max(1, perSecond * 2) } : false,
      notify,
    });
    io.stdout.write(
      `express-elmah collector listening on ${running.url} (store ${running.store}${running.viewerUrl ? `; viewer at ${running.viewerUrl}` : ''})\n`,
    );
    if (notify) io.stdout.write(`express-elmah collector: alerts by ${describeNotify(notify)}\n`);

    const shutdown = (signal: string): void => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      io.stderr.write(`express-elmah collector: ${signal}, finishing requests in flight and closing the store\n`);
      running.close().then(
        () => {
          process.exitCode = process.exitCode ?? 0;
          // Anything the store or a driver left open must not keep the process alive after a clean stop.
          setTimeout(() => process.exit(), 1000).unref();
        },
        (err: unknown) => {
          io.stderr.write(`express-elmah collector: shutdown failed: ${err instanceof Error ? err.message : String(err)}\n`);
          process.exit(1);
        },
      );
    };
    const onTerm = (): void => shutdown('SIGTERM');
    const onInt = (): void => shutdown('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
}
