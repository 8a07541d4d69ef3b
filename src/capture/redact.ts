// Redaction at capture time: secrets in headers, cookies, form, query, data and URLs become `[Filtered]`
// before a message is queued, and the logger's own API key never appears anywhere in a message.
import { LIST_FIELDS, STRING_FIELDS, type ErrorMessage, type KeyValue } from '../model/message.js';
import type { NameRule, RedactOptions } from './options.js';

/** What a removed value is replaced with. */
export const FILTERED = '[Filtered]';

/** Headers whose values are always secret (names compared case-insensitively). */
export const DEFAULT_REDACT_HEADERS: readonly string[] = [
  'authorization', 'proxy-authorization', 'cookie', 'set-cookie', 'x-api-key', 'api_key', 'api-key', 'apikey',
  'x-auth-token', 'x-access-token', 'x-csrf-token', 'x-xsrf-token', 'x-amz-security-token',
];

/** Name parts that mark a form, query, cookie, data or header entry as secret (DESIGN.md's list). */
export const DEFAULT_REDACT_KEYS: readonly string[] = [
  'pass', 'pwd', 'secret', 'token', 'auth', 'key', 'session', 'sid', 'jwt', 'csrf', 'xsrf', 'credential', 'card', 'cvv', 'ssn',
];

/** Headers whose value is a URL whose query is redacted like the request URL's. */
const URL_HEADERS = new Set(['referer', 'referrer', 'origin', 'location', 'content-location']);

const AUTH_SCHEME = /\b(Bearer|Basic|Digest|Token|Negotiate|NTLM)(\s+)([A-Za-z0-9._~+/=-]{8,})/gi;

/** True for a word that looks like a credential rather than prose ("Basic authentication" is prose). */
function looksLikeCredential(word: string): boolean {
  return /[0-9+/=._~-]/.test(word) || (/.[A-Z]/.test(word) && /[a-z]/.test(word));
}
const KEY_SHAPED = /\belmah_([a-z2-7]{8})_[A-Za-z0-9_-]{43}/g;
const URL_CREDENTIALS = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*):[^\s/@]+@/gi;

/** The compiled rules the record builder and the final scrub use. */
export interface Redactor {
  /** True when a header's value must be filtered. */
  header(name: string): boolean;
  /** True when an entry (form, query, cookie, data) with this name must be filtered. */
  key(name: string): boolean;
  /** The URL with secret query values filtered. */
  url(url: string): string;
  /** A header value with the rules for its name applied. */
  headerValue(name: string, value: string): string;
  /** A text with the own key, the extra values, auth tokens and URL passwords removed. */
  text(text: string): string;
  /** The message with {@link Redactor.text} applied to every string in it. */
  scrub(message: ErrorMessage): ErrorMessage;
}

function matcher(rules: readonly NameRule[], exact: boolean): (name: string) => boolean {
  const strings = rules.filter((r): r is string => typeof r === 'string').map((s) => s.toLowerCase());
  const regexps = rules.filter((r): r is RegExp => r instanceof RegExp);
  const set = new Set(strings);
  return (name) => {
    const lower = name.toLowerCase();
    if (exact ? set.has(lower) : strings.some((s) => lower.includes(s))) return true;
    return regexps.some((r) => {
      r.lastIndex = 0;
      return r.test(name);
    });
  };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Compiles the redaction rules: the built-in lists extended (or replaced) by `options`, plus the own key. */
export function createRedactor(options: RedactOptions = {}, ownKey?: string): Redactor {
  const headerRules = options.replace ? [...(options.headers ?? [])] : [...DEFAULT_REDACT_HEADERS, ...(options.headers ?? [])];
  const keyRules = options.replace ? [...(options.keys ?? [])] : [...DEFAULT_REDACT_KEYS, ...(options.keys ?? [])];
  const headerExact = matcher(headerRules, true);
  const key = matcher(keyRules, false);
  const header = (name: string): boolean => headerExact(name) || key(name);

  const secrets = [...(options.values ?? [])].filter((v) => v.length >= 4);
  if (ownKey) {
    secrets.push(ownKey.trim());
    // The secret part alone would also give the key away.
    const secret = /^elmah_[a-z2-7]{8}_(.+)$/.exec(ownKey.trim())?.[1];
    if (secret) secrets.push(secret);
  }
  const secretPattern = secrets.length > 0 ? new RegExp(secrets.sort((a, b) => b.length - a.length).map(escapeRegExp).join('|'), 'g') : undefined;
  // Percent-encoded forms of the secrets, for URLs that carry them encoded.
  const encodedSecrets = secrets.map((s) => encodeURIComponent(s)).filter((s) => !secrets.includes(s));
  const encodedPattern = encodedSecrets.length > 0 ? new RegExp(encodedSecrets.map(escapeRegExp).join('|'), 'gi') : undefined;

  const text = (value: string): string => {
    let out = value;
    if (secretPattern) out = out.replace(secretPattern, FILTERED);
    if (encodedPattern) out = out.replace(encodedPattern, FILTERED);
    if (out.includes('elmah_')) out = out.replace(KEY_SHAPED, `elmah_$1_${FILTERED}`);
    if (/bearer|basic|digest|token|negotiate|ntlm/i.test(out)) out = out.replace(AUTH_SCHEME, (all, scheme: string, space: string, word: string) => (looksLikeCredential(word) ? `${scheme}${space}${FILTERED}` : all));
    if (out.includes('://')) out = out.replace(URL_CREDENTIALS, `$1:${FILTERED}@`);
    return out;
  };

  const url = (value: string): string => {
    const q = value.indexOf('?');
    if (q < 0) return value;
    const hash = value.indexOf('#', q);
    const query = value.slice(q + 1, hash < 0 ? undefined : hash);
    const pairs = query.split('&').map((pair) => {
      const eq = pair.indexOf('=');
      const rawName = eq < 0 ? pair : pair.slice(0, eq);
      let name = rawName;
      try {
        name = decodeURIComponent(rawName.replace(/\+/g, ' '));
      } catch {
        // Keep the raw name when it is not valid percent-encoding.
      }
      return eq >= 0 && key(name) ? `${rawName}=${FILTERED}` : pair;
    });
    return `${value.slice(0, q + 1)}${pairs.join('&')}${hash < 0 ? '' : value.slice(hash)}`;
  };

  const headerValue = (name: string, value: string): string => {
    if (header(name)) return FILTERED;
    return URL_HEADERS.has(name.toLowerCase()) ? url(value) : value;
  };

  const scrubList = (list: KeyValue[]): KeyValue[] => list.map((kv) => ({ key: text(kv.key), value: text(kv.value) }));

  const scrub = (message: ErrorMessage): ErrorMessage => {
    const out = { ...message } as ErrorMessage & Record<string, unknown>;
    for (const field of Object.keys(STRING_FIELDS) as (keyof typeof STRING_FIELDS)[]) {
      const v = out[field];
      if (typeof v === 'string') out[field] = text(v);
    }
    if (typeof out.url === 'string') out.url = url(out.url);
    for (const field of LIST_FIELDS) {
      const list = out[field];
      if (Array.isArray(list)) out[field] = scrubList(list);
    }
    return out;
  };

  return { header, key, url, headerValue, text, scrub };
}
