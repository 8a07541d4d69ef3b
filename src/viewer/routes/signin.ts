// Sign-in and sign-out of access 'key': a key with messages_read becomes an encrypted, signed session
// cookie; failed attempts are limited per client address and per key id.
import type { Request, Router } from 'express';
import { isKeyRefusal } from '../../model/errors.js';
import type { KeyInfo } from '../../model/keys.js';
import { hasPermission } from '../../model/permissions.js';
import { attemptNames } from '../access.js';
import type { ViewerContext } from '../context.js';
import { baseOf } from '../links.js';
import { param } from '../filters.js';
import { SESSION_COOKIE, parseCookies, setCookie } from '../session.js';

/** Where to go after signing in: only a path under the mount point, never another site. */
function safeNext(req: Request, raw: string): string {
  const base = baseOf(req);
  const rest = raw.slice(base.length);
  return raw.startsWith(`${base}/`) && !raw.startsWith('//') && !rest.startsWith('//') && !/[\\\r\n]/.test(raw) ? raw : `${base}/`;
}

/** Adds GET/POST /signin and POST /signout. */
export function signInRoutes(
  router: Router,
  v: Pick<ViewerContext, 'o' | 'clients' | 'sessions' | 'csrf' | 'attempts' | 'pages' | 'failures' | 'parseForm'>,
): void {
  const { o, clients, sessions, csrf, attempts, pages, failures, parseForm } = v;

  router.get(
    '/signin',
    failures.handle('viewerSignInPage', async (req, res) => {
      const binding = csrf.cookieBinding(req, res, true)!;
      await pages.render(req, res, 200, 'signin', {
        pageTitle: 'Sign in',
        csrf: csrf.token(binding),
        next: safeNext(req, param(req, 'next')),
        message: '',
        reason: param(req, 'reason'),
      });
    }),
  );

  router.post(
    '/signin',
    parseForm,
    failures.handle('viewerSignIn', async (req, res) => {
      const binding = csrf.cookieBinding(req, res, true)!;
      const body = (req.body ?? {}) as Record<string, unknown>;
      const key = typeof body.key === 'string' ? body.key.trim() : '';
      const names = attemptNames(req, key);
      const wait = attempts.retryAfter(names);
      const nextUrl = safeNext(req, typeof body.next === 'string' ? body.next : '');
      const again = async (status: number, message: string): Promise<void> => {
        await pages.render(req, res, status, 'signin', {
          pageTitle: 'Sign in',
          csrf: csrf.token(binding),
          next: nextUrl,
          message,
          reason: '',
        });
      };
      if (wait > 0) {
        res.setHeader('Retry-After', String(wait));
        await again(429, `Too many failed sign-ins from this address or with this key. Try again in ${Math.ceil(wait / 60)} minute(s).`);
        return;
      }
      if (!csrf.ok(req, binding)) {
        await again(403, 'The form expired. Please sign in again.');
        return;
      }
      let who: KeyInfo | undefined;
      let message = 'Enter an API key.';
      try {
        const client = key ? await clients.forKey(key) : undefined;
        if (key && !client) message = 'Sign-in is not available.';
        if (client) {
          who = await client.whoami();
          if (!hasPermission(who, 'messages_read')) {
            message = `Key ${who.id} cannot read messages: it has ${who.permissions.join(', ') || 'no permissions'}; it needs messages_read.`;
            who = undefined;
          }
        }
      } catch (err) {
        if (!isKeyRefusal(err)) throw err;
        message = 'That key was not accepted: it is malformed, unknown, revoked or expired.';
      }
      if (!who) {
        attempts.fail(names);
        clients.forget(key);
        await again(401, message);
        return;
      }
      attempts.succeed(names);
      const value = sessions.start(key, o.sessionTtlMs);
      setCookie(req, res, SESSION_COOKIE, value, { path: baseOf(req) || '/', maxAgeMs: o.sessionTtlMs });
      res.redirect(303, nextUrl);
    }),
  );

  router.post(
    '/signout',
    parseForm,
    failures.handle('viewerSignOut', async (req, res) => {
      const session = await sessions.open(parseCookies(req.headers.cookie).get(SESSION_COOKIE));
      if (session && !csrf.ok(req, session.sid)) {
        await pages.problem(req, res, 403, 'Form expired', 'The sign-out form expired; reload the page and try again.');
        return;
      }
      if (session) await sessions.end(session);
      setCookie(req, res, SESSION_COOKIE, '', { path: baseOf(req) || '/', maxAgeMs: 0 });
      res.redirect(303, `${baseOf(req)}/signin`);
    }),
  );
}
