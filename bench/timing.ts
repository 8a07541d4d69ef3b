// Timing helpers shared by the benchmarks.

/** Milliseconds since a `process.hrtime.bigint()` reading. */
export function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** The p-th percentile (0–100) of an ascending list; 0 for an empty one. */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}
