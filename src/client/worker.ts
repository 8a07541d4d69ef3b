// Worker-thread writes: for a SQLite store, the appends run on a worker thread that opens the store itself,
// so the synchronous SQLite work (FTS indexing, commits) never blocks the app's event loop. The thread runs
// the package's own small entry (dist/worker.cjs, from worker-entry.ts); to the logger's shipper it is a LogWriter.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ClientAppendResult, LogWriter } from './types.js';
import { ElmahError } from '../model/errors.js';
import type { KeyInfo } from '../model/keys.js';
import { WORKER_MARK, fromWire, type WorkerAnswer, type WorkerCall, type WorkerSetup } from './worker-protocol.js';

/** The file name of the worker's entry, beside the package's other bundles in dist/. */
const ENTRY = 'worker.cjs';

function packageName(dir: string): string | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string }).name;
  } catch {
    return undefined;
  }
}

/** A writer whose store lives on a worker thread: it appends, tallies, tells the key and closes; it does not read. */
export class WorkerLogClient implements LogWriter {
  private seq = 0;
  private readonly calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private dead: ElmahError | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly url: string,
  ) {
    worker.on('message', (a: WorkerAnswer) => {
      if (!('id' in a)) return;
      const call = this.calls.get(a.id);
      if (!call) return;
      this.calls.delete(a.id);
      if ('error' in a) call.reject(fromWire(a.error));
      else call.resolve(a.value);
    });
    const fail = (err: unknown): void => {
      // The first cause stays: a thread that ends after close() does not turn "closed" into "stopped".
      this.dead ??= new ElmahError(
        'ERR_ELMAH_STORE_UNAVAILABLE',
        `The store worker thread stopped: ${(err as Error)?.message ?? String(err)}`,
        { transient: false, status: 500 },
      );
      for (const call of this.calls.values()) call.reject(this.dead);
      this.calls.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
  }

  /**
   * False when running from TypeScript sources (ts-jest, tsx), where there is no built worker entry; the
   * compiled package always has one.
   */
  static available(): boolean {
    return WorkerLogClient.entry() !== undefined;
  }

  /** The worker's entry: dist/worker.cjs of this package, found beside this bundle or through the package's main. */
  static entry(): string | undefined {
    // From TypeScript sources, a worker could load neither this file nor (by self-reference) a stale build.
    if (/\.[cm]?ts$/.test(__filename)) return undefined;
    const here = dirname(__filename);
    const beside = join(here, ENTRY);
    if (/[\\/]dist$/.test(here) && packageName(join(here, '..')) === 'express-elmah' && existsSync(beside)) return beside;
    try {
      // An app bundle that inlined this package: the installed package still has the entry.
      const main = createRequire(__filename).resolve('express-elmah');
      if (/\.[cm]?ts$/.test(main)) return undefined;
      const entry = join(dirname(main), ENTRY);
      return existsSync(entry) ? entry : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Starts a worker that opens `url` (a `sqlite:` URL) and acts with `key`. Resolves once the store is
   * open; rejects when the worker cannot start or the store cannot be opened.
   */
  static start(url: string, key: string | undefined, timeoutMs = 15_000): Promise<WorkerLogClient> {
    return new Promise((resolve, reject) => {
      let worker: Worker;
      try {
        const entry = WorkerLogClient.entry();
        if (!entry) {
          throw new ElmahError(
            'ERR_ELMAH_WORKER_UNAVAILABLE',
            'Worker-thread writes need the built express-elmah package (its dist/worker.cjs), not its TypeScript sources or a bundle without the installed package.',
            {
              help: 'Run the built package (as installed from npm), or leave `worker` unset or false to write in-process.',
            },
          );
        }
        worker = new Worker(entry, { workerData: { [WORKER_MARK]: true, url, key } satisfies WorkerSetup });
      } catch (err) {
        reject(err);
        return;
      }
      const timer = setTimeout(() => {
        void worker.terminate();
        reject(new ElmahError('ERR_ELMAH_TIMEOUT', `The store worker did not start within ${timeoutMs} ms.`));
      }, timeoutMs);
      timer.unref();
      const onMessage = (a: WorkerAnswer): void => {
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

  private call<T>(op: WorkerCall['op'], items?: readonly unknown[], log?: string): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, op, items, log } satisfies WorkerCall);
    });
  }

  whoami(): Promise<KeyInfo> {
    return this.call('whoami');
  }

  append(messages: readonly unknown[], log?: string): Promise<ClientAppendResult[]> {
    return this.call('append', messages, log);
  }

  tally(tallies: readonly unknown[], log?: string): Promise<ClientAppendResult[]> {
    return this.call('tally', tallies, log);
  }

  async close(): Promise<void> {
    try {
      if (!this.dead) await this.call('close');
    } finally {
      // Calls after close() fail as they do on every other client, not as a thread that stopped.
      this.dead = new ElmahError('ERR_ELMAH_STORE_CLOSED', `The worker-thread writer of ${this.url} is closed.`, {
        help: 'Make a new client; close() is final.',
      });
      await this.worker.terminate();
    }
  }

  /** Where the writes go, safe to show. */
  describe(): { kind: string; location: string } {
    return { kind: 'sqlite', location: `${this.url} (written by a worker thread)` };
  }
}
