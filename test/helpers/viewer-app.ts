// createViewerApp(): the shared test app (test/helpers/app.ts) with the viewer mounted over a memory
// store holding a few messages, one per hour back from now.
import express, { type ErrorRequestHandler, type Express, type NextFunction, type Request, type Response } from 'express';
import request from 'supertest';
import { normalizeDeployment } from '../../src/model/deployment';
import type { ErrorMessage } from '../../src/model/message';
import type { Permission } from '../../src/model/permissions';
import type { MemoryStore } from '../../src/stores/memory';
import { errorViewer, type ErrorViewer, type ErrorViewerOptions } from '../../src/viewer';
import { createApp } from './app';
import { addKey, withKeys, type TestKeys } from './keys';
import { makeMessage } from './messages';

/** What {@link createViewerApp} returns. */
export interface TestApp {
  app: Express;
  viewer: ErrorViewer;
  store: MemoryStore;
  keys: TestKeys;
  messages: ErrorMessage[];
  /** Errors that reached the app's error handling after the viewer (the /test route). */
  appErrors: unknown[];
}

/** Options of {@link createViewerApp}. */
export interface ViewerAppOptions {
  viewer?: ErrorViewerOptions;
  /** Which test key the viewer uses (default `read`). */
  key?: keyof TestKeys;
  /** A new key with these permissions for the viewer instead (e.g. `messages_read`, `deployments_read`). */
  permissions?: Permission[];
  /** Deployments to record, as the collector takes them (`version`, `created`, `logId`, …). */
  deployments?: Record<string, unknown>[];
  /** Mount path (default /elmah.axd). */
  mount?: string;
  /** Mount inside a sub-app at this path, the viewer at `mount` within it. */
  subApp?: string;
  /** How many messages to store (default 30): "Order i failed", i hours + 1 ago; every 10th in log "billing". */
  count?: number;
  /** Pretend requests come from this address (sets the socket's remoteAddress). */
  remoteAddress?: string;
  /** More messages, one minute old unless they say otherwise. */
  extra?: Partial<ErrorMessage>[];
  /** Makes the app's error middleware (e.g. errorLogger) over the same store; placed after the routes. */
  logger?: (store: MemoryStore, keys: TestKeys) => ErrorRequestHandler;
}

/** The CSRF token of the first form in a page. */
export function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no CSRF token in page');
  return m[1]!;
}

/** GETs an SVG image as text (supertest buffers only text types by default). */
export async function svg(app: TestApp['app'], path: string): Promise<{ status: number; type: string; text: string }> {
  const res = await request(app)
    .get(path)
    .buffer(true)
    .parse((r, cb) => {
      let data = '';
      r.setEncoding('utf8');
      r.on('data', (c: string) => (data += c));
      r.on('end', () => cb(null, data));
    });
  return { status: res.status, type: String(res.headers['content-type']), text: res.body as string };
}

/** Builds the shared test app with the viewer over a fresh memory store. */
export async function createViewerApp(options: ViewerAppOptions = {}): Promise<TestApp> {
  const { store, keys } = await withKeys();
  const now = Date.now();
  const messages: ErrorMessage[] = [];
  for (let i = 0; i < (options.count ?? 30); i++) {
    messages.push(
      makeMessage({
        dateTime: new Date(now - (i + 1) * 3_600_000).toISOString(),
        title: `Order ${i} failed`,
        type: i % 3 === 0 ? 'RangeError' : 'TypeError',
        statusCode: i % 5 === 0 ? 404 : 500,
        user: `user${i}`,
        hostname: 'web-1',
        log: i % 10 === 9 ? 'billing' : 'default',
      }),
    );
  }
  for (const e of options.extra ?? []) messages.push(makeMessage({ dateTime: new Date(now - 60_000).toISOString(), ...e }));
  await store.append(messages);
  for (const d of options.deployments ?? []) await store.putDeployment(normalizeDeployment(d));
  const key = options.permissions ? await addKey(store, options.permissions) : keys[options.key ?? 'read'];
  const viewer = await errorViewer({ store, key, ...options.viewer });
  const appErrors: unknown[] = [];
  const recordErrors: ErrorRequestHandler = function recordAppErrors(err: unknown, _req: Request, _res: Response, next: NextFunction) {
    appErrors.push(err);
    next(err);
  };
  const app = createApp({
    setup(a) {
      if (options.remoteAddress) {
        const address = options.remoteAddress;
        a.use(function fakeRemoteAddress(req: Request, _res: Response, next: NextFunction) {
          Object.defineProperty(req.socket, 'remoteAddress', { value: address, configurable: true });
          next();
        });
      }
      const mount = options.mount ?? '/elmah.axd';
      if (options.subApp) a.use(options.subApp, express().use(mount, viewer));
      else a.use(mount, viewer);
    },
    logger: options.logger ? [recordErrors, options.logger(store, keys)] : recordErrors,
  });
  return { app, viewer, store, keys, messages, appErrors };
}
