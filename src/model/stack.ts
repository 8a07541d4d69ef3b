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

const FRAME = /^\s*at (?:(.+?) \()?((?:node:|file:\/\/)?[^()]*?):(\d+):(\d+)\)?\s*$/;
const FRAME_NO_POS = /^\s*at (?:(.+?) \()?([^()]*)\)?\s*$/;

/** Parses one V8 `    at fn (file:line:col)` line; undefined for lines that are not frames. */
export function parseFrame(line: string): StackFrame | undefined {
  if (!/^\s*at /.test(line)) return undefined;
  const raw = line.trim();
  const m = FRAME.exec(line);
  if (m) {
    const file = m[2]!;
    return { raw, fn: m[1], file, line: Number(m[3]), column: Number(m[4]), inApp: isInAppFile(file) };
  }
  const n = FRAME_NO_POS.exec(line);
  const what = n?.[2]?.trim();
  return { raw, fn: n?.[1] ?? what, file: undefined, inApp: false };
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
