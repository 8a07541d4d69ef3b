// What the access gate found for each request (client, key, CSRF token, session), for the routes after it.
import type { Request } from 'express';
import type { LogClient } from '../client/types.js';
import type { KeyInfo } from '../model/keys.js';
import type { SessionData } from './session.js';

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

/** The contexts of requests in flight; each is forgotten with its request. */
export class RequestContexts {
  private readonly contexts = new WeakMap<Request, RequestContext>();

  /** Records what the access gate found for a request. */
  set(req: Request, ctx: RequestContext): void {
    this.contexts.set(req, ctx);
  }

  /** The context of a request, if the access gate got as far as setting one. */
  find(req: Request): RequestContext | undefined {
    return this.contexts.get(req);
  }

  /** The context of a request that passed the access gate. */
  of(req: Request): RequestContext {
    const ctx = this.contexts.get(req);
    if (!ctx) throw new Error('express-elmah viewer: request context missing');
    return ctx;
  }
}
