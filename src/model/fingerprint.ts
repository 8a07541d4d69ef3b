// Grouping: a hash of the error type and its in-app frames, stable across deployments that shift lines.
import { createHash } from 'node:crypto';
import { parseFrame } from './stack.js';

/** How many in-app frames take part in the fingerprint. */
const FRAMES = 5;
/** Longest source line text that takes part (a longer one is cut; a minified line is not offered at all). */
const MAX_LINE_TEXT = 200;
/** Longest route text that takes part. */
const MAX_ROUTE = 200;

/** The source text of line `line` (1-based) of `file` as a stack frame names it, or undefined when unknown. */
export type SourceLineReader = (file: string, line: number) => string | undefined;

/** What, besides type and detail, can tell errors apart. */
export interface FingerprintContext {
  /**
   * `METHOD /route/pattern` of the failing request (see {@link routeKey}); used only when every in-app
   * frame is anonymous, where it tells inline handlers apart without line numbers.
   */
  route?: string | undefined;
  /** Reads the source line of an in-app frame; anonymous frames are known by their line's text. */
  sourceLine?: SourceLineReader | undefined;
}

/**
 * Function names that say nothing about the code that failed: anonymous functions, and the dispatch
 * functions of Express's router, which are in-app frames when the app is bundled.
 */
const ANONYMOUS = new Set(['?', '<anonymous>', 'Object.<anonymous>', 'new <anonymous>']);
const WRAPPERS = new Set([
  'Layer.handle',
  'Layer.handleRequest',
  'Layer.handle_request',
  'Layer.handleError',
  'Layer.handle_error',
  'Route.dispatch',
  'Function.handle',
  'Router.handle',
  'Function.process_params',
  'processParams',
  'trim_prefix',
  'trimPrefix',
  'next',
  'handle',
]);

function isAnonymous(fn: string | undefined): boolean {
  return fn === undefined || fn === '' || ANONYMOUS.has(fn) || fn.endsWith('.<anonymous>');
}

/**
 * The grouping hash: type + the first in-app frames of the stack. A named frame counts by its function
 * name and the file's last two path segments (so the same code deployed in another folder groups the
 * same); an anonymous frame by its file and, when `context.sourceLine` can read it, the normalized text of
 * its line, which survives edits elsewhere in the file. When every in-app frame is anonymous the request's
 * route is added. Line and column numbers never take part. Without in-app frames the title takes their
 * place, with numbers and hex ids folded so that "id 41 not found" and "id 42 not found" group together.
 */
export function computeFingerprint(type: string, detail: string | undefined, title = '', context: FingerprintContext = {}): string {
  const frames: string[] = [];
  let named = false;
  // Line by line, stopping at the last frame needed: stacks with long cause chains are common.
  for (let start = 0; detail && start < detail.length && frames.length < FRAMES;) {
    let end = detail.indexOf('\n', start);
    if (end < 0) end = detail.length;
    const frame = parseFrame(detail.slice(start, end));
    start = end + 1;
    if (!frame?.inApp || !frame.file) continue;
    const file = shortFile(frame.file);
    if (!isAnonymous(frame.fn)) {
      frames.push(`${frame.fn}@${file}`);
      if (!WRAPPERS.has(withoutAlias(frame.fn!))) named = true;
      continue;
    }
    const text = frame.line === undefined ? undefined : lineText(context.sourceLine, frame.file, frame.line);
    frames.push(text === undefined ? `?@${file}` : `?@${file}: ${text}`);
  }
  let basis = frames.length > 0 ? frames.join('\n') : foldTitle(title);
  if (frames.length > 0 && !named && context.route) basis += `\nroute ${context.route.slice(0, MAX_ROUTE)}`;
  return createHash('sha256').update(`${type}\n${basis}`).digest('base64url').slice(0, 22);
}

/** `Layer.handle [as handle_request]` → `Layer.handle`. */
function withoutAlias(fn: string): string {
  const at = fn.indexOf(' [as ');
  return at < 0 ? fn : fn.slice(0, at);
}

/** The normalized text of a source line (trimmed, whitespace runs as one space), or undefined. */
function lineText(read: SourceLineReader | undefined, file: string, line: number): string | undefined {
  if (!read) return undefined;
  let raw: string | undefined;
  try {
    raw = read(file, line);
  } catch {
    return undefined;
  }
  if (raw === undefined) return undefined;
  const text = collapseSpace(raw.slice(0, 4 * MAX_LINE_TEXT)).slice(0, MAX_LINE_TEXT);
  return text || undefined;
}

/** Trims and turns every run of whitespace into one space, in one pass. */
function collapseSpace(s: string): string {
  let out = '';
  let space = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 32 || c === 9 || c === 13 || c === 10 || c === 11 || c === 12) {
      space = out.length > 0;
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += s[i];
  }
  return out;
}

/**
 * The route part of a fingerprint: `METHOD pattern`. From Express's route pattern (`/users/:id`) when it
 * is known; otherwise from a URL, whose query is dropped and whose path segments holding a digit or longer
 * than 24 characters (ids, hashes, tokens) read as `:x`, so `/orders/41` and `/orders/42` give one key.
 */
export function routeKey(method: string | undefined, pattern: string | undefined, url?: string): string | undefined {
  const verb = (method ?? '').slice(0, 16).toUpperCase();
  if (pattern) return `${verb} ${pattern.slice(0, MAX_ROUTE)}`;
  if (!url) return undefined;
  let path = url.slice(0, 2048);
  // An absolute URL keeps only its path.
  const scheme = path.indexOf('://');
  if (scheme >= 0 && scheme < 16) {
    const slash = path.indexOf('/', scheme + 3);
    path = slash < 0 ? '/' : path.slice(slash);
  }
  for (const stop of ['?', '#']) {
    const at = path.indexOf(stop);
    if (at >= 0) path = path.slice(0, at);
  }
  const segments = path
    .split('/')
    .slice(0, 12)
    .map((s) => (s.length > 24 || /\d/.test(s) ? ':x' : s));
  return `${verb} ${segments.join('/')}`;
}

function shortFile(file: string): string {
  return file
    .replace(/^file:\/\//, '')
    .split(/[\\/]/)
    .slice(-2)
    .join('/');
}

function foldTitle(title: string): string {
  return title
    .slice(0, 500)
    .replace(/\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi, '<uuid>')
    .replace(/\b0x[0-9a-f]+\b/gi, '<hex>')
    .replace(/\d+/g, '#');
}
