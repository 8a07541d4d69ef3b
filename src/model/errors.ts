// Coded errors: every failure a user can cause is an ElmahError whose `code` is listed in docs/errors.md.

/** Every error code the package throws or reports. Each one is documented in docs/errors.md. */
export const ERROR_CODES = [
  'ERR_ELMAH_KEY_MISSING',
  'ERR_ELMAH_KEY_INVALID',
  'ERR_ELMAH_PERMISSION',
  'ERR_ELMAH_KEY_TOO_BROAD',
  'ERR_ELMAH_KEY_NOT_FOUND',
  'ERR_ELMAH_KEY_EXISTS',
  'ERR_ELMAH_KEY_NAME',
  'ERR_ELMAH_KEY_EXPIRY',
  'ERR_ELMAH_PERMISSION_NAME',
  'ERR_ELMAH_LOG_NAME',
  'ERR_ELMAH_NOT_CALLED',
  'ERR_ELMAH_UNKNOWN_OPTION',
  'ERR_ELMAH_OPTION_TYPE',
  'ERR_ELMAH_STORE_URL',
  'ERR_ELMAH_STORE_UNAVAILABLE',
  'ERR_ELMAH_STORE_BUSY',
  'ERR_ELMAH_STORE_CORRUPT',
  'ERR_ELMAH_STORE_CLOSED',
  'ERR_ELMAH_STORE_VERSION',
  'ERR_ELMAH_SCHEMA_NAME',
  'ERR_ELMAH_DRIVER_MISSING',
  'ERR_ELMAH_QUERY',
  'ERR_ELMAH_INVALID_MESSAGE',
  'ERR_ELMAH_INVALID_DEPLOYMENT',
  'ERR_ELMAH_INVALID_STATE',
  'ERR_ELMAH_NOT_FOUND',
  'ERR_ELMAH_TOO_LARGE',
  'ERR_ELMAH_RATE_LIMITED',
  'ERR_ELMAH_OVERLOADED',
  'ERR_ELMAH_UNSUPPORTED_MEDIA_TYPE',
  'ERR_ELMAH_REMOTE',
  'ERR_ELMAH_INTERNAL',
  'ERR_ELMAH_TIMEOUT',
  'ERR_ELMAH_QUEUE_FULL',
  'ERR_ELMAH_SHIP_FAILED',
  'ERR_ELMAH_DROPPED',
  'ERR_ELMAH_HOOK_FAILED',
  'ERR_ELMAH_WORKER_UNAVAILABLE',
  'ERR_ELMAH_ACCESS_DENIED',
  'ERR_ELMAH_LOCAL_ACCESS_IN_PRODUCTION',
  'ERR_ELMAH_CSRF',
  'ERR_ELMAH_SIGNIN_UNAVAILABLE',
  'ERR_ELMAH_CLI',
  'ERR_ELMAH_LISTEN',
  'ERR_ELMAH_NOTIFY_CONFIG',
  'ERR_ELMAH_NOTIFY_FAILED',
  'ERR_ELMAH_NOTIFY_DROPPED',
] as const;

/** A code from {@link ERROR_CODES}. */
export type ElmahErrorCode = (typeof ERROR_CODES)[number];

/** Where each code maps on the HTTP API. Codes not listed answer 500. */
const HTTP_STATUS: Partial<Record<ElmahErrorCode, number>> = {
  ERR_ELMAH_KEY_MISSING: 401,
  ERR_ELMAH_KEY_INVALID: 401,
  ERR_ELMAH_PERMISSION: 403,
  ERR_ELMAH_ACCESS_DENIED: 403,
  ERR_ELMAH_CSRF: 403,
  ERR_ELMAH_QUERY: 400,
  ERR_ELMAH_INVALID_MESSAGE: 400,
  ERR_ELMAH_INVALID_DEPLOYMENT: 400,
  ERR_ELMAH_INVALID_STATE: 400,
  ERR_ELMAH_NOT_FOUND: 404,
  ERR_ELMAH_KEY_NOT_FOUND: 404,
  ERR_ELMAH_KEY_EXISTS: 409,
  ERR_ELMAH_KEY_NAME: 400,
  ERR_ELMAH_KEY_EXPIRY: 400,
  ERR_ELMAH_PERMISSION_NAME: 400,
  ERR_ELMAH_LOG_NAME: 400,
  ERR_ELMAH_TOO_LARGE: 413,
  ERR_ELMAH_UNSUPPORTED_MEDIA_TYPE: 415,
  ERR_ELMAH_RATE_LIMITED: 429,
  ERR_ELMAH_OVERLOADED: 503,
  ERR_ELMAH_STORE_UNAVAILABLE: 503,
  ERR_ELMAH_STORE_BUSY: 503,
  ERR_ELMAH_STORE_CLOSED: 503,
  ERR_ELMAH_TIMEOUT: 504,
};

/** The page that documents every code. Each code's section there has the code, in lower case, as its anchor. */
export const ERRORS_DOC = 'docs/errors.md';

/** Where a code is documented: its section of docs/errors.md, e.g. `docs/errors.md#err_elmah_log_name`. */
export function errorDocs(code: ElmahErrorCode): string {
  return `${ERRORS_DOC}#${code.toLowerCase()}`;
}

/** Options accepted by {@link ElmahError}. */
export interface ElmahErrorOptions {
  /** One sentence that tells the user how to fix it. */
  help?: string;
  /** The underlying error, if any. */
  cause?: unknown;
  /** HTTP status to answer with; defaults from the code. */
  status?: number;
  /** Set on transient failures (store busy, network) that a retry may cure. */
  transient?: boolean;
  /** Seconds to wait before a retry, when the failure says so (429 Retry-After). */
  retryAfter?: number;
  /** Extra machine-readable details, e.g. field errors of an invalid message. */
  details?: unknown;
}

/**
 * The one error class of the package: a `code` to switch on, a `help` line that says how to fix it, and
 * `docs`, the link to the code's section of docs/errors.md (cause and fix), made here for every code.
 */
export class ElmahError extends Error {
  /** Stable machine-readable code, `ERR_ELMAH_…`. */
  readonly code: ElmahErrorCode;
  /** How to fix it, in one sentence (may be empty). */
  readonly help: string;
  /** HTTP status that this error answers with on the collector and viewer. */
  readonly status: number;
  /** True when a retry may succeed (network, store busy, 5xx, 429). */
  readonly transient: boolean;
  /** Seconds to wait before retrying, when known. */
  readonly retryAfter: number | undefined;
  /** Extra machine-readable details. */
  readonly details: unknown;
  /** The code's section of docs/errors.md, e.g. `docs/errors.md#err_elmah_log_name`. */
  readonly docs: string;

  constructor(code: ElmahErrorCode, message: string, options: ElmahErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ElmahError';
    this.code = code;
    this.help = options.help ?? '';
    this.status = options.status ?? HTTP_STATUS[code] ?? 500;
    this.transient = options.transient ?? false;
    this.retryAfter = options.retryAfter;
    this.details = options.details;
    this.docs = errorDocs(code);
  }

  /** The JSON body the HTTP faces answer with: `{ error: { code, message, help?, docs, details? } }`. */
  toJSON(): { error: { code: ElmahErrorCode; message: string; help?: string; docs: string; details?: unknown } } {
    const { code, message, help, docs, details } = this;
    return { error: { code, message, ...(help ? { help } : {}), docs, ...(details !== undefined ? { details } : {}) } };
  }
}

/** Misconfiguration found when a factory is called (unknown option, wrong type, missing call). */
export class ElmahConfigError extends ElmahError {
  constructor(code: ElmahErrorCode, message: string, options: ElmahErrorOptions = {}) {
    super(code, message, options);
    this.name = 'ElmahConfigError';
  }
}

/** True for an ElmahError, also one from another copy of the package (checked by shape). */
export function isElmahError(value: unknown): value is ElmahError {
  if (value instanceof ElmahError) return true;
  if (typeof value !== 'object' || value === null) return false;
  const code = (value as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('ERR_ELMAH_') && value instanceof Error;
}

/** True for the refusal of a key itself: missing, or malformed, unknown, revoked or expired (401). */
export function isKeyRefusal(value: unknown): value is ElmahError {
  return isElmahError(value) && (value.code === 'ERR_ELMAH_KEY_MISSING' || value.code === 'ERR_ELMAH_KEY_INVALID');
}
