// The collector face: the HTTP API router and its parts, re-exported.
export { collector, DEFAULT_MAX_BULK_BYTES, DEFAULT_MAX_BULK_MESSAGES } from './collector.js';
export type { CollectorOptions, CollectorRouter } from './collector.js';
export { TokenBuckets, DEFAULT_RATE_LIMIT } from './rate-limit.js';
export type { RateLimitOptions } from './rate-limit.js';
export { requestKey } from './key.js';
