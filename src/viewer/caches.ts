// Short-lived caches of the viewer: histogram counts (chart and sparklines), each client's list of logs and its
// deployments, dropped after a delete.
import type { ClientHistogramOptions, HistogramResult, LogClient, LogSummary } from '../client/types.js';
import type { Deployment } from '../model/deployment.js';

/** How long chart and sparkline counts are reused. */
const HISTOGRAM_CACHE_MS = 30_000;
/** Most histograms kept. */
const MAX_HISTOGRAMS = 500;
/** How long the list of logs (for the filter) is reused. */
const LOGS_CACHE_MS = 5000;
/** How long a list of deployments (chart markers, the deployments page) is reused. */
const DEPLOYMENTS_CACHE_MS = 5000;
/** Most deployments the viewer reads: the newest, which is what the chart and the deployments page show. */
export const MAX_DEPLOYMENTS = 500;

/** Reuses what every page load asks the store again, per client (so per key), for a few seconds. */
export class ViewerCaches {
  private logCache = new WeakMap<LogClient, { at: number; logs: LogSummary[] }>();
  private deploymentCache = new WeakMap<LogClient, Map<string, { at: number; value: Promise<Deployment[]> }>>();
  private readonly histograms = new Map<string, { at: number; value: Promise<HistogramResult> }>();
  private readonly clientIds = new WeakMap<LogClient, number>();
  private nextClientId = 0;

  /** The logs a client may read; names change rarely, so they are reused for a few seconds. */
  async logsOf(client: LogClient): Promise<LogSummary[]> {
    const hit = this.logCache.get(client);
    if (hit && Date.now() - hit.at < LOGS_CACHE_MS) return hit.logs;
    // A list read across an invalidation goes into the cache it was asked for, which is then gone.
    const cache = this.logCache;
    const logs = await client.logs();
    cache.set(client, { at: Date.now(), logs });
    return logs;
  }

  /**
   * The newest {@link MAX_DEPLOYMENTS} deployments of a log and of every log (all the key may read when `log` is
   * undefined), newest first; a page load asks for them twice (page and chart), so they are reused for a few seconds.
   */
  deploymentsOf(client: LogClient, log: string | undefined): Promise<Deployment[]> {
    let byLog = this.deploymentCache.get(client);
    if (!byLog) this.deploymentCache.set(client, (byLog = new Map()));
    const key = log ?? '';
    const now = Date.now();
    const hit = byLog.get(key);
    if (hit && now - hit.at < DEPLOYMENTS_CACHE_MS) return hit.value;
    for (const [k, v] of byLog) if (now - v.at >= DEPLOYMENTS_CACHE_MS) byLog.delete(k);
    const value = client.deployments({ log, size: MAX_DEPLOYMENTS });
    const entries = byLog;
    entries.set(key, { at: now, value });
    value.catch(() => {
      if (entries.get(key)?.value === value) entries.delete(key);
    });
    return value;
  }

  /**
   * Histogram counts, reused for 30 s per client: on a big log they scan many rows, and every reload asks
   * for the chart and sparklines again. Windows are aligned to whole buckets, so the keys repeat.
   */
  histogram(client: LogClient, options: ClientHistogramOptions): Promise<HistogramResult> {
    let cid = this.clientIds.get(client);
    if (cid === undefined) this.clientIds.set(client, (cid = this.nextClientId++));
    const key = JSON.stringify([cid, options.log, options.query, options.from, options.to, options.buckets]);
    const now = Date.now();
    const hit = this.histograms.get(key);
    if (hit && now - hit.at < HISTOGRAM_CACHE_MS) return hit.value;
    if (this.histograms.size >= MAX_HISTOGRAMS) {
      for (const [k, v] of this.histograms)
        if (now - v.at >= HISTOGRAM_CACHE_MS || this.histograms.size >= MAX_HISTOGRAMS) this.histograms.delete(k);
    }
    const value = client.histogram(options);
    this.histograms.set(key, { at: now, value });
    value.catch(() => {
      if (this.histograms.get(key)?.value === value) this.histograms.delete(key);
    });
    return value;
  }

  /** Forgets everything: after a delete, counts and log lists read before it would still show what is gone, for every key. */
  invalidate(): void {
    this.histograms.clear();
    this.logCache = new WeakMap();
  }
}
