// Who may browse: the loopback-only check of access 'local', key headers, and the sign-in attempt limiter.
import type { Request } from 'express';
import { keyIdOf } from '../model/keys.js';

/** Headers a proxy may add; any of them, and any `X-Forwarded-*`, means the request came through one. */
export const PROXY_HEADERS = ['forwarded', 'x-real-ip', 'via'] as const;

/** True for an IPv4 or IPv6 loopback address (127.0.0.0/8, ::1, and ::ffff:127.x.x.x). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.toLowerCase();
  if (a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/**
 * True when a `Host` header names this machine: `localhost`, `*.localhost`, `127.x.x.x` or `[::1]`, with
 * or without a port. A page on another domain that was rebound to 127.0.0.1 still sends its own name.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::\d{1,5})?$/i.exec(host.trim());
  if (!m) return false;
  const name = m[1]!.toLowerCase();
  if (name.startsWith('[')) return isLoopback(name.slice(1, -1));
  if (name === 'localhost' || /^[a-z0-9-]+(\.[a-z0-9-]+)*\.localhost$/.test(name)) return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name) && name.split('.').every((part) => Number(part) <= 255);
}

/** The proxy header a request carries, if any: `Via`, `Forwarded`, `X-Real-IP` or any `X-Forwarded-*`. */
export function proxyHeaderOf(req: Request): string | undefined {
  const fixed = PROXY_HEADERS.find((h) => req.headers[h] !== undefined);
  if (fixed) return fixed;
  return Object.keys(req.headers).find((h) => h.startsWith('x-forwarded-'));
}

/** Why access 'local' refuses a request, or undefined when it is local. */
export function notLocalReason(req: Request): string | undefined {
  if (!isLoopback(req.socket?.remoteAddress)) return 'This request did not come from this machine.';
  const header = proxyHeaderOf(req);
  if (header) return `This request came through a proxy (it carries a ${header} header).`;
  if (!isLoopbackHost(req.headers.host))
    return 'This request names another host than this machine (its Host header is not localhost or a loopback address).';
  return undefined;
}

/**
 * Access 'local': the socket's peer is loopback, no proxy header is present, and the Host header names a
 * loopback host. A proxy that adds no header (nginx's default proxy_pass, a TCP pipe) still passes the
 * public host name on, and so does a browser tricked by DNS rebinding. `req.ip` is not used on purpose:
 * with `trust proxy` set it comes from a header the client controls.
 */
export function isLocalRequest(req: Request): boolean {
  return notLocalReason(req) === undefined;
}

/** The API key a request carries in `Authorization: Bearer` or the `api_key` header, if any. */
export function keyFromHeaders(req: Request): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (m) return m[1];
  }
  const header = req.headers['api_key'] ?? req.headers['api-key'];
  return typeof header === 'string' && header.trim() ? header.trim() : undefined;
}

/**
 * The address sign-in attempts are counted by: the client as Express's `trust proxy` resolves it, so that
 * behind a proxy one visitor's failures do not lock out everyone else.
 */
export function clientAddress(req: Request): string {
  return req.ip ?? req.socket?.remoteAddress ?? 'unknown';
}

/**
 * The names a failed sign-in or key-header attempt is counted under: the client address, and the public
 * id of the key tried, so that guesses at one key from many addresses are limited too.
 */
export function attemptNames(req: Request, key: string | undefined): string[] {
  const id = keyIdOf(key);
  return id ? [`a:${clientAddress(req)}`, `k:${id}`] : [`a:${clientAddress(req)}`];
}

/** Counts failed attempts per name (client address, key id) in a fixed window; bounded in memory, no timers. */
export class AttemptLimiter {
  private readonly entries = new Map<string, { failures: number; resetAt: number }>();

  constructor(
    private readonly maxFailures = 10,
    private readonly windowMs = 15 * 60_000,
    private readonly maxEntries = 10_000,
  ) {}

  /** Seconds until none of `names` is locked any more, or 0 when an attempt may be made now. */
  retryAfter(names: string | readonly string[], now = Date.now()): number {
    let wait = 0;
    for (const name of typeof names === 'string' ? [names] : names) {
      const e = this.entries.get(name);
      if (e && e.resetAt > now && e.failures >= this.maxFailures) wait = Math.max(wait, Math.ceil((e.resetAt - now) / 1000));
    }
    return wait;
  }

  /** Records a failed attempt under each name. */
  fail(names: string | readonly string[], now = Date.now()): void {
    for (const name of typeof names === 'string' ? [names] : names) {
      let e = this.entries.get(name);
      if (!e || e.resetAt <= now) {
        if (this.entries.size >= this.maxEntries) this.sweep(now);
        e = { failures: 0, resetAt: now + this.windowMs };
        this.entries.set(name, e);
      }
      e.failures++;
    }
  }

  /** Forgets the names after a successful attempt. */
  succeed(names: string | readonly string[]): void {
    for (const name of typeof names === 'string' ? [names] : names) this.entries.delete(name);
  }

  private sweep(now: number): void {
    for (const [k, e] of this.entries) if (e.resetAt <= now) this.entries.delete(k);
    // Still full: drop the oldest entries rather than grow without bound.
    while (this.entries.size >= this.maxEntries) {
      const first = this.entries.keys().next().value;
      if (first === undefined) break;
      this.entries.delete(first);
    }
  }
}
