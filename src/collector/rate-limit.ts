// Rate limiting for the collector: an in-memory token bucket per key (and per address for failed keys), with a bounded number of buckets.

/** How fast one API key (or one address, for requests without a key) may call the collector. */
export interface RateLimitOptions {
  /** Requests per second refilled into each bucket. Default 100. */
  perSecond?: number;
  /** Bucket size: how many requests may arrive at once after a quiet spell. Default 200. */
  burst?: number;
  /** Most buckets kept in memory; the least recently used go first. Default 10,000. */
  maxKeys?: number;
}

/** The defaults of {@link RateLimitOptions}. */
export const DEFAULT_RATE_LIMIT: Required<RateLimitOptions> = { perSecond: 100, burst: 200, maxKeys: 10_000 };

interface Bucket {
  tokens: number;
  at: number;
}

/** A token bucket per name. Memory stays bounded: at most `maxKeys` buckets, least recently used evicted. */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  private readonly burst: number;
  private readonly maxKeys: number;

  constructor(
    options: RateLimitOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    const o = { ...DEFAULT_RATE_LIMIT, ...options };
    this.perMs = o.perSecond / 1000;
    this.burst = o.burst;
    this.maxKeys = o.maxKeys;
  }

  /**
   * Takes one token from `name`'s bucket. Returns 0 when the request may go ahead, otherwise the
   * number of whole seconds (at least 1) until a token is available.
   */
  take(name: string): number {
    const t = this.now();
    let bucket = this.buckets.get(name);
    if (bucket) {
      // Re-inserting keeps the Map in least-recently-used order, so eviction takes the first entry.
      this.buckets.delete(name);
      bucket.tokens = Math.min(this.burst, bucket.tokens + (t - bucket.at) * this.perMs);
      bucket.at = t;
    } else {
      bucket = { tokens: this.burst, at: t };
      if (this.buckets.size >= this.maxKeys) {
        const oldest = this.buckets.keys().next();
        if (!oldest.done) this.buckets.delete(oldest.value);
      }
    }
    this.buckets.set(name, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / this.perMs / 1000));
  }

  /** Whole seconds until `name`'s bucket holds a token again, without taking one; 0 when it holds one now. */
  wait(name: string): number {
    const bucket = this.buckets.get(name);
    if (!bucket) return 0;
    const tokens = Math.min(this.burst, bucket.tokens + (this.now() - bucket.at) * this.perMs);
    return tokens >= 1 ? 0 : Math.max(1, Math.ceil((1 - tokens) / this.perMs / 1000));
  }

  /** How many buckets are held (for tests of the memory bound). */
  get size(): number {
    return this.buckets.size;
  }
}
