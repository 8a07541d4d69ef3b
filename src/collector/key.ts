// Where the collector finds a request's API key: the `api_key` header, `Authorization: Bearer`, or the `api_key` query parameter.
import type { IncomingMessage } from 'node:http';

/** The request's search parameters, parsed the same way under Express 4 and 5 (no nested `qs` objects). */
export function searchParams(req: IncomingMessage & { originalUrl?: string }): URLSearchParams {
  const url = req.originalUrl ?? req.url ?? '/';
  const q = url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
}

/**
 * The API key a request carries, or undefined. The `api_key` header (elmah.io's name) wins over
 * `Authorization: Bearer`, which wins over the `api_key` query parameter (for clients that cannot set headers).
 */
export function requestKey(req: IncomingMessage & { originalUrl?: string }): string | undefined {
  const header = req.headers['api_key'] ?? req.headers['api-key'];
  const fromHeader = Array.isArray(header) ? header[0] : header;
  if (fromHeader) return fromHeader.trim();
  const auth = req.headers.authorization;
  if (auth) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (match) return match[1];
  }
  const fromQuery = searchParams(req).get('api_key');
  return fromQuery ? fromQuery.trim() : undefined;
}
