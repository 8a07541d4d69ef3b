// Source lines of the app's own files, read for the fingerprint of anonymous stack frames: only code files
// under the app root (never node_modules), each read once, held in a cache bounded by file count and bytes.
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SourceLineReader } from '../model/fingerprint.js';
import { truncate } from '../model/truncate.js';

/** Limits of a {@link createSourceReader} cache. */
export interface SourceReaderLimits {
  /** Files held at once (readable or not). Default 200. */
  maxFiles?: number;
  /** Characters of source held at once. Default 8 MiB. */
  maxBytes?: number;
  /** Larger files are not read (bundles, generated code). Default 1 MiB. */
  maxFileBytes?: number;
  /** Longer lines are not offered (a minified line says nothing stable). Default 1000. */
  maxLineLength?: number;
}

/** Lines around one line of a file: the number of the first, and the lines. */
export interface SourceWindow {
  startLine: number;
  lines: string[];
}

/** A source reader with its cache visible, for tests and diagnostics. */
export interface SourceReader extends SourceLineReader {
  /** Files and characters held now. */
  held(): { files: number; bytes: number };
  /** True when `file` has been looked at (read, or found unreadable): {@link SourceReader.around} answers without reading. */
  known(file: string): boolean;
  /** Reads the files not yet looked at, without blocking the event loop. Never rejects. */
  load(files: readonly string[]): Promise<void>;
  /** Up to `radius` lines either side of `line`, from memory only (undefined when the file is not held or too short). */
  around(file: string, line: number, radius: number): SourceWindow | undefined;
}

/** Longest line offered in a source window; longer ones are cut with a marker. */
const MAX_WINDOW_LINE = 400;

/**
 * The app root: the nearest folder holding a package.json, from `from` upward. Undefined when there is
 * none, or when it is the file-system root (reading "every file" is not what an app means).
 */
export function findAppRoot(from = process.cwd()): string | undefined {
  try {
    let dir = resolve(from);
    for (let i = 0; i < 50; i++) {
      if (existsSync(join(dir, 'package.json'))) return dirname(dir) === dir ? undefined : dir;
      const up = dirname(dir);
      if (up === dir) return undefined;
      dir = up;
    }
  } catch {
    // No usable working directory: no source is read.
  }
  return undefined;
}

/** Files whose lines can be code a stack frame points at; no data, configuration or .env file is ever read. */
const CODE_FILE = /\.(?:[cm]?[jt]s|[jt]sx)$/;

/** True when `path` is `root` itself or below it, and not inside a node_modules folder. */
function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return false;
  return !rel.split(sep).includes('node_modules');
}

/**
 * A reader of source lines below `root`. A file is read synchronously the first time one of its lines is
 * asked for (the cost of one cold read per file), then answered from memory; a file that cannot be read,
 * is too large, or lies outside the root is remembered as unreadable, so a storm costs a map lookup per
 * frame. Without a root nothing is read. Never throws.
 */
export function createSourceReader(root: string | undefined, limits: SourceReaderLimits = {}): SourceReader {
  const maxFiles = limits.maxFiles ?? 200;
  const maxBytes = limits.maxBytes ?? 8 * 1024 * 1024;
  const maxFileBytes = limits.maxFileBytes ?? 1024 * 1024;
  const maxLineLength = limits.maxLineLength ?? 1000;
  /** Lines of each file asked for, in least-recently-used order; null when it cannot be read. */
  const cache = new Map<string, { lines: string[]; bytes: number } | null>();
  let bytes = 0;
  let realRoot: string | undefined | null = null;

  const rootPath = (): string | undefined => {
    if (realRoot === null) {
      try {
        realRoot = root === undefined ? undefined : realpathSync(root);
      } catch {
        realRoot = undefined;
      }
    }
    return realRoot;
  };

  /** The path to read for `file`, or null when it may not be read (outside the root, not code). */
  const allowed = (file: string): string | null => {
    const base = rootPath();
    if (base === undefined) return null;
    const path = file.startsWith('file://') ? fileURLToPath(file) : file;
    // Rejected before any system call when the path itself is outside; then checked again once links are followed.
    if (!isAbsolute(path) || !CODE_FILE.test(path)) return null;
    const literal = resolve(path);
    if (!isInside(resolve(root!), literal) && !isInside(base, literal)) return null;
    return path;
  };
  const accepts = (real: string): boolean => {
    const base = rootPath();
    return base !== undefined && isInside(base, real) && CODE_FILE.test(real);
  };

  const load = (file: string): { lines: string[]; bytes: number } | null => {
    try {
      const path = allowed(file);
      if (path === null) return null;
      const real = realpathSync(path);
      if (!accepts(real)) return null;
      const stat = statSync(real);
      if (!stat.isFile() || stat.size > maxFileBytes) return null;
      const text = readFileSync(real, 'utf8');
      return { lines: text.split('\n'), bytes: text.length };
    } catch {
      return null;
    }
  };

  const loadAsync = async (file: string): Promise<{ lines: string[]; bytes: number } | null> => {
    try {
      const path = allowed(file);
      if (path === null) return null;
      const real = await realpath(path);
      if (!accepts(real)) return null;
      const info = await stat(real);
      if (!info.isFile() || info.size > maxFileBytes) return null;
      const text = await readFile(real, 'utf8');
      return { lines: text.split('\n'), bytes: text.length };
    } catch {
      return null;
    }
  };

  const hold = (file: string, loaded: { lines: string[]; bytes: number } | null): { lines: string[]; bytes: number } | null => {
    const entry = loaded && loaded.bytes > maxBytes ? null : loaded;
    cache.set(file, entry);
    bytes += entry?.bytes ?? 0;
    // Oldest first out, until both bounds hold.
    for (const [key, old] of cache) {
      if (cache.size <= maxFiles && bytes <= maxBytes) break;
      cache.delete(key);
      bytes -= old?.bytes ?? 0;
    }
    return entry;
  };

  const reader = ((file: string, line: number): string | undefined => {
    if (!Number.isInteger(line) || line < 1) return undefined;
    let entry = cache.get(file);
    if (entry === undefined) {
      entry = hold(file, load(file));
    } else {
      // Most recently used last.
      cache.delete(file);
      cache.set(file, entry);
    }
    const text = entry?.lines[line - 1];
    return text === undefined || text.length > maxLineLength ? undefined : text;
  }) as SourceReader;
  reader.held = () => ({ files: cache.size, bytes });
  reader.known = (file) => cache.has(file);
  const loading = new Map<string, Promise<void>>();
  reader.load = async (files) => {
    const waits = [...new Set(files)]
      .filter((file) => !cache.has(file))
      .map((file) => {
        let wait = loading.get(file);
        if (!wait) {
          wait = loadAsync(file).then((loaded) => {
            loading.delete(file);
            if (!cache.has(file)) hold(file, loaded);
          });
          loading.set(file, wait);
        }
        return wait;
      });
    await Promise.all(waits);
  };
  reader.around = (file, line, radius) => {
    const entry = cache.get(file);
    if (!entry || !Number.isInteger(line) || line < 1 || line > entry.lines.length) return undefined;
    const first = Math.max(1, line - radius);
    const last = Math.min(entry.lines.length, line + radius);
    const lines = entry.lines.slice(first - 1, last).map((text) => {
      const bare = text.endsWith('\r') ? text.slice(0, -1) : text;
      return bare.length > MAX_WINDOW_LINE ? truncate(bare, MAX_WINDOW_LINE) : bare;
    });
    return { startLine: first, lines };
  };
  return reader;
}
