// createApp(): an Express app with the typical failing routes, shared by the capture, viewer and collector tests.
// Under jest.express4.config.js `express` is Express 4, so the same app exercises both majors.
import express from 'express';
import type { ErrorRequestHandler, Express, NextFunction, Request, RequestHandler, Response } from 'express';

/** 4 or 5: which Express this test run loaded (Express 5 dropped `express.query`). */
export const expressMajor: 4 | 5 = 'query' in express ? 4 : 5;

/** Options of {@link createApp}. */
export interface CreateAppOptions {
  /** Error middleware placed after every route and before the final handler, e.g. `errorLogger({...})`. */
  logger?: ErrorRequestHandler | ErrorRequestHandler[] | RequestHandler;
  /** Runs first: mount routers (viewer, collector), settings or extra routes here. */
  setup?: (app: Express) => void;
  /** What `GET /value` throws (a fresh value per request). */
  value?: () => unknown;
  /** The last handler: `plain` answers `failed <status>` as text (default); `express` keeps Express's own handler. */
  final?: 'plain' | 'express';
}

/** An error with an HTTP status, like the `http-errors` package makes. */
export function httpError(status: number, message: string): Error & { status: number; statusCode: number; expose: boolean } {
  const err = new Error(message) as Error & { status: number; statusCode: number; expose: boolean };
  err.name = status >= 500 ? 'InternalServerError' : 'HttpError';
  err.status = status;
  err.statusCode = status;
  err.expose = status < 500;
  return err;
}

/** Express 4 does not catch rejected async handlers; pass the rejection to next() there, as apps must. */
function asyncRoute(fn: (req: Request, res: Response) => Promise<void>): RequestHandler {
  if (expressMajor === 5) return fn as unknown as RequestHandler;
  return function asyncRouteHandler(req: Request, res: Response, next: NextFunction) {
    fn(req, res).catch(next);
  };
}

/** The status a plain final handler answers with. */
function statusOf(err: unknown): number {
  const s = (err as { status?: unknown; statusCode?: unknown } | null)?.status ?? (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' && s >= 400 && s <= 599 ? s : 500;
}

/**
 * Routes: `GET /ok` (200 text), `GET /json` (200 JSON), `GET /throw` (sync Error), `GET /async` (rejected
 * async handler, TypeError), `GET /next` (next(err)), `GET /status/:code` (http-errors style error),
 * `GET /value` (throws `options.value()`), `POST /form` (JSON, urlencoded and text bodies parsed, then
 * throws), `GET /after-headers` (throws after the headers were sent), `GET /user` (sets req.user, throws).
 */
export function createApp(options: CreateAppOptions = {}): Express {
  const app = express();
  app.set('env', 'test');
  options.setup?.(app);
  app.get('/ok', (_req, res) => {
    res.type('text').send('ok');
  });
  app.get('/json', (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/throw', () => {
    throw new Error('Something broke');
  });
  app.get(
    '/async',
    asyncRoute(async () => {
      await new Promise((resolve) => setImmediate(resolve));
      throw new TypeError('Async failure');
    }),
  );
  app.get('/next', (_req, _res, next) => {
    next(new RangeError('Passed to next'));
  });
  app.get('/status/:code', (req) => {
    throw httpError(Number(req.params.code), `Status ${req.params.code}`);
  });
  app.get('/value', () => {
    throw options.value ? options.value() : new Error('no value configured');
  });
  app.post(
    '/form',
    express.json({ limit: '1mb' }),
    express.urlencoded({ extended: false, limit: '1mb' }),
    express.text({ type: 'text/*', limit: '1mb' }),
    () => {
      throw new Error('Form failed');
    },
  );
  app.get('/after-headers', (_req, res) => {
    res.write('partial');
    throw new Error('After headers');
  });
  app.get('/user', (req) => {
    (req as Request & { user?: unknown }).user = { id: 7, username: 'alice' };
    throw new Error('User failure');
  });
  if (options.logger) {
    for (const l of Array.isArray(options.logger) ? options.logger : [options.logger]) app.use(l as ErrorRequestHandler);
  }
  if (options.final !== 'express') {
    app.use(function plainErrorHandler(err: unknown, _req: Request, res: Response, next: NextFunction) {
      if (res.headersSent) {
        res.end();
        return;
      }
      if (err === undefined) return next();
      res
        .status(statusOf(err))
        .type('text')
        .send(`failed ${statusOf(err)}`);
    });
  }
  return app;
}
