// collector(): an Express router that speaks an elmah.io-v3-shaped HTTP API over a store. Every route acts
// through a LocalLogClient made for the request's key, so permissions are checked in one place.
import { createHash } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { LocalLogClient } from '../client/local.js';
import type { ClientFilter } from '../client/types.js';
import { ElmahConfigError, ElmahError, isElmahError } from '../model/errors.js';
import { parseKey } from '../model/keys.js';
import { isLogName, MAX_MESSAGE_BYTES } from '../model/message.js';
import { looksLikeExpressCall, notCalledError, validateOptions, type OptionSchema } from '../model/options.js';
import { openStore, resolveStoreUrl } from '../stores/open.js';
import { isStore, type AppendResult, type Store } from '../stores/types.js';
import { readJson } from './body.js';
import { requestKey, searchParams } from './key.js';
import { TokenBuckets, type RateLimitOptions } from './rate-limit.js';

/** Options of {@link collector}. */
export interface CollectorOptions {
  /** A store URL (`sqlite:…`, `postgres://…`, `memory:`) or an open Store. Default: ELMAH_STORE, else sqlite:.elmah/elmah.db. */
  store?: string | Store;
  /** Per-key rate limit (token bucket), or `false` to turn it off. Default 100 requests/s, bursts of 200. */
  rateLimit?: RateLimitOptions | false;
  /** Most messages in one `_bulk` request. Default 1000. */
  maxBulkMessages?: number;
  /** Largest `_bulk` request body in bytes. Default 16 MiB. */
  maxBulkBytes?: number;
  /** Called with unexpected failures (answered 500). Default: one `console.error` line. Never receives API keys. */
  onError?: (err: unknown) => void;
}

/** The router {@link collector} returns, with its store's life cycle. */
export interface CollectorRouter extends Router {
  /** Resolves when the store is open; rejects when it cannot be opened. */
  readonly ready: Promise<void>;
  /** Closes the store if the collector opened it from a URL (a Store passed in is left open). */
  close(): Promise<void>;
}

/** Default cap on messages per `_bulk` request. */
export const DEFAULT_MAX_BULK_MESSAGES = 1000;
/** Default cap on the size of a `_bulk` request body. */
export const DEFAULT_MAX_BULK_BYTES = 16 * 1024 * 1024;
/** Most ids in one delete-by-ids request. */
const MAX_DELETE_IDS = 1000;

const SCHEMA: OptionSchema<CollectorOptions> = {
  store: {
    kinds: ['string', 'object'],
    describe: 'a store URL or a Store',
    check: (v) =>
      typeof v === 'string'
        ? /^https?:\/\//i.test(v) ? 'must be a store (sqlite:, postgres://, memory:), not another collector' : undefined
        : isStore(v) ? undefined : 'must be a Store (from openStore) or a store URL',
  },
  rateLimit: {
    kinds: ['object', 'boolean'],
    describe: 'an object { perSecond, burst, maxKeys } or false',
    check: (v) => {
      if (v === true) return 'must be an object or false (the limit is on by default)';
      if (typeof v !== 'object' || v === null) return undefined;
      for (const [name, value] of Object.entries(v)) {
        if (!['perSecond', 'burst', 'maxKeys'].includes(name)) return `has an unknown field "${name}" (known: perSecond, burst, maxKeys)`;
        if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return `field "${name}" must be a positive number`;
      }
      return undefined;
    },
  },
  maxBulkMessages: { kinds: ['number'], min: 1, max: 100_000 },
  maxBulkBytes: { kinds: ['number'], min: 1024, max: 1024 * 1024 * 1024 },
  onError: { kinds: ['function'] },
};

type Handler = (req: Request, res: Response, client: LocalLogClient) => Promise<void>;

function defaultOnError(err: unknown): void {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  console.error(`express-elmah collector: unexpected failure: ${text}`);
}

function queryError(message: string): ElmahError {
  return new ElmahError('ERR_ELMAH_QUERY', message, {
    help: 'Query parameters: query, pageIndex (0…), pageSize (1–1000), from and to (ISO 8601), searchAfter.',
  });
}

function intParam(params: URLSearchParams, name: string, min: number, max: number): number | undefined {
  const raw = params.get(name);
  if (raw === null || raw === '') return undefined;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw queryError(`${name} must be a whole number from ${min} to ${max}, got "${raw.slice(0, 40)}".`);
  }
  return Number(raw);
}

function dateParam(params: URLSearchParams, name: string): string | undefined {
  const raw = params.get(name);
  if (raw === null || raw === '') return undefined;
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw queryError(`${name} must be an ISO 8601 date, got "${raw.slice(0, 40)}".`);
  return new Date(t).toISOString();
}

function checkLogName(log: string): string {
  if (!isLogName(log)) throw queryError(`"${String(log).slice(0, 100)}" is not a log name (1-100 letters, digits, . _ -).`);
  return log;
}

/** The `log` parameter of the cross-log routes: repeated or comma-separated; undefined for every log the key may read. */
function logsParam(params: URLSearchParams): string[] | undefined {
  const logs = params.getAll('log').flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  return logs.length > 0 ? logs.map(checkLogName) : undefined;
}

function filterParams(params: URLSearchParams): ClientFilter {
  const query = params.get('query') ?? params.get('q') ?? undefined;
  return { query: query || undefined, from: dateParam(params, 'from'), to: dateParam(params, 'to') };
}

function messageLocation(req: Request, log: string, id: string): string {
  return `${req.baseUrl}/v3/messages/${encodeURIComponent(log)}/${encodeURIComponent(id)}`;
}

/** Name of the rate-limit bucket: a hash of the key (so a guessed id cannot drain a real key's bucket), else the address. */
function bucketName(req: Request, key: string | undefined): string {
  if (key) return `k:${createHash('sha256').update(key).digest('base64url').slice(0, 22)}`;
  return `a:${req.ip ?? req.socket.remoteAddress ?? ''}`;
}

/**
 * Writes a JSON answer. Not res.json(): that also hashes the body for an ETag, which no client of this
 * API uses and which costs time on large search pages.
 */
function sendJson(res: Response, status: number, body: unknown): void {
  const text = JSON.stringify(body) ?? 'null';
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  // Messages are attacker-controlled text: a browser must never sniff an answer into HTML.
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.end(text);
}

/**
 * The collector: an Express router serving the elmah.io-v3-shaped API (see docs/collector.md).
 * Mount it anywhere: `app.use(collector({ store: 'sqlite:.elmah/elmah.db' }))` or under a path.
 */
export function collector(options?: CollectorOptions): CollectorRouter;
export function collector(...args: unknown[]): CollectorRouter | undefined {
  if (looksLikeExpressCall(args)) {
    (args[2] as NextFunction)(notCalledError('collector', 'app.use(collector({ store }))'));
    return undefined;
  }
  const options = validateOptions<CollectorOptions>('collector', args[0], SCHEMA);
  const maxBulkMessages = options.maxBulkMessages ?? DEFAULT_MAX_BULK_MESSAGES;
  const maxBulkBytes = options.maxBulkBytes ?? DEFAULT_MAX_BULK_BYTES;
  const onError = options.onError ?? defaultOnError;
  const buckets = options.rateLimit === false ? undefined : new TokenBuckets(options.rateLimit ?? {});

  const storeOption = options.store ?? resolveStoreUrl();
  if (typeof storeOption === 'string' && /^https?:\/\//i.test(storeOption)) {
    throw new ElmahConfigError('ERR_ELMAH_STORE_URL', 'collector(): ELMAH_STORE points at another collector.', {
      help: 'Give the collector a store it owns: sqlite:PATH, postgres://… or memory:.',
    });
  }
  const owned = typeof storeOption === 'string';
  const storePromise: Promise<Store> = typeof storeOption === 'string' ? openStore(storeOption) : Promise.resolve(storeOption);
  // Marked handled here: a failed open is reported by every request and by `ready`, never as an unhandled rejection.
  storePromise.catch(() => undefined);

  const router = express.Router() as CollectorRouter;
  // The gate's key per request; kept off req/res so that nothing rendered later can show it.
  const keys = new WeakMap<Request, string>();

  const route = (fn: Handler) =>
    function collectorRoute(req: Request, res: Response, next: NextFunction): void {
      const key = keys.get(req);
      storePromise
        .then((store) => fn(req, res, new LocalLogClient(store, key, { keyCacheMs: 0 })))
        .catch(next);
    };

  router.use('/v3', function collectorGate(req: Request, res: Response, next: NextFunction): void {
    res.setHeader('Cache-Control', 'no-store');
    const key = requestKey(req);
    if (buckets) {
      const wait = buckets.take(bucketName(req, key));
      if (wait > 0) {
        next(new ElmahError('ERR_ELMAH_RATE_LIMITED', `Too many requests for this API key; retry in ${wait} s.`, {
          retryAfter: wait,
          transient: true,
          help: 'Send fewer, larger batches (POST /v3/messages/:log/_bulk), or raise the collector\'s rateLimit.',
        }));
        return;
      }
    }
    try {
      // Cheap shape check before any body is read; the store lookup happens in LocalLogClient.
      parseKey(key);
    } catch (err) {
      next(err);
      return;
    }
    if (key !== undefined) keys.set(req, key);
    next();
  });

  router.post('/v3/messages/:log/_bulk', route(async (req, res, client) => {
    const log = String(req.params.log);
    const body = await readJson(req, maxBulkBytes, 'a _bulk request');
    if (!Array.isArray(body)) {
      throw new ElmahError('ERR_ELMAH_INVALID_MESSAGE', 'A _bulk body must be a JSON array of messages.', {
        details: [{ field: '', problem: 'expected an array' }],
      });
    }
    if (body.length > maxBulkMessages) {
      throw new ElmahError('ERR_ELMAH_TOO_LARGE', `A _bulk request holds at most ${maxBulkMessages} messages; got ${body.length}.`, {
        help: `Split the batch into requests of at most ${maxBulkMessages} messages.`,
      });
    }
    const results = await client.append(body, log);
    sendJson(res, 200, results.map((r) => {
      if (r.status === 'rejected') {
        return { id: r.id, status: r.status, statusCode: r.error.code === 'ERR_ELMAH_TOO_LARGE' ? 413 : 400, error: r.error };
      }
      return { id: r.id, status: r.status, statusCode: r.status === 'created' ? 201 : 200, location: messageLocation(req, log, r.id) };
    }));
  }));

  // Occurrences a logger counted but could not keep in full (see docs/capture.md): group counts and the chart.
  router.post('/v3/messages/:log/_tally', route(async (req, res, client) => {
    const log = String(req.params.log);
    const body = await readJson(req, maxBulkBytes, 'a _tally request');
    const tallies = Array.isArray(body) ? body : typeof body === 'object' && body !== null && Array.isArray((body as { tallies?: unknown }).tallies) ? (body as { tallies: unknown[] }).tallies : undefined;
    if (!tallies) {
      throw new ElmahError('ERR_ELMAH_INVALID_MESSAGE', 'A _tally body must be a JSON array of tallies, or { "tallies": [...] }.', {
        details: [{ field: '', problem: 'expected an array' }],
      });
    }
    if (tallies.length > maxBulkMessages) {
      throw new ElmahError('ERR_ELMAH_TOO_LARGE', `A _tally request holds at most ${maxBulkMessages} tallies; got ${tallies.length}.`, {
        help: `Split the tallies into requests of at most ${maxBulkMessages}.`,
      });
    }
    const results = await client.tally(tallies, log);
    sendJson(res, 200, results.map((r) => (r.status === 'rejected'
      ? { id: r.id, status: r.status, statusCode: 400, error: r.error }
      : { id: r.id, status: r.status, statusCode: r.status === 'created' ? 201 : 200 })));
  }));

  router.post('/v3/messages/:log', route(async (req, res, client) => {
    const log = String(req.params.log);
    const body = await readJson(req, MAX_MESSAGE_BYTES, 'one message');
    if (Array.isArray(body)) {
      throw new ElmahError('ERR_ELMAH_INVALID_MESSAGE', 'This route takes one message; send arrays to /v3/messages/:log/_bulk.', {
        details: [{ field: '', problem: 'expected an object' }],
      });
    }
    const [result] = await client.append([body], log);
    if (!result || result.status === 'rejected') {
      const error = result?.status === 'rejected' ? result.error : { code: 'ERR_ELMAH_INVALID_MESSAGE', message: 'The message was not stored.' };
      const code = error.code === 'ERR_ELMAH_TOO_LARGE' ? 'ERR_ELMAH_TOO_LARGE' : 'ERR_ELMAH_INVALID_MESSAGE';
      throw new ElmahError(code, error.message, { details: error.details });
    }
    const stored = result as AppendResult;
    const location = messageLocation(req, log, stored.id);
    res.setHeader('Location', location);
    sendJson(res, stored.status === 'created' ? 201 : 200, { id: stored.id, status: stored.status, location });
  }));

  // Non-elmah.io routes used by RemoteLogClient (viewer over HTTP): across logs, groups, histogram.
  // Log names never start with "_", so these cannot clash with /v3/messages/:log.
  router.get('/v3/messages/_groups', route(async (req, res, client) => {
    const params = searchParams(req);
    const result = await client.groups({
      ...filterParams(params), log: logsParam(params),
      page: intParam(params, 'pageIndex', 0, 1_000_000), size: intParam(params, 'pageSize', 1, 1000),
    });
    sendJson(res, 200, result);
  }));

  router.get('/v3/messages/_histogram', route(async (req, res, client) => {
    const params = searchParams(req);
    const filter = filterParams(params);
    const buckets = intParam(params, 'buckets', 1, 500);
    if (!filter.from || !filter.to || buckets === undefined) throw queryError('A histogram needs from, to and buckets.');
    sendJson(res, 200, await client.histogram({ ...filter, from: filter.from, to: filter.to, buckets, log: logsParam(params) }));
  }));

  const search: Handler = async (req, res, client) => {
    const params = searchParams(req);
    const log = req.params.log === undefined ? logsParam(params) : checkLogName(String(req.params.log));
    const result = await client.search({
      ...filterParams(params), log,
      page: intParam(params, 'pageIndex', 0, 1_000_000), size: intParam(params, 'pageSize', 1, 1000),
      after: params.get('searchAfter') || undefined,
    });
    sendJson(res, 200, { messages: result.messages, total: result.total, totalExact: result.totalExact, searchAfter: result.after });
  };
  router.get('/v3/messages', route(search));
  router.get('/v3/messages/:log', route(search));

  router.get('/v3/messages/:log/:id/_neighbours', route(async (req, res, client) => {
    sendJson(res, 200, await client.neighbours(String(req.params.log), String(req.params.id)));
  }));

  router.get('/v3/messages/:log/:id', route(async (req, res, client) => {
    sendJson(res, 200, await client.get(String(req.params.log), String(req.params.id)));
  }));

  router.delete('/v3/messages/:log/:id', route(async (req, res, client) => {
    const log = String(req.params.log);
    const id = String(req.params.id);
    const deleted = await client.delete(log, { ids: [id] });
    if (deleted === 0) throw new ElmahError('ERR_ELMAH_NOT_FOUND', `No message ${id} in log "${log}".`);
    sendJson(res, 200, { deleted });
  }));

  router.delete('/v3/messages/:log', route(async (req, res, client) => {
    const log = checkLogName(String(req.params.log));
    const body = await readJson(req, 1024 * 1024, 'a delete request', true);
    const params = searchParams(req);
    if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
      throw queryError('A delete body must be an object: { query, from, to } or { ids }.');
    }
    const b = (body ?? {}) as Record<string, unknown>;
    if (b.ids !== undefined) {
      if (!Array.isArray(b.ids) || b.ids.length > MAX_DELETE_IDS || !b.ids.every((id) => typeof id === 'string')) {
        throw queryError(`ids must be a list of at most ${MAX_DELETE_IDS} message ids.`);
      }
      sendJson(res, 200, { deleted: await client.delete(log, { ids: b.ids as string[] }) });
      return;
    }
    for (const name of ['query', 'from', 'to'] as const) {
      if (b[name] !== undefined && b[name] !== null) {
        if (typeof b[name] !== 'string') throw queryError(`${name} must be a string.`);
        params.set(name, b[name] as string);
      }
    }
    const filter = filterParams(params);
    sendJson(res, 200, { deleted: await client.delete(log, { query: filter.query, from: filter.from, to: filter.to }) });
  }));

  router.get('/v3/logs', route(async (_req, res, client) => {
    sendJson(res, 200, await client.logs());
  }));

  router.get('/v3/keys/current', route(async (_req, res, client) => {
    sendJson(res, 200, await client.whoami());
  }));

  router.use('/v3', function collectorNotFound(req: Request, _res: Response, next: NextFunction): void {
    next(new ElmahError('ERR_ELMAH_NOT_FOUND', `No collector route ${req.method} ${req.baseUrl}${req.path}.`, {
      help: 'See docs/collector.md for the routes.',
    }));
  });

  router.use(function collectorErrors(err: unknown, _req: Request, res: Response, next: NextFunction): void {
    if (res.headersSent) {
      next(err);
      return;
    }
    let error: ElmahError;
    if (isElmahError(err)) error = err;
    else {
      onError(err);
      error = new ElmahError('ERR_ELMAH_INTERNAL', 'The collector failed unexpectedly.', { status: 500 });
    }
    // Transient failures (store busy, closing) are the client's to retry; lasting ones are worth a line.
    if (error.status >= 500 && !error.transient && error.code !== 'ERR_ELMAH_INTERNAL') onError(error);
    if (error.retryAfter !== undefined) res.setHeader('Retry-After', String(Math.ceil(error.retryAfter)));
    res.setHeader('Cache-Control', 'no-store');
    sendJson(res, error.status, error.toJSON());
  });

  Object.defineProperty(router, 'ready', { value: storePromise.then(() => undefined), enumerable: false });
  (router.ready as Promise<void>).catch(() => undefined);
  router.close = async function closeCollector(): Promise<void> {
    if (!owned) return;
    const store = await storePromise.catch(() => undefined);
    await store?.close();
  };
  return router;
}
