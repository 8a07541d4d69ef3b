// Worker-thread writes: for a SQLite store, the appends run on a worker thread that opens the store itself,
// so the synchronous SQLite work (FTS indexing, commits) never blocks the app's event loop. To the shipper
// it is just another LogClient.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ElmahError, type ElmahErrorCode } from '../model/errors.js';
import type { KeyInfo } from '../model/keys.js';
import type { GroupResult, HistogramResult, LogSummary, SearchResult } from '../stores/types.js';
import type { ClientAppendResult, LogClient } from '../client/types.js';

/** Marks the workerData of a capture worker, so that loading this module in a worker starts the loop. */
const MARK = 'expressElmahCaptureWorker';

interface Call {
  id: number;
  op: 'whoami' | 'append' | 'close';
  batch?: readonly unknown[];
}

interface WireError {
  code: string;
  message: string;
  help: string;
  status: number;
  transient: boolean;
  retryAfter?: number | undefined;
}

type Answer = { id: number; value: unknown } | { id: number; error: WireError } | { ready: true } | { failed: WireError };

function toWire(err: unknown): WireError {
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

function fromWire(w: WireError): ElmahError {
  return new ElmahError(w.code as ElmahErrorCode, w.message, { help: w.help, status: w.status, transient: w.transient, retryAfter: w.retryAfter });
}

function packageName(dir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name;
  } catch {
    return undefined;
  }
}

/** A write-only LogClient whose store lives on a worker thread. Reads are not offered. */
export class WorkerLogClient implements LogClient {
  readonly kind = 'local' as const;
  private seq = 0;
  private readonly calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private dead: ElmahError | undefined;

  private constructor(private readonly worker: Worker, private readonly url: string) {
    worker.on('message', (a: Answer) => {
      if (!('id' in a)) return;
      const call = this.calls.get(a.id);
      if (!call) return;
      this.calls.delete(a.id);
      if ('error' in a) call.reject(fromWire(a.error));
      else call.resolve(a.value);
    });
    const fail = (err: unknown): void => {
      this.dead = new ElmahError('ERR_ELMAH_STORE_UNAVAILABLE', `The store worker thread stopped: ${(err as Error)?.message ?? String(err)}`, { transient: false, status: 500 });
      for (const call of this.calls.values()) call.reject(this.dead);
      this.calls.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
  }

  /**
   * False when running from TypeScript sources (ts-jest, tsx), where a worker thread cannot load this
   * module without a loader; the compiled package always can.
   */
  static available(): boolean {
    return WorkerLogClient.entry() !== undefined;
  }

  /**
   * The file a worker loads: this package's own bundle, which has no side effects. Never the file this
   * code runs from when that is an application bundle (the worker would start the whole app again).
   */
  static entry(): string | undefined {
    // From TypeScript sources, a worker could load neither this file nor (by self-reference) a stale build.
    if (/\.[cm]?ts$/.test(__filename)) return undefined;
    if (/[\\/]dist[\\/]index\.(c?js|mjs)$/.test(__filename) && packageName(join(dirname(__filename), '..')) === 'express-elmah') return __filename;
    try {
      const resolved = createRequire(__filename).resolve('express-elmah');
      return /\.[cm]?ts$/.test(resolved) ? undefined : resolved;
    } catch {
      return undefined;
    }
  }

  /**
   * Starts a worker that opens `url` (a `sqlite:` URL) and acts with `key`. Resolves once the store is
   * open; rejects when the worker cannot start (e.g. this module cannot be loaded in a worker) or the
   * store cannot be opened.
   */
  static start(url: string, key: string | undefined, timeoutMs = 15_000): Promise<WorkerLogClient> {
    return new Promise((resolve, reject) => {
      let worker: Worker;
      try {
        const entry = WorkerLogClient.entry();
        if (!entry) throw new ElmahError('ERR_ELMAH_CONFIG', 'Worker-thread writes need the built express-elmah package (not its TypeScript sources).');
        worker = new Worker(entry, { workerData: { [MARK]: true, url, key } });
      } catch (err) {
        reject(err);
        return;
      }
      const timer = setTimeout(() => {
        void worker.terminate();
        reject(new ElmahError('ERR_ELMAH_TIMEOUT', `The store worker did not start within ${timeoutMs} ms.`));
      }, timeoutMs);
      timer.unref();
      const onMessage = (a: Answer): void => {
        if ('ready' in a) {
          cleanup();
          worker.unref();
          resolve(new WorkerLogClient(worker, url));
        } else if ('failed' in a) {
          cleanup();
          void worker.terminate();
          reject(fromWire(a.failed));
        }
      };
      const onError = (err: unknown): void => {
        cleanup();
        void worker.terminate();
        reject(err);
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
    });
  }

  private call<T>(op: Call['op'], batch?: readonly unknown[]): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, op, batch } satisfies Call);
    });
  }

  whoami(): Promise<KeyInfo> {
    return this.call('whoami');
  }

  append(messages: readonly unknown[]): Promise<ClientAppendResult[]> {
    return this.call('append', messages);
  }

  async close(): Promise<void> {
    try {
      if (!this.dead) await this.call('close');
    } finally {
      await this.worker.terminate();
    }
  }

  describe(): { kind: string; location: string } {
    return { kind: 'sqlite', location: `${this.url} (written by a worker thread)` };
  }

  private writeOnly(): Promise<never> {
    return Promise.reject(new ElmahError('ERR_ELMAH_CONFIG', 'The capture worker client only writes.', {
      help: 'Read the log through connect() or errorViewer(), not through the logger.',
    }));
  }

  get(): Promise<never> {
    return this.writeOnly();
  }
  search(): Promise<SearchResult> {
    return this.writeOnly();
  }
  groups(): Promise<GroupResult> {
    return this.writeOnly();
  }
  histogram(): Promise<HistogramResult> {
    return this.writeOnly();
  }
  neighbours(): Promise<never> {
    return this.writeOnly();
  }
  delete(): Promise<number> {
    return this.writeOnly();
  }
  logs(): Promise<LogSummary[]> {
    return this.writeOnly();
  }
}

/** The worker side: opens the store through connect() and answers calls until closed. */
async function runWorker(): Promise<void> {
  const port = parentPort!;
  const { url, key } = workerData as { url: string; key: string | undefined };
  const { connect } = await import('../client/connect.js');
  let client: LogClient;
  try {
    client = await connect({ store: url, key });
  } catch (err) {
    port.postMessage({ failed: toWire(err) } satisfies Answer);
    return;
  }
  port.on('message', (c: Call) => {
    const run: Promise<unknown> = c.op === 'whoami' ? client.whoami() : c.op === 'append' ? client.append(c.batch ?? []) : client.close();
    run.then(
      (value) => port.postMessage({ id: c.id, value } satisfies Answer),
      (err: unknown) => port.postMessage({ id: c.id, error: toWire(err) } satisfies Answer),
    );
  });
  port.postMessage({ ready: true } satisfies Answer);
}

if (!isMainThread && (workerData as Record<string, unknown> | null)?.[MARK] === true) void runWorker();
