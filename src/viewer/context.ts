// What every route of one viewer shares: its options and clients, rendering, failure pages, CSRF checks,
// the per-request context set by the access gate, and small caches.
import { randomBytes } from 'node:crypto';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { LogClient } from '../client/types.js';
import { hasPermission, requirePermission } from '../model/permissions.js';
import { ElmahError, isElmahError } from '../model/errors.js';
import type { KeyInfo } from '../model/keys.js';
import { MESSAGE_ID_PATTERN, isLogName } from '../model/message.js';
import { AttemptLimiter } from './access.js';
import { param } from './filters.js';
import { baseOf, href } from './links.js';
import { ViewerCaches } from './caches.js';
import type { ViewerClients } from './clients.js';
import type { ResolvedViewerOptions } from './options.js';
import type { Renderer } from './render.js';
import { CSRF_COOKIE, SessionCodec, parseCookies, setCookie, type SessionData } from './session.js';

/** What each request works with, once the access gate has checked it. */
export interface RequestContext {
  client: LogClient;
  who: KeyInfo;
  /** The CSRF token of this visitor (empty for key-header requests, which do not use forms). */
  csrf: string;
  session?: SessionData | undefined;
  /** The request came with a key header (/json, /download). */
  viaHeader: boolean;
}

/** How long a session found open is trusted before the store is asked again whether it was signed out. */
const SESSION_CHECK_MS = 5000;

/** One viewer's shared state and helpers, handed to each group of routes. */
export class ViewerContext {
  readonly codec: SessionCodec;
  readonly accessMode: 'local' | 'key' | 'function';
  /** Parses the small urlencoded forms of the viewer (the host app may not parse bodies). */
  readonly parseForm: RequestHandler = express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 50 });
  /** Failed sign-ins and failed key headers, counted together per client address and per key id. */
  readonly attempts = new AttemptLimiter();
  private readonly contexts = new WeakMap<Request, RequestContext>();
  /** Histogram counts and log lists, reused for a few seconds. */
  readonly caches = new ViewerCaches();
  /** Sessions found open in the store, and when: sid → ms. */
  private readonly sessionChecks = new Map<string, number>();

  constructor(
    readonly o: ResolvedViewerOptions,
    readonly clients: ViewerClients,
    readonly viewerKey: KeyInfo,
    readonly renderer: Renderer,
    readonly version: string,
  ) {
    this.codec = new SessionCodec(o.sessionSecret);
    this.accessMode = typeof o.access === 'function' ? 'function' : o.access;
  }

  /** Records what the access gate found for a request. */
  setContext(req: Request, ctx: RequestContext): void {
    this.contexts.set(req, ctx);
  }

  /** The context of a request that passed the access gate. */
  ctxOf(req: Request): RequestContext {
    const ctx = this.contexts.get(req);
    if (!ctx) throw new Error('express-elmah viewer: request context missing');
    return ctx;
  }

  /**
   * The session of a request's cookie, or undefined when there is none, it is forged or expired, or it was
   * signed out — here, on another instance sharing the store, or before a restart. A session found open is
   * trusted for a few seconds before the store is asked again.
   */
  async openSession(cookie: string | undefined): Promise<SessionData | undefined> {
    const session = this.codec.open(cookie);
    if (!session) return undefined;
    const now = Date.now();
    const seen = this.sessionChecks.get(session.sid);
    if (seen !== undefined && now - seen < SESSION_CHECK_MS) return session;
    if (await this.clients.main.sessionEnded(session.sid)) {
      this.codec.end(session);
      return undefined;
    }
    if (this.sessionChecks.size >= 10_000) this.sessionChecks.clear();
    this.sessionChecks.set(session.sid, now);
    return session;
  }

  /** Ends a session for good: in this process at once, and in the store for every instance. */
  async endSession(session: SessionData): Promise<void> {
    this.codec.end(session);
    this.sessionChecks.delete(session.sid);
    await this.clients.main.endSession(session.sid, new Date(session.exp).toISOString());
  }

  /** Template variables every page has. */
  private baseLocals(req: Request, extra: Record<string, unknown>): Record<string, unknown> {
    const ctx = this.contexts.get(req);
    const base = baseOf(req);
    return {
      appTitle: this.o.title,
      base,
      version: this.version,
      accessMode: this.accessMode,
      who: ctx?.who,
      csrf: ctx?.csrf ?? '',
      canDelete: ctx?.who ? hasPermission(ctx.who, 'messages_delete') : false,
      signedIn: ctx?.session !== undefined,
      pinnedLog: this.o.log ?? '',
      nav: '',
      poll: undefined,
      now: new Date(),
      href: (path: string, query?: Record<string, string>) => href(base, path, query),
      ...extra,
    };
  }

  /** Renders a page of views/pages in the layout and sends it. */
  async render(req: Request, res: Response, status: number, page: string, locals: Record<string, unknown>): Promise<void> {
    const body = await this.renderer.page(page, this.baseLocals(req, locals));
    res.status(status).type('html').send(body);
  }

  /** A page that explains a problem (401, 403, 404, 429, 503…), in the layout. */
  async problem(req: Request, res: Response, status: number, heading: string, text: string, hint?: string): Promise<void> {
    await this.render(req, res, status, 'problem', { pageTitle: heading, status, heading, text, hint: hint ?? '' });
  }

  /** Wants JSON rather than a page: the JSON routes and key-header requests. */
  private wantsJson(req: Request): boolean {
    return /^\/(json|poll)(\/|$)/.test(req.path) || this.contexts.get(req)?.viaHeader === true;
  }

  /** Answers a failure: coded errors become the matching page (or JSON), others a generic 500. */
  async fail(req: Request, res: Response, err: unknown): Promise<void> {
    if (res.headersSent) {
      res.end();
      return;
    }
    if (!isElmahError(err)) {
      // To the console, not to the app's log: a viewer failure must not be written into the log it displays.
      console.error('express-elmah viewer failed:', err);
      if (this.wantsJson(req)) {
        res.status(500).json({ error: { code: 'ERR_ELMAH_INTERNAL', message: 'The viewer failed; see the server log.' } });
        return;
      }
      await this.problem(req, res, 500, 'The viewer failed', 'Something went wrong while showing this page. The server log has the details.');
      return;
    }
    let status = err.status;
    let heading = 'Something went wrong';
    let hint = err.help;
    // A problem with a request's own key header is that request's 401; any other key problem is the viewer's key.
    const ownKey = this.contexts.get(req)?.viaHeader === true;
    switch (err.code) {
      case 'ERR_ELMAH_KEY_MISSING':
      case 'ERR_ELMAH_KEY_INVALID':
        if (ownKey) break;
        status = 503;
        heading = 'The viewer’s API key no longer works';
        hint = 'The key was revoked, expired or removed after the app started. Create a read key (npx express-elmah keys create --permissions messages_read), configure it, and restart the app.';
        break;
      case 'ERR_ELMAH_PERMISSION':
        heading = 'Not allowed';
        break;
      case 'ERR_ELMAH_NOT_FOUND':
        heading = 'Not found';
        break;
      case 'ERR_ELMAH_QUERY':
        heading = 'That request cannot be answered';
        break;
      case 'ERR_ELMAH_RATE_LIMITED':
        heading = 'Too many attempts';
        break;
      default:
        if (status >= 500) heading = 'The error log is unavailable';
    }
    if (err.retryAfter !== undefined) res.setHeader('Retry-After', String(Math.ceil(err.retryAfter)));
    if (this.wantsJson(req)) {
      res.status(status).json(err.toJSON());
      return;
    }
    await this.problem(req, res, status, heading, err.message, hint);
  }

  /** Wraps an async handler under a name: failures become pages, on Express 4 as on 5. */
  handle(name: string, fn: (req: Request, res: Response, next: NextFunction) => Promise<void>): RequestHandler {
    const wrapped = (req: Request, res: Response, next: NextFunction): void => {
      fn(req, res, next).catch((err: unknown) => this.fail(req, res, err).catch(next));
    };
    Object.defineProperty(wrapped, 'name', { value: name });
    return wrapped;
  }

  /** True when a POST comes from our own pages: a valid CSRF token, and no cross-site browser signals. */
  csrfOk(req: Request, binding: string | undefined): boolean {
    if (req.headers['sec-fetch-site'] === 'cross-site') return false;
    const origin = req.headers.origin;
    if (typeof origin === 'string' && origin !== 'null') {
      try {
        if (new URL(origin).host !== req.headers.host) return false;
      } catch {
        return false;
      }
    }
    return this.codec.csrfMatches(binding, (req.body as Record<string, unknown> | undefined)?._csrf);
  }

  /** The CSRF binding of a visitor without a session: a random cookie, set on the first visit. */
  csrfCookieBinding(req: Request, res: Response, create: boolean): string | undefined {
    const existing = parseCookies(req.headers.cookie).get(CSRF_COOKIE);
    if (existing && /^[A-Za-z0-9_-]{22,64}$/.test(existing)) return existing;
    if (!create) return undefined;
    const value = randomBytes(24).toString('base64url');
    setCookie(req, res, CSRF_COOKIE, value, { path: baseOf(req) || '/' });
    return value;
  }

  /** Throws ERR_ELMAH_CSRF unless a POST from a page carries this visitor's token. */
  requireCsrf(req: Request): void {
    const ctx = this.ctxOf(req);
    const binding = ctx.session ? ctx.session.sid : parseCookies(req.headers.cookie).get(CSRF_COOKIE);
    if (!this.csrfOk(req, binding)) {
      throw new ElmahError('ERR_ELMAH_CSRF', 'The form’s security token is missing or does not match.', {
        help: 'Reload the page and submit the form again; forms of the viewer only work from its own pages.',
      });
    }
  }

  /** Throws ERR_ELMAH_PERMISSION unless the request's key carries messages_delete. */
  requireDelete(req: Request): void {
    requirePermission(this.ctxOf(req).who, 'messages_delete', undefined, { help: 'Deleting needs a key with messages_delete.' });
  }

  /** The message id of the URL; a malformed one is simply not found. */
  messageId(req: Request): string {
    const id = String(req.params.id);
    if (!MESSAGE_ID_PATTERN.test(id)) throw new ElmahError('ERR_ELMAH_NOT_FOUND', 'No message with that id.');
    return id;
  }

  /** The log a message lives in: pinned, named in the URL, or found by its id. */
  async logOfMessage(req: Request, client: LogClient, id: string): Promise<string> {
    if (this.o.log) return this.o.log;
    const named = param(req, 'log');
    if (named) {
      if (!isLogName(named)) throw new ElmahError('ERR_ELMAH_NOT_FOUND', `No message ${id}.`);
      return named;
    }
    const r = await client.search({ query: `id:"${id}"`, size: 1 });
    const found = r.messages[0];
    if (!found) throw new ElmahError('ERR_ELMAH_NOT_FOUND', `No message ${id} in the logs this key may read.`);
    return found.log;
  }
}
