// Webhook signatures: `X-Elmah-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. The time
// inside the signed text lets a receiver refuse a request replayed later.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header a signed webhook carries. */
export const SIGNATURE_HEADER = 'X-Elmah-Signature';

/** The signature header's value for `body`, sent at `seconds` (Unix time). */
export function signBody(body: string, secret: string, seconds: number = Math.floor(Date.now() / 1000)): string {
  const mac = createHmac('sha256', secret).update(`${seconds}.${body}`).digest('hex');
  return `t=${seconds},v1=${mac}`;
}

/** Options of {@link verifySignature}. */
export interface VerifySignatureOptions {
  /** How far the signed time may be from now, seconds. Default 300. */
  toleranceSeconds?: number;
  /** The time to check against, ms since the epoch. Default now. */
  now?: number;
}

/**
 * For receivers: true when `header` (the `X-Elmah-Signature` value) signs `body` (the raw request body, as
 * received) with `secret`, and its time is within `toleranceSeconds` of now. Compares in constant time.
 */
export function verifySignature(
  body: string | Buffer,
  header: string | undefined | null,
  secret: string | undefined,
  options: VerifySignatureOptions = {},
): boolean {
  // A secret that is not a non-empty string (an unset environment variable) verifies nothing.
  if (typeof header !== 'string' || header.length > 1000 || typeof secret !== 'string' || secret === '') return false;
  if (typeof body !== 'string' && !Buffer.isBuffer(body)) return false;
  let t: number | undefined;
  const macs: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name === 't' && /^\d{1,12}$/.test(value)) t = Number(value);
    else if (name === 'v1' && /^[0-9a-f]{64}$/i.test(value)) macs.push(value.toLowerCase());
  }
  if (t === undefined || macs.length === 0) return false;
  const tolerance = options.toleranceSeconds ?? 300;
  const now = (options.now ?? Date.now()) / 1000;
  if (Math.abs(now - t) > tolerance) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(`${t}.`).update(body).digest('hex'));
  return macs.some((mac) => timingSafeEqual(Buffer.from(mac), expected));
}
