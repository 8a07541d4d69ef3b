// errorViewer(): the Express router mounted at /elmah.axd. It is built only when its key carries
// messages_read, and it assembles headers, assets, sign-in, the access gate and the pages.
import { join } from 'node:path';
import express, { type Router } from 'express';
import { missingKeyHelp, withStoreNamed } from '../client/startup-help.js';
import type { LogClient } from '../client/types.js';
import { requireLog, requirePermission } from '../model/permissions.js';
import { ElmahError, isElmahError } from '../model/errors.js';
import type { KeyInfo } from '../model/keys.js';
import { looksLikeExpressCall, notCalledError } from '../model/options.js';
import { ViewerClients } from './clients.js';
import { createViewerContext } from './context.js';
import { resolveViewerOptions, type ErrorViewerOptions, type ResolvedViewerOptions } from './options.js';
import { Renderer, findPackageRoot, packageVersion } from './render.js';
import { accessGate, assetRoutes, viewerHeaders } from './routes/access.js';
import { deploymentRoutes } from './routes/deployments.js';
import { exportRoutes } from './routes/export.js';
import { listRoutes } from './routes/list.js';
import { messageRoutes } from './routes/message.js';
import { signInRoutes } from './routes/signin.js';

/** The router errorViewer() resolves to, with `close()` to release a store the viewer opened itself. */
export interface ErrorViewer extends Router {
  /** Closes the store when the viewer opened it from a URL; a Store or LogClient you passed stays open. */
  close(): Promise<void>;
}

/** Checks the viewer's key at creation: valid, and carrying messages_read (and the pinned log). */
async function checkViewerKey(client: LogClient, o: ResolvedViewerOptions): Promise<KeyInfo> {
  let who: KeyInfo;
  try {
    who = await client.whoami();
  } catch (err) {
    if (isElmahError(err) && err.code === 'ERR_ELMAH_KEY_MISSING') {
      throw new ElmahError('ERR_ELMAH_KEY_MISSING', 'errorViewer() needs an API key carrying messages_read; none was given.', {
        help: missingKeyHelp('ELMAH_READ_KEY', 'Pass { key } or set ELMAH_READ_KEY; `npx express-elmah init --dotenv .env` makes one.'),
      });
    }
    throw withStoreNamed(err, client);
  }
  requirePermission(who, 'messages_read', undefined, {
    prefix: 'errorViewer(): ',
    help: 'Give the viewer a read key: npx express-elmah keys create --name viewer --permissions messages_read (a write key belongs to errorLogger).',
  });
  if (o.log)
    requireLog(who, o.log, { prefix: 'errorViewer(): ', help: 'Use a key for that log, or pin the viewer to a log the key may read.' });
  return who;
}

/**
 * Creates the error log viewer. Mount it with `app.use('/elmah.axd', await errorViewer())`.
 * Rejects (so the app does not start) when the key is missing (ERR_ELMAH_KEY_MISSING), unknown,
 * revoked or expired (ERR_ELMAH_KEY_INVALID), or lacks messages_read (ERR_ELMAH_PERMISSION), and on
 * a mistaken option (ERR_ELMAH_UNKNOWN_OPTION, ERR_ELMAH_OPTION_TYPE, ERR_ELMAH_SIGNIN_UNAVAILABLE).
 */
export function errorViewer(options?: ErrorViewerOptions): Promise<ErrorViewer>;
export function errorViewer(...args: unknown[]): Promise<ErrorViewer> {
  // app.use('/elmah.axd', errorViewer): Express calls the factory with (req, res, next); a synchronous
  // throw reaches the app's error handling with the fix in the message.
  if (looksLikeExpressCall(args)) throw notCalledError('errorViewer', "app.use('/elmah.axd', await errorViewer())");
  return createViewer(args[0]);
}

async function createViewer(input: unknown): Promise<ErrorViewer> {
  const o = resolveViewerOptions(input);
  for (const warning of o.warnings) {
    try {
      o.onError(warning);
    } catch {
      // A failing hook must not stop the app from starting.
    }
  }
  const clients = await ViewerClients.open(o.store, o.key);
  let viewerKey: KeyInfo;
  try {
    viewerKey = await checkViewerKey(clients.main, o);
  } catch (err) {
    await clients.close().catch(() => undefined);
    throw err;
  }
  const root = findPackageRoot();
  const viewsDir = join(root, 'views');
  const v = createViewerContext(o, clients, viewerKey, new Renderer(viewsDir), packageVersion(root));

  const router = express.Router() as unknown as ErrorViewer;
  router.close = function closeViewer(): Promise<void> {
    return v.clients.close();
  };
  router.use(viewerHeaders());
  assetRoutes(router, viewsDir);
  if (o.access === 'key') signInRoutes(router, v);
  router.use(accessGate(v));
  listRoutes(router, v);
  messageRoutes(router, v);
  exportRoutes(router, v);
  deploymentRoutes(router, v);
  router.use(
    v.failures.handle('viewerNotFound', async (req, res) => {
      await v.pages.problem(req, res, 404, 'Not found', 'There is no page at this address in the error log viewer.');
    }),
  );
  return router;
}
