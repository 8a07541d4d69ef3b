// The error message record (elmah.io CreateMessage field names) and its validation for incoming data.
import { ElmahError } from './errors.js';
import { computeFingerprint, routeKey } from './fingerprint.js';
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
}

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
  return computeFingerprint(m.type, m.detail, m.title, { route: routeKey(m.method, undefined, m.url) });
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
      for (const kv of value as KeyValue[]) {
        chars += kv.key.length + kv.value.length;
        fields += 2;
      }
    }
  }
  return chars * 6 + fields * 40;
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
