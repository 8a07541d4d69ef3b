// The error message record (elmah.io CreateMessage field names) and its validation for incoming data.
import { ElmahError } from './errors.js';
import { computeFingerprint, routeKey } from './fingerprint.js';
import { headerEnd } from './stack.js';
import { newMessageId } from './id.js';

/** Severity names, least to most severe (elmah.io's). */
export const SEVERITIES = ['Verbose', 'Debug', 'Information', 'Warning', 'Error', 'Fatal'] as const;

/** One severity name. */
export type Severity = (typeof SEVERITIES)[number];

/** One entry of a key/value list (server variables, cookies, form, query string, data). */
export interface KeyValue {
  key: string;
  value: string;
}

/** An error message as stored and as returned by a store or client. */
export interface ErrorMessage {
  /** Time-ordered, URL-safe id (a ULID when made by this package). */
  id: string;
  /** Which log (application) it belongs to. */
  log: string;
  /** ISO 8601 UTC time when the error happened. */
  dateTime: string;
  /** The error's message. */
  title: string;
  /** Constructor name (`TypeError`), or `string`, `number`, `null`… for non-Error throws. */
  type: string;
  /** Full stack with the cause chain and AggregateError members. */
  detail?: string | undefined;
  /** Top stack frame. */
  source?: string | undefined;
  statusCode?: number | undefined;
  severity: Severity;
  url?: string | undefined;
  method?: string | undefined;
  user?: string | undefined;
  hostname?: string | undefined;
  application?: string | undefined;
  version?: string | undefined;
  correlationId?: string | undefined;
  category?: string | undefined;
  serverVariables: KeyValue[];
  cookies: KeyValue[];
  form: KeyValue[];
  queryString: KeyValue[];
  data: KeyValue[];
  /** Grouping hash of type + in-app frames. */
  fingerprint: string;
  /** What the failing request did before it failed, oldest first (elmah.io's shape). */
  breadcrumbs?: Breadcrumb[] | undefined;
  /** Lines of the app's source around the in-app frames of the stack, top frame first. */
  sourceContext?: SourceContext[] | undefined;
  /** The request's JSON body with its types, redacted and cut to size, as JSON text. */
  jsonBody?: string | undefined;
}

/** One event of the failing request (elmah.io's breadcrumb: `dateTime`, `severity`, `action`, `message`, `data`). */
export interface Breadcrumb {
  /** ISO 8601 UTC time of the event. */
  dateTime: string;
  severity: Severity;
  /** What kind of event: `Log` (console), `Request` (outgoing HTTP), or a word the app chose. */
  action: string;
  message: string;
  /** Details (method, url, status, duration…). */
  data?: KeyValue[] | undefined;
}

/** Lines of one source file around a stack frame's line. */
export interface SourceContext {
  /** The file as the frame names it. */
  file: string;
  /** The frame's line (1-based): the one marked. */
  line: number;
  /** Number of the first line in `lines`. */
  startLine: number;
  lines: string[];
}

/** Limits of the structured fields: what a collector accepts and what capture keeps. */
export const CONTEXT_LIMITS = {
  breadcrumbs: 100,
  breadcrumbAction: 100,
  breadcrumbMessage: 2048,
  breadcrumbData: 20,
  breadcrumbDataKey: 256,
  breadcrumbDataValue: 2048,
  sourceFrames: 10,
  sourceLines: 21,
  sourceLineLength: 1000,
  sourceFile: 2048,
  jsonBody: 32_768,
  /** Deepest nesting of arrays and objects a `jsonBody` may have; deeper is rejected. */
  jsonBodyDepth: 64,
  /** Deepest nesting of a `jsonBody` kept: deeper arrays and objects are stored as {@link TOO_DEEP}. */
  jsonBodyKeptDepth: 16,
} as const;

/** What an array or object of a `jsonBody` nested deeper than `CONTEXT_LIMITS.jsonBodyKeptDepth` is stored as. */
export const TOO_DEEP = '[Filtered: too deep]';

/** What a client may send: everything optional but `title`; the rest is filled in by {@link normalizeMessage}. */
export type MessageInput = Partial<ErrorMessage> & { title?: string };

/** The optional string fields of a message, each with its maximum length in characters. */
export const STRING_FIELDS = {
  title: 4096,
  type: 512,
  detail: 200_000,
  source: 2048,
  url: 8192,
  method: 32,
  user: 512,
  hostname: 512,
  application: 512,
  version: 256,
  correlationId: 512,
  category: 512,
} as const;

/** The key/value list fields. */
export const LIST_FIELDS = ['serverVariables', 'cookies', 'form', 'queryString', 'data'] as const;

/** Largest serialized message accepted (elmah.io's limit). */
export const MAX_MESSAGE_BYTES = 256 * 1024;

/** Largest `form` list captured, serialized. */
export const MAX_FORM_BYTES = 10 * 1024;

/** How far in the future a sent time may be (clock skew) before it is replaced by the time of receipt. */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;

/** The `data` entry that keeps a future time a client sent, when `dateTime` was clamped to receipt. */
export const SENT_DATE_TIME_KEY = 'elmah.sentDateTime';

/** Log names: 1–100 characters, letters, digits, `-`, `_`, `.`. */
export const LOG_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** Message ids: 1–100 URL-safe characters. */
export const MESSAGE_ID_PATTERN = /^[A-Za-z0-9._~-]{1,100}$/;

/** One problem with one field of an incoming message. */
export interface FieldError {
  field: string;
  problem: string;
}

/** True for a valid log name. */
export function isLogName(value: unknown): value is string {
  return typeof value === 'string' && LOG_NAME_PATTERN.test(value);
}

/** Finds a severity case-insensitively (`error` → `Error`); undefined when unknown. */
export function parseSeverity(value: unknown): Severity | undefined {
  if (typeof value !== 'string') return undefined;
  const lower = value.toLowerCase();
  return SEVERITIES.find((s) => s.toLowerCase() === lower);
}

/**
 * The fingerprint of a message that arrived without one: from `type` and `detail`, and, when its in-app
 * frames are all anonymous, `method` and the shape of `url`'s path. The sender's source files are not
 * readable here, so the route is what tells its inline handlers apart.
 */
export function fingerprintOfMessage(m: Pick<ErrorMessage, 'type' | 'detail' | 'title' | 'method' | 'url'>): string {
  // Lines of the message shaped like frames are not frames: the frames start after the header.
  const detail = m.detail && m.title ? m.detail.slice(headerEnd(m.detail, m.title)) : m.detail;
  return computeFingerprint(m.type, detail, m.title, { route: routeKey(m.method, undefined, m.url) });
}

/**
 * Checks and completes an incoming message: validates types and sizes, assigns an id when none was
 * sent, defaults `dateTime` to now (and clamps a time more than {@link MAX_FUTURE_SKEW_MS} ahead of `now`
 * to `now`, keeping the sent time in `data` as {@link SENT_DATE_TIME_KEY}) and `severity` to `Error`, and
 * computes `fingerprint` when absent (see {@link fingerprintOfMessage}). Unknown fields are ignored (elmah.io clients send more than we keep).
 * Throws `ERR_ELMAH_INVALID_MESSAGE` with `details` listing every field error.
 */
export function normalizeMessage(input: unknown, log: string, now: Date = new Date()): ErrorMessage {
  const errors: FieldError[] = [];
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ElmahError('ERR_ELMAH_INVALID_MESSAGE', 'A message must be a JSON object.', {
      details: [{ field: '', problem: 'expected an object' }],
    });
  }
  const raw = input as Record<string, unknown>;
  if (!isLogName(log)) errors.push({ field: 'log', problem: 'expected 1-100 characters of letters, digits, . _ -' });

  const str = (field: keyof typeof STRING_FIELDS): string | undefined => {
    const value = raw[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') {
      errors.push({ field, problem: `expected a string, got ${typeName(value)}` });
      return undefined;
    }
    if (value.length > STRING_FIELDS[field]) {
      errors.push({ field, problem: `longer than ${STRING_FIELDS[field]} characters` });
      return undefined;
    }
    return value;
  };

  const title = str('title');
  if (title === undefined && !errors.some((e) => e.field === 'title')) {
    errors.push({ field: 'title', problem: 'required' });
  }

  let id: string | undefined;
  if (raw.id !== undefined && raw.id !== null) {
    if (typeof raw.id !== 'string' || !MESSAGE_ID_PATTERN.test(raw.id)) {
      errors.push({ field: 'id', problem: 'expected 1-100 URL-safe characters' });
    } else id = raw.id;
  }

  let dateTime = now.toISOString();
  let sentDateTime: string | undefined;
  if (raw.dateTime !== undefined && raw.dateTime !== null) {
    const parsed = typeof raw.dateTime === 'string' ? new Date(raw.dateTime) : undefined;
    if (!parsed || Number.isNaN(parsed.getTime())) errors.push({ field: 'dateTime', problem: 'expected an ISO 8601 date' });
    // A time far in the future would stay on top of every list and outlive retention: keep it as data only.
    else if (parsed.getTime() > now.getTime() + MAX_FUTURE_SKEW_MS) sentDateTime = parsed.toISOString();
    else dateTime = parsed.toISOString();
  }

  let severity: Severity = 'Error';
  if (raw.severity !== undefined && raw.severity !== null) {
    const parsed = parseSeverity(raw.severity);
    if (!parsed) errors.push({ field: 'severity', problem: `expected one of ${SEVERITIES.join(', ')}` });
    else severity = parsed;
  }

  let statusCode: number | undefined;
  if (raw.statusCode !== undefined && raw.statusCode !== null) {
    const n = typeof raw.statusCode === 'string' && /^\d{1,3}$/.test(raw.statusCode) ? Number(raw.statusCode) : raw.statusCode;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 999) {
      errors.push({ field: 'statusCode', problem: 'expected an integer from 0 to 999' });
    } else statusCode = n;
  }

  const lists = {} as Record<(typeof LIST_FIELDS)[number], KeyValue[]>;
  for (const field of LIST_FIELDS) lists[field] = keyValues(raw[field], field, errors);
  if (sentDateTime !== undefined) lists.data.push({ key: SENT_DATE_TIME_KEY, value: sentDateTime });

  const breadcrumbs = breadcrumbsOf(raw.breadcrumbs, errors, now);
  const sourceContext = sourceContextOf(raw.sourceContext, errors);
  let jsonBody: string | undefined;
  if (raw.jsonBody !== undefined && raw.jsonBody !== null) {
    if (typeof raw.jsonBody !== 'string') errors.push({ field: 'jsonBody', problem: `expected JSON text, got ${typeName(raw.jsonBody)}` });
    else if (raw.jsonBody.length > CONTEXT_LIMITS.jsonBody)
      errors.push({ field: 'jsonBody', problem: `longer than ${CONTEXT_LIMITS.jsonBody} characters` });
    else if (!isJsonText(raw.jsonBody)) errors.push({ field: 'jsonBody', problem: 'expected JSON text' });
    else if (jsonDepth(raw.jsonBody) > CONTEXT_LIMITS.jsonBodyDepth)
      errors.push({ field: 'jsonBody', problem: `nested deeper than ${CONTEXT_LIMITS.jsonBodyDepth} levels` });
    else jsonBody = raw.jsonBody;
  }

  let fingerprint: string | undefined;
  if (raw.fingerprint !== undefined && raw.fingerprint !== null) {
    if (typeof raw.fingerprint !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(raw.fingerprint)) {
      errors.push({ field: 'fingerprint', problem: 'expected 1-128 characters of letters, digits, _ -' });
    } else fingerprint = raw.fingerprint;
  }

  const message: ErrorMessage = {
    id: id ?? newMessageId(now.getTime()),
    log,
    dateTime,
    title: title ?? '',
    type: str('type') || 'Error',
    detail: str('detail'),
    source: str('source'),
    statusCode,
    severity,
    url: str('url'),
    method: str('method'),
    user: str('user'),
    hostname: str('hostname'),
    application: str('application'),
    version: str('version'),
    correlationId: str('correlationId'),
    category: str('category'),
    ...lists,
    fingerprint: '',
  };
  if (breadcrumbs) message.breadcrumbs = breadcrumbs;
  if (sourceContext) message.sourceContext = sourceContext;
  if (jsonBody !== undefined) message.jsonBody = jsonBody;
  if (errors.length > 0) {
    throw new ElmahError(
      'ERR_ELMAH_INVALID_MESSAGE',
      `Invalid message: ${errors.map((e) => `${e.field || 'body'} ${e.problem}`).join('; ')}.`,
      {
        details: errors,
        help: 'Send an object with at least a string `title`; see the record fields in the README.',
      },
    );
  }
  message.fingerprint = fingerprint ?? fingerprintOfMessage(message);
  // Serializing costs more than the rest of the checks together: only do it when a cheap upper bound
  // (every character escaped to 6 bytes) could pass the limit.
  const size = upperBoundBytes(message) <= MAX_MESSAGE_BYTES ? 0 : Buffer.byteLength(JSON.stringify(message));
  if (size > MAX_MESSAGE_BYTES) {
    throw new ElmahError('ERR_ELMAH_TOO_LARGE', `Message is ${size} bytes serialized; the limit is ${MAX_MESSAGE_BYTES}.`, {
      help: 'Trim detail, form or data; errorLogger truncates for you before shipping.',
    });
  }
  return message;
}

/** An upper bound of the serialized size: 6 bytes per character (`\u0000` escapes) plus field overhead. */
function upperBoundBytes(message: ErrorMessage): number {
  let chars = 0;
  let fields = 0;
  for (const value of Object.values(message)) {
    fields++;
    if (typeof value === 'string') chars += value.length;
    else if (Array.isArray(value)) {
      for (const item of value as unknown[]) {
        const kv = item as Partial<KeyValue>;
        // Breadcrumbs and source context are bounded objects: their JSON length stands for them.
        if (typeof kv.key === 'string' && typeof kv.value === 'string') chars += kv.key.length + kv.value.length;
        else chars += JSON.stringify(item).length;
        fields += 2;
      }
    }
  }
  return chars * 6 + fields * 40;
}

/** How deeply arrays and objects nest in a JSON text: one pass, brackets inside strings not counted. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) {
      if (++depth > deepest) deepest = depth;
    } else if (c === 93 || c === 125) depth--;
  }
  return deepest;
}

function isJsonText(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** A string field of an incoming object, checked against its limit; undefined (and an error) when it does not fit. */
function boundedText(value: unknown, field: string, max: number, errors: FieldError[]): string | undefined {
  if (typeof value !== 'string') {
    errors.push({ field, problem: `expected a string, got ${typeName(value)}` });
    return undefined;
  }
  if (value.length > max) {
    errors.push({ field, problem: `longer than ${max} characters` });
    return undefined;
  }
  return value;
}

/** The `breadcrumbs` of an incoming message: elmah.io's `{ dateTime, severity, action, message, data }`, checked and bounded. */
function breadcrumbsOf(value: unknown, errors: FieldError[], now: Date): Breadcrumb[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) {
    errors.push({ field: 'breadcrumbs', problem: 'expected a list of { dateTime, severity, action, message }' });
    return undefined;
  }
  if (value.length > CONTEXT_LIMITS.breadcrumbs) {
    errors.push({ field: 'breadcrumbs', problem: `more than ${CONTEXT_LIMITS.breadcrumbs} breadcrumbs` });
    return undefined;
  }
  const L = CONTEXT_LIMITS;
  const out: Breadcrumb[] = [];
  value.forEach((item: unknown, i) => {
    const field = `breadcrumbs[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      errors.push({ field, problem: 'expected { dateTime, severity, action, message }' });
      return;
    }
    const b = item as Record<string, unknown>;
    const before = errors.length;
    // A breadcrumb without a time gets the time of receipt; one with a time must have a readable one.
    const when = b.dateTime === undefined || b.dateTime === null ? now : typeof b.dateTime === 'string' ? new Date(b.dateTime) : undefined;
    if (!when || Number.isNaN(when.getTime())) errors.push({ field: `${field}.dateTime`, problem: 'expected an ISO 8601 date' });
    const severity = b.severity === undefined || b.severity === null ? 'Information' : parseSeverity(b.severity);
    if (!severity) errors.push({ field: `${field}.severity`, problem: `expected one of ${SEVERITIES.join(', ')}` });
    const action = b.action === undefined || b.action === null ? '' : boundedText(b.action, `${field}.action`, L.breadcrumbAction, errors);
    const message =
      b.message === undefined || b.message === null ? '' : boundedText(b.message, `${field}.message`, L.breadcrumbMessage, errors);
    let data: KeyValue[] | undefined;
    if (b.data !== undefined && b.data !== null) {
      data = keyValues(b.data, `${field}.data`, errors);
      if (data.length > L.breadcrumbData) errors.push({ field: `${field}.data`, problem: `more than ${L.breadcrumbData} entries` });
      else if (data.some((kv) => kv.key.length > L.breadcrumbDataKey || kv.value.length > L.breadcrumbDataValue))
        errors.push({
          field: `${field}.data`,
          problem: `an entry longer than ${L.breadcrumbDataKey} / ${L.breadcrumbDataValue} characters`,
        });
    }
    if (errors.length > before) return;
    out.push({ dateTime: when!.toISOString(), severity: severity!, action: action!, message: message!, ...(data?.length ? { data } : {}) });
  });
  return out.length > 0 ? out : undefined;
}

/** The `sourceContext` of an incoming message, checked and bounded. */
function sourceContextOf(value: unknown, errors: FieldError[]): SourceContext[] | undefined {
  if (value === undefined || value === null) return undefined;
  const L = CONTEXT_LIMITS;
  if (!Array.isArray(value) || value.length > L.sourceFrames) {
    errors.push({ field: 'sourceContext', problem: `expected a list of at most ${L.sourceFrames} { file, line, startLine, lines }` });
    return undefined;
  }
  const out: SourceContext[] = [];
  const lineNumber = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 10_000_000;
  value.forEach((item: unknown, i) => {
    const field = `sourceContext[${i}]`;
    const c = (typeof item === 'object' && item !== null ? item : {}) as Record<string, unknown>;
    const before = errors.length;
    const file = boundedText(c.file, `${field}.file`, L.sourceFile, errors);
    if (!lineNumber(c.line)) errors.push({ field: `${field}.line`, problem: 'expected a line number' });
    if (!lineNumber(c.startLine)) errors.push({ field: `${field}.startLine`, problem: 'expected a line number' });
    const lines = c.lines;
    if (
      !Array.isArray(lines) ||
      lines.length > L.sourceLines ||
      !lines.every((l) => typeof l === 'string' && l.length <= L.sourceLineLength)
    ) {
      errors.push({
        field: `${field}.lines`,
        problem: `expected at most ${L.sourceLines} strings of at most ${L.sourceLineLength} characters`,
      });
    }
    if (errors.length > before) return;
    out.push({ file: file!, line: c.line as number, startLine: c.startLine as number, lines: lines as string[] });
  });
  return out.length > 0 ? out : undefined;
}

function keyValues(value: unknown, field: string, errors: FieldError[]): KeyValue[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) {
    errors.push({ field, problem: 'expected a list of { key, value }' });
    return [];
  }
  const out: KeyValue[] = [];
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i];
    const key = (item as { key?: unknown } | null)?.key;
    const val = (item as { value?: unknown } | null)?.value;
    if (typeof item !== 'object' || item === null || typeof key !== 'string') {
      errors.push({ field: `${field}[${i}]`, problem: 'expected { key: string, value: string }' });
      continue;
    }
    if (val !== undefined && val !== null && typeof val !== 'string' && typeof val !== 'number' && typeof val !== 'boolean') {
      errors.push({ field: `${field}[${i}].value`, problem: 'expected a string' });
      continue;
    }
    out.push({ key, value: val === undefined || val === null ? '' : String(val) });
  }
  return out;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** The structured fields of a message (breadcrumbs, source context, JSON body) as one JSON text for a store column; null when it has none. */
export function encodeContext(m: Pick<ErrorMessage, 'breadcrumbs' | 'sourceContext' | 'jsonBody'>): string | null {
  if (!m.breadcrumbs?.length && !m.sourceContext?.length && m.jsonBody === undefined) return null;
  return JSON.stringify({ breadcrumbs: m.breadcrumbs, sourceContext: m.sourceContext, jsonBody: m.jsonBody });
}

/** The inverse of {@link encodeContext}: only the fields that are present (an unreadable column gives none). */
export function decodeContext(text: unknown): Pick<ErrorMessage, 'breadcrumbs' | 'sourceContext' | 'jsonBody'> {
  if (typeof text !== 'string' || text === '') return {};
  try {
    const c = JSON.parse(text) as Pick<ErrorMessage, 'breadcrumbs' | 'sourceContext' | 'jsonBody'>;
    return {
      ...(Array.isArray(c.breadcrumbs) ? { breadcrumbs: c.breadcrumbs } : {}),
      ...(Array.isArray(c.sourceContext) ? { sourceContext: c.sourceContext } : {}),
      ...(typeof c.jsonBody === 'string' ? { jsonBody: c.jsonBody } : {}),
    };
  } catch {
    return {};
  }
}
