// The messages between the logger and its store worker thread, and how errors cross between them.
import { ElmahError, type ElmahErrorCode } from '../model/errors.js';

/** Marks the workerData of a capture worker. */
export const WORKER_MARK = 'expressElmahCaptureWorker';

/** What the worker is started with. */
export interface WorkerSetup {
  [WORKER_MARK]: true;
  url: string;
  key: string | undefined;
}

/**
 * A call to the worker: one batch of messages or tallies per postMessage. Structured clone, not a JSON
 * string: measured with 250 three-kilobyte messages per batch, it costs the app's thread less (about
 * 15 µs a message against 20) for about the same on the worker's side.
 */
export interface WorkerCall {
  id: number;
  op: 'whoami' | 'append' | 'tally' | 'close';
  items?: readonly unknown[];
  /** The log of items that name none (append and tally). */
  log?: string | undefined;
}

/** An ElmahError as it crosses the thread boundary. */
export interface WireError {
  code: string;
  message: string;
  help: string;
  status: number;
  transient: boolean;
  retryAfter?: number | undefined;
}

/** What the worker answers: a call's value or error, or whether the store opened. */
export type WorkerAnswer = { id: number; value: unknown } | { id: number; error: WireError } | { ready: true } | { failed: WireError };

export function toWire(err: unknown): WireError {
  const e = err as Partial<ElmahError> | undefined;
  return {
    code: typeof e?.code === 'string' ? e.code : 'ERR_ELMAH_SHIP_FAILED',
    message: typeof e?.message === 'string' ? e.message : String(err),
    help: typeof e?.help === 'string' ? e.help : '',
    status: typeof e?.status === 'number' ? e.status : 500,
    transient: e?.transient === true,
    retryAfter: typeof e?.retryAfter === 'number' ? e.retryAfter : undefined,
  };
}

export function fromWire(w: WireError): ElmahError {
  return new ElmahError(w.code as ElmahErrorCode, w.message, {
    help: w.help,
    status: w.status,
    transient: w.transient,
    retryAfter: w.retryAfter,
  });
}
