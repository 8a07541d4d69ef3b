// Deployments: which version of an app went out when (elmah.io v3's shape), so that errors can be read
// against releases. A deployment names one log or, without one, every log.
import { ElmahError } from './errors.js';
import { newMessageId } from './id.js';
import { MAX_FUTURE_SKEW_MS, MESSAGE_ID_PATTERN, isLogName, type FieldError } from './message.js';

/** One deployment as stored. */
export interface Deployment {
  /** Time-ordered id (assigned when not given; a retried POST with the same id is a no-op). */
  id: string;
  /** The version that went out, e.g. `1.4.2` or a commit hash. */
  version: string;
  /** ISO time it went out. */
  created: string;
  description?: string | undefined;
  userName?: string | undefined;
  userEmail?: string | undefined;
  /** The log it belongs to; undefined for every log. */
  log?: string | undefined;
}

/** Longest text of each field. */
const LIMITS = { version: 100, description: 4000, userName: 200, userEmail: 254 } as const;

/**
 * Checks and completes a deployment as sent (elmah.io v3: `version`, `description`, `userName`, `userEmail`,
 * `logId`, `created`; also `log` and `id`). `created` defaults to now and may not be more than a few minutes
 * ahead. Throws ERR_ELMAH_INVALID_DEPLOYMENT with `details` listing every field error.
 */
export function normalizeDeployment(input: unknown, now: Date = new Date()): Deployment {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ElmahError('ERR_ELMAH_INVALID_DEPLOYMENT', 'A deployment must be a JSON object.', {
      details: [{ field: '', problem: 'expected an object' }],
    });
  }
  const raw = input as Record<string, unknown>;
  const errors: FieldError[] = [];
  const text = (field: keyof typeof LIMITS, value: unknown = raw[field]): string | undefined => {
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') errors.push({ field, problem: 'expected a string' });
    else if (value.length > LIMITS[field]) errors.push({ field, problem: `longer than ${LIMITS[field]} characters` });
    else return value;
    return undefined;
  };
  const version = text('version')?.trim();
  if (!version && !errors.some((e) => e.field === 'version')) errors.push({ field: 'version', problem: 'required' });
  else if (version && /\p{Cc}/u.test(version)) errors.push({ field: 'version', problem: 'expected one line without control characters' });
  const description = text('description');
  const userName = text('userName');
  const userEmail = text('userEmail');
  if (userEmail !== undefined && !/^[^\s@]+@[^\s@]+$/.test(userEmail))
    errors.push({ field: 'userEmail', problem: 'expected an e-mail address' });

  let log: string | undefined;
  const logValue = raw.logId ?? raw.log;
  if (logValue !== undefined && logValue !== null && logValue !== '') {
    if (!isLogName(logValue)) errors.push({ field: 'logId', problem: 'expected a log name: 1-100 characters of letters, digits, . _ -' });
    else log = logValue;
  }
  let id: string | undefined;
  if (raw.id !== undefined && raw.id !== null) {
    if (typeof raw.id !== 'string' || !MESSAGE_ID_PATTERN.test(raw.id))
      errors.push({ field: 'id', problem: 'expected 1-100 URL-safe characters' });
    else id = raw.id;
  }
  let created = now.toISOString();
  if (raw.created !== undefined && raw.created !== null) {
    const parsed = typeof raw.created === 'string' ? new Date(raw.created) : undefined;
    if (!parsed || Number.isNaN(parsed.getTime())) errors.push({ field: 'created', problem: 'expected an ISO 8601 date' });
    else if (parsed.getTime() > now.getTime() + MAX_FUTURE_SKEW_MS)
      errors.push({ field: 'created', problem: 'more than 5 minutes in the future' });
    else created = parsed.toISOString();
  }
  if (errors.length > 0 || !version) {
    throw new ElmahError(
      'ERR_ELMAH_INVALID_DEPLOYMENT',
      `Invalid deployment: ${errors.map((e) => `${e.field} ${e.problem}`).join('; ')}.`,
      {
        details: errors,
        help: 'Send at least { "version": "1.2.3" }; see docs/collector.md#deployments.',
      },
    );
  }
  return {
    id: id ?? newMessageId(Date.parse(created)),
    version,
    created,
    description,
    userName,
    userEmail,
    log,
  };
}

/** Options of a deployments listing: newest first. */
export interface DeploymentQuery {
  /** Deployments of these logs, and those of every log. Undefined: all. */
  log?: string | readonly string[] | undefined;
  /** At most this many, 1–500. Default 50. */
  size?: number | undefined;
}

/** The page size of a listing, clamped to 1–500. */
export function deploymentPageSize(size: number | undefined): number {
  return Math.min(500, Math.max(1, Math.floor(Number.isFinite(size) ? size! : 50)));
}

/** Newest first: by created, then id. */
export function compareDeployments(a: Deployment, b: Deployment): number {
  return a.created < b.created ? 1 : a.created > b.created ? -1 : a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** A deployment as the HTTP API writes it (elmah.io's field names: the log is `logId`). */
export type DeploymentWire = Omit<Deployment, 'log'> & { logId?: string | undefined };

export function deploymentToWire(d: Deployment): DeploymentWire {
  return {
    id: d.id,
    version: d.version,
    created: d.created,
    description: d.description,
    userName: d.userName,
    userEmail: d.userEmail,
    logId: d.log,
  };
}

/** A deployment read back from the HTTP API, or undefined when the value does not have its shape. */
export function deploymentFromWire(value: unknown): Deployment | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const w = value as Record<string, unknown>;
  if (typeof w.id !== 'string' || typeof w.version !== 'string' || typeof w.created !== 'string') return undefined;
  const opt = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  return {
    id: w.id,
    version: w.version,
    created: w.created,
    description: opt(w.description),
    userName: opt(w.userName),
    userEmail: opt(w.userEmail),
    log: opt(w.logId),
  };
}
