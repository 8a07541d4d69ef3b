// How a message is laid out in SQLite rows: the stack part of `detail` that repeats across occurrences is
// kept once (elmah_stacks), the per-occurrence head line(s) and the key/value lists stay with the message.
import type { KeyValue } from '../../model/message.js';
import { LIST_FIELDS } from '../../model/message.js';

/**
 * How the head of a detail is stored (column `shape`): no detail; a head that is exactly `${type}: ${title}`
 * and so is not stored; a head stored in the `head` column.
 */
export const Shape = { NoDetail: 0, StandardHead: 1, StoredHead: 2 } as const;
export type Shape = (typeof Shape)[keyof typeof Shape];

/** A detail split into its head (the message line(s)) and its frames (from the first `at …` line on). */
export interface SplitDetail {
  shape: Shape;
  /** The head when shape is StoredHead, else null. */
  head: string | null;
  /** The frames, or null when the detail has none. */
  frames: string | null;
}

/** Index of the first line after the first that starts with optional whitespace and `at `, or -1. Linear. */
function framesStart(detail: string): number {
  let nl = detail.indexOf('\n');
  while (nl >= 0) {
    let i = nl + 1;
    while (i < detail.length && (detail.charCodeAt(i) === 32 || detail.charCodeAt(i) === 9)) i++;
    if (detail.startsWith('at ', i)) return nl + 1;
    nl = detail.indexOf('\n', nl + 1);
  }
  return -1;
}

/**
 * Splits a detail so that what repeats (the frames, keyed with type and source) can be shared while what
 * varies per occurrence (the message line, e.g. `Order 123 not found`) stays with the message.
 */
export function splitDetail(detail: string | undefined, type: string, title: string): SplitDetail {
  if (detail === undefined) return { shape: Shape.NoDetail, head: null, frames: null };
  const at = framesStart(detail);
  const head = at < 0 ? detail : detail.slice(0, at - 1);
  const frames = at < 0 ? null : detail.slice(at);
  if (head === `${type}: ${title}`) return { shape: Shape.StandardHead, head: null, frames };
  return { shape: Shape.StoredHead, head, frames };
}

/** The head text of a split detail (what the per-message full-text index holds), or null without a detail. */
export function headText(split: SplitDetail, type: string, title: string): string | null {
  if (split.shape === Shape.NoDetail) return null;
  return split.shape === Shape.StandardHead ? `${type}: ${title}` : split.head;
}

/** Puts a detail back together; the inverse of {@link splitDetail}. */
export function joinDetail(shape: number, head: string | null, frames: string | null, type: string, title: string): string | undefined {
  if (shape === Shape.NoDetail) return undefined;
  const h = shape === Shape.StandardHead ? `${type}: ${title}` : (head ?? '');
  return frames === null ? h : `${h}\n${frames}`;
}

type Lists = Record<(typeof LIST_FIELDS)[number], KeyValue[]>;

/**
 * The five key/value lists as one compact JSON text: `[[k, v, k, v, …], …]`, trailing empty lists left
 * out; null when all are empty. Flat pairs cost about a third less than `{key, value}` objects.
 */
export function encodeLists(m: Lists): string | null {
  let last = -1;
  const out: string[][] = [];
  LIST_FIELDS.forEach((f, i) => {
    const list = m[f];
    const flat: string[] = new Array(list.length * 2);
    for (let j = 0; j < list.length; j++) {
      flat[2 * j] = list[j]!.key;
      flat[2 * j + 1] = list[j]!.value;
    }
    out.push(flat);
    if (list.length > 0) last = i;
  });
  return last < 0 ? null : JSON.stringify(out.slice(0, last + 1));
}

/** The inverse of {@link encodeLists}. */
export function decodeLists(text: string | null): Lists {
  const parsed = text ? (JSON.parse(text) as string[][]) : [];
  const out = {} as Lists;
  LIST_FIELDS.forEach((f, i) => {
    const flat = parsed[i] ?? [];
    const list: KeyValue[] = new Array(flat.length >> 1);
    for (let j = 0; j < list.length; j++) list[j] = { key: flat[2 * j]!, value: flat[2 * j + 1]! };
    out[f] = list;
  });
  return out;
}
