// Option checking shared by every factory: unknown names (with "did you mean"), wrong types, and the
// classic `app.use(errorLogger)` without the call. Schemas are typed so an unlisted option fails to compile.
import { ElmahConfigError } from './errors.js';

/** The kinds of value an option may take. */
export type OptionKind = 'string' | 'number' | 'boolean' | 'function' | 'object' | 'array' | 'regexp';

/** How one option is checked. */
export interface OptionRule {
  /** Accepted kinds of value (`undefined` is always accepted: the default applies). */
  kinds: readonly OptionKind[];
  /** For strings: the allowed values. */
  oneOf?: readonly string[];
  /** For numbers: inclusive bounds; numbers must also be finite. */
  min?: number;
  max?: number;
  /** Extra check: returns a problem sentence, or undefined when fine. */
  check?: (value: unknown) => string | undefined;
  /** What the option is, for the error message ("a store URL, a Store or a LogClient"). */
  describe?: string;
}

/** One rule per option of `T`: adding an option to `T` without a rule does not compile. */
export type OptionSchema<T> = { [K in keyof Required<T>]: OptionRule };

function kindOf(value: unknown): OptionKind | 'null' | 'undefined' | 'symbol' | 'bigint' {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (value instanceof RegExp) return 'regexp';
  const t = typeof value;
  return t as OptionKind | 'undefined' | 'symbol' | 'bigint';
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1]!.toLowerCase() === b[j - 1]!.toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

/** The closest known name, when close enough to be a typo. */
export function didYouMean(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = distance(name, k);
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/**
 * Checks `input` against `schema` for the factory `factory` (e.g. "errorLogger"). Throws
 * ElmahConfigError: ERR_ELMAH_OPTION_TYPE for a non-object or a wrong type, ERR_ELMAH_UNKNOWN_OPTION
 * for an unknown name (with a suggestion). Returns the options typed.
 */
export function validateOptions<T extends object>(factory: string, input: unknown, schema: OptionSchema<T>): T {
  if (input === undefined || input === null) return {} as T;
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new ElmahConfigError('ERR_ELMAH_OPTION_TYPE', `${factory}() takes an options object, got ${kindOf(input)}.`, {
      help: `Call ${factory}({ ... }) or ${factory}() with no arguments.`,
    });
  }
  const known = Object.keys(schema);
  for (const [name, value] of Object.entries(input as Record<string, unknown>)) {
    const rule = (schema as Record<string, OptionRule>)[name];
    if (!rule) {
      const guess = didYouMean(name, known);
      throw new ElmahConfigError(
        'ERR_ELMAH_UNKNOWN_OPTION',
        `${factory}(): unknown option "${name}"${guess ? ` (did you mean "${guess}"?)` : ''}.`,
        {
          help: `Known options: ${known.join(', ')}.`,
        },
      );
    }
    if (value === undefined) continue;
    const kind = kindOf(value);
    const what = rule.describe ?? rule.kinds.join(' or ');
    if (!(rule.kinds as readonly string[]).includes(kind)) {
      throw new ElmahConfigError('ERR_ELMAH_OPTION_TYPE', `${factory}(): option "${name}" must be ${what}, got ${kind}.`, {
        help: `Pass ${what} as "${name}", or leave it out for the default.`,
      });
    }
    if (kind === 'string' && rule.oneOf && !rule.oneOf.includes(value as string)) {
      throw new ElmahConfigError(
        'ERR_ELMAH_OPTION_TYPE',
        `${factory}(): option "${name}" must be one of ${rule.oneOf.map((v) => `"${v}"`).join(', ')}, got "${String(value)}".`,
      );
    }
    if (kind === 'number') {
      const n = value as number;
      if (!Number.isFinite(n) || (rule.min !== undefined && n < rule.min) || (rule.max !== undefined && n > rule.max)) {
        throw new ElmahConfigError(
          'ERR_ELMAH_OPTION_TYPE',
          `${factory}(): option "${name}" must be a number from ${rule.min ?? '-∞'} to ${rule.max ?? '∞'}, got ${n}.`,
        );
      }
    }
    const problem = rule.check?.(value);
    if (problem) throw new ElmahConfigError('ERR_ELMAH_OPTION_TYPE', `${factory}(): option "${name}" ${problem}.`);
  }
  return input as T;
}

/** True when a factory's arguments are Express's (req, res, next): the factory was passed to app.use without being called. */
export function looksLikeExpressCall(args: readonly unknown[]): boolean {
  const isReq = (v: unknown): boolean =>
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { method?: unknown }).method === 'string' &&
    typeof (v as { headers?: unknown }).headers === 'object';
  return args.length >= 3 && (isReq(args[0]) || isReq(args[1]));
}

/** The error for `app.use(factory)` without the call. */
export function notCalledError(factory: string, example: string): ElmahConfigError {
  return new ElmahConfigError('ERR_ELMAH_NOT_CALLED', `${factory} was passed to Express without being called.`, {
    help: `Write ${example}; ${factory} is a factory that returns the middleware.`,
  });
}
