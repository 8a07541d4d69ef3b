// TokenBuckets: per-key token buckets with a bounded number of buckets.
import { TokenBuckets } from '../../src/collector/rate-limit';

describe('TokenBuckets', () => {
  it('lets a burst through, then answers with the seconds until the next token, and refills over time', () => {
    let now = 0;
    const buckets = new TokenBuckets({ perSecond: 2, burst: 3 }, () => now);
    expect([buckets.take('a'), buckets.take('a'), buckets.take('a')]).toEqual([0, 0, 0]);
    expect(buckets.take('a')).toBe(1);
    now += 500;
    expect(buckets.take('a')).toBe(0);
    expect(buckets.take('a')).toBe(1);
    now += 10_000;
    expect([buckets.take('a'), buckets.take('a'), buckets.take('a'), buckets.take('a')]).toEqual([0, 0, 0, 1]);
  });

  it('keeps buckets apart and rounds a slow refill up to whole seconds', () => {
    const buckets = new TokenBuckets({ perSecond: 0.25, burst: 1 }, () => 0);
    expect(buckets.take('a')).toBe(0);
    expect(buckets.take('a')).toBe(4);
    expect(buckets.take('b')).toBe(0);
  });

  it('holds at most maxKeys buckets, dropping the least recently used', () => {
    let now = 0;
    const buckets = new TokenBuckets({ perSecond: 0.001, burst: 1, maxKeys: 3 }, () => now);
    expect(buckets.take('keep')).toBe(0);
    const keepWaits: number[] = [];
    for (let i = 0; i < 1000; i++) {
      now += 1;
      buckets.take(`k${i}`);
      // Used often, 'keep' is never the least recently used: its bucket stays empty rather than coming back full.
      if (i % 2 === 0) keepWaits.push(buckets.take('keep'));
      expect(buckets.size).toBeLessThanOrEqual(3);
    }
    expect(keepWaits.every((w) => w > 0)).toBe(true);
    // A name not seen for a while was evicted: it starts again with a full bucket.
    expect(buckets.take('k0')).toBe(0);
  });
});
