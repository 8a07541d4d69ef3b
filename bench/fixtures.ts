// Realistic error messages for benchmarks: ~2 KB each, 50 fingerprints over 3 logs, real-looking stacks,
// headers, cookies and query strings; deterministic for a seed. Import read-only from other benchmarks.
import { computeFingerprint } from '../src/model/fingerprint';
import { newMessageId } from '../src/model/id';
import type { ErrorMessage, KeyValue, Severity } from '../src/model/message';

/** The logs the messages are spread over. */
export const BENCH_LOGS = ['shop-api', 'billing', 'storefront'] as const;

/** How many distinct error kinds (and so fingerprints) the generator makes. */
export const BENCH_KINDS = 50;

/** A small, fast, seeded PRNG (mulberry32) so that runs are comparable. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Kind {
  type: string;
  title: (r: () => number) => string;
  frames: string[];
  statusCode: number;
  method: string;
  route: (r: () => number) => string;
  severity: Severity;
  log: string;
  fingerprint: string;
  cause?: string;
}

const TYPES = [
  'TypeError',
  'Error',
  'RangeError',
  'ValidationError',
  'NotFoundError',
  'TimeoutError',
  'SequelizeDatabaseError',
  'FetchError',
  'SyntaxError',
  'UnauthorizedError',
];
const TITLES: ((r: () => number) => string)[] = [
  () => "Cannot read properties of undefined (reading 'id')",
  () => "Cannot read properties of null (reading 'items')",
  (r) => `Order ${Math.floor(r() * 900000) + 100000} not found`,
  (r) => `Request timeout after ${Math.floor(r() * 30000) + 1000}ms`,
  () => 'connect ECONNREFUSED 10.0.3.17:5432',
  (r) => `Invalid quantity: ${Math.floor(r() * 100) - 50}`,
  () => 'Unexpected token < in JSON at position 0',
  () => 'jwt expired',
  (r) => `Payment declined for customer cus_${Math.floor(r() * 1e9).toString(36)}`,
  () => 'Maximum call stack size exceeded',
  () => 'deadlock detected',
  (r) => `Upstream responded with ${[502, 503, 504][Math.floor(r() * 3)]}`,
  () => 'Cannot set headers after they are sent to the client',
  (r) => `SKU ${Math.floor(r() * 99999)} is out of stock`,
  () => 'read ECONNRESET',
];
const SERVICES = ['orders', 'cart', 'payments', 'invoices', 'users', 'catalog', 'shipping', 'search', 'auth', 'reports'];
const VERBS = ['load', 'save', 'validate', 'charge', 'render', 'resolve', 'sync', 'lookup', 'compute', 'notify'];
const EXPRESS_FRAMES = [
  'at Layer.handle [as handle_request] (/srv/app/node_modules/express/lib/router/layer.js:95:5)',
  'at next (/srv/app/node_modules/express/lib/router/route.js:149:13)',
  'at Route.dispatch (/srv/app/node_modules/express/lib/router/route.js:119:3)',
  'at /srv/app/node_modules/express/lib/router/index.js:284:15',
  'at Function.process_params (/srv/app/node_modules/express/lib/router/index.js:346:12)',
  'at next (/srv/app/node_modules/express/lib/router/index.js:280:10)',
  'at jsonParser (/srv/app/node_modules/body-parser/lib/types/json.js:113:7)',
  'at processTicksAndRejections (node:internal/process/task_queues:95:5)',
];
const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0',
  'okhttp/4.12.0',
  'curl/8.5.0',
];
const USERS = ['alice@example.com', 'bob@example.com', 'carol@example.org', 'dave@example.net', undefined, undefined];

function makeKinds(): Kind[] {
  const r = prng(42);
  const kinds: Kind[] = [];
  for (let k = 0; k < BENCH_KINDS; k++) {
    const service = SERVICES[k % SERVICES.length]!;
    const verb = VERBS[(k * 7) % VERBS.length]!;
    const type = TYPES[k % TYPES.length]!;
    const frames = [
      `at ${service[0]!.toUpperCase()}${service.slice(1)}Service.${verb} (/srv/app/src/services/${service}-service.js:${40 + k}:${11 + (k % 9)})`,
      `at async ${verb}${k}Handler (/srv/app/src/routes/${service}.js:${18 + k}:7)`,
      `at async withTransaction (/srv/app/src/db/transaction.js:${30 + (k % 5)}:14)`,
      ...(k % 3 === 0 ? [`at ${service}Repository.find (/srv/app/src/db/${service}-repository.js:${60 + k}:22)`] : []),
      ...EXPRESS_FRAMES,
    ];
    const kind: Kind = {
      type,
      title: TITLES[k % TITLES.length]!,
      frames,
      statusCode: [500, 500, 500, 502, 503, 504, 400, 404, 422, 401][k % 10]!,
      method: ['GET', 'POST', 'GET', 'PUT', 'DELETE', 'GET', 'PATCH'][k % 7]!,
      route: (rr) =>
        `/api/v${1 + (k % 2)}/${service}/${Math.floor(rr() * 100000)}${k % 4 === 0 ? `/items?page=${Math.floor(rr() * 20)}&sort=created` : ''}`,
      severity: k % 17 === 0 ? 'Fatal' : k % 5 === 0 ? 'Warning' : 'Error',
      log: BENCH_LOGS[k % BENCH_LOGS.length]!,
      fingerprint: '',
      cause:
        k % 6 === 0
          ? `[cause]: Error: ${['socket hang up', 'ETIMEDOUT', 'pool exhausted'][k % 3]}\n    at Socket.onend (/srv/app/node_modules/pg/lib/connection.js:${100 + k}:9)`
          : undefined,
    };
    kind.fingerprint = computeFingerprint(kind.type, detailOf(kind, kind.title(r)));
    kinds.push(kind);
  }
  return kinds;
}

function detailOf(kind: Kind, title: string): string {
  return `${kind.type}: ${title}\n    ${kind.frames.join('\n    ')}${kind.cause ? `\n  ${kind.cause}` : ''}`;
}

let kindsCache: Kind[] | undefined;

function headers(r: () => number, url: string, method: string): KeyValue[] {
  const ip = `${10 + Math.floor(r() * 200)}.${Math.floor(r() * 255)}.${Math.floor(r() * 255)}.${Math.floor(r() * 255)}`;
  return [
    { key: 'HTTP_HOST', value: 'api.shop.example.com' },
    { key: 'HTTP_USER_AGENT', value: AGENTS[Math.floor(r() * AGENTS.length)]! },
    { key: 'HTTP_ACCEPT', value: 'application/json, text/plain, */*' },
    { key: 'HTTP_ACCEPT_LANGUAGE', value: 'en-US,en;q=0.9,de;q=0.8' },
    { key: 'HTTP_ACCEPT_ENCODING', value: 'gzip, deflate, br, zstd' },
    { key: 'HTTP_REFERER', value: `https://shop.example.com/checkout/${Math.floor(r() * 1e6)}` },
    { key: 'HTTP_AUTHORIZATION', value: '[Filtered]' },
    { key: 'HTTP_COOKIE', value: '[Filtered]' },
    { key: 'HTTP_X_FORWARDED_FOR', value: ip },
    { key: 'HTTP_X_REQUEST_ID', value: `${Math.floor(r() * 1e12).toString(16)}-${Math.floor(r() * 1e12).toString(16)}` },
    {
      key: 'HTTP_TRACEPARENT',
      value: `00-${Math.floor(r() * 1e15)
        .toString(16)
        .padStart(32, '0')}-${Math.floor(r() * 1e15)
        .toString(16)
        .padStart(16, '0')}-01`,
    },
    { key: 'HTTP_CONTENT_TYPE', value: 'application/json; charset=utf-8' },
    { key: 'REMOTE_ADDR', value: '127.0.0.1' },
    { key: 'REQUEST_METHOD', value: method },
    { key: 'URL', value: url },
    { key: 'SERVER_PROTOCOL', value: 'HTTP/1.1' },
  ];
}

/** Options of {@link benchMessage}. */
export interface BenchMessageOptions {
  /** How many messages the whole run makes (spreads them over `spanMs`). */
  total: number;
  /** Time of the newest message, ms. Default: the time the module loaded. */
  endMs?: number;
  /** Time span covered, ms. Default 30 days (inside the 90-day retention). */
  spanMs?: number;
  /** Seed. Default 1. */
  seed?: number;
  /**
   * Every title unique (`… (request 123)`), as when messages carry ids or amounts: the worst case for storing
   * what repeats once. The word `request` then occurs in every message. Default false: the kinds' own mix,
   * in which some titles repeat.
   */
  uniqueTitles?: boolean;
}

const LOADED = Date.now();

/**
 * The i-th message of a run: oldest first, evenly spread over the span, kinds drawn with a skew (a few
 * errors are frequent, most are rare) so that groups look like a real log.
 */
export function benchMessage(i: number, options: BenchMessageOptions): ErrorMessage {
  const kinds = (kindsCache ??= makeKinds());
  const r = prng((options.seed ?? 1) * 1_000_003 + i);
  const kind = kinds[Math.floor(Math.pow(r(), 1.6) * kinds.length)]!;
  const span = options.spanMs ?? 30 * 86_400_000;
  const end = options.endMs ?? LOADED;
  const time = Math.floor(end - span + ((i + r()) * span) / options.total);
  const title = options.uniqueTitles ? `${kind.title(r)} (request ${i})` : kind.title(r);
  const url = kind.route(r);
  const query = url.includes('?')
    ? url
        .slice(url.indexOf('?') + 1)
        .split('&')
        .map((p) => ({ key: p.split('=')[0]!, value: p.split('=')[1] ?? '' }))
    : [];
  return {
    id: newMessageId(time),
    log: kind.log,
    dateTime: new Date(time).toISOString(),
    title,
    type: kind.type,
    detail: detailOf(kind, title),
    source: kind.frames[0]!.replace(/^at .*\((.*)\)$/, '$1'),
    statusCode: kind.statusCode,
    severity: kind.severity,
    url: `https://api.shop.example.com${url}`,
    method: kind.method,
    user: USERS[Math.floor(r() * USERS.length)],
    hostname: `web-${1 + Math.floor(r() * 6)}`,
    application: kind.log,
    version: `3.${Math.floor(i / Math.max(1, options.total / 4))}.0`,
    correlationId: `${Math.floor(r() * 1e12).toString(16)}`,
    category: 'http',
    serverVariables: headers(r, url, kind.method),
    cookies: [
      { key: 'sid', value: '[Filtered]' },
      { key: 'locale', value: '[Filtered]' },
    ],
    form:
      kind.method === 'GET'
        ? []
        : [
            { key: 'quantity', value: String(Math.floor(r() * 10)) },
            { key: 'password', value: '[Filtered]' },
          ],
    queryString: query,
    data: [
      { key: 'code', value: `E${1000 + BENCH_KINDS}` },
      { key: 'retryable', value: r() < 0.3 ? 'true' : 'false' },
    ],
    fingerprint: kind.fingerprint,
  };
}

/** `count` consecutive messages starting at index `start`. */
export function benchBatch(start: number, count: number, options: BenchMessageOptions): ErrorMessage[] {
  const out: ErrorMessage[] = [];
  for (let i = start; i < start + count && i < options.total; i++) out.push(benchMessage(i, options));
  return out;
}
