// What the detail page shows of a message's context: the source lines around its frames, the breadcrumb
// timeline, the JSON body with its types, and whether a non-Error was thrown. Text only: the templates escape it.
import { CONTEXT_LIMITS, TOO_DEEP, type Breadcrumb, type ErrorMessage } from '../model/message.js';
import { parseStack } from '../model/stack.js';

/** One line of a source window, numbered, and whether it is the frame's own line. */
export interface SourceLineView {
  number: number;
  text: string;
  current: boolean;
}

/** One frame's window. */
export interface SourceView {
  file: string;
  line: number;
  lines: SourceLineView[];
}

/** One breadcrumb with its time relative to the error. */
export interface BreadcrumbView extends Breadcrumb {
  /** `-1.2 s`, `-340 ms`: how long before the error it happened (empty when unknown). */
  before: string;
}

/** One line of a JSON body: indentation, the member name or nothing, the value's kind and its text. */
export interface JsonLineView {
  depth: number;
  key?: string | undefined;
  /** `string`, `number`, `boolean`, `null`, or `open`/`close` for brackets, `mark` for a cut the capture made. */
  kind: 'string' | 'number' | 'boolean' | 'null' | 'open' | 'close' | 'mark';
  text: string;
  /** A comma follows. */
  comma: boolean;
}

/** The context parts of the detail page. */
export interface ContextView {
  source: SourceView[];
  breadcrumbs: BreadcrumbView[];
  /** The JSON body as lines, or undefined without one. */
  json: JsonLineView[] | undefined;
  /** Lines of the body left out of the view (a body that is all small members can still be long). */
  jsonMore: number;
  /** A string, object or other non-Error was thrown: no stack was recorded. */
  thrownNonError: boolean;
}

/** Most JSON lines shown. */
const MAX_JSON_LINES = 2000;

/** Types that name a thrown value that is not an Error (see the capture's typeOf). */
const NON_ERROR_TYPES = new Set(['string', 'number', 'boolean', 'bigint', 'symbol', 'undefined', 'null', 'object', 'function']);

/** Matches the capture's marks in a typed body: `[… 3 more items]`, `[2 more members]`, `[Object]`, `[Array]`, a cut string. */
const MARK = /^\[(?:… \d+ more items|\d+ more members|Object|Array|Filtered: too deep)\]$|…\[truncated \d+ bytes\]$/;

function gap(ms: number): string {
  if (!Number.isFinite(ms)) return '';
  const sign = ms < 0 ? '+' : ms > 0 ? '-' : '';
  const abs = Math.abs(ms);
  return abs < 1000 ? `${sign}${Math.round(abs)} ms` : `${sign}${(abs / 1000).toFixed(abs < 10_000 ? 1 : 0)} s`;
}

/** The JSON text as indented lines, each value tagged with its type; undefined when it is not JSON. */
export function jsonLines(text: string | undefined): { lines: JsonLineView[]; more: number } | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const lines: JsonLineView[] = [];
  let more = 0;
  const add = (line: JsonLineView): void => {
    if (lines.length < MAX_JSON_LINES) lines.push(line);
    else more++;
  };
  const walk = (v: unknown, depth: number, key: string | undefined, comma: boolean): void => {
    // A body stored before its depth was limited: what lies deeper is shown as a mark, not walked.
    if (v !== null && typeof v === 'object' && depth >= CONTEXT_LIMITS.jsonBodyKeptDepth) {
      add({ depth, key, kind: 'mark', text: JSON.stringify(TOO_DEEP), comma });
      return;
    }
    if (v !== null && typeof v === 'object') {
      const isArray = Array.isArray(v);
      const entries: [string | undefined, unknown][] = isArray ? v.map((x) => [undefined, x]) : Object.entries(v);
      if (entries.length === 0) {
        add({ depth, key, kind: 'open', text: isArray ? '[]' : '{}', comma });
        return;
      }
      add({ depth, key, kind: 'open', text: isArray ? '[' : '{', comma: false });
      entries.forEach(([k, x], i) => walk(x, depth + 1, k, i < entries.length - 1));
      add({ depth, kind: 'close', text: isArray ? ']' : '}', comma });
      return;
    }
    if (typeof v === 'string') add({ depth, key, kind: MARK.test(v) ? 'mark' : 'string', text: JSON.stringify(v), comma });
    else if (typeof v === 'number') add({ depth, key, kind: 'number', text: String(v), comma });
    else if (typeof v === 'boolean') add({ depth, key, kind: 'boolean', text: String(v), comma });
    else add({ depth, key, kind: 'null', text: 'null', comma });
  };
  walk(value, 0, undefined, false);
  return { lines, more };
}

/** The context parts of a message for the detail page. */
export function contextView(m: ErrorMessage): ContextView {
  const source: SourceView[] = (m.sourceContext ?? []).map((c) => ({
    file: c.file,
    line: c.line,
    lines: c.lines.map((text, i) => ({ number: c.startLine + i, text, current: c.startLine + i === c.line })),
  }));
  const errorAt = Date.parse(m.dateTime);
  const breadcrumbs = (m.breadcrumbs ?? []).map((b) => ({ ...b, before: gap(errorAt - Date.parse(b.dateTime)) }));
  const json = jsonLines(m.jsonBody);
  const thrownNonError = NON_ERROR_TYPES.has(m.type) && parseStack(m.detail).length === 0;
  return { source, breadcrumbs, json: json?.lines, jsonMore: json?.more ?? 0, thrownNonError };
}
