// Size limits: one error must not hurt the app or the store. Fields are cut with a visible marker so that
// every captured message passes normalizeMessage (field lengths, 256 KiB serialized, form 10 KiB).
import { CONTEXT_LIMITS, LIST_FIELDS, MAX_FORM_BYTES, MAX_MESSAGE_BYTES, type ErrorMessage, type KeyValue } from '../model/message.js';
import { MARK_ROOM, cutStringFields, truncate } from '../model/truncate.js';

/** Longest key of a list entry, in characters. */
export const MAX_ENTRY_KEY = 256;
/** Longest value of a list entry, in characters. */
export const MAX_ENTRY_VALUE = 8192;
/** Most entries per list. */
export const MAX_ENTRIES = 200;
/** Room kept free under MAX_MESSAGE_BYTES for what the shipper may add (dropped-count notice). */
const HEADROOM = 2048;
/**
 * How far past a field's limit the text is kept until redaction has run: a secret that straddles the final
 * cut is then still matched whole, and the matching itself runs on bounded text.
 */
export const CLIP_MARGIN = 1024;

/** `text` cut to its field limit plus {@link CLIP_MARGIN}: what may be matched before the final cut. */
export function clip(text: string, maxChars: number): string {
  return text.length <= maxChars + CLIP_MARGIN ? text : truncate(text, maxChars + CLIP_MARGIN);
}

const bytesOf = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));

/** Longest key and value of a list entry. */
interface EntryLimits {
  key: number;
  value: number;
}

const ENTRY_LIMITS: EntryLimits = { key: MAX_ENTRY_KEY, value: MAX_ENTRY_VALUE };

/**
 * An upper bound of the serialized size of a list, without serializing it: a UTF-16 unit takes at most
 * 6 bytes in JSON (`\uXXXX`), and an entry adds 20 bytes of punctuation. Also false when an entry is
 * longer than the entry limits.
 */
function surelyFits(list: readonly KeyValue[], maxBytes: number, limits: EntryLimits): boolean {
  if (list.length > MAX_ENTRIES) return false;
  let bound = 2;
  for (const kv of list) {
    if (kv.key.length > limits.key || kv.value.length > limits.value) return false;
    bound += (kv.key.length + kv.value.length) * 6 + 20;
  }
  return bound <= maxBytes;
}

/** The bytes of an entry that is cut (key and value, not serialized): a marker entry of an earlier cut counts what it says. */
function cutBytesOf(kv: KeyValue): number {
  const earlier = kv.key === '…' ? /^\[truncated (\d{1,15}) bytes\]$/.exec(kv.value) : null;
  return earlier ? Number(earlier[1]) : Buffer.byteLength(kv.key) + Buffer.byteLength(kv.value);
}

/** A list cut to `maxBytes` serialized (and MAX_ENTRIES entries), ending with a marker entry when cut. */
export function limitList(list: readonly KeyValue[], maxBytes: number, limits: EntryLimits = ENTRY_LIMITS): KeyValue[] {
  // The common case: small lists pass untouched, without serializing each entry.
  if (surelyFits(list, maxBytes, limits)) return list as KeyValue[];
  const out: KeyValue[] = [];
  let used = 2;
  let cutBytes = 0;
  let i = 0;
  for (; i < list.length; i++) {
    const kv = list[i]!;
    if (out.length >= MAX_ENTRIES) break;
    let entry: KeyValue = { key: truncate(kv.key, limits.key), value: truncate(kv.value, limits.value) };
    let size = bytesOf(entry) + 1;
    if (used + size > maxBytes - MARK_ROOM * 2) {
      // Keep part of the first entry that does not fit, so a single huge field still shows its start.
      const room = maxBytes - MARK_ROOM * 2 - used - bytesOf(entry.key) - 20;
      if (room > 64) {
        entry = { key: entry.key, value: truncate(entry.value, Math.floor(room / 2)) };
        size = bytesOf(entry) + 1;
        if (used + size <= maxBytes - MARK_ROOM * 2) {
          cutBytes += Buffer.byteLength(kv.value) - Buffer.byteLength(entry.value);
          out.push(entry);
          i++;
        }
      }
      break;
    }
    out.push(entry);
    used += size;
  }
  for (; i < list.length; i++) cutBytes += cutBytesOf(list[i]!);
  if (cutBytes > 0) out.push({ key: '…', value: `[truncated ${cutBytes} bytes]` });
  return out;
}

/** A list cut with {@link CLIP_MARGIN} to spare, like {@link clip}: what may be matched before the final cut. */
export function clipList(list: readonly KeyValue[], maxBytes: number): KeyValue[] {
  return limitList(list, maxBytes + 4 * CLIP_MARGIN, { key: MAX_ENTRY_KEY + CLIP_MARGIN, value: MAX_ENTRY_VALUE + CLIP_MARGIN });
}

/**
 * The message made to fit: string fields cut to their STRING_FIELDS lengths, lists to MAX_ENTRIES, `form`
 * to MAX_FORM_BYTES, and the whole to MAX_MESSAGE_BYTES serialized (less some headroom), cutting the
 * largest part first.
 */
export function fitMessage(message: ErrorMessage): ErrorMessage {
  const m = { ...message } as ErrorMessage & Record<string, unknown>;
  cutStringFields(m);
  fitContext(m);
  for (const field of LIST_FIELDS) {
    m[field] = limitList(m[field], field === 'form' ? MAX_FORM_BYTES : MAX_MESSAGE_BYTES);
  }
  const budget = MAX_MESSAGE_BYTES - HEADROOM;
  if (sizeBound(m) <= budget) return m;
  // Each part is serialized once, then again only when it is cut: a member's serialized size changes the
  // whole by the same amount, so the message is not serialized again every round.
  let size = bytesOf(m);
  const parts: { name: string; size: number }[] = [];
  for (const field of ['detail', 'title', 'source', 'url'] as const) {
    const v = m[field];
    if (typeof v === 'string') parts.push({ name: field, size: bytesOf(v) });
  }
  for (const field of LIST_FIELDS) parts.push({ name: field, size: bytesOf(m[field]) });
  for (let round = 0; round < 12 && size > budget; round++) {
    const over = size - budget;
    // The biggest part gives way first.
    const top = parts.reduce((a, b) => (b.size > a.size ? b : a));
    if ((LIST_FIELDS as readonly string[]).includes(top.name)) {
      const field = top.name as (typeof LIST_FIELDS)[number];
      m[field] = limitList(m[field], Math.max(256, top.size - over - MARK_ROOM));
    } else {
      const field = top.name as 'detail' | 'title' | 'source' | 'url';
      const v = m[field] as string;
      // Characters are at least one byte each (more once JSON-escaped), so this converges in few rounds.
      m[field] = truncate(v, Math.max(64, v.length - over - MARK_ROOM));
    }
    const cut = bytesOf(m[top.name]);
    size += cut - top.size;
    top.size = cut;
  }
  return m;
}

/**
 * The structured fields held to the limits a collector accepts (CONTEXT_LIMITS): what `beforeLog` added
 * included. They are small by construction (tens of KiB at most), so the size loop above cuts other parts.
 */
function fitContext(m: ErrorMessage): void {
  const L = CONTEXT_LIMITS;
  if (m.breadcrumbs !== undefined) {
    if (!Array.isArray(m.breadcrumbs) || m.breadcrumbs.length === 0) delete m.breadcrumbs;
    else
      m.breadcrumbs = m.breadcrumbs.slice(-L.breadcrumbs).map((b) => ({
        ...b,
        action: truncate(String(b.action ?? ''), L.breadcrumbAction),
        message: truncate(String(b.message ?? ''), L.breadcrumbMessage),
        ...(Array.isArray(b.data)
          ? {
              data: b.data.slice(0, L.breadcrumbData).map((kv) => ({
                key: truncate(String(kv.key), L.breadcrumbDataKey),
                value: truncate(String(kv.value), L.breadcrumbDataValue),
              })),
            }
          : {}),
      }));
  }
  if (m.sourceContext !== undefined) {
    if (!Array.isArray(m.sourceContext) || m.sourceContext.length === 0) delete m.sourceContext;
    else
      m.sourceContext = m.sourceContext.slice(0, L.sourceFrames).map((c) => ({
        ...c,
        file: truncate(String(c.file ?? ''), L.sourceFile),
        lines: (Array.isArray(c.lines) ? c.lines : []).slice(0, L.sourceLines).map((l) => truncate(String(l), L.sourceLineLength)),
      }));
  }
  if (m.jsonBody !== undefined && (typeof m.jsonBody !== 'string' || m.jsonBody.length > L.jsonBody)) {
    // Cut JSON is no JSON: a body too large for the field is kept as a string that says so.
    m.jsonBody = typeof m.jsonBody === 'string' ? JSON.stringify(truncate(m.jsonBody, L.jsonBody / 2)) : undefined;
    if (m.jsonBody === undefined) delete m.jsonBody;
  }
}

/** An upper bound of the serialized size of a message (6 bytes per UTF-16 unit, generous punctuation). */
function sizeBound(m: ErrorMessage & Record<string, unknown>): number {
  let bound = 512;
  for (const value of Object.values(m)) {
    if (typeof value === 'string') bound += value.length * 6 + 32;
    else if (Array.isArray(value)) {
      for (const item of value as unknown[]) {
        const kv = item as Partial<KeyValue>;
        if (typeof kv.key === 'string' && typeof kv.value === 'string') bound += (kv.key.length + kv.value.length) * 6 + 20;
        // Breadcrumbs and source context: objects of bounded size.
        else bound += JSON.stringify(item).length * 6 + 20;
      }
    } else bound += 32;
  }
  return bound;
}
