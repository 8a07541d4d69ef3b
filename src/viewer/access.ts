// Who may browse: the loopback-only check of access 'local', key headers, and the sign-in attempt limiter.
import type { Request } from 'express';

/** Headers a reverse proxy adds; any of them means the request did not come straight from this host. */
export const PROXY_HEADERS = ['x-forwarded-for', 'forwarded', 'x-real-ip'] as const;

/** True for an IPv4 or IPv6 loopback address (127.0.0.0/8, ::1, and ::ffff:127.x.x.x). */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.toLowerCase();
  if (a === '::1' || a === '0:0:0:0:0:0:0:1') return true;
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4);
}

/** The proxy header a request carries, if any. */
export function proxyHeaderOf(req: Request): string | undefined {
  return PROXY_HEADERS.find((h) => req.headers[h] !== undefined);
}

/**
 * Access 'local': the socket's peer is loopback and no proxy header is present. `req.ip` is not used on
 * purpose: with `trust proxy` set it comes from a header the client controls.
 */
export function isLocalRequest(req: Request): boolean {
  return isLoopback(req.socket?.remoteAddress) && proxyHeaderOf(req) === undefined;
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

/** The address sign-in attempts are counted by: the socket peer (not a header a client could vary). */
export function clientAddress(req: Request): string {
  return req.socket?.remoteAddress ?? 'unknown';
}

/** Counts failed sign-ins per client address in a fixed window; bounded in memory, no timers. */
export class AttemptLimiter {
  private readonly entries = new Map<string, { failures: number; resetAt: number }>();

  constructor(
    private readonly maxFailures = 10,
    private readonly windowMs = 15 * 60_000,
    private readonly maxEntries = 10_000,
  ) {}

  /** Seconds until `address` may try again, or 0 when it may try now. */
  retryAfter(address: string, now = Date.now()): number {
    const e = this.entries.get(address);
    if (!e || e.resetAt <= now) return 0;
    return e.failures >= this.maxFailures ? Math.ceil((e.resetAt - now) / 1000) : 0;
  }

  /** Records a failed attempt. */
  fail(address: string, now = Date.now()): void {
    let e = this.entries.get(address);
    if (!e || e.resetAt <= now) {
      if (this.entries.size >= this.maxEntries) this.sweep(now);
      e = { failures: 0, resetAt: now + this.windowMs };
      this.entries.set(address, e);
    }
    e.failures++;
  }

  /** Forgets an address after a successful sign-in. */
  succeed(address: string): void {
    this.entries.delete(address);
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
