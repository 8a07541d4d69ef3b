// How the viewer answers a failure: a coded error becomes the page (or JSON) that fits its code, anything
// else a generic 500 that shows no detail; and the wrapper that sends a route's failures there.
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { isElmahError, type ElmahError } from '../model/errors.js';
import type { Pages } from './pages.js';
import type { RequestContexts } from './request-context.js';

/** What the problem page of a coded error says. */
export interface FailurePage {
  status: number;
  heading: string;
  hint: string;
}

/** Headings of the codes that have their own; the others say the log is unavailable (5xx) or that something went wrong. */
const HEADINGS: Readonly<Record<string, string>> = {
  ERR_ELMAH_PERMISSION: 'Not allowed',
  ERR_ELMAH_NOT_FOUND: 'Not found',
  ERR_ELMAH_QUERY: 'That request cannot be answered',
  ERR_ELMAH_RATE_LIMITED: 'Too many attempts',
};

/** Key failures: a request's own key header answers its 401; otherwise the viewer's key stopped working. */
const KEY_CODES: ReadonlySet<string> = new Set(['ERR_ELMAH_KEY_MISSING', 'ERR_ELMAH_KEY_INVALID']);

const VIEWER_KEY_FAILED: FailurePage = {
  status: 503,
  heading: 'The viewer’s API key no longer works',
  hint: 'The key was revoked, expired or removed after the app started. Create a read key (npx express-elmah keys create --permissions messages_read), configure it, and restart the app.',
};

/** The status, heading and hint for a coded error; `ownKey` when the request came with a key of its own. */
export function failurePage(err: ElmahError, ownKey: boolean): FailurePage {
  if (KEY_CODES.has(err.code)) return ownKey ? { status: err.status, heading: 'Something went wrong', hint: err.help } : VIEWER_KEY_FAILED;
  const heading = HEADINGS[err.code] ?? (err.status >= 500 ? 'The error log is unavailable' : 'Something went wrong');
  return { status: err.status, heading, hint: err.help };
}

/** True when a failure is answered in JSON rather than a page: the JSON routes, and key-header requests. */
export function wantsJson(path: string, viaHeader: boolean): boolean {
  return /^\/(json|poll)(\/|$)/.test(path) || viaHeader;
}

/** Answers the failures of one viewer's routes. */
export class Failures {
  constructor(
    private readonly pages: Pick<Pages, 'problem'>,
    private readonly requests: RequestContexts,
  ) {}

  /** Answers a failure: coded errors become the matching page (or JSON), others a generic 500. */
  async fail(req: Request, res: Response, err: unknown): Promise<void> {
    if (res.headersSent) {
      res.end();
      return;
    }
    const viaHeader = this.requests.find(req)?.viaHeader === true;
    const json = wantsJson(req.path, viaHeader);
    if (!isElmahError(err)) {
      // To the console, not to the app's log: a viewer failure must not be written into the log it displays.
      console.error('express-elmah viewer failed:', err);
      if (json) {
        res.status(500).json({ error: { code: 'ERR_ELMAH_INTERNAL', message: 'The viewer failed; see the server log.' } });
        return;
      }
      await this.pages.problem(
        req,
        res,
        500,
        'The viewer failed',
        'Something went wrong while showing this page. The server log has the details.',
      );
      return;
    }
    const page = failurePage(err, viaHeader);
    if (err.retryAfter !== undefined) res.setHeader('Retry-After', String(Math.ceil(err.retryAfter)));
    if (json) {
      res.status(page.status).json(err.toJSON());
      return;
    }
    await this.pages.problem(req, res, page.status, page.heading, err.message, page.hint);
  }

  /** Wraps an async handler under a name: failures become pages, on Express 4 as on 5. */
  handle(name: string, fn: (req: Request, res: Response, next: NextFunction) => Promise<void>): RequestHandler {
    const wrapped = (req: Request, res: Response, next: NextFunction): void => {
      fn(req, res, next).catch((err: unknown) => this.fail(req, res, err).catch(next));
    };
    Object.defineProperty(wrapped, 'name', { value: name });
    return wrapped;
  }
}
