// Message fixtures for store and client tests.
import { normalizeMessage, type ErrorMessage } from '../../src/model/message';

let seq = 0;

/** A normalized message with sensible defaults; `overrides` win. Times default to one per second from 2026-01-01. */
export function makeMessage(overrides: Partial<ErrorMessage> & { log?: string } = {}): ErrorMessage {
  seq++;
  const base = {
    title: `Something failed ${seq}`,
    type: 'Error',
    detail: `Error: Something failed ${seq}\n    at handler (/app/src/routes/orders.js:10:5)\n    at Layer.handle (/app/node_modules/express/lib/router/layer.js:95:5)`,
    statusCode: 500,
    url: '/orders/1',
    method: 'GET',
    hostname: 'web-1',
    dateTime: new Date(Date.UTC(2026, 0, 1) + seq * 1000).toISOString(),
    ...overrides,
  };
  return normalizeMessage(base, overrides.log ?? 'default');
}
