// Shared set-up for collector and remote-client tests: an app with a collector over a memory store with keys,
// and a real listener on 127.0.0.1.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express from 'express';
import { collector, type CollectorOptions, type CollectorRouter } from '../../src/collector';
import { MemoryStore } from '../../src/stores/memory';
import { withKeys, type TestKeys } from './keys';

/** An Express app with a collector mounted at `mount` over a fresh memory store. */
export async function createCollectorApp(
  options: Omit<CollectorOptions, 'store'> = {},
  mount = '/',
): Promise<{
  app: express.Express;
  store: MemoryStore;
  keys: TestKeys;
  router: CollectorRouter;
}> {
  const { store, keys } = await withKeys(new MemoryStore());
  const router = collector({ store, rateLimit: false, ...options });
  const app = express();
  app.use(mount, router);
  return { app, store, keys, router };
}

/** Listens on an ephemeral loopback port; `close` also drops idle keep-alive sockets. */
export async function listen(
  app: express.Express | ((req: any, res: any) => void),
): Promise<{ url: string; server: Server; close: () => Promise<void> }> {
  const server: Server = await new Promise((resolve) => {
    const s = (app as express.Express).listen(0, '127.0.0.1', () => resolve(s as unknown as Server));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** What {@link startCollector} returns: the collector app and its store and keys, listening at `url`. */
export type RunningCollector = Awaited<ReturnType<typeof createCollectorApp>> & { url: string; close: () => Promise<void> };

/** A collector over a fresh memory store with keys, listening on an ephemeral loopback port. */
export async function startCollector(options: Omit<CollectorOptions, 'store'> = {}, mount = '/'): Promise<RunningCollector> {
  const ctx = await createCollectorApp(options, mount);
  const { url, close } = await listen(ctx.app);
  return { ...ctx, url, close };
}

/** An elmah.io-shaped CreateMessage body, as elmah.io clients send it. */
export function makeElmahIoMessage(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    title: 'Object reference not set to an instance of an object',
    titleTemplate: 'Object reference not set',
    detail: 'System.NullReferenceException: Object reference not set\n   at Shop.Orders.Get() in C:\\src\\Orders.cs:line 42',
    hostname: 'web-1',
    application: 'shop',
    source: 'Shop.Orders',
    statusCode: 500,
    type: 'System.NullReferenceException',
    user: 'alice',
    severity: 'Error',
    url: '/orders/42',
    method: 'GET',
    version: '1.2.3',
    correlationId: 'c-1',
    category: 'Shop.Orders',
    cookies: [{ key: 'sid', value: '[Filtered]' }],
    form: [{ key: 'q', value: 'x' }],
    queryString: [{ key: 'page', value: '2' }],
    serverVariables: [{ key: 'HTTP_USER_AGENT', value: 'curl/8' }],
    data: [{ key: 'X-ELMAHIO-APPLICATION', value: 'shop' }],
    breadcrumbs: [{ dateTime: '2026-01-01T00:00:00Z', severity: 'Information', action: 'Navigation', message: 'home' }],
    ...overrides,
  };
}
