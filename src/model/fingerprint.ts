// Grouping: a hash of the error type and its in-app frames (function and file, no line numbers).
import { createHash } from 'node:crypto';
import { parseFrame } from './stack.js';

/** How many in-app frames take part in the fingerprint. */
const FRAMES = 5;

/**
 * The grouping hash: type + the first in-app frames of the stack (function name and the file's last two
 * path segments, so the same code deployed in another folder groups the same). Without in-app frames the
 * title takes their place, with numbers and hex ids folded so that "id 41 not found" and "id 42 not found"
 * group together.
 */
export function computeFingerprint(type: string, detail: string | undefined, title = ''): string {
  const frames: string[] = [];
  // Line by line, stopping at the last frame needed: stacks with long cause chains are common.
  for (let start = 0; detail && start < detail.length && frames.length < FRAMES; ) {
    let end = detail.indexOf('\n', start);
    if (end < 0) end = detail.length;
    const frame = parseFrame(detail.slice(start, end));
    if (frame?.inApp && frame.file) frames.push(`${frame.fn ?? '?'}@${shortFile(frame.file)}`);
    start = end + 1;
  }
  const basis = frames.length > 0 ? frames.join('\n') : foldTitle(title);
  return createHash('sha256').update(`${type}\n${basis}`).digest('base64url').slice(0, 22);
}

function shortFile(file: string): string {
  return file.replace(/^file:\/\//, '').split(/[\\/]/).slice(-2).join('/');
}

function foldTitle(title: string): string {
  return title
    .slice(0, 500)
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>')
    .replace(/\b0x[0-9a-f]+\b/gi, '<hex>')
    .replace(/\d+/g, '#');
}
