// The code and field list of a coded refusal whose details list field errors (deployments, group states).
import { isElmahError } from '../../src/model/errors';

/** Runs `fn`, which must throw an ElmahError with `details: { field }[]`; returns its code and the fields named. */
export function refusal(fn: () => unknown): { code: string; fields: string[] } {
  try {
    fn();
  } catch (err) {
    if (isElmahError(err)) return { code: err.code, fields: (err.details as { field: string }[]).map((d) => d.field) };
    throw err;
  }
  throw new Error('expected a refusal');
}
