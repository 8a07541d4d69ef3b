// Cutting text with a visible marker: a field past its limit ends with `…[truncated N bytes]`, and a field cut
// twice (at capture, then again on arrival) carries one marker that counts both cuts.
import { STRING_FIELDS } from './message.js';

/** Room kept for the marker itself. */
export const MARK_ROOM = 40;

const MARK_PREFIX = '…[truncated ';
const MARK_SUFFIX = ' bytes]';

/** The visible marker that ends a cut field. */
export function truncationMark(bytes: number): string {
  return `${MARK_PREFIX}${bytes}${MARK_SUFFIX}`;
}

/** A text without its trailing marker, and the bytes that marker says were cut (0 when it has none). */
function unmarked(text: string): { body: string; cut: number } {
  if (!text.endsWith(MARK_SUFFIX)) return { body: text, cut: 0 };
  const at = text.indexOf(MARK_PREFIX, Math.max(0, text.length - MARK_ROOM));
  const digits = at < 0 ? '' : text.slice(at + MARK_PREFIX.length, -MARK_SUFFIX.length);
  return /^\d{1,15}$/.test(digits) ? { body: text.slice(0, at), cut: Number(digits) } : { body: text, cut: 0 };
}

/**
 * `text` cut to at most `maxChars` characters, ending with a marker that says how many bytes went. A text
 * that was cut before (it ends with a marker) gets one marker that counts both cuts.
 */
export function truncate(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const { body, cut } = unmarked(text);
  let keep = Math.min(body.length, Math.max(0, maxChars - MARK_ROOM));
  // Never split a surrogate pair.
  const code = body.charCodeAt(keep - 1);
  if (keep > 0 && code >= 0xd800 && code <= 0xdbff) keep--;
  return body.slice(0, keep) + truncationMark(Buffer.byteLength(body.slice(keep)) + cut);
}

/** Cuts, in place, every string field of a message that is longer than its STRING_FIELDS length. */
export function cutStringFields(message: Record<string, unknown>): void {
  for (const field of Object.keys(STRING_FIELDS) as (keyof typeof STRING_FIELDS)[]) {
    const v = message[field];
    if (typeof v === 'string' && v.length > STRING_FIELDS[field]) message[field] = truncate(v, STRING_FIELDS[field]);
  }
}
