// Stack trace parsing shared by the fingerprint, the capture `source` field and the viewer's frame view.

/** One parsed stack frame. */
export interface StackFrame {
  /** The raw line, trimmed. */
  raw: string;
  /** Function name, if any. */
  fn?: string | undefined;
  /** File path or URL, if any. */
  file?: string | undefined;
  line?: number | undefined;
  column?: number | undefined;
  /** False for `node:` internals, `node_modules` and anonymous/native frames. */
  inApp: boolean;
}

// Matched against one trimmed line: no pattern here can run past a line or backtrack over a whitespace
// run that another part could also take, so parsing is linear in the line.
const FRAME = /^at (?:(.+?) \()?((?:node:|file:\/\/)?[^()]*?):(\d+):(\d+)\)?$/;
const FRAME_NO_POS = /^at (?:(.+?) \()?([^()]*)\)?$/;

/** Longest frame line parsed; longer lines are parsed from their start (no real frame comes close). */
export const MAX_FRAME_LINE = 4096;

/** Parses one V8 `    at fn (file:line:col)` line; undefined for lines that are not frames. */
export function parseFrame(line: string): StackFrame | undefined {
  const start = (line.length > MAX_FRAME_LINE ? line.slice(0, MAX_FRAME_LINE) : line).trimStart();
  if (!start.startsWith('at ')) return undefined;
  const raw = start.trimEnd();
  // `at async f (…)` marks a frame resumed after an await: the same function as `at f (…)`.
  const text = raw.startsWith('at async ') ? `at ${raw.slice(9)}` : raw;
  const m = FRAME.exec(text);
  if (m) {
    const file = m[2]!;
    return { raw, fn: m[1], file, line: Number(m[3]), column: Number(m[4]), inApp: isInAppFile(file) };
  }
  const n = FRAME_NO_POS.exec(text);
  const what = n?.[2]?.trim();
  return { raw, fn: n?.[1] ?? what, file: undefined, inApp: false };
}

/**
 * Where the first indented frame line (`    at …`) at or after `from` starts, or -1. Looks at the start of
 * each line only, so it is linear in the text (a pattern like `\n\s+at ` is quadratic on blank lines).
 */
export function firstFrameLine(text: string, from = 0): number {
  for (let start = from; start < text.length;) {
    let i = start;
    while (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 9) i++;
    if (i > start && text.startsWith('at ', i)) return start;
    const end = text.indexOf('\n', i);
    if (end < 0) return -1;
    start = end + 1;
  }
  return -1;
}

/** Longest error name (`TypeError [ERR_X]`) before the `: ` of a stack's header. */
const MAX_HEADER_NAME = 512;

/**
 * Where the frames of a stack text can start: just after its `Name: message` header when the text starts
 * with one holding `message`, else 0. A message of several lines may hold lines shaped like frames
 * (`…\n    at evil (/app/src/config.js:4:1)`): they are part of the message, not of the stack.
 */
export function headerEnd(stack: string, message: string): number {
  if (!message.includes('\n')) return 0;
  const colon = stack.indexOf(': ');
  if (colon < 0 || colon > MAX_HEADER_NAME) return 0;
  const newline = stack.indexOf('\n');
  if (newline >= 0 && newline < colon) return 0;
  return stack.startsWith(message, colon + 2) ? colon + 2 + message.length : 0;
}

/** All frames of a stack text, in order, skipping the message lines. */
export function parseStack(stack: string | undefined): StackFrame[] {
  if (!stack) return [];
  const frames: StackFrame[] = [];
  for (const line of stack.split('\n')) {
    const frame = parseFrame(line);
    if (frame) frames.push(frame);
  }
  return frames;
}

/** True when a file belongs to the application: not a Node internal and not under node_modules. */
export function isInAppFile(file: string): boolean {
  if (file.startsWith('node:') || file.startsWith('internal/') || file === 'native') return false;
  return !/[\\/]node_modules[\\/]/.test(file);
}
