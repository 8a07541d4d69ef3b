// captureUncaught: records uncaughtException / unhandledRejection as Fatal, flushes with a deadline,
// then lets the process end the way Node would have ended it.
import { inspect } from 'node:util';
import { isErrorLike } from './safe.js';

/** What the uncaught handlers need from the logger. */
export interface UncaughtHooks {
  /** Records the value as a Fatal message. Must not throw. */
  record(value: unknown, origin: 'uncaughtException' | 'unhandledRejection'): void;
  /** Ships what is queued; resolves when done or at the deadline. */
  flush(ms: number): Promise<boolean>;
  /** The flush deadline, ms. */
  exitFlushMs: number;
}

/** Node's --unhandled-rejections mode for this process (default `throw`). */
export function unhandledRejectionsMode(): string {
  const args = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  for (const arg of args) {
    const m = /^--unhandled-rejections=(\S+)$/.exec(arg);
    if (m) return m[1]!;
  }
  return 'throw';
}

/** The error Node makes for a rejection whose reason is not an Error. */
function rejectionError(reason: unknown): Error {
  let text: string;
  try {
    text = inspect(reason, { depth: 2, breakLength: Infinity });
  } catch {
    text = '[unreadable]';
  }
  const err = new Error(
    'This error originated either by throwing inside of an async function without a catch block, or by rejecting a ' +
      `promise which was not handled with .catch(). The promise rejected with the reason "${text}".`,
  );
  err.name = 'UnhandledPromiseRejection';
  (err as Error & { code?: string }).code = 'ERR_UNHANDLED_REJECTION';
  return err;
}

function printFatal(err: unknown): void {
  let text: string;
  try {
    text = isErrorLike(err) ? inspect(err) : `Uncaught ${inspect(err)}`;
  } catch {
    text = 'Uncaught exception (unprintable value)';
  }
  try {
    process.stderr.write(`${text}\n\nNode.js ${process.version}\n`);
  } catch {
    // Nowhere left to write to.
  }
}

/** Installs the handlers; returns a function that removes them. */
export function installUncaught(hooks: UncaughtHooks): () => void {
  const recorded = new WeakSet<object>();
  let exiting = false;

  const exitAfterFlush = (err: unknown): void => {
    if (exiting) return;
    exiting = true;
    printFatal(err);
    // A ref'ed timer keeps the process alive while the fatal message ships (the logger's own are unref'ed).
    const keepAlive = setTimeout(() => undefined, hooks.exitFlushMs + 1000);
    const exit = (): void => {
      clearTimeout(keepAlive);
      process.exit(1);
    };
    hooks.flush(hooks.exitFlushMs).then(exit, exit);
  };

  const onUncaught = (err: unknown, origin?: string): void => {
    const seen = typeof err === 'object' && err !== null && recorded.has(err);
    if (!seen) hooks.record(err, origin === 'unhandledRejection' ? 'unhandledRejection' : 'uncaughtException');
    // Another listener means the app has taken charge of what happens next; Node would not exit either.
    if (process.listeners('uncaughtException').some((l) => l !== onUncaught)) return;
    if (!exiting) exitAfterFlush(err);
  };

  const onRejection = (reason: unknown): void => {
    hooks.record(reason, 'unhandledRejection');
    if (process.listeners('unhandledRejection').some((l) => l !== onRejection)) return;
    const mode = unhandledRejectionsMode();
    const err = isErrorLike(reason) ? reason : rejectionError(reason);
    if (mode === 'warn' || mode === 'none' || mode === 'warn-with-error-code') {
      // In `warn` mode Node prints its warning itself; with a listener present `warn-with-error-code` does not.
      if (mode === 'warn-with-error-code') {
        process.emitWarning(`Unhandled promise rejection: ${err.message}`, 'UnhandledPromiseRejectionWarning');
        process.exitCode = 1;
      }
      // The process lives on; keep it alive until the message has shipped, in case nothing else does.
      const keepAlive = setTimeout(() => undefined, hooks.exitFlushMs);
      const done = (): void => clearTimeout(keepAlive);
      hooks.flush(hooks.exitFlushMs).then(done, done);
      return;
    }
    // `throw` and `strict`: Node raises the rejection as an uncaught exception.
    recorded.add(err);
    process.nextTick(() => {
      throw err;
    });
  };

  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.removeListener('uncaughtException', onUncaught);
    process.removeListener('unhandledRejection', onRejection);
  };
}
