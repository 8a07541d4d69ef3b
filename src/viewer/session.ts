// Cookies, sign-in sessions and CSRF tokens. A session cookie holds the signed-in key encrypted
// (AES-256-GCM) and signed (HMAC-SHA256) with keys derived from the session secret: never the key in clear.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Request, Response } from 'express';

/** Cookie names of the viewer (scoped to its mount path). */
export const SESSION_COOKIE = 'elmah_session';
export const CSRF_COOKIE = 'elmah_csrf';

/** Cookies of a request, parsed from the header (no cookie-parser needed). Malformed pairs are skipped. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (!name || out.has(name)) continue;
    try {
      out.set(name, decodeURIComponent(value));
    } catch {
      out.set(name, value);
    }
  }
  return out;
}

/** Options of {@link setCookie}. */
export interface CookieOptions {
  path: string;
  /** Lifetime in ms; 0 deletes the cookie; undefined makes a browser-session cookie. */
  maxAgeMs?: number | undefined;
}

/** Appends an HttpOnly, SameSite=Strict cookie (Secure on HTTPS) to the response. */
export function setCookie(req: Request, res: Response, name: string, value: string, options: CookieOptions): void {
  const parts = [`${name}=${encodeURIComponent(value)}`, `Path=${options.path}`, 'HttpOnly', 'SameSite=Strict'];
  if (options.maxAgeMs !== undefined) {
    parts.push(`Max-Age=${Math.floor(options.maxAgeMs / 1000)}`);
    parts.push(`Expires=${new Date(Date.now() + options.maxAgeMs).toUTCString()}`);
  }
  if (req.secure) parts.push('Secure');
  const prev = res.getHeader('Set-Cookie');
  const list = prev === undefined ? [] : Array.isArray(prev) ? prev.map(String) : [String(prev)];
  res.setHeader('Set-Cookie', [...list, parts.join('; ')]);
}

/** What a session cookie carries once opened. */
export interface SessionData {
  /** The signed-in API key (kept only inside the encrypted cookie and in memory). */
  key: string;
  /** Session id: binds CSRF tokens and lets sign-out end the session before it expires. */
  sid: string;
  /** Expiry, ms since the epoch. */
  exp: number;
}

/** Seals and opens session cookies and makes CSRF tokens, all from one secret. */
export class SessionCodec {
  private readonly encKey: Buffer;
  private readonly macKey: Buffer;
  private readonly csrfKey: Buffer;
  /** Sessions ended by sign-out before their expiry: sid → expiry. */
  private readonly ended = new Map<string, number>();

  constructor(secret: string = randomBytes(32).toString('base64url')) {
    const derive = (info: string): Buffer => Buffer.from(hkdfSync('sha256', secret, 'express-elmah viewer', info, 32));
    this.encKey = derive('session encryption');
    this.macKey = derive('session signature');
    this.csrfKey = derive('csrf');
  }

  /** A new session for `key`, valid for `ttlMs`; returns the cookie value. */
  seal(key: string, ttlMs: number, now = Date.now()): { value: string; data: SessionData } {
    const data: SessionData = { key, sid: randomBytes(16).toString('base64url'), exp: now + ttlMs };
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.encKey, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(data), 'utf8'), cipher.final()]);
    const payload = Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
    return { value: `${payload}.${this.sign(payload)}`, data };
  }

  /** The session of a cookie value, or undefined when it is forged, tampered with, expired or signed out. */
  open(value: string | undefined, now = Date.now()): SessionData | undefined {
    if (!value) return undefined;
    const dot = value.indexOf('.');
    if (dot < 0) return undefined;
    const payload = value.slice(0, dot);
    if (!safeEqual(value.slice(dot + 1), this.sign(payload))) return undefined;
    try {
      const raw = Buffer.from(payload, 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', this.encKey, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      const text = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
      const data = JSON.parse(text) as SessionData;
      if (typeof data.key !== 'string' || typeof data.sid !== 'string' || typeof data.exp !== 'number') return undefined;
      if (data.exp <= now || this.ended.has(data.sid)) return undefined;
      return data;
    } catch {
      return undefined;
    }
  }

  /** Ends a session now (sign-out): its cookie stops working even if a copy survives. */
  end(data: SessionData, now = Date.now()): void {
    for (const [sid, exp] of this.ended) if (exp <= now) this.ended.delete(sid);
    this.ended.set(data.sid, data.exp);
  }

  /** The CSRF token for a binding (a session id, or the value of the CSRF cookie). */
  csrfToken(binding: string): string {
    return createHmac('sha256', this.csrfKey).update(`csrf\n${binding}`).digest('base64url');
  }

  /** True when `token` is the CSRF token of `binding`. */
  csrfMatches(binding: string | undefined, token: unknown): boolean {
    return typeof binding === 'string' && binding.length > 0 && typeof token === 'string' && safeEqual(token, this.csrfToken(binding));
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.macKey).update(payload).digest('base64url');
  }
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
