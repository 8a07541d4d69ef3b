// How the logger tells about its own failures: never thrown, never logged into the log, and rate-limited
// so that a failing store cannot flood the console.
import { ElmahError, isElmahError } from '../model/errors.js';

/** Reports one failure; `loud` ones (shipping stopped, no key) bypass the rate limit. */
export type Report = (error: ElmahError, loud?: boolean) => void;

/** One console.error line per failure, ending with the link to the code's section of docs/errors.md. */
export function defaultOnError(error: ElmahError): void {
  const help = error.help ? ` ${error.help}` : '';
  console.error(`express-elmah: ${error.code}: ${error.message}${help} See ${error.docs}.`.replace(/\s*\n\s*/g, ' '));
}

/** Wraps a value that is not an ElmahError (a store's own failure) with a code, keeping it as the cause. */
export function asElmahError(err: unknown, code: ElmahError['code'], what: string): ElmahError {
  if (isElmahError(err)) return err;
  let text = 'unknown failure';
  try {
    text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  } catch {
    // Keep the generic text.
  }
  return new ElmahError(code, `${what}: ${text.slice(0, 500)}`, { cause: err });
}

/**
 * A reporter over `onError`: the first failure of each code is passed on at once; more of the same code
 * within `intervalMs` are counted and mentioned with the next one passed on. A throwing `onError` is ignored.
 */
export function createReporter(
  onError: (error: ElmahError) => void = defaultOnError,
  intervalMs = 10_000,
  now: () => number = Date.now,
): Report {
  const last = new Map<string, { at: number; suppressed: number }>();
  const deliver = (error: ElmahError): void => {
    try {
      onError(error);
    } catch {
      // The hook's own failure must not reach the app.
    }
  };
  return (error, loud = false) => {
    if (loud) return deliver(error);
    const t = now();
    const seen = last.get(error.code);
    if (seen && t - seen.at < intervalMs) {
      seen.suppressed++;
      return;
    }
    last.set(error.code, { at: t, suppressed: 0 });
    if (seen && seen.suppressed > 0) {
      deliver(
        new ElmahError(error.code, `${error.message} (${seen.suppressed} more like this were not shown)`, {
          help: error.help,
          cause: error.cause,
          status: error.status,
          transient: error.transient,
        }),
      );
    } else deliver(error);
  };
}
