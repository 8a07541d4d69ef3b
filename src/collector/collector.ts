// collector(): an Express router that speaks an elmah.io-v3-shaped HTTP API over a store. Every route acts
// through a LocalLogClient made for the request's key, so permissions are checked in one place.
import { createHash } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { openLog, storeOptionRule } from '../client/open-log.js';
import type { AppendResult, ClientFilter, LogClient, Store } from '../client/types.js';
import { deploymentToWire } from '../model/deployment.js';
import { parseStatuses } from '../model/triage.js';
import { ElmahConfigError, ElmahError, isElmahError, isKeyRefusal } from '../model/errors.js';
import type { KeyInfo } from '../model/keys.js';
import { isLogName, MAX_MESSAGE_BYTES } from '../model/message.js';
import { requirePermission, type Permission } from '../model/permissions.js';
import { looksLikeExpressCall, notCalledError, validateOptions, type OptionSchema } from '../model/options.js';
import { Notifier } from '../notify/notifier.js';
import { notifyConfig, notifyOptionRule, type NotifyOptions } from '../notify/options.js';
import { bodyUnread, readJson } from './body.js';
import { BodyBudget, type BodyClaim } from './in-flight.js';
import { requestKey, searchParams } from './key.js';
import { TokenBuckets, type RateLimitOptions } from './rate-limit.js';
import { redactIncoming } from './redact.js';

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
  /**
   * Most bytes of request bodies held at once, across all requests; a body beyond it is answered 503 with
   * `Retry-After`, unread. At least `maxBulkBytes`. Default four times `maxBulkBytes` (64 MiB).
   */
  maxBytesInFlight?: number;
  /** Called with unexpected failures (answered 500). Default: one `console.error` line. Never receives API keys. */
  onError?: (err: unknown) => void;
  /**
   * Alerts (mail, webhooks, a function) for new groups, regressions, spikes, for every app that ships here;
   * see docs/alerts.md. Default: from ELMAH_SMTP_URL / ELMAH_WEBHOOK_URL when set; `false` turns alerts off.
   */
  notify?: NotifyOptions | false;
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
/**
 * Requests with a missing, unknown, revoked or expired key, per client address: a burst of 20, then one a
 * second. Past that they are answered 429 before any lookup, so invented keys cost nothing.
 */
const KEY_FAILURES: Required<RateLimitOptions> = { perSecond: 1, burst: 20, maxKeys: 10_000 };
/** How long a key that worked lets its address past the failure limit (ms): good clients behind a shared address keep working. */
const GOOD_KEY_MS = 60_000;
/** Messages validated and appended per step of a `_bulk` request, so that no step holds the event loop long. */
const BULK_SLICE = 25;

const SCHEMA: OptionSchema<CollectorOptions> = {
  store: storeOptionRule('store'),
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
  maxBytesInFlight: { kinds: ['number'], min: 1024, max: 16 * 1024 * 1024 * 1024 },
  onError: { kinds: ['function'] },
  notify: notifyOptionRule,
};

type Handler = (req: Request, res: Response, client: LogClient, claim: BodyClaim) => Promise<void>;

/** What the gate found for a request: the client of its key, and what the key may do. */
interface Authenticated {
  client: LogClient;
  who: KeyInfo;
}

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
  if (!isLogName(log)) {
    throw new ElmahError('ERR_ELMAH_LOG_NAME', `"${String(log).slice(0, 100)}" is not a log name.`, {
      help: 'A log name is 1-100 letters, digits, dots, underscores or dashes, starting with a letter or digit.',
    });
  }
  return log;
}

/** The `log` parameter of the cross-log routes: repeated or comma-separated; undefined for every log the key may read. */
function logsParam(params: URLSearchParams): string[] | undefined {
  const logs = params
    .getAll('log')
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  return logs.length > 0 ? logs.map(checkLogName) : undefined;
}

function filterParams(params: URLSearchParams): ClientFilter {
  const query = params.get('query') ?? params.get('q') ?? undefined;
  return { query: query || undefined, from: dateParam(params, 'from'), to: dateParam(params, 'to') };
}

function messageLocation(req: Request, log: string, id: string): string {
  return `${req.baseUrl}/v3/messages/${encodeURIComponent(log)}/${encodeURIComponent(id)}`;
}

/** Name of a key's rate-limit bucket: a hash of the key, so that the key itself is never held as a name. */
function bucketName(key: string): string {
  return `k:${createHash('sha256').update(key).digest('base64url').slice(0, 22)}`;
}

/** The client address failed keys are counted by: as Express's `trust proxy` resolves it. */
function clientAddress(req: Request): string {
  return `a:${req.ip ?? req.socket.remoteAddress ?? ''}`;
}

/**
 * Waits for this slice's turn: the slices of every request take turns, one per turn of the event loop, so
 * that timers and other requests run between any two of them. (Each waiting on its own setImmediate would let
 * the slices of many concurrent requests run back to back in one turn.)
 */
let lastTurn: Promise<void> = Promise.resolve();
function nextTurn(): Promise<void> {
  const turn = lastTurn.then(() => new Promise<void>((resolve) => setImmediate(resolve)));
  lastTurn = turn;
  return turn;
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
  const maxBytesInFlight = options.maxBytesInFlight ?? 4 * maxBulkBytes;
  if (maxBytesInFlight < maxBulkBytes) {
    throw new ElmahConfigError(
      'ERR_ELMAH_OPTION_TYPE',
      `collector(): maxBytesInFlight (${maxBytesInFlight}) is smaller than maxBulkBytes (${maxBulkBytes}), so a full _bulk request could never be read.`,
      {
        help: 'Make maxBytesInFlight at least maxBulkBytes; the default is four times maxBulkBytes.',
      },
    );
  }
  const onError = options.onError ?? defaultOnError;
  // Alerts for every app that ships here: the store tells which append made or reopened a group.
  const alerts = notifyConfig('collector()', options.notify);
  const notifier = alerts && new Notifier(alerts, { report: (e) => onError(e) });
  const buckets = options.rateLimit === false ? undefined : new TokenBuckets(options.rateLimit ?? {});
  const keyFailures = new TokenBuckets(KEY_FAILURES);
  /** Keys (by bucket name) that worked recently, with when: they pass an address's failure limit. */
  const goodKeys = new Map<string, number>();
  const budget = new BodyBudget(maxBytesInFlight);

  // A local log: every route acts through a LocalLogClient made for the request's key.
  const log = openLog(options.store, { face: 'collector()', accepts: 'store', keyCacheMs: 60_000 });
  // Opened once, now. Marked handled here: a failed open is reported by every request and by `ready`, never as
  // an unhandled rejection.
  const opened = log.open();
  opened.catch(() => undefined);

  const router = express.Router() as CollectorRouter;
  // The gate's client per request; kept off req/res so that nothing rendered later can show the key.
  const authenticated = new WeakMap<Request, Authenticated>();

  /**
   * A route handler. `permission`: the route reads a body, so the key's permission and the log in the
   * path are checked first, and a refused request never has its body read.
   */
  const route = (fn: Handler, permission?: Permission) =>
    function collectorRoute(req: Request, res: Response, next: NextFunction): void {
      const auth = authenticated.get(req);
      if (!auth) {
        next(new ElmahError('ERR_ELMAH_INTERNAL', 'The collector gate did not run for this request.'));
        return;
      }
      const claim = budget.claim();
      res.once('close', () => claim.release());
      Promise.resolve()
        .then(() => {
          // Refused early, before the body is read; the client checks again when it acts.
          if (permission) requirePermission(auth.who, permission, req.params.log === undefined ? undefined : String(req.params.log));
          return fn(req, res, auth.client, claim);
        })
        .catch(next);
    };

  const rememberGoodKey = (name: string): void => {
    goodKeys.delete(name);
    if (goodKeys.size >= KEY_FAILURES.maxKeys) {
      const oldest = goodKeys.keys().next();
      if (!oldest.done) goodKeys.delete(oldest.value);
    }
    goodKeys.set(name, Date.now());
  };

  /**
   * Authenticates every request before anything else is done with it (its body is not read here):
   * missing and failing keys are counted per client address and limited; a valid key then takes a
   * token from its own bucket.
   */
  router.use('/v3', function collectorGate(req: Request, res: Response, next: NextFunction): void {
    res.setHeader('Cache-Control', 'no-store');
    const key = requestKey(req);
    const name = key === undefined ? undefined : bucketName(key);
    const address = clientAddress(req);
    const knownGood = name !== undefined && Date.now() - (goodKeys.get(name) ?? -Infinity) < GOOD_KEY_MS;
    const failWait = knownGood ? 0 : keyFailures.wait(address);
    if (failWait > 0) {
      next(
        new ElmahError(
          'ERR_ELMAH_RATE_LIMITED',
          `Too many requests with missing or failing API keys from this address; retry in ${failWait} s.`,
          {
            retryAfter: failWait,
            transient: true,
            help: "Fix the API key of the client that keeps failing (401); behind a proxy, set Express's trust proxy.",
          },
        ),
      );
      return;
    }
    opened
      .then(async () => {
        // One client per request: the key record read here serves the whole request.
        const client = await log.client(key);
        let who: KeyInfo;
        try {
          who = await client.whoami();
        } catch (err) {
          if (isKeyRefusal(err)) {
            keyFailures.take(address);
            if (name !== undefined) goodKeys.delete(name);
          }
          throw err;
        }
        rememberGoodKey(name!);
        const wait = buckets ? buckets.take(name!) : 0;
        if (wait > 0) {
          throw new ElmahError('ERR_ELMAH_RATE_LIMITED', `Too many requests for this API key; retry in ${wait} s.`, {
            retryAfter: wait,
            transient: true,
            help: "Send fewer, larger batches (POST /v3/messages/:log/_bulk), or raise the collector's rateLimit.",
          });
        }
        authenticated.set(req, { client, who });
      })
      .then(() => next(), next);
  });

  router.post(
    '/v3/messages/:log/_bulk',
    route(async (req, res, client, claim) => {
      const log = String(req.params.log);
      const body = await readJson(req, maxBulkBytes, 'a _bulk request', false, claim);
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
      // Redacted, validated and appended in slices, with a turn of the event loop between them: a batch of large
      // messages would otherwise hold every other request up for the whole of its work.
      const now = new Date();
      const results = [];
      for (let i = 0; i < body.length; i += BULK_SLICE) {
        await nextTurn();
        const slice = body.slice(i, i + BULK_SLICE).map((m) => redactIncoming(m, log, now));
        const sliceResults = await client.append(slice, log);
        notifier?.observe(slice, sliceResults);
        results.push(...sliceResults);
      }
      sendJson(
        res,
        200,
        results.map((r) => {
          if (r.status === 'rejected') {
            return { id: r.id, status: r.status, statusCode: r.error.code === 'ERR_ELMAH_TOO_LARGE' ? 413 : 400, error: r.error };
          }
          return {
            id: r.id,
            status: r.status,
            statusCode: r.status === 'created' ? 201 : 200,
            location: messageLocation(req, log, r.id),
            group: r.group,
          };
        }),
      );
    }, 'messages_write'),
  );

  // Occurrences a logger counted but could not keep in full (see docs/capture.md): group counts and the chart.
  router.post(
    '/v3/messages/:log/_tally',
    route(async (req, res, client, claim) => {
      const log = String(req.params.log);
      const body = await readJson(req, maxBulkBytes, 'a _tally request', false, claim);
      const tallies = Array.isArray(body)
        ? body
        : typeof body === 'object' && body !== null && Array.isArray((body as { tallies?: unknown }).tallies)
          ? (body as { tallies: unknown[] }).tallies
          : undefined;
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
      notifier?.observeTallies(
        tallies.map((t) => ({ ...(t as object), log })),
        results,
      );
      sendJson(
        res,
        200,
        results.map((r) =>
          r.status === 'rejected'
            ? { id: r.id, status: r.status, statusCode: 400, error: r.error }
            : { id: r.id, status: r.status, statusCode: r.status === 'created' ? 201 : 200, group: r.group },
        ),
      );
    }, 'messages_write'),
  );

  router.post(
    '/v3/messages/:log',
    route(async (req, res, client, claim) => {
      const log = String(req.params.log);
      const body = await readJson(req, MAX_MESSAGE_BYTES, 'one message', false, claim);
      if (Array.isArray(body)) {
        throw new ElmahError('ERR_ELMAH_INVALID_MESSAGE', 'This route takes one message; send arrays to /v3/messages/:log/_bulk.', {
          details: [{ field: '', problem: 'expected an object' }],
        });
      }
      const message = redactIncoming(body, log, new Date());
      const [result] = await client.append([message], log);
      if (result) notifier?.observe([message], [result]);
      if (!result || result.status === 'rejected') {
        const error =
          result?.status === 'rejected' ? result.error : { code: 'ERR_ELMAH_INVALID_MESSAGE', message: 'The message was not stored.' };
        const code = error.code === 'ERR_ELMAH_TOO_LARGE' ? 'ERR_ELMAH_TOO_LARGE' : 'ERR_ELMAH_INVALID_MESSAGE';
        throw new ElmahError(code, error.message, { details: error.details });
      }
      const stored = result as AppendResult;
      const location = messageLocation(req, log, stored.id);
      res.setHeader('Location', location);
      sendJson(res, stored.status === 'created' ? 201 : 200, { id: stored.id, status: stored.status, location, group: stored.group });
    }, 'messages_write'),
  );

  // Non-elmah.io routes used by RemoteLogClient (viewer over HTTP): across logs, groups, histogram.
  // Log names never start with "_", so these cannot clash with /v3/messages/:log.
  // One group from the aggregate (the detail page's counted-only note); null when there is none.
  router.get(
    '/v3/groups/:log/:fingerprint',
    route(async (req, res, client) => {
      sendJson(res, 200, (await client.group(String(req.params.log), String(req.params.fingerprint))) ?? null);
    }),
  );

  router.get(
    '/v3/messages/_groups',
    route(async (req, res, client) => {
      const params = searchParams(req);
      const result = await client.groups({
        ...filterParams(params),
        log: logsParam(params),
        status: parseStatuses(params.get('status') ?? undefined),
        page: intParam(params, 'pageIndex', 0, 1_000_000),
        size: intParam(params, 'pageSize', 1, 1000),
      });
      sendJson(res, 200, result);
    }),
  );

  // Triage: resolve, ignore or reopen groups of one log ({ fingerprints, status, inVersion?, until?, occurrences? }).
  router.post(
    '/v3/groups/:log/_state',
    route(async (req, res, client, claim) => {
      const log = checkLogName(String(req.params.log));
      const body = await readJson(req, 64 * 1024, 'a change of group state', false, claim);
      sendJson(res, 200, await client.setGroupState(log, body));
    }, 'groups_write'),
  );

  // elmah.io's _fix and _hide mark one message; here the state belongs to its group, which they resolve or
  // ignore for ever. Finding the group reads the message, so the key needs messages_read as well.
  for (const [action, status] of [
    ['_fix', 'resolved'],
    ['_hide', 'ignored'],
  ] as const) {
    router.post(
      `/v3/messages/:log/:id/${action}`,
      route(async (req, res, client) => {
        const log = checkLogName(String(req.params.log));
        const message = await client.get(log, String(req.params.id));
        sendJson(res, 200, await client.setGroupState(log, { fingerprints: [message.fingerprint], status }));
      }, 'groups_write'),
    );
  }

  router.get(
    '/v3/messages/_histogram',
    route(async (req, res, client) => {
      const params = searchParams(req);
      const filter = filterParams(params);
      const buckets = intParam(params, 'buckets', 1, 500);
      if (!filter.from || !filter.to || buckets === undefined) throw queryError('A histogram needs from, to and buckets.');
      sendJson(res, 200, await client.histogram({ ...filter, from: filter.from, to: filter.to, buckets, log: logsParam(params) }));
    }),
  );

  const search: Handler = async (req, res, client) => {
    const params = searchParams(req);
    const log = req.params.log === undefined ? logsParam(params) : checkLogName(String(req.params.log));
    const result = await client.search({
      ...filterParams(params),
      log,
      page: intParam(params, 'pageIndex', 0, 1_000_000),
      size: intParam(params, 'pageSize', 1, 1000),
      after: params.get('searchAfter') || undefined,
    });
    sendJson(res, 200, { messages: result.messages, total: result.total, totalExact: result.totalExact, searchAfter: result.after });
  };
  router.get('/v3/messages', route(search));
  router.get('/v3/messages/:log', route(search));

  router.get(
    '/v3/messages/:log/:id/_neighbours',
    route(async (req, res, client) => {
      sendJson(res, 200, await client.neighbours(String(req.params.log), String(req.params.id)));
    }),
  );

  router.get(
    '/v3/messages/:log/:id',
    route(async (req, res, client) => {
      sendJson(res, 200, await client.get(String(req.params.log), String(req.params.id)));
    }),
  );

  router.delete(
    '/v3/messages/:log/:id',
    route(async (req, res, client) => {
      const log = String(req.params.log);
      const id = String(req.params.id);
      const deleted = await client.delete(log, { ids: [id] });
      if (deleted === 0) throw new ElmahError('ERR_ELMAH_NOT_FOUND', `No message ${id} in log "${log}".`);
      sendJson(res, 200, { deleted });
    }),
  );

  router.delete(
    '/v3/messages/:log',
    route(async (req, res, client, claim) => {
      const log = checkLogName(String(req.params.log));
      const body = await readJson(req, 1024 * 1024, 'a delete request', true, claim);
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
    }, 'messages_delete'),
  );

  router.get(
    '/v3/logs',
    route(async (_req, res, client) => {
      sendJson(res, 200, await client.logs());
    }),
  );

  router.get(
    '/v3/keys/current',
    route(async (_req, res, client) => {
      sendJson(res, 200, await client.whoami());
    }),
  );

  // Deployments (elmah.io v3): a CI pipeline records each version it ships.
  router.post(
    '/v3/deployments',
    route(async (req, res, client, claim) => {
      const body = await readJson(req, 16 * 1024, 'a deployment', false, claim);
      const { status, deployment } = await client.deploy(body);
      sendJson(res, status === 'created' ? 201 : 200, { status, deployment: deploymentToWire(deployment) });
    }, 'deployments_write'),
  );

  router.get(
    '/v3/deployments',
    route(async (req, res, client) => {
      const params = searchParams(req);
      const sizeText = params.get('size');
      const size = sizeText === null ? undefined : Number(sizeText);
      if (size !== undefined && !(Number.isInteger(size) && size >= 1 && size <= 500)) {
        throw new ElmahError('ERR_ELMAH_QUERY', 'size must be an integer from 1 to 500.');
      }
      const deployments = await client.deployments({ log: params.get('logId') ?? params.get('log') ?? undefined, size });
      sendJson(res, 200, deployments.map(deploymentToWire));
    }, 'deployments_read'),
  );

  // Viewer sign-outs shared by every viewer over this collector (see LogClient.endSession).
  router.post(
    '/v3/sessions/_ended',
    route(async (req, res, client, claim) => {
      const body = await readJson(req, 1024, 'a session', false, claim);
      const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
      await client.endSession(b.sid as string, b.until as string);
      sendJson(res, 200, { ended: true });
    }, 'messages_read'),
  );

  router.get(
    '/v3/sessions/_ended/:sid',
    route(async (req, res, client) => {
      sendJson(res, 200, { ended: await client.sessionEnded(String(req.params.sid)) });
    }),
  );

  router.use('/v3', function collectorNotFound(req: Request, _res: Response, next: NextFunction): void {
    next(
      new ElmahError('ERR_ELMAH_NOT_FOUND', `No collector route ${req.method} ${req.baseUrl}${req.path}.`, {
        help: 'See docs/collector.md for the routes.',
      }),
    );
  });

  router.use(function collectorErrors(err: unknown, req: Request, res: Response, next: NextFunction): void {
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
    // A body left unread (refused before reading, or cut off at a limit) is not worth draining: answer and close.
    if (bodyUnread(req)) res.setHeader('Connection', 'close');
    sendJson(res, error.status, error.toJSON());
  });

  Object.defineProperty(router, 'ready', { value: opened, enumerable: false });
  router.close = async function closeCollector(): Promise<void> {
    await notifier?.close();
    return log.close();
  };
  return router;
}
