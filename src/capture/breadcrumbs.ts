// Breadcrumbs: the last events of each request (console lines, outgoing HTTP calls, addBreadcrumb), kept per
// request with AsyncLocalStorage in a small bounded ring, and copied into a message only when the request fails.
// A request's trail starts when Node's HTTP server publishes `http.server.request.start`, so no middleware has
// to run first; outgoing calls are heard on `http.client.*` (node:http) and `undici:request:*` (fetch).
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics from 'node:diagnostics_channel';
import { formatWithOptions } from 'node:util';
import { SEVERITIES, type Breadcrumb, type KeyValue, type Severity } from '../model/message.js';
import { createRedactor, FILTERED } from '../model/redact.js';
import { truncate } from '../model/truncate.js';
import { isErrorLike, safeGet, safeJson, safeKeys, safeText } from './safe.js';

/** Limits of one request's trail. */
export interface BreadcrumbLimits {
  /** Breadcrumbs kept per request (the oldest go first). Default 30. */
  maxCount: number;
  /** Characters kept per request, messages and data together. Default 16384. */
  maxBytes: number;
  /** Record `console.*` calls. Default true. */
  console: boolean;
  /** Record outgoing HTTP requests (node:http and fetch). Default true. */
  http: boolean;
}

/** Defaults of {@link BreadcrumbLimits}. */
export const BREADCRUMB_DEFAULTS: BreadcrumbLimits = { maxCount: 30, maxBytes: 16_384, console: true, http: true };

/** Longest message of one breadcrumb, in characters. */
const MAX_MESSAGE = 1000;
/** Longest data value of one breadcrumb, in characters. */
const MAX_VALUE = 500;
/** Most data entries of one breadcrumb. */
const MAX_DATA = 10;

/** What `addBreadcrumb` takes. */
export interface BreadcrumbInput {
  message: string;
  /** What kind of event. Default `Manual`. */
  action?: string;
  /** Default `Information`. */
  severity?: Severity;
  /** Details: an object of names and values, or elmah.io's `{ key, value }` list. */
  data?: Record<string, unknown> | KeyValue[];
}

/** One request's ring of breadcrumbs: a fixed number of slots, nothing allocated until the first one. */
class Trail {
  private items: (Breadcrumb & { size: number })[] | undefined;
  private start = 0;
  private size = 0;

  constructor(private readonly limits: BreadcrumbLimits) {}

  add(crumb: Breadcrumb): void {
    const size = crumb.message.length + crumb.action.length + (crumb.data?.reduce((n, kv) => n + kv.key.length + kv.value.length, 0) ?? 0);
    const items = (this.items ??= []);
    items.push({ ...crumb, size });
    this.size += size;
    // The oldest go first, until both bounds hold (the newest is always kept).
    while (items.length - this.start > 1 && (items.length - this.start > this.limits.maxCount || this.size > this.limits.maxBytes)) {
      this.size -= items[this.start]!.size;
      this.start++;
    }
    // The array is compacted now and then, so a long request costs at most twice its bound.
    if (this.start > this.limits.maxCount) {
      this.items = items.slice(this.start);
      this.start = 0;
    }
  }

  list(): Breadcrumb[] {
    if (!this.items) return [];
    return this.items.slice(this.start).map(({ size: _size, ...crumb }) => crumb);
  }
}

const storage = new AsyncLocalStorage<Trail>();
let limits: BreadcrumbLimits = BREADCRUMB_DEFAULTS;
let builtInKey: ((name: string) => boolean) | undefined;
/** The built-in name rules: what marks a data entry or an object member as secret when no logger gave its own. */
const defaultRedactKey = (name: string): boolean => (builtInKey ??= createRedactor().key)(name);
/** Names whose values are secret: the latest logger's rules (`redact.keys`), else the built-in ones. */
let redactKey: (name: string) => boolean = defaultRedactKey;
let installs = 0;
let uninstallAll: (() => void) | undefined;

/** The breadcrumbs of the request running now (oldest first), or undefined outside a request with a trail. */
export function currentBreadcrumbs(): Breadcrumb[] | undefined {
  const list = storage.getStore()?.list();
  return list && list.length > 0 ? list : undefined;
}

/** A data value as text: nested objects as JSON whose secret members (by name, at any depth) are filtered. */
function valueText(key: string, v: unknown): string {
  if (redactKey(key)) return FILTERED;
  const text =
    typeof v === 'string'
      ? v
      : v !== null && typeof v === 'object' && !isErrorLike(v)
        ? safeJson(v, { maxLength: MAX_VALUE * 2, redactKey })
        : safeText(v, MAX_VALUE * 2);
  return truncate(text, MAX_VALUE);
}

function entries(data: BreadcrumbInput['data']): KeyValue[] | undefined {
  if (data === undefined || data === null || typeof data !== 'object') return undefined;
  const out: KeyValue[] = [];
  if (Array.isArray(data)) {
    for (const kv of data.slice(0, MAX_DATA)) {
      const key = safeGet(kv, 'key');
      if (typeof key === 'string') out.push({ key: truncate(key, 100), value: valueText(key, safeGet(kv, 'value')) });
    }
  } else {
    for (const key of safeKeys(data).slice(0, MAX_DATA)) out.push({ key: truncate(key, 100), value: valueText(key, safeGet(data, key)) });
  }
  return out.length > 0 ? out : undefined;
}

function push(trail: Trail | undefined, severity: Severity, action: string, message: string, data?: KeyValue[]): void {
  if (!trail) return;
  trail.add({ dateTime: new Date().toISOString(), severity, action, message: truncate(message, MAX_MESSAGE), ...(data ? { data } : {}) });
}

/**
 * Adds a breadcrumb to the request running now: it is stored with the request's error, if the request fails.
 * Outside a request (or when no errorLogger records breadcrumbs) it does nothing. Never throws.
 */
export function addBreadcrumb(crumb: BreadcrumbInput | string): void {
  try {
    const trail = storage.getStore();
    if (!trail) return;
    const input: BreadcrumbInput = typeof crumb === 'string' ? { message: crumb } : crumb;
    const severity = SEVERITIES.includes(input.severity as Severity) ? input.severity! : 'Information';
    const action = typeof input.action === 'string' && input.action ? truncate(input.action, 100) : 'Manual';
    push(
      trail,
      severity,
      action,
      typeof input.message === 'string' ? input.message : safeText(input.message, MAX_MESSAGE),
      entries(input.data),
    );
  } catch {
    // A breadcrumb must never break the request.
  }
}

/** `scheme://user:pass@host/…` without its user info: everything up to the last `@` before the path goes. */
function withoutUserInfo(base: string): string {
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(base);
  if (!scheme) return base;
  const start = scheme[0].length;
  const slash = base.indexOf('/', start);
  const authority = base.slice(start, slash < 0 ? undefined : slash);
  const at = authority.lastIndexOf('@');
  return at < 0 ? base : base.slice(0, start) + base.slice(start + at + 1);
}

/** A URL with each query value filtered (the names stay: they tell which call it was) and without user info. */
export function redactedUrl(url: string): string {
  const q = url.indexOf('?');
  const hash = url.indexOf('#');
  const base = withoutUserInfo(q < 0 ? (hash < 0 ? url : url.slice(0, hash)) : url.slice(0, q));
  if (q < 0) return base;
  const query = url.slice(q + 1, hash > q ? hash : undefined);
  const names = query
    .split('&')
    .filter(Boolean)
    .map((pair) => `${pair.split('=')[0]}=[Filtered]`);
  return `${base}?${names.join('&')}`;
}

const CONSOLE_SEVERITY: Record<string, Severity> = {
  debug: 'Debug',
  log: 'Information',
  info: 'Information',
  warn: 'Warning',
  error: 'Error',
};

/** Levels of a console argument copied with its secrets filtered: as deep as the breadcrumb's formatting shows. */
const MAX_ARG_DEPTH = 3;
/** Members copied across one console call's arguments; past it, objects are left out as `[…]`. */
const MAX_ARG_MEMBERS = 1000;

/**
 * A console argument with the value of every member whose name is secret filtered, for formatting: plain
 * objects and arrays are copied (cycles kept as cycles, accessors left as they are, never called), down to
 * the depth the formatting shows. Other objects (class instances, Maps, URLs) are left to the scrub's text rules.
 */
function redactedArgs(args: unknown[]): unknown[] {
  if (!args.some((arg) => arg !== null && typeof arg === 'object')) return args;
  const copies = new Map<object, unknown>();
  let budget = MAX_ARG_MEMBERS;
  const copy = (value: unknown, depth: number): unknown => {
    if (value === null || typeof value !== 'object') return value;
    const known = copies.get(value);
    if (known !== undefined) return known;
    const isArray = Array.isArray(value);
    const proto = Object.getPrototypeOf(value) as unknown;
    if (!isArray && proto !== Object.prototype && proto !== null) return value;
    if (depth > MAX_ARG_DEPTH) return value;
    const out = (isArray ? [] : Object.create(proto as object | null)) as Record<PropertyKey, unknown>;
    copies.set(value, out);
    for (const key of Reflect.ownKeys(value)) {
      if (--budget < 0) return '[…]';
      const descriptor = Reflect.getOwnPropertyDescriptor(value, key)!;
      if ('value' in descriptor)
        descriptor.value = typeof key === 'string' && redactKey(key) ? FILTERED : copy(descriptor.value as unknown, depth + 1);
      Reflect.defineProperty(out, key, descriptor);
    }
    return out;
  };
  return args.map((arg) => copy(arg, 0));
}

function installConsole(): () => void {
  const originals = new Map<string, (...args: unknown[]) => void>();
  const wrappers = new Map<string, (...args: unknown[]) => void>();
  const target = console as unknown as Record<string, (...args: unknown[]) => void>;
  for (const [name, severity] of Object.entries(CONSOLE_SEVERITY)) {
    const original = target[name];
    if (typeof original !== 'function') continue;
    const wrapper = function (this: unknown, ...args: unknown[]): void {
      const trail = limits.console ? storage.getStore() : undefined;
      if (trail) {
        try {
          const shown = redactedArgs(args);
          push(trail, severity, 'Log', formatWithOptions({ depth: 2, breakLength: Infinity, maxStringLength: MAX_MESSAGE }, ...shown));
        } catch {
          // An argument that cannot be formatted is left out of the trail, not out of the console.
        }
      }
      return original.apply(this, args);
    };
    originals.set(name, original);
    wrappers.set(name, wrapper);
    target[name] = wrapper;
  }
  return () => {
    // Put back only what is still ours: another tool may have wrapped the console since.
    for (const [name, original] of originals) if (target[name] === wrappers.get(name)) target[name] = original;
  };
}

/** Outgoing requests started in a request with a trail: where to record the outcome, and since when. */
const outgoing = new WeakMap<object, { trail: Trail; start: number; method: string; url: string }>();

function finish(request: object, status: number | undefined, error?: unknown): void {
  const call = outgoing.get(request);
  if (!call) return;
  outgoing.delete(request);
  const ms = Math.round(performance.now() - call.start);
  const data: KeyValue[] = [
    { key: 'method', value: call.method },
    { key: 'url', value: call.url },
  ];
  if (status !== undefined) data.push({ key: 'status', value: String(status) });
  data.push({ key: 'durationMs', value: String(ms) });
  if (error !== undefined)
    data.push({ key: 'error', value: truncate(safeText(safeGet(error, 'message') ?? error, MAX_VALUE * 2), MAX_VALUE) });
  const severity: Severity =
    error !== undefined || status === undefined || status >= 500 ? 'Error' : status >= 400 ? 'Warning' : 'Information';
  const outcome = status !== undefined ? String(status) : 'failed';
  push(call.trail, severity, 'Request', `${call.method} ${call.url} → ${outcome} (${ms} ms)`, data);
}

function started(request: object, method: unknown, url: string): void {
  // The trail is the caller's: the response may come back in the context of a pooled socket opened by another request.
  const trail = limits.http ? storage.getStore() : undefined;
  if (!trail) return;
  outgoing.set(request, {
    trail,
    start: performance.now(),
    method: typeof method === 'string' ? method : 'GET',
    url: truncate(redactedUrl(url), 400),
  });
}

/** Subscribes to a channel; the returned function unsubscribes. A subscriber never throws into the publisher. */
function listen(name: string, handler: (message: Record<string, unknown>) => void): () => void {
  const guarded = (message: unknown): void => {
    try {
      handler(message as Record<string, unknown>);
    } catch {
      // A breadcrumb must never break the request or the call.
    }
  };
  diagnostics.subscribe(name, guarded);
  return () => diagnostics.unsubscribe(name, guarded);
}

function installChannels(): () => void {
  const offs = [
    // A new trail per incoming request, for the rest of its handling (the request event and everything it starts).
    listen('http.server.request.start', () => storage.enterWith(new Trail(limits))),
    listen('http.client.request.start', ({ request }) => {
      const r = request as { method?: unknown; protocol?: unknown; path?: unknown; getHeader?: (name: string) => unknown };
      const host = typeof r.getHeader === 'function' ? r.getHeader('host') : undefined;
      started(request as object, r.method, `${String(r.protocol ?? 'http:')}//${String(host ?? '')}${String(r.path ?? '')}`);
    }),
    listen('http.client.response.finish', ({ request, response }) => finish(request as object, safeGet(response, 'statusCode') as number)),
    listen('http.client.request.error', ({ request, error }) => finish(request as object, undefined, error ?? 'failed')),
    listen('undici:request:create', ({ request }) => {
      const r = request as { method?: unknown; origin?: unknown; path?: unknown };
      started(request as object, r.method, `${String(r.origin ?? '')}${String(r.path ?? '')}`);
    }),
    listen('undici:request:headers', ({ request, response }) => finish(request as object, safeGet(response, 'statusCode') as number)),
    listen('undici:request:error', ({ request, error }) => finish(request as object, undefined, error ?? 'failed')),
  ];
  return () => offs.forEach((off) => off());
}

/**
 * Starts recording breadcrumbs with `settings` and `secretKey`, the names whose values are filtered from
 * breadcrumb data and console arguments (the latest call's apply to every logger). Counted:
 * the hooks come off when every install has been undone. Returns the undo.
 */
export function installBreadcrumbs(settings: Partial<BreadcrumbLimits> = {}, secretKey?: (name: string) => boolean): () => void {
  limits = { ...BREADCRUMB_DEFAULTS };
  redactKey = secretKey ?? defaultRedactKey;
  for (const [name, value] of Object.entries(settings))
    if (value !== undefined) (limits as unknown as Record<string, unknown>)[name] = value;
  if (installs++ === 0) {
    const offConsole = installConsole();
    const offChannels = installChannels();
    uninstallAll = () => {
      offConsole();
      offChannels();
    };
  }
  let undone = false;
  return () => {
    if (undone) return;
    undone = true;
    if (--installs === 0) {
      uninstallAll?.();
      uninstallAll = undefined;
      limits = BREADCRUMB_DEFAULTS;
      redactKey = defaultRedactKey;
    }
  };
}

/** Runs `fn` with a fresh trail: for work outside an HTTP server's request (a queue job, a test). */
export function withBreadcrumbs<T>(fn: () => T): T {
  return storage.run(new Trail(limits), fn);
}
