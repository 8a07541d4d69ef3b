// API key strings (elmah_<id>_<secret>), their hashing at rest and the record a KeyStore keeps.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ElmahError } from './errors.js';
import type { Permission } from './permissions.js';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** The shape of a key string: `elmah_` + 8 base32 id characters + `_` + 43 base64url characters. */
export const KEY_PATTERN = /^elmah_([a-z2-7]{8})_([A-Za-z0-9_-]{43})$/;

/** What a key store keeps about a key. The secret itself is never kept, only its SHA-256. */
export interface KeyRecord {
  /** Public id (8 lowercase base32 characters), shown in lists and logs. */
  id: string;
  /** A human name ("billing-api writer"). */
  name: string;
  /** What the key may do. */
  permissions: Permission[];
  /** Logs the key is limited to; empty means every log. */
  logs: string[];
  /** SHA-256 of the secret, hex. */
  hash: string;
  /** ISO 8601 creation time. */
  created: string;
  /** ISO 8601 expiry, if any. */
  expires?: string | undefined;
  /** ISO 8601 revocation time, if revoked. */
  revoked?: string | undefined;
}

/** What `whoami()` tells about a key: never its secret or hash. */
export interface KeyInfo {
  id: string;
  name: string;
  permissions: Permission[];
  logs: string[];
  expires?: string | undefined;
}

/** A freshly created key: the record to store and the key string to show once. */
export interface NewKey {
  key: string;
  record: KeyRecord;
}

/** A random key id: 8 characters of lowercase base32 (40 bits). */
export function newKeyId(): string {
  const bytes = randomBytes(8);
  let id = '';
  for (let i = 0; i < 8; i++) id += BASE32[bytes[i]! & 31];
  return id;
}

/** SHA-256 of a key secret, as hex. */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Splits a key string into id and secret; anything that does not match the pattern is `ERR_ELMAH_KEY_INVALID`. */
export function parseKey(key: unknown): { id: string; secret: string } {
  if (key === undefined || key === null || key === '') {
    throw new ElmahError('ERR_ELMAH_KEY_MISSING', 'No API key was given.', {
      help: 'Pass a key (option `key`, or ELMAH_WRITE_KEY / ELMAH_READ_KEY); `npx express-elmah init` creates one.',
    });
  }
  const match = typeof key === 'string' ? KEY_PATTERN.exec(key.trim()) : null;
  if (!match) {
    throw new ElmahError('ERR_ELMAH_KEY_INVALID', 'The API key is malformed: expected elmah_<id>_<secret>.', {
      help: 'Copy the whole key as `express-elmah init` or `express-elmah keys create` printed it.',
    });
  }
  return { id: match[1]!, secret: match[2]! };
}

/** The public id of a key string, or undefined when it is not one. Safe to log. */
export function keyIdOf(key: unknown): string | undefined {
  return typeof key === 'string' ? KEY_PATTERN.exec(key.trim())?.[1] : undefined;
}

/** Compares a secret with a stored hash in constant time. */
export function secretMatches(secret: string, hash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(hash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Options for {@link createKey}. */
export interface CreateKeyOptions {
  name: string;
  permissions?: readonly Permission[];
  logs?: readonly string[];
  /** Expiry as a Date or ISO string. */
  expires?: Date | string | undefined;
  /** Clock, for tests. */
  now?: Date;
}

/** Makes a new key: 32 random bytes of secret, shown once; only the hash goes into the record. */
export function createKey(options: CreateKeyOptions): NewKey {
  const id = newKeyId();
  const secret = randomBytes(32).toString('base64url');
  const now = options.now ?? new Date();
  const expires = options.expires === undefined ? undefined : new Date(options.expires);
  if (expires !== undefined && Number.isNaN(expires.getTime())) {
    throw new ElmahError('ERR_ELMAH_KEY_EXPIRY', `Invalid expiry "${String(options.expires)}".`, {
      help: 'Give a Date or an ISO 8601 date string such as 2027-01-31 (durations such as 30d are for the CLI).',
    });
  }
  const record: KeyRecord = {
    id,
    name: options.name,
    permissions: [...(options.permissions ?? ['messages_write'])],
    logs: [...(options.logs ?? [])],
    hash: hashSecret(secret),
    created: now.toISOString(),
    expires: expires?.toISOString(),
  };
  return { key: `elmah_${id}_${secret}`, record };
}

/** The public view of a key record. */
export function keyInfo(record: KeyRecord): KeyInfo {
  const info: KeyInfo = { id: record.id, name: record.name, permissions: [...record.permissions], logs: [...record.logs] };
  if (record.expires) info.expires = record.expires;
  return info;
}

/** Parses a duration such as `30d`, `12h`, `90m`, `1w` into milliseconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  if (!match) return undefined;
  const unit = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[match[2] as 's' | 'm' | 'h' | 'd' | 'w'];
  return Number(match[1]) * unit;
}
