// Source lines of the app's own files, read for the fingerprint of anonymous stack frames: only code files
// under the app root (never node_modules), each read once, held in a cache bounded by file count and bytes.
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SourceLineReader } from '../model/fingerprint.js';

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

/** A source reader with its cache visible, for tests and diagnostics. */
export interface SourceReader extends SourceLineReader {
  /** Files and characters held now. */
  held(): { files: number; bytes: number };
}

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

  const load = (file: string): { lines: string[]; bytes: number } | null => {
    const base = rootPath();
    if (base === undefined) return null;
    try {
      const path = file.startsWith('file://') ? fileURLToPath(file) : file;
      // Rejected before any system call when the path itself is outside; then checked again once links are followed.
      if (!isAbsolute(path) || !CODE_FILE.test(path)) return null;
      const literal = resolve(path);
      if (!isInside(resolve(root!), literal) && !isInside(base, literal)) return null;
      const real = realpathSync(path);
      if (!isInside(base, real) || !CODE_FILE.test(real)) return null;
      const stat = statSync(real);
      if (!stat.isFile() || stat.size > maxFileBytes) return null;
      const text = readFileSync(real, 'utf8');
      return { lines: text.split('\n'), bytes: text.length };
    } catch {
      return null;
    }
  };

  const reader = ((file: string, line: number): string | undefined => {
    if (!Number.isInteger(line) || line < 1) return undefined;
    let entry = cache.get(file);
    if (entry === undefined) {
      entry = load(file);
      if (entry && entry.bytes > maxBytes) entry = null;
      cache.set(file, entry);
      bytes += entry?.bytes ?? 0;
      // Oldest first out, until both bounds hold.
      for (const [key, old] of cache) {
        if (cache.size <= maxFiles && bytes <= maxBytes) break;
        cache.delete(key);
        bytes -= old?.bytes ?? 0;
      }
    } else {
      // Most recently used last.
      cache.delete(file);
      cache.set(file, entry);
    }
    const text = entry?.lines[line - 1];
    return text === undefined || text.length > maxLineLength ? undefined : text;
  }) as SourceReader;
  reader.held = () => ({ files: cache.size, bytes });
  return reader;
}
