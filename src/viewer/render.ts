// Finds the package's views/ folder and renders pages through the one layout; formatting helpers for templates.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import ejs from 'ejs';

/**
 * The package root: the nearest folder above this module that holds views/layout.ejs. Walking up makes
 * it work from src/viewer (tests), dist/index.js (ESM) and dist/index.cjs (CommonJS) alike.
 */
export function findPackageRoot(start: string = __dirname): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'views', 'layout.ejs')) && existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir)
      throw new Error(`express-elmah: cannot find the views/ folder above ${start}; is the package installed completely?`);
    dir = parent;
  }
}

/** The package's version, from its package.json. */
export function packageVersion(root: string): string {
  try {
    return String((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: unknown }).version ?? '');
  } catch {
    return '';
  }
}

/**
 * Bidi controls (U+202A–U+202E, U+2066–U+2069, U+061C, U+200E/F), zero-width and other invisible format
 * characters: in message text they disguise what is shown (`fdp.exe` reads as `exe.pdf`).
 */
// Each character is matched alone on purpose, joiners included.
const INVISIBLE =
  // eslint-disable-next-line no-misleading-character-class
  /[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180E\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFEFF\uFFA0\uFFF0-\uFFFB]/g;

/** Text with every invisible or bidi control character replaced by a visible `<U+202E>` marker. */
export function showInvisible(text: string): string {
  return text.replace(INVISIBLE, (c) => `<U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}>`);
}

/** The escape of `<%= %>`: invisible characters made visible first, then HTML-escaped. */
export function escapeHtml(value: unknown): string {
  return value === undefined || value === null ? '' : ejs.escapeXML(showInvisible(String(value)));
}

/** Renders `views/pages/<page>.ejs` inside `views/layout.ejs`. Templates are compiled once and cached. */
export class Renderer {
  private readonly layout: string;

  constructor(readonly viewsDir: string) {
    this.layout = join(viewsDir, 'layout.ejs');
  }

  /** The HTML of a page; `locals` become template variables (escaped on output with `<%= %>`). */
  async page(page: string, locals: Record<string, unknown>): Promise<string> {
    return ejs.renderFile(this.layout, { ...locals, page, fmt }, { cache: true, async: false, escape: escapeHtml });
  }

  /** The markup of a standalone SVG image, `views/svg/<name>.ejs`. */
  async svg(name: string, locals: Record<string, unknown>): Promise<string> {
    return ejs.renderFile(join(this.viewsDir, 'svg', `${name}.ejs`), { ...locals, fmt }, { cache: true, async: false, escape: escapeHtml });
  }
}

/** Month names, so that formatting needs no Intl call per row (those cost more than the rest of a row). */
export const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

const UNITS: [number, string][] = [
  [365 * 86_400_000, 'year'],
  [30 * 86_400_000, 'month'],
  [7 * 86_400_000, 'week'],
  [86_400_000, 'day'],
  [3_600_000, 'hour'],
  [60_000, 'minute'],
  [1000, 'second'],
];

/** Formatting helpers available in every template as `fmt`. */
export const fmt = {
  /** `2026-01-01 10:00:00 UTC`. */
  utc(iso: string | undefined): string {
    if (!iso) return '';
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
  },
  /** Short UTC time for tables: `Jan 01 10:00:00` this year, else with the year. */
  short(iso: string | undefined, now: Date = new Date()): string {
    if (!iso) return '';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    const s = d.toISOString();
    const month = MONTHS[d.getUTCMonth()]!;
    const day = s.slice(8, 10);
    return d.getUTCFullYear() === now.getUTCFullYear()
      ? `${month} ${day} ${s.slice(11, 19)}`
      : `${month} ${day} ${d.getUTCFullYear()} ${s.slice(11, 16)}`;
  },
  /** `5 minutes ago`, `in 2 hours`, `just now`. */
  ago(iso: string | undefined, now: Date = new Date()): string {
    if (!iso) return '';
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return '';
    const diff = now.getTime() - t;
    const abs = Math.abs(diff);
    if (abs < 10_000) return 'just now';
    for (const [ms, name] of UNITS) {
      if (abs >= ms) {
        const n = Math.floor(abs / ms);
        const unit = `${n} ${name}${n === 1 ? '' : 's'}`;
        return diff >= 0 ? `${unit} ago` : `in ${unit}`;
      }
    }
    return 'just now';
  },
  /** `12,345`. */
  num(n: number): string {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  },
  /** CSS class for a status code: s5 (5xx), s4 (4xx) or s0. */
  statusClass(code: number | undefined): string {
    if (code === undefined) return 's0';
    return code >= 500 ? 's5' : code >= 400 ? 's4' : 's0';
  },
  /** Text cut to `n` characters with an ellipsis. */
  cut(text: string | undefined, n: number): string {
    if (!text) return '';
    return text.length > n ? `${text.slice(0, n - 1)}…` : text;
  },
  /** A value as a quoted term of the search language: `"a \"b\""`. */
  quote(value: string): string {
    return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  },
  /** The label of a group state or of the "every state" filter: `Open`, `Resolved`, `Ignored`, `All`. */
  stateLabel(state: string): string {
    return state.charAt(0).toUpperCase() + state.slice(1);
  },
  /** `1 error` / `2 errors`. */
  plural(n: number, word: string): string {
    return `${fmt.num(n)} ${word}${n === 1 ? '' : 's'}`;
  },
};
