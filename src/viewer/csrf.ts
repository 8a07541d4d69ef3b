// CSRF protection of the viewer's forms: a token bound to the visitor (its session, or a random cookie for
// visitors without one), and no cross-site browser signals.
import { randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import { ElmahError } from '../model/errors.js';
import { baseOf } from './links.js';
import type { RequestContexts } from './request-context.js';
import { CSRF_COOKIE, parseCookies, setCookie, type SessionCodec } from './session.js';

/** A CSRF cookie value as the viewer makes them (24 random bytes, base64url), with some room. */
const BINDING = /^[A-Za-z0-9_-]{22,64}$/;

/** False when the browser says a request comes from another site: `Sec-Fetch-Site` or an `Origin` of another host. */
export function sameSite(req: Request): boolean {
  if (req.headers['sec-fetch-site'] === 'cross-site') return false;
  const origin = req.headers.origin;
  if (typeof origin === 'string' && origin !== 'null') {
    try {
      if (new URL(origin).host !== req.headers.host) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** Makes and checks the CSRF tokens of one viewer. */
export class Csrf {
  constructor(
    private readonly codec: SessionCodec,
    private readonly requests: RequestContexts,
  ) {}

  /** The token forms carry for a binding (a session id, or the value of the CSRF cookie). */
  token(binding: string): string {
    return this.codec.csrfToken(binding);
  }

  /** True when a POST comes from our own pages: a valid CSRF token, and no cross-site browser signals. */
  ok(req: Request, binding: string | undefined): boolean {
    return sameSite(req) && this.codec.csrfMatches(binding, (req.body as Record<string, unknown> | undefined)?._csrf);
  }

  /** The CSRF binding of a visitor without a session: a random cookie, set on the first visit when `create`. */
  cookieBinding(req: Request, res: Response, create: boolean): string | undefined {
    const existing = parseCookies(req.headers.cookie).get(CSRF_COOKIE);
    if (existing && BINDING.test(existing)) return existing;
    if (!create) return undefined;
    const value = randomBytes(24).toString('base64url');
    setCookie(req, res, CSRF_COOKIE, value, { path: baseOf(req) || '/' });
    return value;
  }

  /** Throws ERR_ELMAH_CSRF unless a POST from a page carries this visitor's token. */
  require(req: Request): void {
    const ctx = this.requests.of(req);
    const binding = ctx.session ? ctx.session.sid : parseCookies(req.headers.cookie).get(CSRF_COOKIE);
    if (!this.ok(req, binding)) {
      throw new ElmahError('ERR_ELMAH_CSRF', 'The form’s security token is missing or does not match.', {
        help: 'Reload the page and submit the form again; forms of the viewer only work from its own pages.',
      });
    }
  }
}
