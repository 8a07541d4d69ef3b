// Building an error message record (DESIGN.md's field table) from any thrown value and the request.
import { readFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { Request } from 'express';
import { computeFingerprint, routeKey, type SourceLineReader } from '../model/fingerprint.js';
import { newMessageId } from '../model/id.js';
import { MAX_FORM_BYTES, MAX_MESSAGE_BYTES, STRING_FIELDS, type ErrorMessage, type KeyValue, type Severity } from '../model/message.js';
import { FILTERED, type Redactor } from '../model/redact.js';
import { firstFrameLine, headerEnd, parseFrame } from '../model/stack.js';
import { truncate } from '../model/truncate.js';
import { clip, clipList, MAX_ENTRIES, MAX_ENTRY_KEY, MAX_ENTRY_VALUE } from './limits.js';
import { constructorName, isErrorLike, primitiveType, safeGet, safeJson, safeKeys, safeText } from './safe.js';

/** How deep a `cause` chain is followed. */
const MAX_CAUSES = 10;
/** How many members of an AggregateError are written out. */
const MAX_MEMBERS = 20;
/** How much of an error's own message is kept inside `detail` before its frames. */
const MAX_STACK_HEAD = 8192;
/** Characters of detail after which members and causes are left out (the rest would be cut anyway). */
const DETAIL_BUDGET = STRING_FIELDS.detail;
/** Nesting walked when flattening a parsed body into form entries. */
const MAX_FORM_DEPTH = 5;

/** What the record builder needs besides the error and the request. */
export interface RecordContext {
  log: string;
  severity: Severity;
  redactor: Redactor;
  application?: string | undefined;
  version?: string | undefined;
  category?: string | undefined;
  user?: ((req: Request) => string | undefined | null) | undefined;
  /** Reads the app's source lines, so that anonymous frames are grouped by their code. */
  sourceLine?: SourceLineReader | undefined;
  now?: Date;
}

/** The parts of a record that come from the thrown value alone. */
export interface ErrorParts {
  type: string;
  title: string;
  detail?: string | undefined;
  /** Where the top error's frames start in `detail`: after its `Name: message` header (0 when unknown). */
  framesAt?: number | undefined;
  /** The frame lines of `detail` without any error's header (its own, its causes' and members'): what groups it. */
  frames?: string | undefined;
  source?: string | undefined;
  statusCode: number;
  data: KeyValue[];
}

let appPackage: { name?: string | undefined; version?: string | undefined } | undefined;

/** The app's package.json (found from process.cwd() upward), read once per process. */
export function appPackageInfo(): { name?: string | undefined; version?: string | undefined } {
  if (appPackage) return appPackage;
  appPackage = {};
  try {
    let dir = process.cwd();
    for (let i = 0; i < 50; i++) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
        appPackage = {
          name: typeof pkg.name === 'string' ? pkg.name : undefined,
          version: typeof pkg.version === 'string' ? pkg.version : undefined,
        };
        break;
      } catch {
        const up = dirname(dir);
        if (up === dir) break;
        dir = up;
      }
    }
  } catch {
    // No readable package.json: the fields stay empty.
  }
  return appPackage;
}

let machineName: string | undefined;
function machine(): string {
  if (machineName === undefined) {
    try {
      machineName = osHostname();
    } catch {
      machineName = '';
    }
  }
  return machineName;
}

/** The type word of DESIGN.md: constructor name for errors and class instances, else `string`, `null`, `object`… */
export function typeOf(value: unknown): string {
  if (isErrorLike(value)) {
    const ctor = constructorName(value);
    const name = safeGet(value, 'name');
    // A plain Error renamed by the app (err.name = 'ValidationError') says more than its constructor.
    if ((ctor === undefined || ctor === 'Error') && typeof name === 'string' && name) return name.slice(0, 200);
    return ctor ?? 'Error';
  }
  const kind = primitiveType(value);
  if (kind === 'object') {
    const ctor = constructorName(value);
    return ctor && ctor !== 'Object' ? ctor : 'object';
  }
  return kind;
}

/** `status ?? statusCode ?? 500`, accepting only HTTP-like integers. */
export function statusOf(value: unknown): number {
  for (const prop of ['status', 'statusCode']) {
    const v = safeGet(value, prop);
    if (typeof v === 'number' && Number.isInteger(v) && v >= 100 && v <= 999) return v;
    if (typeof v === 'string' && /^[1-9]\d\d$/.test(v)) return Number(v);
  }
  return 500;
}

/** The status an error claims, or undefined when it claims none (used by the default filter). */
export function claimedStatus(value: unknown): number | undefined {
  const s = statusOf(value);
  return s === 500 && safeGet(value, 'status') === undefined && safeGet(value, 'statusCode') === undefined ? undefined : s;
}

function titleOf(value: unknown, type: string): string {
  if (isErrorLike(value)) {
    const message = safeGet(value, 'message');
    const text = typeof message === 'string' ? message : message === undefined ? '' : safeText(message, 4096);
    return text || type;
  }
  if (typeof value === 'string') return value || '(empty string)';
  if (value !== null && typeof value === 'object') {
    const message = safeGet(value, 'message');
    if (typeof message === 'string' && message) return message;
    return safeJson(value, { maxLength: 4096 });
  }
  return safeText(value);
}

/**
 * A stack text with an over-long message part shortened, so the frames survive the detail limit, and where
 * its frames start. The frames are looked for after `from`, the end of the `Name: message` header.
 */
function clipStack(stack: string, from: number): { text: string; framesAt: number } {
  if (stack.length <= MAX_STACK_HEAD) return { text: stack, framesAt: from };
  const frameLine = firstFrameLine(stack, from);
  const firstFrame = frameLine < 0 ? -1 : frameLine - 1;
  const head = firstFrame < 0 ? stack : stack.slice(0, firstFrame);
  // Long frame lists are cut later, with a marker, by fitMessage.
  if (head.length <= MAX_STACK_HEAD) return { text: clip(stack, STRING_FIELDS.detail), framesAt: from };
  const shortHead = truncate(head, MAX_STACK_HEAD);
  return {
    text: shortHead + (firstFrame < 0 ? '' : clip(stack.slice(firstFrame), STRING_FIELDS.detail)),
    framesAt: shortHead.length,
  };
}

function stackOf(err: object, type: string, title: string): { text: string; framesAt: number } {
  const stack = safeGet(err, 'stack');
  // A message of several lines may hold frame-shaped lines: the frames start after the header holding it.
  if (typeof stack === 'string' && stack) return clipStack(stack, headerEnd(stack, title));
  const text = `${type}: ${title.slice(0, MAX_STACK_HEAD)}`;
  return { text, framesAt: text.length };
}

/** Array.isArray that a hostile Proxy (whose check throws) cannot break: such a value is no list. */
function isArray(value: unknown): value is unknown[] {
  try {
    return Array.isArray(value);
  } catch {
    return false;
  }
}

/**
 * The stack, then AggregateError members and the cause chain, with cycles and depth bounded. Members and
 * causes stop once the text has reached `budget` characters: a wide tree of errors cannot make it huge.
 */
function detailOf(err: object, seen: Set<unknown>, depth: number, budget: number, out: { framesAt: number; frames: string }): string {
  seen.add(err);
  const type = typeOf(err);
  const own = stackOf(err, type, titleOf(err, type));
  out.framesAt = own.framesAt;
  out.frames = own.text.slice(own.framesAt);
  let text = own.text;
  /** A nested error's detail; its frames (without its header) are added to this one's. */
  const nested = (inner: object): string => {
    const innerOut = { framesAt: 0, frames: '' };
    const body = detailOf(inner, seen, depth + 1, budget - text.length, innerOut);
    out.frames += `\n${innerOut.frames}`;
    return body;
  };
  const indent = '    '.repeat(depth + 1);
  const members = safeGet(err, 'errors');
  if (isArray(members) && depth < MAX_CAUSES) {
    const list = members as unknown[];
    const n = Number(safeGet(list, 'length')) || 0;
    for (let i = 0; i < Math.min(n, MAX_MEMBERS); i++) {
      if (text.length >= budget) {
        text += `\n${indent}[… more errors left out]`;
        break;
      }
      const member = safeGet(list, i);
      const body = isErrorLike(member)
        ? seen.has(member)
          ? '[Circular]'
          : nested(member)
        : `${typeOf(member)}: ${safeText(member, 1024)}`;
      text += `\n${indent}[errors ${i}] ${body.replace(/\n/g, `\n${indent}`)}`;
    }
    if (n > MAX_MEMBERS) text += `\n${indent}[… ${n - MAX_MEMBERS} more errors]`;
  }
  let cause: unknown;
  let hasCause: boolean;
  try {
    hasCause = 'cause' in err;
  } catch {
    hasCause = false;
  }
  if (hasCause) cause = safeGet(err, 'cause');
  if (hasCause && cause !== undefined) {
    if (depth >= MAX_CAUSES || text.length >= budget) text += '\nCaused by: […deeper causes left out]';
    else if (seen.has(cause)) text += '\nCaused by: [Circular cause]';
    else if (isErrorLike(cause)) text += `\nCaused by: ${nested(cause)}`;
    else text += `\nCaused by: ${typeOf(cause)}: ${safeText(cause, 1024)}`;
  }
  return text;
}

/** The top stack frame as `file:line:col`, or the function name. */
function sourceOf(detail: string | undefined, framesAt: number): string | undefined {
  if (!detail) return undefined;
  // Only the first frame line is parsed; the rest of the stack is not needed here.
  const at = firstFrameLine(detail, framesAt);
  const firstCause = detail.indexOf('\nCaused by: ', framesAt);
  if (at < 0 || (firstCause >= 0 && at > firstCause)) return undefined;
  const end = detail.indexOf('\n', at);
  const frame = parseFrame(detail.slice(at, end < 0 ? undefined : end));
  if (!frame) return undefined;
  if (frame.file) return `${frame.file}:${frame.line ?? 0}:${frame.column ?? 0}`;
  return frame.fn ?? frame.raw;
}

const SKIP_DATA = new Set(['stack', 'message', 'cause', 'errors']);

/** The error's own enumerable properties, safely stringified and redacted by name. */
function dataOf(value: unknown, redactor: Redactor): KeyValue[] {
  if (value === null || typeof value !== 'object') return [];
  const out: KeyValue[] = [];
  for (const key of safeKeys(value).slice(0, 100)) {
    if (SKIP_DATA.has(key)) continue;
    const name = clip(key, MAX_ENTRY_KEY);
    if (redactor.key(name)) {
      out.push({ key: name, value: FILTERED });
      continue;
    }
    const v = safeGet(value, key);
    out.push({
      key: name,
      value: typeof v === 'string' ? clip(v, MAX_ENTRY_VALUE) : safeJson(v, { maxLength: 4096, redactKey: redactor.key }),
    });
  }
  return out;
}

/**
 * The own properties of each error in the cause chain and of AggregateError members, named by where they
 * sit (`cause.code`, `errors[0].code`, `cause.errors[1].code`): a wrapped database error's `code` is kept
 * as the top error's own `code` is.
 */
function chainData(value: unknown, redactor: Redactor): KeyValue[] {
  if (value === null || typeof value !== 'object') return [];
  const out: KeyValue[] = [];
  const seen = new Set<unknown>([value]);
  const add = (err: unknown, prefix: string, depth: number): void => {
    if (err === null || typeof err !== 'object' || seen.has(err) || depth > MAX_CAUSES || out.length >= MAX_ENTRIES) return;
    seen.add(err);
    for (const kv of dataOf(err, redactor)) out.push({ key: clip(prefix + kv.key, MAX_ENTRY_KEY), value: kv.value });
    walk(err, prefix, depth);
  };
  const walk = (err: object, prefix: string, depth: number): void => {
    const members = safeGet(err, 'errors');
    if (isArray(members)) {
      const n = Math.min(Number(safeGet(members, 'length')) || 0, MAX_MEMBERS);
      for (let i = 0; i < n; i++) add(safeGet(members, i), `${prefix}errors[${i}].`, depth + 1);
    }
    let hasCause: boolean;
    try {
      hasCause = 'cause' in err;
    } catch {
      hasCause = false;
    }
    if (hasCause) add(safeGet(err, 'cause'), `${prefix}cause.`, depth + 1);
  };
  walk(value, '', 0);
  return out;
}

/** Type, title, detail, source, status and data from any thrown value. Never throws. */
export function describeError(value: unknown, redactor: Redactor): ErrorParts {
  const type = clip(typeOf(value), STRING_FIELDS.type);
  const title = clip(titleOf(value, type), STRING_FIELDS.title);
  let detail: string | undefined;
  const top = { framesAt: 0, frames: '' };
  if (value !== null && typeof value === 'object') {
    detail = isErrorLike(value)
      ? clip(detailOf(value, new Set(), 0, DETAIL_BUDGET, top), STRING_FIELDS.detail)
      : `${type}: ${safeJson(value, { maxLength: 16_384, redactKey: redactor.key })}`;
  }
  const framesAt = detail === undefined ? 0 : Math.min(top.framesAt, detail.length);
  return {
    type,
    title,
    detail,
    framesAt,
    frames: isErrorLike(value) ? clip(top.frames, STRING_FIELDS.detail) : undefined,
    source: sourceOf(detail, framesAt),
    statusCode: statusOf(value),
    data: isErrorLike(value) ? [...dataOf(value, redactor), ...chainData(value, redactor)] : dataOf(value, redactor),
  };
}

function headerText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.filter((v) => typeof v === 'string').join(', ');
  return undefined;
}

/** `traceparent`'s trace-id, else `x-request-id`. */
export function correlationIdOf(headers: Record<string, unknown>): string | undefined {
  const tp = headerText(headers.traceparent);
  const m = tp ? /^\s*[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}/i.exec(tp.slice(0, 512)) : null;
  if (m) return m[1]!.toLowerCase();
  const rid = headerText(headers['x-request-id'])?.trim();
  return rid ? rid.slice(0, 512) : undefined;
}

/** Flattens a parsed body into `a.b`, `a[0]` entries; an entry whose path names a secret is filtered. */
function flatten(value: unknown, redactor: Redactor): KeyValue[] {
  const out: KeyValue[] = [];
  const walk = (v: unknown, path: string, secret: boolean, depth: number): void => {
    if (out.length >= 200) return;
    if (secret) {
      out.push({ key: path, value: FILTERED });
      return;
    }
    if (v !== null && typeof v === 'object' && depth < MAX_FORM_DEPTH && !Buffer.isBuffer(v)) {
      let isArray: boolean;
      try {
        isArray = Array.isArray(v);
      } catch {
        out.push({ key: path, value: '[Unreadable]' });
        return;
      }
      const keys = isArray ? Array.from({ length: Math.min(Number(safeGet(v, 'length')) || 0, 200) }, (_, i) => String(i)) : safeKeys(v);
      if (keys.length === 0) {
        if (path) out.push({ key: path, value: isArray ? '[]' : '{}' });
        return;
      }
      for (const key of keys) {
        const k = clip(key, MAX_ENTRY_KEY);
        const child = isArray ? `${path}[${k}]` : path ? `${path}.${k}` : k;
        walk(safeGet(v, key), child, !isArray && redactor.param(k), depth + 1);
      }
      return;
    }
    const text =
      typeof v === 'string'
        ? clip(v, MAX_ENTRY_VALUE)
        : v !== null && typeof v === 'object'
          ? safeJson(v, { maxLength: 4096, redactKey: redactor.key })
          : safeText(v);
    out.push({ key: path || '(body)', value: text });
  };
  walk(value, '', false, 0);
  return out;
}

/** Limits of a typed JSON body, tried largest first until its text fits {@link MAX_JSON_BODY}. */
const JSON_BODY_LIMITS = [
  { depth: 8, members: 100, string: 2048, nodes: 2000 },
  { depth: 6, members: 30, string: 256, nodes: 400 },
  { depth: 4, members: 10, string: 64, nodes: 100 },
] as const;
/** Characters of a typed JSON body's text. */
const MAX_JSON_BODY = 16_384;

/**
 * A parsed JSON body as JSON text with its types kept (`2` stays a number, `"2"` a string), members whose
 * name is secret filtered at every depth, and visible marks where it was cut: a string ends with
 * `…[truncated N bytes]`, a list with `"[… N more items]"`, an object with a `"…"` member, a level too deep
 * reads `"[Object]"` or `"[Array]"`. Undefined when the body is not a JSON object or list.
 */
export function typedBody(body: unknown, redactor: Redactor): string | undefined {
  for (const limits of JSON_BODY_LIMITS) {
    let nodes = 0;
    const copy = (v: unknown, depth: number): unknown => {
      nodes++;
      if (typeof v === 'string') return v.length > limits.string ? truncate(v, limits.string) : v;
      if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
      if (typeof v === 'boolean' || v === null) return v;
      if (typeof v !== 'object') return v === undefined ? null : safeText(v, limits.string);
      if (Buffer.isBuffer(v)) return `[${v.length} bytes]`;
      let isArray: boolean;
      try {
        isArray = Array.isArray(v);
      } catch {
        return '[Unreadable]';
      }
      if (depth >= limits.depth || nodes >= limits.nodes) return isArray ? '[Array]' : '[Object]';
      if (isArray) {
        const n = Number(safeGet(v, 'length')) || 0;
        const out: unknown[] = [];
        for (let i = 0; i < Math.min(n, limits.members) && nodes < limits.nodes; i++) out.push(copy(safeGet(v, i), depth + 1));
        if (out.length < n) out.push(`[… ${n - out.length} more items]`);
        return out;
      }
      const keys = safeKeys(v);
      // Without a prototype, a member named __proto__ stays a member.
      const out = Object.create(null) as Record<string, unknown>;
      let kept = 0;
      for (const key of keys) {
        if (kept >= limits.members || nodes >= limits.nodes) break;
        const name = clip(key, MAX_ENTRY_KEY);
        out[name] = redactor.param(name) ? FILTERED : copy(safeGet(v, key), depth + 1);
        kept++;
      }
      if (kept < keys.length) out['…'] = `[${keys.length - kept} more members]`;
      return out;
    };
    let text: string;
    try {
      text = JSON.stringify(copy(body, 0));
    } catch {
      return undefined;
    }
    if (text.length <= MAX_JSON_BODY) return text;
  }
  return JSON.stringify('[JSON body too large to show]');
}

/** True when the request says its body is JSON (`application/json`, `application/*+json`). */
function isJsonRequest(headers: Record<string, unknown>): boolean {
  const type = headerText(headers['content-type']);
  return type !== undefined && /^\s*application\/(?:[\w.+-]*\+)?json\s*(?:;|$)/i.test(type.slice(0, 256));
}

function formOf(req: Request, redactor: Redactor): KeyValue[] {
  const body: unknown = safeGet(req, 'body');
  if (body === undefined || body === null) return [];
  if (Buffer.isBuffer(body)) return [{ key: '(body)', value: `[${body.length} bytes]` }];
  // A text body is often urlencoded; redact it as a query would be.
  if (typeof body === 'string') return [{ key: '(body)', value: redactor.url(`?${clip(body, MAX_ENTRY_VALUE)}`).slice(1) }];
  if (typeof body !== 'object') return [{ key: '(body)', value: safeText(body) }];
  return flatten(body, redactor);
}

function queryOf(url: string, redactor: Redactor): KeyValue[] {
  const q = url.indexOf('?');
  if (q < 0) return [];
  const out: KeyValue[] = [];
  try {
    const hash = url.indexOf('#', q);
    for (const [name, value] of new URLSearchParams(url.slice(q + 1, hash < 0 ? undefined : hash))) {
      if (out.length >= 200) break;
      const key = clip(name, MAX_ENTRY_KEY);
      out.push({ key, value: redactor.param(key) ? FILTERED : clip(value, MAX_ENTRY_VALUE) });
    }
  } catch {
    // An unparsable query still shows in `url`.
  }
  return out;
}

function cookiesOf(req: Request, headers: Record<string, unknown>): KeyValue[] {
  const names = new Set<string>();
  for (const source of [safeGet(req, 'cookies'), safeGet(req, 'signedCookies')]) {
    for (const k of safeKeys(source)) {
      if (names.size >= MAX_ENTRIES) break;
      names.add(clip(k, MAX_ENTRY_KEY));
    }
  }
  const header = headerText(headers.cookie);
  // Read part by part, stopping at the last name kept: a huge header costs no more than its first names.
  for (let start = 0, parts = 0; header && start < header.length && names.size < MAX_ENTRIES && parts < 4 * MAX_ENTRIES; parts++) {
    let end = header.indexOf(';', start);
    if (end < 0) end = header.length;
    const part = header.slice(start, end);
    const eq = part.indexOf('=');
    const name = (eq < 0 ? part : part.slice(0, eq)).trim();
    if (name) names.add(clip(name, MAX_ENTRY_KEY));
    start = end + 1;
  }
  // Every cookie value is secret; the names alone tell what the browser sent.
  return [...names].map((key) => ({ key, value: FILTERED }));
}

function userOf(req: Request, pick: RecordContext['user']): string | undefined {
  if (pick) {
    try {
      const u = pick(req);
      return typeof u === 'string' && u ? clip(u, STRING_FIELDS.user) : undefined;
    } catch {
      return undefined;
    }
  }
  const user = safeGet(req, 'user');
  if (typeof user === 'string') return clip(user, STRING_FIELDS.user) || undefined;
  for (const prop of ['username', 'name', 'email', 'id']) {
    const v = safeGet(user, prop);
    if ((typeof v === 'string' && v) || typeof v === 'number') return String(v);
  }
  return undefined;
}

function addressOf(req: Request): string | undefined {
  const ip = safeGet(req, 'ip');
  if (typeof ip === 'string' && ip) return ip;
  const addr = safeGet(safeGet(req, 'socket'), 'remoteAddress');
  return typeof addr === 'string' ? addr : undefined;
}

/** The request parts of a record. */
function requestParts(req: Request, ctx: RecordContext): Partial<ErrorMessage> {
  const r = ctx.redactor;
  const rawHeaders = safeGet(req, 'headers');
  const headers = (rawHeaders !== null && typeof rawHeaders === 'object' ? rawHeaders : {}) as Record<string, unknown>;
  const serverVariables: KeyValue[] = [];
  for (const header of safeKeys(headers)) {
    const value = headerText(safeGet(headers, header));
    const name = clip(header, MAX_ENTRY_KEY);
    if (value !== undefined) serverVariables.push({ key: name, value: r.headerValue(name, clip(value, MAX_ENTRY_VALUE)) });
  }
  const address = addressOf(req);
  if (address) serverVariables.push({ key: 'REMOTE_ADDR', value: address });
  const originalUrl = safeGet(req, 'originalUrl');
  const rawUrl = typeof originalUrl === 'string' ? originalUrl : safeGet(req, 'url');
  const url = typeof rawUrl === 'string' ? rawUrl : undefined;
  const method = safeGet(req, 'method');
  // A parsed JSON body is kept as JSON, with its types; any other body is flattened into the form table.
  const body: unknown = safeGet(req, 'body');
  const jsonBody =
    body !== null && typeof body === 'object' && !Buffer.isBuffer(body) && isJsonRequest(headers) ? typedBody(body, r) : undefined;
  return {
    jsonBody,
    url: url === undefined ? undefined : r.url(clip(url, STRING_FIELDS.url)),
    method: typeof method === 'string' ? method : undefined,
    user: userOf(req, ctx.user),
    correlationId: correlationIdOf(headers),
    serverVariables: clipList(serverVariables, MAX_MESSAGE_BYTES),
    cookies: cookiesOf(req, headers),
    form: jsonBody === undefined ? clipList(formOf(req, r), MAX_FORM_BYTES) : [],
    queryString: url === undefined ? [] : clipList(queryOf(clip(url, MAX_MESSAGE_BYTES), r), MAX_MESSAGE_BYTES),
  };
}

/** `METHOD /route/pattern` of the Express route that failed, or undefined outside a route (middleware). */
function routeOf(req: Request | undefined): string | undefined {
  if (!req) return undefined;
  const path = safeGet(safeGet(req, 'route'), 'path');
  // Express 4 and 5 accept a string, a RegExp or a list of them as a route's path.
  const pattern = typeof path === 'string' ? path : path instanceof RegExp || Array.isArray(path) ? safeText(path, 400) : undefined;
  const method = safeGet(req, 'method');
  return pattern ? routeKey(typeof method === 'string' ? method : undefined, pattern) : undefined;
}

/**
 * The fingerprint of an error's parts as captured with `req`: the full record and the storm path's
 * counted-only occurrence both take it from here, so they land in the same group.
 */
export function fingerprintOf(parts: ErrorParts, req: Request | undefined, sourceLine: SourceLineReader | undefined): string {
  let route: string | undefined;
  try {
    route = routeOf(req);
  } catch {
    route = undefined;
  }
  // Only lines after the header are frames: a message's frame-shaped lines neither group nor read files.
  const detail = parts.frames ?? (parts.framesAt ? parts.detail?.slice(parts.framesAt) : parts.detail);
  return computeFingerprint(parts.type, detail, parts.title, { route, sourceLine });
}

/**
 * A complete record for any thrown value and (optionally) its request: error parts, request context,
 * app context, a new id and the fingerprint. Redacted by `ctx.redactor`; not yet size-limited.
 * Never throws.
 */
const framesStarts = new WeakMap<ErrorMessage, number>();

/** Where the top error's frames start in the `detail` of a message {@link buildMessage} built (after its header). */
export function framesStartOf(message: ErrorMessage): number {
  return framesStarts.get(message) ?? 0;
}

export function buildMessage(value: unknown, req: Request | undefined, ctx: RecordContext): ErrorMessage {
  const now = ctx.now ?? new Date();
  const parts = describeError(value, ctx.redactor);
  const pkg = ctx.application === undefined || ctx.version === undefined ? appPackageInfo() : {};
  let request: Partial<ErrorMessage> = {};
  if (req) {
    try {
      request = requestParts(req, ctx);
    } catch {
      request = {};
    }
  }
  const message: ErrorMessage = {
    id: newMessageId(now.getTime()),
    log: ctx.log,
    dateTime: now.toISOString(),
    title: parts.title,
    type: parts.type,
    detail: parts.detail,
    source: parts.source,
    statusCode: parts.statusCode,
    severity: ctx.severity,
    url: request.url,
    method: request.method,
    user: request.user,
    hostname: machine(),
    application: ctx.application ?? pkg.name,
    version: ctx.version ?? pkg.version,
    correlationId: request.correlationId,
    category: ctx.category,
    serverVariables: request.serverVariables ?? [],
    cookies: request.cookies ?? [],
    form: request.form ?? [],
    queryString: request.queryString ?? [],
    data: clipList(parts.data, MAX_MESSAGE_BYTES),
    fingerprint: fingerprintOf(parts, req, ctx.sourceLine),
    ...(request.jsonBody === undefined ? {} : { jsonBody: request.jsonBody }),
  };
  if (parts.framesAt) framesStarts.set(message, parts.framesAt);
  return message;
}
