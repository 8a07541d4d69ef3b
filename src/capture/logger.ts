// errorLogger(): the Express error middleware that records every unhandled error and ships it off the
// request path through a LogClient, with a write-only key. It wires three parts: the recorder (a thrown
// value and its request become an occurrence), the shipper (queue.ts) and the writer (the checked log).
import type { NextFunction, Request, Response } from 'express';
import { isLogClient } from '../client/types.js';
import { createRedactor } from '../model/redact.js';
import { ElmahConfigError, type ElmahError } from '../model/errors.js';
import type { KeyInfo } from '../model/keys.js';
import { LOG_NAME_PATTERN } from '../model/message.js';
import { looksLikeExpressCall, notCalledError, validateOptions } from '../model/options.js';
import { Notifier } from '../notify/notifier.js';
import { notifyConfig } from '../notify/options.js';
import type { NotifierStats } from '../notify/types.js';
import { CAPTURE_DEFAULTS, ERROR_LOGGER_SCHEMA, type ErrorLoggerOptions } from './options.js';
import { Shipper, type ShipperOptions, type ShipperStats } from './queue.js';
import { installBreadcrumbs } from './breadcrumbs.js';
import { Recorder, SOURCE_CONTEXT_DEFAULTS } from './recorder.js';
import { createReporter } from './report.js';
import { installUncaught } from './uncaught.js';
import { CaptureWriter } from './writer.js';

/** The middleware errorLogger() returns, with its controls. */
export interface ErrorLogger {
  /** The Express error middleware: records the error, then `next(err)`. Never touches the response. */
  (err: unknown, req: Request, res: Response, next: NextFunction): void;
  /** Records a handled error (ignores `filter`); returns the message id, or undefined when it was not queued in full (counted only, or dropped). */
  raise(err: unknown, req?: Request): string | undefined;
  /** Ships everything queued and counted; resolves true when done, false when `ms` (default 5000) passes first. Never rejects. */
  flush(ms?: number): Promise<boolean>;
  /** Flushes for up to `ms`, then releases timers, handlers and the client it opened. Resolves true when all was shipped. */
  close(ms?: number): Promise<boolean>;
  /** Resolves with the key's public info once the store is open and the key may write; rejects on a bad key or store. */
  readonly ready: Promise<KeyInfo>;
  /** Counters: `kept` (stored in full), `counted` (counted only), `lost` (`dropped + failed`), `queued`, `sent` (`kept + counted`); see ShipperStats. With alerts, `alerts` counts them. */
  stats(): ShipperStats & { alerts?: NotifierStats };
}

/** Default batch size when a worker thread writes a SQLite store: an append of 100 stays well under 100 ms at 1M messages. */
const WORKER_BATCH_SIZE = 100;

/**
 * Creates the error-logging middleware. Add it with `app.use(errorLogger())` after the routes.
 * Options are checked now: an unknown option or a wrong type throws an ElmahConfigError.
 */
export function errorLogger(options?: ErrorLoggerOptions): ErrorLogger;
export function errorLogger(...args: unknown[]): ErrorLogger | undefined {
  if (looksLikeExpressCall(args)) {
    // app.use(errorLogger) without the call: Express calls the factory with (req, res, next).
    const next = args[2];
    if (typeof next === 'function') (next as NextFunction)(notCalledError('errorLogger', 'app.use(errorLogger())'));
    return undefined;
  }
  const options = validateOptions<ErrorLoggerOptions>('errorLogger', args[0], ERROR_LOGGER_SCHEMA);
  const log = options.log ?? process.env.ELMAH_LOG ?? 'default';
  if (!LOG_NAME_PATTERN.test(log)) {
    throw new ElmahConfigError('ERR_ELMAH_LOG_NAME', `errorLogger(): ELMAH_LOG "${log.slice(0, 120)}" is not a valid log name.`, {
      help: 'Use 1-100 letters, digits, . _ - (e.g. "billing-api").',
    });
  }
  const key = options.key ?? process.env.ELMAH_WRITE_KEY ?? undefined;
  const report = createReporter(options.onError);
  const notifier = notifierOf(options, report);
  const writer = new CaptureWriter({
    store: options.store,
    key,
    worker: options.worker,
    timeoutMs: options.timeoutMs ?? CAPTURE_DEFAULTS.timeoutMs,
    report,
    onRefused: (err) => shipper.stop(err),
  });
  const shipper = new Shipper({
    client: () => writer.writer(),
    report,
    ...shipperSettings(options, writer.onWorker),
    onStored: notifier && ((messages, results) => notifier.observe(messages, results)),
    onTallied: notifier && ((tallies, results) => notifier.observeTallies(tallies, results)),
  });
  const recorder = new Recorder({
    log,
    key,
    severity: options.severity ?? 'Error',
    sink: shipper,
    report,
    filter: options.filter,
    beforeLog: options.beforeLog,
    redact: options.redact,
    application: options.application,
    version: options.version,
    user: options.user,
    sourceContext:
      options.sourceContext === false
        ? false
        : { ...SOURCE_CONTEXT_DEFAULTS, ...(typeof options.sourceContext === 'object' ? options.sourceContext : {}) },
    breadcrumbs: options.breadcrumbs !== false,
  });
  const uninstallBreadcrumbs =
    options.breadcrumbs === false
      ? undefined
      : installBreadcrumbs(typeof options.breadcrumbs === 'object' ? options.breadcrumbs : {}, createRedactor(options.redact, key).key);

  const flush = async (ms = 5000): Promise<boolean> => {
    const deadline = Date.now() + ms;
    const shipped = await shipper.flush(await recorder.settle(ms));
    return notifier ? (await notifier.flush(Math.max(0, deadline - Date.now()))) && shipped : shipped;
  };
  const uninstall = options.captureUncaught
    ? installUncaught({
        record: (value, origin) => void recorder.record(value, undefined, 'Fatal', origin),
        flush,
        exitFlushMs: options.exitFlushMs ?? CAPTURE_DEFAULTS.exitFlushMs,
      })
    : undefined;
  let closing: Promise<boolean> | undefined;
  const close = (ms = 5000): Promise<boolean> =>
    (closing ??= (async () => {
      uninstall?.();
      const deadline = Date.now() + ms;
      uninstallBreadcrumbs?.();
      // The shipper's own close flushes, and counts what cannot be written in full before the deadline.
      const ok = await shipper.close(await recorder.settle(ms));
      await writer.close();
      // Alerts of what was just written go out within what is left of the deadline.
      const alerted = notifier ? await notifier.close(Math.max(0, deadline - Date.now())) : true;
      return ok && alerted;
    })());

  const logger = function errorLoggerMiddleware(err: unknown, req: Request, _res: Response, next: NextFunction): void {
    try {
      if (recorder.shouldLog(err, req)) recorder.record(err, req);
    } catch {
      // The recorder reports its own failures; nothing may stop next(err).
    }
    next(err);
  } as ErrorLogger;
  Object.defineProperties(logger, {
    raise: {
      value: function raise(err: unknown, req?: Request): string | undefined {
        return recorder.record(err, req);
      },
    },
    flush: { value: flush },
    close: { value: close },
    ready: { value: writer.ready, enumerable: true },
    stats: { value: () => (notifier ? { ...shipper.stats(), alerts: notifier.stats() } : shipper.stats()) },
  });
  return logger;
}

/**
 * The logger's alerts, if any. A logger that ships to a collector sends none: the collector hears every app's
 * appends and is the one that alerts, so a `notify` option there is a mistake and the environment is ignored.
 */
function notifierOf(options: ErrorLoggerOptions, report: (error: ElmahError) => void): Notifier | undefined {
  const store = options.store ?? process.env.ELMAH_STORE;
  // A collector URL, or a RemoteLogClient passed as the store.
  const toCollector =
    typeof store === 'string' ? /^https?:\/\//i.test(store.trim()) : isLogClient(store) && (store as { kind?: string }).kind === 'remote';
  if (toCollector) {
    if (options.notify) {
      throw new ElmahConfigError(
        'ERR_ELMAH_NOTIFY_CONFIG',
        'errorLogger(): notify is set, but the logger ships to a collector, which sends the alerts.',
        {
          help: 'Configure notify on the collector (collector({ notify }) or `express-elmah serve` with ELMAH_SMTP_URL / --mail-to), and remove it here.',
        },
      );
    }
    return undefined;
  }
  const config = notifyConfig('errorLogger()', options.notify);
  return config && new Notifier(config, { report });
}

/** The shipper's settings: the options, else their defaults. */
function shipperSettings(options: ErrorLoggerOptions, onWorker: boolean): Omit<ShipperOptions, 'client' | 'report'> {
  const d = CAPTURE_DEFAULTS;
  return {
    queueSize: options.queueSize ?? d.queueSize,
    // SQLite pays a fixed cost per commit (FTS merging): the worker gets larger batches to spread it.
    batchSize: options.batchSize ?? (onWorker ? WORKER_BATCH_SIZE : d.batchSize),
    flushIntervalMs: options.flushIntervalMs ?? d.flushIntervalMs,
    maxRetries: options.maxRetries ?? d.maxRetries,
    maxBackoffMs: options.maxBackoffMs ?? d.maxBackoffMs,
    timeoutMs: options.timeoutMs ?? d.timeoutMs,
  };
}
