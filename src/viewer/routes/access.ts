// Headers on every response, the public assets, and the access gate that decides who may browse and
// which client (which key) serves the request.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NextFunction, Request, RequestHandler, Response, Router } from 'express';
import helmet from 'helmet';
import type { LogClient } from '../../client/types.js';
import { hasPermission, requirePermission } from '../../model/permissions.js';
import { ElmahError, isElmahError, isKeyRefusal } from '../../model/errors.js';
import type { KeyInfo } from '../../model/keys.js';
import { attemptNames, keyFromHeaders, notLocalReason } from '../access.js';
import type { ViewerContext } from '../context.js';
import { baseOf, href } from '../links.js';
import { SESSION_COOKIE, parseCookies, setCookie, type SessionData } from '../session.js';

/** Routes that also take an API key in a header, for scripts. */
const KEY_HEADER_ROUTES = /^\/(json\/[^/]+|download)\/?$/;

/** The headers the viewer sets on every response (helmet's and its own). */
const VIEWER_HEADERS = [
  'cache-control',
  'x-robots-tag',
  'content-security-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'origin-agent-cluster',
  'referrer-policy',
  'x-content-type-options',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-frame-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
] as const;

/** Each response's headers as they were before the viewer set its own. */
const appHeaders = new WeakMap<Response, Map<string, string | number | string[] | undefined>>();

/**
 * Puts back the headers the app had set before the viewer's: for a response that the app's own error handling
 * answers (the test error), whose page the viewer's CSP would break (its inline styles blocked).
 */
export function restoreAppHeaders(res: Response): void {
  const before = appHeaders.get(res);
  if (!before || res.headersSent) return;
  for (const [name, value] of before) {
    if (value === undefined) res.removeHeader(name);
    else res.setHeader(name, value);
  }
}

/** Strict CSP (nothing inline, nothing from elsewhere), no-store, noindex, no-referrer. HSTS is the app's call. */
export function viewerHeaders(): RequestHandler {
  const helmetMiddleware = helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'none'"],
        'script-src': ["'self'"],
        'style-src': ["'self'"],
        'img-src': ["'self'"],
        'connect-src': ["'self'"],
        'form-action': ["'self'"],
        'frame-ancestors': ["'none'"],
        'base-uri': ["'none'"],
      },
    },
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginResourcePolicy: { policy: 'same-origin' },
    strictTransportSecurity: false,
  });
  return function viewerHeadersMiddleware(req: Request, res: Response, next: NextFunction) {
    appHeaders.set(res, new Map(VIEWER_HEADERS.map((name) => [name, res.getHeader(name)])));
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Robots-Tag', 'noindex, nofollow');
    helmetMiddleware(req, res, next);
  };
}

const ASSETS: Record<string, string> = {
  'viewer.css': 'text/css; charset=utf-8',
  'viewer.js': 'text/javascript; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/** Serves views/assets (read once): public, since the sign-in and 403 pages need them too. */
export function assetRoutes(router: Router, viewsDir: string): void {
  const assets = new Map<string, Buffer>();
  for (const name of Object.keys(ASSETS)) assets.set(name, readFileSync(join(viewsDir, 'assets', name)));
  router.get('/assets/:file', function viewerAsset(req: Request, res: Response, next: NextFunction) {
    const name = String(req.params.file);
    const body = Object.hasOwn(ASSETS, name) ? assets.get(name) : undefined;
    if (!body) {
      next();
      return;
    }
    res.type(ASSETS[name]!).send(body);
  });
}

/**
 * The access gate: a key header (on /json and /download), else the access mode ('local', 'key' or the
 * app's function). Then the viewer's own key is checked, so that revoking it turns the viewer off (503).
 */
export function accessGate(
  v: Pick<ViewerContext, 'o' | 'clients' | 'requests' | 'sessions' | 'csrf' | 'attempts' | 'pages' | 'failures'>,
): RequestHandler {
  const { o, clients, requests, sessions, csrf, attempts, pages, failures } = v;

  async function viaKeyHeader(req: Request, headerKey: string): Promise<void> {
    const client = await clients.forKey(headerKey);
    if (!client) {
      throw new ElmahError('ERR_ELMAH_SIGNIN_UNAVAILABLE', 'This viewer was given a LogClient, so it cannot check other keys.', {
        status: 401,
        help: 'Open the viewer in a browser, or give errorViewer a store URL or Store.',
      });
    }
    // Marked first, so that a failure below answers as this request's own 401 in JSON.
    requests.set(req, { client, who: undefined as unknown as KeyInfo, csrf: '', viaHeader: true });
    // The same limit as sign-in: a key header is another way to try keys.
    const names = attemptNames(req, headerKey);
    const wait = attempts.retryAfter(names);
    if (wait > 0) {
      throw new ElmahError('ERR_ELMAH_RATE_LIMITED', 'Too many failed keys from this address or for this key.', {
        retryAfter: wait,
        help: `Try again in ${Math.ceil(wait / 60)} minute(s) with a valid key.`,
      });
    }
    let who: KeyInfo;
    try {
      who = await client.whoami();
    } catch (err) {
      clients.forget(headerKey);
      if (isKeyRefusal(err)) attempts.fail(names);
      throw isElmahError(err) ? new ElmahError(err.code, err.message, { status: 401, help: err.help }) : err;
    }
    attempts.succeed(names);
    requirePermission(who, 'messages_read');
    requests.set(req, { client, who, csrf: '', viaHeader: true });
  }

  return failures.handle('viewerAccess', async (req, res, next) => {
    const base = baseOf(req);
    const headerKey = keyFromHeaders(req);
    if (headerKey && KEY_HEADER_ROUTES.test(req.path)) {
      await viaKeyHeader(req, headerKey);
      next();
      return;
    }

    let client: LogClient = clients.main;
    let session: SessionData | undefined;
    if (o.access === 'local') {
      const reason = notLocalReason(req);
      if (reason) {
        await pages.render(req, res, 403, 'forbidden', { pageTitle: 'Local access only', reason });
        return;
      }
    } else if (o.access === 'key') {
      session = await sessions.open(parseCookies(req.headers.cookie).get(SESSION_COOKIE));
      if (!session) {
        if (KEY_HEADER_ROUTES.test(req.path)) {
          // Scripts get JSON they can act on rather than a redirect to a form.
          res
            .status(401)
            .json(
              new ElmahError(
                'ERR_ELMAH_KEY_MISSING',
                'Sign in, or send an API key with messages_read in Authorization: Bearer or the api_key header.',
              ).toJSON(),
            );
          return;
        }
        if (req.method === 'GET' || req.method === 'HEAD') {
          res.redirect(303, href(base, '/signin', { next: `${base}${req.url}`.slice(0, 2000) }));
          return;
        }
        await pages.problem(req, res, 401, 'Sign in first', 'Your session ended. Sign in again and repeat the action.');
        return;
      }
      const c = await clients.forKey(session.key);
      if (!c)
        throw new ElmahError('ERR_ELMAH_SIGNIN_UNAVAILABLE', 'Sign-in needs a store the viewer can check keys against.', {
          help: 'Give errorViewer a store URL or an open Store, not a LogClient.',
        });
      client = c;
    } else {
      let allowed = false;
      try {
        allowed = (await o.access(req)) === true;
      } catch (err) {
        console.error('express-elmah viewer: the access function failed:', err);
      }
      if (!allowed) {
        await pages.render(req, res, 403, 'forbidden', {
          pageTitle: 'Not allowed',
          reason: 'The application’s access check did not allow this request.',
        });
        return;
      }
    }

    let who = await clients.main.whoami();
    if (client !== clients.main) {
      try {
        who = await client.whoami();
        if (!hasPermission(who, 'messages_read')) throw new ElmahError('ERR_ELMAH_KEY_INVALID', 'The key lost messages_read.');
      } catch (err) {
        if (!isKeyRefusal(err)) throw err;
        // The signed-in key stopped working: end the session and say why on the sign-in page.
        if (session) await sessions.end(session);
        clients.forget(session?.key);
        setCookie(req, res, SESSION_COOKIE, '', { path: base || '/', maxAgeMs: 0 });
        res.redirect(303, href(base, '/signin', { reason: 'key' }));
        return;
      }
    }
    const binding = session ? session.sid : csrf.cookieBinding(req, res, req.method === 'GET' || req.method === 'HEAD');
    requests.set(req, { client, who, csrf: binding ? csrf.token(binding) : '', session, viaHeader: false });
    next();
  });
}
