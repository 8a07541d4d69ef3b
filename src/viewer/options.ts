// The options of errorViewer(): their types, the schema checked when the factory is called, and defaults.
import type { Request } from 'express';
import { storeOptionRule, type StoreOption } from '../client/open-log.js';
import { isLogClient } from '../client/types.js';
import { ElmahConfigError, ElmahError } from '../model/errors.js';
import { parseDuration } from '../model/keys.js';
import { isLogName } from '../model/message.js';
import { validateOptions, type OptionSchema } from '../model/options.js';

/** Decides whether a request may browse the log: the app's own authentication. */
export type ViewerAccessFunction = (req: Request) => boolean | Promise<boolean>;

/** Options of {@link errorViewer}. */
export interface ErrorViewerOptions {
  /** API key carrying `messages_read`. Default: ELMAH_READ_KEY. */
  key?: string | undefined;
  /** Store URL, Store, collector URL or LogClient. Default: ELMAH_STORE, else sqlite:.elmah/elmah.db. */
  store?: StoreOption | undefined;
  /** Pin the viewer to one log; by default it shows every log its key may read, with a filter by log. */
  log?: string | undefined;
  /**
   * Who may browse: `'local'` serves requests from this machine, to a loopback host name, that came
   * through no proxy; `'key'` asks for an API key carrying `messages_read` and keeps a signed session
   * cookie; a function decides with the app's own authentication. Default: `'key'` when
   * `NODE_ENV=production` (a proxy may forward without saying so), `'local'` otherwise.
   */
  access?: 'local' | 'key' | ViewerAccessFunction | undefined;
  /** Secret that signs and encrypts session cookies and CSRF tokens (at least 32 characters). Default: random per process. */
  sessionSecret?: string | undefined;
  /** How long a sign-in lasts: milliseconds or a duration such as `8h`, `30m`, `7d`. Default 8h. */
  sessionTtl?: number | string | undefined;
  /** Rows per page when the URL names none: 10 to 100. Default 15. */
  pageSize?: number | undefined;
  /** Name shown in the header and the page titles. Default "Error log". */
  title?: string | undefined;
  /** Seconds between checks for new errors on the first page (needs JavaScript); 0 turns it off. Default 15. */
  refreshSeconds?: number | undefined;
  /** Receives the viewer's warnings (e.g. `ERR_ELMAH_LOCAL_ACCESS_IN_PRODUCTION`). Default: one `console.warn` line each. */
  onError?: ((error: ElmahError) => void) | undefined;
}

/** The options with defaults applied. */
export interface ResolvedViewerOptions {
  key: string | undefined;
  store: StoreOption | undefined;
  log: string | undefined;
  access: 'local' | 'key' | ViewerAccessFunction;
  sessionSecret: string | undefined;
  sessionTtlMs: number;
  pageSize: number;
  title: string;
  refreshSeconds: number;
  onError: (error: ElmahError) => void;
  /** Warnings found while resolving, reported once the viewer is made. */
  warnings: ElmahError[];
}

const SCHEMA: OptionSchema<ErrorViewerOptions> = {
  key: { kinds: ['string'], describe: 'an API key string (elmah_…)' },
  store: storeOptionRule('any'),
  log: { kinds: ['string'], check: (v) => (isLogName(v) ? undefined : 'must be 1-100 letters, digits, . _ -') },
  access: { kinds: ['string', 'function'], oneOf: ['local', 'key'], describe: '"local", "key" or a function (req) => boolean' },
  sessionSecret: { kinds: ['string'], check: (v) => ((v as string).length >= 32 ? undefined : 'must be at least 32 characters') },
  sessionTtl: {
    kinds: ['number', 'string'],
    describe: 'milliseconds or a duration such as "8h"',
    check: (v) =>
      sessionTtlMs(v as number | string) === undefined
        ? 'must be from 1 minute to 30 days, as milliseconds or a duration such as "8h"'
        : undefined,
  },
  pageSize: { kinds: ['number'], min: 10, max: 100, check: (v) => (Number.isInteger(v) ? undefined : 'must be a whole number') },
  title: { kinds: ['string'], check: (v) => ((v as string).length <= 100 ? undefined : 'must be at most 100 characters') },
  refreshSeconds: { kinds: ['number'], min: 0, max: 3600 },
  onError: { kinds: ['function'], describe: 'a function (error) => void' },
};

function warnOnConsole(error: ElmahError): void {
  const help = error.help ? ` ${error.help}` : '';
  console.warn(`express-elmah viewer: ${error.code}: ${error.message}${help} See ${error.docs}.`);
}

const MINUTE = 60_000;
const MAX_TTL = 30 * 86_400_000;

function sessionTtlMs(value: number | string): number | undefined {
  const ms = typeof value === 'number' ? value : parseDuration(value);
  return ms !== undefined && Number.isFinite(ms) && ms >= MINUTE && ms <= MAX_TTL ? ms : undefined;
}

/** Checks the options and applies defaults; throws ElmahConfigError on a mistake. */
export function resolveViewerOptions(input: unknown): ResolvedViewerOptions {
  const o = validateOptions<ErrorViewerOptions>('errorViewer', input, SCHEMA);
  const production = process.env.NODE_ENV === 'production';
  const access = o.access ?? (production ? 'key' : 'local');
  if (access === 'key' && isLogClient(o.store)) {
    const why = o.access === undefined ? 'with NODE_ENV=production access defaults to "key", which needs' : 'access "key" needs';
    throw new ElmahConfigError(
      'ERR_ELMAH_SIGNIN_UNAVAILABLE',
      `errorViewer(): ${why} a store (URL or Store) to check sign-in keys against, not a LogClient.`,
      {
        help: 'Pass `store` as a URL or an open Store, or choose access: "local" or a function.',
      },
    );
  }
  const warnings: ElmahError[] = [];
  if (production && access === 'local') {
    warnings.push(
      new ElmahError(
        'ERR_ELMAH_LOCAL_ACCESS_IN_PRODUCTION',
        'errorViewer() runs with access "local" in production: a reverse proxy on this host that adds no forwarding header (nginx\'s default proxy_pass, a TCP tunnel) makes remote visitors look local, unless it passes on a public Host name.',
        {
          help: 'Use access: "key" (sign in with a read key) or your own access function; keep "local" only when no proxy or tunnel forwards to this app.',
        },
      ),
    );
  }
  return {
    key: o.key ?? process.env.ELMAH_READ_KEY,
    store: o.store,
    log: o.log,
    access,
    sessionSecret: o.sessionSecret,
    sessionTtlMs: o.sessionTtl === undefined ? 8 * 3_600_000 : sessionTtlMs(o.sessionTtl)!,
    pageSize: o.pageSize ?? 15,
    title: o.title ?? 'Error log',
    refreshSeconds: o.refreshSeconds ?? 15,
    onError: o.onError ?? warnOnConsole,
    warnings,
  };
}
