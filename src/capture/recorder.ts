// The recorder: turns a thrown value and its request into one occurrence handed to the shipper. It builds the
// record, runs the `filter` and `beforeLog` hooks (a failing hook is reported and the error still logged),
// scrubs and fits the record to the size limits, and queues it; when the queue can only count it, it hands
// over the cheap occurrence a tally needs. It reads the request's fields only, so any request-like object does.
import type { Request } from 'express';
import type { SourceLineReader } from '../model/fingerprint.js';
import { CONTEXT_LIMITS, type ErrorMessage, type Severity, type SourceContext } from '../model/message.js';
import { createRedactor, type Redactor } from '../model/redact.js';
import { fitMessage } from './limits.js';
import type { BeforeLogResult, ErrorLoggerOptions } from './options.js';
import type { Occurrence, Shipper } from './queue.js';
import { buildMessage, claimedStatus, describeError, fingerprintOf, framesStartOf } from './record.js';
import { asElmahError, type Report } from './report.js';
import { parseStack } from '../model/stack.js';
import { currentBreadcrumbs } from './breadcrumbs.js';
import { createSourceReader, findAppRoot, type SourceReader } from './source.js';

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
  /** Reads the app's source lines for grouping anonymous frames. Default: {@link RecorderOptions.sourceReader}. */
  sourceLine?: SourceLineReader | undefined;
  /** Reads the app's source files for the lines around in-app frames. Default: the app's own files. */
  sourceReader?: SourceReader | undefined;
  /** Lines either side of each in-app frame's line to keep (and how many frames), or false for none. Default 3 lines, 5 frames. */
  sourceContext?: { lines: number; frames: number } | false | undefined;
  /** Copy the request's breadcrumbs into its messages. Default false (errorLogger turns it on). */
  breadcrumbs?: boolean | undefined;
}

/** Default lines either side of a frame's line, and frames, of the source context. */
export const SOURCE_CONTEXT_DEFAULTS = { lines: 3, frames: 5 } as const;

/** A frame whose lines are shown: file and line. */
interface SourceFrame {
  file: string;
  line: number;
}

function isThenable(value: unknown): value is PromiseLike<BeforeLogResult> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** Records errors into a sink. Never throws: its own failures go to `report`. */
export class Recorder {
  private readonly redactor: Redactor;
  private readonly sourceLine: SourceLineReader;
  private readonly source: SourceReader;
  /** beforeLog hooks still running. */
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly options: RecorderOptions) {
    this.redactor = createRedactor(options.redact, options.key);
    // Anonymous frames are grouped by their line's text, read from the app's own files only.
    this.source = options.sourceReader ?? createSourceReader(findAppRoot());
    this.sourceLine = options.sourceLine ?? this.source;
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
      // Read now: the request's trail is the one of the code running now.
      const breadcrumbs = this.options.breadcrumbs ? currentBreadcrumbs() : undefined;
      if (breadcrumbs) message.breadcrumbs = breadcrumbs.slice(-CONTEXT_LIMITS.breadcrumbs);
      const frames = this.sourceFrames(message);
      if (frames.every((f) => this.source.known(f.file))) {
        this.attachSource(message, frames);
        return this.edit(message, err, req);
      }
      // A file not read yet is read without blocking the request; the message is queued once it is.
      const done = this.source.load(frames.map((f) => f.file)).then(() => {
        try {
          this.attachSource(message, frames);
          this.edit(message, err, req);
        } catch (recordError) {
          this.options.report(asElmahError(recordError, 'ERR_ELMAH_DROPPED', 'An error could not be recorded'));
        }
      });
      this.track(done);
      return message.id;
    } catch (recordError) {
      this.options.report(asElmahError(recordError, 'ERR_ELMAH_DROPPED', 'An error could not be recorded'));
      return undefined;
    }
  }

  /** beforeLog, then the scrub and the queue: the id, or undefined when the message was dropped or only counted. */
  private edit(message: ErrorMessage, err: unknown, req: Request | undefined): string | undefined {
    const { beforeLog } = this.options;
    if (!beforeLog) return this.finish(message, message);
    let result: BeforeLogResult | Promise<BeforeLogResult>;
    try {
      result = beforeLog(message, err, req);
    } catch (hookError) {
      return this.unedited(message, hookError, 'threw');
    }
    if (!isThenable(result)) return this.finish(message, result);
    this.track(
      Promise.resolve(result)
        .then(
          (edited) => this.finish(message, edited),
          (hookError: unknown) => this.unedited(message, hookError, 'rejected'),
        )
        .catch((recordError: unknown) => {
          // What beforeLog returned could not be scrubbed or queued: reported, never an unhandled rejection.
          this.options.report(asElmahError(recordError, 'ERR_ELMAH_DROPPED', 'An error could not be recorded after beforeLog'));
        }),
    );
    return message.id;
  }

  /** Keeps `done` in the pending set until it settles, so that flush waits for it. */
  private track(done: Promise<unknown>): void {
    this.pending.add(done);
    const settled = (): void => {
      this.pending.delete(done);
    };
    done.then(settled, settled);
  }

  /** The in-app frames of the top error (not its causes or members) whose lines are shown, at most the configured number. */
  private sourceFrames(message: ErrorMessage): SourceFrame[] {
    const settings = this.options.sourceContext === undefined ? SOURCE_CONTEXT_DEFAULTS : this.options.sourceContext;
    if (!settings || !message.detail) return [];
    // Frames start after the error's own `Name: message` header: lines of the message shaped like frames
    // (`…\n    at evil (/app/src/config.js:4:1)`) never choose which files are read.
    const detail = message.detail.slice(framesStartOf(message));
    const cause = detail.indexOf('\nCaused by: ');
    const member = detail.indexOf('[errors 0] ');
    const ends = [cause, member].filter((i) => i >= 0);
    const own = ends.length > 0 ? detail.slice(0, Math.min(...ends)) : detail;
    const out: SourceFrame[] = [];
    const seen = new Set<string>();
    for (const frame of parseStack(own)) {
      if (out.length >= Math.min(settings.frames, CONTEXT_LIMITS.sourceFrames)) break;
      if (!frame.inApp || !frame.file || frame.line === undefined) continue;
      const key = `${frame.file}:${frame.line}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ file: frame.file, line: frame.line });
    }
    return out;
  }

  /** The lines around each frame, from the reader's memory (files it could not read give none). */
  private attachSource(message: ErrorMessage, frames: SourceFrame[]): void {
    const settings = this.options.sourceContext || SOURCE_CONTEXT_DEFAULTS;
    const radius = Math.min(settings.lines, (CONTEXT_LIMITS.sourceLines - 1) / 2);
    const context: SourceContext[] = [];
    for (const f of frames) {
      const window = this.source.around(f.file, f.line, radius);
      if (window) context.push({ file: f.file, line: f.line, ...window });
    }
    if (context.length > 0) message.sourceContext = context;
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
