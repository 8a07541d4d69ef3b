// errorLogger(): the Express error middleware that records every unhandled error and ships it off the
// request path through a LogClient, with a write-only key.
import type { NextFunction, Request, Response } from 'express';
import { openLog, type CheckedWriter } from '../client/open-log.js';
import type { LogWriter } from '../client/types.js';
import { ElmahConfigError, ElmahError } from '../model/errors.js';
import type { KeyInfo } from '../model/keys.js';
import { LOG_NAME_PATTERN, type ErrorMessage, type Severity } from '../model/message.js';
import { looksLikeExpressCall, notCalledError, validateOptions } from '../model/options.js';
import { requirePermission } from '../model/permissions.js';
import { createRedactor } from '../model/redact.js';
import { fitMessage } from './limits.js';
import { CAPTURE_DEFAULTS, ERROR_LOGGER_SCHEMA, type BeforeLogResult, type ErrorLoggerOptions } from './options.js';
import { Shipper, classifyFailure, type Occurrence, type ShipperStats } from './queue.js';
import { buildMessage, claimedStatus, describeError, fingerprintOf, type RecordContext } from './record.js';
import { createSourceReader, findAppRoot } from './source.js';
import { asElmahError, createReporter } from './report.js';
import { installUncaught } from './uncaught.js';

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
  /** Counters: `kept` (stored in full), `counted` (counted only), `lost` (`dropped + failed`), `queued`, `sent` (`kept + counted`); see ShipperStats. */
  stats(): ShipperStats;
}

/** Default batch size when a worker thread writes a SQLite store: an append of 100 stays well under 100 ms at 1M messages. */
const WORKER_BATCH_SIZE = 100;

function isThenable(value: unknown): value is PromiseLike<BeforeLogResult> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

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
  const redactor = createRedactor(options.redact, key);
  const severity: Severity = options.severity ?? 'Error';
  const settings = { ...CAPTURE_DEFAULTS, ...stripUndefined(options) };
  // Anonymous frames are grouped by their line's text, read from the app's own files only.
  const sourceLine = createSourceReader(findAppRoot());

  // A sqlite: store is written from a worker thread (unless `worker: false`); anything else in-process.
  const destination = openLog(options.store, { face: 'errorLogger()', worker: options.worker, timeoutMs: settings.timeoutMs });
  const openClient = (): Promise<CheckedWriter> =>
    // E.g. running from TypeScript sources without a loader for the worker: write in-process instead.
    destination.writer(key, (err) => report(asElmahError(err, 'ERR_ELMAH_STORE_UNAVAILABLE', 'The store worker thread could not start; writing in-process')));

  // Open the client and check the key now, so a bad key shows at startup rather than at the first error.
  // A transient failure (collector or database not up yet) is not final: the shipper asks again later.
  let client: CheckedWriter | undefined;
  const establish = async (): Promise<KeyInfo> => {
    if (destination.kind !== 'client' && (key === undefined || key === '')) {
      throw new ElmahError('ERR_ELMAH_KEY_MISSING', 'errorLogger has no API key, so no error will be recorded.', {
        help: 'Set ELMAH_WRITE_KEY (or the `key` option) to a key with messages_write; `npx express-elmah init` creates one.',
      });
    }
    client ??= await openClient();
    const info = await client.whoami();
    requirePermission(info, 'messages_write', undefined, { help: 'Give errorLogger a key made with `express-elmah keys create --permissions messages_write`.' });
    if (info.permissions.some((p) => p !== 'messages_write')) {
      report(new ElmahError('ERR_ELMAH_KEY_TOO_BROAD', `API key ${info.id} carries ${info.permissions.join(', ')}; errorLogger needs only messages_write.`, {
        help: 'Use a write-only key in the app (`express-elmah keys create --permissions messages_write`), so a leak cannot read the log.',
      }), true);
    }
    return info;
  };
  let checking: Promise<KeyInfo> = establish();
  const ready: Promise<KeyInfo> = checking;
  /** The checked client; after a transient failure the check is made again on the next call. */
  const checkedClient = async (): Promise<LogWriter> => {
    try {
      await checking;
    } catch (err) {
      if (classifyFailure(err) !== 'retry') throw err;
      checking = establish();
      await checking;
    }
    return client!;
  };

  const shipper = new Shipper({
    client: checkedClient,
    report,
    queueSize: settings.queueSize,
    // SQLite pays a fixed cost per commit (FTS merging): the worker gets larger batches to spread it.
    batchSize: options.batchSize ?? (destination.onWorker ? WORKER_BATCH_SIZE : settings.batchSize),
    flushIntervalMs: settings.flushIntervalMs,
    maxRetries: settings.maxRetries,
    maxBackoffMs: settings.maxBackoffMs,
    timeoutMs: settings.timeoutMs,
  });
  // Observed here so an unawaited `ready` never becomes an unhandled rejection; the shipper reports it once.
  ready.catch((err: unknown) => {
    if (classifyFailure(err) === 'retry') {
      report(asElmahError(err, 'ERR_ELMAH_STORE_UNAVAILABLE', 'The store is not reachable yet; errors are queued and sent when it is'));
      return;
    }
    shipper.stop(err);
    // Nothing will be written: release what was opened for it (a store file, a worker thread).
    client = undefined;
    destination.close().catch(() => undefined);
  });

  const context = (sev: Severity, category?: string): RecordContext => ({
    log, severity: sev, redactor, application: options.application, version: options.version, user: options.user, category, sourceLine,
  });

  const pending = new Set<Promise<unknown>>();

  const finish = (original: ErrorMessage, result: BeforeLogResult): string | undefined => {
    if (result === null || result === false) return undefined;
    const edited = typeof result === 'object' && result !== null ? result : original;
    // The scrub runs after beforeLog so that nothing it adds can carry the key out.
    const message = fitMessage(redactor.scrub(edited));
    return shipper.enqueue(message) ? message.id : undefined;
  };

  /**
   * The storm path: what a tally needs, without the request copy and redaction of a full record. The same
   * parts, route and source lines as buildMessage reads, so the occurrence lands in the same group.
   */
  const occurrence = (err: unknown, req: Request | undefined): Occurrence => {
    const parts = describeError(err, redactor);
    return {
      log, fingerprint: fingerprintOf(parts, req, sourceLine), time: Date.now(),
      title: redactor.text(parts.title), type: parts.type, statusCode: parts.statusCode,
    };
  };

  const capture = (err: unknown, req: Request | undefined, sev: Severity, category?: string): string | undefined => {
    try {
      // An occurrence that would only be counted costs no full record; beforeLog still sees every one,
      // since it may drop or regroup it.
      if (!options.beforeLog && shipper.admission() !== 'keep') {
        shipper.count(occurrence(err, req));
        return undefined;
      }
      const message = buildMessage(err, req, context(sev, category));
      if (!options.beforeLog) return finish(message, message);
      let result: BeforeLogResult | Promise<BeforeLogResult>;
      try {
        result = options.beforeLog(message, err, req);
      } catch (hookError) {
        report(asElmahError(hookError, 'ERR_ELMAH_HOOK_FAILED', 'beforeLog threw; the message is logged unedited'));
        return finish(message, message);
      }
      if (!isThenable(result)) return finish(message, result);
      const done = Promise.resolve(result).then(
        (r) => finish(message, r),
        (hookError: unknown) => {
          report(asElmahError(hookError, 'ERR_ELMAH_HOOK_FAILED', 'beforeLog rejected; the message is logged unedited'));
          return finish(message, message);
        },
      );
      pending.add(done);
      void done.finally(() => pending.delete(done));
      return message.id;
    } catch (captureError) {
      report(asElmahError(captureError, 'ERR_ELMAH_DROPPED', 'An error could not be recorded'));
      return undefined;
    }
  };

  const shouldLog = (err: unknown, req: Request): boolean => {
    if (!options.filter) {
      const status = claimedStatus(err);
      return status === undefined || status >= 500;
    }
    try {
      return options.filter(err, req) !== false;
    } catch (filterError) {
      report(asElmahError(filterError, 'ERR_ELMAH_HOOK_FAILED', 'filter threw; the error is logged'));
      return true;
    }
  };

  const logger = function errorLoggerMiddleware(err: unknown, req: Request, _res: Response, next: NextFunction): void {
    try {
      if (shouldLog(err, req)) capture(err, req, severity);
    } catch {
      // capture() reports its own failures; nothing may stop next(err).
    }
    next(err);
  } as ErrorLogger;

  /** Waits up to `ms` for beforeLog hooks still running, so that what they return is queued. */
  const settleHooks = async (ms: number): Promise<void> => {
    if (pending.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...pending]),
        new Promise((resolve) => {
          timer = setTimeout(resolve, ms);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
    }
  };

  const flush = async (ms = 5000): Promise<boolean> => {
    const start = Date.now();
    await settleHooks(ms);
    return shipper.flush(Math.max(0, ms - (Date.now() - start)));
  };

  const uninstall = options.captureUncaught
    ? installUncaught({
        record: (value, origin) => void capture(value, undefined, 'Fatal', origin),
        flush,
        exitFlushMs: settings.exitFlushMs,
      })
    : undefined;

  let closing: Promise<boolean> | undefined;
  const close = (ms = 5000): Promise<boolean> => {
    closing ??= (async () => {
      uninstall?.();
      const start = Date.now();
      await settleHooks(ms);
      // The shipper's own close flushes, and counts what cannot be written in full before the deadline.
      const ok = await shipper.close(Math.max(0, ms - (Date.now() - start)));
      try {
        await checking;
      } catch {
        // Nothing was opened, or it failed to open: close() releases what there is.
      }
      try {
        await destination.close();
      } catch (closeError) {
        report(asElmahError(closeError, 'ERR_ELMAH_STORE_UNAVAILABLE', 'Closing the store failed'));
      }
      return ok;
    })();
    return closing;
  };

  Object.defineProperties(logger, {
    raise: {
      value: function raise(err: unknown, req?: Request): string | undefined {
        return capture(err, req, severity);
      },
    },
    flush: { value: flush },
    close: { value: close },
    ready: { value: ready, enumerable: true },
    stats: { value: () => shipper.stats() },
  });
  return logger;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
