// The WAL checkpointer: a second connection on its own thread copies the WAL back into the database, so
// that no write of the store ever runs a checkpoint (and its syncs) inside its commit.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Tuning of the checkpointer thread. */
export interface CheckpointerOptions {
  /** How often the thread looks for new writes, ms. */
  intervalMs: number;
  /** WAL size in pages from which the WAL is restarted (the writer holds its next write for the last, short pass). */
  restartPages: number;
  /** A pass that copied at most this many new pages is followed by the held one; more, and the thread copies on. */
  holdPages: number;
  /** Most passes back to back before the thread lets the writer be until its next look. */
  catchUpPasses: number;
  /** Longest the writer holds its writes for one restart, ms; then it goes on whatever the thread is doing. */
  maxHoldMs: number;
  /** How long the thread waits for the writer to come by and hold before it copies anyway, ms. */
  ackWaitMs: number;
}

export const DEFAULT_CHECKPOINTER: CheckpointerOptions = {
  intervalMs: 100,
  restartPages: 4096,
  holdPages: 1024,
  catchUpPasses: 8,
  maxHoldMs: 50,
  ackWaitMs: 250,
};

/** Counters the store reports (and the tests read). */
export interface CheckpointStats {
  /** Checkpoint passes the thread ran (the writer never waits for these). */
  passes: number;
  /** The longest pass, ms. */
  longestPassMs: number;
  /** Times the writer held its writes so that the WAL could restart. */
  holds: number;
  /** Longest such hold, ms. */
  longestHoldMs: number;
  /** Holds that ended by the writer's time limit rather than by the thread. */
  holdTimeouts: number;
}

// Shared state, one Int32Array over a SharedArrayBuffer: the writer never waits for a message, so a writer
// that is busy without ever yielding to its event loop still sees a request at its next write.
const WRITES = 0;
/** 0 while the thread starts, then RUNNING, ASKED, HELD or STOPPED. */
const STATE = 1;
/** Checkpoint passes the thread ran, and the longest, ms. */
const PASSES = 2;
const LONGEST = 3;
const RUNNING = 1;
/** The thread asks the writer to hold its writes. */
const ASKED = 2;
/** The writer holds; the thread copies the rest and sets RUNNING again. */
const HELD = 3;
const STOPPED = 4;

// The thread's code, plain JavaScript run with `eval` so that it needs no file of its own in any build (ESM,
// CommonJS, ts-jest). It loads only the driver.
//
// A passive checkpoint copies the frames that were in the WAL when it began, while the writer goes on
// committing; the WAL restarts (is written again from its start) only when a writer begins a transaction
// while every frame has been copied. Under a continuous stream that moment never comes by itself, so once the
// WAL is large and little is left to copy, the thread asks the writer to hold its next write, copies the
// rest, and lets it go: its next commit restarts the WAL. The hold lasts one short pass.
const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const o = workerData.options;
const s = new Int32Array(workerData.shared);
const [WRITES, STATE, PASSES, LONGEST, RUNNING, ASKED, HELD, STOPPED] = workerData.slots;
let db;
try {
  db = new Database(workerData.file, { fileMustExist: true, timeout: 0 });
  db.pragma('synchronous = NORMAL');
  db.pragma('wal_autocheckpoint = 0');
} catch (error) {
  Atomics.store(s, STATE, STOPPED);
  throw error;
}
const pass = () => {
  try {
    const r = db.pragma('wal_checkpoint(PASSIVE)')[0];
    return { log: r.log, copied: r.checkpointed };
  } catch {
    return { log: -1, copied: -1 };
  }
};
let seen = 0;
const timed = () => {
  const t = performance.now();
  const r = pass();
  Atomics.add(s, PASSES, 1);
  const took = Math.ceil(performance.now() - t);
  if (took > Atomics.load(s, LONGEST)) Atomics.store(s, LONGEST, took);
  return r;
};
const tick = () => {
  const now = Atomics.load(s, WRITES);
  if (now === seen) return;
  seen = now;
  let r = timed();
  if (r.log < o.restartPages) return;
  // The WAL is large: catch up with passes back to back until one had little new to copy (so that the
  // writer wrote little during it), then ask the writer to hold for the last one.
  for (let i = 0; i < o.catchUpPasses; i++) {
    const before = r.log;
    r = timed();
    if (r.log < 0 || r.log - before > o.holdPages) continue;
    if (Atomics.compareExchange(s, STATE, RUNNING, ASKED) !== RUNNING) return;
    // An idle writer never comes by: then nothing is written meanwhile and the pass copies everything anyway.
    Atomics.wait(s, STATE, ASKED, o.ackWaitMs);
    timed();
    Atomics.compareExchange(s, STATE, ASKED, RUNNING);
    Atomics.compareExchange(s, STATE, HELD, RUNNING);
    Atomics.notify(s, STATE);
    seen = Atomics.load(s, WRITES);
    return;
  }
};
const timer = setInterval(tick, o.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'close') return;
  clearInterval(timer);
  pass();
  try { db.close(); } catch {}
  Atomics.store(s, STATE, STOPPED);
  Atomics.notify(s, STATE);
  parentPort.close();
});
Atomics.store(s, STATE, RUNNING);
`;

/** Atomics.waitAsync (Node.js 16+; in TypeScript's lib from ES2024). */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(a: Int32Array, index: number, value: number, timeoutMs: number): { async: boolean; value: Promise<string> | string };
  }
).waitAsync;

/** Result of {@link Checkpointer.gate}: write now, or after this promise. */
type Gate = Promise<unknown> | undefined;

/**
 * The writer's side of the checkpointer thread. The store calls {@link gate} before each write and
 * {@link wrote} after each commit; `onRunning` turns the writer's own checkpoints off once the thread runs,
 * `onLost` turns them back on when the thread ends unexpectedly.
 */
export class Checkpointer {
  private readonly shared = new Int32Array(new SharedArrayBuffer(16));
  private running = false;
  private exited = false;
  private closing: Promise<void> | undefined;
  private readonly worker: Worker | undefined;
  private readonly held = { holds: 0, longestHoldMs: 0, holdTimeouts: 0 };

  get stats(): CheckpointStats {
    return { passes: Atomics.load(this.shared, PASSES), longestPassMs: Atomics.load(this.shared, LONGEST), ...this.held };
  }

  /** Starts the thread for a database file (undefined when it cannot: no driver to hand it, no threads). */
  static start(file: string, options: CheckpointerOptions, hooks: { onRunning(): void; onLost(): void }): Checkpointer | undefined {
    let driver: string;
    try {
      driver = createRequire(__filename).resolve('better-sqlite3');
    } catch {
      return undefined;
    }
    const c = new Checkpointer(file, driver, options, hooks);
    return c.worker ? c : undefined;
  }

  private constructor(
    file: string,
    driver: string,
    private readonly options: CheckpointerOptions,
    private readonly hooks: { onRunning(): void; onLost(): void },
  ) {
    const slots = [WRITES, STATE, PASSES, LONGEST, RUNNING, ASKED, HELD, STOPPED];
    try {
      this.worker = new Worker(THREAD, { eval: true, workerData: { file, driver, options, shared: this.shared.buffer, slots } });
    } catch {
      return;
    }
    this.worker.unref();
    const lost = (): void => {
      Atomics.store(this.shared, STATE, STOPPED);
      if (this.running && !this.closing) hooks.onLost();
      this.running = false;
    };
    this.worker.on('error', lost);
    this.worker.on('exit', () => {
      this.exited = true;
      lost();
    });
  }

  /**
   * Before a write. Turns the writer's own checkpoints off once the thread is up; while the thread asks for a
   * hold, returns a promise that resolves when its last pass is done or after maxHoldMs, whichever is first.
   */
  gate(): Gate {
    const state = Atomics.load(this.shared, STATE);
    if (state === RUNNING) {
      if (!this.running && !this.closing) {
        this.running = true;
        this.hooks.onRunning();
      }
      return undefined;
    }
    if (state !== ASKED && state !== HELD) return undefined;
    if (state === ASKED) {
      Atomics.compareExchange(this.shared, STATE, ASKED, HELD);
      Atomics.notify(this.shared, STATE);
    }
    return this.waitForPass();
  }

  private async waitForPass(): Promise<void> {
    const start = performance.now();
    const waited = waitAsync(this.shared, STATE, HELD, this.options.maxHoldMs);
    // A pending waitAsync does not keep the process alive by itself; the writer's caller is waiting on it.
    const alive = setTimeout(() => undefined, this.options.maxHoldMs + 10);
    const outcome = waited.async ? await waited.value : waited.value;
    clearTimeout(alive);
    if (outcome === 'timed-out') {
      // Go on; the thread sets RUNNING again after its pass either way.
      this.held.holdTimeouts++;
      Atomics.compareExchange(this.shared, STATE, HELD, RUNNING);
    }
    const took = performance.now() - start;
    this.held.holds++;
    if (took > this.held.longestHoldMs) this.held.longestHoldMs = took;
  }

  /** After a commit: the WAL grew. */
  wrote(): void {
    Atomics.add(this.shared, WRITES, 1);
  }

  /** Lets the thread copy what is left and close its connection (bounded wait), then ends it. */
  close(timeoutMs = 5000): Promise<void> {
    this.closing ??= (async () => {
      const worker = this.worker;
      if (!worker || this.exited) return;
      // Referenced while closing: the caller awaits this, and nothing else may keep the process alive.
      worker.ref();
      const done = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        worker.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      try {
        worker.postMessage('close');
      } catch {
        // Already gone.
      }
      await done;
      await worker.terminate();
    })();
    return this.closing;
  }
}
