// The `notify` option of errorLogger(), collector() and `express-elmah serve`: its types, its checks (made
// when the factory is called, with coded errors) and the environment it falls back to when it is absent.
import { hostname } from 'node:os';
import { ElmahConfigError } from '../model/errors.js';
import { isLogName, SEVERITIES, type Severity } from '../model/message.js';
import { parseQuery, type QueryNode } from '../model/query.js';
import type { Notification } from './types.js';

/** When a rule fires. */
export type RuleEvent = 'new' | 'regressed' | 'spike' | 'every';

/** One alert rule: an event, optionally limited to some logs, severities, status codes or a search query. */
export interface NotifyRule {
  /** `new`: a group's first occurrence; `regressed`: a resolved group recurs; `spike`: `count` occurrences of one group within `minutes`; `every`: each occurrence. */
  on: RuleEvent;
  /** Only these logs. */
  logs?: string[];
  /** Only these severities. */
  severities?: Severity[];
  /** Only these status codes: a code (`503`) or an inclusive range (`[500, 599]`). */
  statusCodes?: Array<number | [number, number]>;
  /** Only messages this search query (the viewer's language, e.g. `type:TypeError AND url:checkout`) matches. */
  query?: string;
  /** With `spike`: how many occurrences. Default 10. */
  count?: number;
  /** With `spike`: within how many minutes. Default 5. */
  minutes?: number;
}

/** Mail over SMTP. */
export interface MailChannelOptions {
  /** `smtp://user:pass@host:port` or `smtps://…` (e.g. `process.env.ELMAH_SMTP_URL`). */
  url: string;
  /** Who receives the alerts. */
  to: string | string[];
  /** The sender. Default: `express-elmah@<this host>`. */
  from?: string;
}

/** A webhook: generic signed JSON, or a Slack or Microsoft Teams incoming webhook. */
export interface WebhookChannelOptions {
  /** Where to POST (http or https). */
  url: string;
  /** `json` (default), `slack` or `teams`. */
  format?: 'json' | 'slack' | 'teams';
  /** Shared secret: each request then carries `X-Elmah-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
  secret?: string;
}

/** The `notify` option. */
export interface NotifyOptions {
  /** The viewer's address, e.g. `https://ops.example.com/elmah.axd`: each alert links to the error there. */
  baseUrl?: string;
  /** Mail over SMTP. */
  mail?: MailChannelOptions;
  /** One webhook or several. */
  webhook?: WebhookChannelOptions | WebhookChannelOptions[];
  /** A function that receives each notification (after throttle and digest); may return a promise. */
  handler?: (notification: Notification) => void | Promise<void>;
  /** When to alert. Default: a new group and a regression. */
  rules?: NotifyRule[];
  /** At most one alert per group and event within this many minutes. Default 30. 0: no throttle. */
  throttleMinutes?: number;
  /** Alerts that follow a notification within this many seconds wait and go out together as one digest. Default 60. 0: none. */
  digestSeconds?: number;
  /** Most alerts held waiting; more are only counted, into the next notification's "and N more". Default 1000. */
  maxQueue?: number;
  /** Tries per notification and channel. Default 5. */
  maxAttempts?: number;
  /** First wait between tries, ms (doubling, with jitter). Default 1000. */
  backoffMs?: number;
  /** Longest wait between tries, ms; also the most a `Retry-After` is honoured. Default 60000. */
  maxBackoffMs?: number;
  /** How long one send may take, ms. Default 10000. */
  timeoutMs?: number;
}

/** A rule, checked, with its query parsed. */
export interface ResolvedRule {
  on: RuleEvent;
  logs: ReadonlySet<string> | undefined;
  severities: ReadonlySet<string> | undefined;
  statusCodes: ReadonlyArray<readonly [number, number]> | undefined;
  query: QueryNode | undefined;
  count: number;
  minutes: number;
}

/** The notify option checked and completed with defaults; what a Notifier runs on. */
export interface NotifyConfig {
  baseUrl: string | undefined;
  mail: { url: string; to: string[]; from: string } | undefined;
  webhooks: Array<{ url: string; format: 'json' | 'slack' | 'teams'; secret: string | undefined }>;
  handler: ((notification: Notification) => void | Promise<void>) | undefined;
  rules: ResolvedRule[];
  throttleMs: number;
  digestMs: number;
  maxQueue: number;
  maxAttempts: number;
  backoffMs: number;
  maxBackoffMs: number;
  timeoutMs: number;
}

/** The rules that apply when none are given. */
export const DEFAULT_RULES: readonly NotifyRule[] = [{ on: 'new' }, { on: 'regressed' }];

/** Defaults of the numeric options. */
export const NOTIFY_DEFAULTS = {
  throttleMinutes: 30,
  digestSeconds: 60,
  maxQueue: 1000,
  maxAttempts: 5,
  backoffMs: 1000,
  maxBackoffMs: 60_000,
  timeoutMs: 10_000,
  spikeCount: 10,
  spikeMinutes: 5,
} as const;

const OPTION_NAMES = [
  'baseUrl',
  'mail',
  'webhook',
  'handler',
  'rules',
  'throttleMinutes',
  'digestSeconds',
  'maxQueue',
  'maxAttempts',
  'backoffMs',
  'maxBackoffMs',
  'timeoutMs',
] as const satisfies ReadonlyArray<keyof NotifyOptions>;

/** A plain address (`ops@example.com`) or a named one (`Ops <ops@example.com>`), on one line. */
const ADDRESS = /^(?:[^<>\r\n]{0,200}<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/;

function fail(where: string, problem: string, help: string): never {
  throw new ElmahConfigError('ERR_ELMAH_NOTIFY_CONFIG', `${where}: notify ${problem}`, { help });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkKeys(where: string, what: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const name of Object.keys(value)) {
    if (!known.includes(name)) fail(where, `${what} has an unknown member "${name}"`, `Known: ${known.join(', ')}.`);
  }
}

function number(where: string, name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    fail(where, `option "${name}" must be a number from ${min} to ${max}`, `Got ${String(value).slice(0, 40)}.`);
  }
  return value;
}

function httpUrl(where: string, what: string, value: unknown): string {
  if (typeof value !== 'string') fail(where, `${what} must be a URL string`, 'Give an http:// or https:// URL.');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(where, `${what} is not a valid URL`, 'Give an http:// or https:// URL.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(where, `${what} must be http or https`, `Got ${url.protocol}.`);
  // Never echoed: a URL with a password is a secret. fetch refuses such a URL on every send, and a link with
  // one would hand it to every reader of an alert.
  if (url.username !== '' || url.password !== '') {
    fail(
      where,
      `${what} must not hold a user name or password (user:pass@)`,
      'Remove them from the URL; a webhook proves itself with `secret` (the X-Elmah-Signature header) or a token in its path.',
    );
  }
  return value;
}

function smtpUrl(where: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    fail(where, 'mail needs an SMTP URL', 'Set mail.url (e.g. to process.env.ELMAH_SMTP_URL) to smtp://user:pass@host:port.');
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    fail(where, 'mail.url is not a valid URL', 'Use smtp://user:pass@host:port (or smtps:// for TLS from the start).');
  }
  if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') {
    fail(where, `mail.url must be smtp:// or smtps://, got ${url.protocol}`, 'Use smtp://user:pass@host:port.');
  }
  // Decoded here once, as each send decodes them: a stray % would otherwise fail every send.
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    fail(
      where,
      'mail.url has a user name or password with a malformed %-escape',
      'Percent-encode the special characters of the user name and password (a % itself is %25, @ is %40, : is %3A).',
    );
  }
  return value;
}

function addresses(where: string, what: string, value: unknown): string[] {
  const list = typeof value === 'string' ? value.split(',').map((s) => s.trim()) : value;
  if (!Array.isArray(list) || list.length === 0 || list.some((a) => typeof a !== 'string' || !ADDRESS.test(a))) {
    fail(where, `${what} must be one or more mail addresses`, 'E.g. "ops@example.com" or ["Ops <ops@example.com>", "dev@example.com"].');
  }
  return list as string[];
}

function resolveRule(where: string, rule: unknown, index: number): ResolvedRule {
  const what = `rules[${index}]`;
  if (!isObject(rule)) fail(where, `${what} must be an object like { on: 'new' }`, 'See docs/alerts.md, Rules.');
  checkKeys(where, what, rule, ['on', 'logs', 'severities', 'statusCodes', 'query', 'count', 'minutes']);
  const on = rule.on;
  if (on !== 'new' && on !== 'regressed' && on !== 'spike' && on !== 'every') {
    fail(where, `${what}.on must be 'new', 'regressed', 'spike' or 'every'`, `Got ${JSON.stringify(on)?.slice(0, 40)}.`);
  }
  const strings = (name: string, ok: (s: string) => boolean, help: string): Set<string> | undefined => {
    const v = rule[name];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length === 0 || v.some((s) => typeof s !== 'string' || !ok(s)))
      fail(where, `${what}.${name} is not valid`, help);
    return new Set(v as string[]);
  };
  const logs = strings('logs', isLogName, 'A list of log names (1-100 letters, digits, . _ -).');
  const severities = strings('severities', (s) => (SEVERITIES as readonly string[]).includes(s), `A list of: ${SEVERITIES.join(', ')}.`);
  let statusCodes: Array<readonly [number, number]> | undefined;
  if (rule.statusCodes !== undefined) {
    const codes = rule.statusCodes;
    const isCode = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 999;
    if (!Array.isArray(codes) || codes.length === 0) fail(where, `${what}.statusCodes must be a list`, 'E.g. [500, [502, 504]].');
    statusCodes = codes.map((c: unknown) => {
      if (isCode(c)) return [c, c] as const;
      if (Array.isArray(c) && c.length === 2 && isCode(c[0]) && isCode(c[1]) && c[0] <= c[1]) return [c[0], c[1]] as const;
      return fail(
        where,
        `${what}.statusCodes holds ${JSON.stringify(c)?.slice(0, 40)}`,
        'Each entry is a code (503) or a range ([500, 599]).',
      );
    });
  }
  let query: QueryNode | undefined;
  if (rule.query !== undefined) {
    if (typeof rule.query !== 'string') fail(where, `${what}.query must be a string`, 'Use the search language of the viewer.');
    try {
      query = parseQuery(rule.query);
    } catch (err) {
      fail(where, `${what}.query cannot be parsed: ${(err as Error).message}`, 'Use the search language of the viewer (docs/search.md).');
    }
    if (hasStateTerm(query)) {
      fail(
        where,
        `${what}.query holds a group state term (is: or status:), which a rule cannot test`,
        "A rule sees each occurrence as it is stored, before anyone resolves or ignores its group: use on: 'new' or on: 'regressed' for a group's state, and the query for the message's own fields.",
      );
    }
  }
  if (on !== 'spike' && (rule.count !== undefined || rule.minutes !== undefined)) {
    fail(where, `${what} has count or minutes, which only a 'spike' rule takes`, "Set on: 'spike', or remove count and minutes.");
  }
  const count = number(where, `${what}.count`, rule.count, 2, 1_000_000, NOTIFY_DEFAULTS.spikeCount);
  const minutes = number(where, `${what}.minutes`, rule.minutes, 1, 1440, NOTIFY_DEFAULTS.spikeMinutes);
  if (!Number.isInteger(count)) fail(where, `${what}.count must be a whole number`, `Got ${count}.`);
  return { on, logs, severities, statusCodes, query, count, minutes };
}

/** True when the query tests the state of a group (`is:resolved`, `status:ignored` …) anywhere. */
function hasStateTerm(node: QueryNode): boolean {
  if (node.kind === 'state') return true;
  if (node.kind === 'and' || node.kind === 'or') return node.children.some(hasStateTerm);
  if (node.kind === 'not') return hasStateTerm(node.child);
  return false;
}

/**
 * Checks a `notify` option and completes it with the defaults (and with `env`, which {@link notifyConfig}
 * passes only for an option made from the environment). `where` names the factory for messages
 * ("errorLogger()"). Throws ERR_ELMAH_NOTIFY_CONFIG with a fix for each mistake.
 */
export function resolveNotify(where: string, input: unknown, env: NodeJS.ProcessEnv = process.env): NotifyConfig {
  if (!isObject(input)) fail(where, 'must be an object (or false to turn alerts off)', 'See docs/alerts.md.');
  checkKeys(where, 'option', input, OPTION_NAMES);
  const o = input as NotifyOptions;
  const baseUrl = o.baseUrl ?? (env.ELMAH_VIEWER_URL || undefined);
  if (baseUrl !== undefined) httpUrl(where, 'baseUrl', baseUrl);

  let mail: NotifyConfig['mail'];
  if (o.mail !== undefined) {
    if (!isObject(o.mail)) fail(where, 'mail must be an object { url, to, from }', 'See docs/alerts.md, Mail.');
    checkKeys(where, 'mail', o.mail, ['url', 'to', 'from']);
    const url = smtpUrl(where, o.mail.url ?? env.ELMAH_SMTP_URL);
    const to = addresses(where, 'mail.to', o.mail.to);
    const from = o.mail.from ?? (env.ELMAH_MAIL_FROM || `express-elmah@${hostname()}`);
    addresses(where, 'mail.from', from);
    mail = { url, to, from };
  }

  const hooks = o.webhook === undefined ? [] : Array.isArray(o.webhook) ? o.webhook : [o.webhook];
  const webhooks = hooks.map((h: unknown, i) => {
    const what = Array.isArray(o.webhook) ? `webhook[${i}]` : 'webhook';
    if (!isObject(h)) fail(where, `${what} must be an object { url, format, secret }`, 'See docs/alerts.md, Webhooks.');
    checkKeys(where, what, h, ['url', 'format', 'secret']);
    const url = httpUrl(where, `${what}.url`, h.url);
    const format = h.format ?? 'json';
    if (format !== 'json' && format !== 'slack' && format !== 'teams') {
      fail(where, `${what}.format must be 'json', 'slack' or 'teams'`, `Got ${JSON.stringify(format)?.slice(0, 40)}.`);
    }
    if (h.secret !== undefined && (typeof h.secret !== 'string' || h.secret.length < 16)) {
      fail(where, `${what}.secret must be a string of at least 16 characters`, 'E.g. `openssl rand -hex 32`.');
    }
    return { url, format: format as 'json' | 'slack' | 'teams', secret: h.secret as string | undefined };
  });

  if (o.handler !== undefined && typeof o.handler !== 'function')
    fail(where, 'handler must be a function', 'handler(notification) => void.');
  if (!mail && webhooks.length === 0 && !o.handler) {
    fail(where, 'has no channel', 'Give mail, webhook or handler (or set ELMAH_SMTP_URL / ELMAH_WEBHOOK_URL), or pass notify: false.');
  }
  if (o.rules !== undefined && (!Array.isArray(o.rules) || o.rules.length === 0)) {
    fail(where, 'rules must be a non-empty list', "E.g. [{ on: 'new' }, { on: 'spike', count: 50, minutes: 5 }].");
  }
  const rules = (o.rules ?? DEFAULT_RULES).map((r, i) => resolveRule(where, r, i));
  const d = NOTIFY_DEFAULTS;
  return {
    baseUrl: baseUrl?.replace(/\/+$/, ''),
    mail,
    webhooks,
    handler: o.handler,
    rules,
    throttleMs: number(where, 'throttleMinutes', o.throttleMinutes, 0, 10_080, d.throttleMinutes) * 60_000,
    digestMs: number(where, 'digestSeconds', o.digestSeconds, 0, 3600, d.digestSeconds) * 1000,
    maxQueue: Math.floor(number(where, 'maxQueue', o.maxQueue, 1, 100_000, d.maxQueue)),
    maxAttempts: Math.floor(number(where, 'maxAttempts', o.maxAttempts, 1, 20, d.maxAttempts)),
    backoffMs: number(where, 'backoffMs', o.backoffMs, 1, 600_000, d.backoffMs),
    maxBackoffMs: number(where, 'maxBackoffMs', o.maxBackoffMs, 1, 3_600_000, d.maxBackoffMs),
    timeoutMs: number(where, 'timeoutMs', o.timeoutMs, 1, 600_000, d.timeoutMs),
  };
}

/**
 * The notify option the environment describes, or undefined when it names no channel: mail from
 * ELMAH_SMTP_URL + ELMAH_MAIL_TO (+ ELMAH_MAIL_FROM), a webhook from ELMAH_WEBHOOK_URL (+ ELMAH_WEBHOOK_SECRET,
 * ELMAH_WEBHOOK_FORMAT), the link base from ELMAH_VIEWER_URL.
 */
export function notifyFromEnv(env: NodeJS.ProcessEnv = process.env): NotifyOptions | undefined {
  const options: NotifyOptions = {};
  if (env.ELMAH_SMTP_URL) {
    if (!env.ELMAH_MAIL_TO) {
      throw new ElmahConfigError(
        'ERR_ELMAH_NOTIFY_CONFIG',
        'ELMAH_SMTP_URL is set but ELMAH_MAIL_TO is not, so no alert mail could be sent.',
        {
          help: 'Set ELMAH_MAIL_TO to the addresses that receive alerts (comma-separated), or unset ELMAH_SMTP_URL.',
        },
      );
    }
    options.mail = { url: env.ELMAH_SMTP_URL, to: env.ELMAH_MAIL_TO };
    if (env.ELMAH_MAIL_FROM) options.mail.from = env.ELMAH_MAIL_FROM;
  }
  if (env.ELMAH_WEBHOOK_URL) {
    const format = env.ELMAH_WEBHOOK_FORMAT || 'json';
    options.webhook = { url: env.ELMAH_WEBHOOK_URL, format: format as 'json' };
    if (env.ELMAH_WEBHOOK_SECRET) options.webhook.secret = env.ELMAH_WEBHOOK_SECRET;
  }
  return options.mail || options.webhook ? options : undefined;
}

/**
 * The config a face runs on: the `notify` option when given (`false`: none), else the environment's.
 * Undefined when there is nothing to send to.
 */
export function notifyConfig(
  where: string,
  option: NotifyOptions | false | undefined,
  env: NodeJS.ProcessEnv = process.env,
): NotifyConfig | undefined {
  if (option === false) return undefined;
  // The environment is read only when the option is absent: an option says everything itself.
  if (option !== undefined) return resolveNotify(where, option, {});
  const input = notifyFromEnv(env);
  return input === undefined ? undefined : resolveNotify(where, input, env);
}

/** The rule test for `notify` in an option schema. */
export const notifyOptionRule = {
  kinds: ['object', 'boolean'] as const,
  describe: 'an object { mail?, webhook?, handler?, rules?, baseUrl?, … } or false',
  check: (v: unknown): string | undefined =>
    v === true ? 'must be an object or false (true says nothing about where to send)' : undefined,
};
