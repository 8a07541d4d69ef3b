// The permission names of the key model (elmah.io's) and the checks on a list of them.
import { ElmahError } from './errors.js';

/** Every permission a key can carry. */
export const PERMISSIONS = ['messages_write', 'messages_read', 'messages_delete', 'logs_read'] as const;

/** One permission name. */
export type Permission = (typeof PERMISSIONS)[number];

/** What a new key carries when nothing else is asked for. */
export const DEFAULT_PERMISSIONS: readonly Permission[] = ['messages_write'];

/** True for a known permission name. */
export function isPermission(value: unknown): value is Permission {
  return typeof value === 'string' && (PERMISSIONS as readonly string[]).includes(value);
}

/**
 * Parses permissions from a list or a comma-separated string, rejecting unknown names with
 * `ERR_ELMAH_CONFIG`. Duplicates are removed; the result keeps the canonical order.
 */
export function parsePermissions(input: string | readonly string[]): Permission[] {
  const names = (typeof input === 'string' ? input.split(',') : [...input]).map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) {
    throw new ElmahError('ERR_ELMAH_CONFIG', 'No permission given.', {
      help: `Name one or more of: ${PERMISSIONS.join(', ')}.`,
    });
  }
  for (const name of names) {
    if (!isPermission(name)) {
      throw new ElmahError('ERR_ELMAH_CONFIG', `Unknown permission "${name}".`, {
        help: `Permissions are: ${PERMISSIONS.join(', ')}.`,
      });
    }
  }
  return PERMISSIONS.filter((p) => names.includes(p));
}
