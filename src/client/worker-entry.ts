// The store worker thread's own entry (built as dist/worker.cjs): it opens the store through connect() and
// answers the logger's writes. It loads only what writes — model, stores, client — never express or the viewer.
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { connect } from './connect.js';
import type { LogClient } from './types.js';
import { WORKER_MARK, toWire, type WorkerAnswer, type WorkerCall, type WorkerSetup } from './worker-protocol.js';

async function runWorker(port: NonNullable<typeof parentPort>, setup: WorkerSetup): Promise<void> {
  let client: LogClient;
  try {
    client = await connect({ store: setup.url, key: setup.key });
  } catch (err) {
    port.postMessage({ failed: toWire(err) } satisfies WorkerAnswer);
    return;
  }
  port.on('message', (c: WorkerCall) => {
    const items = c.items ?? [];
    const run: Promise<unknown> =
      c.op === 'whoami'
        ? client.whoami()
        : c.op === 'append'
          ? client.append(items, c.log)
          : c.op === 'tally'
            ? client.tally(items, c.log)
            : client.close();
    run.then(
      (value) => port.postMessage({ id: c.id, value } satisfies WorkerAnswer),
      (err: unknown) => port.postMessage({ id: c.id, error: toWire(err) } satisfies WorkerAnswer),
    );
  });
  port.postMessage({ ready: true } satisfies WorkerAnswer);
}

if (!isMainThread && parentPort && (workerData as Record<string, unknown> | null)?.[WORKER_MARK] === true) {
  void runWorker(parentPort, workerData as WorkerSetup);
}
