// The shipper: a bounded, batched queue between capture and any writer (local store, worker, collector).
// What cannot be kept in full is counted per group and written as one tally per group per interval.
import type { ClientAppendResult, LogWriter } from '../client/types.js';
import { ElmahError, isElmahError } from '../model/errors.js';
import { computeFingerprint } from '../model/fingerprint.js';
import type { ErrorMessage } from '../model/message.js';
import { TallyBuilder, type OccurrenceTally } from '../model/tally.js';
import { asElmahError, type Report } from './report.js';

/**
 * What the shipper does with each outcome of `append(batch)` or `tally(tallies)` on its writer — the whole
 * contract a transport has to meet. A transport (LocalLogClient, RemoteLogClient, the worker thread's
 * writer) reports failures by throwing an {@link ElmahError} whose `code`, `status`, `transient` and
 * `retryAfter` say what happened:
 *
 * | outcome | example | what the shipper does with messages | … with tallies |
 * |---|---|---|---|
 * | resolved, item `created` / `duplicate` | stored, or stored by an earlier try | counted `kept` | their occurrences counted `counted` |
 * | resolved, item `rejected` | invalid message | that message is counted instead (folded into a tally), reported | those occurrences are `dropped`, reported |
 * | `status` 401 or 403, or code `ERR_ELMAH_KEY_MISSING` / `ERR_ELMAH_KEY_INVALID` / `ERR_ELMAH_PERMISSION` | revoked key | shipping **stops**: everything held and every later occurrence is `dropped`; reported once, loudly | the same |
 * | `transient: true` (also a client's own timeout), or `status` 429, 502, 503, 504, or code `ERR_ELMAH_STORE_BUSY` / `ERR_ELMAH_RATE_LIMITED` | network down, 5xx, 429 | the batch is retried, without a limit on tries, after an exponential backoff with jitter (200 ms doubling up to `maxBackoffMs`), or after `retryAfter` seconds when that is longer | the same (tallies are small and kept until sent) |
 * | `status` 413 with more than one item | batch too large for the collector | the batch is split in halves and each is sent again | the same |
 * | `status` 400, 413, 415 or 422, or code `ERR_ELMAH_INVALID_MESSAGE` / `ERR_ELMAH_TOO_LARGE` | malformed batch | the batch is counted instead, reported | `dropped`, reported |
 * | anything else: a non-Elmah error, a non-transient ElmahError, or the shipper's own `ERR_ELMAH_TIMEOUT` (the call took longer than `timeoutMs`) | a store bug, a hung store | retried `maxRetries` times with backoff, then counted instead | retried `maxRetries` times, then `failed` |
 *
 * Appends and tallies must be idempotent by id (they are in every store): a retry after a lost answer does
 * not duplicate; a tally keeps its id across retries and is never merged with later occurrences.
 *
 * An occurrence is kept in full while the queue has room: at most `queueSize` messages (waiting or in
 * flight), and at most one batch while shipping backs off after a failure. Otherwise — and while the
 * logger is closing — it is counted: folded into one {@link TallyBuilder} per group (log + fingerprint),
 * written as one `tally()` per `tallyIntervalMs` (at once on `flush`). At most `maxGroups` groups are held;
 * an occurrence of a further group is `dropped`. Occurrences that were dropped or failed are announced on
 * the next message shipped, as `data` entries `elmah.dropped` (a count) and `elmah.droppedReason`, and
 * through `onError`. One call is in flight at a time. Timers are unref'ed.
 */
export interface ShipperOptions {
  /** The writer, asked for before each send; a transient rejection is retried after a backoff, any other stops shipping (as a 401/403 would). */
  client: () => Promise<LogWriter>;
  /** Where failures are reported. */
  report: Report;
  queueSize: number;
  batchSize: number;
  /** 0: send on the next turn of the event loop; otherwise wait this long to gather a batch. */
  flushIntervalMs: number;
  maxRetries: number;
  maxBackoffMs: number;
  timeoutMs: number;
  /** First backoff delay, ms. Default 200. */
  baseBackoffMs?: number;
  /** How often counted occurrences are written, ms. Default 1000. */
  tallyIntervalMs?: number;
  /** Most groups whose counted occurrences are held at once. Default 10,000. */
  maxGroups?: number;
  /** Random source for jitter, for tests. */
  random?: () => number;
  /** Hears each append's messages and results once the store answered (alerts); must be synchronous and quick. */
  onStored?: ((messages: readonly ErrorMessage[], results: readonly ClientAppendResult[]) => void) | undefined;
  /** Hears each tally append's tallies and results, like `onStored`. */
  onTallied?: ((tallies: readonly OccurrenceTally[], results: readonly ClientAppendResult[]) => void) | undefined;
}

/**
 * Counters of {@link Shipper.stats}. Every occurrence handed to the shipper is in exactly one place:
 * `queued + kept + counted + dropped + failed` = occurrences; `sent = kept + counted`, `lost = dropped + failed`.
 */
export interface ShipperStats {
  /** Occurrences waiting or in flight: messages, and counted occurrences whose tally the store has not confirmed. */
  queued: number;
  /** Occurrences the store confirmed: `kept + counted`. */
  sent: number;
  /** Occurrences stored in full. */
  kept: number;
  /** Occurrences counted only (in their group's count, last seen and chart), confirmed by the store. */
  counted: number;
  /** Occurrences neither kept nor counted for a known reason: shipping stopped, logger closed, refused by the store, too many groups. */
  dropped: number;
  /** Occurrences neither kept nor counted after retries (store errors, timeouts). */
  failed: number;
  /** `dropped + failed`. */
  lost: number;
}

/** What becomes of a new occurrence: kept in full, counted only, or dropped (shipping stopped, logger closed). */
export type Admission = 'keep' | 'count' | 'drop';

/** An occurrence that is counted only: what its tally needs. */
export interface Occurrence {
  log: string;
  fingerprint: string;
  /** When it happened, ms since the epoch. */
  time: number;
  title: string;
  type: string;
  statusCode?: number | undefined;
}

/** How a failed append is handled; see the table on {@link ShipperOptions}. */
export type FailureKind = 'stop' | 'retry' | 'split' | 'reject' | 'bounded';

/** Classifies a failure of `append` per the shipping contract. */
export function classifyFailure(err: unknown, batchLength = 1): FailureKind {
  if (!isElmahError(err)) return 'bounded';
  const { code, status } = err;
  if (
    status === 401 ||
    status === 403 ||
    code === 'ERR_ELMAH_KEY_MISSING' ||
    code === 'ERR_ELMAH_KEY_INVALID' ||
    code === 'ERR_ELMAH_PERMISSION'
  )
    return 'stop';
  if (err.transient === true) return 'retry';
  // The shipper's own deadline on a hung store: bounded, so a store that never answers cannot pin the queue.
  if (code === 'ERR_ELMAH_TIMEOUT') return 'bounded';
  if (
    status === 429 ||
    status === 502 ||
    status === 503 ||
    status === 504 ||
    code === 'ERR_ELMAH_STORE_BUSY' ||
    code === 'ERR_ELMAH_RATE_LIMITED'
  )
    return 'retry';
  if (status === 413 && batchLength > 1) return 'split';
  if (
    status === 400 ||
    status === 413 ||
    status === 415 ||
    status === 422 ||
    code === 'ERR_ELMAH_INVALID_MESSAGE' ||
    code === 'ERR_ELMAH_TOO_LARGE'
  )
    return 'reject';
  return 'bounded';
}

/** Largest number of tallies in one `tally()` call. */
const TALLY_CHUNK = 500;

/** The bounded queue and its sender. Never throws into its caller. */
export class Shipper {
  private queue: ErrorMessage[] = [];
  private inflight = 0;
  private sending = false;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private tallyTimer: NodeJS.Timeout | undefined;
  /** The tally interval has passed: counted occurrences go out with the next send. */
  private tallyDue = false;
  private backoffUntil = 0;
  private attempts = 0;
  private maxBatch: number;
  private tallyChunk = TALLY_CHUNK;
  private stoppedBy: ElmahError | undefined;
  /** Closing: new occurrences are counted only. */
  private closed = false;
  /** Closed: nothing more is written. */
  private finished = false;
  /** The last part of close(): a message batch that fails is counted rather than tried again. */
  private countRest = false;
  private counts = { kept: 0, counted: 0, dropped: 0, failed: 0 };
  /** Counted occurrences not yet taken into a tally, per `log\nfingerprint`. */
  private builders = new Map<string, TallyBuilder>();
  private folded = 0;
  private countReportedAt = 0;
  /** Tallies taken and not yet confirmed (sent again, unchanged, after a failure). */
  private outstanding: OccurrenceTally[] = [];
  private outstandingCount = 0;
  /** Not stored and not yet announced on a shipped message, by reason. */
  private unannounced = new Map<string, number>();
  /** Messages carrying an announcement, and how many it announced (given back if the message is lost). */
  private announced = new WeakMap<ErrorMessage, Map<string, number>>();
  private waiters: (() => void)[] = [];
  private readonly random: () => number;
  private readonly tallyIntervalMs: number;
  private readonly maxGroups: number;

  constructor(private readonly options: ShipperOptions) {
    this.maxBatch = options.batchSize;
    this.random = options.random ?? Math.random;
    this.tallyIntervalMs = options.tallyIntervalMs ?? 1000;
    this.maxGroups = options.maxGroups ?? 10_000;
  }

  /** Counters; see {@link ShipperStats} for how they add up. */
  stats(): ShipperStats {
    const { kept, counted, dropped, failed } = this.counts;
    return {
      queued: this.queue.length + this.inflight + this.folded + this.outstandingCount,
      sent: kept + counted,
      kept,
      counted,
      dropped,
      failed,
      lost: dropped + failed,
    };
  }

  /** The error that stopped shipping, if any. */
  get stopped(): ElmahError | undefined {
    return this.stoppedBy;
  }

  /**
   * What becomes of an occurrence handed over now: `keep` while the queue has room (at most one batch
   * while shipping backs off after a failure), `count` when it is full or the logger is closing, `drop`
   * once shipping stopped or the logger closed. Lets the logger skip building a record that would only be counted.
   */
  admission(): Admission {
    if (this.stoppedBy || this.finished) return 'drop';
    if (this.closed) return 'count';
    const held = this.queue.length + this.inflight;
    if (held >= this.options.queueSize) return 'count';
    if (this.attempts > 0 && held >= this.options.batchSize) return 'count';
    return 'keep';
  }

  /** Queues a message in full; when it can only be counted it is folded into its group's tally. True when queued in full. */
  enqueue(message: ErrorMessage): boolean {
    const how = this.admission();
    if (how === 'keep') {
      this.queue.push(message);
      this.schedule();
      return true;
    }
    if (how === 'drop') this.lose(1, 'dropped', this.stoppedBy ? 'shipping stopped' : 'logger closed');
    else this.count(occurrenceOf(message));
    return false;
  }

  /** Counts an occurrence without keeping it in full (see {@link Shipper.admission}). False when it was dropped. */
  count(occurrence: Occurrence): boolean {
    if (this.admission() === 'drop') {
      this.lose(1, 'dropped', this.stoppedBy ? 'shipping stopped' : 'logger closed');
      return false;
    }
    const full = this.queue.length + this.inflight >= this.options.queueSize;
    // At most one report a second is even made: in a storm this runs for every error, and an Error costs a stack.
    const now = Date.now();
    if (!this.closed && (full || this.attempts > 0) && now - this.countReportedAt >= 1000) {
      this.countReportedAt = now;
      const why = full
        ? `The queue is full (${this.options.queueSize} messages)`
        : 'Storing failed and a batch is already waiting for the retry';
      this.options.report(
        new ElmahError('ERR_ELMAH_QUEUE_FULL', `${why}; newer errors are counted but not kept in full until the store catches up.`, {
          help: 'Check that the store is reachable and keeps up; raise `queueSize` if bursts are normal.',
        }),
      );
    }
    return this.fold(occurrence);
  }

  /** Resolves true once nothing is waiting or in flight, false when `ms` passes first. Never rejects. */
  flush(ms = 5000): Promise<boolean> {
    if (this.idle()) return Promise.resolve(true);
    return new Promise((resolve) => {
      let done = false;
      const finish = (ok: boolean): void => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        resolve(ok);
      };
      const deadline = setTimeout(() => finish(this.idle()), ms);
      deadline.unref();
      this.waiters.push(() => finish(true));
      // A flush waits neither for the gathering interval nor for the tally interval.
      if (this.timer && this.backoffUntil <= Date.now()) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
      this.schedule(true);
    });
  }

  /**
   * Counts new occurrences only and flushes for up to `ms`. Messages still waiting at three quarters of
   * the deadline are counted instead, so that the last quarter can write their tally; what is left then is
   * dropped. True when everything was shipped.
   */
  async close(ms = 5000): Promise<boolean> {
    this.closed = true;
    const start = Date.now();
    let ok = await this.flush(ms * 0.75);
    if (!ok && !this.stoppedBy) {
      this.countRest = true;
      this.foldMessages(this.queue.splice(0));
      ok = await this.flush(Math.max(0, ms - (Date.now() - start)));
    }
    this.finished = true;
    this.clearTimers();
    this.discard('logger closed');
    this.wake();
    return ok;
  }

  /** Stops shipping for good (bad key): everything held is dropped, later occurrences too. Reported once, loudly. */
  stop(err: unknown): void {
    if (this.stoppedBy) return;
    this.stoppedBy = asElmahError(err, 'ERR_ELMAH_SHIP_FAILED', 'Shipping failed');
    this.clearTimers();
    this.discard('shipping stopped');
    const e = this.stoppedBy;
    this.options.report(new ElmahError(e.code, `Error logging stopped: ${e.message}`, { help: e.help, cause: e, status: e.status }), true);
    this.wake();
  }

  private clearTimers(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    if (this.tallyTimer) clearTimeout(this.tallyTimer);
    this.timer = undefined;
    this.immediate = undefined;
    this.tallyTimer = undefined;
  }

  /** Drops what waits (messages, counted occurrences); what is in flight settles on its own. */
  private discard(reason: string): void {
    if (this.queue.length > 0) {
      const left = this.queue.splice(0);
      this.lose(left.length, 'dropped', reason, left);
    }
    if (!this.sending && this.outstandingCount > 0) {
      this.lose(this.outstandingCount, 'dropped', reason);
      this.outstanding = [];
      this.outstandingCount = 0;
    }
    if (this.folded > 0) {
      this.lose(this.folded, 'dropped', reason);
      this.builders.clear();
      this.folded = 0;
    }
  }

  private idle(): boolean {
    return this.queue.length === 0 && this.inflight === 0 && this.folded === 0 && this.outstandingCount === 0;
  }

  private wake(): void {
    if (!this.idle()) return;
    const waiters = this.waiters.splice(0);
    for (const w of waiters) w();
  }

  /** Folds one occurrence into its group's tally; false when the group bound is reached (the occurrence is dropped). */
  private fold(o: Occurrence): boolean {
    if (this.finished || this.stoppedBy) {
      this.lose(1, 'dropped', this.stoppedBy ? 'shipping stopped' : 'logger closed');
      return false;
    }
    const key = `${o.log}\n${o.fingerprint}`;
    let builder = this.builders.get(key);
    if (!builder) {
      if (this.builders.size >= this.maxGroups) {
        this.lose(1, 'dropped', 'too many groups to count');
        this.options.report(
          new ElmahError(
            'ERR_ELMAH_DROPPED',
            `More than ${this.maxGroups} different errors are waiting to be counted; further ones are dropped.`,
            {
              help: 'The store cannot keep up with a storm of many different errors; check the store.',
            },
          ),
        );
        return false;
      }
      builder = new TallyBuilder(o.log, o.fingerprint);
      this.builders.set(key, builder);
    }
    builder.add(o.time, o.title, o.type, o.statusCode);
    this.folded++;
    if (!this.tallyTimer && !this.tallyDue) {
      this.tallyTimer = setTimeout(() => {
        this.tallyTimer = undefined;
        this.tallyDue = true;
        this.schedule();
      }, this.tallyIntervalMs);
      this.tallyTimer.unref();
    }
    return true;
  }

  /** Counts messages that could not be kept in full; an announcement they carried is given back. */
  private foldMessages(messages: readonly ErrorMessage[]): void {
    for (const m of messages) {
      this.giveBack(m);
      this.fold(occurrenceOf(m));
    }
  }

  /** Tallies go out now: the interval passed, a tally waits for a retry, or someone flushes or closes. */
  private talliesReady(): boolean {
    return this.outstanding.length > 0 || (this.folded > 0 && (this.tallyDue || this.waiters.length > 0 || this.closed));
  }

  private schedule(now = false): void {
    if (this.sending || this.stoppedBy || this.finished || this.timer || this.immediate) return;
    const tallies = this.talliesReady();
    if (this.queue.length === 0 && !tallies) return;
    const wait = this.backoffUntil - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => this.fire(), wait);
      this.timer.unref();
    } else if (!tallies && this.options.flushIntervalMs > 0 && !now && this.queue.length < this.maxBatch) {
      this.timer = setTimeout(() => this.fire(), this.options.flushIntervalMs);
      this.timer.unref();
    } else {
      // Not unref'ed: an unref'ed immediate does not stop the loop from blocking in poll, so an idle app would
      // not ship until something else woke it. It runs once, on this turn, and cannot hold the process open.
      this.immediate = setImmediate(() => this.fire());
    }
  }

  private fire(): void {
    this.timer = undefined;
    this.immediate = undefined;
    void this.send();
  }

  /** Counts occurrences as lost and remembers them for the next announcement. */
  private lose(n: number, counter: 'dropped' | 'failed', reason: string, messages: readonly ErrorMessage[] = []): void {
    this.counts[counter] += n;
    this.unannounced.set(reason, (this.unannounced.get(reason) ?? 0) + n);
    for (const m of messages) this.giveBack(m);
  }

  /** An announcement on a message that was not stored was not delivered: announce it again later. */
  private giveBack(m: ErrorMessage): void {
    const carried = this.announced.get(m);
    if (!carried) return;
    this.announced.delete(m);
    for (const [r, n] of carried) this.unannounced.set(r, (this.unannounced.get(r) ?? 0) + n);
  }

  /** Puts the pending announcement on a copy of the first message. */
  private announce(batch: ErrorMessage[]): void {
    if (this.unannounced.size === 0 || batch.length === 0) return;
    const first = batch[0]!;
    const merged = new Map(this.announced.get(first) ?? []);
    for (const [r, n] of this.unannounced) merged.set(r, (merged.get(r) ?? 0) + n);
    this.unannounced.clear();
    const total = [...merged.values()].reduce((a, b) => a + b, 0);
    const reason = [...merged].map(([r, n]) => `${r}: ${n}`).join(', ');
    const data = first.data.filter((kv) => kv.key !== 'elmah.dropped' && kv.key !== 'elmah.droppedReason');
    data.push(
      { key: 'elmah.dropped', value: String(total) },
      { key: 'elmah.droppedReason', value: `${total} earlier error(s) were neither stored nor counted (${reason})` },
    );
    const copy = { ...first, data };
    this.announced.set(copy, merged);
    batch[0] = copy;
  }

  private backoff(retryAfter?: number): void {
    const base = this.options.baseBackoffMs ?? 200;
    const exp = Math.min(this.options.maxBackoffMs, base * 2 ** Math.min(this.attempts - 1, 30));
    let delay = exp * (0.5 + this.random() * 0.5);
    if (retryAfter !== undefined && Number.isFinite(retryAfter) && retryAfter > 0)
      delay = Math.max(delay, Math.min(retryAfter * 1000, 3_600_000));
    this.backoffUntil = Date.now() + delay;
  }

  private async send(): Promise<void> {
    if (this.sending || this.stoppedBy || this.finished || (this.queue.length === 0 && !this.talliesReady())) return this.wake();
    this.sending = true;
    let client: LogWriter;
    try {
      client = await this.options.client();
    } catch (err) {
      this.sending = false;
      if (classifyFailure(err) !== 'retry') {
        this.stop(err);
        return;
      }
      // The store or collector is not reachable yet: keep everything and try again after a backoff.
      const e = asElmahError(err, 'ERR_ELMAH_STORE_UNAVAILABLE', 'The store is not reachable');
      this.attempts++;
      this.backoff(e.retryAfter);
      this.options.report(
        new ElmahError('ERR_ELMAH_SHIP_FAILED', `Storing error messages failed, will retry: ${e.message}`, {
          cause: e,
          help: e.help,
          transient: true,
        }),
      );
      this.schedule();
      this.wake();
      return;
    }
    if (this.stoppedBy || this.finished) {
      this.sending = false;
      return;
    }
    // Tallies first: they are small, and during a storm the queue is never empty.
    if (this.talliesReady()) await this.sendTallies(client);
    else await this.sendMessages(client);
    this.sending = false;
    // A call that settles after shipping stopped or the logger closed: what came back is dropped.
    if (this.stoppedBy) this.discard('shipping stopped');
    else if (this.finished) this.discard('logger closed');
    this.schedule();
    this.wake();
  }

  private async sendMessages(client: LogWriter): Promise<void> {
    const batch = this.queue.splice(0, this.maxBatch);
    this.inflight = batch.length;
    this.announce(batch);
    let results: ClientAppendResult[] | undefined;
    let failure: unknown;
    try {
      results = await this.withTimeout(client.append(batch));
    } catch (err) {
      failure = err;
    }
    this.inflight = 0;
    if (results) this.settle(batch, results);
    else this.fail(batch, failure);
  }

  private async sendTallies(client: LogWriter): Promise<void> {
    if (this.outstanding.length === 0) {
      for (const b of this.builders.values()) {
        const t = b.take();
        if (t) this.outstanding.push(t);
      }
      this.builders.clear();
      this.outstandingCount = this.folded;
      this.folded = 0;
    }
    this.tallyDue = false;
    const chunk = this.outstanding.slice(0, this.tallyChunk);
    let results: ClientAppendResult[] | undefined;
    let failure: unknown;
    try {
      results = await this.withTimeout(client.tally(chunk));
    } catch (err) {
      failure = err;
    }
    if (results) this.settleTallies(chunk, results);
    else this.failTallies(chunk, failure);
  }

  private withTimeout<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new ElmahError('ERR_ELMAH_TIMEOUT', `The store did not answer within ${this.options.timeoutMs} ms.`, {
            help: 'Check the store; raise `timeoutMs` if it is slow but working.',
          }),
        );
      }, this.options.timeoutMs);
      timer.unref();
      Promise.resolve(promise).then(
        (v) => (clearTimeout(timer), resolve(v)),
        (e: unknown) => (clearTimeout(timer), reject(e)),
      );
    });
  }

  private settle(batch: ErrorMessage[], results: ClientAppendResult[]): void {
    this.hear(this.options.onStored, batch, results);
    this.attempts = 0;
    this.maxBatch = this.options.batchSize;
    const rejected: ErrorMessage[] = [];
    let reason = '';
    batch.forEach((m, i) => {
      const r = Array.isArray(results) ? results[i] : undefined;
      if (r && r.status === 'rejected') {
        rejected.push(m);
        reason ||= `${r.error.code}: ${r.error.message}`;
      } else this.counts.kept++;
    });
    if (rejected.length > 0) {
      this.foldMessages(rejected);
      this.options.report(
        new ElmahError(
          'ERR_ELMAH_DROPPED',
          `The store rejected ${rejected.length} message(s), which are counted but not kept in full: ${reason}`.slice(0, 1000),
          {
            help: 'This points at a bug in the record building; please report it with the reason.',
          },
        ),
      );
    }
  }

  /** Passes an append's results to a listener; the listener's failure never touches shipping. */
  private hear<T>(
    listener: ((items: readonly T[], results: readonly ClientAppendResult[]) => void) | undefined,
    items: T[],
    results: ClientAppendResult[],
  ): void {
    if (!listener || !Array.isArray(results)) return;
    try {
      listener(items, results);
    } catch {
      // Alerts report their own failures.
    }
  }

  /** Removes a settled chunk from the outstanding tallies. */
  private release(chunk: readonly OccurrenceTally[]): number {
    this.outstanding.splice(0, chunk.length);
    const n = chunk.reduce((sum, t) => sum + t.count, 0);
    this.outstandingCount -= n;
    return n;
  }

  private settleTallies(chunk: OccurrenceTally[], results: ClientAppendResult[]): void {
    this.hear(this.options.onTallied, chunk, results);
    this.attempts = 0;
    this.tallyChunk = TALLY_CHUNK;
    this.release(chunk);
    let rejected = 0;
    let reason = '';
    chunk.forEach((t, i) => {
      const r = Array.isArray(results) ? results[i] : undefined;
      if (r && r.status === 'rejected') {
        rejected += t.count;
        reason ||= `${r.error.code}: ${r.error.message}`;
      } else this.counts.counted += t.count;
    });
    if (rejected > 0) {
      this.lose(rejected, 'dropped', 'count rejected by the store');
      this.options.report(
        new ElmahError('ERR_ELMAH_DROPPED', `The store rejected the count of ${rejected} error(s): ${reason}`.slice(0, 1000), {
          help: 'This points at a bug; please report it with the reason.',
        }),
      );
    }
  }

  private failTallies(chunk: OccurrenceTally[], err: unknown): void {
    const kind = classifyFailure(err, chunk.length);
    const e = asElmahError(err, 'ERR_ELMAH_SHIP_FAILED', 'Storing a count of errors failed');
    switch (kind) {
      case 'stop':
        this.stop(e);
        return;
      case 'split':
        this.tallyChunk = Math.max(1, Math.ceil(chunk.length / 2));
        return;
      case 'reject': {
        this.attempts = 0;
        const n = this.release(chunk);
        this.lose(n, 'dropped', `count rejected (${e.code})`);
        this.options.report(
          new ElmahError('ERR_ELMAH_DROPPED', `Dropped the count of ${n} error(s) the store refused: ${e.message}`, {
            cause: e,
            help: e.help,
          }),
        );
        return;
      }
      case 'retry':
        this.attempts++;
        this.backoff(e.retryAfter);
        this.options.report(
          new ElmahError('ERR_ELMAH_SHIP_FAILED', `Storing a count of errors failed, will retry: ${e.message}`, {
            cause: e,
            help: e.help,
            transient: true,
          }),
        );
        return;
      case 'bounded':
        this.attempts++;
        if (this.attempts > this.options.maxRetries) {
          this.attempts = 0;
          const n = this.release(chunk);
          this.lose(n, 'failed', 'store failure');
          this.options.report(
            new ElmahError(
              'ERR_ELMAH_SHIP_FAILED',
              `Gave up on the count of ${n} error(s) after ${this.options.maxRetries + 1} tries: ${e.message}`,
              { cause: e, help: e.help || 'Check the store.' },
            ),
          );
          return;
        }
        this.backoff(e.retryAfter);
        this.options.report(
          new ElmahError('ERR_ELMAH_SHIP_FAILED', `Storing a count of errors failed, will retry: ${e.message}`, { cause: e, help: e.help }),
        );
        return;
    }
  }

  private fail(batch: ErrorMessage[], err: unknown): void {
    const kind = classifyFailure(err, batch.length);
    const e = asElmahError(err, 'ERR_ELMAH_SHIP_FAILED', 'Storing an error message failed');
    if (this.countRest && kind !== 'stop') {
      this.foldMessages(batch);
      return;
    }
    switch (kind) {
      case 'stop':
        this.queue.unshift(...batch);
        this.stop(e);
        return;
      case 'split':
        this.maxBatch = Math.max(1, Math.ceil(batch.length / 2));
        this.queue.unshift(...batch);
        return;
      case 'reject':
        this.attempts = 0;
        this.foldMessages(batch);
        this.options.report(
          new ElmahError(
            'ERR_ELMAH_DROPPED',
            `The store refused ${batch.length} message(s), which are counted but not kept in full: ${e.message}`,
            { cause: e, help: e.help },
          ),
        );
        return;
      case 'retry':
        this.attempts++;
        this.backoff(e.retryAfter);
        this.queue.unshift(...batch);
        this.options.report(
          new ElmahError('ERR_ELMAH_SHIP_FAILED', `Storing error messages failed, will retry: ${e.message}`, {
            cause: e,
            help: e.help,
            transient: true,
          }),
        );
        return;
      case 'bounded':
        this.attempts++;
        if (this.attempts > this.options.maxRetries) {
          this.attempts = 0;
          this.foldMessages(batch);
          this.options.report(
            new ElmahError(
              'ERR_ELMAH_SHIP_FAILED',
              `Gave up on keeping ${batch.length} message(s) in full after ${this.options.maxRetries + 1} tries; they are counted instead: ${e.message}`,
              { cause: e, help: e.help || 'Check the store.' },
            ),
          );
          return;
        }
        this.backoff(e.retryAfter);
        this.queue.unshift(...batch);
        this.options.report(
          new ElmahError('ERR_ELMAH_SHIP_FAILED', `Storing error messages failed, will retry: ${e.message}`, { cause: e, help: e.help }),
        );
        return;
    }
  }
}

/** What a tally needs from a message that could not be kept in full. */
export function occurrenceOf(m: ErrorMessage): Occurrence {
  const time = Date.parse(m.dateTime);
  return {
    log: m.log,
    fingerprint: m.fingerprint || computeFingerprint(m.type, m.detail, m.title),
    time: Number.isNaN(time) ? Date.now() : time,
    title: m.title,
    type: m.type,
    statusCode: m.statusCode,
  };
}
