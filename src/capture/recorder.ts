// The recorder: turns a thrown value and its request into one occurrence handed to the shipper. It builds the
// record, runs the `filter` and `beforeLog` hooks (a failing hook is reported and the error still logged),
// scrubs and fits the record to the size limits, and queues it; when the queue can only count it, it hands
// over the cheap occurrence a tally needs. It reads the request's fields only, so any request-like object does.
import type { Request } from 'express';
import type { SourceLineReader } from '../model/fingerprint.js';
import type { ErrorMessage, Severity } from '../model/message.js';
import { createRedactor, type Redactor } from '../model/redact.js';
import { fitMessage } from './limits.js';
import type { BeforeLogResult, ErrorLoggerOptions } from './options.js';
import type { Occurrence, Shipper } from './queue.js';
import { buildMessage, claimedStatus, describeError, fingerprintOf } from './record.js';
import { asElmahError, type Report } from './report.js';
import { createSourceReader, findAppRoot } from './source.js';

/** What the recorder hands occurrences to: the {@link Shipper}, or a stand-in in tests. */
export type OccurrenceSink = Pick<Shipper, 'admission' | 'enqueue' | 'count'>;

/** What a recorder needs: the logger's options it applies, and where its occurrences and failures go. */
export interface RecorderOptions extends Pick<ErrorLoggerOptions, 'application' | 'version' | 'user' | 'filter' | 'beforeLog' | 'redact'> {
  /** The log every message goes to. */
  log: string;
  /** Severity of messages from the middleware and `raise()`. */
  severity: Severity;
  /** The logger's own API key: scrubbed from every message, whatever `beforeLog` adds. */
  key?: string | undefined;
  sink: OccurrenceSink;
  report: Report;
  /** Reads the app's source lines for grouping anonymous frames. Default: the app's own files. */
  sourceLine?: SourceLineReader | undefined;
}

function isThenable(value: unknown): value is PromiseLike<BeforeLogResult> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** Records errors into a sink. Never throws: its own failures go to `report`. */
export class Recorder {
  private readonly redactor: Redactor;
  private readonly sourceLine: SourceLineReader;
  /** beforeLog hooks still running. */
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly options: RecorderOptions) {
    this.redactor = createRedactor(options.redact, options.key);
    // Anonymous frames are grouped by their line's text, read from the app's own files only.
    this.sourceLine = options.sourceLine ?? createSourceReader(findAppRoot());
  }

  /** Whether the middleware logs this error: `filter`, else status >= 500 or none. A throwing filter is reported and the error logged. */
  shouldLog(err: unknown, req: Request): boolean {
    const { filter } = this.options;
    if (!filter) {
      const status = claimedStatus(err);
      return status === undefined || status >= 500;
    }
    try {
      return filter(err, req) !== false;
    } catch (filterError) {
      this.options.report(asElmahError(filterError, 'ERR_ELMAH_HOOK_FAILED', 'filter threw; the error is logged'));
      return true;
    }
  }

  /**
   * Records one error (ignoring `filter`). Returns the message id when it is queued in full, or will be once an
   * asynchronous `beforeLog` keeps it; undefined when it was only counted, dropped, or could not be recorded.
   */
  record(err: unknown, req: Request | undefined, severity: Severity = this.options.severity, category?: string): string | undefined {
    const { sink, beforeLog } = this.options;
    try {
      // An occurrence that would only be counted costs no full record; beforeLog still sees every one,
      // since it may drop or regroup it.
      if (!beforeLog && sink.admission() !== 'keep') {
        sink.count(this.occurrence(err, req));
        return undefined;
      }
      const message = buildMessage(err, req, {
        log: this.options.log,
        severity,
        category,
        redactor: this.redactor,
        sourceLine: this.sourceLine,
        application: this.options.application,
        version: this.options.version,
        user: this.options.user,
      });
      if (!beforeLog) return this.finish(message, message);
      let result: BeforeLogResult | Promise<BeforeLogResult>;
      try {
        result = beforeLog(message, err, req);
      } catch (hookError) {
        return this.unedited(message, hookError, 'threw');
      }
      if (!isThenable(result)) return this.finish(message, result);
      const done = Promise.resolve(result).then(
        (edited) => this.finish(message, edited),
        (hookError: unknown) => this.unedited(message, hookError, 'rejected'),
      );
      this.pending.add(done);
      void done.finally(() => this.pending.delete(done));
      return message.id;
    } catch (recordError) {
      this.options.report(asElmahError(recordError, 'ERR_ELMAH_DROPPED', 'An error could not be recorded'));
      return undefined;
    }
  }

  /** Waits up to `ms` for beforeLog hooks still running, so that what they return is queued; resolves with what is left of `ms`. */
  async settle(ms: number): Promise<number> {
    if (this.pending.size === 0) return ms;
    const start = Date.now();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.pending]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, ms);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
    return Math.max(0, ms - (Date.now() - start));
  }

  /** A failed beforeLog: reported, and the message logged as it was built. */
  private unedited(message: ErrorMessage, hookError: unknown, how: 'threw' | 'rejected'): string | undefined {
    this.options.report(asElmahError(hookError, 'ERR_ELMAH_HOOK_FAILED', `beforeLog ${how}; the message is logged unedited`));
    return this.finish(message, message);
  }

  private finish(original: ErrorMessage, result: BeforeLogResult): string | undefined {
    if (result === null || result === false) return undefined;
    const edited = typeof result === 'object' && result !== null ? result : original;
    // The scrub runs after beforeLog so that nothing it adds can carry the key out.
    const message = fitMessage(this.redactor.scrub(edited));
    return this.options.sink.enqueue(message) ? message.id : undefined;
  }

  /**
   * The storm path: what a tally needs, without the request copy and redaction of a full record. The same
   * parts, route and source lines as buildMessage reads, so the occurrence lands in the same group.
   */
  private occurrence(err: unknown, req: Request | undefined): Occurrence {
    const parts = describeError(err, this.redactor);
    return {
      log: this.options.log,
      fingerprint: fingerprintOf(parts, req, this.sourceLine),
      time: Date.now(),
      title: this.redactor.text(parts.title),
      type: parts.type,
      statusCode: parts.statusCode,
    };
  }
}
