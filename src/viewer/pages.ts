// The viewer's pages: each page rendered in the one layout with the variables every page has, problem pages,
// and the SVG images.
import type { Request, Response } from 'express';
import { hasPermission } from '../model/permissions.js';
import { baseOf, href } from './links.js';
import type { ResolvedViewerOptions } from './options.js';
import type { Renderer } from './render.js';
import type { RequestContexts } from './request-context.js';

/** Renders and sends the pages of one viewer. */
export class Pages {
  private readonly accessMode: 'local' | 'key' | 'function';

  constructor(
    private readonly renderer: Renderer,
    private readonly o: Pick<ResolvedViewerOptions, 'title' | 'log' | 'access'>,
    private readonly version: string,
    private readonly requests: RequestContexts,
  ) {
    this.accessMode = typeof o.access === 'function' ? 'function' : o.access;
  }

  /** Template variables every page has. */
  private baseLocals(req: Request, extra: Record<string, unknown>): Record<string, unknown> {
    const ctx = this.requests.find(req);
    const base = baseOf(req);
    return {
      appTitle: this.o.title,
      base,
      version: this.version,
      accessMode: this.accessMode,
      who: ctx?.who,
      csrf: ctx?.csrf ?? '',
      canDelete: ctx?.who ? hasPermission(ctx.who, 'messages_delete') : false,
      canTriage: ctx?.who ? hasPermission(ctx.who, 'groups_write') : false,
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
    // A server-side failure (the log unavailable, the viewer's key revoked) fails the list too: the page offers to
    // try the same request again rather than a link "back" into the same failure.
    const retry = status >= 500 && req.method === 'GET' ? `/${req.originalUrl.replace(/^[/\\]+/, '')}` : '';
    await this.render(req, res, status, 'problem', { pageTitle: heading, status, heading, text, hint: hint ?? '', retry });
  }

  /** The markup of a standalone SVG image, views/svg/<name>.ejs. */
  svg(name: string, locals: Record<string, unknown>): Promise<string> {
    return this.renderer.svg(name, locals);
  }
}
