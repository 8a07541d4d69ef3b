// A cap on the bytes of request bodies the collector holds at once, across all requests, so that many
// large bodies arriving together cannot take the process's memory.
import { ElmahError } from '../model/errors.js';

/** Seconds a client is asked to wait when the cap is reached. */
const RETRY_AFTER_SECONDS = 1;

/** The answer when the cap is reached: 503, transient, with Retry-After. */
export function overloaded(limit: number): ElmahError {
  return new ElmahError('ERR_ELMAH_OVERLOADED', `The collector is already reading ${limit} bytes of request bodies; retry shortly.`, {
    status: 503,
    transient: true,
    retryAfter: RETRY_AFTER_SECONDS,
    help: "Retry after the Retry-After delay (the logger does); raise the collector's maxBytesInFlight if this is normal load.",
  });
}

/** Bytes of bodies held now, against a limit shared by every request. */
export class BodyBudget {
  private used = 0;

  constructor(readonly limit: number) {}

  /** A claim for one request's body; give it back with {@link BodyClaim.release} when the request is done. */
  claim(): BodyClaim {
    return new BodyClaim(this);
  }

  /** Bytes held now (for tests). */
  get inUse(): number {
    return this.used;
  }

  /** @internal */
  add(n: number): boolean {
    if (this.used + n > this.limit) return false;
    this.used += n;
    return true;
  }

  /** @internal */
  remove(n: number): void {
    this.used -= n;
  }
}

/** The bytes one request holds. */
export class BodyClaim {
  private taken = 0;

  constructor(private readonly budget: BodyBudget) {}

  /** Takes `n` more bytes; false (and nothing taken) when they do not fit. */
  take(n: number): boolean {
    if (!this.budget.add(n)) return false;
    this.taken += n;
    return true;
  }

  /** Gives every byte back; safe to call more than once. */
  release(): void {
    this.budget.remove(this.taken);
    this.taken = 0;
  }

  /** The cap, for the error message. */
  get limit(): number {
    return this.budget.limit;
  }
}
