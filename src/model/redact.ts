// Redaction, one set of rules for the logger and the collector: secrets in headers, cookies, form, query, data, URLs and free text become `[Filtered]` before a
// message is queued (and when a collector receives one), and the logger's own API key never appears anywhere
// in a message. Every rule is linear in its input: scanners or patterns that cannot backtrack over a run of
// text more than once, so a hostile value cannot stall the app.
import { CONTEXT_LIMITS, LIST_FIELDS, STRING_FIELDS, TOO_DEEP, type ErrorMessage, type KeyValue } from './message.js';

/** A header or field name rule: a string matches case-insensitively as a part of the name, a RegExp is tested. */
export type NameRule = string | RegExp;

/** How secrets are removed before a message leaves the process (see docs/capture.md). */
export interface RedactOptions {
  /** Extra header names whose values become `[Filtered]` (exact names, or RegExps). */
  headers?: readonly NameRule[];
  /** Extra name parts: form, query, cookie, data and header entries whose name contains one become `[Filtered]`. */
  keys?: readonly NameRule[];
  /** Exact strings to remove wherever they appear in a message (e.g. a database password). */
  values?: readonly string[];
  /** When true, `headers` and `keys` replace the built-in lists instead of extending them. */
  replace?: boolean;
}

/** What a removed value is replaced with. */
export const FILTERED = '[Filtered]';

/** Headers whose values are always secret (names compared case-insensitively). */
export const DEFAULT_REDACT_HEADERS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'api_key',
  'api-key',
  'apikey',
  'x-auth-token',
  'x-access-token',
  'x-csrf-token',
  'x-xsrf-token',
  'x-amz-security-token',
];

/** Name parts that mark a form, query, cookie, data or header entry as secret (DESIGN.md's list). */
export const DEFAULT_REDACT_KEYS: readonly string[] = [
  'pass',
  'pwd',
  'secret',
  'token',
  'auth',
  'key',
  'session',
  'sid',
  'jwt',
  'csrf',
  'xsrf',
  'credential',
  'card',
  'cvv',
  'ssn',
  'signature',
];

/**
 * Query and form parameters that are secret under exactly this name (too short or too common to be name
 * parts): an OAuth authorization `code`, an Azure SAS `sig`, a one-time password. Error properties named
 * `code` (`ECONNREFUSED`) stay readable.
 */
export const DEFAULT_REDACT_PARAMS: readonly string[] = ['code', 'sig', 'otp', 'client_assertion', 'samlresponse'];

/**
 * Words in a URL path segment after which a long random-looking segment is a secret (`/reset/<token>`,
 * `/invite/<token>`, `/verify-email/<id>/<token>`).
 */
export const DEFAULT_TOKEN_PATH_WORDS: readonly string[] = [
  'reset',
  'token',
  'verif',
  'confirm',
  'invit',
  'magic',
  'activat',
  'unsubscribe',
  'login',
  'signin',
];

/** Headers whose value is a URL whose query is redacted like the request URL's. */
const URL_HEADERS = new Set(['referer', 'referrer', 'origin', 'location', 'content-location', 'request-uri', 'x-original-url', 'url']);

const AUTH_SCHEME = /\b(Bearer|Basic|Digest|Token|Negotiate|NTLM)([ \t]+)([A-Za-z0-9._~+/=-]{8,})/gi;

/** True for a word that looks like a credential rather than prose ("Basic authentication" is prose). */
function looksLikeCredential(word: string): boolean {
  return /[0-9+/=._~-]/.test(word) || (/.[A-Z]/.test(word) && /[a-z]/.test(word));
}
const KEY_SHAPED = /\belmah_([a-z2-7]{8})_[A-Za-z0-9_-]{43}/g;

// `Name: value` at the start of a line of raw text, and after an escaped `\n` inside JSON text (a raw
// header block such as an HTTP client's `_header`, where the value ends at an escaped line break or the
// string's end).
const HEADER_LINE = /(^|\n)([ \t]{0,16})([A-Za-z][\w-]{0,63})([ \t]{0,16}:[ \t]{0,16})([^\r\n]*)/g;
const ESCAPED_HEADER_LINE = /(\\n)([ \t]{0,16})([A-Za-z][\w-]{0,63})([ \t]{0,16}:[ \t]{0,16})((?:[^"\\]|\\[^rn])*)/g;
// `"name":"value"` and `"name","value"` in JSON text (header objects, Node's rawHeaders arrays). A string
// ends at the first unescaped quote, so every string is scanned once.
const JSON_MEMBER = /"([A-Za-z][\w-]{0,63})"([ \t]{0,4}[:,][ \t]{0,4})"((?:[^"\\\n]|\\.)*)"/g;
// `name=value` after a URL's `?`, `&` or `#`, or after a separator in free text (connection strings,
// urlencoded bodies quoted in messages). Quoted values are bounded, so an unclosed quote costs little.
const ASSIGNMENT =
  /([?&#;,\s"'{([]|^)([A-Za-z_][\w.%[\]-]{0,127})([ \t]{0,8}=[ \t]{0,8})("[^"\\\n]{0,256}"?|'[^'\\\n]{0,256}'?|\{[^}\n]{0,256}\}?|[^&#\s"'<>;,()\\]*)/g;
// `name: 'value'` in source code (an object literal's member, quoted or not): redacted in source lines only.
const CODE_MEMBER = /([A-Za-z_$][\w$-]{0,63})(["']?[ \t]{0,4}:[ \t]{0,4})(["'`])((?:[^"'`\\\n]|\\.){0,512})\3/g;
// `name: value`, `'name': value` and `'name' => value` as util.inspect writes an object's members and a Map's
// or URLSearchParams' entries, and `name: value` labels in log lines (`password: hunter2`): redacted in
// breadcrumb messages, where console output lands. The name runs at most 64 characters and a quoted value
// at most 512, to its closing quote or the line's end, so no text is scanned more than a bounded number of times.
const INSPECT_MEMBER =
  /(^|[\s{,([])(['"]?)([A-Za-z_$][\w$.-]{0,63})\2([ \t]{0,4}(?::|=>)[ \t]{0,4})('(?:[^'\\\n]|\\.){0,512}'?|"(?:[^"\\\n]|\\.){0,512}"?|[^\s,;'"{}[\]()]{1,256})/g;
// A path after a segment that names a token-bearing route; see pathTokens().
const TOKEN_PATH = /\/([^/\s?#"'<>\\]*)((?:\/[^/\s?#"'<>\\]*)+)/g;

/** The compiled rules the record builder and the final scrub use. */
export interface Redactor {
  /** True when a header's value must be filtered. */
  header(name: string): boolean;
  /** True when an entry (form, query, cookie, data) with this name must be filtered. */
  key(name: string): boolean;
  /** True when a query or form parameter with this name must be filtered ({@link Redactor.key} and the exact parameter names). */
  param(name: string): boolean;
  /** The URL with secret query values and token path segments filtered. */
  url(url: string): string;
  /** A header value with the rules for its name applied. */
  headerValue(name: string, value: string): string;
  /** A text with the own key, the extra values, auth tokens, header lines, secret assignments and URL passwords removed. */
  text(text: string): string;
  /** A breadcrumb's message or data value: {@link Redactor.text}, and members and labels with a secret name as console output shows them. */
  breadcrumbText(text: string): string;
  /** The message with every rule applied: names in the lists, URLs, and {@link Redactor.text} on every string. Idempotent. */
  scrub(message: ErrorMessage): ErrorMessage;
}

/** Names longer than this are judged by their start (the stored name is cut far shorter). */
const MAX_NAME = 2048;

/** Most judgments of names one memo keeps before it starts over. */
const MEMO_SIZE = 2048;
/** Names longer than this are judged anew each time, not kept. */
const MEMO_NAME = 128;

/**
 * A judgment of names that remembers its answers: the same header, form and data names come back in every
 * message, and each judgment lowercases the name and tests it against every rule. Bounded: a stream of
 * distinct names only makes the memo start over.
 */
function memo(judge: (name: string) => boolean): (name: string) => boolean {
  let known = new Map<string, boolean>();
  return (name) => {
    if (name.length > MEMO_NAME) return judge(name);
    let answer = known.get(name);
    if (answer === undefined) {
      answer = judge(name);
      if (known.size >= MEMO_SIZE) known = new Map();
      known.set(name, answer);
    }
    return answer;
  };
}

function matcher(rules: readonly NameRule[], exact: boolean): (name: string) => boolean {
  const strings = rules.filter((r): r is string => typeof r === 'string').map((s) => s.toLowerCase());
  const regexps = rules.filter((r): r is RegExp => r instanceof RegExp);
  const set = new Set(strings);
  return (full) => {
    const name = full.length > MAX_NAME ? full.slice(0, MAX_NAME) : full;
    const lower = name.toLowerCase();
    if (exact ? set.has(lower) : strings.some((s) => lower.includes(s))) return true;
    return regexps.some((r) => {
      r.lastIndex = 0;
      return r.test(name);
    });
  };
}

/** A CGI-style server variable name (`HTTP_X_API_KEY`) as the header name it stands for (`x-api-key`). */
function headerNameOf(name: string): string {
  const lower = name.toLowerCase();
  return (lower.startsWith('http_') ? lower.slice(5) : lower).replace(/_/g, '-');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function decodeName(raw: string): string {
  if (!raw.includes('%') && !raw.includes('+')) return raw;
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

const isSchemeChar = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46;
const isLetter = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
// Where a URL's authority (`user:pass@host:port`) ends: whitespace, a path, query or fragment, quotes, brackets.
const AUTHORITY_END = /[\s/?#"'<>`\\]/g;

/**
 * `scheme://user:password@host` → `scheme://user:[Filtered]@host`, for every URL in a text. A scanner, not
 * a pattern: each authority is read once, up to its first `/` (so no two reads overlap), and the password
 * runs to the last `@`, so a password holding `@` is removed whole.
 */
function urlPasswords(text: string): string {
  let out = '';
  let last = 0;
  for (let at = text.indexOf('://'); at >= 0; at = text.indexOf('://', at + 3)) {
    let s = at;
    while (s > 0 && at - s < 64 && isSchemeChar(text.charCodeAt(s - 1))) s--;
    // A scheme starts with a letter: digits or signs glued before it (`…:8080http://`) are not part of it.
    while (s < at && !isLetter(text.charCodeAt(s))) s++;
    if (s === at) continue;
    AUTHORITY_END.lastIndex = at + 3;
    const end = AUTHORITY_END.exec(text)?.index ?? text.length;
    const authority = text.slice(at + 3, end);
    const atSign = authority.lastIndexOf('@');
    const colon = authority.indexOf(':');
    if (colon < 0 || atSign < colon || authority.slice(colon + 1, atSign) === FILTERED) continue;
    out += text.slice(last, at + 3 + colon + 1) + FILTERED;
    last = at + 3 + atSign;
  }
  return last === 0 ? text : out + text.slice(last);
}

function isObject<T>(value: T): value is T & object {
  return typeof value === 'object' && value !== null;
}

/** A field's value as text: strings as they are, numbers and booleans written out, anything else empty. */
function textOfField(value: unknown): string {
  if (typeof value === 'string') return value;
  return typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' ? String(value) : '';
}

/** True for a path segment that looks like a random token: long, of URL-safe characters, letters and digits mixed. */
function looksLikeToken(segment: string): boolean {
  return segment.length >= 16 && /^[A-Za-z0-9._~%+=-]+$/.test(segment) && /[0-9]/.test(segment) && /[A-Za-z]/.test(segment);
}

/** Compiles the redaction rules: the built-in lists extended (or replaced) by `options`, plus the own key. */
export function createRedactor(options: RedactOptions = {}, ownKey?: string): Redactor {
  const headerRules = options.replace ? [...(options.headers ?? [])] : [...DEFAULT_REDACT_HEADERS, ...(options.headers ?? [])];
  const keyRules = options.replace ? [...(options.keys ?? [])] : [...DEFAULT_REDACT_KEYS, ...(options.keys ?? [])];
  const headerExact = matcher(headerRules, true);
  const keyPart = matcher(keyRules, false);
  const paramExact = matcher(options.replace ? [] : DEFAULT_REDACT_PARAMS, true);
  const pathWords = options.replace ? [] : DEFAULT_TOKEN_PATH_WORDS;
  // A header rule also covers an entry of that name (`cookie` inside an HTTP client's error), and the
  // CGI spelling of a server variable (`HTTP_COOKIE`) counts as the header it stands for.
  const header = memo((name) => headerExact(name) || keyPart(name) || (name.includes('_') && headerExact(headerNameOf(name))));
  const key = header;
  const param = memo((name) => key(name) || paramExact(name));
  // A text in which no name rule's word occurs cannot hold a secret assignment: most texts skip that scan.
  const ruleWords = [...headerRules, ...keyRules, ...(options.replace ? [] : DEFAULT_REDACT_PARAMS)];
  const words = ruleWords.every((r) => typeof r === 'string')
    ? [...new Set(ruleWords.flatMap((w) => [(w as string).toLowerCase(), (w as string).toLowerCase().replace(/-/g, '_')]))]
    : undefined;
  /** False when `lower` (a lowercased text) holds no word of a name rule. */
  const mayNameSecret = (lower: string): boolean => !words || words.some((w) => lower.includes(w));

  const secrets = [...(options.values ?? [])].filter((v) => v.length >= 4);
  if (ownKey) {
    secrets.push(ownKey.trim());
    // The secret part alone would also give the key away.
    const secret = /^elmah_[a-z2-7]{8}_(.+)$/.exec(ownKey.trim())?.[1];
    if (secret) secrets.push(secret);
  }
  const secretPattern =
    secrets.length > 0
      ? new RegExp(
          secrets
            .sort((a, b) => b.length - a.length)
            .map(escapeRegExp)
            .join('|'),
          'g',
        )
      : undefined;
  // Percent-encoded forms of the secrets, for URLs that carry them encoded.
  const encodedSecrets = secrets.map((s) => encodeURIComponent(s)).filter((s) => !secrets.includes(s));
  const encodedPattern = encodedSecrets.length > 0 ? new RegExp(encodedSecrets.map(escapeRegExp).join('|'), 'gi') : undefined;

  /** Token-looking segments after a segment that names a reset, verify, invite… route become `[Filtered]`. */
  const pathTokens = (path: string): string => {
    if (pathWords.length === 0) return path;
    const lower = path.toLowerCase();
    if (!pathWords.some((w) => lower.includes(w))) return path;
    const segments = path.split('/');
    let armed = false;
    for (let i = 0; i < segments.length; i++) {
      const segment = segments[i]!;
      if (armed && looksLikeToken(segment)) segments[i] = FILTERED;
      else if (pathWords.some((w) => segment.toLowerCase().includes(w))) armed = true;
    }
    return segments.join('/');
  };

  // A line `Name: value` is a header line only for a secret header's name, or a dashed name with a secret
  // part (`X-Session-Id`): "TokenExpiredError: jwt expired" is a message, not a header.
  const secretHeaderLine = memo((name) => headerExact(name) || headerExact(headerNameOf(name)) || (/[-_]/.test(name) && keyPart(name)));
  const headerLine = (all: string, start: string, indent: string, name: string, colon: string, value: string): string =>
    value !== '' && value !== FILTERED && secretHeaderLine(name) ? `${start}${indent}${name}${colon}${FILTERED}` : all;
  const headerLines = (value: string): string => {
    const raw = value.replace(HEADER_LINE, headerLine);
    return raw.includes('\\n') ? raw.replace(ESCAPED_HEADER_LINE, headerLine) : raw;
  };

  const jsonMembers = (value: string): string =>
    value.replace(JSON_MEMBER, (all, name: string, sep: string, inner: string) => {
      const secret = sep.includes(':') ? header(name) : headerExact(name) || headerExact(headerNameOf(name));
      return secret && inner !== FILTERED ? `"${name}"${sep}"${FILTERED}"` : all;
    });

  const assignments = (value: string): string => {
    // Names repeat (`a=1&a=2…`): each is judged once per text.
    const judged = new Map<string, boolean>();
    return value.replace(ASSIGNMENT, (all, before: string, rawName: string, eq: string, rawValue: string) => {
      // A value that starts with the filter mark was redacted before: redacting twice changes nothing.
      if (rawValue === '' || rawValue.startsWith(FILTERED)) return all;
      const inUrl = before === '?' || before === '&' || before === '#';
      const memo = (inUrl ? '?' : ';') + rawName;
      let secret = judged.get(memo);
      if (secret === undefined) {
        const name = decodeName(rawName);
        secret = inUrl ? param(name) : key(name);
        judged.set(memo, secret);
      }
      if (!secret) return all;
      // A stack frame's `:line:col` after a URL's query is not part of the value.
      const colon = inUrl ? rawValue.indexOf(':') : -1;
      return `${before}${rawName}${eq}${FILTERED}${colon < 0 ? '' : rawValue.slice(colon)}`;
    });
  };

  // Short texts (names, host names, methods, small values) repeat in every message: those the rules leave
  // alone are remembered as such. A text the rules changed is not kept: the memo never holds a secret they found.
  let cleanTexts = new Set<string>();
  const text = (value: string): string => {
    if (value.length > MEMO_NAME) return textOf(value);
    if (cleanTexts.has(value)) return value;
    const out = textOf(value);
    if (out === value) {
      if (cleanTexts.size >= MEMO_SIZE) cleanTexts = new Set();
      cleanTexts.add(value);
    }
    return out;
  };

  const textOf = (value: string): string => {
    let out = value;
    if (secretPattern) out = out.replace(secretPattern, FILTERED);
    if (encodedPattern) out = out.replace(encodedPattern, FILTERED);
    if (out.includes('elmah_')) out = out.replace(KEY_SHAPED, `elmah_$1_${FILTERED}`);
    if (out.includes(':')) {
      out = headerLines(out);
      if (out.includes('"')) out = jsonMembers(out);
    }
    if (/bearer|basic|digest|token|negotiate|ntlm/i.test(out))
      out = out.replace(AUTH_SCHEME, (all, scheme: string, space: string, word: string) =>
        looksLikeCredential(word) ? `${scheme}${space}${FILTERED}` : all,
      );
    if (out.includes('://')) out = urlPasswords(out);
    const hasAssignment = out.includes('=');
    const hasPath = out.includes('/') && pathWords.length > 0;
    if (!hasAssignment && !hasPath) return out;
    // Lowercased once for both word checks; the steps below only put `[Filtered]` in, which holds no rule word.
    const lower = out.toLowerCase();
    if (hasAssignment && mayNameSecret(lower)) out = assignments(out);
    if (hasPath && pathWords.some((w) => lower.includes(w))) out = out.replace(TOKEN_PATH, (all: string) => pathTokens(all));
    return out;
  };

  const url = (value: string): string => {
    const q = value.indexOf('?');
    const hash = value.indexOf('#', q < 0 ? 0 : q);
    const pathEnd = q >= 0 ? q : hash >= 0 ? hash : value.length;
    const path = pathTokens(value.slice(0, pathEnd));
    if (q < 0) return path + value.slice(pathEnd);
    const query = value.slice(q + 1, hash < 0 ? undefined : hash);
    const pairs = query.split('&').map((pair) => {
      const eq = pair.indexOf('=');
      const rawName = eq < 0 ? pair : pair.slice(0, eq);
      return eq >= 0 && param(decodeName(rawName)) ? `${rawName}=${FILTERED}` : pair;
    });
    return `${path}?${pairs.join('&')}${hash < 0 ? '' : value.slice(hash)}`;
  };

  const headerValue = (name: string, value: string): string => {
    if (header(name)) return FILTERED;
    const lower = headerNameOf(name);
    if (lower === 'query-string') return url(`?${value}`).slice(1);
    return URL_HEADERS.has(lower) ? url(value) : value;
  };

  const entries = (list: KeyValue[], secret: (name: string) => boolean, valueText = text): KeyValue[] =>
    list.filter(isObject).map((kv) => {
      const name = textOfField(kv.key);
      return { key: text(name), value: secret(name) ? FILTERED : valueText(textOfField(kv.value)) };
    });

  const scrub = (message: ErrorMessage): ErrorMessage => {
    const out = { ...message } as ErrorMessage & Record<string, unknown>;
    for (const field of Object.keys(STRING_FIELDS) as (keyof typeof STRING_FIELDS)[]) {
      const v = out[field];
      if (typeof v === 'string') out[field] = text(field === 'url' ? url(v) : v);
    }
    for (const field of LIST_FIELDS) {
      const list = out[field];
      if (!Array.isArray(list)) continue;
      if (field === 'cookies') out.cookies = list.map((kv) => ({ key: text(kv.key), value: FILTERED }));
      else if (field === 'serverVariables')
        out.serverVariables = list.map((kv) => ({ key: text(kv.key), value: text(headerValue(kv.key, kv.value)) }));
      else out[field] = entries(list, field === 'data' ? key : param);
    }
    // Breadcrumbs and source windows may come from beforeLog in any shape: a malformed field is coerced or
    // dropped, never allowed to lose the message.
    if (Array.isArray(message.breadcrumbs))
      out.breadcrumbs = message.breadcrumbs.filter(isObject).map(({ data, ...b }) => ({
        ...b,
        action: text(textOfField(b.action)),
        message: crumbText(textOfField(b.message)),
        ...(Array.isArray(data) ? { data: entries(data, key, crumbText) } : {}),
      }));
    if (Array.isArray(message.sourceContext))
      out.sourceContext = message.sourceContext.filter(isObject).map((c) => ({
        ...c,
        file: text(textOfField(c.file)),
        lines: Array.isArray(c.lines) ? c.lines.map((l) => codeLine(textOfField(l))) : [],
      }));
    if (typeof message.jsonBody === 'string') out.jsonBody = jsonText(message.jsonBody);
    return out;
  };

  /**
   * A breadcrumb's message or data value: the text rules, and members and labels whose name is secret, as
   * console output shows them (`{ password: 'hunter2' }`, `password: hunter2`). Names of errors
   * (`TokenExpiredError: jwt expired`) are not labels.
   */
  const crumbText = (value: string): string => {
    const out = text(value);
    if ((!out.includes(':') && !out.includes('=>')) || !mayNameSecret(out.toLowerCase())) return out;
    return out.replace(INSPECT_MEMBER, (all, before: string, quote: string, name: string, sep: string, raw: string) => {
      const closing = raw[0] === "'" || raw[0] === '"' ? raw[0] : '';
      const inner = closing ? raw.slice(1, raw.length > 1 && raw.endsWith(closing) ? -1 : undefined) : raw;
      // An empty value holds no secret (`password: ''` says there is none).
      if (inner === '' || inner.startsWith('[Filtered') || /(?:Error|Exception)$/.test(name) || !key(name)) return all;
      return `${before}${quote}${name}${quote}${sep}${closing}${FILTERED}${closing}`;
    });
  };

  /** A line of source: the text rules, and object members whose name is secret (`apiKey: 'sk_…'`). */
  const codeLine = (line: string): string => {
    const out = text(line);
    return out.includes(':')
      ? out.replace(CODE_MEMBER, (all, name: string, sep: string, quote: string, value: string) =>
          value !== '' && value !== FILTERED && key(name) ? `${name}${sep}${quote}${FILTERED}${quote}` : all,
        )
      : out;
  };

  /**
   * A JSON value with every member whose name is secret filtered and every string redacted as text. Arrays
   * and objects nested deeper than the kept depth become a visible mark, never kept unredacted.
   */
  const jsonValue = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') return text(value);
    if (value === null || typeof value !== 'object') return value;
    if (depth >= CONTEXT_LIMITS.jsonBodyKeptDepth) return TOO_DEEP;
    if (Array.isArray(value)) return value.map((v) => jsonValue(v, depth + 1));
    // Without a prototype, a member named __proto__ stays a member.
    const out = Object.create(null) as Record<string, unknown>;
    for (const [name, v] of Object.entries(value as Record<string, unknown>)) out[name] = param(name) ? FILTERED : jsonValue(v, depth + 1);
    return out;
  };
  const jsonText = (body: string): string => {
    try {
      return JSON.stringify(jsonValue(JSON.parse(body), 0));
    } catch {
      return JSON.stringify(FILTERED);
    }
  };

  return { header, key, param, url, headerValue, text, breadcrumbText: crumbText, scrub };
}

let defaultRedactor: Redactor | undefined;

/**
 * A message with the built-in redaction rules applied (or `redactor`'s): what a collector does to every
 * message it receives, whichever client sent it. Idempotent: redacting a redacted message changes nothing.
 */
export function redactMessage(message: ErrorMessage, redactor?: Redactor): ErrorMessage {
  return (redactor ?? (defaultRedactor ??= createRedactor())).scrub(message);
}
