// The logger's writer: opens its log through openLog(), checks the key at start-up (it must carry
// messages_write; one that carries more is reported once), and gives the shipper the narrow LogWriter it
// writes through. A store or collector that is not reachable yet is opened again when the shipper next asks.
import { openLog, type CheckedWriter, type OpenedLog, type StoreOption } from '../client/open-log.js';
import { missingKeyHelp, withStoreNamed } from '../client/startup-help.js';
import type { LogWriter } from '../client/types.js';
import { ElmahError } from '../model/errors.js';
import type { KeyInfo } from '../model/keys.js';
import { requirePermission } from '../model/permissions.js';
import { classifyFailure } from './queue.js';
import { asElmahError, type Report } from './report.js';

/** What a capture writer needs. */
export interface CaptureWriterOptions {
  /** The `store` option: a store URL, a Store, a collector URL or a LogClient; default ELMAH_STORE. */
  store?: StoreOption | undefined;
  /** The API key (ignored when `store` is a LogClient). */
  key?: string | undefined;
  /** The `worker` option of {@link openLog}. */
  worker?: boolean | undefined;
  /** Request timeout of a collector, ms. */
  timeoutMs?: number | undefined;
  report: Report;
  /** Hears a final refusal (a bad key, a key without messages_write): nothing will be written. */
  onRefused?: ((err: unknown) => void) | undefined;
}

/** Opens the log and checks the key now, so that a bad key shows at start-up rather than at the first error. */
export class CaptureWriter {
  /** Resolves with the key's public info once the log is open and the key may write; rejects on a bad key or store. */
  readonly ready: Promise<KeyInfo>;
  /** True when messages are written from a worker thread. */
  readonly onWorker: boolean;
  private readonly log: OpenedLog;
  private checking: Promise<KeyInfo>;
  private opened: CheckedWriter | undefined;

  /** Throws ERR_ELMAH_OPTION_TYPE for a `store` that is no store option; everything else shows in `ready`. */
  constructor(private readonly options: CaptureWriterOptions) {
    // A sqlite: store is written from a worker thread (unless `worker: false`); anything else in-process.
    this.log = openLog(options.store, { face: 'errorLogger()', worker: options.worker, timeoutMs: options.timeoutMs });
    this.onWorker = this.log.onWorker;
    this.checking = this.establish();
    this.ready = this.checking;
    // Observed here so an unawaited `ready` never becomes an unhandled rejection; the shipper reports a refusal once.
    this.ready.catch((err: unknown) => {
      if (classifyFailure(err) === 'retry') {
        options.report(
          asElmahError(err, 'ERR_ELMAH_STORE_UNAVAILABLE', 'The store is not reachable yet; errors are queued and sent when it is'),
        );
        return;
      }
      options.onRefused?.(err);
      // Nothing will be written: release what was opened for it (a store file, a worker thread).
      this.opened = undefined;
      this.log.close().catch(() => undefined);
    });
  }

  /** The checked writer; after a transient failure the log is opened and the key checked again. */
  async writer(): Promise<LogWriter> {
    try {
      await this.checking;
    } catch (err) {
      if (classifyFailure(err) !== 'retry') throw err;
      this.checking = this.establish();
      await this.checking;
    }
    return this.opened!;
  }

  /** Waits for a check under way, then closes what the writer opened (never a Store or LogClient passed in). */
  async close(): Promise<void> {
    try {
      await this.checking;
    } catch {
      // Nothing was opened, or it failed to open: close() releases what there is.
    }
    try {
      await this.log.close();
    } catch (closeError) {
      this.options.report(asElmahError(closeError, 'ERR_ELMAH_STORE_UNAVAILABLE', 'Closing the store failed'));
    }
  }

  private async establish(): Promise<KeyInfo> {
    const { key, report } = this.options;
    if (this.log.kind !== 'client' && (key === undefined || key === '')) {
      throw new ElmahError('ERR_ELMAH_KEY_MISSING', 'errorLogger has no API key, so no error will be recorded.', {
        help: missingKeyHelp(
          'ELMAH_WRITE_KEY',
          'Set ELMAH_WRITE_KEY (or the `key` option) to a key with messages_write; `npx express-elmah init --dotenv .env` creates one.',
        ),
      });
    }
    // E.g. running from TypeScript sources without a loader for the worker: write in-process instead.
    this.opened ??= await this.log.writer(key, (err) =>
      report(asElmahError(err, 'ERR_ELMAH_STORE_UNAVAILABLE', 'The store worker thread could not start; writing in-process')),
    );
    const opened = this.opened;
    const info = await opened.whoami().catch((err: unknown) => {
      throw withStoreNamed(err, opened as { describe?(): { location: string } });
    });
    requirePermission(info, 'messages_write', undefined, {
      help: 'Give errorLogger a key made with `express-elmah keys create --permissions messages_write`.',
    });
    if (info.permissions.some((p) => p !== 'messages_write')) {
      report(
        new ElmahError(
          'ERR_ELMAH_KEY_TOO_BROAD',
          `API key ${info.id} carries ${info.permissions.join(', ')}; errorLogger needs only messages_write.`,
          {
            help: 'Use a write-only key in the app (`express-elmah keys create --permissions messages_write`), so a leak cannot read the log.',
          },
        ),
        true,
      );
    }
    return info;
  }
}
