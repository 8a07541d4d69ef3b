// The shipper: a bounded, batched queue between capture and any LogClient (local store or collector).
import type { LogClient } from '../client/types.js';
import { ElmahError, isElmahError } from '../model/errors.js';
import type { ErrorMessage } from '../model/message.js';
import { asElmahError, type Report } from './report.js';

/**
 * What the shipper does with each outcome of `LogClient.append(batch)` — the whole contract a transport
 * has to meet. A transport (LocalLogClient, RemoteLogClient, or any LogClient) only implements `append`,
 * and reports failures by throwing an {@link ElmahError} whose `code`, `status`, `transient` and
 * `retryAfter` say what happened:
 *
 * | outcome | example | what the shipper does |
 * |---|---|---|
 * | resolved, item `created` / `duplicate` | stored, or stored by an earlier try | counted `sent` |
 * | resolved, item `rejected` | invalid message | that item is dropped with the reason (`error.code`), counted `dropped` |
 * | `status` 401 or 403, or code `ERR_ELMAH_KEY_MISSING` / `ERR_ELMAH_KEY_INVALID` / `ERR_ELMAH_PERMISSION` | revoked key | shipping **stops**: the queue and every later message are dropped; reported once, loudly |
 * | `transient: true` (also a client's own timeout), or `status` 429, 502, 503, 504, or code `ERR_ELMAH_STORE_BUSY` / `ERR_ELMAH_RATE_LIMITED` | network down, 5xx, 429 | the batch is retried, without a limit on tries, after an exponential backoff with jitter (200 ms doubling up to `maxBackoffMs`), or after `retryAfter` seconds when that is longer |
 * | `status` 413 with more than one message | batch too large for the collector | the batch is split in halves and each is sent again |
 * | `status` 400, 413, 415 or 422, or code `ERR_ELMAH_INVALID_MESSAGE` / `ERR_ELMAH_TOO_LARGE` | malformed batch | the batch is dropped with the reason, counted `dropped` |
 * | anything else: a non-Elmah error, a non-transient ElmahError, or the shipper's own `ERR_ELMAH_TIMEOUT` (append took longer than `timeoutMs`) | a store bug, a hung store | retried `maxRetries` times with backoff, then counted `failed` |
 *
 * Appends must be idempotent by message id (they are in every store): a retry after a lost answer does
 * not duplicate. The queue holds at most `queueSize` messages (waiting or in flight); more are dropped
 * (newest first) and counted. Messages that were dropped or failed are announced on the next message
 * shipped, as `data` entries `elmah.dropped` (a count) and `elmah.droppedReason`, and through `onError`.
 * One append is in flight at a time. Timers are unref'ed.
 */
export interface ShipperOptions {
  /** The client to append to, called before each send; a transient rejection is retried after a backoff, any other stops shipping (as a 401/403 would). */
  client: () => Promise<LogClient>;
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
  /** Random source for jitter, for tests. */
  random?: () => number;
}

/** Counters of {@link Shipper.stats}. */
export interface ShipperStats {
  /** Messages waiting or in flight. */
  queued: number;
  /** Messages the store accepted (created, or already there). */
  sent: number;
  /** Messages given up on for a known reason: queue full, rejected, shipping stopped, logger closed. */
  dropped: number;
  /** Messages given up on after retries (store errors, timeouts). */
  failed: number;
}

/** How a failed append is handled; see the table on {@link ShipperOptions}. */
export type FailureKind = 'stop' | 'retry' | 'split' | 'reject' | 'bounded';

/** Classifies a failure of `append` per the shipping contract. */
export function classifyFailure(err: unknown, batchLength = 1): FailureKind {
  if (!isElmahError(err)) return 'bounded';
  const { code, status } = err;
  if (status === 401 || status === 403 || code === 'ERR_ELMAH_KEY_MISSING' || code === 'ERR_ELMAH_KEY_INVALID' || code === 'ERR_ELMAH_PERMISSION') return 'stop';
  if (err.transient === true) return 'retry';
  // The shipper's own deadline on a hung store: bounded, so a store that never answers cannot pin the queue.
  if (code === 'ERR_ELMAH_TIMEOUT') return 'bounded';
  if (status === 429 || status === 429 || status === 502 || status === 503 || status === 504 || code === 'ERR_ELMAH_STORE_BUSY' || code === 'ERR_ELMAH_RATE_LIMITED') return 'retry';
  if (status === 413 && batchLength > 1) return 'split';
  if (status === 400 || status === 413 || status === 415 || status === 422 || code === 'ERR_ELMAH_INVALID_MESSAGE' || code === 'ERR_ELMAH_TOO_LARGE') return 'reject';
  return 'bounded';
}

/** The bounded queue and its sender. Never throws into its caller. */
export class Shipper {
  private queue: ErrorMessage[] = [];
  private inflight = 0;
  private sending = false;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private backoffUntil = 0;
  private attempts = 0;
  private maxBatch: number;
  private stoppedBy: ElmahError | undefined;
  private closed = false;
  private counts = { sent: 0, dropped: 0, failed: 0 };
  /** Not stored and not yet announced on a shipped message, by reason. */
  private unannounced = new Map<string, number>();
  /** Messages carrying an announcement, and how many it announced (given back if the message is lost). */
  private announced = new WeakMap<ErrorMessage, Map<string, number>>();
  private waiters: (() => void)[] = [];
  private readonly random: () => number;

  constructor(private readonly options: ShipperOptions) {
    this.maxBatch = options.batchSize;
    this.random = options.random ?? Math.random;
  }

  /** Counters: waiting or in flight, sent, dropped, failed. */
  stats(): ShipperStats {
    return { queued: this.queue.length + this.inflight, ...this.counts };
  }

  /** The error that stopped shipping, if any. */
  get stopped(): ElmahError | undefined {
    return this.stoppedBy;
  }

  /** Queues a message; false when it was dropped (queue full, stopped, closed). */
  enqueue(message: ErrorMessage): boolean {
    if (this.stoppedBy) return this.lose([message], 'dropped', 'shipping stopped'), false;
    if (this.closed) return this.lose([message], 'dropped', 'logger closed'), false;
    if (this.queue.length + this.inflight >= this.options.queueSize) {
      this.lose([message], 'dropped', 'queue full');
      this.options.report(new ElmahError('ERR_ELMAH_QUEUE_FULL', `The queue is full (${this.options.queueSize} messages); newer messages are dropped until the store catches up.`, {
        help: 'Check that the store is reachable; raise `queueSize` if bursts are normal.',
      }));
      return false;
    }
    this.queue.push(message);
    this.schedule();
    return true;
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
      // A flush does not wait for the gathering interval.
      if (this.timer && this.backoffUntil <= Date.now()) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
      this.schedule(true);
    });
  }

  /** Stops taking messages, flushes for up to `ms`, then drops what is left. True when everything was shipped. */
  async close(ms = 5000): Promise<boolean> {
    this.closed = true;
    const ok = await this.flush(ms);
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = undefined;
    this.immediate = undefined;
    if (this.queue.length > 0) this.lose(this.queue.splice(0), 'dropped', 'logger closed');
    this.wake();
    return ok;
  }

  /** Stops shipping for good (bad key): everything queued is dropped, later messages too. Reported once, loudly. */
  stop(err: unknown): void {
    if (this.stoppedBy) return;
    this.stoppedBy = asElmahError(err, 'ERR_ELMAH_SHIP_FAILED', 'Shipping failed');
    if (this.queue.length > 0) this.lose(this.queue.splice(0), 'dropped', 'shipping stopped');
    const e = this.stoppedBy;
    this.options.report(new ElmahError(e.code, `Error logging stopped: ${e.message}`, { help: e.help, cause: e, status: e.status }), true);
    this.wake();
  }

  private idle(): boolean {
    return this.queue.length === 0 && this.inflight === 0;
  }

  private wake(): void {
    if (!this.idle()) return;
    const waiters = this.waiters.splice(0);
    for (const w of waiters) w();
  }

  private schedule(now = false): void {
    if (this.sending || this.stoppedBy || this.queue.length === 0 || this.timer || this.immediate) return;
    const wait = this.backoffUntil - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => this.fire(), wait);
      this.timer.unref();
    } else if (this.options.flushIntervalMs > 0 && !now && this.queue.length < this.maxBatch) {
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

  /** Counts messages as lost and remembers them for the next announcement. */
  private lose(messages: readonly ErrorMessage[], counter: 'dropped' | 'failed', reason: string): void {
    this.counts[counter] += messages.length;
    this.unannounced.set(reason, (this.unannounced.get(reason) ?? 0) + messages.length);
    // An announcement on a lost message was not delivered: announce it again later.
    for (const m of messages) {
      const carried = this.announced.get(m);
      if (carried) for (const [r, n] of carried) this.unannounced.set(r, (this.unannounced.get(r) ?? 0) + n);
    }
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
    data.push({ key: 'elmah.dropped', value: String(total) }, { key: 'elmah.droppedReason', value: `${total} earlier message(s) were not stored (${reason})` });
    const copy = { ...first, data };
    this.announced.set(copy, merged);
    batch[0] = copy;
  }

  private backoff(retryAfter?: number): void {
    const base = this.options.baseBackoffMs ?? 200;
    const exp = Math.min(this.options.maxBackoffMs, base * 2 ** Math.min(this.attempts - 1, 30));
    let delay = exp * (0.5 + this.random() * 0.5);
    if (retryAfter !== undefined && Number.isFinite(retryAfter) && retryAfter > 0) delay = Math.max(delay, Math.min(retryAfter * 1000, 3_600_000));
    this.backoffUntil = Date.now() + delay;
  }

  private async send(): Promise<void> {
    if (this.sending || this.stoppedBy || this.queue.length === 0) return this.wake();
    this.sending = true;
    let client: LogClient;
    try {
      client = await this.options.client();
    } catch (err) {
      this.sending = false;
      if (classifyFailure(err) !== 'retry') {
        this.stop(err);
        return;
      }
      // The store or collector is not reachable yet: keep the queue and try again after a backoff.
      const e = asElmahError(err, 'ERR_ELMAH_STORE_UNAVAILABLE', 'The store is not reachable');
      this.attempts++;
      this.backoff(e.retryAfter);
      this.options.report(new ElmahError('ERR_ELMAH_SHIP_FAILED', `Storing error messages failed, will retry: ${e.message}`, { cause: e, help: e.help, transient: true }));
      this.schedule();
      this.wake();
      return;
    }
    if (this.stoppedBy) {
      this.sending = false;
      return;
    }
    const batch = this.queue.splice(0, this.maxBatch);
    this.inflight = batch.length;
    this.announce(batch);
    let results: Awaited<ReturnType<LogClient['append']>> | undefined;
    let failure: unknown;
    try {
      results = await this.withTimeout(client.append(batch));
    } catch (err) {
      failure = err;
    }
    this.inflight = 0;
    this.sending = false;
    if (results) this.settle(batch, results);
    else this.fail(batch, failure);
    this.schedule();
    this.wake();
  }

  private withTimeout<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new ElmahError('ERR_ELMAH_TIMEOUT', `The store did not answer within ${this.options.timeoutMs} ms.`, {
          help: 'Check the store; raise `timeoutMs` if it is slow but working.',
        }));
      }, this.options.timeoutMs);
      timer.unref();
      Promise.resolve(promise).then(
        (v) => (clearTimeout(timer), resolve(v)),
        (e: unknown) => (clearTimeout(timer), reject(e)),
      );
    });
  }

  private settle(batch: ErrorMessage[], results: Awaited<ReturnType<LogClient['append']>>): void {
    this.attempts = 0;
    this.maxBatch = this.options.batchSize;
    const rejected: ErrorMessage[] = [];
    let reason = '';
    batch.forEach((m, i) => {
      const r = Array.isArray(results) ? results[i] : undefined;
      if (r && r.status === 'rejected') {
        rejected.push(m);
        reason ||= `${r.error.code}: ${r.error.message}`;
      } else this.counts.sent++;
    });
    if (rejected.length > 0) {
      this.lose(rejected, 'dropped', 'rejected by the store');
      this.options.report(new ElmahError('ERR_ELMAH_DROPPED', `The store rejected ${rejected.length} message(s): ${reason}`.slice(0, 1000), {
        help: 'This points at a bug in the record building; please report it with the reason.',
      }));
    }
  }

  private fail(batch: ErrorMessage[], err: unknown): void {
    const kind = classifyFailure(err, batch.length);
    const e = asElmahError(err, 'ERR_ELMAH_SHIP_FAILED', 'Storing an error message failed');
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
        this.lose(batch, 'dropped', `rejected (${e.code})`);
        this.options.report(new ElmahError('ERR_ELMAH_DROPPED', `Dropped ${batch.length} message(s) the store refused: ${e.message}`, { cause: e, help: e.help }));
        return;
      case 'retry':
        this.attempts++;
        this.backoff(e.retryAfter);
        this.queue.unshift(...batch);
        this.options.report(new ElmahError('ERR_ELMAH_SHIP_FAILED', `Storing error messages failed, will retry: ${e.message}`, { cause: e, help: e.help, transient: true }));
        return;
      case 'bounded':
        this.attempts++;
        if (this.attempts > this.options.maxRetries) {
          this.attempts = 0;
          this.lose(batch, 'failed', 'store failure');
          this.options.report(new ElmahError('ERR_ELMAH_SHIP_FAILED', `Gave up on ${batch.length} message(s) after ${this.options.maxRetries + 1} tries: ${e.message}`, { cause: e, help: e.help || 'Check the store.' }));
          return;
        }
        this.backoff(e.retryAfter);
        this.queue.unshift(...batch);
        this.options.report(new ElmahError('ERR_ELMAH_SHIP_FAILED', `Storing error messages failed, will retry: ${e.message}`, { cause: e, help: e.help }));
        return;
    }
  }
}
