// The Notifier: hears what a writer stored, turns it into alerts by the rules, and sends them off the
// append. `observe()` is synchronous and bounded (a projection and a few map lookups, no I/O); sending runs
// later, per channel, one notification in flight, retried with exponential backoff and jitter. A per-group
// throttle and a digest window keep an error storm from becoming a mail storm; every queue is bounded.
import type { ClientAppendResult } from '../client/types.js';
import { ElmahError } from '../model/errors.js';
import { newMessageId } from '../model/id.js';
import type { ErrorMessage } from '../model/message.js';
import { matchesQuery } from '../model/query-eval.js';
import type { OccurrenceTally } from '../model/tally.js';
import { channelsOf, type Channel } from './channels.js';
import { MAX_LISTED, subjectOf } from './format.js';
import type { NotifyConfig, ResolvedRule } from './options.js';
import type { Alert, AlertKind, Notification, NotifierStats } from './types.js';

/** What a Notifier needs besides its config. */
export interface NotifierOptions {
  /** Where failures go (never thrown). */
  report: (error: ElmahError) => void;
  /** The channels; default: those the config names. */
  channels?: Channel[];
  /** Clock and random source, for tests. */
  now?: () => number;
  random?: () => number;
}

/** Most notifications waiting per channel; more are dropped and counted. */
const MAX_OUTBOX = 100;
/** Most groups whose throttle or spike window is remembered; the oldest are forgotten first. */
const MAX_TRACKED = 10_000;
/** Longest text kept per field of an alert. */
const FIELD_CHARS = 1000;

const clip = (s: unknown): string | undefined => (typeof s === 'string' && s !== '' ? s.slice(0, FIELD_CHARS) : undefined);

/** The parts of a message the rules and the alert read. */
type Observed = Pick<ErrorMessage, 'log' | 'fingerprint' | 'title' | 'type' | 'dateTime'> & Partial<ErrorMessage>;

/** A spike window: occurrence counts per second, oldest first, and their sum. */
interface Window {
  entries: Array<[second: number, count: number]>;
  sum: number;
}

interface Outbox {
  channel: Channel;
  queue: Notification[];
  busy: boolean;
}

/** Turns stored messages into alerts and sends them. One per logger or collector. */
export class Notifier {
  private readonly channels: Outbox[];
  private pending: Alert[] = [];
  private digestTimer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private lastSentAt = -Infinity;
  private readonly throttle = new Map<string, number>();
  private readonly windows = new Map<string, Window>();
  private counts = { alerts: 0, throttled: 0, omitted: 0, dropped: 0, sent: 0, failed: 0 };
  /** Alerts beyond maxQueue since the last notification: not held, counted into its `omitted`. */
  private overflow = 0;
  private droppedReported = 0;
  private waiters: Array<() => void> = [];
  private sleepers = new Set<() => void>();
  private closed = false;
  private abandoned = false;
  /** Aborted when close() gives up: stops the sends in flight, so that nothing holds the process open. */
  private readonly abort = new AbortController();
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly needsEvery: boolean;

  constructor(
    private readonly config: NotifyConfig,
    private readonly options: NotifierOptions,
  ) {
    this.channels = (options.channels ?? channelsOf(config)).map((channel) => ({ channel, queue: [], busy: false }));
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.needsEvery = config.rules.some((r) => r.on === 'spike' || r.on === 'every');
  }

  /** Counters; see {@link NotifierStats}. */
  stats(): NotifierStats {
    const queued = this.pending.length + this.overflow + this.channels.reduce((n, o) => n + o.queue.length, 0);
    return { ...this.counts, queued };
  }

  /**
   * Hears one append: each stored message with its result. Synchronous, never throws. A result that says
   * `group: 'new'` or `'regressed'` is the store's word that this writer, and no other, made or reopened the group.
   */
  observe(messages: readonly unknown[], results: readonly ClientAppendResult[]): void {
    this.hear(messages, results, (item, id) => {
      const m = item as Observed;
      return typeof m === 'object' && m !== null && typeof m.fingerprint === 'string' ? { occurrence: { ...m, id }, count: 1 } : undefined;
    });
  }

  /** Hears one tally append (occurrences counted but not kept in full): a tally can make a group too. */
  observeTallies(tallies: readonly unknown[], results: readonly ClientAppendResult[]): void {
    this.hear(tallies, results, (item) => {
      const t = item as OccurrenceTally;
      if (typeof t !== 'object' || t === null || typeof t.fingerprint !== 'string') return undefined;
      const occurrence: Observed = {
        log: t.log,
        fingerprint: t.fingerprint,
        title: t.title,
        type: t.type,
        dateTime: t.lastSeen,
        ...(t.statusCode === undefined ? {} : { statusCode: t.statusCode }),
      };
      return { occurrence, count: Math.max(1, Math.floor(t.count) || 1) };
    });
  }

  /** Each created item whose result names a group event (or every one, for an `every` rule), read by `read`. */
  private hear(
    items: readonly unknown[],
    results: readonly ClientAppendResult[],
    read: (item: unknown, id: string) => { occurrence: Observed; count: number } | undefined,
  ): void {
    if (this.closed) return;
    try {
      for (let i = 0; i < items.length; i++) {
        const r = results[i];
        if (!r || r.status !== 'created') continue;
        const group = 'group' in r ? r.group : undefined;
        if (group === undefined && !this.needsEvery) continue;
        const heard = read(items[i], r.id);
        if (heard) this.consider(heard.occurrence, group, heard.count);
      }
    } catch (err) {
      this.report(asFailure(err));
    }
  }

  /** Queues an alert (after the throttle); O(1). False when it was throttled or dropped. */
  offer(alert: Alert): boolean {
    if (this.closed) return false;
    this.counts.alerts++;
    if (alert.kind !== 'new' && this.config.throttleMs > 0) {
      const key = `${alert.kind}\n${alert.log}\n${alert.fingerprint}`;
      const t = this.now();
      const until = this.throttle.get(key);
      if (until !== undefined && until > t) {
        this.counts.throttled++;
        return false;
      }
      this.throttle.delete(key);
      this.throttle.set(key, t + this.config.throttleMs);
      if (this.throttle.size > MAX_TRACKED) this.throttle.delete(this.throttle.keys().next().value!);
    }
    if (this.pending.length >= this.config.maxQueue) {
      // A storm: the next notification says "and N more" rather than holding every alert.
      this.overflow++;
      this.counts.omitted++;
      return false;
    }
    this.pending.push(alert);
    this.schedule();
    return true;
  }

  /** Sends everything waiting (the digest at once); resolves true when all was sent or failed within `ms`. Never rejects. */
  async flush(ms = 5000): Promise<boolean> {
    this.dispatch();
    return this.drained(ms);
  }

  /**
   * Flushes for up to `ms`, then drops what is left (reported), aborts the sends in flight, stops and releases
   * the channels. The process stays alive for the length of the call, so that a script ending with
   * `await close()` learns the outcome.
   */
  async close(ms = 5000): Promise<boolean> {
    if (this.closed) return this.abandoned ? false : this.drained(0);
    this.closed = true;
    // Every other handle of the notifier is unref'd (a retry's wait, the deadline below): without this one, a
    // process with nothing else to do would exit with close() still pending, the alerts neither sent nor dropped.
    const keepAlive = setTimeout(() => undefined, Math.min(ms + 1000, 2 ** 31 - 1));
    try {
      clearTimeout(this.digestTimer);
      if (this.immediate) clearImmediate(this.immediate);
      this.dispatch();
      const ok = await this.drained(ms);
      if (!ok) {
        this.abandoned = true;
        // A notification waits in every channel's queue; its alerts are counted once.
        const waiting = new Set(this.channels.flatMap((o) => o.queue));
        let left = 0;
        for (const q of waiting) left += q.alerts.length + q.omitted;
        for (const o of this.channels) o.queue = [];
        for (const wake of this.sleepers) wake();
        this.abort.abort();
        if (left > 0) this.drop(left, 'closed before they could be sent');
      }
      await Promise.all(this.channels.map((o) => o.channel.close?.().catch(() => undefined)));
      return ok;
    } finally {
      clearTimeout(keepAlive);
    }
  }

  /** Sends one notification through every channel now, bypassing rules, throttle and digest; for `notify test`. */
  async sendNow(n: Notification): Promise<Array<{ channel: string; error?: ElmahError }>> {
    return Promise.all(
      this.channels.map(async (o) => {
        const error = await this.deliver(o, n);
        return error ? { channel: o.channel.name, error } : { channel: o.channel.name };
      }),
    );
  }

  /** The alert, if any, that an occurrence raises; also feeds the spike windows. */
  private consider(m: Observed, group: 'new' | 'regressed' | undefined, occurrences: number): void {
    let kind: AlertKind | undefined;
    let spike: ResolvedRule | undefined;
    let spikeCount = 0;
    for (const [index, rule] of this.config.rules.entries()) {
      if (rule.on === 'new' || rule.on === 'regressed') {
        if (group !== rule.on || kind === 'new' || kind === 'regressed' || !matches(rule, m)) continue;
        kind = group;
      } else if (rule.on === 'spike') {
        if (!matches(rule, m)) continue;
        const n = this.count(`${index}\n${m.log}\n${m.fingerprint}`, rule, occurrences);
        if (n >= rule.count && !spike) [spike, spikeCount] = [rule, n];
      } else if (!kind && matches(rule, m)) kind = 'occurrence';
    }
    if (spike && kind !== 'new' && kind !== 'regressed') {
      this.windows.delete(`${this.config.rules.indexOf(spike)}\n${m.log}\n${m.fingerprint}`);
      this.offer(this.alertOf(m, 'spike', { count: spikeCount, minutes: spike.minutes }));
    } else if (kind) this.offer(this.alertOf(m, kind));
  }

  /** Adds occurrences to a spike window and returns how many it holds within the rule's minutes. */
  private count(key: string, rule: ResolvedRule, occurrences: number): number {
    const second = Math.floor(this.now() / 1000);
    let w = this.windows.get(key);
    if (!w) {
      w = { entries: [], sum: 0 };
      this.windows.set(key, w);
      if (this.windows.size > MAX_TRACKED) this.windows.delete(this.windows.keys().next().value!);
    }
    const last = w.entries[w.entries.length - 1];
    if (last && last[0] === second) last[1] += occurrences;
    else w.entries.push([second, occurrences]);
    w.sum += occurrences;
    const from = second - rule.minutes * 60;
    let drop = 0;
    while (drop < w.entries.length && w.entries[drop]![0] <= from) w.sum -= w.entries[drop++]![1];
    if (drop > 0) w.entries.splice(0, drop);
    return w.sum;
  }

  private alertOf(m: Observed, kind: AlertKind, extra: { count?: number; minutes?: number } = {}): Alert {
    const alert: Alert = {
      kind,
      log: m.log,
      fingerprint: m.fingerprint,
      id: m.id,
      title: clip(m.title) ?? '',
      type: clip(m.type) ?? '',
      statusCode: typeof m.statusCode === 'number' ? m.statusCode : undefined,
      severity: clip(m.severity),
      method: clip(m.method),
      url: clip(m.url),
      application: clip(m.application),
      version: clip(m.version),
      hostname: clip(m.hostname),
      dateTime: clip(m.dateTime) ?? new Date(this.now()).toISOString(),
      ...extra,
    };
    alert.link = linkOf(this.config.baseUrl, alert);
    for (const k of Object.keys(alert) as Array<keyof Alert>) if (alert[k] === undefined) delete alert[k];
    return alert;
  }

  /** Sends at once when no notification went out within the digest window; else when the window ends. */
  private schedule(): void {
    if (this.closed || this.immediate || this.digestTimer) return;
    const wait = this.lastSentAt + this.config.digestMs - this.now();
    if (wait <= 0) {
      // Off the append: the rest of this batch joins the same notification.
      // Kept ref'd (it runs once, at once): an unref'd immediate does not stop the loop blocking in poll, so an
      // idle app would send the alert only when some unrelated I/O or timer woke it.
      this.immediate = setImmediate(() => {
        this.immediate = undefined;
        this.dispatch();
      });
    } else {
      this.digestTimer = setTimeout(() => {
        this.digestTimer = undefined;
        this.dispatch();
      }, wait);
      this.digestTimer.unref();
    }
  }

  /** Makes one notification of everything waiting and hands it to every channel. */
  private dispatch(): void {
    clearTimeout(this.digestTimer);
    this.digestTimer = undefined;
    if (this.immediate) clearImmediate(this.immediate);
    this.immediate = undefined;
    if (this.pending.length === 0) return this.wake();
    const all = this.pending;
    const total = all.length + this.overflow;
    this.pending = [];
    this.overflow = 0;
    this.lastSentAt = this.now();
    const alerts = all.slice(0, MAX_LISTED);
    this.counts.omitted += all.length - alerts.length;
    const n: Notification = { id: newMessageId(), subject: subjectOf(alerts, total), alerts, omitted: total - alerts.length };
    const behind: string[] = [];
    for (const o of this.channels) {
      if (o.queue.length >= MAX_OUTBOX) {
        behind.push(o.channel.name);
        continue;
      }
      o.queue.push(n);
      void this.run(o);
    }
    // Counted once, however many channels lost them.
    if (behind.length > 0) this.drop(total, `not queued for ${behind.join(', ')}, which ${behind.length > 1 ? 'are' : 'is'} behind`);
  }

  /** One channel's sender: one notification at a time, each tried up to maxAttempts times. */
  private async run(o: Outbox): Promise<void> {
    if (o.busy) return;
    o.busy = true;
    try {
      while (o.queue.length > 0 && !this.abandoned) {
        const n = o.queue[0]!;
        const error = await this.deliver(o, n);
        if (this.abandoned) break;
        o.queue.shift();
        if (error) {
          this.counts.failed++;
          this.report(
            new ElmahError(
              'ERR_ELMAH_NOTIFY_FAILED',
              `An alert (${n.alerts.length + n.omitted} event(s)) was not delivered: ${error.message}`,
              {
                cause: error.cause ?? error,
                help: error.help,
              },
            ),
          );
        } else this.counts.sent++;
      }
    } finally {
      o.busy = false;
      this.wake();
    }
  }

  /** Tries one notification on one channel; the last failure, or undefined when it was delivered. */
  private async deliver(o: Outbox, n: Notification): Promise<ElmahError | undefined> {
    let last: ElmahError | undefined;
    for (let attempt = 1; attempt <= this.config.maxAttempts && !this.abandoned; attempt++) {
      try {
        const { signal } = this.abort;
        await withTimeout(o.channel.send(n, this.config.timeoutMs, signal), this.config.timeoutMs + 1000, o.channel.name, signal);
        return undefined;
      } catch (err) {
        last = asFailure(err);
        if (!last.transient || attempt === this.config.maxAttempts) break;
        const { backoffMs, maxBackoffMs } = this.config;
        const exp = Math.min(maxBackoffMs, backoffMs * 2 ** (attempt - 1));
        // Full jitter on the exponential step; a Retry-After the receiver asked for is honoured up to maxBackoffMs.
        const jittered = exp / 2 + (this.random() * exp) / 2;
        const asked = last.retryAfter === undefined ? 0 : Math.min(maxBackoffMs, last.retryAfter * 1000);
        await this.sleep(Math.max(jittered, asked));
      }
    }
    return last;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      timer.unref();
      this.sleepers.add(wake);
    });
  }

  /** Hands a failure to the owner's report; a report that throws is not let out (it would be an unhandled rejection). */
  private report(error: ElmahError): void {
    try {
      this.options.report(error);
    } catch {
      // Nowhere left to say it: the owner's own error handler failed.
    }
  }

  private drop(n: number, why: string): void {
    this.counts.dropped += n;
    // One report per burst: the first drop, then again once the count has doubled.
    if (this.counts.dropped >= this.droppedReported * 2 || this.droppedReported === 0) {
      this.droppedReported = this.counts.dropped;
      this.report(
        new ElmahError('ERR_ELMAH_NOTIFY_DROPPED', `${n} alert(s) were dropped: ${why} (${this.counts.dropped} in all).`, {
          help: 'The errors are in the log; only their alerts were lost. Check the channels, or give close() more time.',
        }),
      );
    }
  }

  private idle(): boolean {
    return (
      this.pending.length === 0 && this.overflow === 0 && !this.immediate && this.channels.every((o) => !o.busy && o.queue.length === 0)
    );
  }

  private wake(): void {
    if (!this.idle()) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private drained(ms: number): Promise<boolean> {
    if (this.idle()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve(this.idle());
      }, ms);
      timer.unref();
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.waiters.push(done);
    });
  }
}

/** True when the rule's filters let the message through. */
function matches(rule: ResolvedRule, m: Observed): boolean {
  if (rule.logs && !rule.logs.has(m.log)) return false;
  if (rule.severities && !rule.severities.has(m.severity ?? 'Error')) return false;
  if (rule.statusCodes) {
    const code = m.statusCode;
    if (typeof code !== 'number' || !rule.statusCodes.some(([lo, hi]) => code >= lo && code <= hi)) return false;
  }
  return !rule.query || matchesQuery(rule.query, m as ErrorMessage);
}

/** The error in the viewer: the message's detail page, or (for a group made by counted occurrences) its group. */
function linkOf(baseUrl: string | undefined, a: Alert): string | undefined {
  if (!baseUrl) return undefined;
  const log = encodeURIComponent(a.log);
  if (a.id) return `${baseUrl}/detail/${encodeURIComponent(a.id)}?log=${log}`;
  return `${baseUrl}/?view=groups&log=${log}&q=${encodeURIComponent(`fingerprint:"${a.fingerprint}"`)}`;
}

function asFailure(err: unknown): ElmahError {
  if (err instanceof ElmahError) return err;
  const text = err instanceof Error ? err.message : String(err);
  return new ElmahError('ERR_ELMAH_NOTIFY_FAILED', `Sending an alert failed: ${text.slice(0, 500)}`, { cause: err, transient: true });
}

/** `p`, or a failure once `ms` have passed or `signal` aborts (a channel that ignores its signal is not waited for). */
function withTimeout<T>(p: Promise<T>, ms: number, name: string, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const stop = (error: unknown): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      reject(error);
    };
    const onAbort = (): void =>
      stop(new ElmahError('ERR_ELMAH_NOTIFY_FAILED', `The ${name} channel was stopped: the notifier closed.`, { transient: false }));
    const timer = setTimeout(
      () => stop(new ElmahError('ERR_ELMAH_NOTIFY_FAILED', `The ${name} channel did not finish within ${ms} ms.`, { transient: true })),
      ms,
    );
    timer.unref();
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
    p.then(
      (v) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => stop(e),
    );
  });
}
