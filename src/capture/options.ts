// The options of errorLogger(): their types, their checked schema and their defaults.
import type { Request } from 'express';
import { storeOptionRule, type StoreOption } from '../client/open-log.js';
import type { ElmahError } from '../model/errors.js';
import type { ErrorMessage, Severity } from '../model/message.js';
import type { OptionSchema } from '../model/options.js';
import type { RedactOptions } from '../model/redact.js';
import { notifyOptionRule, type NotifyOptions } from '../notify/options.js';

/** What `beforeLog` may return: the (edited) message, or `null`/`false` to drop it. */
export type BeforeLogResult = ErrorMessage | null | false | undefined | void;

/** Options of {@link errorLogger}. Every option is optional. */
export interface ErrorLoggerOptions {
  /** The API key (needs `messages_write` only). Default: ELMAH_WRITE_KEY. Ignored when `store` is a LogClient. */
  key?: string;
  /** Store URL, Store, collector URL or LogClient. Default: ELMAH_STORE, else sqlite:.elmah/elmah.db. */
  store?: StoreOption;
  /** Which log messages go to. Default: ELMAH_LOG, else `default`. */
  log?: string;
  /** The `application` field. Default: the `name` in the app's package.json. */
  application?: string;
  /** The `version` field. Default: the `version` in the app's package.json. */
  version?: string;
  /** Decides which errors are logged. Default: status >= 500 or no status. `raise()` ignores it. */
  filter?: (err: unknown, req: Request) => boolean;
  /** Edits a message before it is queued; return `null` or `false` to drop it. May return a promise. */
  beforeLog?: (message: ErrorMessage, err: unknown, req: Request | undefined) => BeforeLogResult | Promise<BeforeLogResult>;
  /** Redaction rules, extending the built-in ones (or replacing them with `replace: true`). */
  redact?: RedactOptions;
  /** The `user` field from the request. Default: `req.user` (a string, or its username, name, email or id). */
  user?: (req: Request) => string | undefined | null;
  /** Also record `uncaughtException` and `unhandledRejection` (as `Fatal`), then exit as Node would. Default false. */
  captureUncaught?: boolean;
  /** Hears about the logger's own failures (never thrown, never logged into the log). Default: one console.error line, rate-limited. */
  onError?: (error: ElmahError) => void;
  /** Most messages waiting to be shipped; more are dropped and counted. Default 1000. */
  queueSize?: number;
  /** Most messages per append. Default 100. */
  batchSize?: number;
  /** Wait this long (ms) to gather a batch; 0 ships on the next turn of the event loop. Default 0. */
  flushIntervalMs?: number;
  /** Tries for failures that are not known to be transient, before the batch counts as failed. Default 3. */
  maxRetries?: number;
  /** Longest wait between retries, ms. Default 30000. */
  maxBackoffMs?: number;
  /** How long one append may take before it counts as failed, ms. Default 10000. */
  timeoutMs?: number;
  /** With `captureUncaught`: how long to wait for the fatal message to ship before exiting, ms. Default 2000. */
  exitFlushMs?: number;
  /** Severity of messages from the middleware and `raise()`. Default `Error`. */
  severity?: Severity;
  /**
   * Write a `sqlite:` store from a worker thread, so that SQLite's synchronous work never blocks the app.
   * Default: on, falling back to in-process writes when the worker cannot start; `true` makes that a
   * failure of `ready`; `false` always writes in-process. Other stores are always written in-process.
   */
  worker?: boolean;
  /**
   * Alerts (mail, webhooks, a function) for new groups, regressions, spikes; see docs/alerts.md. Default: from
   * ELMAH_SMTP_URL / ELMAH_WEBHOOK_URL when set; `false` turns alerts off. Not with a collector as `store`:
   * there the collector sends the alerts.
   */
  notify?: NotifyOptions | false;
  /**
   * The lines of the app's own source around each in-app frame of the stack (read once per file, off the
   * request path, only below the app's root and never from node_modules). `false` keeps none. Default
   * `{ lines: 3, frames: 5 }`: 3 lines either side, for the top 5 in-app frames.
   */
  sourceContext?: boolean | { lines?: number; frames?: number };
  /**
   * The last events of a failing request (console calls, outgoing HTTP requests, addBreadcrumb), stored with its
   * error. `false` records none. Default `{ maxCount: 30, maxBytes: 16384, console: true, http: true }`.
   */
  breadcrumbs?: boolean | { maxCount?: number; maxBytes?: number; console?: boolean; http?: boolean };
}

/** Checks an object option's members: each known, and of its kind (a check and what it wants). */
function members(value: unknown, rules: Record<string, [(v: unknown) => boolean, string]>): string | undefined {
  if (typeof value === 'boolean') return undefined;
  const r = value as Record<string, unknown>;
  for (const name of Object.keys(r)) {
    const rule = rules[name];
    if (!rule) return `has an unknown member "${name}" (known: ${Object.keys(rules).join(', ')})`;
    if (r[name] !== undefined && !rule[0](r[name])) return `member "${name}" must be ${rule[1]}`;
  }
  return undefined;
}

const wholeIn = (min: number, max: number): [(v: unknown) => boolean, string] => [
  (v) => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max,
  `a whole number from ${min} to ${max}`,
];
const isBoolean: [(v: unknown) => boolean, string] = [(v) => typeof v === 'boolean', 'a boolean'];

const nameRules = (value: unknown): boolean => Array.isArray(value) && value.every((v) => typeof v === 'string' || v instanceof RegExp);

/** The checked schema of {@link ErrorLoggerOptions}. */
export const ERROR_LOGGER_SCHEMA: OptionSchema<ErrorLoggerOptions> = {
  key: { kinds: ['string'], describe: 'an API key string (elmah_<id>_<secret>)' },
  store: storeOptionRule('any'),
  log: {
    kinds: ['string'],
    check: (v) => (/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(v as string) ? undefined : 'must be 1-100 letters, digits, . _ -'),
  },
  application: { kinds: ['string'] },
  version: { kinds: ['string'] },
  filter: { kinds: ['function'], describe: 'a function (err, req) => boolean' },
  beforeLog: { kinds: ['function'], describe: 'a function (message, err, req) => message | null' },
  redact: {
    kinds: ['object'],
    describe: 'an object { headers?, keys?, values?, replace? }',
    check: (v) => {
      const r = v as Record<string, unknown>;
      for (const name of Object.keys(r)) {
        if (!['headers', 'keys', 'values', 'replace'].includes(name))
          return `has an unknown member "${name}" (known: headers, keys, values, replace)`;
      }
      if (r.headers !== undefined && !nameRules(r.headers)) return 'member "headers" must be a list of strings or RegExps';
      if (r.keys !== undefined && !nameRules(r.keys)) return 'member "keys" must be a list of strings or RegExps';
      if (r.values !== undefined && !(Array.isArray(r.values) && r.values.every((s) => typeof s === 'string')))
        return 'member "values" must be a list of strings';
      if (r.replace !== undefined && typeof r.replace !== 'boolean') return 'member "replace" must be a boolean';
      return undefined;
    },
  },
  user: { kinds: ['function'], describe: 'a function (req) => string' },
  captureUncaught: { kinds: ['boolean'] },
  onError: { kinds: ['function'], describe: 'a function (error) => void' },
  queueSize: { kinds: ['number'], min: 1, max: 1_000_000, check: (v) => (Number.isInteger(v) ? undefined : 'must be a whole number') },
  batchSize: { kinds: ['number'], min: 1, max: 1000, check: (v) => (Number.isInteger(v) ? undefined : 'must be a whole number') },
  flushIntervalMs: { kinds: ['number'], min: 0, max: 60_000 },
  maxRetries: { kinds: ['number'], min: 0, max: 100, check: (v) => (Number.isInteger(v) ? undefined : 'must be a whole number') },
  maxBackoffMs: { kinds: ['number'], min: 1, max: 3_600_000 },
  timeoutMs: { kinds: ['number'], min: 1, max: 3_600_000 },
  exitFlushMs: { kinds: ['number'], min: 0, max: 60_000 },
  severity: { kinds: ['string'], oneOf: ['Verbose', 'Debug', 'Information', 'Warning', 'Error', 'Fatal'] },
  worker: { kinds: ['boolean'] },
  notify: notifyOptionRule,
  sourceContext: {
    kinds: ['boolean', 'object'],
    describe: 'a boolean or { lines?, frames? }',
    check: (v) => members(v, { lines: wholeIn(0, 10), frames: wholeIn(1, 10) }),
  },
  breadcrumbs: {
    kinds: ['boolean', 'object'],
    describe: 'a boolean or { maxCount?, maxBytes?, console?, http? }',
    check: (v) => members(v, { maxCount: wholeIn(1, 100), maxBytes: wholeIn(256, 1_048_576), console: isBoolean, http: isBoolean }),
  },
};

/** Defaults of the shipping options. */
export const CAPTURE_DEFAULTS = {
  queueSize: 1000,
  batchSize: 100,
  flushIntervalMs: 0,
  maxRetries: 3,
  maxBackoffMs: 30_000,
  timeoutMs: 10_000,
  exitFlushMs: 2000,
} as const;
