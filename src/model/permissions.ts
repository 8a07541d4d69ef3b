// The permission names of the key model (elmah.io's) and the checks on a list of them.
import { ElmahError } from './errors.js';

/** Every permission a key can carry. */
export const PERMISSIONS = [
  'messages_write',
  'messages_read',
  'messages_delete',
  'logs_read',
  'deployments_write',
  'deployments_read',
  'groups_write',
] as const;

/** One permission name. */
export type Permission = (typeof PERMISSIONS)[number];

/** What a new key carries when nothing else is asked for. */
export const DEFAULT_PERMISSIONS: readonly Permission[] = ['messages_write'];

/** True for a known permission name. */
export function isPermission(value: unknown): value is Permission {
  return typeof value === 'string' && (PERMISSIONS as readonly string[]).includes(value);
}

/**
 * Parses permissions from a list or a comma-separated string, rejecting an empty list and unknown names
 * with `ERR_ELMAH_PERMISSION_NAME`. Duplicates are removed; the result keeps the canonical order.
 */
export function parsePermissions(input: string | readonly string[]): Permission[] {
  const names = (typeof input === 'string' ? input.split(',') : [...input]).map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) {
    throw new ElmahError('ERR_ELMAH_PERMISSION_NAME', 'No permission given.', {
      help: `Name one or more of: ${PERMISSIONS.join(', ')}.`,
    });
  }
  for (const name of names) {
    if (!isPermission(name)) {
      throw new ElmahError('ERR_ELMAH_PERMISSION_NAME', `Unknown permission "${name}".`, {
        help: `Permissions are: ${PERMISSIONS.join(', ')}.`,
      });
    }
  }
  return PERMISSIONS.filter((p) => names.includes(p));
}

/** What a permission check reads of a key (a KeyRecord or a KeyInfo). */
export interface KeyGrants {
  id: string;
  permissions: readonly Permission[];
  /** The logs the key is limited to; empty for every log. */
  logs: readonly string[];
}

/** True when the key carries `permission`. */
export function hasPermission(key: KeyGrants, permission: Permission): boolean {
  return key.permissions.includes(permission);
}

/** True when the key may act on `log` (a key without a log limit may act on every log). */
export function coversLog(key: KeyGrants, log: string): boolean {
  return key.logs.length === 0 || key.logs.includes(log);
}

/** How a refusal reads: who asks (e.g. "errorViewer(): "), and advice that fits the caller better than the default. */
export interface RefusalWording {
  prefix?: string;
  help?: string;
}

/**
 * The one permission check: throws ERR_ELMAH_PERMISSION unless the key carries one of `needed` and, when `log`
 * is given, may act on that log. The client layer enforces it on every call; faces call it only to refuse
 * early (before reading a body, at start-up) with the same error.
 */
export function requirePermission(
  key: KeyGrants,
  needed: Permission | readonly Permission[],
  log?: string,
  wording: RefusalWording = {},
): void {
  const any = typeof needed === 'string' ? [needed] : needed;
  const prefix = wording.prefix ?? '';
  if (!any.some((p) => hasPermission(key, p))) {
    throw new ElmahError(
      'ERR_ELMAH_PERMISSION',
      `${prefix}API key ${key.id} lacks ${any.join(' or ')}; it has ${key.permissions.join(', ') || 'no permissions'}.`,
      {
        help: wording.help ?? `Use a key with ${any.join(' or ')} (express-elmah keys create --permissions ${any[0]}).`,
      },
    );
  }
  if (log !== undefined) requireLog(key, log, wording);
}

/** Throws ERR_ELMAH_PERMISSION unless the key may act on every log (it has no log limit): `what` names the act. */
export function requireEveryLog(key: KeyGrants, what: string): void {
  if (key.logs.length > 0) {
    throw new ElmahError(
      'ERR_ELMAH_PERMISSION',
      `API key ${key.id} is limited to log(s) ${key.logs.join(', ')}; ${what} needs a key without a log limit.`,
      {
        help: 'Name the log, or use a key without a log limit.',
      },
    );
  }
}

/** Throws ERR_ELMAH_PERMISSION unless the key may act on `log`. */
export function requireLog(key: KeyGrants, log: string, wording: RefusalWording = {}): void {
  if (!coversLog(key, log)) {
    throw new ElmahError(
      'ERR_ELMAH_PERMISSION',
      `${wording.prefix ?? ''}API key ${key.id} is limited to log(s) ${key.logs.join(', ')}; not "${log}".`,
      {
        help: wording.help ?? 'Use a key for this log, or one without a log limit.',
      },
    );
  }
}
