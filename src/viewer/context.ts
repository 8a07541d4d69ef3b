// One viewer's parts, made once by errorViewer() and handed to its groups of routes; each group of routes
// takes only the parts it uses.
import { MAX_SIZE } from './filters.js';
import express, { type RequestHandler } from 'express';
import type { KeyInfo } from '../model/keys.js';
import { AttemptLimiter } from './access.js';
import { ViewerCaches } from './caches.js';
import type { ViewerClients } from './clients.js';
import { Csrf } from './csrf.js';
import { Failures } from './failures.js';
import type { ResolvedViewerOptions } from './options.js';
import { Pages } from './pages.js';
import type { Renderer } from './render.js';
import { RequestContexts } from './request-context.js';
import { SessionCodec } from './session.js';
import { SignedInSessions } from './signed-in.js';

/** What the routes of one viewer share. */
export interface ViewerContext {
  /** The options with defaults applied. */
  readonly o: ResolvedViewerOptions;
  /** The viewer's own key, as checked when the viewer was made. */
  readonly viewerKey: KeyInfo;
  /** The client of the viewer's key and those of signed-in and header keys. */
  readonly clients: ViewerClients;
  /** Chart counts and log lists, reused for a few seconds. */
  readonly caches: ViewerCaches;
  /** What the access gate found for each request. */
  readonly requests: RequestContexts;
  readonly pages: Pages;
  /** Failures as pages or JSON, and the wrapper of every async route. */
  readonly failures: Failures;
  readonly csrf: Csrf;
  /** Sign-in sessions (access 'key'), with sign-outs kept in the store. */
  readonly sessions: SignedInSessions;
  /** Failed sign-ins and failed key headers, counted together per client address and per key id. */
  readonly attempts: AttemptLimiter;
  /**
   * Parses the small urlencoded forms of the viewer (the host app may not parse bodies). The largest is the groups
   * view's: a box per row of the largest page (a log name and a fingerprint each) and the view's filter.
   */
  readonly parseForm: RequestHandler;
}

/** Puts a viewer's parts together; one session secret signs its cookies and CSRF tokens. */
export function createViewerContext(
  o: ResolvedViewerOptions,
  clients: ViewerClients,
  viewerKey: KeyInfo,
  renderer: Renderer,
  version: string,
): ViewerContext {
  const codec = new SessionCodec(o.sessionSecret);
  const requests = new RequestContexts();
  const pages = new Pages(renderer, o, version, requests);
  return {
    o,
    viewerKey,
    clients,
    caches: new ViewerCaches(),
    requests,
    pages,
    failures: new Failures(pages, requests),
    csrf: new Csrf(codec, requests),
    sessions: new SignedInSessions(codec, clients.main),
    attempts: new AttemptLimiter(),
    parseForm: express.urlencoded({ extended: false, limit: '64kb', parameterLimit: MAX_SIZE + 50 }),
  };
}
